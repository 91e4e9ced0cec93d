//! DAVIS label propagation (DINO's protocol) with DINOv2-S/14, scored with the official J&F.
//!
//! ```sh
//! cargo run -p patchlens-eval --example davis_propagation -- [DAVIS_ROOT] [WEIGHTS] [MAX_FRAMES]
//! ```
//! Defaults: the shared `../shared/data/davis2016-mini` (or `$PATCHLENS_SHARED`) and its DINOv2-S/14
//! weights; every frame of every sequence (pass e.g. `12` as MAX_FRAMES for a quick look).

use std::path::PathBuf;

use patchlens_eval::propagation::{self, DavisDataset, PropagationEvalConfig};
use patchlens_eval::{ModelSource, ModelSpec, ModelTokens};

fn main() -> patchlens_eval::Result<()> {
    let shared = patchlens_testutil::shared_dir();
    let mut args = std::env::args().skip(1);
    let root = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| shared.join("data/davis2016-mini"));
    let weights = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| shared.join("weights/dinov2_vits14_imgfocus.safetensors"));
    let max_frames = args.next().and_then(|n| n.parse().ok());

    let model = ModelSpec::zoo("dinov2_vits14")?.load(
        &ModelSource::Weights {
            path: weights,
            part: None,
        },
        &patchlens_vit::Device::flex(),
    )?;
    let mut cfg = PropagationEvalConfig::new(DavisDataset::Davis2016, root);
    cfg.max_frames = max_frames;
    let result = propagation::run(&cfg, &ModelTokens::new(&model, None, 1))?;

    for s in &result.sequences {
        println!(
            "{:<16} {:>3} frames  J {:.3}  F {:.3}  J&F {:.3}",
            s.name, s.frames, s.summary.j_mean, s.summary.f_mean, s.summary.jf_mean
        );
    }
    let m = &result.summary;
    println!(
        "mean over {} objects: J {:.3}  F {:.3}  J&F {:.3}",
        m.objects, m.j_mean, m.f_mean, m.jf_mean
    );
    Ok(())
}
