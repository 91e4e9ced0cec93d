//! CamVid in the SegNet layout: `train/ trainannot/ val/ valannot/ test/ testannot/`, 480×360 PNGs.
//!
//! Labels are 0–10 (the 11 classes of [`CAMVID_CLASSES`]) and 11 = void.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::sample::{LabelCheck, SegmentationSplit, pair_dirs};

/// The 11 CamVid classes (SegNet version), index = label id.
pub const CAMVID_CLASSES: [&str; 11] = [
    "Sky",
    "Building",
    "Pole",
    "Road",
    "Pavement",
    "Tree",
    "SignSymbol",
    "Fence",
    "Car",
    "Pedestrian",
    "Bicyclist",
];
/// The void label id.
pub const VOID_LABEL: u8 = 11;
/// Largest valid label id (void).
pub const MAX_LABEL_ID: u8 = 11;
/// Image size of the SegNet version (width, height).
pub const IMAGE_SIZE: (usize, usize) = (480, 360);

/// The CamVid splits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CamVidSplit {
    /// `train/` + `trainannot/`.
    Train,
    /// `val/` + `valannot/`.
    Val,
    /// `test/` + `testannot/`.
    Test,
}

impl CamVidSplit {
    /// Image folder name.
    pub fn dir(self) -> &'static str {
        match self {
            CamVidSplit::Train => "train",
            CamVidSplit::Val => "val",
            CamVidSplit::Test => "test",
        }
    }
}

/// Open a split; items sorted by file name. Images without labels (and vice versa) are all listed.
/// Sizes are not fixed (any size is accepted as long as image and label agree).
pub fn open(root: &Path, split: CamVidSplit) -> Result<SegmentationSplit> {
    let d = split.dir();
    let entries = pair_dirs(
        "camvid",
        root,
        &root.join(d),
        ".png",
        &root.join(format!("{d}annot")),
        ".png",
    )?;
    Ok(SegmentationSplit {
        dataset: "camvid",
        split: d.to_owned(),
        root: root.to_path_buf(),
        entries,
        label_max: MAX_LABEL_ID,
        ignore_label: VOID_LABEL,
        check: LabelCheck::Strict,
        expected_size: None,
    })
}
