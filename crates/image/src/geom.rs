//! Geometric transforms of the FAIR1M instance-identification task (protocol §7), each producing the
//! transformed tile and a per-patch [`Correspondence`] back to the original tile.
//!
//! Coordinates are OpenCV pixel-index coordinates: pixel `(x, y)` has its centre at `(x, y)`, so a
//! `T`-pixel tile spans `[-0.5, T - 0.5)` and the centre of patch column `c` on a grid of patch size
//! `P = T / G` is at `(c + 0.5) * P - 0.5`.
//!
//! * **Rotation** by `degrees` (counter-clockwise as displayed, OpenCV's sign): the whole chip is
//!   rotated about its centre `((W-1)/2, (H-1)/2)` onto a canvas of the chip's size (the protocol's
//!   "rotate on an expanded canvas, then centre-crop back", without its half-pixel canvas rounding),
//!   with `cv2.warpAffine` semantics (bilinear for images, nearest for labels, black/0 outside). A
//!   `T×T` tile is re-cropped centred on the rotated tile centre, rounded to whole pixels and clamped
//!   to the chip.
//! * **Scale** by `factor`: the chip is resized to `round(W·f) × round(H·f)` (`INTER_LINEAR` for the
//!   image, `INTER_NEAREST_EXACT` for labels) and a tile is cropped centred on the scaled tile
//!   centre `(x + 0.5)·W'/W - 0.5`, rounded and clamped.
//! * **Shift** by `(dx, dy)` *pixels of the chip* (= pixels of the tile, no resampling): the tile
//!   window moves by `(dx, dy)` inside the chip, so the content moves by `(-dx, -dy)`.
//!
//! The correspondence of transformed patch `p` is found by mapping `p`'s centre back into the
//! original tile through the exact inverse transform and taking the patch that contains it
//! (`-1` when it falls outside the original tile). For shifts smaller than half a patch this is the
//! identity, as the study assumed.

use rayon::prelude::*;

use crate::{ImageError, ImageU8, Interpolation, crop, resize_u8};

/// Rotation angles of the study in degrees, levels 1–4.
pub const ROTATION_DEGREES: [f64; 4] = [5.0, 10.0, 15.0, 20.0];
/// Scale factors of the study, levels 1–4.
pub const SCALE_FACTORS: [f64; 4] = [0.8, 0.9, 1.1, 1.2];
/// Shifts of the study in pixels (applied along x and y), levels 1–4 (tagged \[I\], inferred, in the protocol).
pub const SHIFT_PIXELS: [i64; 4] = [1, 2, 3, 4];

/// Per-patch correspondence `[rows * cols]`, row-major over the *transformed* tile's patch grid:
/// `map[p]` is the row-major index of the original tile's patch under `p`'s centre, or `-1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Correspondence {
    /// Patch grid rows.
    pub rows: usize,
    /// Patch grid columns.
    pub cols: usize,
    /// `rows * cols` original patch indices or `-1`.
    pub map: Vec<i32>,
}

impl Correspondence {
    /// The identity map (blur, noise).
    pub fn identity(rows: usize, cols: usize) -> Self {
        Self {
            rows,
            cols,
            map: (0..(rows * cols) as i32).collect(),
        }
    }

    /// Build from `inverse`, which maps a point in transformed-tile coordinates to original-tile
    /// coordinates (both pixel-index coordinates of tiles of `tile_w × tile_h` pixels).
    pub fn from_inverse(
        rows: usize,
        cols: usize,
        tile_w: usize,
        tile_h: usize,
        inverse: impl Fn(f64, f64) -> (f64, f64),
    ) -> Self {
        let (pw, ph) = (tile_w as f64 / cols as f64, tile_h as f64 / rows as f64);
        let mut map = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            for c in 0..cols {
                let (u, v) = ((c as f64 + 0.5) * pw - 0.5, (r as f64 + 0.5) * ph - 0.5);
                let (x, y) = inverse(u, v);
                let (cx, cy) = (((x + 0.5) / pw).floor(), ((y + 0.5) / ph).floor());
                let inside = cx >= 0.0 && cy >= 0.0 && cx < cols as f64 && cy < rows as f64;
                map.push(if inside {
                    (cy as usize * cols + cx as usize) as i32
                } else {
                    -1
                });
            }
        }
        Self { rows, cols, map }
    }

    /// Number of entries with a valid correspondence (the task's "upper bound").
    pub fn valid(&self) -> usize {
        self.map.iter().filter(|&&v| v >= 0).count()
    }
}

/// A square tile inside a chip: top-left pixel `(x, y)` and side `size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tile {
    /// Left column in the chip.
    pub x: usize,
    /// Top row in the chip.
    pub y: usize,
    /// Side length in pixels.
    pub size: usize,
}

