//! `cargo xtask reproduce [--suite paper|demo] [--config exp.toml] [--models a,b] [--data-root DIR]
//! [--weights-root DIR] [--out DIR] [--backend flex|wgpu|cuda] [--device-batch N]`: every experiment of a
//! suite for every model, one feature cache (`<out>/cache`), and a report (`<out>/results.json`,
//! `results.csv`, `report.md`, `report.html`, `plots/*.svg`). The work is `patchlens_eval`'s: the suite is
//! planned into units (`<out>/plan.json`), each unit's record goes to `<out>/units/`, and the report is
//! merged from the records — so an interrupted run resumes where it stopped.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use patchlens_eval::plan::PlanOptions;
use patchlens_eval::runner::{self, Event, RunContext};

use crate::backend::Backend;

/// Arguments of `reproduce`.
#[derive(Args, Debug)]
pub struct ReproduceArgs {
    /// Shipped suite: `demo` (synthetic benchmark, no files) or `paper` (the study's datasets and models).
    #[arg(long, default_value = "demo")]
    pub suite: String,
    /// A suite file instead of the shipped one (may `extends = "demo"|"paper"` and override parts of it).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Models (zoo names or names defined in the suite or a model file), comma-separated; default: the
    /// suite's.
    #[arg(long, value_delimiter = ',')]
    pub models: Option<Vec<String>>,
    /// Model files (TOML `[model.NAME]` tables) whose names `--models` may use.
    #[arg(long)]
    pub model_file: Vec<PathBuf>,
    /// Folder holding the datasets (in the folders named by the suite's `[data]` table).
    #[arg(long, default_value = "data")]
    pub data_root: PathBuf,
    /// Folder of the checkpoints (default: the `fetch-weights` cache: $PATCHLENS_WEIGHTS_DIR, else
    /// $XDG_CACHE_HOME/patchlens/weights, else ~/.cache/patchlens/weights).
    #[arg(long)]
    pub weights_root: Option<PathBuf>,
    /// Output folder (default `reproduce-<suite>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Compute backend.
    #[arg(long, value_enum, default_value = "flex")]
    pub backend: Backend,
    /// Tiles per forward pass (default: the suite's).
    #[arg(long)]
    pub device_batch: Option<usize>,
    /// Only the experiments whose id starts with one of these (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Recompute every unit even if `<out>/units/` records it (features still come from the cache).
    #[arg(long)]
    pub fresh: bool,
}

/// The repository root (the demo's pretrained checkpoints live under it).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Run `reproduce`.
pub fn run(args: &ReproduceArgs) -> Result<()> {
    let t_run = Instant::now();
    let suite = patchlens_eval::suite::load(&args.suite, args.config.as_deref())?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("reproduce-{}", suite.name)));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let opts = PlanOptions {
        data_root: args.data_root.clone(),
        weights_root: args
            .weights_root
            .clone()
            .unwrap_or_else(patchlens_eval::weights::default_cache_dir),
        config_dir: args
            .config
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
        repo_root: repo_root(),
        models: args.models.clone(),
        only: args.only.clone(),
        model_files: args.model_file.clone(),
        out: out.clone(),
    };
    println!(
        "patchlens reproduce: suite `{}` → {}",
        suite.name,
        out.display()
    );
    let plan = patchlens_eval::plan::plan(&suite, &opts)?;
    plan.save(&out.join("plan.json"))?;
    for n in &plan.notes {
        println!("NOTE: {n}");
    }
    for s in &plan.skipped {
        println!("{s}");
    }
    let device = args.backend.device()?;
    let info = args.backend.run_info();
    let ctx = RunContext::new(
        &plan,
        &out,
        &args.data_root,
        None,
        args.device_batch,
        ran_on(&info),
    )?;
    let mut extra_skipped: Vec<String> = Vec::new();
    let skipped = std::cell::RefCell::new(&mut extra_skipped);
    let mut on = |ev: Event<'_>| print_event(ev, &mut skipped.borrow_mut());
    let mut after_model = || -> patchlens_eval::Result<()> {
        // A report after every model: an interrupted run still leaves one.
        let merged = runner::merge(&plan, &out)?;
        runner::write_outputs(&out, &plan, &merged, &info, &skipped.borrow())?;
        Ok(())
    };
    runner::run_all(&ctx, &device, args.fresh, &mut on, &mut after_model)?;
    let merged = runner::merge(&plan, &out)?;
    let mut info = info.clone();
    info.extra
        .insert("total_seconds".into(), t_run.elapsed().as_secs_f64().into());
    let (html, found) = runner::write_outputs(&out, &plan, &merged, &info, &extra_skipped)?;
    for f in &found {
        println!("finding: {} — {}", f.claim, f.verdict.label());
    }
    println!(
        "done: {} experiments, {} models, {} skipped, {:.1} s → {}",
        merged.experiments.len(),
        plan.models.len(),
        merged.skipped.len() + extra_skipped.len(),
        t_run.elapsed().as_secs_f64(),
        html.display()
    );
    Ok(())
}

/// Where this process runs, as recorded with every unit.
fn ran_on(info: &patchlens_report::RunInfo) -> serde_json::Value {
    serde_json::json!({
        "host": std::env::var("HOSTNAME").ok().or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|s| s.trim().to_string())),
        "backend": info.backend,
        "device": info.device,
        "threads": info.threads,
        "commit": info.git_commit,
    })
}

/// Print one event of the run on stdout (skip lines are also collected for the report).
fn print_event(ev: Event<'_>, skipped: &mut Vec<String>) {
    match ev {
        Event::ModelStart {
            index,
            total,
            model,
        } => println!(
            "[model {index}/{total}] {}: {}",
            model.name, model.description
        ),
        Event::ModelSkipped(line) | Event::UnitFailed(line) => {
            println!("{line}");
            skipped.push(line.to_string());
        }
        Event::UnitStart {
            model,
            unit,
            planned,
        } => println!(
            "[model {}/{} · experiment {}/{}] {} ({}, {}) · {}",
            model.0,
            model.1,
            unit.0,
            unit.1,
            planned.experiment,
            planned.kind,
            planned.dataset,
            planned.model
        ),
        Event::UnitDone { record, cached } => {
            if cached {
                println!("  (done in an earlier run: unit {})", record.id);
            }
            for l in &record.lines {
                println!("  {l}");
            }
            println!("  ({:.1} s)", record.seconds);
        }
    }
}
