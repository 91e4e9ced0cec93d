//! DAVIS region similarity J and boundary F-measure, as in the DAVIS 2017 evaluation code
//! (davisvideochallenge/davis2017-evaluation, `davis2017/metrics.py`, `utils.db_statistics`,
//! `evaluation.py`), re-implemented from its description:
//!
//! - **J** (`db_eval_iou`): |pred ∧ gt ∧ ¬void| / |(pred ∨ gt) ∧ ¬void|, and 1 when the union is empty.
//! - **F** (`db_eval_boundary` / `f_measure`): boundaries by `seg2bmap` of `mask ∧ ¬void`, each dilated with a
//!   disk of radius `bound_pix = ceil(bound_th · ‖(H, W)‖)` (`bound_th = 0.008`; a `bound_th ≥ 1` is a pixel
//!   radius), precision = |fg_b ∧ dil(gt_b)| / |fg_b|, recall = |gt_b ∧ dil(fg_b)| / |gt_b|, with the official
//!   empty-boundary conventions (no prediction boundary and some GT boundary: P=1, R=0; the reverse: P=0, R=1;
//!   both empty: P=R=1), F = 2PR/(P+R) or 0.
//! - **Statistics** (`db_statistics`): mean (NaN-skipping), recall = fraction of frames > 0.5, decay = mean of
//!   the first quarter-bin minus mean of the last, bins from `round(linspace(1, n, 5) + 1e-10) − 1`.
//!   (The official code casts those bin edges to `uint8`, which wraps for sequences over 256 frames; here they
//!   do not wrap. DAVIS sequences have at most 104 frames, where both agree.)
//! - **Aggregation** (`evaluation_method.py`): per object; J-Mean = mean of the per-object J means,
//!   J&F-Mean = (J-Mean + F-Mean) / 2.

use rayon::prelude::*;
use serde::Serialize;

use crate::confusion::nan_mean;
use crate::error::{MetricsError, Result, dims};
use crate::segmap::LabelMap;

/// The official default boundary tolerance, as a fraction of the image diagonal.
pub const DEFAULT_BOUND_TH: f64 = 0.008;

/// A borrowed binary mask: `data[y * width + x] != 0` is foreground.
#[derive(Debug, Clone, Copy)]
pub struct Mask<'a> {
    /// Width.
    pub width: usize,
    /// Height.
    pub height: usize,
    /// `width * height` values; non-zero = foreground (as numpy's `astype(bool)`).
    pub data: &'a [u8],
}

impl<'a> Mask<'a> {
    /// Wrap `data`, checking its length.
    pub fn new(width: usize, height: usize, data: &'a [u8]) -> Result<Self> {
        if width.checked_mul(height) != Some(data.len()) {
            return Err(MetricsError::SizeMismatch {
                what_a: "mask data length",
                a: data.len().to_string(),
                what_b: "width×height",
                b: dims(width, height),
            });
        }
        Ok(Self {
            width,
            height,
            data,
        })
    }

    fn same_size(&self, what: &'static str, other: &Mask<'_>) -> Result<()> {
        if (self.width, self.height) != (other.width, other.height)
            || self.data.len() != other.data.len()
        {
            return Err(MetricsError::SizeMismatch {
                what_a: "annotation",
                a: dims(self.width, self.height),
                what_b: what,
                b: dims(other.width, other.height),
            });
        }
        Ok(())
    }
}

/// Region similarity J between a ground-truth and a predicted mask, optionally ignoring `void` pixels.
pub fn jaccard(gt: &Mask<'_>, pred: &Mask<'_>, void: Option<&Mask<'_>>) -> Result<f64> {
    gt.same_size("segmentation", pred)?;
    if let Some(v) = void {
        gt.same_size("void pixels", v)?;
    }
    let (mut inter, mut union) = (0u64, 0u64);
    for i in 0..gt.data.len() {
        if void.is_some_and(|v| v.data[i] != 0) {
            continue;
        }
        let (g, p) = (gt.data[i] != 0, pred.data[i] != 0);
        inter += (g && p) as u64;
        union += (g || p) as u64;
    }
    Ok(if union == 0 {
        1.0
    } else {
        inter as f64 / union as f64
    })
}

