//! The versioned `results.json` schema.
//!
//! One [`Results`] per run: run information (commit, date, backend, device, threads, stage timings,
//! peak memory) and a list of [`Experiment`]s. Each experiment carries its protocol parameters
//! (free-form JSON), the model, scalar metrics, optional curves (x/y series grouped into figures),
//! optional bootstrap confidence intervals, optional links to the paper's numbers and optional
//! sample images.

use crate::error::{ReportError, io_err};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The schema version written by this crate (and the only one it reads).
pub const SCHEMA_VERSION: u32 = 1;

/// Everything one run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// Schema version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Where, when and how the run happened.
    pub run: RunInfo,
    /// The experiments, in report order.
    pub experiments: Vec<Experiment>,
}

impl Results {
    /// Empty results for `run`, at the current [`SCHEMA_VERSION`].
    pub fn new(run: RunInfo) -> Results {
        Results {
            schema_version: SCHEMA_VERSION,
            run,
            experiments: Vec::new(),
        }
    }

    /// Pretty JSON text.
    pub fn to_json(&self) -> Result<String, ReportError> {
        serde_json::to_string_pretty(self).map_err(ReportError::Serialize)
    }

    /// Writes pretty JSON to `path` (via a temporary file in the same directory + rename).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), ReportError> {
        let path = path.as_ref();
        crate::files::write_atomic(path, self.to_json()?.as_bytes())
    }

    /// Reads a results file, checking its schema version.
    pub fn load(path: impl AsRef<Path>) -> Result<Results, ReportError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|source| ReportError::Parse {
                path: path.into(),
                source,
            })?;
        let found = value
            .get("schema_version")
            .and_then(|v| v.as_u64())
            .unwrap_or(0) as u32;
        if found != SCHEMA_VERSION {
            return Err(ReportError::SchemaVersion {
                path: path.into(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        serde_json::from_value(value).map_err(|source| ReportError::Parse {
            path: path.into(),
            source,
        })
    }
}

/// Run information.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// `git rev-parse HEAD` of the code that ran (suffixed `-dirty` with uncommitted changes), if known.
    pub git_commit: Option<String>,
    /// Start time, RFC 3339 UTC (`2025-01-31T12:00:00Z`).
    pub date: String,
    /// Compute backend (e.g. `"burn-flex"`, `"cuda"`).
    pub backend: String,
    /// Device description (e.g. `"cpu"`, `"NVIDIA H100"`).
    pub device: String,
    /// Float precision of the backbones' forward passes (`f32`, `f16`, `bf16`); files written before
    /// the field existed were f32.
    #[serde(default = "f32_name")]
    pub precision: String,
    /// Worker threads used.
    pub threads: usize,
    /// Wall-clock time per stage, in run order.
    #[serde(default)]
    pub stages: Vec<StageTiming>,
    /// Peak resident memory (`VmHWM` of `/proc/self/status`) in bytes, if known.
    pub peak_memory_bytes: Option<u64>,
    /// Anything else worth recording (command line, hostname, ...).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

fn f32_name() -> String {
    "f32".into()
}

/// Wall-clock time of one stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageTiming {
    /// Stage name (e.g. `"embed"`, `"knn"`).
    pub name: String,
    /// Seconds.
    pub seconds: f64,
}

/// The model an experiment used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Model-zoo name (e.g. `"dinov2_vitb14"`).
    pub zoo_name: String,
    /// sha256 of the weights file, if hashed.
    pub weights_sha256: Option<String>,
    /// Model family (e.g. `"dinov2"`, `"mae"`, `"supervised"`).
    pub family: String,
}

/// What an experiment measures; selects the default plot kind of its curves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExperimentKind {
    /// Few-shot segmentation (k-NN / linear probe) scores.
    Segmentation,
    /// A metric as a function of the layer.
    LayerSweep,
    /// Per-dimension variance spectrum (sorted variances, log y).
    VarianceSpectrum,
    /// Metric against the number of removed high-variance dimensions.
    VarianceRemoval,
    /// Clean against degraded scores.
    Degradation,
    /// Instance identification / retrieval counts or rates.
    Retrieval,
    /// Tracking accuracy against the frame gap Δ.
    Tracking,
    /// MAE reconstruction loss against the number of replaced high-variance dimensions.
    Reconstruction,
    /// Anything else.
    Other,
}

