//! patchlens command line. `cargo xtask <command>`; see `cargo xtask --help`. Every command is a thin
//! layer over `patchlens_eval`: parse the arguments, pick the device, call the library, print and write.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod backend;
mod cli;
mod embed;
mod eval;
mod fetch;
mod pretrain;
mod reproduce;
mod slurm;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// patchlens: how good are the local (patch-level) representations of pretrained ViTs?
#[derive(Parser, Debug)]
#[command(name = "cargo xtask", version, about)]
struct Cli {
    /// Only warnings and errors on stderr (no progress).
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// More detail on stderr (-v debug, -vv trace).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Tokens of images (one, a folder, or a dataset split) for any set of layers, written as safetensors.
    Embed(embed::EmbedArgs),
    /// One experiment with explicit inputs, writing results.json.
    #[command(subcommand)]
    Eval(eval::EvalCmd),
    /// List the model zoo.
    Models,
    /// Download zoo checkpoints (resume, checksum verification) and convert them to safetensors once.
    FetchWeights(fetch::FetchArgs),
    /// Train a tiny ViT with one of the study's objectives on the synthetic benchmark (checkpoint with official key names + loss log).
    Pretrain(pretrain::PretrainArgs),
    /// Every experiment of a suite (demo: synthetic, no files; paper: the study) with one feature cache and a report.
    Reproduce(reproduce::ReproduceArgs),
    /// The suite's units as a Slurm job array plus a merge job (scripts, and `--submit` to submit them).
    Slurm(slurm::SlurmArgs),
}

fn main() {
    let cli = Cli::parse();
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => tracing::Level::WARN,
        (false, 0) => tracing::Level::INFO,
        (false, 1) => tracing::Level::DEBUG,
        (false, _) => tracing::Level::TRACE,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false)
        .without_time()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(|| patchlens_eval::progress::StderrWriter)
        .init();
    if let Err(e) = run(cli.cmd) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Embed(a) => embed::run(&a),
        Cmd::Eval(c) => eval::run(&c),
        Cmd::FetchWeights(a) => fetch::run(&a),
        Cmd::Reproduce(a) => reproduce::run(&a),
        Cmd::Slurm(a) => slurm::run(&a),
        Cmd::Pretrain(a) => pretrain::run(&a),
        Cmd::Models => {
            for m in patchlens_vit::zoo::all() {
                let c = &m.config;
                println!(
                    "{:<24} {:<16} patch {:>2}  D {:>4}  depth {:>2}  heads {:>2}  {}",
                    m.name,
                    m.family.name(),
                    c.patch_size,
                    c.embed_dim,
                    c.depth,
                    c.num_heads,
                    m.url
                );
            }
            Ok(())
        }
    }
}
