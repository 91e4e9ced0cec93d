//! DAVIS semi-supervised video object segmentation by label propagation, after DINO's
//! `eval_video_segmentation.py` (facebookresearch/dino), step for step:
//!
//! 1. **First frame** (`read_seg`): the original label map (`H × W`, object indices) is resized to the
//!    patch grid `rows × cols` with PIL nearest ([`pil_nearest_resize`]) and one-hot encoded with
//!    `C = max(small labels) + 1` channels (`to_one_hot`). An object that vanishes in this downsample
//!    gets no channel.
//! 2. **Context** for frame `t`: the first frame plus the (up to) `n_last_frames` previous frames, oldest
//!    first, each with its patch features and its *soft* `[C, rows, cols]` mask (the first frame's one-hot
//!    mask, later frames' propagated masks before any upsampling).
//! 3. **Affinity** (`label_propagation`): features are L2-normalised per patch (`F.normalize`, eps 1e-12;
//!    raw features may be given), `aff = exp(<tar_q, src_s> / temperature)` for every context frame; if
//!    `size_mask_neighborhood > 0`, sources outside the `(2r+1) × (2r+1)` square window around the target
//!    patch get affinity 0 (`restrict_neighborhood`; `r = 0` means no restriction, as in DINO).
//!    Per target patch, over all contexts × sources, entries below the `topk`-th largest value are zeroed
//!    (ties at the threshold are kept), and the rest normalised to sum 1.
//! 4. **Soft mask** of the target: `seg_tar[c, q] = Σ_{k,s} aff[k,s,q] · seg_k[c, s]`. It enters the
//!    queue (the oldest frame leaves when `n_last_frames` are held).
//! 5. **Label map**: the soft mask is bilinearly upsampled by `patch` (`F.interpolate(scale_factor=patch,
//!    mode='bilinear', align_corners=False)`), each channel with a positive maximum is min-max normalised
//!    (`norm_mask`), the argmax over channels is taken (first maximum wins; NaN, from a constant positive
//!    channel, wins like in torch), and the `rows·patch × cols·patch` index map is resized to the original
//!    `H × W` with PIL nearest.
//!
//! Frame 0's output is the given annotation itself (DINO writes `seg_ori`).
//!
//! Arithmetic is f32 like DINO's, except that lane sums of dot products and the affinity sums and
//! weighted label sums accumulate in f64. Target patches are processed in parallel (rayon).

use std::collections::VecDeque;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::constants::davis;
use crate::error::{Result, TrackError, check_len, check_positive};
use crate::feature_map::FeatureMap;
use crate::linalg::dot;
pub use patchlens_metrics::LabelMap;

/// Label propagation settings (DINO's command-line options; defaults in [`crate::protocol::davis`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PropagationConfig {
    /// Previous frames kept as context besides the first (`--n_last_frames`, 7). 0 keeps only the first
    /// frame (DINO itself would block on an empty `queue.Queue(0)`).
    pub n_last_frames: usize,
    /// Source patches accumulated per target patch (`--topk`, 5).
    pub topk: usize,
    /// Radius in patches of the source window (`--size_mask_neighborhood`, 12); 0 = whole frame.
    pub size_mask_neighborhood: usize,
    /// Softmax temperature (0.1).
    pub temperature: f32,
}

impl Default for PropagationConfig {
    /// DINO's defaults: 7, 5, 12, 0.1.
    fn default() -> Self {
        Self {
            n_last_frames: davis::N_LAST_FRAMES,
            topk: davis::TOPK,
            size_mask_neighborhood: davis::SIZE_MASK_NEIGHBORHOOD,
            temperature: davis::TEMPERATURE,
        }
    }
}

