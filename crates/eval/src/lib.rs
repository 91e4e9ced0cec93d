//! patchlens-eval: the study as a library — every experiment of *Analyzing Local Representations of
//! Self-supervised Vision Transformers* (arXiv 2401.00463) as a typed config and a `run` function, the
//! suite runner (plan → units → merge → report) and the findings.
//!
//! Every experiment takes a [`TokenSource`] — a loaded [`Backbone`] through [`ModelTokens`] (batched on
//! its device, cached in a [`patchlens_store::FeatureStore`]) or features computed elsewhere
//! ([`FeatureDir`]) — and returns a typed result that converts into the report schema in one place:
//!
//! | experiment | config | run | result → report |
//! |---|---|---|---|
//! | few-shot segmentation, layer sweep (§3–§4) | [`SegmentationConfig`] | [`segmentation::run`] | [`segmentation::SegmentationResult::experiments`] |
//! | degradations (§5) | [`DegradationConfig`] | [`degradation::run`] | [`degradation::DegradationResult::experiments`] |
//! | high-variance features (§6) | [`VarianceConfig`] | [`variance::run`] | [`variance::VarianceResult::experiments`] |
//! | instance identification / retrieval (§7) | [`IdentificationConfig`] | [`identification::run`] | [`identification::IdentificationResult::experiment`] |
//! | tracking (§8) | [`TrackingConfig`] | [`tracking::run`] | [`tracking::TrackingResult::experiment`] |
//! | DAVIS label propagation | [`PropagationEvalConfig`] | [`propagation::run`] | [`propagation::PropagationResult::experiment`] |
//!
//! A suite ([`suite::Suite`], a typed TOML document) is planned into units with stable ids
//! ([`plan::plan`]), run unit by unit ([`runner::run_unit`], [`runner::run_all`]) and merged into
//! `results.json` and the report from the unit records alone ([`runner::merge`], [`runner::write_outputs`]).
//!
//! ```no_run
//! use patchlens_eval::segmentation::{self, SegSource, SegmentationConfig};
//! use patchlens_eval::{ModelSource, ModelSpec, ModelTokens};
//!
//! fn main() -> patchlens_eval::Result<()> {
//!     let device = patchlens_vit::Device::flex();
//!     let model = ModelSpec::zoo("dinov2_vits14")?.load(
//!         &ModelSource::Weights { path: "dinov2_vits14.safetensors".into(), part: None },
//!         &device,
//!     )?;
//!     let cfg = SegmentationConfig::new(SegSource::Camvid { root: "data/camvid".into() });
//!     let res = segmentation::run(&cfg, &ModelTokens::new(&model, None, 16))?;
//!     println!("CamVid 1-NN mIoU {:.3}", res.runs[0].scores.miou);
//!     Ok(())
//! }
//! ```

pub mod cost;
pub mod degradation;
pub mod encode;
pub mod error;
pub mod findings;
pub mod identification;
pub mod layers;
pub mod model;
pub mod plan;
pub mod progress;
pub mod propagation;
pub mod reconstruction;
pub mod runner;
pub mod safetensors_io;
pub mod segmentation;
pub mod suite;
pub mod tracking;
pub mod variance;
pub mod weights;

/// Paths the exported macros name (not a public API).
#[doc(hidden)]
pub mod __macro_support {
    pub use patchlens_report::ModelInfo;
    pub use patchlens_vit::{Device, Family};
}

pub use degradation::DegradationConfig;
pub use encode::{FeatureDir, ImageFeatures, ImageRequest, ModelTokens, TokenSource};
pub use error::{EvalError, Result};
pub use identification::IdentificationConfig;
pub use layers::LayerSel;
pub use model::{Backbone, InputNorm, ModelDef, ModelRegistry, ModelSource, ModelSpec};
pub use propagation::PropagationEvalConfig;
pub use reconstruction::ReconstructionConfig;
pub use segmentation::{SegSource, SegmentationConfig};
pub use tracking::TrackingConfig;
pub use variance::VarianceConfig;
