//! Position-embedding arithmetic on the host: PyTorch-exact bicubic resizing of position grids (every
//! form the official codes use), Scale-MAE's GSD-scaled sin-cos table, and BEiT-style relative position
//! indices. Grids are channel-first `[C, H, W]` row-major `f32`; arithmetic is done in `f64`.

use crate::config::{PosInterp, RelPosInterp};

/// Cubic convolution kernel weights for fractional offset `t`, PyTorch `get_cubic_upsample_coefficients`.
fn cubic_coeffs(t: f64, a: f64) -> [f64; 4] {
    let c1 = |x: f64| ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0; // |x| <= 1
    let c2 = |x: f64| ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a; // 1 < |x| < 2
    [c2(t + 1.0), c1(t), c1(1.0 - t), c2(2.0 - t)]
}

/// How source coordinates are computed along one axis (PyTorch `area_pixel_compute_source_index`).
#[derive(Clone, Copy, Debug)]
pub enum AxisMap {
    /// `align_corners = False`, scale = in / out (size given).
    HalfPixelSize,
    /// `align_corners = False` with a user scale factor `s`: source = (dst + 0.5) / s - 0.5.
    HalfPixelScale(f64),
    /// `align_corners = True`: source = dst * (in - 1) / (out - 1).
    AlignCorners,
}

/// 1-D taps (4 indices clamped to the border, 4 weights) for every output position.
fn cubic_taps(inp: usize, out: usize, map: AxisMap) -> Vec<([usize; 4], [f64; 4])> {
    (0..out)
        .map(|dst| {
            let real = match map {
                AxisMap::HalfPixelSize => (inp as f64 / out as f64) * (dst as f64 + 0.5) - 0.5,
                AxisMap::HalfPixelScale(s) => (1.0 / s) * (dst as f64 + 0.5) - 0.5,
                AxisMap::AlignCorners => {
                    if out > 1 {
                        (inp as f64 - 1.0) / (out as f64 - 1.0) * dst as f64
                    } else {
                        0.0
                    }
                }
            };
            let i0 = real.floor();
            let t = real - i0;
            let w = cubic_coeffs(t, -0.75);
            let idx = [-1i64, 0, 1, 2].map(|o| (i0 as i64 + o).clamp(0, inp as i64 - 1) as usize);
            (idx, w)
        })
        .collect()
}

/// Antialiased 1-D taps, PyTorch `_upsample_bicubic2d_aa` (PIL-style separable filter, a = -0.5,
/// support widened by the scale when downsampling, weights normalised, window truncated at borders).
fn aa_taps(inp: usize, out: usize, user_scale: Option<f64>) -> Vec<(usize, Vec<f64>)> {
    let filter = |x: f64| {
        let a = -0.5;
        let x = x.abs();
        if x < 1.0 {
            ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
        } else if x < 2.0 {
            (((x - 5.0) * x + 8.0) * x - 4.0) * a
        } else {
            0.0
        }
    };
    // PyTorch area_pixel_compute_scale: a user scale factor s gives 1/s, else in/out.
    let scale = match user_scale {
        Some(s) if s > 0.0 => 1.0 / s,
        _ => inp as f64 / out as f64,
    };
    let support = if scale >= 1.0 { 2.0 * scale } else { 2.0 };
    let invscale = if scale >= 1.0 { 1.0 / scale } else { 1.0 };
    (0..out)
        .map(|i| {
            let center = scale * (i as f64 + 0.5);
            let xmin = ((center - support + 0.5).trunc() as i64).max(0) as usize;
            let xmax = ((center + support + 0.5).trunc() as i64).min(inp as i64) as usize;
            let mut w: Vec<f64> = (xmin..xmax)
                .map(|j| filter((j as f64 - center + 0.5) * invscale))
                .collect();
            let total: f64 = w.iter().sum();
            if total != 0.0 {
                w.iter_mut().for_each(|x| *x /= total);
            }
            (xmin, w)
        })
        .collect()
}

