//! Suites: the experiments of `cargo xtask reproduce`, declared as a typed TOML document
//! (`suites/<name>.toml`).
//!
//! ```toml
//! name = "paper"                       # suite name (reports, default output folder)
//! description = "…"
//! seed = 0                             # seeds every seeded choice that the experiment does not fix itself
//! bootstrap_resamples = 1000           # 95 % percentile-bootstrap intervals
//! device_batch = 16                    # tiles per forward pass (--device-batch overrides)
//! models = ["dino_vitb16", …]          # default models (--models overrides)
//! synthetic = false                    # true: the synthetic benchmark, no files (the demo)
//! feature_cache = true                 # keep encoded features on disk (<out>/cache) for later runs
//!
//! [data]                               # dataset folders, relative to --data-root (or absolute)
//! cityscapes = "cityscapes"
//!
//! [model.NAME]                         # optional: how to build model NAME (see `patchlens_eval::model`)
//! weights = "file.pth"
//!
//! [experiments.ID]                     # one table per experiment; `kind` picks its fields
//! kind = "segmentation"                # segmentation | layer_sweep | degradation | variance |
//! dataset = "cityscapes"               #   identification | tracking | propagation | reconstruction
//! ```
//!
//! Every experiment has the common fields of [`Common`] (title, enabled, models, layers, extra_layers,
//! bootstrap_resamples) and the fields of its kind ([`ExperimentSpec`]); an unknown field or a wrong value
//! is an error naming the file, the experiment and the key.
//!
//! A file given with `--config` may start with `extends = "demo"` (or `"paper"`, or a path): it is then
//! merged over that suite, tables key by key (so `[experiments.ID] enabled = false` switches one
//! experiment off and `[experiments.ID] layers = [4]` changes one field).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use patchlens_track::EncodingMode;
use serde::{Deserialize, Serialize};

use crate::degradation::DegradeKind;
use crate::error::{Context, EvalError, Result, bail};
use crate::layers::LayerSel;
use crate::model::ModelDef;
use crate::segmentation::ProbeKind;
use crate::tracking::VideoPreset;
use crate::variance::Alternative;

/// A parsed, validated suite.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Suite {
    /// Suite name.
    pub name: String,
    /// One paragraph for the report.
    pub description: String,
    /// Master seed.
    pub seed: u64,
    /// Bootstrap resamples of every confidence interval.
    pub bootstrap_resamples: usize,
    /// Tiles per forward pass.
    pub device_batch: usize,
    /// The default model list.
    pub models: Vec<String>,
    /// Models that run only the experiments naming them in `models` (the study's secondary models:
    /// iBOT in the removal sweep, BEiT and I-JEPA in the spectra). Added to the run when `--models` is
    /// not given; a model given with `--models` runs every experiment.
    pub extra_models: Vec<String>,
    /// Whether the suite runs on the synthetic benchmark only (needs no files).
    pub synthetic: bool,
    /// Keep encoded features in the on-disk cache (`<out>/cache`) for later runs; without it a model's
    /// features are reused across its experiments in memory only.
    pub feature_cache: bool,
    /// Dataset folders by dataset name, relative to `--data-root`.
    pub data: BTreeMap<String, String>,
    /// Model definitions by name.
    pub model: BTreeMap<String, ModelDef>,
    /// Demo-only: where the tiny pretrained models live and what to do without them.
    pub demo: Option<DemoDef>,
    /// The experiments by id (run in id order).
    pub experiments: BTreeMap<String, ExperimentDef>,
    /// Name of the suite this one was merged over (informational).
    pub extends: Option<String>,
}

/// The suite document as written (experiments still raw tables).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteDoc {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    seed: u64,
    #[serde(default = "default_bootstrap")]
    bootstrap_resamples: usize,
    #[serde(default = "default_batch")]
    device_batch: usize,
    #[serde(default)]
    models: Vec<String>,
    #[serde(default)]
    extra_models: Vec<String>,
    #[serde(default)]
    synthetic: bool,
    #[serde(default = "default_true")]
    feature_cache: bool,
    #[serde(default)]
    data: BTreeMap<String, String>,
    #[serde(default)]
    model: BTreeMap<String, ModelDef>,
    #[serde(default)]
    demo: Option<DemoDef>,
    #[serde(default)]
    experiments: BTreeMap<String, toml::Table>,
    #[serde(default)]
    extends: Option<String>,
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

