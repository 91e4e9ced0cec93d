//! Suite files: the experiments of `cargo xtask reproduce`, declared in TOML (`suites/<name>.toml`).
//!
//! A suite is one TOML document:
//!
//! ```toml
//! name = "paper"                       # suite name (reports, default output folder)
//! description = "…"
//! seed = 0                             # seeds every seeded choice that the experiment does not fix itself
//! bootstrap_resamples = 1000           # 95 % percentile-bootstrap intervals
//! device_batch = 16                    # tiles per forward pass (--device-batch overrides)
//! models = ["dino_vitb16", …]          # default models (--models overrides)
//! synthetic = false                    # true: the synthetic benchmark, no files (the demo)
//!
//! [data]                               # dataset folders, relative to --data-root (or absolute)
//! cityscapes = "cityscapes"
//!
//! [model.NAME]                         # optional: how to build model NAME (see `ModelDef`)
//! weights = "file.pth"                 # relative to --weights-root; default: the fetch-weights cache names
//!
//! [experiments.ID]                     # one table per experiment (see `ExperimentDef`)
//! kind = "segmentation"
//! dataset = "cityscapes"
//! ```
//!
//! A file given with `--config` may start with `extends = "demo"` (or `"paper"`, or a path): it is then
//! merged over that suite, tables key by key (so `[experiments.ID] enabled = false` switches one
//! experiment off and `[experiments.ID] layers = [4]` changes one field).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// The shipped suites, embedded so that `cargo xtask reproduce` works from any directory.
pub const SHIPPED: [(&str, &str); 2] = [
    ("demo", include_str!("../../suites/demo.toml")),
    ("paper", include_str!("../../suites/paper.toml")),
];

/// A parsed suite.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    /// Suite name.
    pub name: String,
    /// One paragraph for the report.
    #[serde(default)]
    pub description: String,
    /// Master seed.
    #[serde(default)]
    pub seed: u64,
    /// Bootstrap resamples of every confidence interval.
    #[serde(default = "default_bootstrap")]
    pub bootstrap_resamples: usize,
    /// Tiles per forward pass.
    #[serde(default = "default_batch")]
    pub device_batch: usize,
    /// The default model list.
    #[serde(default)]
    pub models: Vec<String>,
    /// Whether the suite runs on the synthetic benchmark only (needs no files).
    #[serde(default)]
    pub synthetic: bool,
    /// Dataset folders by dataset name, relative to `--data-root`.
    #[serde(default)]
    pub data: BTreeMap<String, String>,
    /// Model definitions by name.
    #[serde(default)]
    pub model: BTreeMap<String, ModelDef>,
    /// Demo-only: where the tiny pretrained models live and what to do without them.
    #[serde(default)]
    pub demo: Option<DemoDef>,
    /// The experiments by id (run in id order).
    #[serde(default)]
    pub experiments: BTreeMap<String, ExperimentDef>,
    /// Name of the suite this one was merged over (informational).
    #[serde(default)]
    pub extends: Option<String>,
}

fn default_bootstrap() -> usize {
    1000
}
fn default_batch() -> usize {
    16
}
fn default_true() -> bool {
    true
}

/// How to build one model.
///
/// Without any field a zoo name is looked up in the weights root (`<root>/<name>.safetensors`, as
/// `cargo xtask fetch-weights` writes it, else `<root>/original/<name>.*`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelDef {
    /// Checkpoint file; relative paths are relative to `--weights-root` (or the config file's folder
    /// when `relative_to_config` is set).
    #[serde(default)]
    pub weights: Option<PathBuf>,
    /// Resolve `weights` against the folder of the config file instead of the weights root.
    #[serde(default)]
    pub relative_to_config: bool,
    /// Family (key layout) when the name is not a zoo name or to override it.
    #[serde(default)]
    pub family: Option<String>,
    /// Architecture start: a zoo name whose config is used (default: the model's own name if in the zoo).
    #[serde(default)]
    pub like: Option<String>,
    /// Architecture fields replacing those of `like` (any `VitConfig` field, e.g. `embed_dim = 64`).
    #[serde(default)]
    pub config: Option<toml::Table>,
    /// Random weights with this seed instead of a checkpoint (a baseline).
    #[serde(default)]
    pub random_init: Option<u64>,
    /// Backbone part of a training checkpoint (teacher / student).
    #[serde(default)]
    pub part: Option<String>,
    /// Name of the study model this one stands for in the paper's numbers (`sup_vit`, `dino`, `dinov2`,
    /// `mae`, `simmim`); default from the zoo name for the five ViT-B models, none otherwise.
    #[serde(default)]
    pub paper_model: Option<String>,
    /// Zoo name to report (and to key the paper numbers) instead of the definition's name.
    #[serde(default)]
    pub report_as: Option<String>,
}