impl PropagationConfig {
    fn validate(&self, grid_len: usize) -> Result<()> {
        let bad = |key: &str, value: String, reason: &str| TrackError::InvalidConfig {
            key: key.to_string(),
            value,
            reason: reason.to_string(),
        };
        if self.topk == 0 {
            return Err(bad("topk", "0".into(), "must be positive"));
        }
        if self.topk > grid_len {
            return Err(bad(
                "topk",
                self.topk.to_string(),
                &format!("must not exceed the {grid_len} patches of one frame"),
            ));
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(bad(
                "temperature",
                self.temperature.to_string(),
                "must be finite and positive",
            ));
        }
        Ok(())
    }
}

/// Largest object id a label map may hold here: DAVIS annotations are palette PNGs, so object ids are
/// palette indices. (The propagator keeps one soft-mask channel per id up to the largest present.)
pub const MAX_OBJECT_ID: u16 = 255;

/// A non-empty `width × height` label map over `data` (row-major), checked in this crate's terms.
fn label_map(width: usize, height: usize, data: Vec<u16>) -> Result<LabelMap> {
    check_positive("label map height", height)?;
    check_positive("label map width", width)?;
    check_len("label map", &[height, width], height * width, data.len())?;
    Ok(LabelMap {
        width,
        height,
        data,
    })
}

/// Source indices PIL's `Image.resize(..., NEAREST)` reads for each of `dst` output pixels along an axis
/// of `src` input pixels (`ImagingScaleAffine`: `x_in = (int)(s/2 + x·s)` with `s = src/dst`, the
/// position accumulated by repeated f64 addition exactly like PIL). `None` marks an index outside the
/// input (PIL fills those with 0; it does not happen for plain resizes but is kept for fidelity).
pub fn pil_nearest_indices(src: usize, dst: usize) -> Vec<Option<usize>> {
    let a = src as f64 / dst as f64;
    let mut pos = a * 0.5;
    let mut out = Vec::with_capacity(dst);
    for _ in 0..dst {
        // COORD(v) = v < 0 ? -1 : (int)v
        let idx = if pos < 0.0 { None } else { Some(pos as usize) };
        out.push(idx.filter(|&i| i < src));
        pos += a;
    }
    out
}

/// Resize a `[height, width]` `u8` map to `[out_height, out_width]` with PIL's nearest rule
/// ([`pil_nearest_indices`] per axis; out-of-range reads give 0). Equal sizes copy.
pub fn pil_nearest_resize(map: &LabelMap, out_height: usize, out_width: usize) -> Result<LabelMap> {
    check_positive("label map height", map.height)?;
    check_positive("label map width", map.width)?;
    check_positive("output height", out_height)?;
    check_positive("output width", out_width)?;
    if out_height == map.height && out_width == map.width {
        return Ok(map.clone());
    }
    let ys = pil_nearest_indices(map.height, out_height);
    let xs = pil_nearest_indices(map.width, out_width);
    let mut data = vec![0u16; out_height * out_width];
    for (y, yi) in ys.iter().enumerate() {
        let Some(yi) = *yi else { continue };
        for (x, xi) in xs.iter().enumerate() {
            if let Some(xi) = *xi {
                data[y * out_width + x] = map.at(yi, xi);
            }
        }
    }
    label_map(out_width, out_height, data)
}