/// The demo's model policy.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
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

/// Fields every experiment has.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Common {
    /// One line for the report.
    #[serde(default)]
    pub title: String,
    /// Set false to skip it.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Only these models (default: all of the run).
    #[serde(default)]
    pub models: Vec<String>,
    /// Layers (numbers, `"last"`, `"all"`); default `["last"]`.
    #[serde(default)]
    pub layers: Vec<LayerSel>,
    /// Extra layers for some models (e.g. SimMIM layer 7 in the variance analysis).
    #[serde(default)]
    pub extra_layers: BTreeMap<String, Vec<usize>>,
    /// Bootstrap resamples for this experiment (default: the suite's).
    #[serde(default)]
    pub bootstrap_resamples: Option<usize>,
}

/// Keys of [`Common`] (split off an experiment table before its kind's fields are read).
const COMMON_KEYS: [&str; 6] = [
    "title",
    "enabled",
    "models",
    "layers",
    "extra_layers",
    "bootstrap_resamples",
];

/// A dataset of the segmentation kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SegDataset {
    /// Cityscapes.
    Cityscapes,
    /// ADE20K.
    Ade20k,
    /// CamVid (SegNet layout).
    Camvid,
    /// A dataset in the generic folder layout (`[data] folder = "…"`; see `patchlens_data::folder`).
    Folder,
    /// The synthetic scenes.
    Synthetic,
}

impl SegDataset {
    /// Name (and `[data]` key).
    pub fn name(self) -> &'static str {
        match self {
            SegDataset::Cityscapes => "cityscapes",
            SegDataset::Ade20k => "ade20k",
            SegDataset::Camvid => "camvid",
            SegDataset::Folder => "folder",
            SegDataset::Synthetic => "synthetic",
        }
    }
}

/// Segmentation by probe × train split × layer (`segmentation`), or the same reported by layer
/// (`layer_sweep`, with the all / easy / hard class-group curves).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentationSpec {
    /// Dataset.
    pub dataset: SegDataset,
    /// Folder datasets: the tiling protocol (default: the ADE20K / CamVid protocol).
    #[serde(default)]
    pub protocol: Option<patchlens_data::folder::FolderProtocol>,
    /// Probes (default `["knn"]`).
    #[serde(default)]
    pub probes: Vec<ProbeKind>,
    /// Train splits / pools. Synthetic: `train<N>` = the first N training scenes.
    #[serde(default)]
    pub train_splits: Vec<String>,
    /// Test split. Synthetic: `test<N>`.
    #[serde(default)]
    pub test_split: Option<String>,
    /// k of the k-NN (default 1, the study).
    #[serde(default)]
    pub k: Option<usize>,
    /// Linear probe: epochs (default: the probe's 20).
    #[serde(default)]
    pub linear_epochs: Option<usize>,
}

/// Segmentation of degraded test images against clean ones (protocol §5).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DegradationSpec {
    /// Dataset.
    pub dataset: SegDataset,
    /// Folder datasets: the tiling protocol (default: the ADE20K / CamVid protocol).
    #[serde(default)]
    pub protocol: Option<patchlens_data::folder::FolderProtocol>,
    /// Probes (default `["knn"]`).
    #[serde(default)]
    pub probes: Vec<ProbeKind>,
    /// Train split (gallery / probe).
    #[serde(default)]
    pub train_split: Option<String>,
    /// Test split (degraded).
    #[serde(default)]
    pub test_split: Option<String>,
    /// Kinds (default blur, noise, freq).
    #[serde(default)]
    pub kinds: Vec<DegradeKind>,
    /// Levels 1–4 (default all).
    #[serde(default)]
    pub levels: Vec<u8>,
    /// k of the k-NN.
    #[serde(default)]
    pub k: Option<usize>,
    /// Linear probe: epochs.
    #[serde(default)]
    pub linear_epochs: Option<usize>,
}

