//! The tracking protocol (protocol §8) for one model, serialisable into results files, and the protocol
//! constants of BDD100K tracking and DAVIS label propagation ([`bdd`], [`davis`]).
//!
//! The constants themselves live in the leaf module `constants` (re-exported here as
//! `protocol::bdd` / `protocol::davis`), so that `association`, `roi_align` and `propagation` read
//! their defaults without depending on this module, which builds on them.

use serde::{Deserialize, Serialize};

pub use crate::constants::{bdd, davis};

use crate::association::{AssociationConfig, Similarity, TrackedObject};
use crate::error::{Result, TrackError};
use crate::feature_map::{FeatureMap, TileLayout};
use crate::propagation::PropagationConfig;
use crate::roi_align::{BoxXyxy, RoiAlignConfig, roi_align};

/// How a BDD frame is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EncodingMode {
    /// 3×5 independent 224×224 tiles, token grids stitched.
    Tiled,
    /// The whole 1120×672 frame in one pass (position embeddings interpolated).
    Full,
}

/// The full BDD tracking protocol for one model, written into results files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BddTrackingProtocol {
    /// Stored frame size `(width, height)`.
    pub source_size: (usize, usize),
    /// Encoded frame size `(width, height)`.
    pub frame_size: (usize, usize),
    /// ViT patch size.
    pub patch: usize,
    /// Tiled or full encoding.
    pub mode: EncodingMode,
    /// Tile layout (tiled mode; in full mode the layout of the same grid as one tile).
    pub layout: TileLayout,
    /// Feature grid `(rows, cols)` (42×70 for patch 16, 48×80 for patch 14).
    pub grid: (usize, usize),
    /// RoIAlign setting.
    pub roi: RoiAlignConfig,
    /// Association setting (frame gaps, similarity).
    pub association: AssociationConfig,
}

impl BddTrackingProtocol {
    /// The protocol for a `patch`-pixel model in `mode`, with dot-product similarity.
    /// Errors if 224 or the frame is not a whole number of patches.
    pub fn new(patch: usize, mode: EncodingMode) -> Result<Self> {
        let tiled = TileLayout::for_frame(bdd::FRAME_HEIGHT, bdd::FRAME_WIDTH, bdd::TILE, patch)?;
        let layout = match mode {
            EncodingMode::Tiled => tiled,
            EncodingMode::Full => TileLayout {
                tiles_down: 1,
                tiles_across: 1,
                tile_rows: tiled.rows(),
                tile_cols: tiled.cols(),
            },
        };
        Ok(Self {
            source_size: (bdd::SOURCE_WIDTH, bdd::SOURCE_HEIGHT),
            frame_size: (bdd::FRAME_WIDTH, bdd::FRAME_HEIGHT),
            patch,
            mode,
            layout,
            grid: (layout.rows(), layout.cols()),
            roi: RoiAlignConfig::protocol(patch),
            association: AssociationConfig {
                deltas: bdd::deltas(),
                similarity: Similarity::Dot,
            },
        })
    }
}

/// One ground-truth object of a BDD100K frame, box in the stored frame's pixel coordinates (1280×720).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BddObject {
    /// Track id (`labels[i].id`).
    pub id: String,
    /// Category (`labels[i].category`).
    pub category: String,
    /// `box2d` in stored-frame pixels.
    pub box2d: BoxXyxy,
}

impl BddTrackingProtocol {
    /// Embed a frame's objects: rescale each box from `source_size` to `frame_size` (f64, like the
    /// authors), RoIAlign it on `map` with [`Self::roi`], and wrap the flattened `[D, 7, 7]` vector as a
    /// [`TrackedObject`] ready for [`crate::AssociationEvaluator::push_frame`].
    ///
    /// Errors: `map` is not the protocol grid (`grid`), or a box coordinate is not finite.
    pub fn embed_objects(
        &self,
        map: &FeatureMap,
        objects: &[BddObject],
    ) -> Result<Vec<TrackedObject>> {
        for (what, left, right) in [
            ("feature map rows vs protocol grid", map.rows(), self.grid.0),
            ("feature map cols vs protocol grid", map.cols(), self.grid.1),
        ] {
            if left != right {
                return Err(TrackError::DimensionMismatch {
                    what: what.to_string(),
                    left,
                    right,
                });
            }
        }
        objects
            .iter()
            .map(|o| {
                let b = o.box2d.rescaled(
                    self.source_size.0,
                    self.source_size.1,
                    self.frame_size.0,
                    self.frame_size.1,
                );
                Ok(TrackedObject {
                    id: o.id.clone(),
                    category: o.category.clone(),
                    vector: roi_align(map, &b, &self.roi)?,
                })
            })
            .collect()
    }
}

/// DINO's DAVIS propagation defaults as a [`PropagationConfig`] (the same as its `Default`).
pub fn davis_propagation_defaults() -> PropagationConfig {
    PropagationConfig::default()
}