/// Bilinear upsampling of `[channels, rows, cols]` by an integer `factor`, as PyTorch's
/// `F.interpolate(scale_factor=factor, mode='bilinear', align_corners=False,
/// recompute_scale_factor=False)` (f32; source coordinate `(dst + 0.5) · (1/factor) - 0.5`, clamped at 0;
/// value `(x[h0,w0]·λw0 + x[h0,w1]·λw1)·λh0 + (x[h1,w0]·λw0 + x[h1,w1]·λw1)·λh1`).
/// Returns `[channels, rows·factor, cols·factor]`.
pub fn upsample_bilinear(
    data: &[f32],
    channels: usize,
    rows: usize,
    cols: usize,
    factor: usize,
) -> Result<Vec<f32>> {
    check_positive("upsampling factor", factor)?;
    check_positive("rows", rows)?;
    check_positive("cols", cols)?;
    check_len(
        "soft mask",
        &[channels, rows, cols],
        channels * rows * cols,
        data.len(),
    )?;
    let scale = (1.0f64 / factor as f64) as f32;
    let axis = |in_size: usize, out_size: usize| -> Vec<(usize, usize, f32, f32)> {
        (0..out_size)
            .map(|i| {
                let mut real = scale * (i as f32 + 0.5) - 0.5;
                if real < 0.0 {
                    real = 0.0;
                }
                let i0 = (real.floor() as usize).min(in_size - 1);
                let l1 = (real - i0 as f32).clamp(0.0, 1.0);
                let i1 = i0 + usize::from(i0 < in_size - 1);
                (i0, i1, 1.0 - l1, l1)
            })
            .collect()
    };
    let (out_rows, out_cols) = (rows * factor, cols * factor);
    let hs = axis(rows, out_rows);
    let ws = axis(cols, out_cols);
    let mut out = vec![0f32; channels * out_rows * out_cols];
    for c in 0..channels {
        let src = &data[c * rows * cols..(c + 1) * rows * cols];
        let dst = &mut out[c * out_rows * out_cols..(c + 1) * out_rows * out_cols];
        for (y, &(h0, h1, lh0, lh1)) in hs.iter().enumerate() {
            for (x, &(w0, w1, lw0, lw1)) in ws.iter().enumerate() {
                let t0 = src[h0 * cols + w0] * lw0 + src[h0 * cols + w1] * lw1;
                let t1 = src[h1 * cols + w0] * lw0 + src[h1 * cols + w1] * lw1;
                dst[y * out_cols + x] = t0 * lh0 + t1 * lh1;
            }
        }
    }
    Ok(out)
}

/// DINO's `norm_mask` + `torch.max(dim=0)`: per channel with a positive maximum, `(v - min) / (max - min)`
/// (a constant positive channel becomes NaN, as in torch); then the per-pixel argmax over channels (first
/// maximum wins, a NaN wins over numbers). `data` is `[channels, n]`; returns `n` indices.
pub fn norm_mask_argmax(data: &mut [f32], channels: usize) -> Vec<usize> {
    let n = data.len() / channels.max(1);
    for c in 0..channels {
        let ch = &mut data[c * n..(c + 1) * n];
        let max = ch.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if max > 0.0 {
            let min = ch.iter().copied().fold(f32::INFINITY, f32::min);
            ch.iter_mut().for_each(|v| *v -= min);
            let m = ch.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            ch.iter_mut().for_each(|v| *v /= m);
        }
    }
    (0..n)
        .map(|i| {
            let mut best = 0usize;
            let mut best_v = data[i];
            for c in 1..channels {
                let v = data[c * n + i];
                if !best_v.is_nan() && (v > best_v || v.is_nan()) {
                    best = c;
                    best_v = v;
                }
            }
            best
        })
        .collect()
}

/// One context frame: L2-normalised features `[hw, D]` and soft mask `[C, hw]`.
struct Context {
    feat: Vec<f32>,
    seg: Vec<f32>,
}

/// The result of propagating to one frame.
#[derive(Clone, Debug, PartialEq)]
pub struct PropagatedFrame {
    /// Soft mask `[C, rows, cols]` (DINO's `seg_tar`), before upsampling.
    pub soft: Vec<f32>,
    /// Label map at the original resolution of the first-frame annotation.
    pub labels: LabelMap,
}

/// Streaming label propagator for one video: construct with the first frame, then call [`Self::step`]
/// for frames 1, 2, … in order.
pub struct LabelPropagator {
    cfg: PropagationConfig,
    rows: usize,
    cols: usize,
    dim: usize,
    patch: usize,
    out_height: usize,
    out_width: usize,
    n_classes: usize,
    first: Context,
    queue: VecDeque<Context>,
    small_seg: LabelMap,
}

/// `F.normalize(x, dim=-1)` for `[n, dim]` rows: `x / max(||x||, 1e-12)` (norm accumulated in f64).
fn l2_normalize_rows(data: &[f32], dim: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(data.len());
    for row in data.chunks_exact(dim) {
        let norm = row
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            .sqrt() as f32;
        let denom = norm.max(1e-12);
        out.extend(row.iter().map(|&v| v / denom));
    }
    out
}

