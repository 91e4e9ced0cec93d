//! Segmentation maps from patch predictions: nearest-exact resizing (OpenCV `INTER_NEAREST_EXACT`), tile
//! stitching, and label PNG reading/writing (grayscale ids and a colour-palette version).
//!
//! Two back-projection modes are used by the protocol (§A.1, §A.2; the authors' `join_cropped.py` and
//! `join_cropped_ade.py`):
//! - **Cityscapes**: each tile's `G×G` patch predictions are resized nearest-exact to the tile size (256) and
//!   the tiles are placed side by side ([`stitch_tiles_upsampled`]; 4×8 tiles → 1024×2048).
//! - **ADE20K / CamVid**: the tiles' patch grids are placed side by side into one patch-resolution map
//!   ([`stitch_grids`]; e.g. 2×3 tiles of 14×14 → 28×42), which is resized nearest-exact to the original label
//!   size ([`resize_nearest_exact`]).

use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{MetricsError, Result, dims};

/// A single-channel label map, row-major: `data[y * width + x]`, `data.len() == width * height`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabelMap {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Raw label ids, length `width * height`.
    pub data: Vec<u16>,
}

impl LabelMap {
    /// Wrap `data` (row-major, length `width * height`).
    pub fn new(width: usize, height: usize, data: Vec<u16>) -> Result<Self> {
        if width.checked_mul(height) != Some(data.len()) {
            return Err(MetricsError::SizeMismatch {
                what_a: "label map data length",
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

    /// From 8-bit ids (e.g. a decoded label PNG).
    pub fn from_u8(width: usize, height: usize, data: &[u8]) -> Result<Self> {
        Self::new(width, height, data.iter().map(|&v| v as u16).collect())
    }

    /// The value at row `y`, column `x` (panics if out of bounds, like slice indexing).
    pub fn at(&self, y: usize, x: usize) -> u16 {
        self.data[y * self.width + x]
    }

    /// Largest value (0 for an empty map).
    pub fn max_value(&self) -> u16 {
        self.data.iter().copied().max().unwrap_or(0)
    }
}

/// Which `INTER_NEAREST_EXACT` implementation to reproduce. They differ only where a destination pixel
/// centre falls exactly on (or within rounding of) a source pixel edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum NearestExact {
    /// OpenCV 4.x `resizeNN_bitexact`: 16.16 fixed point, `ifx = ((src << 16) + dst / 2) / dst`,
    /// `ifx0 = ifx / 2 - src % 2`, `sx = min((ifx * x + ifx0) >> 16, src - 1)`. The authors' code ran on
    /// OpenCV 4, so this is the default.
    #[default]
    OpenCv4,
    /// OpenCV 5.x (Pillow's nearest): `scale = src / dst` in f64, `f = scale / 2`, then
    /// `sx = min(floor(f), src - 1)` and `f += scale` per destination pixel.
    OpenCv5,
}

/// Source index for each of the `dst` destination positions when resizing an axis of length `src` to `dst`
/// with nearest-exact sampling. Errors if either length is 0 or `src` does not fit OpenCV's 16.16 fixed point.
pub fn nearest_exact_indices(src: usize, dst: usize, mode: NearestExact) -> Result<Vec<usize>> {
    if src == 0 || dst == 0 {
        return Err(MetricsError::InvalidArgument {
            what: "resize size",
            detail: format!("source length {src} and destination length {dst} must be positive"),
        });
    }
    match mode {
        NearestExact::OpenCv4 => {
            if src >= 1 << 15 || dst >= 1 << 31 {
                return Err(MetricsError::InvalidArgument {
                    what: "resize size",
                    detail: format!(
                        "source length {src} is too large for OpenCV's 16.16 fixed point"
                    ),
                });
            }
            let (s, d) = (src as i64, dst as i64);
            let ifx = ((s << 16) + d / 2) / d;
            let ifx0 = ifx / 2 - s % 2;
            // OpenCV computes `ifx * x + ifx0` in 32-bit int; the values stay below 2^31 for the sizes allowed.
            Ok((0..d)
                .map(|x| (((ifx * x + ifx0) >> 16).max(0) as usize).min(src - 1))
                .collect())
        }
        NearestExact::OpenCv5 => {
            let scale = src as f64 / dst as f64;
            let mut f = scale * 0.5;
            let mut out = Vec::with_capacity(dst);
            for _ in 0..dst {
                out.push((f.floor() as usize).min(src - 1));
                f += scale;
            }
            Ok(out)
        }
    }
}

/// Resize a label map to `width × height` with nearest-exact sampling (OpenCV `INTER_NEAREST_EXACT`).
pub fn resize_nearest_exact(
    map: &LabelMap,
    width: usize,
    height: usize,
    mode: NearestExact,
) -> Result<LabelMap> {
    let xs = nearest_exact_indices(map.width, width, mode)?;
    let ys = nearest_exact_indices(map.height, height, mode)?;
    let mut data = vec![0u16; width * height];
    data.par_chunks_mut(width)
        .zip(ys.par_iter())
        .for_each(|(row, &sy)| {
            let src = &map.data[sy * map.width..(sy + 1) * map.width];
            for (d, &sx) in row.iter_mut().zip(&xs) {
                *d = src[sx];
            }
        });
    LabelMap::new(width, height, data)
}

/// How an image was cut into tiles and each tile into a patch grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TileLayout {
    /// Tile rows (Cityscapes 4, ADE20K 2).
    pub tile_rows: usize,
    /// Tile columns (Cityscapes 8, ADE20K 3).
    pub tile_cols: usize,
    /// Patch-grid side per tile (14 for patch-16 models, 16 for DINOv2).
    pub grid: usize,
}

impl TileLayout {
    /// Number of patch predictions the layout expects: `tile_rows * tile_cols * grid * grid`.
    pub fn num_patches(&self) -> usize {
        self.tile_rows * self.tile_cols * self.grid * self.grid
    }

    fn check(&self, preds: usize) -> Result<()> {
        if self.tile_rows == 0 || self.tile_cols == 0 || self.grid == 0 {
            return Err(MetricsError::InvalidArgument {
                what: "tile layout",
                detail: format!("{self:?} has a zero size"),
            });
        }
        if preds != self.num_patches() {
            return Err(MetricsError::SizeMismatch {
                what_a: "patch predictions",
                a: preds.to_string(),
                what_b: "tile layout (rows×cols×grid×grid)",
                b: format!(
                    "{}×{}×{}×{} = {}",
                    self.tile_rows,
                    self.tile_cols,
                    self.grid,
                    self.grid,
                    self.num_patches()
                ),
            });
        }
        Ok(())
    }
}

/// Cityscapes-style back-projection: `preds` holds the patch predictions of all tiles, tile-major in row-major
/// tile order (tile `(r, c)` at index `r * tile_cols + c`), each tile's `grid × grid` patches row-major.
/// Each tile grid is resized nearest-exact to `tile_px × tile_px` and placed at `(r * tile_px, c * tile_px)`.
/// Output: `(tile_cols * tile_px) × (tile_rows * tile_px)`.
pub fn stitch_tiles_upsampled(
    preds: &[u16],
    layout: TileLayout,
    tile_px: usize,
    mode: NearestExact,
) -> Result<LabelMap> {
    layout.check(preds.len())?;
    let idx = nearest_exact_indices(layout.grid, tile_px, mode)?;
    let (w, h) = (layout.tile_cols * tile_px, layout.tile_rows * tile_px);
    let g = layout.grid;
    // offset of column x inside a tile row: tile column * g² + source patch column
    let col_off: Vec<usize> = (0..w)
        .map(|x| (x / tile_px) * g * g + idx[x % tile_px])
        .collect();
    let mut data = vec![0u16; w * h];
    data.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        let base = (y / tile_px) * layout.tile_cols * g * g + idx[y % tile_px] * g;
        for (d, &o) in row.iter_mut().zip(&col_off) {
            *d = preds[base + o];
        }
    });
    LabelMap::new(w, h, data)
}