/// Bicubic resize of a `[C, H, W]` grid to `[C, out_h, out_w]` with PyTorch semantics
/// (`F.interpolate(mode="bicubic", antialias=False)`), border taps clamped.
#[allow(clippy::too_many_arguments)]
pub fn bicubic(
    src: &[f32],
    c: usize,
    h: usize,
    w: usize,
    out_h: usize,
    out_w: usize,
    my: AxisMap,
    mx: AxisMap,
) -> Vec<f32> {
    assert_eq!(src.len(), c * h * w, "grid size mismatch");
    let ty = cubic_taps(h, out_h, my);
    let tx = cubic_taps(w, out_w, mx);
    let mut out = vec![0f32; c * out_h * out_w];
    for ch in 0..c {
        let s = &src[ch * h * w..(ch + 1) * h * w];
        for (oy, (iy, wy)) in ty.iter().enumerate() {
            for (ox, (ix, wx)) in tx.iter().enumerate() {
                let mut acc = 0f64;
                for a in 0..4 {
                    let mut row = 0f64;
                    for b in 0..4 {
                        row += wx[b] * s[iy[a] * w + ix[b]] as f64;
                    }
                    acc += wy[a] * row;
                }
                out[ch * out_h * out_w + oy * out_w + ox] = acc as f32;
            }
        }
    }
    out
}

/// Bilinear resize of a `[C, H, W]` grid, PyTorch `F.interpolate(mode="bilinear", align_corners=False)`
/// with size given (negative source coordinates clamped to 0).
pub fn bilinear(src: &[f32], c: usize, h: usize, w: usize, out_h: usize, out_w: usize) -> Vec<f32> {
    assert_eq!(src.len(), c * h * w, "grid size mismatch");
    let taps = |inp: usize, out: usize| -> Vec<(usize, usize, f64)> {
        (0..out)
            .map(|dst| {
                let real = ((inp as f64 / out as f64) * (dst as f64 + 0.5) - 0.5).max(0.0);
                let i0 = (real.floor() as usize).min(inp - 1);
                let i1 = (i0 + 1).min(inp - 1);
                (i0, i1, real - i0 as f64)
            })
            .collect()
    };
    let ty = taps(h, out_h);
    let tx = taps(w, out_w);
    let mut out = vec![0f32; c * out_h * out_w];
    for ch in 0..c {
        let s = &src[ch * h * w..(ch + 1) * h * w];
        for (oy, &(y0, y1, ly)) in ty.iter().enumerate() {
            for (ox, &(x0, x1, lx)) in tx.iter().enumerate() {
                let top = (1.0 - lx) * s[y0 * w + x0] as f64 + lx * s[y0 * w + x1] as f64;
                let bot = (1.0 - lx) * s[y1 * w + x0] as f64 + lx * s[y1 * w + x1] as f64;
                out[ch * out_h * out_w + oy * out_w + ox] = ((1.0 - ly) * top + ly * bot) as f32;
            }
        }
    }
    out
}

/// Antialiased bicubic resize (PyTorch `antialias=True`, as timm's `resample_abs_pos_embed`).
/// Width pass first, then height, as PyTorch's separable CPU kernel.
/// `scale` is the user scale factor `(sy, sx)` when the call used `scale_factor=` (else size-based).
pub fn bicubic_antialias(
    src: &[f32],
    c: usize,
    h: usize,
    w: usize,
    out_h: usize,
    out_w: usize,
    scale: Option<(f64, f64)>,
) -> Vec<f32> {
    assert_eq!(src.len(), c * h * w, "grid size mismatch");
    let tx = aa_taps(w, out_w, scale.map(|s| s.1));
    let ty = aa_taps(h, out_h, scale.map(|s| s.0));
    let mut tmp = vec![0f64; c * h * out_w];
    for ch in 0..c {
        for y in 0..h {
            for (ox, (x0, wx)) in tx.iter().enumerate() {
                let mut acc = 0f64;
                for (j, wj) in wx.iter().enumerate() {
                    acc += wj * src[ch * h * w + y * w + x0 + j] as f64;
                }
                tmp[ch * h * out_w + y * out_w + ox] = acc;
            }
        }
    }
    let mut out = vec![0f32; c * out_h * out_w];
    for ch in 0..c {
        for (oy, (y0, wy)) in ty.iter().enumerate() {
            for ox in 0..out_w {
                let mut acc = 0f64;
                for (j, wj) in wy.iter().enumerate() {
                    acc += wj * tmp[ch * h * out_w + (y0 + j) * out_w + ox];
                }
                out[ch * out_h * out_w + oy * out_w + ox] = acc as f32;
            }
        }
    }
    out
}