/// A geometric transform of §7.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Geometric {
    /// Rotation about the chip centre, degrees counter-clockwise.
    Rotate {
        /// Angle in degrees.
        degrees: f64,
    },
    /// Isotropic rescaling of the chip.
    Scale {
        /// Scale factor (> 0).
        factor: f64,
    },
    /// Translation of the tile window, in chip pixels.
    Shift {
        /// Horizontal shift (positive: window moves right, content moves left).
        dx: i64,
        /// Vertical shift (positive: window moves down).
        dy: i64,
    },
}

impl Geometric {
    /// The protocol's level `level` (1..=4) of `"rotate"`, `"scale"` or `"shift"` (diagonal shift).
    pub fn level(kind: &str, level: usize) -> Result<Self, ImageError> {
        if !(1..=4).contains(&level) {
            return Err(ImageError::InvalidArgument {
                name: "transform level",
                value: level.to_string(),
                reason: "must be 1..=4",
            });
        }
        match kind {
            "rotate" => Ok(Self::Rotate {
                degrees: ROTATION_DEGREES[level - 1],
            }),
            "scale" => Ok(Self::Scale {
                factor: SCALE_FACTORS[level - 1],
            }),
            "shift" => Ok(Self::Shift {
                dx: SHIFT_PIXELS[level - 1],
                dy: SHIFT_PIXELS[level - 1],
            }),
            other => Err(ImageError::InvalidArgument {
                name: "transform kind",
                value: other.to_string(),
                reason: "expected rotate, scale or shift",
            }),
        }
    }
}

/// A transformed tile with its labels (if given), crop window and correspondence.
#[derive(Clone, Debug)]
pub struct TransformedTile {
    /// The transformed tile `[size, size, C]`.
    pub image: ImageU8,
    /// The transformed label tile `[size, size, 1]`, if labels were given.
    pub labels: Option<ImageU8>,
    /// Where the tile was cropped in the transformed chip.
    pub window: Tile,
    /// Patch correspondence to the original tile.
    pub corr: Correspondence,
}

/// `cv2.getRotationMatrix2D(center, angle, scale)`: the forward 2×3 matrix `[a, b, c, d, e, f]`
/// mapping `(x, y)` to `(a x + b y + c, d x + e y + f)`.
pub fn rotation_matrix(cx: f64, cy: f64, degrees: f64, scale: f64) -> [f64; 6] {
    let ang = degrees * std::f64::consts::PI / 180.0;
    let alpha = ang.cos() * scale;
    let beta = ang.sin() * scale;
    [
        alpha,
        beta,
        (1.0 - alpha) * cx - beta * cy,
        -beta,
        alpha,
        beta * cx + (1.0 - alpha) * cy,
    ]
}

/// `cv2.invertAffineTransform`, same arithmetic.
pub fn invert_affine(m: &[f64; 6]) -> [f64; 6] {
    let d = m[0] * m[4] - m[1] * m[3];
    let d = if d != 0.0 { 1.0 / d } else { 0.0 };
    let (a11, a22) = (m[4] * d, m[0] * d);
    let (a12, a21) = (-m[1] * d, -m[3] * d);
    let b1 = -a11 * m[2] - a12 * m[5];
    let b2 = -a21 * m[2] - a22 * m[5];
    [a11, a12, b1, a21, a22, b2]
}

const INTER_BITS: i32 = 5;
const INTER_TAB: i32 = 1 << INTER_BITS;
const AB_BITS: i32 = 10;
const AB_SCALE: f64 = (1 << AB_BITS) as f64;
const REMAP_BITS: i32 = 15;