/// ADE20K/CamVid-style: place the tiles' patch grids side by side into one patch-resolution map of
/// `(tile_cols * grid) × (tile_rows * grid)`. `preds` is ordered as in [`stitch_tiles_upsampled`].
pub fn stitch_grids(preds: &[u16], layout: TileLayout) -> Result<LabelMap> {
    layout.check(preds.len())?;
    let g = layout.grid;
    let (w, h) = (layout.tile_cols * g, layout.tile_rows * g);
    let mut data = vec![0u16; w * h];
    for (y, row) in data.chunks_mut(w).enumerate() {
        for (x, d) in row.iter_mut().enumerate() {
            let tile = (y / g) * layout.tile_cols + x / g;
            *d = preds[tile * g * g + (y % g) * g + x % g];
        }
    }
    LabelMap::new(w, h, data)
}

/// [`stitch_grids`] followed by [`resize_nearest_exact`] to the original label size `width × height`.
pub fn grids_to_label_size(
    preds: &[u16],
    layout: TileLayout,
    width: usize,
    height: usize,
    mode: NearestExact,
) -> Result<LabelMap> {
    resize_nearest_exact(&stitch_grids(preds, layout)?, width, height, mode)
}

/// Write a label map as a grayscale PNG of the raw ids: 8-bit if every id is ≤ 255, else 16-bit.
pub fn write_label_png(path: &Path, map: &LabelMap) -> Result<()> {
    let png_err = |e: image::ImageError| MetricsError::Png {
        path: path.to_path_buf(),
        source: e.into(),
    };
    let (w, h) = png_dims(path, map)?;
    if map.max_value() <= 255 {
        let buf: Vec<u8> = map.data.iter().map(|&v| v as u8).collect();
        image::GrayImage::from_raw(w, h, buf)
            .expect("length checked by LabelMap")
            .save(path)
            .map_err(png_err)
    } else {
        image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::from_raw(w, h, map.data.clone())
            .expect("length checked by LabelMap")
            .save(path)
            .map_err(png_err)
    }
}

