//! Resizing with the semantics of `cv2.resize` in opencv-python 4.x (x86-64 wheels, which route
//! some cases to Intel IPP), verified against OpenCV 4.10 outputs (`fixtures/image/`).
//!
//! Coordinates use pixel centres: destination pixel `d` samples source position
//! `(d + 0.5) * src / dst - 0.5`; border taps replicate the edge pixel.
//!
//! | case | engine in OpenCV | here |
//! |---|---|---|
//! | `u8` [`Interpolation::Linear`] | OpenCV fixed point | bit-exact |
//! | `u8` [`Interpolation::Cubic`] (`a = -0.75`) | IPP (closed source) | `f32` separable, round half even; ±1 on ~1e-5 of values (near-ties) |
//! | float linear / cubic | IPP | `f64` positions and weights, `f32` sums (≤ 1e-6 abs.) |
//! | [`Interpolation::Area`] | OpenCV | bit-exact (`u8`), float rounding (`f32`) |
//! | [`Interpolation::NearestExact`] | OpenCV 4.x | bit-exact |
//!
//! Details reproduced:
//! * `u8` linear: weights `round_half_even(w * 2048)` (`INTER_RESIZE_COEF_BITS = 11`) from `f32`
//!   positions `((d + 0.5) * scale - 0.5) as f32` with `scale = 1 / (dst / src)`; horizontal sums
//!   exact in `i32`; horizontal edge taps forced to `[1, 0]`; the vertical pass rounds as OpenCV's
//!   SIMD kernel `((S0 >> 4) * b0 >> 16 + (S1 >> 4) * b1 >> 16 + 2) >> 2` (used for every column).
//! * Area: when shrinking in *both* directions, the integer-factor fast path (`resizeAreaFast`;
//!   2×2 on `u8` rounds `(sum + 2) >> 2`, other factors `round_half_even(sum * (1/area as f32))`)
//!   or the general path with fractional cell weights accumulated in `f32` (`resizeArea`).
//!   Otherwise OpenCV's "area-mode" bilinear weights. `u8` `Linear` with an exact 2×2 shrink is
//!   routed to the area fast path, as in OpenCV.
//! * Nearest-exact: OpenCV 4.x 16.16 fixed point, `sx = min((ifx * x + ifx0) >> 16, W - 1)` with
//!   `ifx = ((W << 16) + w / 2) / w`, `ifx0 = ifx / 2 - W % 2`. OpenCV 5 replaced this by a
//!   Pillow-style accumulator that differs for some sizes (e.g. 256 → 14); the study used 4.x.
//!   For the protocol's tile/grid sizes this equals the centre-pixel rule of [`crate::patch_labels`].

use rayon::prelude::*;

use crate::{Image, ImageF32, ImageU8, Interpolation};

const COEF_BITS: i32 = 11;
const COEF_SCALE: f32 = (1 << COEF_BITS) as f32;

/// Round half to even, as `cvRound`/`lrint` in the default rounding mode.
#[inline]
fn round_even_f32(v: f32) -> i32 {
    v.round_ties_even() as i32
}

#[inline]
fn saturate_i16(v: i32) -> i32 {
    v.clamp(i16::MIN as i32, i16::MAX as i32)
}

#[inline]
fn saturate_u8(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

/// OpenCV `interpolateCubic` in `f32`, same operation order.
fn cubic_coeffs(x: f32) -> [f32; 4] {
    const A: f32 = -0.75;
    let c0 = ((A * (x + 1.0) - 5.0 * A) * (x + 1.0) + 8.0 * A) * (x + 1.0) - 4.0 * A;
    let c1 = ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let c2 = ((A + 2.0) * (1.0 - x) - (A + 3.0)) * (1.0 - x) * (1.0 - x) + 1.0;
    let c3 = 1.0 - c0 - c1 - c2;
    [c0, c1, c2, c3]
}

/// Per-output-position taps along one axis: `ksize` clamped source indices and weights.
struct Taps {
    ksize: usize,
    idx: Vec<usize>,
    w: Vec<f32>,
    iw: Vec<i32>,
}

/// How sampling positions and weights are computed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Coeffs {
    /// OpenCV's own `resize` code: positions in `f64` rounded to `f32`, weights in `f32`
    /// (`area_mode`: the INTER_AREA-upscale variant).
    OpenCv { area_mode: bool },
    /// The Intel IPP resize that opencv-python's x86-64 wheels call for `u8` cubic and float
    /// linear/cubic: positions and weights in `f64`.
    Ipp,
}