/// Resize a square stored position grid `[D, m, m]` (channel-first) to `[D, rows, cols]` by the family rule.
///
/// Returns `None` for [`PosInterp::None`] when the sizes differ.
///
/// `antialias` is DINOv2's `interpolate_antialias` (PyTorch's antialiased kernel in either DINOv2 form).
#[allow(clippy::too_many_arguments)]
pub fn resize_grid(
    grid: &[f32],
    d: usize,
    m: usize,
    rows: usize,
    cols: usize,
    rule: PosInterp,
    offset: f64,
    antialias: bool,
) -> Option<Vec<f32>> {
    if rows == m && cols == m {
        return Some(grid.to_vec());
    }
    Some(match rule {
        PosInterp::Dinov2Offset | PosInterp::DinoOffset | PosInterp::IjepaScale => {
            let (sy, sx) = match rule {
                // I-JEPA's single scale, sqrt(npatch / N), as the official call computes it.
                PosInterp::IjepaScale if rows == cols => {
                    let s = ((rows * cols) as f64 / (m * m) as f64).sqrt();
                    (s, s)
                }
                PosInterp::IjepaScale => (rows as f64 / m as f64, cols as f64 / m as f64),
                _ => {
                    let off = if rule == PosInterp::DinoOffset {
                        0.1
                    } else {
                        offset
                    };
                    (
                        (rows as f64 + off) / m as f64,
                        (cols as f64 + off) / m as f64,
                    )
                }
            };
            if antialias {
                bicubic_antialias(grid, d, m, m, rows, cols, Some((sy, sx)))
            } else {
                bicubic(
                    grid,
                    d,
                    m,
                    m,
                    rows,
                    cols,
                    AxisMap::HalfPixelScale(sy),
                    AxisMap::HalfPixelScale(sx),
                )
            }
        }
        PosInterp::Dinov2Size | PosInterp::SizeBicubic => {
            if antialias {
                bicubic_antialias(grid, d, m, m, rows, cols, None)
            } else {
                bicubic(
                    grid,
                    d,
                    m,
                    m,
                    rows,
                    cols,
                    AxisMap::HalfPixelSize,
                    AxisMap::HalfPixelSize,
                )
            }
        }
        PosInterp::TorchvisionAlignCorners => bicubic(
            grid,
            d,
            m,
            m,
            rows,
            cols,
            AxisMap::AlignCorners,
            AxisMap::AlignCorners,
        ),
        PosInterp::TimmAntialias => bicubic_antialias(grid, d, m, m, rows, cols, None),
        PosInterp::None => return None,
    })
}

/// Scale-MAE 2-D sin-cos position table for a `rows × cols` grid with coordinates multiplied by
/// `gsd_ratio`: `[rows*cols, D]`, first half encodes the column (x) coordinate, second half the row,
/// each half `[sin(pos·ω), cos(pos·ω)]` with `ω_k = 1 / 10000^(k / (D/4))`.
pub fn sincos_gsd(d: usize, rows: usize, cols: usize, gsd_ratio: f64) -> Vec<f32> {
    let half = d / 2;
    let quarter = half / 2;
    let omega: Vec<f64> = (0..quarter)
        .map(|k| 1.0 / 10000f64.powf(k as f64 / (half as f64 / 2.0)))
        .collect();
    let mut out = vec![0f32; rows * cols * d];
    for r in 0..rows {
        for c in 0..cols {
            let t = r * cols + c;
            let coords = [c as f64 * gsd_ratio, r as f64 * gsd_ratio];
            for (part, pos) in coords.iter().enumerate() {
                for k in 0..quarter {
                    let a = (*pos as f32 as f64) * omega[k];
                    out[t * d + part * half + k] = a.sin() as f32;
                    out[t * d + part * half + quarter + k] = a.cos() as f32;
                }
            }
        }
    }
    out
}

/// BEiT relative position index for a `rows × cols` window plus a CLS token: `[(N+1) * (N+1)]`
/// indices into a table of `(2·rows−1)(2·cols−1) + 3` rows.
pub fn relative_position_index(rows: usize, cols: usize) -> Vec<usize> {
    let n = rows * cols;
    let num_rel = (2 * rows - 1) * (2 * cols - 1) + 3;
    let mut idx = vec![0usize; (n + 1) * (n + 1)];
    for i in 0..n {
        let (yi, xi) = (i / cols, i % cols);
        for j in 0..n {
            let (yj, xj) = (j / cols, j % cols);
            let dy = (yi as i64 - yj as i64 + rows as i64 - 1) as usize;
            let dx = (xi as i64 - xj as i64 + cols as i64 - 1) as usize;
            idx[(i + 1) * (n + 1) + (j + 1)] = dy * (2 * cols - 1) + dx;
        }
    }
    idx[..=n].fill(num_rel - 3); // cls to token
    for i in 0..=n {
        idx[i * (n + 1)] = num_rel - 2; // token to cls
    }
    idx[0] = num_rel - 1;
    idx
}