impl LabelPropagator {
    /// Start a video from its first frame's features (`[rows, cols, D]`, raw or normalised) and its
    /// annotation at the original resolution (`H × W`; the label maps returned later have this size).
    /// `patch` is the ViT patch size (the grid is `rows·patch × cols·patch` pixels of the resized frame).
    ///
    /// Errors: invalid configuration (e.g. `topk > rows·cols`), zero patch size, an empty annotation,
    /// an object id above [`MAX_OBJECT_ID`].
    pub fn new(
        cfg: PropagationConfig,
        first_features: &FeatureMap,
        first_labels: &LabelMap,
        patch: usize,
    ) -> Result<Self> {
        check_positive("patch size", patch)?;
        let (rows, cols, dim) = (
            first_features.rows(),
            first_features.cols(),
            first_features.dim(),
        );
        cfg.validate(rows * cols)?;
        let max_id = first_labels.max_value();
        if max_id > MAX_OBJECT_ID {
            return Err(TrackError::LabelOutOfRange {
                what: "first-frame annotation".to_string(),
                value: max_id,
                max: MAX_OBJECT_ID,
            });
        }
        let small_seg = pil_nearest_resize(first_labels, rows, cols)?;
        let n_classes = usize::from(*small_seg.data.iter().max().unwrap_or(&0)) + 1;
        let hw = rows * cols;
        let mut seg = vec![0f32; n_classes * hw];
        for (i, &l) in small_seg.data.iter().enumerate() {
            seg[usize::from(l) * hw + i] = 1.0;
        }
        Ok(Self {
            cfg,
            rows,
            cols,
            dim,
            patch,
            out_height: first_labels.height,
            out_width: first_labels.width,
            n_classes,
            first: Context {
                feat: l2_normalize_rows(first_features.data(), dim),
                seg,
            },
            queue: VecDeque::with_capacity(cfg.n_last_frames + 1),
            small_seg,
        })
    }

    /// Number of label channels `C` (max label in the downsampled first annotation + 1).
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// The first annotation downsampled to the patch grid (`rows × cols`), as DINO's `read_seg`.
    pub fn small_first_labels(&self) -> &LabelMap {
        &self.small_seg
    }