/// Variance spectrum, top-N removal sweep, BatchNorm / standardise / whiten / PCA (protocol §6).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VarianceSpec {
    /// Dataset.
    pub dataset: SegDataset,
    /// Folder datasets: the tiling protocol (default: the ADE20K / CamVid protocol).
    #[serde(default)]
    pub protocol: Option<patchlens_data::folder::FolderProtocol>,
    /// Train split (spectrum, gallery, fitted statistics).
    #[serde(default)]
    pub train_split: Option<String>,
    /// Test split (queries).
    #[serde(default)]
    pub test_split: Option<String>,
    /// The removal sweep (clamped below the feature width; default the study's Cityscapes sweep).
    #[serde(default)]
    pub sweep: Vec<usize>,
    /// The spectrum only: no sweep, no alternatives, nothing scored (`sweep` / `alternatives` must be
    /// left out).
    #[serde(default)]
    pub spectrum_only: bool,
    /// Alternatives to removal (default all).
    #[serde(default)]
    pub alternatives: Vec<Alternative>,
    /// PCA sizes (default: the sweep's kept widths).
    #[serde(default)]
    pub pca_k: Vec<usize>,
    /// Also retrain the linear probe at every sweep point.
    #[serde(default)]
    pub linear: bool,
    /// k of the k-NN.
    #[serde(default)]
    pub k: Option<usize>,
    /// Linear probe (bn_probe, retraining): epochs.
    #[serde(default)]
    pub linear_epochs: Option<usize>,
}

/// MAE reconstruction with the top-N variance dimensions replaced before the decoder (protocol §6.2).
/// Needs an MAE with its decoder: the model's checkpoint when it holds `decoder_*` keys, else
/// `<stem>_decoder.safetensors` beside it, else the file `checkpoint` names for the model (encoder
/// **and** decoder then come from that file); without one the unit is skipped with one line.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReconstructionSpec {
    /// Dataset.
    pub dataset: SegDataset,
    /// Folder datasets: the tiling protocol.
    #[serde(default)]
    pub protocol: Option<patchlens_data::folder::FolderProtocol>,
    /// Split of the mean / variance statistics (default: the dataset's train split).
    #[serde(default)]
    pub stats_split: Option<String>,
    /// Split whose tiles are reconstructed (default: the dataset's test split).
    #[serde(default)]
    pub split: Option<String>,
    /// Tiles reconstructed (default 64).
    #[serde(default)]
    pub tiles: Option<usize>,
    /// N values (default the study's Cityscapes removal sweep; clamped to D).
    #[serde(default)]
    pub sweep: Vec<usize>,
    /// Modes (`mean`, `zero`, `random_zero`; default all).
    #[serde(default)]
    pub modes: Vec<crate::reconstruction::ReplaceMode>,
    /// Mask ratio (default 0.75).
    #[serde(default)]
    pub mask_ratio: Option<f64>,
    /// Tiles in the figure (default 2).
    #[serde(default)]
    pub figure_tiles: Option<usize>,
    /// N of the figure's replacement panels.
    #[serde(default)]
    pub figure_n: Option<usize>,
    /// Per model: the pretraining checkpoint with encoder and decoder (e.g.
    /// `mae_visualize_vit_base.pth`), relative to the folder of the model's weights (or its parent).
    #[serde(default)]
    pub checkpoint: BTreeMap<String, PathBuf>,
    /// The decoder's architecture and target (default: the decoder file's `patchlens.decoder` metadata,
    /// else MAE's `dec512d8b` with pixel targets, as the `mae_visualize_*` checkpoints).
    #[serde(default)]
    pub decoder: Option<patchlens_vit::mae::MaeDecoderConfig>,
}

/// A dataset of identification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IdDatasetName {
    /// FAIR1M chips.
    Fair1m,
    /// The synthetic transformation benchmark.
    Synthetic,
}

/// Instance identification and object retrieval under transformations (protocol §7).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IdentificationSpec {
    /// Dataset.
    pub dataset: IdDatasetName,
    /// Transformation kinds (`rotate`, `scale`, `shift`, `blur`, `noise`, `freq`, `all`; default all).
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Levels 1–4 (default all).
    #[serde(default)]
    pub levels: Vec<u8>,
    /// Also the object-retrieval variant (own tile excluded).
    #[serde(default)]
    pub retrieval: bool,
    /// Per model, an extra run with this many top-variance dimensions removed (MAE-200).
    #[serde(default)]
    pub remove_top_variance: BTreeMap<String, usize>,
    /// Synthetic: number of scenes (default 32).
    #[serde(default)]
    pub scenes: Option<usize>,
    /// FAIR1M: tiles per fine class.
    #[serde(default)]
    pub per_class: Option<usize>,
}