/// Write a label map as an RGB PNG using `palette[id]` per pixel. Errors on an id without a colour.
pub fn write_color_png(path: &Path, map: &LabelMap, palette: &[[u8; 3]]) -> Result<()> {
    let (w, h) = png_dims(path, map)?;
    if let Some(&bad) = map.data.iter().find(|&&v| v as usize >= palette.len()) {
        return Err(MetricsError::InvalidArgument {
            what: "palette",
            detail: format!(
                "label {bad} has no colour (palette has {} entries)",
                palette.len()
            ),
        });
    }
    let buf: Vec<u8> = map.data.iter().flat_map(|&v| palette[v as usize]).collect();
    image::RgbImage::from_raw(w, h, buf)
        .expect("length checked by LabelMap")
        .save(path)
        .map_err(|e| MetricsError::Png {
            path: path.to_path_buf(),
            source: e.into(),
        })
}

/// Read a single-channel 8- or 16-bit PNG as a label map (e.g. Cityscapes `*_labelIds.png`).
/// Errors on colour images.
pub fn read_label_png(path: &Path) -> Result<LabelMap> {
    let img = image::open(path).map_err(|e| MetricsError::Png {
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let data = match img {
        image::DynamicImage::ImageLuma8(b) => b.into_raw().into_iter().map(u16::from).collect(),
        image::DynamicImage::ImageLuma16(b) => b.into_raw(),
        other => {
            return Err(MetricsError::NotALabelImage {
                path: path.to_path_buf(),
                found: format!("{:?}", other.color()),
            });
        }
    };
    LabelMap::new(w, h, data)
}

fn png_dims(path: &Path, map: &LabelMap) -> Result<(u32, u32)> {
    match (u32::try_from(map.width), u32::try_from(map.height)) {
        (Ok(w), Ok(h)) if w > 0 && h > 0 => Ok((w, h)),
        _ => Err(MetricsError::InvalidArgument {
            what: "PNG size",
            detail: format!(
                "{}: cannot write a {} image",
                path.display(),
                dims(map.width, map.height)
            ),
        }),
    }
}
