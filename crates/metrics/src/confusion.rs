//! Streaming confusion matrix over a [`LabelSpace`], and the scores derived from it (IoU per class, mIoU,
//! pixel accuracy, category IoU).
//!
//! The matrix has `K` rows (ground-truth evaluation classes) and `K + 1` columns: the `K` predicted
//! evaluation classes and one last column, "not an evaluation class", for predicted raw ids that map to no
//! class (Cityscapes void ids, ADE20K 0, CamVid 11). Ground-truth pixels that map to no class are skipped.
//! This `K × (K+1)` matrix holds everything cityscapesScripts' `34 × 34` matrix contributes to the scores:
//! for class `c`, TP = `C[c][c]`, FN = row sum − TP (including predicted void), FP = column sum − TP over the
//! evaluation rows only (ground-truth void predicted as `c` is not a false positive).
//!
//! A space's [`IgnoreAlias`](crate::labels::IgnoreAlias) value (the folder layout's 255) is counted exactly
//! like the void raw id it stands for, in ground truth and in predictions.

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{MetricsError, Result, dims, same_len};
use crate::labels::{AbsentClassPolicy, LabelSpace};
use crate::segmap::LabelMap;

/// Pixels per parallel chunk when one image is accumulated.
const CHUNK: usize = 1 << 18;

/// Lookup-table entry of a value between the raw ids and an [`crate::labels::IgnoreAlias`] value: invalid.
const NOT_A_LABEL: u16 = u16::MAX;

/// A label value that can be looked up in a label space (`u8`, `u16`, `u32`).
pub trait RawLabel: Copy + Send + Sync {
    /// The raw id as `u32`.
    fn raw(self) -> u32;
}
impl RawLabel for u8 {
    #[inline]
    fn raw(self) -> u32 {
        self as u32
    }
}
impl RawLabel for u16 {
    #[inline]
    fn raw(self) -> u32 {
        self as u32
    }
}
impl RawLabel for u32 {
    #[inline]
    fn raw(self) -> u32 {
        self
    }
}

/// A `K × (K+1)` confusion matrix of `u64` pixel counts (row = ground-truth class, column = predicted class,
/// last column = predicted raw id outside the evaluation classes), accumulated image by image.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfusionMatrix {
    space: LabelSpace,
    /// raw id → eval class, or `K` for "no class".
    lut: Vec<u16>,
    counts: Vec<u64>,
}

/// Scores derived from a [`ConfusionMatrix`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentationScores {
    /// The label space's name.
    pub space: String,
    /// Evaluation class names (length `K`).
    pub class_names: Vec<String>,
    /// IoU per evaluation class (length `K`; NaN for absent classes under [`AbsentClassPolicy::Nan`]).
    pub iou: Vec<f64>,
    /// Mean IoU ("Score Average" in cityscapesScripts).
    pub miou: f64,
    /// Pixel accuracy over evaluated ground-truth pixels (predicted void counts as wrong).
    pub pixel_accuracy: f64,
    /// `(category name, IoU)` per category of the label space (empty if it has none).
    pub category_iou: Vec<(String, f64)>,
    /// Mean category IoU (NaN categories skipped); NaN if the space has no categories.
    pub category_miou: f64,
    /// Number of evaluated ground-truth pixels.
    pub pixels: u64,
}

impl ConfusionMatrix {
    /// An empty matrix over `space`.
    pub fn new(space: &LabelSpace) -> Self {
        let k = space.num_classes();
        let mut lut: Vec<u16> = space
            .raw_to_eval
            .iter()
            .map(|e| e.unwrap_or(k as u16))
            .collect();
        if let Some(a) = space.ignore_alias {
            let (value, raw) = (a.value as usize, a.raw as usize);
            if lut.len() <= value {
                lut.resize(value + 1, NOT_A_LABEL);
            }
            lut[value] = lut[raw];
        }
        Self {
            space: space.clone(),
            lut,
            counts: vec![0; k * (k + 1)],
        }
    }

    /// The label space.
    pub fn space(&self) -> &LabelSpace {
        &self.space
    }

    /// Number of evaluation classes `K`.
    pub fn num_classes(&self) -> usize {
        self.space.num_classes()
    }

    /// The counts, row-major `K × (K+1)`.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Count at (ground-truth class `gt`, predicted class `pred`); `pred == K` is "no class".
    pub fn get(&self, gt: usize, pred: usize) -> u64 {
        self.counts[gt * (self.num_classes() + 1) + pred]
    }