impl ExperimentKind {
    /// Human-readable name (`"variance spectrum"`, ...).
    pub fn label(self) -> &'static str {
        match self {
            ExperimentKind::Segmentation => "segmentation",
            ExperimentKind::LayerSweep => "layer sweep",
            ExperimentKind::VarianceSpectrum => "variance spectrum",
            ExperimentKind::VarianceRemoval => "variance removal",
            ExperimentKind::Degradation => "degradation",
            ExperimentKind::Retrieval => "retrieval",
            ExperimentKind::Tracking => "tracking",
            ExperimentKind::Reconstruction => "MAE reconstruction",
            ExperimentKind::Other => "other",
        }
    }

    /// Default plot kind of this experiment's curves.
    pub fn default_plot(self) -> PlotKind {
        match self {
            ExperimentKind::VarianceSpectrum => PlotKind::LogY,
            ExperimentKind::Degradation => PlotKind::Scatter,
            ExperimentKind::Retrieval => PlotKind::Bars,
            ExperimentKind::Segmentation
            | ExperimentKind::LayerSweep
            | ExperimentKind::VarianceRemoval
            | ExperimentKind::Tracking
            | ExperimentKind::Reconstruction
            | ExperimentKind::Other => PlotKind::Line,
        }
    }
}

/// How a figure is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlotKind {
    /// Lines with markers.
    Line,
    /// Lines on a logarithmic y axis (non-positive values are skipped).
    LogY,
    /// Points only (optionally annotated with [`Curve::point_labels`]).
    Scatter,
    /// Grouped bars: one group per distinct x, one bar per series.
    Bars,
}

/// One experiment's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    /// Unique name (e.g. `"cityscapes/knn/set4_72/dinov2_vitb14/layer12"`).
    pub name: String,
    /// What it measures.
    pub kind: ExperimentKind,
    /// Protocol parameters (tile size, k, split, layer, ...), free-form.
    #[serde(default)]
    pub protocol: serde_json::Map<String, serde_json::Value>,
    /// The model.
    pub model: ModelInfo,
    /// Scalar metrics by name (e.g. `"miou"`), fractions rather than percentages.
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    /// Curves; curves of all experiments with the same [`Curve::figure`] share one plot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub curves: Vec<Curve>,
    /// Confidence intervals by metric name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub confidence_intervals: BTreeMap<String, ConfidenceInterval>,
    /// Paper numbers to compare metrics with, by metric name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub paper: BTreeMap<String, PaperKey>,
    /// Sample images (e.g. predicted segmentation maps).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageArtifact>,
}

impl Experiment {
    /// An experiment with no metrics, curves or images yet.
    pub fn new(name: impl Into<String>, kind: ExperimentKind, model: ModelInfo) -> Experiment {
        Experiment {
            name: name.into(),
            kind,
            protocol: serde_json::Map::new(),
            model,
            metrics: BTreeMap::new(),
            curves: Vec::new(),
            confidence_intervals: BTreeMap::new(),
            paper: BTreeMap::new(),
            images: Vec::new(),
        }
    }

    /// The metrics in natural name order (digit runs compare as numbers: `all/layer2` before
    /// `all/layer10`), as the report and `results.csv` list them.
    pub fn metrics_natural_order(&self) -> Vec<(&str, f64)> {
        let mut v: Vec<(&str, f64)> = self.metrics.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        v.sort_by(|a, b| crate::format::natural_cmp(a.0, b.0));
        v
    }
}

/// Numbers that may hold NaN: serde_json writes NaN as `null`, so `null` reads back as NaN.
fn nan_for_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    let v: Vec<Option<f64>> = Deserialize::deserialize(d)?;
    Ok(v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
}

/// [`nan_for_null`] for an optional list.
fn opt_nan_for_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<f64>>, D::Error> {
    let v: Option<Vec<Option<f64>>> = Deserialize::deserialize(d)?;
    Ok(v.map(|v| v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect()))
}

