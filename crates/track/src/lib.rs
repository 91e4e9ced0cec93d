//! patchlens-track: the model-free core of the tracking experiments.
//!
//! Everything here works on plain f32 patch-feature maps `[rows, cols, D]` ([`FeatureMap`]) produced
//! elsewhere by a ViT; there is no model and no burn dependency.
//!
//! * [`feature_map`]: assembling a frame's feature map, either by stitching per-tile token grids
//!   ("tiled" mode, BDD: 3×5 tiles of 224 px → 42×70 for patch 16, 48×80 for patch 14) or from one grid
//!   ("full" mode).
//! * [`mod@roi_align`]: torchvision-exact RoIAlign (`aligned = False`, adaptive sampling,
//!   `spatial_scale = 1/patch`), 7×7×D per box flattened channel-major into one object vector, plus box
//!   rescaling from the stored frame (1280×720) to the encoded frame (1120×672).
//! * [`association`]: the BDD100K temporal association accuracy (same instance / same category per frame
//!   gap Δ, averaged over frame pairs), streaming over frames.
//! * [`propagation`]: DAVIS label propagation exactly as DINO's `eval_video_segmentation.py`
//!   (first frame + 7 previous frames, top-5, 12-patch neighbourhood, temperature 0.1), producing label
//!   maps at the original resolution (J&F lives in `patchlens-metrics`).
//! * [`protocol`]: the protocol constants (one place), serialisable into results files.
//!
//! Typical BDD use: make a [`BddTrackingProtocol`] for the model's patch size and mode; per frame, build
//! the map ([`stitch_tiles`] with `protocol.layout`, or [`FeatureMap::from_tokens`] in full mode), embed
//! the GT objects with [`BddTrackingProtocol::embed_objects`] (box rescaling 1280×720 → 1120×672 +
//! [`roi_align()`]), and push them into an [`AssociationEvaluator`] built from `protocol.association`;
//! call [`AssociationEvaluator::end_video`] between videos and [`AssociationEvaluator::finish`] at the end.
//!
//! Typical DAVIS use: per video, [`LabelPropagator::new`] with the first frame's features and annotation,
//! then [`LabelPropagator::step`] per later frame; each step returns the label map at the annotation's
//! resolution.

pub mod association;
mod constants;
pub mod error;
pub mod feature_map;
mod linalg;
pub mod propagation;
pub mod protocol;
pub mod roi_align;

pub use association::{
    AssociationConfig, AssociationEvaluator, AssociationResult, DeltaResult, PairOutcome,
    Similarity, TrackedObject, evaluate_frame_pair,
};
pub use error::{Result, TrackError};
pub use feature_map::{FeatureMap, TileLayout, stitch_tiles};
pub use propagation::{
    LabelMap, LabelPropagator, PropagatedFrame, PropagationConfig, pil_nearest_indices,
    pil_nearest_resize, propagate_video,
};
pub use protocol::{BddObject, BddTrackingProtocol, EncodingMode};
pub use roi_align::{BoxXyxy, RoiAlignConfig, roi_align, roi_align_many};