    /// Propagate to the next frame given its features (same grid and dim as the first frame).
    ///
    /// Errors: grid or dim mismatch; all affinities of a patch underflowing to 0 (temperature too small).
    pub fn step(&mut self, features: &FeatureMap) -> Result<PropagatedFrame> {
        for (what, left, right) in [
            ("frame rows vs first frame", features.rows(), self.rows),
            ("frame cols vs first frame", features.cols(), self.cols),
            ("frame feature dim vs first frame", features.dim(), self.dim),
        ] {
            if left != right {
                return Err(TrackError::DimensionMismatch {
                    what: what.to_string(),
                    left,
                    right,
                });
            }
        }
        let (rows, cols, dim, hw, nc) = (
            self.rows,
            self.cols,
            self.dim,
            self.rows * self.cols,
            self.n_classes,
        );
        let target = l2_normalize_rows(features.data(), dim);
        let contexts: Vec<&Context> = std::iter::once(&self.first)
            .chain(self.queue.iter())
            .collect();
        let inv_t = 1.0f32 / self.cfg.temperature;
        let radius = self.cfg.size_mask_neighborhood;
        let topk = self.cfg.topk;

        // For each target patch q: the soft label vector [C].
        let per_q: Vec<Result<Vec<f32>>> = (0..hw)
            .into_par_iter()
            .map(|q| {
                let (qi, qj) = (q / cols, q % cols);
                let (r0, r1, c0, c1) = if radius > 0 {
                    (
                        qi.saturating_sub(radius),
                        (qi + radius).min(rows - 1),
                        qj.saturating_sub(radius),
                        (qj + radius).min(cols - 1),
                    )
                } else {
                    (0, rows - 1, 0, cols - 1)
                };
                let tq = &target[q * dim..(q + 1) * dim];
                // (context, source, affinity)
                let mut cand: Vec<(usize, usize, f32)> =
                    Vec::with_capacity(contexts.len() * (r1 - r0 + 1) * (c1 - c0 + 1));
                for (k, ctx) in contexts.iter().enumerate() {
                    for si in r0..=r1 {
                        for sj in c0..=c1 {
                            let s = si * cols + sj;
                            let d = dot(tq, &ctx.feat[s * dim..(s + 1) * dim]) as f32;
                            cand.push((k, s, (d * inv_t).exp()));
                        }
                    }
                }
                // k-th largest affinity over all contexts x sources (masked entries are 0 and all values
                // are >= 0, so with >= topk window entries the threshold is the k-th largest of those;
                // otherwise it is 0 and every entry is kept).
                let threshold = if cand.len() >= topk {
                    let mut vals: Vec<f32> = cand.iter().map(|c| c.2).collect();
                    let (_, kth, _) = vals.select_nth_unstable_by(topk - 1, |a, b| b.total_cmp(a));
                    *kth
                } else {
                    0.0
                };
                let sum = cand
                    .iter()
                    .filter(|c| c.2 >= threshold)
                    .map(|c| f64::from(c.2))
                    .sum::<f64>() as f32;
                if sum <= 0.0 {
                    return Err(TrackError::InvalidConfig {
                        key: "temperature".to_string(),
                        value: self.cfg.temperature.to_string(),
                        reason: format!(
                            "all affinities of target patch ({qi}, {qj}) underflow to 0"
                        ),
                    });
                }
                let mut acc = vec![0f64; nc];
                for &(k, s, v) in cand.iter().filter(|c| c.2 >= threshold) {
                    let w = f64::from(v / sum);
                    let seg = &contexts[k].seg;
                    for (c, a) in acc.iter_mut().enumerate() {
                        *a += w * f64::from(seg[c * hw + s]);
                    }
                }
                Ok(acc.into_iter().map(|v| v as f32).collect())
            })
            .collect();
        let mut soft = vec![0f32; nc * hw];
        for (q, v) in per_q.into_iter().enumerate() {
            let v = v?;
            for c in 0..nc {
                soft[c * hw + q] = v[c];
            }
        }

        // Queue update (oldest leaves first when full), as DINO: pop then push.
        if self.cfg.n_last_frames > 0 {
            if self.queue.len() == self.cfg.n_last_frames {
                self.queue.pop_front();
            }
            self.queue.push_back(Context {
                feat: target,
                seg: soft.clone(),
            });
        }

        let labels = self.labels_from_soft(&soft)?;
        Ok(PropagatedFrame { soft, labels })
    }

    /// Upsample ×patch (bilinear), `norm_mask`, argmax, PIL-nearest resize to the original size.
    fn labels_from_soft(&self, soft: &[f32]) -> Result<LabelMap> {
        let nc = self.n_classes;
        let mut up = upsample_bilinear(soft, nc, self.rows, self.cols, self.patch)?;
        let arg = norm_mask_argmax(&mut up, nc);
        let grid = label_map(
            self.cols * self.patch,
            self.rows * self.patch,
            arg.into_iter().map(|a| a as u16).collect(),
        )?;
        pil_nearest_resize(&grid, self.out_height, self.out_width)
    }
}

/// Propagate a whole video held in memory: `frames[0]` with `first_labels`, then every later frame.
/// Returns the label maps of frames `1..` (frame 0's is `first_labels`).
pub fn propagate_video(
    cfg: PropagationConfig,
    frames: &[FeatureMap],
    first_labels: &LabelMap,
    patch: usize,
) -> Result<Vec<PropagatedFrame>> {
    let Some((first, rest)) = frames.split_first() else {
        return Ok(Vec::new());
    };
    let mut p = LabelPropagator::new(cfg, first, first_labels, patch)?;
    rest.iter().map(|f| p.step(f)).collect()
}
