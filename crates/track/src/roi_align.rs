//! RoIAlign on a patch-feature map, bit-for-bit after torchvision's CPU kernel.
//!
//! This follows `torchvision/csrc/ops/cpu/roi_align_kernel.cpp` + `roi_align_common.h`
//! (`pre_calc_for_bilinear_interpolate`) in f32 with the same operation order:
//!
//! * box corners times `spatial_scale` (converted to f32, as the kernel's `T`), minus 0.5 if `aligned`;
//! * with `aligned = false` the RoI width/height are forced to at least one feature cell;
//! * each of the `pooled_h × pooled_w` bins averages a `grid_h × grid_w` lattice of bilinear samples at
//!   `start + bin * size + (i + 0.5) * size / grid`, where `grid = sampling_ratio` if positive, else
//!   `ceil(roi_size / pooled_size)` (adaptive);
//! * a sample with `y < -1`, `y > height`, `x < -1` or `x > width` contributes 0 (but still counts in
//!   the average); otherwise coordinates `<= 0` are clamped to 0, and samples at or beyond the last
//!   row/column use that row/column;
//! * the average divides by `max(grid_h * grid_w, 1)`.
//!
//! The output of one box is `[D, pooled_h, pooled_w]` (torchvision's per-RoI layout), flattened — the
//! authors flatten `roi_align(...)[0]` the same way, so the object vector is channel-major.

use crate::constants::bdd;
use crate::error::{Result, TrackError};
use crate::feature_map::FeatureMap;

/// An axis-aligned box `(x1, y1, x2, y2)` in pixels (x to the right, y down), as in BDD100K's `box2d`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BoxXyxy {
    /// Left edge.
    pub x1: f64,
    /// Top edge.
    pub y1: f64,
    /// Right edge.
    pub x2: f64,
    /// Bottom edge.
    pub y2: f64,
}

impl BoxXyxy {
    /// A box from its corners.
    pub fn new(x1: f64, y1: f64, x2: f64, y2: f64) -> Self {
        Self { x1, y1, x2, y2 }
    }

    /// The box with x coordinates multiplied by `sx` and y coordinates by `sy` (f64, like the authors'
    /// `bbox['x1'] *= x_scale`).
    pub fn scaled(&self, sx: f64, sy: f64) -> Self {
        Self {
            x1: self.x1 * sx,
            y1: self.y1 * sy,
            x2: self.x2 * sx,
            y2: self.y2 * sy,
        }
    }

    /// Map a box from a `src_width × src_height` frame to the same frame resized to
    /// `dst_width × dst_height` (scale factors `dst / src` computed in f64, as the authors'
    /// `x_scale = img_size[1] / orig_shape[1]`). BDD: 1280×720 → 1120×672.
    pub fn rescaled(
        &self,
        src_width: usize,
        src_height: usize,
        dst_width: usize,
        dst_height: usize,
    ) -> Self {
        self.scaled(
            dst_width as f64 / src_width as f64,
            dst_height as f64 / src_height as f64,
        )
    }

    fn check_finite(&self) -> Result<()> {
        for (index, v) in [self.x1, self.y1, self.x2, self.y2].into_iter().enumerate() {
            if !v.is_finite() {
                return Err(TrackError::NonFinite {
                    what: "box (x1, y1, x2, y2)".to_string(),
                    index,
                    value: v,
                });
            }
        }
        Ok(())
    }
}

/// RoIAlign parameters (torchvision's `roi_align` arguments).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RoiAlignConfig {
    /// Output bins per column (`output_size[0]`).
    pub pooled_height: usize,
    /// Output bins per row (`output_size[1]`).
    pub pooled_width: usize,
    /// Factor from box pixel coordinates to feature-grid coordinates (`1 / patch`).
    pub spatial_scale: f64,
    /// Samples per bin side; `<= 0` means adaptive (`ceil(roi_size / pooled_size)`).
    pub sampling_ratio: i32,
    /// Half-pixel offset (`aligned = True` in torchvision). The protocol uses `false`.
    pub aligned: bool,
}

impl RoiAlignConfig {
    /// The protocol's setting for a `patch`-pixel ViT: 7×7 output, `spatial_scale = 1/patch`,
    /// `sampling_ratio = -1`, `aligned = false` (protocol §8).
    pub fn protocol(patch: usize) -> Self {
        Self {
            pooled_height: bdd::ROI_OUTPUT_SIZE,
            pooled_width: bdd::ROI_OUTPUT_SIZE,
            spatial_scale: 1.0 / patch as f64,
            sampling_ratio: bdd::ROI_SAMPLING_RATIO,
            aligned: bdd::ROI_ALIGNED,
        }
    }

    /// Length of one output vector: `dim * pooled_height * pooled_width`.
    pub fn output_len(&self, dim: usize) -> usize {
        dim * self.pooled_height * self.pooled_width
    }

    fn validate(&self) -> Result<()> {
        for (key, v) in [
            ("pooled_height", self.pooled_height),
            ("pooled_width", self.pooled_width),
        ] {
            if v == 0 {
                return Err(TrackError::InvalidConfig {
                    key: key.to_string(),
                    value: "0".to_string(),
                    reason: "must be positive".to_string(),
                });
            }
        }
        if !(self.spatial_scale.is_finite() && self.spatial_scale > 0.0) {
            return Err(TrackError::InvalidConfig {
                key: "spatial_scale".to_string(),
                value: self.spatial_scale.to_string(),
                reason: "must be finite and positive".to_string(),
            });
        }
        Ok(())
    }
}

/// One bilinear sample: four flat grid positions and their weights (torchvision's `PreCalc`).
#[derive(Clone, Copy, Default)]
struct PreCalc {
    pos: [usize; 4],
    w: [f32; 4],
}

