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
/// Spaces scored like cityscapesScripts (absent classes skipped) use
/// [`patchlens_report::bootstrap_ci_miou`] on the per-image confusion matrices; ADE20K's
/// CSAILVision convention (mean over all classes, ε in the denominator) resamples the same per-class
/// sums with that formula, so the interval is around the reported mIoU in both cases.
pub fn miou_ci(
    eval: &SegEvaluation,
    n_resamples: usize,
    seed: u64,
) -> Result<patchlens_report::ConfidenceInterval> {
    let space = eval.total.space();
    let k = space.num_classes();
    match space.absent {
        patchlens_metrics::AbsentClassPolicy::Nan => {
            let mats = eval
                .per_image
                .iter()
                .map(|m| patchlens_report::ConfusionMatrix::new(k, k + 1, m.counts().to_vec()))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok(patchlens_report::bootstrap_ci_miou(
                &mats,
                n_resamples,
                seed,
            )?)
        }
        patchlens_metrics::AbsentClassPolicy::Epsilon(eps) => {
            // Per image and class: (tp, ground-truth pixels, predicted pixels among evaluated rows).
            let sums: Vec<Vec<[u64; 3]>> = eval
                .per_image
                .iter()
                .map(|m| {
                    let mut s = vec![[0u64; 3]; k];
                    for g in 0..k {
                        for p in 0..=k {
                            let c = m.get(g, p);
                            s[g][1] += c;
                            if p < k {
                                s[p][2] += c;
                            }
                            if p == g {
                                s[g][0] += c;
                            }
                        }
                    }
                    s
                })
                .collect();
            let stat = |idx: &mut dyn Iterator<Item = usize>| {
                let mut acc = vec![[0u64; 3]; k];
                for i in idx {
                    for (a, s) in acc.iter_mut().zip(&sums[i]) {
                        a[0] += s[0];
                        a[1] += s[1];
                        a[2] += s[2];
                    }
                }
                let total: f64 = acc
                    .iter()
                    .map(|a| a[0] as f64 / (eps + (a[1] + a[2] - a[0]) as f64))
                    .sum();
                Some(total / k as f64)
            };
            Ok(patchlens_report::bootstrap_ci_with(
                eval.per_image.len(),
                n_resamples,
                seed,
                patchlens_report::DEFAULT_LEVEL,
                eval.total.miou(),
                "percentile bootstrap over images (summed per-class counts, CSAILVision IoU)",
                |idx| stat(&mut idx.iter().copied()),
            )?)
        }
    }
}