/// Tap table for one axis.
///
/// `clamp_linear_edges` is OpenCV's horizontal special case (`sx < 0` or `sx >= src-1` → weight
/// `[1, 0]`); OpenCV's vertical axis keeps its weights and only clips rows.
fn taps(src: usize, dst: usize, cubic: bool, coeffs: Coeffs, clamp_linear_edges: bool) -> Taps {
    let inv_scale = dst as f64 / src as f64;
    let scale = 1.0 / inv_scale;
    let ksize = if cubic { 4 } else { 2 };
    let mut t = Taps {
        ksize,
        idx: Vec::with_capacity(dst * ksize),
        w: Vec::with_capacity(dst * ksize),
        iw: Vec::with_capacity(dst * ksize),
    };
    let last = src as i64 - 1;
    for d in 0..dst {
        let (mut s, cbuf): (i64, [f64; 4]);
        match coeffs {
            Coeffs::OpenCv { area_mode } => {
                let mut f: f32;
                if !area_mode {
                    let fx = ((d as f64 + 0.5) * scale - 0.5) as f32;
                    s = fx.floor() as i64;
                    f = fx - s as f32;
                } else {
                    s = (d as f64 * scale).floor() as i64;
                    let fx = ((d as f64 + 1.0) - (s as f64 + 1.0) * inv_scale) as f32;
                    f = if fx <= 0.0 { 0.0 } else { fx - fx.floor() };
                }
                if !cubic && clamp_linear_edges {
                    if s < 0 {
                        s = 0;
                        f = 0.0;
                    }
                    if s >= last {
                        s = last;
                        f = 0.0;
                    }
                }
                let c: [f32; 4] = if cubic {
                    cubic_coeffs(f)
                } else {
                    [1.0 - f, f, 0.0, 0.0]
                };
                cbuf = c.map(f64::from);
            }
            Coeffs::Ipp => {
                let fx = (d as f64 + 0.5) * (src as f64 / dst as f64) - 0.5;
                s = fx.floor() as i64;
                let f = fx - s as f64;
                cbuf = if cubic {
                    cubic_coeffs_f64(f)
                } else {
                    [1.0 - f, f, 0.0, 0.0]
                };
            }
        }
        let first = if cubic { s - 1 } else { s };
        for (k, &c) in cbuf.iter().enumerate().take(ksize) {
            t.idx.push((first + k as i64).clamp(0, last) as usize);
            t.w.push(c as f32);
            t.iw.push(saturate_i16(round_even_f32(c as f32 * COEF_SCALE)));
        }
    }
    t
}

/// Keys' cubic kernel (`a = -0.75`) in `f64`.
fn cubic_coeffs_f64(x: f64) -> [f64; 4] {
    const A: f64 = -0.75;
    let c0 = ((A * (x + 1.0) - 5.0 * A) * (x + 1.0) + 8.0 * A) * (x + 1.0) - 4.0 * A;
    let c1 = ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let c2 = ((A + 2.0) * (1.0 - x) - (A + 3.0)) * (1.0 - x) * (1.0 - x) + 1.0;
    [c0, c1, c2, 1.0 - c0 - c1 - c2]
}

fn empty_like<T: Copy + Default>(img: &Image<T>, width: usize, height: usize) -> Option<Image<T>> {
    if width == 0 || height == 0 || img.width == 0 || img.height == 0 {
        return Some(Image::new(width, height, img.channels));
    }
    if width == img.width && height == img.height {
        return Some(img.clone());
    }
    None
}

/// What OpenCV's dispatcher picks for a given size pair.
enum Plan {
    Nearest,
    AreaFast { ix: usize, iy: usize },
    AreaGeneral { sx: f64, sy: f64 },
    Separable { cubic: bool, area_mode: bool },
}