/// The boundary map of a binary mask (`_seg2bmap` with default width/height): a pixel is on the boundary if
/// it differs from its east, south or south-east neighbour (neighbours outside the image count as 0); the
/// last row compares only east, the last column only south, and the bottom-right pixel is 0.
pub fn seg2bmap(width: usize, height: usize, seg: &[bool]) -> Vec<bool> {
    let (w, h) = (width, height);
    let mut b = vec![false; w * h];
    let at = |y: usize, x: usize| -> bool { y < h && x < w && seg[y * w + x] };
    for y in 0..h {
        for x in 0..w {
            let s = seg[y * w + x];
            b[y * w + x] = if y + 1 == h && x + 1 == w {
                false
            } else if y + 1 == h {
                s ^ at(y, x + 1)
            } else if x + 1 == w {
                s ^ at(y + 1, x)
            } else {
                (s ^ at(y, x + 1)) | (s ^ at(y + 1, x)) | (s ^ at(y + 1, x + 1))
            };
        }
    }
    b
}

/// Half-widths of the rows of skimage's `disk(radius)` (`x² + y² ≤ r²`), for `dy = -r..=r`.
fn disk_half_widths(radius: usize) -> Vec<usize> {
    let r = radius as i64;
    (-r..=r)
        .map(|dy| {
            let mut hw = 0i64;
            while (hw + 1) * (hw + 1) + dy * dy <= r * r {
                hw += 1;
            }
            hw as usize
        })
        .collect()
}

/// Binary dilation of `b` with a disk of `radius` (cv2.dilate with `disk(radius)`, border pixels ignored).
pub fn dilate_disk(width: usize, height: usize, b: &[bool], radius: usize) -> Vec<bool> {
    let hw = disk_half_widths(radius);
    let r = radius as i64;
    let mut out = vec![false; width * height];
    for y in 0..height {
        for x in 0..width {
            if !b[y * width + x] {
                continue;
            }
            for (k, &h) in hw.iter().enumerate() {
                let yy = y as i64 + k as i64 - r;
                if yy < 0 || yy >= height as i64 {
                    continue;
                }
                let x0 = x.saturating_sub(h);
                let x1 = (x + h).min(width - 1);
                let row = yy as usize * width;
                out[row + x0..=row + x1].iter_mut().for_each(|v| *v = true);
            }
        }
    }
    out
}

/// Boundary tolerance radius in pixels for an image of `width × height`: `bound_th` itself if ≥ 1 (it must
/// then be an integer), else `ceil(bound_th · sqrt(H² + W²))`.
pub fn bound_pixels(width: usize, height: usize, bound_th: f64) -> Result<usize> {
    if bound_th.is_nan()
        || bound_th <= 0.0
        || !bound_th.is_finite()
        || (bound_th >= 1.0 && bound_th.fract() != 0.0)
    {
        return Err(MetricsError::InvalidArgument {
            what: "bound_th",
            detail: format!(
                "{bound_th} (need a fraction in (0, 1) or an integer pixel radius ≥ 1)"
            ),
        });
    }
    Ok(if bound_th >= 1.0 {
        bound_th as usize
    } else {
        (bound_th * ((height as f64).powi(2) + (width as f64).powi(2)).sqrt()).ceil() as usize
    })
}

/// Boundary F-measure between a ground-truth and a predicted mask (`db_eval_boundary` on one frame).
pub fn boundary_f(
    gt: &Mask<'_>,
    pred: &Mask<'_>,
    void: Option<&Mask<'_>>,
    bound_th: f64,
) -> Result<f64> {
    gt.same_size("segmentation", pred)?;
    if let Some(v) = void {
        gt.same_size("void pixels", v)?;
    }
    let (w, h) = (gt.width, gt.height);
    if w == 0 || h == 0 {
        return Err(MetricsError::InvalidArgument {
            what: "mask size",
            detail: dims(w, h),
        });
    }
    let bound_pix = bound_pixels(w, h, bound_th)?;
    let keep = |i: usize| void.is_none_or(|v| v.data[i] == 0);
    let fg: Vec<bool> = (0..w * h).map(|i| pred.data[i] != 0 && keep(i)).collect();
    let gtm: Vec<bool> = (0..w * h).map(|i| gt.data[i] != 0 && keep(i)).collect();
    let fg_b = seg2bmap(w, h, &fg);
    let gt_b = seg2bmap(w, h, &gtm);
    let fg_dil = dilate_disk(w, h, &fg_b, bound_pix);
    let gt_dil = dilate_disk(w, h, &gt_b, bound_pix);
    let n_fg = fg_b.iter().filter(|&&v| v).count();
    let n_gt = gt_b.iter().filter(|&&v| v).count();
    let (precision, recall) = match (n_fg, n_gt) {
        (0, 0) => (1.0, 1.0),
        (0, _) => (1.0, 0.0),
        (_, 0) => (0.0, 1.0),
        _ => {
            let fg_match = fg_b.iter().zip(&gt_dil).filter(|(a, b)| **a && **b).count();
            let gt_match = gt_b.iter().zip(&fg_dil).filter(|(a, b)| **a && **b).count();
            (fg_match as f64 / n_fg as f64, gt_match as f64 / n_gt as f64)
        }
    };
    Ok(if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    })
}

