//! CamVid few-shot segmentation with DINOv2-S/14 and a 1-NN probe, as a user of the library writes it.
//!
//! ```sh
//! cargo run -p patchlens-eval --example camvid_knn -- [CAMVID_ROOT] [WEIGHTS]
//! ```
//! Defaults: the shared assets `../shared/data/camvid-mini` and
//! `../shared/weights/dinov2_vits14_imgfocus.safetensors` (or `$PATCHLENS_SHARED`).

use std::path::PathBuf;

use patchlens_eval::segmentation::{self, SegSource, SegmentationConfig};
use patchlens_eval::{ModelSource, ModelSpec, ModelTokens};

fn main() -> patchlens_eval::Result<()> {
    let shared = patchlens_testutil::shared_dir();
    let mut args = std::env::args().skip(1).map(PathBuf::from);
    let root = args
        .next()
        .unwrap_or_else(|| shared.join("data/camvid-mini"));
    let weights = args
        .next()
        .unwrap_or_else(|| shared.join("weights/dinov2_vits14_imgfocus.safetensors"));

    // The backbone: a zoo architecture with a checkpoint in its official layout, on the CPU.
    let model = ModelSpec::zoo("dinov2_vits14")?.load(
        &ModelSource::Weights {
            path: weights,
            part: None,
        },
        &patchlens_vit::Device::flex(),
    )?;
    // The study's CamVid protocol (672×448, 2×3 tiles of 224, centre-pixel labels), 1-NN by dot product.
    let cfg = SegmentationConfig::new(SegSource::Camvid { root });
    let result = segmentation::run(&cfg, &ModelTokens::new(&model, None, 16))?;

    let scores = &result.runs[0].scores;
    let ci = scores.miou_ci.as_ref().expect("1000 bootstrap resamples");
    println!(
        "CamVid {} → {}: 1-NN mIoU {:.3} (95% CI {:.3}–{:.3}), pixel accuracy {:.3}",
        result.train_splits[0],
        result.test_split,
        scores.miou,
        ci.lower,
        ci.upper,
        scores.pixel_accuracy
    );
    for (class, iou) in &scores.per_class_iou {
        println!("  {class:<12} {iou:.3}");
    }
    Ok(())
}