/// `ipp_float`: float images, whose linear/cubic resizes OpenCV hands to IPP *before* its
/// linear→area rerouting.
fn plan(
    sw: usize,
    sh: usize,
    dw: usize,
    dh: usize,
    interp: Interpolation,
    ipp_float: bool,
) -> Plan {
    if interp == Interpolation::NearestExact {
        return Plan::Nearest;
    }
    let scale_x = 1.0 / (dw as f64 / sw as f64);
    let scale_y = 1.0 / (dh as f64 / sh as f64);
    let ix = scale_x.round_ties_even();
    let iy = scale_y.round_ties_even();
    let is_area_fast = (scale_x - ix).abs() < f64::EPSILON && (scale_y - iy).abs() < f64::EPSILON;
    let mut interp = interp;
    if interp == Interpolation::Linear && !ipp_float && is_area_fast && ix == 2.0 && iy == 2.0 {
        interp = Interpolation::Area;
    }
    if interp == Interpolation::Area && scale_x >= 1.0 && scale_y >= 1.0 {
        if is_area_fast {
            return Plan::AreaFast {
                ix: ix as usize,
                iy: iy as usize,
            };
        }
        return Plan::AreaGeneral {
            sx: scale_x,
            sy: scale_y,
        };
    }
    Plan::Separable {
        cubic: interp == Interpolation::Cubic,
        area_mode: interp == Interpolation::Area,
    }
}

/// OpenCV 4.x `resizeNN_bitexact` source indices for one axis.
fn nearest_exact_index(src: usize, dst: usize) -> Vec<usize> {
    let (s, d) = (src as i64, dst as i64);
    let ifx = ((s << 16) + d / 2) / d;
    let ifx0 = ifx / 2 - s % 2;
    (0..d)
        .map(|x| (((ifx * x + ifx0) >> 16).min(s - 1)).max(0) as usize)
        .collect()
}

fn resize_nearest<T: Copy + Default + Send + Sync>(
    img: &Image<T>,
    width: usize,
    height: usize,
) -> Image<T> {
    let c = img.channels;
    let xs = nearest_exact_index(img.width, width);
    let ys = nearest_exact_index(img.height, height);
    let mut out = Image::new(width, height, c);
    out.data
        .par_chunks_mut(width * c)
        .enumerate()
        .for_each(|(y, row)| {
            let srow = &img.data[ys[y] * img.width * c..(ys[y] + 1) * img.width * c];
            for (x, &sx) in xs.iter().enumerate() {
                row[x * c..(x + 1) * c].copy_from_slice(&srow[sx * c..(sx + 1) * c]);
            }
        });
    out
}

/// Horizontal pass over the source rows in `rows`, giving `[rows.len(), dw*c]` in the work type.
fn hpass<S: Copy + Sync, W: Copy + Default + Send>(
    src: &[S],
    sw: usize,
    c: usize,
    rows: &[usize],
    tx: &Taps,
    dw: usize,
    kernel: impl Fn(&[S], &Taps, usize, usize) -> W + Sync,
) -> Vec<W> {
    let mut buf = vec![W::default(); rows.len() * dw * c];
    buf.par_chunks_mut(dw * c)
        .zip(rows.par_iter())
        .for_each(|(out, &sy)| {
            let srow = &src[sy * sw * c..(sy + 1) * sw * c];
            for dx in 0..dw {
                for ch in 0..c {
                    out[dx * c + ch] = kernel(srow, tx, dx, ch);
                }
            }
        });
    buf
}