/// Resize a relative-position table `[(2m−1)² + 3, heads]` for a native `m × m` window to a
/// `rows × cols` window: the `(2m−1)²` part is resized (bicubic or bilinear, size-based, half-pixel,
/// no antialias) to `(2rows−1) × (2cols−1)`; the three CLS entries are kept. `None` if `rule` forbids it.
pub fn resize_rel_table(
    table: &[f32],
    heads: usize,
    m: usize,
    rows: usize,
    cols: usize,
    rule: RelPosInterp,
) -> Option<Vec<f32>> {
    let s = 2 * m - 1;
    if rows == m && cols == m {
        return Some(table.to_vec());
    }
    let (oh, ow) = (2 * rows - 1, 2 * cols - 1);
    // [s*s, heads] -> [heads, s, s]
    let mut chw = vec![0f32; heads * s * s];
    for p in 0..s * s {
        for h in 0..heads {
            chw[h * s * s + p] = table[p * heads + h];
        }
    }
    let r = match rule {
        RelPosInterp::Bicubic => bicubic(
            &chw,
            heads,
            s,
            s,
            oh,
            ow,
            AxisMap::HalfPixelSize,
            AxisMap::HalfPixelSize,
        ),
        RelPosInterp::Bilinear => bilinear(&chw, heads, s, s, oh, ow),
        RelPosInterp::None => return None,
    };
    let mut out = vec![0f32; (oh * ow + 3) * heads];
    for p in 0..oh * ow {
        for h in 0..heads {
            out[p * heads + h] = r[h * oh * ow + p];
        }
    }
    out[oh * ow * heads..].copy_from_slice(&table[s * s * heads..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cubic_weights_sum_to_one_and_interpolate_exactly_at_integers() {
        for t in [0.0, 0.25, 0.5, 0.9] {
            let w = cubic_coeffs(t, -0.75);
            assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
        assert_eq!(cubic_coeffs(0.0, -0.75), [0.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn relative_index_matches_hand_example() {
        // 1x2 window: N = 2, table rows (1)(3) + 3 = 6.
        let idx = relative_position_index(1, 2);
        // token 0 -> token 1: dy=0 -> 0, dx = 0 - 1 + 1 = 0 -> 0; token 1 -> 0: dx = 2 -> 2
        assert_eq!(idx, vec![5, 3, 3, 4, 1, 0, 4, 2, 1]);
    }

    #[test]
    fn ijepa_scale_is_the_offset_form_without_offset() {
        // I-JEPA's sqrt(npatch / N) on a square grid is DINO's scale-factor form with offset 0 (and the
        // size form up to the rounding of the scale); non-square grids take one scale per axis.
        let g: Vec<f32> = (0..2 * 16 * 16)
            .map(|i| ((i * 37) % 23) as f32 / 7.0)
            .collect();
        for (r, c) in [(12, 12), (20, 20), (10, 14)] {
            let ij = resize_grid(&g, 2, 16, r, c, PosInterp::IjepaScale, 0.1, false).unwrap();
            let off0 = resize_grid(&g, 2, 16, r, c, PosInterp::Dinov2Offset, 0.0, false).unwrap();
            let size = resize_grid(&g, 2, 16, r, c, PosInterp::SizeBicubic, 0.0, false).unwrap();
            for ((a, b), s) in ij.iter().zip(&off0).zip(&size) {
                assert!(
                    (a - b).abs() < 1e-6 && (a - s).abs() < 1e-5,
                    "{r}x{c}: {a} {b} {s}"
                );
            }
        }
        let native = resize_grid(&g, 2, 16, 16, 16, PosInterp::IjepaScale, 0.0, false).unwrap();
        assert_eq!(native, g);
    }

    #[test]
    fn antialias_downscale_by_two_is_a_normalised_average() {
        // A constant grid stays constant.
        let g = vec![3.0f32; 16];
        let out = bicubic_antialias(&g, 1, 4, 4, 2, 2, None);
        for v in out {
            assert!((v - 3.0).abs() < 1e-6);
        }
    }
}
