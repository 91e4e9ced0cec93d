//! Cutting images into model tiles and computing centre-pixel patch labels (protocol §3).
//!
//! Two stages, so degradations can be applied to the raw `u8` tile in between:
//! [`cut_tiles`] gives [`RawTile`]s (tile-resolution pixels and label tile), and
//! [`RawTile::to_tile`] / [`model_input`] turn one into a normalised model input with patch labels.
//! [`tile_image`] does both.

use patchlens_image::{
    ImageF32, ImageU8, Interpolation, crop, patch_labels, resize_f32, resize_u8, to_f32_normalized,
};
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result, invalid};
use crate::spec::{NormalizeOrder, TileSpec};

/// A tile cut from an image at tile resolution, before normalisation and resizing.
#[derive(Clone, Debug, PartialEq)]
pub struct RawTile {
    /// Id of the source image.
    pub image_id: String,
    /// Tile row in the image's tile grid.
    pub row: usize,
    /// Tile column in the image's tile grid.
    pub col: usize,
    /// Left pixel of the tile in the (resized) image.
    pub x: usize,
    /// Top pixel of the tile in the (resized) image.
    pub y: usize,
    /// RGB pixels `[tile, tile, 3]`.
    pub image: ImageU8,
    /// Label tile `[tile, tile, 1]`, if the image has labels.
    pub mask: Option<ImageU8>,
}

/// A model-ready tile: normalised input pixels and patch labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Tile {
    /// Id of the source image.
    pub image_id: String,
    /// Tile row in the image's tile grid.
    pub row: usize,
    /// Tile column in the image's tile grid.
    pub col: usize,
    /// Normalised pixels `[input, input, 3]` (use `patchlens_image::to_chw` for `[3, input, input]`).
    pub pixels: ImageF32,
    /// Centre-pixel patch labels, `grid * grid` values, row-major; `None` for unlabelled images.
    pub patch_labels: Option<Vec<u8>>,
}

/// Where a tile sits: `(image id, row, col)`, serialisable for results files.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TileKey {
    /// Id of the source image.
    pub image_id: String,
    /// Tile row.
    pub row: usize,
    /// Tile column.
    pub col: usize,
}

impl TileKey {
    /// The study's tile name `<image>.<tile>_<row>_<col>` (e.g. `aachen_000000_000019.256_0_3`).
    pub fn name(&self, tile: usize) -> String {
        format!("{}.{}_{}_{}", self.image_id, tile, self.row, self.col)
    }
}

impl RawTile {
    /// The tile's key.
    pub fn key(&self) -> TileKey {
        TileKey {
            image_id: self.image_id.clone(),
            row: self.row,
            col: self.col,
        }
    }

    /// Centre-pixel patch labels on the spec's `grid × grid` token grid (`None` without a mask).
    pub fn patch_labels(&self, spec: &TileSpec) -> Option<Vec<u8>> {
        self.mask
            .as_ref()
            .map(|m| patch_labels(m, spec.grid, spec.grid))
    }

    /// Convert to a model tile (normalised `input × input` pixels + patch labels).
    pub fn to_tile(&self, spec: &TileSpec) -> Tile {
        Tile {
            image_id: self.image_id.clone(),
            row: self.row,
            col: self.col,
            pixels: model_input(spec, &self.image),
            patch_labels: self.patch_labels(spec),
        }
    }
}

impl Tile {
    /// The tile's key.
    pub fn key(&self) -> TileKey {
        TileKey {
            image_id: self.image_id.clone(),
            row: self.row,
            col: self.col,
        }
    }
}

/// Turn a `u8` RGB tile of any size into the normalised `input × input × 3` model input.
///
/// With [`NormalizeOrder::NormalizeThenResize`] (the study's order) the tile is normalised first and the
/// float image is resized with `tile_resample`; with [`NormalizeOrder::ResizeThenNormalize`] the `u8` tile
/// is resized (rounded to `u8`) and then normalised. A tile already at `input` size is only normalised.
pub fn model_input(spec: &TileSpec, tile: &ImageU8) -> ImageF32 {
    let same = tile.width == spec.input && tile.height == spec.input;
    let interp: Interpolation = spec.tile_resample.into();
    match (same, spec.order) {
        (true, _) => to_f32_normalized(tile, spec.mean, spec.std),
        (false, NormalizeOrder::NormalizeThenResize) => resize_f32(
            &to_f32_normalized(tile, spec.mean, spec.std),
            spec.input,
            spec.input,
            interp,
        ),
        (false, NormalizeOrder::ResizeThenNormalize) => to_f32_normalized(
            &resize_u8(tile, spec.input, spec.input, interp),
            spec.mean,
            spec.std,
        ),
    }
}

