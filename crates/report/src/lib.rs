//! patchlens-report: results schema, bootstrap confidence intervals, the paper's numbers, and
//! Markdown / self-contained HTML reports with SVG plots.
//!
//! - [`Results`] is the versioned `results.json` schema ([`SCHEMA_VERSION`]): [`RunInfo`] (commit,
//!   date, backend, device, threads, [`StageTiming`]s, peak memory) and [`Experiment`]s (protocol
//!   parameters, [`ModelInfo`], metrics, [`Curve`]s, [`ConfidenceInterval`]s, [`PaperKey`]s,
//!   [`ImageArtifact`]s).
//! - [`bootstrap_ci_mean`] / [`bootstrap_ci_miou`] / [`bootstrap_ci_with`]: percentile bootstrap;
//!   mIoU resamples images and sums their [`patchlens_metrics::ConfusionMatrix`]es (under the label
//!   space's absent-class policy, cityscapesScripts or CSAILVision).
//! - [`paper`] / [`paper_lookup`]: the study's numbers as data, looked up by
//!   `(experiment, setting, model)`.
//! - [`Report`] / [`write_report`]: `results.json`, `results.csv` ([`Results::to_csv`]: one flat row
//!   per metric, columns [`CSV_COLUMNS`]), `report.md` (+ `plots/*.svg`) and a self-contained
//!   `report.html` (inline CSS and SVG, PNG samples as data URIs). Both renderings open with a
//!   summary ([`summary_tables`]: one row per model, one column per experiment family
//!   ([`experiment_family`]), the kind's [`headline`] metric with its CI), then the figures, an
//!   "ours | paper | Δ" overview and table wherever an experiment is linked to a paper number, and one
//!   section per experiment whose protocol is a short key/value table ([`protocol_rows`]) folded under
//!   `<details>`, training histories drawn as loss curves ([`history_svg`]).
//!
//! ```
//! use patchlens_report::*;
//! let mut results = Results::new(RunInfo::collect(".", "cpu", "cpu", 2));
//! let model = ModelInfo { zoo_name: "dinov2_vitb14".into(), weights_sha256: None, family: "dinov2".into() };
//! let mut e = Experiment::new("cityscapes/knn/set4_72", ExperimentKind::Segmentation, model);
//! e.metrics.insert("miou".into(), 0.50);
//! e.paper.insert("miou".into(), PaperKey::new("cityscapes_knn_vs_linear_by_pool", "knn/set4_72", "dinov2"));
//! results.experiments.push(e);
//! let report = Report::build(&results, ".").unwrap();
//! assert!((report.comparisons()[0].delta() - (0.50 - 0.494)).abs() < 1e-12);
//! ```

mod bootstrap;
mod csv;
mod error;
mod files;
mod format;
mod images;
mod paper;
mod plot;
mod protocol;
mod render;
mod runinfo;
mod schema;
mod summary;

pub use bootstrap::{
    DEFAULT_LEVEL, bootstrap_ci_mean, bootstrap_ci_miou, bootstrap_ci_with, quantile_sorted,
};
pub use csv::CSV_COLUMNS;
pub use error::ReportError;
pub use format::{escape_html, fmt_delta, fmt_value};
pub use images::{UNLABELLED_COLOR, base64_encode, default_palette, label_map_png, rgb_png};
pub use paper::{
    FAIR1M_PAPER_QUERIES, FAIR1M_PAPER_QUERIES_DINOV2, PAPER_JSON, PaperEntry, PaperNumbers,
    fair1m_paper_queries, paper, paper_lookup, setting_number,
};
pub use plot::{FIGURE_SIZE, Figure, HISTORY_SIZE, PALETTE, Series, history_svg, render_svg};
pub use protocol::{ProtocolRow, ProtocolValue, TrainingHistory, protocol_rows};
pub use render::{
    Comparison, MAX_OPEN_COMPARISONS, MAX_OPEN_METRICS, MAX_SUMMARY_COLUMNS, RenderedFigure,
    Report, ReportFiles, build_figures, compare_with, write_report,
};
pub use runinfo::{
    StageTimer, format_rfc3339, git_commit, parse_vmhwm, peak_memory_bytes, utc_now_rfc3339,
};
pub use schema::{
    ConfidenceInterval, Curve, Experiment, ExperimentKind, ImageArtifact, ImageSource, ModelInfo,
    PaperKey, PlotKind, Results, RunInfo, SCHEMA_VERSION, StageTiming,
};
pub use summary::{
    Headline, HeadlineRule, SummaryCell, SummaryTable, experiment_family, headline, summary_tables,
};
