//! Protocol constants for tracking (protocol §8) and DAVIS label propagation (DINO's defaults), kept
//! in one place and serialisable into results files.

use serde::{Deserialize, Serialize};

use crate::association::{AssociationConfig, Similarity, TrackedObject};
use crate::error::{Result, TrackError};
use crate::feature_map::{FeatureMap, TileLayout};
use crate::propagation::PropagationConfig;
use crate::roi_align::{BoxXyxy, roi_align};

/// BDD100K MOT tracking constants (protocol §8; authors' `tracking/get_bbox_embeds.py` and
/// `jupyter_notebooks/bbox_get_embeds_compare.ipynb`).
pub mod bdd {
    /// Width of a BDD100K frame as stored (pixels).
    pub const SOURCE_WIDTH: usize = 1280;
    /// Height of a BDD100K frame as stored (pixels).
    pub const SOURCE_HEIGHT: usize = 720;
    /// Width frames are resized to (bicubic, OpenCV `INTER_CUBIC`) before encoding.
    pub const FRAME_WIDTH: usize = 1120;
    /// Height frames are resized to.
    pub const FRAME_HEIGHT: usize = 672;
    /// Side of the square tiles in tiled mode.
    pub const TILE: usize = 224;
    /// RoIAlign output side (7×7 bins).
    pub const ROI_OUTPUT_SIZE: usize = 7;
    /// RoIAlign `sampling_ratio` (-1 = adaptive).
    pub const ROI_SAMPLING_RATIO: i32 = -1;
    /// RoIAlign `aligned`.
    pub const ROI_ALIGNED: bool = false;
    /// Frame gaps evaluated: `range(1, 61, 2)` = 1, 3, …, 59.
    pub const DELTA_FIRST: usize = 1;
    /// Last frame gap evaluated.
    pub const DELTA_LAST: usize = 59;
    /// Step between evaluated frame gaps.
    pub const DELTA_STEP: usize = 2;
    /// Step between the gaps plotted in the paper's figures (`range(1, 61, 4)` = 1, 5, …, 57).
    pub const PLOT_DELTA_STEP: usize = 4;
    /// Number of validation videos used (the first 4 label files in sorted order).
    pub const NUM_VIDEOS: usize = 4;
    /// BDD100K MOT categories (the authors' `CLASSES`).
    pub const CATEGORIES: [&str; 8] = [
        "pedestrian",
        "rider",
        "car",
        "bus",
        "truck",
        "bicycle",
        "motorcycle",
        "train",
    ];

    /// The evaluated frame gaps, 1, 3, …, 59.
    pub fn deltas() -> Vec<usize> {
        (DELTA_FIRST..=DELTA_LAST).step_by(DELTA_STEP).collect()
    }

    /// The plotted frame gaps, 1, 5, …, 57.
    pub fn plotted_deltas() -> Vec<usize> {
        (DELTA_FIRST..=DELTA_LAST)
            .step_by(PLOT_DELTA_STEP)
            .collect()
    }
}

/// DAVIS-2017 label propagation defaults (DINO `eval_video_segmentation.py` argument defaults).
pub mod davis {
    /// `--n_last_frames`: previous frames kept as context besides the first frame.
    pub const N_LAST_FRAMES: usize = 7;
    /// `--topk`: neighbours accumulated per target patch.
    pub const TOPK: usize = 5;
    /// `--size_mask_neighborhood`: radius (in patches) of the square source window; 0 = unrestricted.
    pub const SIZE_MASK_NEIGHBORHOOD: usize = 12;
    /// Softmax temperature (hard-coded `/ 0.1` in DINO).
    pub const TEMPERATURE: f32 = 0.1;
    /// `read_frame` `scale_size`: the short side frames are resized to.
    pub const SCALE_SIZE: usize = 480;

    /// DINO's `read_frame` target size `(height, width)` for an `ori_h × ori_w` frame with the default
    /// `scale_size = [480]`: the short side becomes `scale_size` and the long side
    /// `floor(scale_size * long / short / 64) * 64` (e.g. 854×480 → 832×480).
    pub fn frame_size(ori_h: usize, ori_w: usize, scale_size: usize) -> (usize, usize) {
        if ori_h > ori_w {
            let th = (scale_size as f64 * ori_h as f64) / ori_w as f64;
            (((th / 64.0).floor() * 64.0) as usize, scale_size)
        } else {
            let tw = (scale_size as f64 * ori_w as f64) / ori_h as f64;
            (scale_size, ((tw / 64.0).floor() * 64.0) as usize)
        }
    }
}

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
    pub roi: crate::roi_align::RoiAlignConfig,
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
            roi: crate::roi_align::RoiAlignConfig::protocol(patch),
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

/// DINO's DAVIS propagation defaults as a [`PropagationConfig`].
pub fn davis_propagation_defaults() -> PropagationConfig {
    PropagationConfig {
        n_last_frames: davis::N_LAST_FRAMES,
        topk: davis::TOPK,
        size_mask_neighborhood: davis::SIZE_MASK_NEIGHBORHOOD,
        temperature: davis::TEMPERATURE,
    }
}