/// A dataset of tracking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TrackDatasetName {
    /// BDD100K MOT.
    Bdd100k,
    /// Synthetic videos.
    Synthetic,
}

/// Object association across frames (protocol §8).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TrackingSpec {
    /// Dataset.
    pub dataset: TrackDatasetName,
    /// Encoding modes (default tiled).
    #[serde(default)]
    pub modes: Vec<EncodingMode>,
    /// Number of videos (BDD: the first N label files; synthetic: indices 0..N; default 4).
    #[serde(default)]
    pub num_videos: Option<usize>,
    /// Frames per video (cap).
    #[serde(default)]
    pub frames: Option<usize>,
    /// Synthetic video setting.
    #[serde(default)]
    pub video_preset: Option<VideoPreset>,
    /// Frame gaps (default: the protocol's).
    #[serde(default)]
    pub deltas: Vec<usize>,
    /// Split (BDD: `val`).
    #[serde(default)]
    pub split: Option<String>,
}

/// A dataset of propagation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PropDatasetName {
    /// DAVIS 2016.
    Davis2016,
    /// DAVIS 2017.
    Davis2017,
    /// Synthetic videos written in the DAVIS 2017 layout.
    Synthetic,
}

/// Label propagation, DAVIS J&F.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PropagationSpec {
    /// Dataset.
    pub dataset: PropDatasetName,
    /// Synthetic: number of videos (default 2).
    #[serde(default)]
    pub num_videos: Option<usize>,
    /// Frames per video (synthetic: length, default 12; DAVIS: cap).
    #[serde(default)]
    pub frames: Option<usize>,
    /// Synthetic video setting.
    #[serde(default)]
    pub video_preset: Option<VideoPreset>,
    /// DAVIS `ImageSets` split (e.g. `val`).
    #[serde(default)]
    pub split: Option<String>,
    /// DINO's `scale_size` (480 for DAVIS).
    #[serde(default)]
    pub scale_size: Option<usize>,
}

/// What an experiment does, with the fields of its kind.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExperimentSpec {
    /// Few-shot segmentation by probe × train pool (per-class IoU included).
    Segmentation(SegmentationSpec),
    /// Segmentation at every listed layer, with the all / easy / hard class-group curves.
    LayerSweep(SegmentationSpec),
    /// Segmentation of degraded test images against the clean score.
    Degradation(DegradationSpec),
    /// Variance spectrum, top-N removal sweep, BatchNorm / standardise / whiten / PCA.
    Variance(VarianceSpec),
    /// Instance identification and object retrieval under transformations.
    Identification(IdentificationSpec),
    /// Object association across frames.
    Tracking(TrackingSpec),
    /// Label propagation (DAVIS J&F).
    Propagation(PropagationSpec),
    /// MAE reconstruction with high-variance dimensions replaced.
    Reconstruction(ReconstructionSpec),
}

impl ExperimentSpec {
    /// snake_case kind name.
    pub fn kind(&self) -> &'static str {
        match self {
            ExperimentSpec::Segmentation(_) => "segmentation",
            ExperimentSpec::LayerSweep(_) => "layer_sweep",
            ExperimentSpec::Degradation(_) => "degradation",
            ExperimentSpec::Variance(_) => "variance",
            ExperimentSpec::Identification(_) => "identification",
            ExperimentSpec::Tracking(_) => "tracking",
            ExperimentSpec::Propagation(_) => "propagation",
            ExperimentSpec::Reconstruction(_) => "reconstruction",
        }
    }

    /// The dataset's name (and `[data]` key).
    pub fn dataset(&self) -> &'static str {
        match self {
            ExperimentSpec::Segmentation(s) | ExperimentSpec::LayerSweep(s) => s.dataset.name(),
            ExperimentSpec::Degradation(s) => s.dataset.name(),
            ExperimentSpec::Variance(s) => s.dataset.name(),
            ExperimentSpec::Reconstruction(s) => s.dataset.name(),
            ExperimentSpec::Identification(s) => match s.dataset {
                IdDatasetName::Fair1m => "fair1m",
                IdDatasetName::Synthetic => "synthetic",
            },
            ExperimentSpec::Tracking(s) => match s.dataset {
                TrackDatasetName::Bdd100k => "bdd100k",
                TrackDatasetName::Synthetic => "synthetic",
            },
            ExperimentSpec::Propagation(s) => match s.dataset {
                PropDatasetName::Davis2016 => "davis2016",
                PropDatasetName::Davis2017 => "davis2017",
                PropDatasetName::Synthetic => "synthetic",
            },
        }
    }
}