/// The demo's model policy.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DemoDef {
    /// Folder of the tiny pretrained checkpoints (relative to the repository root).
    pub pretrained_dir: PathBuf,
    /// Random-weights baseline: the architecture of this pretrained method (`supervised`, `dino`, …),
    /// seeded by the suite seed.
    #[serde(default = "default_baseline")]
    pub random_baseline_like: String,
    /// Without pretrained checkpoints: these zoo architectures, shrunk by `fallback_config`, random weights.
    #[serde(default)]
    pub fallback_models: Vec<String>,
    /// Architecture fields replacing the zoo's in the fallback (e.g. `embed_dim = 96, depth = 4`).
    #[serde(default)]
    pub fallback_config: toml::Table,
}

fn default_baseline() -> String {
    "dino".into()
}

/// What an experiment does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Few-shot segmentation by probe × train pool (per-class IoU included).
    Segmentation,
    /// Segmentation at every listed layer, with the all/easy/hard class-group curves.
    LayerSweep,
    /// Segmentation of degraded test images (blur, noise, frequency noise) against the clean score.
    Degradation,
    /// Variance spectrum, top-N removal sweep, BatchNorm / standardise / whiten / PCA.
    Variance,
    /// Instance identification and object retrieval under transformations.
    Identification,
    /// Object association across frames.
    Tracking,
    /// Label propagation (DAVIS J&F).
    Propagation,
}

impl Kind {
    /// snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Segmentation => "segmentation",
            Kind::LayerSweep => "layer_sweep",
            Kind::Degradation => "degradation",
            Kind::Variance => "variance",
            Kind::Identification => "identification",
            Kind::Tracking => "tracking",
            Kind::Propagation => "propagation",
        }
    }
}

/// A layer list entry: a number, `"last"`, or `"all"` (every layer of the model).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum LayerSel {
    /// 1-based layer.
    Index(usize),
    /// `last` or `all`.
    Word(String),
}

