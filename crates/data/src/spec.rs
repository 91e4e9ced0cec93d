//! Tiling protocols ([`TileSpec`]): how a dataset image becomes model tiles and patch labels.
//!
//! One constructor per dataset holds the protocol constants of protocol §3 (and §4, §7, §8). The struct is
//! serialisable so results files can record exactly which protocol produced them.

use patchlens_image::{IMAGENET_MEAN, IMAGENET_STD, Interpolation};
use serde::{Deserialize, Serialize};

use crate::error::{Result, invalid};

/// A resampling kernel (serialisable mirror of [`patchlens_image::Interpolation`], OpenCV semantics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resample {
    /// `INTER_NEAREST_EXACT` (labels).
    NearestExact,
    /// `INTER_LINEAR` (bilinear).
    Linear,
    /// `INTER_CUBIC` (bicubic, a = −0.75).
    Cubic,
    /// `INTER_AREA`.
    Area,
}

impl From<Resample> for Interpolation {
    fn from(r: Resample) -> Self {
        match r {
            Resample::NearestExact => Interpolation::NearestExact,
            Resample::Linear => Interpolation::Linear,
            Resample::Cubic => Interpolation::Cubic,
            Resample::Area => Interpolation::Area,
        }
    }
}

/// Order of normalisation and the tile → model-input resize (only matters when they differ in size).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NormalizeOrder {
    /// The study's order (protocol §3 quirk): `u8 → /255 → (x − mean)/std`, then resize the *float* tile.
    NormalizeThenResize,
    /// The conventional order: resize the `u8` tile (rounded), then normalise.
    ResizeThenNormalize,
}

/// A dataset's tiling protocol: whole-image resize, tile size and grid, model input size, patch grid.
///
/// Pipeline (see [`crate::tiling::tile_image`]): optionally resize the whole image to `resize`
/// (`image_resample` for pixels, nearest-exact for labels) → cut `tile`×`tile` tiles row-major from the
/// top-left corner (`tile_grid` rows × cols if given, else as many as fit) → each tile becomes an
/// `input`×`input`×3 ImageNet-normalised float image (`tile_resample`, in `order`) → patch labels are the
/// centre pixels of the *tile-resolution* label tile on a `grid`×`grid` token grid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TileSpec {
    /// Dataset name this protocol belongs to.
    pub dataset: String,
    /// Whole-image resize `[width, height]` before tiling (ADE20K 672×448, BDD 1120×672), or none.
    pub resize: Option<[usize; 2]>,
    /// Kernel for the whole-image resize of pixels (labels always use nearest-exact).
    pub image_resample: Resample,
    /// Tile side in (resized) image pixels (Cityscapes 256, others 224).
    pub tile: usize,
    /// Number of tiles `[rows, cols]`; `None` = as many whole tiles as fit.
    pub tile_grid: Option<[usize; 2]>,
    /// Model input side in pixels (224).
    pub input: usize,
    /// Kernel for the tile → input resize (Cityscapes: cubic).
    pub tile_resample: Resample,
    /// Order of normalisation and tile resize.
    pub order: NormalizeOrder,
    /// ViT patch size (16, or 14 for DINOv2 / I-JEPA).
    pub patch: usize,
    /// Token grid side `input / patch` (14 for patch 16, 16 for patch 14).
    pub grid: usize,
    /// Per-channel mean (RGB, 0–1 scale).
    pub mean: [f32; 3],
    /// Per-channel std (RGB, 0–1 scale).
    pub std: [f32; 3],
}

/// Model input side used by every protocol of the study.
pub const MODEL_INPUT: usize = 224;

impl TileSpec {
    fn base(dataset: &str, patch: usize, tile: usize) -> Result<Self> {
        if patch == 0 || !MODEL_INPUT.is_multiple_of(patch) {
            return Err(invalid(
                "patch",
                patch,
                format!("must divide the model input {MODEL_INPUT}"),
            ));
        }
        Ok(Self {
            dataset: dataset.to_owned(),
            resize: None,
            image_resample: Resample::Linear,
            tile,
            tile_grid: None,
            input: MODEL_INPUT,
            tile_resample: Resample::Cubic,
            order: NormalizeOrder::NormalizeThenResize,
            patch,
            grid: MODEL_INPUT / patch,
            mean: IMAGENET_MEAN,
            std: IMAGENET_STD,
        })
    }

    /// Cityscapes (§4.1): 1024×2048 → 4×8 tiles of 256 → bicubic to 224 on the normalised float tile.
    pub fn cityscapes(patch: usize) -> Result<Self> {
        Ok(Self {
            tile_grid: Some([4, 8]),
            ..Self::base("cityscapes", patch, 256)?
        })
    }

