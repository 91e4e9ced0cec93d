//! Command-line pieces shared by every `eval` subcommand: which model to load, and where and how to run it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use patchlens_store::FeatureStore;
use patchlens_vit::Device;

use crate::backend::Backend;
use crate::models::{self, LoadedModel, ModelSource};

/// The model of an experiment: a zoo architecture with official weights, or with random weights.
#[derive(Args, Clone, Debug)]
pub struct ModelArgs {
    /// Zoo model name (`cargo xtask models` lists them).
    #[arg(long)]
    pub model: String,
    /// Checkpoint file (.pth or .safetensors) in the family's official layout.
    #[arg(
        long,
        required_unless_present = "random_init",
        conflicts_with = "random_init"
    )]
    pub weights: Option<PathBuf>,
    /// Instead of weights: the zoo architecture with random parameters drawn with this seed (a baseline).
    #[arg(long)]
    pub random_init: Option<u64>,
    /// Backbone to load from a training checkpoint holding several (e.g. teacher, student).
    #[arg(long)]
    pub part: Option<String>,
}

impl ModelArgs {
    /// Where the parameters come from.
    pub fn source(&self) -> Result<ModelSource> {
        match (&self.weights, self.random_init) {
            (_, Some(seed)) => Ok(ModelSource::Random { seed }),
            (Some(w), None) => Ok(ModelSource::Weights {
                path: w.clone(),
                part: self.part.clone(),
            }),
            (None, None) => anyhow::bail!("give --weights FILE or --random-init SEED"),
        }
    }

    /// Load the model on `device`.
    pub fn load(&self, device: &Device) -> Result<LoadedModel> {
        models::load_zoo(&self.model, &self.source()?, device)
    }

    /// The weights as recorded in results: the checkpoint path, or `random-init:<seed>`.
    pub fn weights_label(&self) -> String {
        match (&self.weights, self.random_init) {
            (_, Some(seed)) => format!("random-init:{seed}"),
            (Some(w), None) => w.display().to_string(),
            (None, None) => String::new(),
        }
    }
}

/// Where and how to run: backend, batch size and the feature cache.
#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    /// Compute backend (wgpu / cuda need the cargo features of the same name).
    #[arg(long, value_enum, default_value = "flex")]
    pub backend: Backend,
    /// Tiles per forward pass.
    #[arg(long, default_value_t = 16)]
    pub device_batch: usize,
    /// Feature cache directory (default `<out dir>/cache`).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Do not read or write the feature cache.
    #[arg(long)]
    pub no_cache: bool,
}

impl RunArgs {
    /// The feature cache for a run writing `out` (`None` with `--no-cache`).
    pub fn open_store(&self, out: &Path) -> Result<Option<FeatureStore>> {
        if self.no_cache {
            return Ok(None);
        }
        let dir = self
            .cache_dir
            .clone()
            .unwrap_or_else(|| default_cache_dir(out));
        Ok(Some(FeatureStore::open(&dir).with_context(|| {
            format!("opening feature cache {}", dir.display())
        })?))
    }
}

/// The default feature cache of a run writing `out`: `<folder of out>/cache` (`./cache` when `out` has no
/// folder).
pub fn default_cache_dir(out: &Path) -> PathBuf {
    out.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("cache")
}

/// Load the model on the run's backend, open the feature cache of a run writing `out`, run `f`, and time
/// both: returns `f`'s result and the run metadata with the stages `load_model` and `stage`.
pub fn run_timed<T>(
    model: &ModelArgs,
    run: &RunArgs,
    out: &Path,
    stage: &str,
    f: impl FnOnce(&LoadedModel, Option<&FeatureStore>) -> Result<T>,
) -> Result<(T, patchlens_report::RunInfo)> {
    let device = run.backend.device()?;
    let t0 = std::time::Instant::now();
    let loaded = model.load(&device)?;
    let load_s = t0.elapsed().as_secs_f64();
    let store = run.open_store(out)?;
    let mut info = run.backend.run_info();
    let t1 = std::time::Instant::now();
    let result = f(&loaded, store.as_ref())?;
    info.stages.push(patchlens_report::StageTiming {
        name: "load_model".into(),
        seconds: load_s,
    });
    info.stages.push(patchlens_report::StageTiming {
        name: stage.into(),
        seconds: t1.elapsed().as_secs_f64(),
    });
    info.update_peak_memory();
    Ok((result, info))
}
