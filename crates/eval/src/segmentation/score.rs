//! Scoring a segmentation probe at full label resolution: patch predictions are back-projected to the
//! label map (Cityscapes: nearest upsampling per tile + stitching; ADE20K / CamVid / folder: the frame's
//! patch grid resized nearest-exact to the label size), accumulated in confusion matrices per test image,
//! and summarised as mIoU with a 95 % bootstrap interval over images.

use patchlens_data::sample::{SegEntry, check_label_range, read_label};
use patchlens_data::{LabelCheck, SegmentationSplit, TileSpec};
use patchlens_image::ImageU8;
use patchlens_metrics::{
    ConfusionMatrix, LabelMap, LabelSpace, NearestExact, TileLayout, grids_to_label_size,
    stitch_tiles_upsampled,
};

use super::features::{ImageSlot, SplitFeatures};
use crate::error::{Context, Result, bail};

/// Scores of predictions on a test split.
pub struct SegEvaluation {
    /// Confusion matrix over all test images.
    pub total: ConfusionMatrix,
    /// One confusion matrix per test image (for the bootstrap), in split order.
    pub per_image: Vec<ConfusionMatrix>,
    /// Patch accuracy over all query patches (void included).
    pub patch_accuracy: f64,
    /// Predicted label map of the first test image at label resolution.
    pub first_map: Option<LabelMap>,
}

/// Back-project one image's patch predictions to its label resolution.
///
/// Without a whole-image resize (Cityscapes) each tile grid is upsampled nearest-exact to the tile size
/// and the tiles are stitched (must cover the label map exactly); with a resize (ADE20K, CamVid) the
/// tiles' grids are placed on the image's patch grid, which is resized nearest-exact to the label size.
/// OpenCV 4's `INTER_NEAREST_EXACT` throughout.
pub fn back_project(spec: &TileSpec, slot: &ImageSlot, preds: &[u16]) -> Result<LabelMap> {
    let layout = TileLayout {
        tile_rows: slot.tile_rows,
        tile_cols: slot.tile_cols,
        grid: spec.grid,
    };
    match spec.resize {
        None => {
            let m = stitch_tiles_upsampled(preds, layout, spec.tile, NearestExact::OpenCv4)?;
            if (m.width, m.height) != (slot.width, slot.height) {
                bail!(
                    "{}: the tiles cover {}x{} pixels but the label map is {}x{}",
                    slot.entry.id,
                    m.width,
                    m.height,
                    slot.width,
                    slot.height
                );
            }
            Ok(m)
        }
        Some(_) => Ok(grids_to_label_size(
            preds,
            layout,
            slot.width,
            slot.height,
            NearestExact::OpenCv4,
        )?),
    }
}

/// Read an image's label map again (checked against the split's label range).
pub fn read_gt(split: &SegmentationSplit, entry: &SegEntry) -> Result<ImageU8> {
    let mut label = read_label(&entry.label)?;
    check_label_range(
        split.dataset,
        &entry.label,
        &mut label,
        split.label_max,
        split.ignore_label,
        LabelCheck::Strict,
    )?;
    Ok(label)
}

/// Score `preds` (raw ids, one per query patch of `test`) at full label resolution.
pub fn evaluate_predictions(
    space: &LabelSpace,
    spec: &TileSpec,
    split: &SegmentationSplit,
    test: &SplitFeatures,
    preds: &[u32],
) -> Result<SegEvaluation> {
    if preds.len() != test.len() {
        bail!(
            "{} predictions for {} query patches",
            preds.len(),
            test.len()
        );
    }
    let mut total = ConfusionMatrix::new(space);
    let mut per_image = Vec::with_capacity(test.images.len());
    let mut first_map = None;
    for slot in &test.images {
        let p: Vec<u16> = preds[slot.offset..slot.offset + slot.n_patches]
            .iter()
            .map(|&v| v as u16)
            .collect();
        let map = back_project(spec, slot, &p)?;
        let gt = read_gt(split, &slot.entry)?;
        if (gt.width, gt.height) != (map.width, map.height) {
            bail!(
                "{}: label map changed size since it was encoded",
                slot.entry.label.display()
            );
        }
        let mut cm = ConfusionMatrix::new(space);
        cm.accumulate(&map.data, &gt.data)
            .with_context(|| format!("scoring {}", slot.entry.id))?;
        total.merge(&cm)?;
        per_image.push(cm);
        if first_map.is_none() {
            first_map = Some(map);
        }
    }
    let patch_accuracy = patchlens_metrics::patch_accuracy(preds, &test.labels)?;
    Ok(SegEvaluation {
        total,
        per_image,
        patch_accuracy,
        first_map,
    })
}

/// 95 % percentile-bootstrap interval of the mIoU over test images (`n_resamples` resamples, `seed`).
///
/// [`patchlens_report::bootstrap_ci_miou`] resamples the per-image confusion matrices and scores each
/// resample with the label space's own convention (absent classes skipped like cityscapesScripts, or
/// ADE20K's CSAILVision mean over all classes with ε), so the interval is around the reported mIoU.
pub fn miou_ci(
    eval: &SegEvaluation,
    n_resamples: usize,
    seed: u64,
) -> Result<patchlens_report::ConfidenceInterval> {
    Ok(patchlens_report::bootstrap_ci_miou(
        &eval.per_image,
        n_resamples,
        seed,
    )?)
}