/// Resize a whole image and its label map as the spec requires (no-op without `spec.resize`).
pub fn resize_for_spec(
    spec: &TileSpec,
    image: &ImageU8,
    label: Option<&ImageU8>,
) -> (ImageU8, Option<ImageU8>) {
    match spec.resize {
        Some([w, h]) if (image.width, image.height) != (w, h) => (
            resize_u8(image, w, h, spec.image_resample.into()),
            label.map(|l| resize_u8(l, w, h, Interpolation::NearestExact)),
        ),
        Some([w, h]) => (
            image.clone(),
            label.map(|l| {
                if (l.width, l.height) == (w, h) {
                    l.clone()
                } else {
                    resize_u8(l, w, h, Interpolation::NearestExact)
                }
            }),
        ),
        None => (image.clone(), label.cloned()),
    }
}

/// Cut an image (and its label map) into the spec's raw tiles, row-major from the top-left corner.
///
/// Errors if image and label differ in size, if the image is not RGB, or if it is too small for the
/// spec's tile grid.
pub fn cut_tiles(
    spec: &TileSpec,
    image_id: &str,
    image: &ImageU8,
    label: Option<&ImageU8>,
) -> Result<Vec<RawTile>> {
    spec.validate()?;
    if image.channels != 3 {
        return Err(invalid(
            "image channels",
            image.channels,
            format!("{image_id}: expected RGB (3)"),
        ));
    }
    if let Some(l) = label
        && (l.width, l.height) != (image.width, image.height)
    {
        return Err(invalid(
            "label size",
            format!("{}x{}", l.width, l.height),
            format!("{image_id}: image is {}x{}", image.width, image.height),
        ));
    }
    let (rows, cols) = spec.tiles_for(image.width, image.height)?;
    let (img, lab) = resize_for_spec(spec, image, label);
    let op = |source| DataError::ImageOp {
        item: image_id.to_owned(),
        source: Box::new(source),
    };
    let t = spec.tile;
    let mut out = Vec::with_capacity(rows * cols);
    for row in 0..rows {
        for col in 0..cols {
            let (x, y) = (col * t, row * t);
            let tile_img = crop(&img, x, y, t, t).map_err(op)?;
            let mask = match &lab {
                Some(l) => Some(crop(l, x, y, t, t).map_err(op)?),
                None => None,
            };
            out.push(RawTile {
                image_id: image_id.to_owned(),
                row,
                col,
                x,
                y,
                image: tile_img,
                mask,
            });
        }
    }
    Ok(out)
}

/// Cut an image into model tiles with patch labels (= [`cut_tiles`] then [`RawTile::to_tile`]).
pub fn tile_image(
    spec: &TileSpec,
    image_id: &str,
    image: &ImageU8,
    label: Option<&ImageU8>,
) -> Result<Vec<Tile>> {
    Ok(cut_tiles(spec, image_id, image, label)?
        .iter()
        .map(|t| t.to_tile(spec))
        .collect())
}

/// Centre-pixel patch labels of a label map on a `rows × cols` grid (protocol §3):
/// `label[r][c] = mask[floor((r + 0.5)·H/rows)][floor((c + 0.5)·W/cols)]`, row-major.
///
/// Thin wrapper over [`patchlens_image::patch_labels`] that rejects empty grids and masks.
pub fn centre_patch_labels(mask: &ImageU8, rows: usize, cols: usize) -> Result<Vec<u8>> {
    if rows == 0 || cols == 0 || mask.width < cols || mask.height < rows {
        return Err(invalid(
            "patch grid",
            format!("{rows}x{cols}"),
            format!(
                "must be non-zero and fit in the {}x{} mask",
                mask.width, mask.height
            ),
        ));
    }
    Ok(patch_labels(mask, rows, cols))
}
