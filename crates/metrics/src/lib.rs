//! patchlens-metrics: the evaluation metrics of the patchlens study, on plain arrays (no model, no burn).
//!
//! - [`labels`]: label spaces as data (Cityscapes 34 labelIds → 19 classes, ADE20K 150, CamVid 11, a
//!   folder dataset's `K` classes with ignore 255), with ignore ids, categories, absent-class policy and
//!   palettes.
//! - [`confusion`]: a streaming `u64` confusion matrix ([`ConfusionMatrix`]) with IoU per class, mIoU, pixel
//!   accuracy and category IoU, replicating cityscapesScripts' `evalPixelLevelSemanticLabeling` semantics
//!   (predicted void = wrong, NaN for classes absent from ground truth and prediction) and the CSAILVision
//!   ADE20K `intersectionAndUnion` semantics; [`patch_accuracy`].
//! - [`segmap`]: label maps from tile patch predictions (nearest-exact upsampling and stitching, OpenCV
//!   `INTER_NEAREST_EXACT` of OpenCV 4 or 5) and label PNG reading/writing (grayscale and colour).
//! - [`retrieval`]: FAIR1M instance identification / object retrieval counts.
//! - [`tracking`]: BDD100K association accuracy per frame gap, averaged per frame pair.
//! - [`davis`]: DAVIS J (region IoU) and F (boundary F-measure), per-object statistics and J&F aggregation.
//!
//! All sizes are checked: a mismatch is a [`MetricsError::SizeMismatch`] naming both sizes, a label outside
//! the label space is a [`MetricsError::LabelOutOfRange`] naming the value.

pub mod confusion;
pub mod davis;
pub mod error;
pub mod labels;
pub mod retrieval;
pub mod segmap;
pub mod tracking;

pub use confusion::{ConfusionMatrix, RawLabel, SegmentationScores, nan_mean, patch_accuracy};
pub use davis::{
    DEFAULT_BOUND_TH, DavisSummary, Mask, ObjectScores, Statistics, boundary_f,
    evaluate_semisupervised_sequence, jaccard, statistics,
};
pub use error::{MetricsError, Result};
pub use labels::{AbsentClassPolicy, Category, IgnoreAlias, LabelSpace};
pub use retrieval::{
    FAIR1M_STUDY_SUPERCATEGORY, MissingCorrespondence, RetrievalCounts, RetrievalInput,
    non_background_positions, retrieval_counts,
};
pub use segmap::{
    LabelMap, NearestExact, TileLayout, grids_to_label_size, nearest_exact_indices, read_label_png,
    resize_nearest_exact, stitch_grids, stitch_tiles_upsampled, write_color_png, write_label_png,
};
pub use tracking::{
    DeltaAccuracy, FrameObjects, FramePairOutcome, accuracy_by_delta, score_frame_pair,
};