/// `cv2.warpAffine(src, m, (width, height), flags=interp, borderMode=BORDER_CONSTANT, 0)` for `u8`
/// images, with OpenCV 4.x's fixed-point arithmetic (`AB_BITS = 10`, `INTER_BITS = 5`,
/// 15-bit bilinear weights), bit-exact with OpenCV 4.10. `m` is the *forward* matrix (as from
/// [`rotation_matrix`]). Only [`Interpolation::Linear`] and [`Interpolation::NearestExact`]
/// (`INTER_NEAREST`) are supported.
pub fn warp_affine(
    src: &ImageU8,
    m: &[f64; 6],
    width: usize,
    height: usize,
    interp: Interpolation,
) -> Result<ImageU8, ImageError> {
    let nearest = match interp {
        Interpolation::Linear => false,
        Interpolation::NearestExact => true,
        other => {
            return Err(ImageError::InvalidArgument {
                name: "warp interpolation",
                value: format!("{other:?}"),
                reason: "warp_affine supports Linear and NearestExact",
            });
        }
    };
    let inv = invert_affine(m);
    let c = src.channels;
    let (sw, sh) = (src.width as i64, src.height as i64);
    let round_delta: i64 = if nearest {
        (AB_SCALE / 2.0) as i64
    } else {
        (AB_SCALE as i64) / INTER_TAB as i64 / 2
    };
    let adelta: Vec<i64> = (0..width)
        .map(|x| (inv[0] * x as f64 * AB_SCALE).round_ties_even() as i64)
        .collect();
    let bdelta: Vec<i64> = (0..width)
        .map(|x| (inv[3] * x as f64 * AB_SCALE).round_ties_even() as i64)
        .collect();
    let mut out = ImageU8::new(width, height, c);
    out.data
        .par_chunks_mut(width * c)
        .enumerate()
        .for_each(|(y, row)| {
            let x0 =
                ((inv[1] * y as f64 + inv[2]) * AB_SCALE).round_ties_even() as i64 + round_delta;
            let y0 =
                ((inv[4] * y as f64 + inv[5]) * AB_SCALE).round_ties_even() as i64 + round_delta;
            let px = |sx: i64, sy: i64, ch: usize| -> i32 {
                if sx >= 0 && sy >= 0 && sx < sw && sy < sh {
                    src.data[((sy * sw + sx) as usize) * c + ch] as i32
                } else {
                    0
                }
            };
            for x in 0..width {
                let d = &mut row[x * c..(x + 1) * c];
                if nearest {
                    let sx = (x0 + adelta[x]) >> AB_BITS;
                    let sy = (y0 + bdelta[x]) >> AB_BITS;
                    for (ch, v) in d.iter_mut().enumerate() {
                        *v = px(sx, sy, ch) as u8;
                    }
                    continue;
                }
                let xx = (x0 + adelta[x]) >> (AB_BITS - INTER_BITS);
                let yy = (y0 + bdelta[x]) >> (AB_BITS - INTER_BITS);
                let (sx, sy) = (xx >> INTER_BITS, yy >> INTER_BITS);
                let (fx, fy) = (
                    (xx & (INTER_TAB as i64 - 1)) as i32,
                    (yy & (INTER_TAB as i64 - 1)) as i32,
                );
                if sx >= sw || sx + 1 < 0 || sy >= sh || sy + 1 < 0 {
                    d.iter_mut().for_each(|v| *v = 0);
                    continue;
                }
                // Weights (1-fx)(1-fy), fx(1-fy), (1-fx)fy, fx fy in units of 2^15 (exact: 32 * i * j).
                let w = [
                    (INTER_TAB - fx) * (INTER_TAB - fy) * 32,
                    fx * (INTER_TAB - fy) * 32,
                    (INTER_TAB - fx) * fy * 32,
                    fx * fy * 32,
                ];
                for (ch, v) in d.iter_mut().enumerate() {
                    let s = px(sx, sy, ch) * w[0]
                        + px(sx + 1, sy, ch) * w[1]
                        + px(sx, sy + 1, ch) * w[2]
                        + px(sx + 1, sy + 1, ch) * w[3];
                    *v = ((s + (1 << (REMAP_BITS - 1))) >> REMAP_BITS).clamp(0, 255) as u8;
                }
            }
        });
    Ok(out)
}

fn check_tile(
    chip: &ImageU8,
    labels: Option<&ImageU8>,
    tile: Tile,
    grid: usize,
) -> Result<(), ImageError> {
    if tile.size == 0 || grid == 0 || grid > tile.size {
        return Err(ImageError::InvalidArgument {
            name: "tile size / grid",
            value: format!("{} / {grid}", tile.size),
            reason: "need 0 < grid <= tile size",
        });
    }
    if tile.x + tile.size > chip.width || tile.y + tile.size > chip.height {
        return Err(ImageError::CropOutOfBounds {
            x: tile.x,
            y: tile.y,
            w: tile.size,
            h: tile.size,
            width: chip.width,
            height: chip.height,
        });
    }
    if let Some(l) = labels
        && ((l.width, l.height) != (chip.width, chip.height) || l.channels != 1)
    {
        return Err(ImageError::InvalidArgument {
            name: "label chip",
            value: format!("{}x{}x{}", l.width, l.height, l.channels),
            reason: "must be single-channel and the size of the chip",
        });
    }
    Ok(())
}

/// Origin of a `size` window centred on `centre` (pixel-index coordinates), rounded to a whole
/// pixel and clamped to `[0, extent - size]`.
fn centred_origin(centre: f64, size: usize, extent: usize) -> usize {
    let o = (centre - (size as f64 - 1.0) / 2.0).round();
    o.clamp(0.0, (extent - size) as f64) as usize
}

