//! Protocol constants, in one place: BDD100K tracking (protocol §8) and DAVIS label propagation (DINO's
//! defaults). A leaf module (it uses no other module of the crate); the public paths are
//! [`crate::protocol::bdd`] and [`crate::protocol::davis`].

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