    /// Total number of evaluated pixels.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Add one image given as flat row-major arrays of raw ids (same length). Large images are split into
    /// chunks counted in parallel. Errors on a length mismatch or a raw id outside the label space (in either
    /// input), leaving the matrix unchanged.
    pub fn accumulate<P: RawLabel, G: RawLabel>(&mut self, pred: &[P], gt: &[G]) -> Result<()> {
        same_len(
            "prediction length",
            pred.len(),
            "ground truth length",
            gt.len(),
        )?;
        let local = if pred.len() <= CHUNK {
            self.count(pred, gt)?
        } else {
            pred.par_chunks(CHUNK)
                .zip(gt.par_chunks(CHUNK))
                .map(|(p, g)| self.count(p, g))
                .try_reduce(
                    || vec![0u64; self.counts.len()],
                    |mut a, b| {
                        add_into(&mut a, &b);
                        Ok(a)
                    },
                )?
        };
        add_into(&mut self.counts, &local);
        Ok(())
    }

    /// Add one image given as [`LabelMap`]s; a size mismatch error names both `W×H` sizes.
    pub fn accumulate_maps(&mut self, pred: &LabelMap, gt: &LabelMap) -> Result<()> {
        if (pred.width, pred.height) != (gt.width, gt.height) {
            return Err(MetricsError::SizeMismatch {
                what_a: "prediction",
                a: dims(pred.width, pred.height),
                what_b: "ground truth",
                b: dims(gt.width, gt.height),
            });
        }
        self.accumulate(&pred.data, &gt.data)
    }

    /// Add many images, `(prediction, ground truth)` per image, in parallel over images.
    pub fn accumulate_many<P: RawLabel, G: RawLabel>(
        &mut self,
        pairs: &[(&[P], &[G])],
    ) -> Result<()> {
        let k = self.num_classes();
        let total = pairs
            .par_iter()
            .map(|(p, g)| {
                let mut m = ConfusionMatrix {
                    space: self.space.clone(),
                    lut: self.lut.clone(),
                    counts: vec![0; k * (k + 1)],
                };
                m.accumulate(p, g).map(|_| m.counts)
            })
            .try_reduce(
                || vec![0u64; k * (k + 1)],
                |mut a, b| {
                    add_into(&mut a, &b);
                    Ok(a)
                },
            )?;
        add_into(&mut self.counts, &total);
        Ok(())
    }

    /// Add another matrix over the same label space.
    pub fn merge(&mut self, other: &ConfusionMatrix) -> Result<()> {
        if self.space != other.space {
            return Err(MetricsError::LabelSpaceMismatch {
                a: self.space.name.clone(),
                b: other.space.name.clone(),
            });
        }
        add_into(&mut self.counts, &other.counts);
        Ok(())
    }

    fn count<P: RawLabel, G: RawLabel>(&self, pred: &[P], gt: &[G]) -> Result<Vec<u64>> {
        let k = self.num_classes();
        let cols = k + 1;
        let lut = &self.lut;
        let mut counts = vec![0u64; k * cols];
        for (&p, &g) in pred.iter().zip(gt) {
            let (p, g) = (p.raw(), g.raw());
            let gi = match lut.get(g as usize) {
                Some(&gi) if gi != NOT_A_LABEL => gi as usize,
                _ => return Err(self.out_of_range("ground truth", g)),
            };
            let pi = match lut.get(p as usize) {
                Some(&pi) if pi != NOT_A_LABEL => pi as usize,
                _ => return Err(self.out_of_range("prediction", p)),
            };
            if gi < k {
                counts[gi * cols + pi] += 1;
            }
        }
        Ok(counts)
    }

    fn out_of_range(&self, what: &'static str, value: u32) -> MetricsError {
        MetricsError::LabelOutOfRange {
            space: self.space.name.clone(),
            what,
            value,
            max: self.space.num_raw() as u32 - 1,
            ignore: self
                .space
                .ignore_alias
                .map(|a| a.value)
                .filter(|&v| v as usize >= self.space.num_raw()),
        }
    }

    /// (TP, FP, FN) of the union of evaluation classes `set` (one class for the class IoU), following
    /// cityscapesScripts `getIouScoreForCategory` / `getIouScoreForLabel`.
    fn tp_fp_fn(&self, set: &[usize]) -> (u64, u64, u64) {
        let k = self.num_classes();
        let cols = k + 1;
        let mut in_set = vec![false; k];
        for &c in set {
            in_set[c] = true;
        }
        let (mut tp, mut fp, mut row) = (0u64, 0u64, 0u64);
        for (line, &inside) in self.counts.chunks(cols).zip(&in_set) {
            let col_in: u64 = set.iter().map(|&c| line[c]).sum();
            if inside {
                tp += col_in;
                row += line.iter().sum::<u64>();
            } else {
                fp += col_in;
            }
        }
        (tp, fp, row - tp)
    }