/// torchvision's `pre_calc_for_bilinear_interpolate` for one sample point `(y, x)` (f32).
fn bilinear_precalc(height: usize, width: usize, y: f32, x: f32) -> PreCalc {
    let (hf, wf) = (height as f32, width as f32);
    // NB: written as !(in range) like the kernel, so NaN would take this branch (inputs are finite here).
    if !(y >= -1.0 && y <= hf && x >= -1.0 && x <= wf) {
        return PreCalc::default();
    }
    let mut y = if y <= 0.0 { 0.0 } else { y };
    let mut x = if x <= 0.0 { 0.0 } else { x };
    let mut y_low = y as usize; // truncation of a non-negative value, like `(int)y`
    let mut x_low = x as usize;
    let y_high;
    let x_high;
    if y_low >= height - 1 {
        y_low = height - 1;
        y_high = y_low;
        y = y_low as f32;
    } else {
        y_high = y_low + 1;
    }
    if x_low >= width - 1 {
        x_low = width - 1;
        x_high = x_low;
        x = x_low as f32;
    } else {
        x_high = x_low + 1;
    }
    let ly = y - y_low as f32;
    let lx = x - x_low as f32;
    let hy = 1.0 - ly;
    let hx = 1.0 - lx;
    PreCalc {
        pos: [
            y_low * width + x_low,
            y_low * width + x_high,
            y_high * width + x_low,
            y_high * width + x_high,
        ],
        w: [hy * hx, hy * lx, ly * hx, ly * lx],
    }
}

/// RoIAlign of one box on `map`; returns `[D, pooled_height, pooled_width]` flattened (channel-major),
/// i.e. torchvision's `roi_align(map as [1, D, rows, cols], [[0, x1, y1, x2, y2]], ...)[0].flatten()`.
///
/// Box coordinates are converted to f32 first (torchvision sees an f32 RoI tensor).
/// Errors: a non-finite box coordinate or an invalid configuration.
pub fn roi_align(map: &FeatureMap, bx: &BoxXyxy, cfg: &RoiAlignConfig) -> Result<Vec<f32>> {
    cfg.validate()?;
    bx.check_finite()?;
    let (height, width, dim) = (map.rows(), map.cols(), map.dim());
    let (ph_n, pw_n) = (cfg.pooled_height, cfg.pooled_width);
    let spatial_scale = cfg.spatial_scale as f32;
    let offset: f32 = if cfg.aligned { 0.5 } else { 0.0 };
    let roi_start_w = bx.x1 as f32 * spatial_scale - offset;
    let roi_start_h = bx.y1 as f32 * spatial_scale - offset;
    let roi_end_w = bx.x2 as f32 * spatial_scale - offset;
    let roi_end_h = bx.y2 as f32 * spatial_scale - offset;
    let mut roi_width = roi_end_w - roi_start_w;
    let mut roi_height = roi_end_h - roi_start_h;
    if !cfg.aligned {
        // std::max(roi_width, 1.f): returns 1 when roi_width < 1
        if roi_width < 1.0 {
            roi_width = 1.0;
        }
        if roi_height < 1.0 {
            roi_height = 1.0;
        }
    }
    let bin_size_h = roi_height / ph_n as f32;
    let bin_size_w = roi_width / pw_n as f32;
    let grid_h: i32 = if cfg.sampling_ratio > 0 {
        cfg.sampling_ratio
    } else {
        (roi_height / ph_n as f32).ceil() as i32
    };
    let grid_w: i32 = if cfg.sampling_ratio > 0 {
        cfg.sampling_ratio
    } else {
        (roi_width / pw_n as f32).ceil() as i32
    };
    let count = (grid_h * grid_w).max(1) as f32;
    let (gh, gw) = (grid_h.max(0) as usize, grid_w.max(0) as usize);

    let data = map.data();
    let bins = ph_n * pw_n;
    let mut out = vec![0f32; dim * bins];
    let mut acc = vec![0f32; dim];
    for ph in 0..ph_n {
        for pw in 0..pw_n {
            acc.iter_mut().for_each(|a| *a = 0.0);
            for iy in 0..gh {
                let yy = roi_start_h
                    + ph as f32 * bin_size_h
                    + (iy as f32 + 0.5) * bin_size_h / grid_h as f32;
                for ix in 0..gw {
                    let xx = roi_start_w
                        + pw as f32 * bin_size_w
                        + (ix as f32 + 0.5) * bin_size_w / grid_w as f32;
                    let pc = bilinear_precalc(height, width, yy, xx);
                    let f1 = &data[pc.pos[0] * dim..(pc.pos[0] + 1) * dim];
                    let f2 = &data[pc.pos[1] * dim..(pc.pos[1] + 1) * dim];
                    let f3 = &data[pc.pos[2] * dim..(pc.pos[2] + 1) * dim];
                    let f4 = &data[pc.pos[3] * dim..(pc.pos[3] + 1) * dim];
                    let [w1, w2, w3, w4] = pc.w;
                    for d in 0..dim {
                        acc[d] += w1 * f1[d] + w2 * f2[d] + w3 * f3[d] + w4 * f4[d];
                    }
                }
            }
            let bin = ph * pw_n + pw;
            for d in 0..dim {
                out[d * bins + bin] = acc[d] / count;
            }
        }
    }
    Ok(out)
}

/// [`roi_align`] for several boxes on one map; one `[D, pooled_h, pooled_w]` vector per box.
pub fn roi_align_many(
    map: &FeatureMap,
    boxes: &[BoxXyxy],
    cfg: &RoiAlignConfig,
) -> Result<Vec<Vec<f32>>> {
    boxes.iter().map(|b| roi_align(map, b, cfg)).collect()
}
