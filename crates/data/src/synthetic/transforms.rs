//! The synthetic transformation benchmark: the FAIR1M-style set ([`crate::transforms`]) applied to the
//! centre tile of a larger synthetic "chip", with exact correspondences from `patchlens-image`.
//!
//! A chip is [`super::scene`] rendered at `chip` × `chip` pixels; the original tile is its centre
//! `tile` × `tile` window, so rotations, rescaling and shifts re-crop real scene content (as FAIR1M tiles
//! do inside their 1000-px chips) instead of padding.

use patchlens_image::{ImageU8, crop};
use serde::{Deserialize, Serialize};

use super::{SyntheticConfig, scene};
use crate::error::{DataError, Result, invalid};
use crate::transforms::{Transform, TransformedTile, apply};

/// Parameters of the transformation benchmark.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransformBenchConfig {
    /// Scene generator; its `size` is the chip side.
    pub scene: SyntheticConfig,
    /// Tile side (224).
    pub tile: usize,
}

impl Default for TransformBenchConfig {
    /// 448-px chips (objects over the whole chip, 4–16 of them), 224 tiles.
    fn default() -> Self {
        Self {
            scene: SyntheticConfig {
                size: 448,
                min_objects: 6,
                max_objects: 16,
                ..SyntheticConfig::default()
            },
            tile: 224,
        }
    }
}

/// An original tile and its transformed versions.
#[derive(Clone, Debug)]
pub struct TransformedScene {
    /// Scene index.
    pub index: usize,
    /// Id of the original tile (`synthetic_<seed>_<index>.224_c`).
    pub id: String,
    /// Original tile pixels `[tile, tile, 3]`.
    pub image: ImageU8,
    /// Original tile class mask `[tile, tile, 1]`.
    pub mask: ImageU8,
    /// One transformed tile per requested transform, in order.
    pub transformed: Vec<TransformedTile>,
}

/// Build scene `index` and apply each of `transforms` to its centre tile (`grid × grid` correspondences).
pub fn transformed_scene(
    cfg: &TransformBenchConfig,
    index: usize,
    transforms: &[Transform],
    grid: usize,
) -> Result<TransformedScene> {
    let chip = cfg.scene.size;
    if cfg.tile == 0 || cfg.tile + 8 > chip || grid == 0 || !cfg.tile.is_multiple_of(grid) {
        return Err(invalid(
            "tile/grid",
            format!("{}/{grid} in a {chip} chip", cfg.tile),
            "need 0 < tile <= chip - 8 and grid dividing tile",
        ));
    }
    let s = scene(&cfg.scene, index)?;
    let o = (chip - cfg.tile) / 2;
    let id = format!("{}.{}_c", s.id, cfg.tile);
    let op = |source| DataError::ImageOp {
        item: id.clone(),
        source: Box::new(source),
    };
    let image = crop(&s.image, o, o, cfg.tile, cfg.tile).map_err(op)?;
    let mask = crop(&s.class_mask, o, o, cfg.tile, cfg.tile).map_err(op)?;
    let transformed = transforms
        .iter()
        .map(|&t| {
            apply(
                &s.image,
                Some(&s.class_mask),
                (o, o, cfg.tile),
                t,
                grid,
                cfg.scene.seed ^ index as u64,
                &id,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(TransformedScene {
        index,
        id,
        image,
        mask,
        transformed,
    })
}