/// OpenCV's fixed-point bilinear for `u8` (`INTER_RESIZE_COEF_BITS = 11`): exact `i32` horizontal
/// sums, then the SIMD vertical rounding `((S0>>4)*b0>>16 + (S1>>4)*b1>>16 + 2) >> 2` (the
/// opencv-python build applies it to every column, tail included).
fn linear_fixed_u8(img: &ImageU8, dw: usize, dh: usize, area_mode: bool) -> ImageU8 {
    let (sw, sh, c) = (img.width, img.height, img.channels);
    let tx = taps(sw, dw, false, Coeffs::OpenCv { area_mode }, true);
    let ty = taps(sh, dh, false, Coeffs::OpenCv { area_mode }, false);
    let rows: Vec<usize> = (0..sh).collect();
    let hbuf: Vec<i32> = hpass(&img.data, sw, c, &rows, &tx, dw, |srow, t, dx, ch| {
        srow[t.idx[dx * 2] * c + ch] as i32 * t.iw[dx * 2]
            + srow[t.idx[dx * 2 + 1] * c + ch] as i32 * t.iw[dx * 2 + 1]
    });
    let width = dw * c;
    let mut out = ImageU8::new(dw, dh, c);
    out.data
        .par_chunks_mut(width)
        .enumerate()
        .for_each(|(dy, drow)| {
            let row =
                |j: usize| &hbuf[ty.idx[dy * 2 + j] * width..(ty.idx[dy * 2 + j] + 1) * width];
            let (s0, s1) = (row(0), row(1));
            let (b0, b1) = (ty.iw[dy * 2], ty.iw[dy * 2 + 1]);
            for x in 0..width {
                let p0 = saturate_i16(s0[x] >> 4);
                let p1 = saturate_i16(s1[x] >> 4);
                let v = saturate_i16(((p0 * b0) >> 16) + ((p1 * b1) >> 16));
                drow[x] = saturate_u8((v + 2) >> 2);
            }
        });
    out
}

/// Separable float resampling (`f32` weights and accumulation, taps left to right); `finish`
/// converts the accumulated value to the output type.
fn separable_float<T: Copy + Default + Send + Sync>(
    img: &Image<T>,
    dw: usize,
    dh: usize,
    cubic: bool,
    coeffs: Coeffs,
    to_f: impl Fn(T) -> f32 + Sync,
    finish: impl Fn(f32) -> T + Sync,
) -> Image<T> {
    let (sw, sh, c) = (img.width, img.height, img.channels);
    let tx = taps(sw, dw, cubic, coeffs, true);
    let ty = taps(sh, dh, cubic, coeffs, false);
    let k = tx.ksize;
    let rows: Vec<usize> = (0..sh).collect();
    let hbuf: Vec<f32> = hpass(&img.data, sw, c, &rows, &tx, dw, |srow, t, dx, ch| {
        let mut acc = to_f(srow[t.idx[dx * k] * c + ch]) * t.w[dx * k];
        for j in 1..k {
            acc += to_f(srow[t.idx[dx * k + j] * c + ch]) * t.w[dx * k + j];
        }
        acc
    });
    let width = dw * c;
    let mut out = Image::new(dw, dh, c);
    out.data
        .par_chunks_mut(width)
        .enumerate()
        .for_each(|(dy, drow)| {
            let row =
                |j: usize| &hbuf[ty.idx[dy * k + j] * width..(ty.idx[dy * k + j] + 1) * width];
            let b = &ty.w[dy * k..dy * k + k];
            if k == 2 {
                let (s0, s1) = (row(0), row(1));
                for x in 0..width {
                    drow[x] = finish(s0[x] * b[0] + s1[x] * b[1]);
                }
            } else {
                let (s0, s1, s2, s3) = (row(0), row(1), row(2), row(3));
                for x in 0..width {
                    drow[x] = finish(s0[x] * b[0] + s1[x] * b[1] + s2[x] * b[2] + s3[x] * b[3]);
                }
            }
        });
    out
}

/// `resizeAreaFast_`: integer shrink factors `ix × iy` (destination fully covered).
fn area_fast<T: Copy + Default + Send + Sync>(
    img: &Image<T>,
    dw: usize,
    dh: usize,
    ix: usize,
    iy: usize,
    cell: impl Fn(&[T], usize, usize, usize) -> T + Sync,
) -> Image<T> {
    let c = img.channels;
    let mut out = Image::new(dw, dh, c);
    out.data
        .par_chunks_mut(dw * c)
        .enumerate()
        .for_each(|(dy, drow)| {
            for dx in 0..dw {
                for ch in 0..c {
                    drow[dx * c + ch] = cell(&img.data, dy * iy, dx * ix, ch);
                }
            }
        });
    out
}