/// Mean, recall and decay of per-frame values (`db_statistics`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Statistics {
    /// NaN-skipping mean.
    pub mean: f64,
    /// Fraction of frames with a value > 0.5 (NaN frames count as not above).
    pub recall: f64,
    /// Mean of the first quarter-bin minus mean of the last quarter-bin.
    pub decay: f64,
}

/// `db_statistics(per_frame_values)`. All NaN for an empty input.
pub fn statistics(values: &[f64]) -> Statistics {
    let n = values.len();
    if n == 0 {
        return Statistics {
            mean: f64::NAN,
            recall: f64::NAN,
            decay: f64::NAN,
        };
    }
    let mean = nan_mean(values);
    let recall = values.iter().filter(|v| **v > 0.5).count() as f64 / n as f64;
    // numpy linspace(1, n, 5): start + i * step, last element exactly `stop`.
    let step = (n as f64 - 1.0) / 4.0;
    let ids: Vec<usize> = (0..5)
        .map(|i| {
            let v = if i == 4 {
                n as f64
            } else {
                1.0 + i as f64 * step
            };
            ((v + 1e-10).round_ties_even() - 1.0) as usize
        })
        .collect();
    let bin = |i: usize| -> f64 {
        let (a, b) = (ids[i], (ids[i + 1] + 1).min(n));
        if a >= b {
            f64::NAN
        } else {
            nan_mean(&values[a..b])
        }
    };
    Statistics {
        mean,
        recall,
        decay: bin(0) - bin(3),
    }
}

/// Per-frame J and F of one object over a sequence, with their statistics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectScores {
    /// Name, e.g. `"<sequence>_<object id>"` as the official per-sequence table.
    pub name: String,
    /// J per evaluated frame.
    pub j: Vec<f64>,
    /// F per evaluated frame.
    pub f: Vec<f64>,
    /// Statistics of `j`.
    pub j_stats: Statistics,
    /// Statistics of `f`.
    pub f_stats: Statistics,
}