/// One experiment of a suite: the common fields and those of its kind.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExperimentDef {
    /// Fields every experiment has.
    #[serde(flatten)]
    pub common: Common,
    /// The kind and its fields.
    #[serde(flatten)]
    pub spec: ExperimentSpec,
}

impl ExperimentDef {
    /// Read an experiment table; errors name `what` (the file), the experiment and the key.
    pub fn from_table(mut table: toml::Table, what: &str, id: &str) -> Result<ExperimentDef> {
        let kind = table
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or("?")
            .to_string();
        let ctx = format!("{what}, experiment `{id}` ({kind})");
        let mut common = toml::Table::new();
        for k in COMMON_KEYS {
            if let Some(v) = table.remove(k) {
                common.insert(k.to_string(), v);
            }
        }
        let common: Common = toml::Value::Table(common)
            .try_into()
            .map_err(|e: toml::de::Error| EvalError::msg(format!("{ctx}: {}", e.message())))?;
        if !table.contains_key("kind") {
            bail!(
                "{ctx}: missing `kind` (segmentation, layer_sweep, degradation, variance, identification, tracking, propagation, reconstruction)"
            );
        }
        let spec: ExperimentSpec = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| EvalError::msg(format!("{ctx}: {}", e.message())))?;
        let def = ExperimentDef { common, spec };
        def.validate().with_context(|| ctx.clone())?;
        Ok(def)
    }

    /// Whether model `name` takes part.
    pub fn includes(&self, name: &str) -> bool {
        self.common.models.is_empty() || self.common.models.iter().any(|m| m == name)
    }

    /// Value checks serde cannot make.
    pub fn validate(&self) -> Result<()> {
        if let ExperimentSpec::Variance(v) = &self.spec
            && v.spectrum_only
            && (!v.sweep.is_empty() || !v.alternatives.is_empty() || v.linear)
        {
            bail!(
                "`spectrum_only`: leave out `sweep`, `alternatives` and `linear` (nothing is scored)"
            );
        }
        let levels = match &self.spec {
            ExperimentSpec::Degradation(d) => &d.levels,
            ExperimentSpec::Identification(i) => &i.levels,
            _ => return Ok(()),
        };
        if let Some(l) = levels.iter().find(|l| !(1..=4).contains(*l)) {
            bail!("`levels`: level {l} is not 1..=4");
        }
        if let ExperimentSpec::Identification(i) = &self.spec {
            crate::identification::parse_transforms(
                &if i.kinds.is_empty() {
                    "all".to_string()
                } else {
                    i.kinds.join(",")
                },
                &[1],
            )
            .context("`kinds`")?;
        }
        Ok(())
    }
}