/// Resolve a layer list for a model of `depth` blocks (deduplicated, sorted). Layers beyond the depth
/// are an error naming the experiment.
pub fn resolve_layers(sel: &[LayerSel], depth: usize, what: &str) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    let sel = if sel.is_empty() {
        vec![LayerSel::Word("last".into())]
    } else {
        sel.to_vec()
    };
    for s in &sel {
        match s {
            LayerSel::Index(l) if (1..=depth).contains(l) => out.push(*l),
            LayerSel::Index(l) => bail!("{what}: layer {l} is outside 1..={depth}"),
            LayerSel::Word(w) if w == "last" => out.push(depth),
            LayerSel::Word(w) if w == "all" => out.extend(1..=depth),
            LayerSel::Word(w) => {
                bail!("{what}: unknown layer `{w}` (a number, \"last\" or \"all\")")
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// One experiment. Which fields apply depends on `kind`; unknown fields are an error.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentDef {
    /// What it does.
    pub kind: Kind,
    /// Set false to skip it.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// One line for the report.
    #[serde(default)]
    pub title: String,
    /// Dataset: `cityscapes`, `ade20k`, `camvid`, `synthetic` (segmentation kinds); `fair1m`, `synthetic`
    /// (identification); `bdd100k`, `synthetic` (tracking); `davis2016`, `davis2017`, `synthetic` (propagation).
    pub dataset: String,
    /// Only these models (default: all of the run).
    #[serde(default)]
    pub models: Vec<String>,
    /// Layers (numbers, `"last"`, `"all"`); default `["last"]`.
    #[serde(default)]
    pub layers: Vec<LayerSel>,
    /// Extra layers for some models (e.g. SimMIM layer 7 in the variance analysis).
    #[serde(default)]
    pub extra_layers: BTreeMap<String, Vec<usize>>,
    /// Probes: `knn`, `linear`.
    #[serde(default)]
    pub probes: Vec<String>,
    /// Train splits / pools (segmentation kinds). Synthetic: `train<N>` = the first N training scenes.
    #[serde(default)]
    pub train_splits: Vec<String>,
    /// Test split (segmentation kinds). Synthetic: `test<N>`.
    #[serde(default)]
    pub test_split: Option<String>,
    /// k of the k-NN (default 1, the study).
    #[serde(default)]
    pub k: Option<usize>,
    /// Degradation kinds (`blur`, `noise`, `freq`) or transformation kinds (identification: `rotate`,
    /// `scale`, `shift`, `blur`, `noise`, `freq`, `all`).
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Levels 1–4.
    #[serde(default)]
    pub levels: Vec<u8>,
    /// Variance: the removal sweep (clamped below the feature width).
    #[serde(default)]
    pub sweep: Vec<usize>,
    /// Variance: alternatives to removal (`bn`, `standardize`, `whiten`, `pca`).
    #[serde(default)]
    pub alternatives: Vec<String>,
    /// Variance: PCA sizes (default: the sweep's kept widths).
    #[serde(default)]
    pub pca_k: Vec<usize>,
    /// Variance: also retrain the linear probe at every sweep point.
    #[serde(default)]
    pub linear: bool,
    /// Identification: also the object-retrieval variant (own tile excluded).
    #[serde(default)]
    pub retrieval: bool,
    /// Identification: per model, an extra run with this many top-variance dimensions removed (MAE-200).
    #[serde(default)]
    pub remove_top_variance: BTreeMap<String, usize>,
    /// Synthetic identification: number of scenes; synthetic segmentation: chip size is fixed (224).
    #[serde(default)]
    pub scenes: Option<usize>,
    /// FAIR1M: tiles per fine class.
    #[serde(default)]
    pub per_class: Option<usize>,
    /// Tracking: `full`, `tiled`.
    #[serde(default)]
    pub modes: Vec<String>,
    /// Tracking / propagation: number of videos (BDD: the first N label files; synthetic: indices 0..N).
    #[serde(default)]
    pub num_videos: Option<usize>,
    /// Frames per video (cap).
    #[serde(default)]
    pub frames: Option<usize>,
    /// Synthetic tracking / propagation: video setting (`default`, `hard`).
    #[serde(default)]
    pub video_preset: Option<crate::eval::tracking::VideoPreset>,
    /// Tracking: frame gaps (default: the protocol's).
    #[serde(default)]
    pub deltas: Vec<usize>,
    /// Split name (BDD: `val`; DAVIS: `val`).
    #[serde(default)]
    pub split: Option<String>,
    /// Propagation: DINO's `scale_size` (480 for DAVIS).
    #[serde(default)]
    pub scale_size: Option<usize>,
    /// Bootstrap resamples for this experiment (default: the suite's).
    #[serde(default)]
    pub bootstrap_resamples: Option<usize>,
    /// Linear probe: epochs (default: the eval command's).
    #[serde(default)]
    pub linear_epochs: Option<usize>,
}

impl ExperimentDef {
    /// Probes, default `["knn"]`, checked.
    pub fn probes(&self, id: &str) -> Result<Vec<String>> {
        let p = if self.probes.is_empty() {
            vec!["knn".to_string()]
        } else {
            self.probes.clone()
        };
        for x in &p {
            if x != "knn" && x != "linear" {
                bail!("experiment `{id}`: unknown probe `{x}` (knn, linear)");
            }
        }
        Ok(p)
    }

    /// Whether model `name` takes part.
    pub fn includes(&self, name: &str) -> bool {
        self.models.is_empty() || self.models.iter().any(|m| m == name)
    }
}

/// Deep-merge `over` into `base`: tables merge key by key, anything else is replaced.
pub fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// The shipped suite `name` as a TOML table.
pub fn shipped_table(name: &str) -> Result<toml::Table> {
    let Some((_, text)) = SHIPPED.iter().find(|(n, _)| *n == name) else {
        bail!(
            "unknown suite `{name}` (shipped: {})",
            SHIPPED
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    toml::from_str(text).with_context(|| format!("suites/{name}.toml"))
}

/// Load the suite: the shipped `suite`, or the file `config` (merged over the suite it `extends`).
pub fn load(suite: &str, config: Option<&Path>) -> Result<Suite> {
    let table = match config {
        None => shipped_table(suite)?,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading config {}", path.display()))?;
            let over: toml::Table =
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
            match over.get("extends").and_then(|v| v.as_str()) {
                Some(base_name) => {
                    let mut base = if SHIPPED.iter().any(|(n, _)| *n == base_name) {
                        shipped_table(base_name)?
                    } else {
                        let p = path.parent().unwrap_or(Path::new(".")).join(base_name);
                        let t = std::fs::read_to_string(&p)
                            .with_context(|| format!("reading {} (extends)", p.display()))?;
                        toml::from_str(&t).with_context(|| format!("parsing {}", p.display()))?
                    };
                    merge(&mut base, over);
                    base
                }
                None => over,
            }
        }
    };
    let what = config
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| format!("suites/{suite}.toml"));
    let s: Suite = toml::Value::Table(table)
        .try_into()
        .with_context(|| format!("suite {what}"))?;
    s.validate().with_context(|| format!("suite {what}"))?;
    Ok(s)
}

impl Suite {
    /// Check kinds against datasets and the fields every kind needs.
    pub fn validate(&self) -> Result<()> {
        if self.device_batch == 0 {
            bail!("device_batch must be at least 1");
        }
        for (id, e) in &self.experiments {
            let ok: &[&str] = match e.kind {
                Kind::Segmentation | Kind::LayerSweep | Kind::Degradation | Kind::Variance => {
                    &["cityscapes", "ade20k", "camvid", "synthetic"]
                }
                Kind::Identification => &["fair1m", "synthetic"],
                Kind::Tracking => &["bdd100k", "synthetic"],
                Kind::Propagation => &["davis2016", "davis2017", "synthetic"],
            };
            if !ok.contains(&e.dataset.as_str()) {
                bail!(
                    "experiment `{id}` ({}): dataset `{}` is not one of {ok:?}",
                    e.kind.name(),
                    e.dataset
                );
            }
            if self.synthetic && e.dataset != "synthetic" {
                bail!(
                    "experiment `{id}`: a synthetic suite runs on the synthetic benchmark only, not `{}`",
                    e.dataset
                );
            }
            e.probes(id)?;
            for l in &e.levels {
                if !(1..=4).contains(l) {
                    bail!("experiment `{id}`: level {l} is not 1..=4");
                }
            }
            if e.kind == Kind::Degradation {
                for k in &e.kinds {
                    if !["blur", "noise", "freq"].contains(&k.as_str()) {
                        bail!("experiment `{id}`: unknown degradation `{k}` (blur, noise, freq)");
                    }
                }
            }
            for m in &e.modes {
                if m != "full" && m != "tiled" {
                    bail!("experiment `{id}`: unknown tracking mode `{m}` (full, tiled)");
                }
            }
            for a in &e.alternatives {
                crate::eval::variance::Alternative::from_suite(a)
                    .with_context(|| format!("experiment `{id}`"))?;
            }
        }
        Ok(())
    }

    /// The enabled experiments, in id order.
    pub fn enabled(&self) -> impl Iterator<Item = (&String, &ExperimentDef)> {
        self.experiments.iter().filter(|(_, e)| e.enabled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_suites_parse_and_validate() {
        for (name, _) in SHIPPED {
            let s = load(name, None).unwrap();
            assert_eq!(s.name, name);
            assert!(s.enabled().count() >= 7, "{name}: every experiment family");
        }
        assert!(load("demo", None).unwrap().synthetic);
    }

    #[test]
    fn layers_resolve() {
        let l = |v: Vec<LayerSel>| resolve_layers(&v, 4, "t");
        assert_eq!(l(vec![]).unwrap(), vec![4]);
        assert_eq!(
            l(vec![LayerSel::Word("all".into())]).unwrap(),
            vec![1, 2, 3, 4]
        );
        assert_eq!(
            l(vec![
                LayerSel::Index(2),
                LayerSel::Word("last".into()),
                LayerSel::Index(2)
            ])
            .unwrap(),
            vec![2, 4]
        );
        assert!(l(vec![LayerSel::Index(5)]).is_err());
        assert!(l(vec![LayerSel::Word("first".into())]).is_err());
    }

    #[test]
    fn extends_merges_tables_key_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.toml");
        std::fs::write(&p, "extends = \"demo\"\nname = \"mini\"\n[experiments.a4_synthetic_variance]\nenabled = false\n").unwrap();
        let s = load("paper", Some(&p)).unwrap();
        assert_eq!(s.name, "mini");
        assert!(s.synthetic, "kept from demo");
        assert!(!s.experiments["a4_synthetic_variance"].enabled);
        assert_eq!(
            s.experiments["a4_synthetic_variance"].kind,
            Kind::Variance,
            "other fields kept"
        );
    }

    #[test]
    fn bad_suites_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.toml");
        std::fs::write(
            &p,
            "name = \"x\"\n[experiments.a]\nkind = \"tracking\"\ndataset = \"cityscapes\"\n",
        )
        .unwrap();
        let e = format!("{:#}", load("demo", Some(&p)).unwrap_err());
        assert!(
            e.contains("experiment `a`") && e.contains("cityscapes"),
            "{e}"
        );
        std::fs::write(&p, "name = \"x\"\n[experiments.a]\nkind = \"tracking\"\ndataset = \"bdd100k\"\nbogus = 1\n").unwrap();
        let e = format!("{:#}", load("demo", Some(&p)).unwrap_err());
        assert!(e.contains("bogus"), "{e}");
    }
}