/// An x/y series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    /// Figure id: curves with the same id (from any experiment) are drawn in one plot. It is also
    /// the figure's title and (sanitised) file name.
    pub figure: String,
    /// Legend label of this series (e.g. the model name).
    pub label: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// x values `[n]`.
    pub x: Vec<f64>,
    /// y values `[n]`; a missing point is NaN (written as JSON `null`, read back as NaN).
    #[serde(deserialize_with = "nan_for_null")]
    pub y: Vec<f64>,
    /// Plot kind; `None` = the experiment kind's [`ExperimentKind::default_plot`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plot: Option<PlotKind>,
    /// Lower / upper confidence bounds per point (`[n]` each), drawn as error bars.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_nan_for_null"
    )]
    pub y_lower: Option<Vec<f64>>,
    /// See [`Curve::y_lower`].
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_nan_for_null"
    )]
    pub y_upper: Option<Vec<f64>>,
    /// Per-point annotations (`[n]`), shown next to scatter points and as bar-group names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point_labels: Option<Vec<String>>,
    /// The paper's series to compare with: `setting` may contain `{x}`, replaced by each x value
    /// (integers printed without decimals), e.g. `"all/layer{x}"`. Matching points are drawn as a
    /// dashed "(paper)" series and listed in the side-by-side table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paper: Option<PaperKey>,
}

impl Curve {
    /// A curve with no optional parts.
    pub fn new(
        figure: impl Into<String>,
        label: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
        x: Vec<f64>,
        y: Vec<f64>,
    ) -> Curve {
        Curve {
            figure: figure.into(),
            label: label.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            x,
            y,
            plot: None,
            y_lower: None,
            y_upper: None,
            point_labels: None,
            paper: None,
        }
    }

    /// Checks that all per-point vectors have the length of `x`.
    pub fn validate(&self) -> Result<(), ReportError> {
        let bad = |reason: String| ReportError::BadCurve {
            figure: self.figure.clone(),
            label: self.label.clone(),
            reason,
        };
        let n = self.x.len();
        if self.y.len() != n {
            return Err(bad(format!("{} x values but {} y values", n, self.y.len())));
        }
        for (name, v) in [("y_lower", &self.y_lower), ("y_upper", &self.y_upper)] {
            if let Some(v) = v
                && v.len() != n
            {
                return Err(bad(format!("{} {name} values for {n} points", v.len())));
            }
        }
        if let Some(l) = &self.point_labels
            && l.len() != n
        {
            return Err(bad(format!("{} point labels for {n} points", l.len())));
        }
        Ok(())
    }
}

/// A confidence interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfidenceInterval {
    /// The statistic on the original sample.
    pub estimate: f64,
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
    /// Coverage (e.g. 0.95).
    pub level: f64,
    /// Number of bootstrap resamples.
    pub n_resamples: usize,
    /// RNG seed of the resampling.
    pub seed: u64,
    /// Method, e.g. `"percentile bootstrap over images"`.
    pub method: String,
}

/// A reference to one of the paper's numbers (see [`crate::paper`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PaperKey {
    /// Experiment id, a top-level key of the reference file (e.g. `"cityscapes_knn_vs_linear_by_pool"`).
    pub experiment: String,
    /// Setting within it (e.g. `"knn/set4_72"`); in [`Curve::paper`] it may contain `{x}`.
    pub setting: String,
    /// Model name as in the reference file (`sup_vit`, `dino`, `dinov2`, `mae`, `simmim`, `mae_minus_200`).
    pub model: String,
    /// What a reader must know to compare the two numbers: our recipe beside the paper's (probe,
    /// epochs, selection), or the totals behind two rates. Shown beside the pair in the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl PaperKey {
    /// Builds a key.
    pub fn new(
        experiment: impl Into<String>,
        setting: impl Into<String>,
        model: impl Into<String>,
    ) -> PaperKey {
        PaperKey {
            experiment: experiment.into(),
            setting: setting.into(),
            model: model.into(),
            note: None,
        }
    }

    /// The key with a note for the reader (see [`PaperKey::note`]).
    pub fn with_note(mut self, note: impl Into<String>) -> PaperKey {
        self.note = Some(note.into());
        self
    }
}

/// A sample image shown in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageArtifact {
    /// Title.
    pub title: String,
    /// Optional caption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// Where the PNG is.
    pub source: ImageSource,
}

/// Where an image's PNG bytes are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ImageSource {
    /// A PNG file; a relative path is relative to the results directory.
    File {
        /// Path of the PNG.
        path: String,
    },
    /// PNG bytes, base64-encoded (standard alphabet, padded).
    PngBase64 {
        /// The encoded bytes.
        data: String,
    },
}