    /// ADE20K (§4.2): resize to 672×448 (bilinear; labels nearest-exact) → 2×3 tiles of 224.
    pub fn ade20k(patch: usize) -> Result<Self> {
        Ok(Self {
            resize: Some([672, 448]),
            image_resample: Resample::Linear,
            tile_grid: Some([2, 3]),
            ..Self::base("ade20k", patch, 224)?
        })
    }

    /// FAIR1M (§7): chips → as many whole 224 tiles as fit (4×4 for 1000×1000), not resized.
    pub fn fair1m(patch: usize) -> Result<Self> {
        Self::base("fair1m", patch, 224)
    }

    /// BDD100K tracking, "tiled" mode (§8): resize the 1280×720 frame to 1120×672 (bicubic) → 3×5 tiles of 224.
    pub fn bdd100k_tiled(patch: usize) -> Result<Self> {
        Ok(Self {
            resize: Some([1120, 672]),
            image_resample: Resample::Cubic,
            tile_grid: Some([3, 5]),
            ..Self::base("bdd100k", patch, 224)?
        })
    }

    /// CamVid (not in the study; our choice): resize 480×360 → 672×448 (bilinear) → 2×3 tiles of 224, as ADE20K.
    pub fn camvid(patch: usize) -> Result<Self> {
        Ok(Self {
            resize: Some([672, 448]),
            image_resample: Resample::Linear,
            tile_grid: Some([2, 3]),
            ..Self::base("camvid", patch, 224)?
        })
    }

    /// The synthetic benchmark: one 224×224 scene is one tile.
    pub fn synthetic(patch: usize) -> Result<Self> {
        Ok(Self {
            tile_grid: Some([1, 1]),
            ..Self::base("synthetic", patch, 224)?
        })
    }

    /// The spec for `dataset` by name (`cityscapes`, `ade20k`, `fair1m`, `bdd100k`, `camvid`, `synthetic`).
    pub fn for_dataset(dataset: &str, patch: usize) -> Result<Self> {
        match dataset {
            "cityscapes" => Self::cityscapes(patch),
            "ade20k" => Self::ade20k(patch),
            "fair1m" => Self::fair1m(patch),
            "bdd100k" => Self::bdd100k_tiled(patch),
            "camvid" => Self::camvid(patch),
            "synthetic" => Self::synthetic(patch),
            other => Err(invalid(
                "dataset",
                other,
                "known: cityscapes, ade20k, fair1m, bdd100k, camvid, synthetic",
            )),
        }
    }

    /// Return a copy with another normalisation order.
    pub fn with_order(mut self, order: NormalizeOrder) -> Self {
        self.order = order;
        self
    }

    /// Check internal consistency (non-zero sizes, `grid * patch == input`).
    pub fn validate(&self) -> Result<()> {
        if self.tile == 0 || self.input == 0 || self.patch == 0 {
            return Err(invalid(
                "tile/input/patch",
                format!("{}/{}/{}", self.tile, self.input, self.patch),
                "must be non-zero",
            ));
        }
        if self.grid * self.patch != self.input {
            return Err(invalid(
                "grid",
                self.grid,
                format!(
                    "grid * patch ({}) must equal input ({})",
                    self.patch, self.input
                ),
            ));
        }
        if let Some([w, h]) = self.resize
            && (w == 0 || h == 0)
        {
            return Err(invalid("resize", format!("{w}x{h}"), "must be non-zero"));
        }
        if let Some([r, c]) = self.tile_grid
            && (r == 0 || c == 0)
        {
            return Err(invalid("tile_grid", format!("{r}x{c}"), "must be non-zero"));
        }
        Ok(())
    }

    /// Patches per tile (`grid²`).
    pub fn patches_per_tile(&self) -> usize {
        self.grid * self.grid
    }

    /// Tile grid `(rows, cols)` for an image of `width × height` (after the whole-image resize, if any).
    pub fn tiles_for(&self, width: usize, height: usize) -> Result<(usize, usize)> {
        let (w, h) = match self.resize {
            Some([w, h]) => (w, h),
            None => (width, height),
        };
        match self.tile_grid {
            Some([r, c]) => {
                if r * self.tile > h || c * self.tile > w {
                    Err(invalid(
                        "image size",
                        format!("{w}x{h}"),
                        format!("too small for {r}x{c} tiles of {}", self.tile),
                    ))
                } else {
                    Ok((r, c))
                }
            }
            None => Ok((h / self.tile, w / self.tile)),
        }
    }
}