impl ObjectScores {
    /// Score one object over frames: `gt[i]`, `pred[i]` (and `void[i]`) are the binary masks of frame `i`.
    /// Frames are evaluated in parallel.
    pub fn from_masks(
        name: &str,
        gt: &[Mask<'_>],
        pred: &[Mask<'_>],
        void: Option<&[Mask<'_>]>,
        bound_th: f64,
    ) -> Result<Self> {
        crate::error::same_len(
            "ground-truth frames",
            gt.len(),
            "predicted frames",
            pred.len(),
        )?;
        if let Some(v) = void {
            crate::error::same_len("ground-truth frames", gt.len(), "void frames", v.len())?;
        }
        let jf: Vec<(f64, f64)> = (0..gt.len())
            .into_par_iter()
            .map(|i| {
                let v = void.map(|v| &v[i]);
                Ok((
                    jaccard(&gt[i], &pred[i], v)?,
                    boundary_f(&gt[i], &pred[i], v, bound_th)?,
                ))
            })
            .collect::<Result<_>>()?;
        let (j, f): (Vec<f64>, Vec<f64>) = jf.into_iter().unzip();
        Ok(Self {
            name: name.to_string(),
            j_stats: statistics(&j),
            f_stats: statistics(&f),
            j,
            f,
        })
    }
}

/// Semi-supervised DAVIS 2017 evaluation of one sequence from indexed label maps (object ids 1..=n, 0
/// background, 255 void in the ground truth), as `DAVISEvaluation.evaluate`: the number of objects is the
/// largest id of the first ground-truth frame (after void removal); the first and last frames are not
/// evaluated; a predicted id above the number of objects is an error; objects missing from the prediction
/// score against an empty mask. Void pixels are not used (the official semi-supervised path passes none).
pub fn evaluate_semisupervised_sequence(
    sequence: &str,
    gt: &[LabelMap],
    pred: &[LabelMap],
    bound_th: f64,
) -> Result<Vec<ObjectScores>> {
    crate::error::same_len(
        "ground-truth frames",
        gt.len(),
        "predicted frames",
        pred.len(),
    )?;
    let Some(first) = gt.first() else {
        return Ok(vec![]);
    };
    let n_obj = first
        .data
        .iter()
        .filter(|&&v| v != 255)
        .copied()
        .max()
        .unwrap_or(0);
    for (i, (g, p)) in gt.iter().zip(pred).enumerate() {
        if (g.width, g.height) != (p.width, p.height) {
            return Err(MetricsError::SizeMismatch {
                what_a: "ground truth",
                a: format!("{} (frame {i})", dims(g.width, g.height)),
                what_b: "prediction",
                b: dims(p.width, p.height),
            });
        }
    }
    let eval = if gt.len() > 2 { 1..gt.len() - 1 } else { 0..0 };
    if let Some(bad) = pred[eval.clone()]
        .iter()
        .flat_map(|p| p.data.iter())
        .copied()
        .find(|&v| v > n_obj)
    {
        return Err(MetricsError::InvalidArgument {
            what: "prediction",
            detail: format!(
                "sequence `{sequence}`: object id {bad} but the ground truth has {n_obj} objects"
            ),
        });
    }
    (1..=n_obj)
        .map(|id| {
            let bin =
                |m: &LabelMap| -> Vec<u8> { m.data.iter().map(|&v| (v == id) as u8).collect() };
            let gt_b: Vec<Vec<u8>> = gt[eval.clone()].iter().map(bin).collect();
            let pr_b: Vec<Vec<u8>> = pred[eval.clone()].iter().map(bin).collect();
            let gm: Vec<Mask<'_>> = gt[eval.clone()]
                .iter()
                .zip(&gt_b)
                .map(|(m, d)| Mask {
                    width: m.width,
                    height: m.height,
                    data: d,
                })
                .collect();
            let pm: Vec<Mask<'_>> = pred[eval.clone()]
                .iter()
                .zip(&pr_b)
                .map(|(m, d)| Mask {
                    width: m.width,
                    height: m.height,
                    data: d,
                })
                .collect();
            ObjectScores::from_masks(&format!("{sequence}_{id}"), &gm, &pm, None, bound_th)
        })
        .collect()
}

/// The global table of `evaluation_method.py`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DavisSummary {
    /// (J-Mean + F-Mean) / 2.
    pub jf_mean: f64,
    /// Mean over objects of the per-object J mean.
    pub j_mean: f64,
    /// Mean over objects of the per-object J recall.
    pub j_recall: f64,
    /// Mean over objects of the per-object J decay.
    pub j_decay: f64,
    /// Mean over objects of the per-object F mean.
    pub f_mean: f64,
    /// Mean over objects of the per-object F recall.
    pub f_recall: f64,
    /// Mean over objects of the per-object F decay.
    pub f_decay: f64,
    /// Number of objects.
    pub objects: usize,
}

impl DavisSummary {
    /// Aggregate per-object scores (plain means, as `np.mean` in the official script).
    pub fn from_objects(objects: &[ObjectScores]) -> Self {
        let m = |f: &dyn Fn(&ObjectScores) -> f64| -> f64 {
            objects.iter().map(f).sum::<f64>() / objects.len() as f64
        };
        let j_mean = m(&|o| o.j_stats.mean);
        let f_mean = m(&|o| o.f_stats.mean);
        Self {
            jf_mean: (j_mean + f_mean) / 2.0,
            j_mean,
            j_recall: m(&|o| o.j_stats.recall),
            j_decay: m(&|o| o.j_stats.decay),
            f_mean,
            f_recall: m(&|o| o.f_stats.recall),
            f_decay: m(&|o| o.f_stats.decay),
            objects: objects.len(),
        }
    }
}