/// The shipped suites, embedded so that `cargo xtask reproduce` works from any directory.
pub const SHIPPED: [(&str, &str); 2] = [
    ("demo", include_str!("../../../suites/demo.toml")),
    ("paper", include_str!("../../../suites/paper.toml")),
];

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
                .map_err(|e| EvalError::Io {
                    path: path.to_path_buf(),
                    source: e,
                })
                .context("reading the suite file")?;
            let over: toml::Table =
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
            match over.get("extends").and_then(|v| v.as_str()) {
                Some(base_name) => {
                    let mut base = if SHIPPED.iter().any(|(n, _)| *n == base_name) {
                        shipped_table(base_name)?
                    } else {
                        let p = path.parent().unwrap_or(Path::new(".")).join(base_name);
                        let t = std::fs::read_to_string(&p)
                            .map_err(|e| EvalError::Io {
                                path: p.clone(),
                                source: e,
                            })
                            .context("reading the suite it extends")?;
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
        .map(|p| format!("suite {}", p.display()))
        .unwrap_or_else(|| format!("suite suites/{suite}.toml"));
    from_table(table, &what)
}

/// A suite from its TOML table; errors name `what` (the file).
pub fn from_table(table: toml::Table, what: &str) -> Result<Suite> {
    let doc: SuiteDoc = toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| EvalError::msg(format!("{what}: {}", e.message())))?;
    let mut experiments = BTreeMap::new();
    for (id, t) in doc.experiments {
        let def = ExperimentDef::from_table(t, what, &id)?;
        experiments.insert(id, def);
    }
    let s = Suite {
        name: doc.name,
        description: doc.description,
        seed: doc.seed,
        bootstrap_resamples: doc.bootstrap_resamples,
        device_batch: doc.device_batch,
        models: doc.models,
        extra_models: doc.extra_models,
        synthetic: doc.synthetic,
        feature_cache: doc.feature_cache,
        data: doc.data,
        model: doc.model,
        demo: doc.demo,
        experiments,
        extends: doc.extends,
    };
    s.validate().with_context(|| what.to_string())?;
    Ok(s)
}

impl Suite {
    /// Checks across experiments.
    pub fn validate(&self) -> Result<()> {
        if self.device_batch == 0 {
            return Err(EvalError::invalid(
                format!("suite {}", self.name),
                "device_batch",
                "must be at least 1",
            ));
        }
        for (id, e) in &self.experiments {
            if self.synthetic && e.spec.dataset() != "synthetic" {
                bail!(
                    "experiment `{id}`: a synthetic suite runs on the synthetic benchmark only, not `{}`",
                    e.spec.dataset()
                );
            }
        }
        Ok(())
    }

    /// The enabled experiments, in id order.
    pub fn enabled(&self) -> impl Iterator<Item = (&String, &ExperimentDef)> {
        self.experiments.iter().filter(|(_, e)| e.common.enabled)
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

    /// The study evaluated its degradations on all 12 layers (protocol §5): the paper suite does too.
    #[test]
    fn paper_suite_degrades_every_layer() {
        let s = load("paper", None).unwrap();
        let d: Vec<_> = s
            .enabled()
            .filter(|(_, e)| e.spec.kind() == "degradation")
            .collect();
        assert_eq!(d.len(), 1);
        let layers =
            crate::layers::resolve_layers(&d[0].1.common.layers, 12, "degradation").unwrap();
        assert_eq!(layers, (1..=12).collect::<Vec<_>>());
    }

    #[test]
    fn extends_merges_tables_key_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.toml");
        std::fs::write(&p, "extends = \"demo\"\nname = \"mini\"\n[experiments.a4_synthetic_variance]\nenabled = false\n").unwrap();
        let s = load("paper", Some(&p)).unwrap();
        assert_eq!(s.name, "mini");
        assert!(s.synthetic, "kept from demo");
        let v = &s.experiments["a4_synthetic_variance"];
        assert!(!v.common.enabled);
        assert_eq!(v.spec.kind(), "variance", "other fields kept");
    }

    #[test]
    fn bad_suites_are_errors_naming_file_experiment_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.toml");
        let load_err = |text: &str| {
            std::fs::write(&p, text).unwrap();
            crate::error::chain(&load("demo", Some(&p)).unwrap_err())
        };
        let e = load_err(
            "name = \"x\"\n[experiments.a]\nkind = \"tracking\"\ndataset = \"cityscapes\"\n",
        );
        assert!(
            e.contains("x.toml")
                && e.contains("experiment `a` (tracking)")
                && e.contains("cityscapes"),
            "{e}"
        );
        let e = load_err(
            "name = \"x\"\n[experiments.a]\nkind = \"tracking\"\ndataset = \"bdd100k\"\nbogus = 1\n",
        );
        assert!(e.contains("experiment `a`") && e.contains("bogus"), "{e}");
        let e = load_err(
            "name = \"x\"\n[experiments.a]\nkind = \"degradation\"\ndataset = \"camvid\"\nlevels = [5]\n",
        );
        assert!(
            e.contains("experiment `a`") && e.contains("levels") && e.contains("5"),
            "{e}"
        );
        let e = load_err(
            "name = \"x\"\n[experiments.a]\nkind = \"segmentation\"\ndataset = \"camvid\"\nprobes = [\"svm\"]\n",
        );
        assert!(e.contains("experiment `a`") && e.contains("svm"), "{e}");
        let e = load_err("name = \"x\"\nbogus_top = 3\n");
        assert!(e.contains("x.toml") && e.contains("bogus_top"), "{e}");
    }
}
