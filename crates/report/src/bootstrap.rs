//! Percentile-bootstrap confidence intervals.
//!
//! Resampling draws `n` items with replacement from the `n` items (images), `n_resamples` times,
//! with a ChaCha8 RNG seeded by `seed`, and takes the `(1-level)/2` and `(1+level)/2` quantiles of
//! the resampled statistic (linear interpolation between order statistics, as numpy's default
//! `quantile`). For mIoU the items are images: the resampled images' confusion matrices
//! ([`patchlens_metrics::ConfusionMatrix`], the project's one confusion-matrix type) are summed and
//! the mIoU of the sum is the statistic.

use crate::error::ReportError;
use crate::schema::ConfidenceInterval;
use patchlens_metrics::{AbsentClassPolicy, ConfusionMatrix};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Coverage of the intervals returned by [`bootstrap_ci_mean`] and [`bootstrap_ci_miou`].
pub const DEFAULT_LEVEL: f64 = 0.95;

/// Per evaluation class of one `K × (K+1)` matrix: (true positives, ground-truth pixels, pixels
/// predicted as the class among the evaluated rows). Only these sums enter the IoU, and they add over
/// images, so a resample's statistic needs `3K` additions per drawn image instead of `K(K+1)`.
fn class_sums(m: &ConfusionMatrix) -> Vec<[u64; 3]> {
    let k = m.num_classes();
    let cols = k + 1;
    let counts = m.counts();
    let mut s = vec![[0u64; 3]; k];
    for g in 0..k {
        for p in 0..cols {
            let c = counts[g * cols + p];
            s[g][1] += c;
            if p < k {
                s[p][2] += c;
            }
            if g == p {
                s[g][0] += c;
            }
        }
    }
    s
}

/// mIoU of summed per-class counts under `policy`, the formulas of
/// [`ConfusionMatrix::miou`]: [`AbsentClassPolicy::Nan`] averages `tp / (gt + pred - tp)` over the
/// classes present in ground truth or prediction (`None` if there is none);
/// [`AbsentClassPolicy::Epsilon`] averages `tp / (ε + gt + pred - tp)` over all classes.
fn miou_of(sums: &[[u64; 3]], policy: AbsentClassPolicy) -> Option<f64> {
    match policy {
        AbsentClassPolicy::Nan => {
            let ious: Vec<f64> = sums
                .iter()
                .filter_map(|s| {
                    let union = s[1] + s[2] - s[0];
                    (union > 0).then(|| s[0] as f64 / union as f64)
                })
                .collect();
            (!ious.is_empty()).then(|| ious.iter().sum::<f64>() / ious.len() as f64)
        }
        AbsentClassPolicy::Epsilon(eps) => {
            let total: f64 = sums
                .iter()
                .map(|s| s[0] as f64 / (eps + (s[1] + s[2] - s[0]) as f64))
                .sum();
            Some(total / sums.len() as f64)
        }
    }
}