/// Apply a §7 transform to `tile` of `chip` (and of the chip's `labels`, same size, 1 channel),
/// giving the transformed tile and its `grid × grid` correspondence (see the module docs).
pub fn transform_tile(
    chip: &ImageU8,
    labels: Option<&ImageU8>,
    tile: Tile,
    t: Geometric,
    grid: usize,
) -> Result<TransformedTile, ImageError> {
    check_tile(chip, labels, tile, grid)?;
    let ts = tile.size;
    let half = (ts as f64 - 1.0) / 2.0;
    let (tcx, tcy) = (tile.x as f64 + half, tile.y as f64 + half);
    match t {
        Geometric::Rotate { degrees } => {
            if !degrees.is_finite() {
                return Err(ImageError::InvalidArgument {
                    name: "rotation degrees",
                    value: degrees.to_string(),
                    reason: "must be finite",
                });
            }
            let (cx, cy) = (
                (chip.width as f64 - 1.0) / 2.0,
                (chip.height as f64 - 1.0) / 2.0,
            );
            let m = rotation_matrix(cx, cy, degrees, 1.0);
            let (rx, ry) = (
                m[0] * tcx + m[1] * tcy + m[2],
                m[3] * tcx + m[4] * tcy + m[5],
            );
            let window = Tile {
                x: centred_origin(rx, ts, chip.width),
                y: centred_origin(ry, ts, chip.height),
                size: ts,
            };
            // Warp only the window: a translation of the output grid (exactly what cropping the
            // full warped chip gives, up to OpenCV's per-row fixed-point rounding).
            let mut mw = m;
            mw[2] -= window.x as f64;
            mw[5] -= window.y as f64;
            let image = warp_affine(chip, &mw, ts, ts, Interpolation::Linear)?;
            let labels = labels
                .map(|l| warp_affine(l, &mw, ts, ts, Interpolation::NearestExact))
                .transpose()?;
            let inv = invert_affine(&m);
            let corr = Correspondence::from_inverse(grid, grid, ts, ts, |u, v| {
                let (qx, qy) = (u + window.x as f64, v + window.y as f64);
                let (px, py) = (
                    inv[0] * qx + inv[1] * qy + inv[2],
                    inv[3] * qx + inv[4] * qy + inv[5],
                );
                (px - tile.x as f64, py - tile.y as f64)
            });
            Ok(TransformedTile {
                image,
                labels,
                window,
                corr,
            })
        }
        Geometric::Scale { factor } => {
            let nw = (chip.width as f64 * factor).round();
            let nh = (chip.height as f64 * factor).round();
            if !factor.is_finite() || factor <= 0.0 || nw < ts as f64 || nh < ts as f64 {
                return Err(ImageError::InvalidArgument {
                    name: "scale factor",
                    value: factor.to_string(),
                    reason: "must be > 0 and leave the scaled chip at least one tile large",
                });
            }
            let (nw, nh) = (nw as usize, nh as usize);
            let (sx, sy) = (
                nw as f64 / chip.width as f64,
                nh as f64 / chip.height as f64,
            );
            let (ccx, ccy) = ((tcx + 0.5) * sx - 0.5, (tcy + 0.5) * sy - 0.5);
            let window = Tile {
                x: centred_origin(ccx, ts, nw),
                y: centred_origin(ccy, ts, nh),
                size: ts,
            };
            let scaled = resize_u8(chip, nw, nh, Interpolation::Linear);
            let image = crop(&scaled, window.x, window.y, ts, ts)?;
            let labels = labels
                .map(|l| {
                    crop(
                        &resize_u8(l, nw, nh, Interpolation::NearestExact),
                        window.x,
                        window.y,
                        ts,
                        ts,
                    )
                })
                .transpose()?;
            let corr = Correspondence::from_inverse(grid, grid, ts, ts, |u, v| {
                let (qx, qy) = (u + window.x as f64, v + window.y as f64);
                (
                    (qx + 0.5) / sx - 0.5 - tile.x as f64,
                    (qy + 0.5) / sy - 0.5 - tile.y as f64,
                )
            });
            Ok(TransformedTile {
                image,
                labels,
                window,
                corr,
            })
        }
        Geometric::Shift { dx, dy } => {
            let nx = tile.x as i64 + dx;
            let ny = tile.y as i64 + dy;
            if nx < 0 || ny < 0 || nx as usize + ts > chip.width || ny as usize + ts > chip.height {
                return Err(ImageError::InvalidArgument {
                    name: "shift",
                    value: format!("({dx}, {dy}) for tile at ({}, {})", tile.x, tile.y),
                    reason: "moves the tile window outside the chip",
                });
            }
            let window = Tile {
                x: nx as usize,
                y: ny as usize,
                size: ts,
            };
            let image = crop(chip, window.x, window.y, ts, ts)?;
            let labels = labels
                .map(|l| crop(l, window.x, window.y, ts, ts))
                .transpose()?;
            let corr = Correspondence::from_inverse(grid, grid, ts, ts, |u, v| {
                (u + dx as f64, v + dy as f64)
            });
            Ok(TransformedTile {
                image,
                labels,
                window,
                corr,
            })
        }
    }
}
