//! `cargo xtask pretrain`: train a tiny ViT with one of the study's objectives on the synthetic benchmark
//! (`patchlens-pretrain`, burn autodiff on the chosen backend) and write a checkpoint with the official key
//! names of its family, a JSON-lines loss log and the training report (JSON on stdout and next to the
//! checkpoint as `<stem>.report.json`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use patchlens_pretrain::{ExportDtype, Method, PretrainOptions, pretrain};

use crate::backend::Backend;

/// Objective on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MethodArg {
    /// Cross-entropy on the scene's dominant object class (timm key names).
    Supervised,
    /// DINO self-distillation (EMA teacher, centering, sharpening, multi-crop; DINO key names).
    Dino,
    /// MAE (75 % masking, light decoder, normalised pixel loss; MAE key names).
    Mae,
    /// SimMIM (mask token, linear head, L1 on masked pixels; SimMIM key names).
    Simmim,
}

impl From<MethodArg> for Method {
    fn from(m: MethodArg) -> Method {
        match m {
            MethodArg::Supervised => Method::Supervised,
            MethodArg::Dino => Method::Dino,
            MethodArg::Mae => Method::Mae,
            MethodArg::Simmim => Method::Simmim,
        }
    }
}

/// Arguments of `cargo xtask pretrain`.
#[derive(Args, Debug)]
pub struct PretrainArgs {
    /// Objective.
    #[arg(long, value_enum)]
    pub method: MethodArg,
    /// Architecture and schedule preset (`tiny`: the shipped demo models; `micro`: a seconds-long smoke run).
    #[arg(long, default_value = "tiny")]
    pub preset: String,
    /// Optimisation steps (default: the preset's).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Seed of initialisation, data sampling and masks.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Store floats as float16 (halves the file; the loaders widen to f32).
    #[arg(long)]
    pub f16: bool,
    /// Compute backend.
    #[arg(long, default_value = "flex")]
    pub backend: Backend,
    /// Loss log (default: `<out stem>.loss.jsonl` next to the checkpoint).
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Checkpoint to write (`.safetensors`).
    #[arg(long)]
    pub out: PathBuf,
}

/// Run `cargo xtask pretrain`.
pub fn run(a: &PretrainArgs) -> Result<()> {
    let mut opts = PretrainOptions::new(a.method.into(), a.out.clone(), a.backend.device()?);
    opts.preset = a.preset.clone();
    opts.steps = a.steps;
    opts.seed = a.seed;
    opts.log = a.log.clone();
    if a.f16 {
        opts.dtype = ExportDtype::F16;
    }
    eprintln!(
        "pretrain {} (preset {}) on {} → {}",
        Method::from(a.method).name(),
        a.preset,
        a.backend.name(),
        a.out.display()
    );
    let report = pretrain(&opts)
        .with_context(|| format!("pretraining {}", Method::from(a.method).name()))?;
    let json = serde_json::to_string_pretty(&report)?;
    let stem = a
        .out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "checkpoint".into());
    let path = a.out.with_file_name(format!("{stem}.report.json"));
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, &json).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    println!("{json}");
    eprintln!(
        "{} steps, loss {:.4} → {:.4}, {:.2} s/step; report {}",
        report.steps,
        report.first_loss,
        report.final_loss,
        report.seconds_per_step,
        path.display()
    );
    Ok(())
}