fn area_fast_u8(img: &ImageU8, dw: usize, dh: usize, ix: usize, iy: usize) -> ImageU8 {
    let (sw, c) = (img.width, img.channels);
    let half_up = ix == 2 && iy == 2 && matches!(c, 1 | 3 | 4);
    let area = ix * iy;
    let scale = 1.0f32 / area as f32;
    area_fast(img, dw, dh, ix, iy, |data, sy0, sx0, ch| {
        let mut sum = 0i32;
        for sy in sy0..sy0 + iy {
            for sx in sx0..sx0 + ix {
                sum += data[(sy * sw + sx) * c + ch] as i32;
            }
        }
        if half_up {
            ((sum + 2) >> 2) as u8
        } else {
            saturate_u8(round_even_f32(sum as f32 * scale))
        }
    })
}

fn area_fast_f32(img: &ImageF32, dw: usize, dh: usize, ix: usize, iy: usize) -> ImageF32 {
    let (sw, c) = (img.width, img.channels);
    let scale = 1.0f32 / (ix * iy) as f32;
    area_fast(img, dw, dh, ix, iy, |data, sy0, sx0, ch| {
        let mut sum = 0.0f32;
        for sy in sy0..sy0 + iy {
            for sx in sx0..sx0 + ix {
                sum += data[(sy * sw + sx) * c + ch];
            }
        }
        sum * scale
    })
}

/// `computeResizeAreaTab`: `(dst index, src index, weight)` triples for one axis.
fn area_tab(src: usize, dst: usize, scale: f64) -> Vec<(usize, usize, f32)> {
    let mut tab = Vec::with_capacity(src * 2);
    for d in 0..dst {
        let fsx1 = d as f64 * scale;
        let fsx2 = fsx1 + scale;
        let cell = scale.min(src as f64 - fsx1);
        let mut sx1 = fsx1.ceil() as i64;
        let mut sx2 = fsx2.floor() as i64;
        sx2 = sx2.min(src as i64 - 1);
        sx1 = sx1.min(sx2);
        if sx1 as f64 - fsx1 > 1e-3 {
            tab.push((d, (sx1 - 1) as usize, ((sx1 as f64 - fsx1) / cell) as f32));
        }
        for s in sx1..sx2 {
            tab.push((d, s as usize, (1.0 / cell) as f32));
        }
        if fsx2 - sx2 as f64 > 1e-3 {
            let w = (fsx2 - sx2 as f64).min(1.0).min(cell);
            tab.push((d, sx2 as usize, (w / cell) as f32));
        }
    }
    tab
}

/// `resizeArea_`: general (fractional) shrink, weights and sums in `f32`.
fn area_general<T: Copy + Default + Send + Sync>(
    img: &Image<T>,
    dw: usize,
    dh: usize,
    sx: f64,
    sy: f64,
    to_f: impl Fn(T) -> f32 + Sync,
    from_f: impl Fn(f32) -> T + Sync,
) -> Image<T> {
    let c = img.channels;
    let xtab = area_tab(img.width, dw, sx);
    let ytab = area_tab(img.height, dh, sy);
    let width = dw * c;
    let mut out = Image::new(dw, dh, c);
    out.data
        .par_chunks_mut(width)
        .enumerate()
        .for_each(|(dy, drow)| {
            let mut sum = vec![0.0f32; width];
            let mut buf = vec![0.0f32; width];
            let mut first = true;
            for &(_, ys, beta) in ytab.iter().filter(|e| e.0 == dy) {
                buf.iter_mut().for_each(|v| *v = 0.0);
                let srow = &img.data[ys * img.width * c..(ys + 1) * img.width * c];
                for &(dxn, sxn, alpha) in &xtab {
                    for ch in 0..c {
                        buf[dxn * c + ch] += to_f(srow[sxn * c + ch]) * alpha;
                    }
                }
                if first {
                    for x in 0..width {
                        sum[x] = beta * buf[x];
                    }
                    first = false;
                } else {
                    for x in 0..width {
                        sum[x] += beta * buf[x];
                    }
                }
            }
            for x in 0..width {
                drow[x] = from_f(sum[x]);
            }
        });
    out
}

