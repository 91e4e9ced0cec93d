//! `cargo xtask eval <experiment>`: every experiment of the suites as a subcommand with explicit inputs,
//! each writing a `results.json` whose `"metrics"` object holds the figures.

use anyhow::Result;
use clap::Subcommand;

pub mod common;
pub mod identification;
pub mod propagation;
pub mod segmentation;
pub mod tracking;
pub mod variance;

/// The experiments.
#[derive(Subcommand, Debug)]
pub enum EvalCmd {
    /// Few-shot patch segmentation (k-NN / linear probe) on Cityscapes, ADE20K or CamVid.
    Segmentation(segmentation::SegmentationArgs),
    /// DAVIS label propagation (J&F).
    Propagation(propagation::PropagationArgs),
    /// FAIR1M-style instance identification / object retrieval under transformations.
    Identification(identification::IdentificationArgs),
    /// BDD100K-style object association across frames.
    Tracking(tracking::TrackingArgs),
    /// Feature-variance spectrum and top-variance removal sweep.
    Variance(variance::VarianceArgs),
}

/// Dispatch.
pub fn run(cmd: &EvalCmd) -> Result<()> {
    match cmd {
        EvalCmd::Segmentation(a) => segmentation::run(a),
        EvalCmd::Propagation(a) => propagation::run(a),
        EvalCmd::Identification(a) => identification::run(a),
        EvalCmd::Tracking(a) => tracking::run(a),
        EvalCmd::Variance(a) => variance::run(a),
    }
}
