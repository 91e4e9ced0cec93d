//! Command-line pieces shared by the commands: which model, where and how to run it, and how results
//! files are written.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use patchlens_eval::{
    Backbone, FeatureDir, ModelRegistry, ModelSource, ModelSpec, ModelTokens, TokenSource,
};
use patchlens_report::{Experiment, Results, RunInfo};
use patchlens_store::FeatureStore;

use crate::backend::DeviceArgs;

/// The model of a command: a zoo name or a model-file name, with official weights, random weights, or
/// (where the command reads precomputed features) none.
#[derive(Args, Clone, Debug)]
pub struct ModelArgs {
    /// Model name: a zoo name (`cargo xtask models` lists them) or a name defined in `--model-file`.
    #[arg(long)]
    pub model: String,
    /// Model file(s) (TOML `[model.NAME]` tables: family, architecture, position-grid rule, mean/std,
    /// weights); their names work like zoo names.
    #[arg(long)]
    pub model_file: Vec<PathBuf>,
    /// Checkpoint file (.pth or .safetensors) in the family's official layout (default: the model file's).
    #[arg(long, conflicts_with = "random_init")]
    pub weights: Option<PathBuf>,
    /// Instead of weights: the architecture with random parameters drawn with this seed (a baseline).
    #[arg(long)]
    pub random_init: Option<u64>,
    /// Backbone to load from a training checkpoint holding several (e.g. teacher, student).
    #[arg(long)]
    pub part: Option<String>,
}

impl ModelArgs {
    /// The registry of the model files.
    pub fn registry(&self) -> Result<ModelRegistry> {
        let mut r = ModelRegistry::new();
        for f in &self.model_file {
            r.add_file(f)?;
        }
        Ok(r)
    }

    /// The model's identity (architecture, normalisation, family).
    pub fn spec(&self) -> Result<ModelSpec> {
        Ok(self.registry()?.spec(&self.model)?)
    }

    /// Where the parameters come from: `--random-init`, `--weights`, else the model file's weights.
    pub fn source(&self) -> Result<ModelSource> {
        match (&self.weights, self.random_init) {
            (_, Some(seed)) => Ok(ModelSource::Random { seed }),
            (Some(w), None) => Ok(ModelSource::Weights {
                path: w.clone(),
                part: self.part.clone(),
            }),
            (None, None) => {
                let reg = self.registry()?;
                match reg.def(&self.model) {
                    Some(_) => reg
                        .source(&self.model, Path::new("."))
                        .map_err(anyhow::Error::msg),
                    None => bail!(
                        "give --weights FILE or --random-init SEED for {}",
                        self.model
                    ),
                }
            }
        }
    }

    /// Load the model on `device`.
    pub fn load(&self, device: &patchlens_vit::Device) -> Result<Backbone> {
        Ok(self.spec()?.load(&self.source()?, device)?)
    }

    /// The weights as recorded in results: the checkpoint path, or `random-init:<seed>`.
    pub fn weights_label(&self) -> String {
        match (&self.weights, self.random_init) {
            (_, Some(seed)) => format!("random-init:{seed}"),
            (Some(w), None) => w.display().to_string(),
            (None, None) => "model file".into(),
        }
    }
}

/// Where and how to run: backend, batch size, the feature cache, or precomputed features.
#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub dev: DeviceArgs,
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
            .unwrap_or_else(|| out_dir(out).join("cache"));
        Ok(Some(FeatureStore::open(&dir).with_context(|| {
            format!("opening feature cache {}", dir.display())
        })?))
    }
}

/// The folder of results file `out` (`.` when it has none).
pub fn out_dir(out: &Path) -> PathBuf {
    out.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

/// A loaded model (or precomputed features) with its cache, ready to hand out tokens.
pub enum Source {
    /// A backbone and its cache.
    Model(Box<Backbone>, Option<FeatureStore>, usize),
    /// Features computed elsewhere.
    Features(FeatureDir),
}

impl Source {
    /// Open what `model` and `run` describe for a command writing `out`; with `features`, the tokens come
    /// from that folder and the model names the architecture they were made with.
    pub fn open(
        model: &ModelArgs,
        run: &RunArgs,
        out: &Path,
        features: Option<&Path>,
    ) -> Result<Source> {
        if let Some(dir) = features {
            let spec = model.spec()?;
            return Ok(Source::Features(FeatureDir {
                dir: dir.to_path_buf(),
                name: spec.name.clone(),
                family: spec.family,
                patch_size: spec.config.patch_size,
                depth: spec.config.depth,
                embed_dim: spec.config.embed_dim,
                native_size: spec.config.img_size,
                paper_model: spec.paper_model.clone(),
            }));
        }
        let device = run.dev.device()?;
        let mut b = model.load(&device)?;
        b.vit.set_precision(run.dev.precision)?;
        Ok(Source::Model(
            Box::new(b),
            run.open_store(out)?,
            run.device_batch,
        ))
    }

    /// Run `f` with the token source.
    pub fn with<T>(&self, f: impl FnOnce(&dyn TokenSource) -> T) -> T {
        match self {
            Source::Model(b, store, batch) => f(&ModelTokens::new(b, store.as_ref(), *batch)),
            Source::Features(d) => f(d),
        }
    }
}

/// The flat metrics of `e` as the nested top-level `"metrics"` object of an eval results file:
/// scalars as they are, `<group>/<name>` gathered into `<group>: {name: value}` (e.g.
/// `per_class_iou: {class: fraction}`), and intervals as `miou_ci95: [lower, upper]` (grouped likewise).
pub fn summary_metrics(experiments: &[Experiment]) -> serde_json::Value {
    fn put(m: &mut serde_json::Map<String, serde_json::Value>, key: &str, v: serde_json::Value) {
        match key.split_once('/') {
            Some((g, name)) => {
                if let Some(o) = m
                    .entry(g.to_string())
                    .or_insert_with(|| serde_json::Value::Object(Default::default()))
                    .as_object_mut()
                {
                    o.insert(name.to_string(), v);
                }
            }
            None => {
                m.insert(key.to_string(), v);
            }
        }
    }
    let mut m = serde_json::Map::new();
    for e in experiments {
        for (k, v) in &e.metrics {
            put(&mut m, k, (*v).into());
        }
        for (k, ci) in &e.confidence_intervals {
            let key = match k.split_once('/') {
                Some((g, name)) => format!("{g}_ci95/{name}"),
                None => format!("{k}_ci95"),
            };
            put(&mut m, &key, serde_json::json!([ci.lower, ci.upper]));
        }
    }
    serde_json::Value::Object(m)
}

/// Write `experiments` with run metadata `run` to `path` (atomically), with a top-level `"metrics"`
/// object (see [`summary_metrics`]); the file still loads as [`Results`].
pub fn write_results(path: &Path, run: RunInfo, experiments: Vec<Experiment>) -> Result<()> {
    let metrics = summary_metrics(&experiments);
    let mut results = Results::new(run);
    results.experiments = experiments;
    let mut v = serde_json::to_value(&results)?;
    if let Some(o) = v.as_object_mut() {
        o.insert("metrics".into(), metrics);
    }
    patchlens_store::write_atomic(path, serde_json::to_string_pretty(&v)?.as_bytes())
        .map_err(|(at, e)| anyhow::Error::new(e).context(format!("writing {}", at.display())))
}