    fn ratio(&self, tp: u64, denom: u64) -> f64 {
        match self.space.absent {
            AbsentClassPolicy::Nan => {
                if denom == 0 {
                    f64::NAN
                } else {
                    tp as f64 / denom as f64
                }
            }
            AbsentClassPolicy::Epsilon(eps) => tp as f64 / (eps + denom as f64),
        }
    }

    fn mean(&self, values: &[f64]) -> f64 {
        match self.space.absent {
            AbsentClassPolicy::Nan => nan_mean(values),
            AbsentClassPolicy::Epsilon(_) => values.iter().sum::<f64>() / values.len() as f64,
        }
    }

    /// IoU of evaluation class `c`.
    pub fn iou(&self, c: usize) -> f64 {
        let (tp, fp, fn_) = self.tp_fp_fn(&[c]);
        self.ratio(tp, tp + fp + fn_)
    }

    /// IoU per evaluation class (length `K`).
    pub fn iou_per_class(&self) -> Vec<f64> {
        (0..self.num_classes()).map(|c| self.iou(c)).collect()
    }

    /// Mean IoU under the space's [`AbsentClassPolicy`].
    pub fn miou(&self) -> f64 {
        self.mean(&self.iou_per_class())
    }

    /// Mean IoU over a subset of classes given by name (e.g. the paper's "easy" / "hard" groups), NaN
    /// classes skipped. Errors on an unknown name.
    pub fn miou_of(&self, names: &[&str]) -> Result<f64> {
        let mut v = Vec::with_capacity(names.len());
        for n in names {
            let c = self
                .space
                .class_names
                .iter()
                .position(|x| x == n)
                .ok_or_else(|| MetricsError::InvalidArgument {
                    what: "class name",
                    detail: format!("`{n}` is not a class of `{}`", self.space.name),
                })?;
            v.push(self.iou(c));
        }
        Ok(nan_mean(&v))
    }

    /// Pixel accuracy: correctly predicted / evaluated ground-truth pixels.
    pub fn pixel_accuracy(&self) -> f64 {
        let cols = self.num_classes() + 1;
        let correct: u64 = (0..self.num_classes())
            .map(|c| self.counts[c * cols + c])
            .sum();
        self.ratio(correct, self.total())
    }

    /// IoU per category of the label space (cityscapesScripts `getIouScoreForCategory`; NaN for a category
    /// without evaluation classes or with a zero denominator).
    pub fn category_iou(&self) -> Vec<(String, f64)> {
        self.space
            .categories
            .iter()
            .map(|cat| {
                if cat.classes.is_empty() {
                    return (cat.name.clone(), f64::NAN);
                }
                let (tp, fp, fn_) = self.tp_fp_fn(&cat.classes);
                let d = tp + fp + fn_;
                (
                    cat.name.clone(),
                    if d == 0 {
                        f64::NAN
                    } else {
                        tp as f64 / d as f64
                    },
                )
            })
            .collect()
    }

    /// All scores at once.
    pub fn scores(&self) -> SegmentationScores {
        let category_iou = self.category_iou();
        let cat_values: Vec<f64> = category_iou.iter().map(|(_, v)| *v).collect();
        SegmentationScores {
            space: self.space.name.clone(),
            class_names: self.space.class_names.clone(),
            iou: self.iou_per_class(),
            miou: self.miou(),
            pixel_accuracy: self.pixel_accuracy(),
            category_miou: nan_mean(&cat_values),
            category_iou,
            pixels: self.total(),
        }
    }
}

fn add_into(a: &mut [u64], b: &[u64]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += *y;
    }
}

/// Mean of the non-NaN values; NaN if there are none (cityscapesScripts `getScoreAverage`).
pub fn nan_mean(values: &[f64]) -> f64 {
    let (s, n) = values
        .iter()
        .filter(|v| !v.is_nan())
        .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { f64::NAN } else { s / n as f64 }
}

/// Patch accuracy: the fraction of positions where `pred == gt` (all labels count, void included; protocol
/// §A.1 "top-1 over all query patches"). NaN for empty input.
pub fn patch_accuracy<T: PartialEq>(pred: &[T], gt: &[T]) -> Result<f64> {
    same_len(
        "prediction length",
        pred.len(),
        "ground truth length",
        gt.len(),
    )?;
    if pred.is_empty() {
        return Ok(f64::NAN);
    }
    let correct = pred.iter().zip(gt).filter(|(p, g)| p == g).count();
    Ok(correct as f64 / pred.len() as f64)
}