/// Percentile-bootstrap interval of any statistic of `n_items` items.
///
/// `statistic(indices)` gets the (possibly repeated) item indices of a resample, `[n_items]`, and
/// returns the statistic, or `None` when it is undefined for that resample (such resamples are
/// dropped; at least half must be defined). `estimate` is the statistic on the original sample.
pub fn bootstrap_ci_with(
    n_items: usize,
    n_resamples: usize,
    seed: u64,
    level: f64,
    estimate: f64,
    method: &str,
    mut statistic: impl FnMut(&[usize]) -> Option<f64>,
) -> Result<ConfidenceInterval, ReportError> {
    if n_items == 0 {
        return Err(ReportError::InvalidInput(
            "bootstrap over zero items".into(),
        ));
    }
    if n_resamples < 2 {
        return Err(ReportError::InvalidInput(format!(
            "need at least 2 resamples, got {n_resamples}"
        )));
    }
    if !(level > 0.0 && level < 1.0) {
        return Err(ReportError::InvalidInput(format!(
            "confidence level {level} is not in (0, 1)"
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut idx = vec![0usize; n_items];
    let mut stats = Vec::with_capacity(n_resamples);
    for _ in 0..n_resamples {
        for i in idx.iter_mut() {
            *i = rng.random_range(0..n_items);
        }
        if let Some(s) = statistic(&idx).filter(|s| !s.is_nan()) {
            stats.push(s);
        }
    }
    if stats.len() * 2 < n_resamples {
        return Err(ReportError::InvalidInput(format!(
            "statistic undefined on {} of {n_resamples} resamples",
            n_resamples - stats.len()
        )));
    }
    stats.sort_by(f64::total_cmp);
    let alpha = 1.0 - level;
    Ok(ConfidenceInterval {
        estimate,
        lower: quantile_sorted(&stats, alpha / 2.0),
        upper: quantile_sorted(&stats, 1.0 - alpha / 2.0),
        level,
        n_resamples,
        seed,
        method: method.into(),
    })
}

/// Quantile `q` in `[0, 1]` of sorted `v` with linear interpolation (numpy's default method).
pub fn quantile_sorted(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let h = (v.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    v[lo] + (h - lo as f64) * (v[hi] - v[lo])
}

/// 95 % percentile-bootstrap interval of the mean of per-item `values` (e.g. per-image accuracy).
pub fn bootstrap_ci_mean(
    values: &[f64],
    n_resamples: usize,
    seed: u64,
) -> Result<ConfidenceInterval, ReportError> {
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(ReportError::InvalidInput(format!(
            "value {i} is {}",
            values[i]
        )));
    }
    let n = values.len();
    let mean = values.iter().sum::<f64>() / n.max(1) as f64;
    bootstrap_ci_with(
        n,
        n_resamples,
        seed,
        DEFAULT_LEVEL,
        mean,
        "percentile bootstrap of the mean over items",
        |idx| Some(idx.iter().map(|&i| values[i]).sum::<f64>() / n as f64),
    )
}

/// 95 % percentile-bootstrap interval of the mIoU, resampling images: each resample sums the
/// drawn images' confusion matrices ([`patchlens_metrics::ConfusionMatrix`], one per image, all over
/// the same [`LabelSpace`](patchlens_metrics::LabelSpace)) and computes the mIoU of the sum under the
/// label space's [`AbsentClassPolicy`], as [`ConfusionMatrix::miou`] does; the estimate is the mIoU
/// of all images together (the merged matrix's `miou()`).
pub fn bootstrap_ci_miou(
    per_image: &[ConfusionMatrix],
    n_resamples: usize,
    seed: u64,
) -> Result<ConfidenceInterval, ReportError> {
    let Some(first) = per_image.first() else {
        return Err(ReportError::InvalidInput("no confusion matrices".into()));
    };
    let space = first.space();
    if let Some(i) = per_image.iter().position(|m| m.space() != space) {
        return Err(ReportError::InvalidInput(format!(
            "confusion matrix {i} is over label space `{}` ({} classes), the first over `{}` ({} classes)",
            per_image[i].space().name,
            per_image[i].num_classes(),
            space.name,
            space.num_classes()
        )));
    }
    let policy = space.absent;
    let sums: Vec<Vec<[u64; 3]>> = per_image.iter().map(class_sums).collect();
    let c = first.num_classes();
    let total = |idx: &mut dyn Iterator<Item = usize>| {
        let mut acc = vec![[0u64; 3]; c];
        for i in idx {
            for (a, s) in acc.iter_mut().zip(&sums[i]) {
                a[0] += s[0];
                a[1] += s[1];
                a[2] += s[2];
            }
        }
        acc
    };
    let estimate = miou_of(&total(&mut (0..per_image.len())), policy).ok_or_else(|| {
        ReportError::InvalidInput("mIoU undefined: no class in ground truth or prediction".into())
    })?;
    let method = match policy {
        AbsentClassPolicy::Nan => "percentile bootstrap over images (summed confusion matrices)",
        AbsentClassPolicy::Epsilon(_) => {
            "percentile bootstrap over images (summed per-class counts, CSAILVision IoU)"
        }
    };
    bootstrap_ci_with(
        per_image.len(),
        n_resamples,
        seed,
        DEFAULT_LEVEL,
        estimate,
        method,
        |idx| miou_of(&total(&mut idx.iter().copied()), policy),
    )
}