/// Resize an 8-bit image `[H, W, C]` to `[height, width, C]`, bit-exact with OpenCV 4.x
/// `cv2.resize(img, (width, height), interpolation=...)` (see the module docs for the algorithms).
///
/// Same size returns a copy. A zero target or source dimension gives a zero-filled image of the
/// requested size (OpenCV would raise).
pub fn resize_u8(img: &ImageU8, width: usize, height: usize, interp: Interpolation) -> ImageU8 {
    if let Some(out) = empty_like(img, width, height) {
        return out;
    }
    match plan(img.width, img.height, width, height, interp, false) {
        Plan::Nearest => resize_nearest(img, width, height),
        Plan::AreaFast { ix, iy } => area_fast_u8(img, width, height, ix, iy),
        Plan::AreaGeneral { sx, sy } => area_general(
            img,
            width,
            height,
            sx,
            sy,
            |v| v as f32,
            |v| saturate_u8(round_even_f32(v)),
        ),
        Plan::Separable {
            cubic: false,
            area_mode,
        } => linear_fixed_u8(img, width, height, area_mode),
        Plan::Separable { cubic: true, .. } => separable_float(
            img,
            width,
            height,
            true,
            Coeffs::Ipp,
            |v| v as f32,
            |v| saturate_u8(round_even_f32(v)),
        ),
    }
}

/// Resize a float image `[H, W, C]` to `[height, width, C]` with OpenCV 4.x `cv2.resize` semantics
/// (same sampling positions, weights and borders as [`resize_u8`], arithmetic in `f32`).
///
/// The study applied the 256→224 bicubic resize to already-normalised float tiles; this is that op.
pub fn resize_f32(img: &ImageF32, width: usize, height: usize, interp: Interpolation) -> ImageF32 {
    if let Some(out) = empty_like(img, width, height) {
        return out;
    }
    match plan(img.width, img.height, width, height, interp, true) {
        Plan::Nearest => resize_nearest(img, width, height),
        Plan::AreaFast { ix, iy } => area_fast_f32(img, width, height, ix, iy),
        Plan::AreaGeneral { sx, sy } => area_general(img, width, height, sx, sy, |v| v, |v| v),
        Plan::Separable { cubic, area_mode } => {
            // Float linear/cubic go to IPP in opencv-python; INTER_AREA's upscale variant does not.
            let coeffs = if area_mode {
                Coeffs::OpenCv { area_mode }
            } else {
                Coeffs::Ipp
            };
            separable_float(img, width, height, cubic, coeffs, |v| v, |v| v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cubic_coefficients_sum_to_one_and_match_keys() {
        // Keys' kernel with a = -0.75 at t = 0.5: [-0.09375, 0.59375, 0.59375, -0.09375].
        let c = cubic_coeffs(0.5);
        for (got, want) in c.iter().zip([-0.09375f32, 0.59375, 0.59375, -0.09375]) {
            assert!((got - want).abs() < 1e-7, "{c:?}");
        }
        assert_eq!(cubic_coeffs(0.0), [0.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn nearest_exact_index_centres() {
        // 224 -> 14: centres at 8, 24, ..., 216.
        let idx = nearest_exact_index(224, 14);
        assert_eq!(idx, (0..14).map(|i| 16 * i + 8).collect::<Vec<_>>());
    }

    #[test]
    fn linear_upscale_by_two_hand_worked() {
        // 1x2 -> 1x4 (width), values 0 and 100: positions -0.25, 0.25, 0.75, 1.25
        // -> 0, 25, 75, 100.
        let img = ImageU8 {
            width: 2,
            height: 1,
            channels: 1,
            data: vec![0, 100],
        };
        let r = resize_u8(&img, 4, 1, Interpolation::Linear);
        assert_eq!(r.data, vec![0, 25, 75, 100]);
        let f = ImageF32 {
            width: 2,
            height: 1,
            channels: 1,
            data: vec![0.0, 1.0],
        };
        let r = resize_f32(&f, 4, 1, Interpolation::Linear);
        assert_eq!(r.data, vec![0.0, 0.25, 0.75, 1.0]);
    }
}
