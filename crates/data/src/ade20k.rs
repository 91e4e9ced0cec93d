//! ADE20K / SceneParse150 (protocol §4.2): class names, the seeded greedy few-shot selection, and the reader.
//!
//! Layout: `ADEChallengeData2016/images/{training,validation}/*.jpg` and
//! `ADEChallengeData2016/annotations/{training,validation}/*.png` (same stem). Labels are 0–150 with
//! 0 = "other" (ignored by the metric). Images have varying sizes; the tiling protocol resizes them to
//! 672×448 ([`crate::spec::TileSpec::ade20k`]).
//!
//! # Few-shot selection (our seeded version of the study's greedy procedure)
//!
//! The study takes "4 per class" train images (600) from the last 2,500 entries of the training listing and
//! "2 per class" val images (300) from the 2,000 val images, but its order came from `os.listdir` and Python
//! set iteration, so its list is not recoverable. [`select`] defines a reproducible version:
//!
//! 1. candidates = the split's images sorted by file name; for training only the **last 2,500** of them;
//! 2. for each candidate, its class set = the classes 1–150 present in the label map resized to 672×448
//!    (nearest-exact) and sampled on the 42×28 patch grid (nearest-exact) — i.e. exactly the classes that
//!    occur among the 14×14 patch labels of its 2×3 tiles;
//! 3. the candidates are put in the order `seeded_permutation(n, seed)` (ChaCha8 Fisher–Yates,
//!    [`crate::select::seeded_permutation`]);
//! 4. for class c = 150, 149, …, 1: take, in that order, the first `per_class` not-yet-selected candidates
//!    whose class set contains c (fewer if fewer exist);
//! 5. the selection is the taken images in the order they were taken (at most 150·`per_class`).

use std::path::{Path, PathBuf};

use patchlens_image::{Interpolation, resize_u8};
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::sample::{LabelCheck, SegEntry, SegmentationSplit, pair_dirs, read_label};
use crate::select::{ClassSet, greedy_select};

/// The 150 class names, index i ↔ label id i + 1 (label 0 is "other", ignored).
pub const ADE20K_CLASSES: [&str; 150] = [
    "wall",
    "building",
    "sky",
    "floor",
    "tree",
    "ceiling",
    "road",
    "bed",
    "windowpane",
    "grass",
    "cabinet",
    "sidewalk",
    "person",
    "earth",
    "door",
    "table",
    "mountain",
    "plant",
    "curtain",
    "chair",
    "car",
    "water",
    "painting",
    "sofa",
    "shelf",
    "house",
    "sea",
    "mirror",
    "rug",
    "field",
    "armchair",
    "seat",
    "fence",
    "desk",
    "rock",
    "wardrobe",
    "lamp",
    "bathtub",
    "railing",
    "cushion",
    "base",
    "box",
    "column",
    "signboard",
    "chest of drawers",
    "counter",
    "sand",
    "sink",
    "skyscraper",
    "fireplace",
    "refrigerator",
    "grandstand",
    "path",
    "stairs",
    "runway",
    "case",
    "pool table",
    "pillow",
    "screen door",
    "stairway",
    "river",
    "bridge",
    "bookcase",
    "blind",
    "coffee table",
    "toilet",
    "flower",
    "book",
    "hill",
    "bench",
    "countertop",
    "stove",
    "palm",
    "kitchen island",
    "computer",
    "swivel chair",
    "boat",
    "bar",
    "arcade machine",
    "hovel",
    "bus",
    "towel",
    "light",
    "truck",
    "tower",
    "chandelier",
    "awning",
    "streetlight",
    "booth",
    "television receiver",
    "airplane",
    "dirt track",
    "apparel",
    "pole",
    "land",
    "bannister",
    "escalator",
    "ottoman",
    "bottle",
    "buffet",
    "poster",
    "stage",
    "van",
    "ship",
    "fountain",
    "conveyer belt",
    "canopy",
    "washer",
    "plaything",
    "swimming pool",
    "stool",
    "barrel",
    "basket",
    "waterfall",
    "tent",
    "bag",
    "minibike",
    "cradle",
    "oven",
    "ball",
    "food",
    "step",
    "tank",
    "trade name",
    "microwave",
    "pot",
    "animal",
    "bicycle",
    "lake",
    "dishwasher",
    "screen",
    "blanket",
    "sculpture",
    "hood",
    "sconce",
    "vase",
    "traffic light",
    "tray",
    "ashcan",
    "fan",
    "pier",
    "crt screen",
    "plate",
    "monitor",
    "bulletin board",
    "shower",
    "radiator",
    "glass",
    "clock",
    "flag",
];

/// Number of evaluated classes.
pub const NUM_CLASSES: usize = 150;
/// Largest valid label id.
pub const MAX_LABEL_ID: u8 = 150;
/// The ignored label id.
pub const IGNORE_LABEL: u8 = 0;
/// Size the tiling protocol resizes every image to (width, height).
pub const RESIZE: (usize, usize) = (672, 448);
/// The patch grid (cols, rows) of the 2×3 tiles at patch 16, used for the class sets of the selection.
pub const SELECTION_GRID: (usize, usize) = (42, 28);
/// Number of training-listing entries (from the end) the train selection draws from.
pub const TRAIN_POOL_LAST: usize = 2500;
/// Images per class of the train selection.
pub const TRAIN_PER_CLASS: usize = 4;
/// Images per class of the val selection.
pub const VAL_PER_CLASS: usize = 2;
/// Default selection seed (the study's `np.random.seed`).
pub const DEFAULT_SEED: u64 = 32635;

/// Name of label id `id` (1–150), `"other"` for 0, `None` above 150.
pub fn class_name(id: u8) -> Option<&'static str> {
    match id {
        0 => Some("other"),
        1..=150 => Some(ADE20K_CLASSES[id as usize - 1]),
        _ => None,
    }
}

/// The two ADE20K splits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdeSplit {
    /// `training` (20,210 images).
    Training,
    /// `validation` (2,000 images).
    Validation,
}

impl AdeSplit {
    /// Folder name.
    pub fn dir(self) -> &'static str {
        match self {
            AdeSplit::Training => "training",
            AdeSplit::Validation => "validation",
        }
    }
}

/// The `ADEChallengeData2016` folder: `root` itself or `root/ADEChallengeData2016`.
pub fn dataset_dir(root: &Path) -> PathBuf {
    let inner = root.join("ADEChallengeData2016");
    if inner.is_dir() {
        inner
    } else {
        root.to_path_buf()
    }
}

/// Open a whole split (items sorted by file name). Every image without an annotation and every
/// annotation without an image is listed in the error.
pub fn open(root: &Path, split: AdeSplit) -> Result<SegmentationSplit> {
    let dir = dataset_dir(root);
    let entries = pair_dirs(
        "ade20k",
        root,
        &dir.join("images").join(split.dir()),
        ".jpg",
        &dir.join("annotations").join(split.dir()),
        ".png",
    )?;
    Ok(make_split(root, split.dir(), entries))
}

fn make_split(root: &Path, name: &str, entries: Vec<SegEntry>) -> SegmentationSplit {
    SegmentationSplit {
        dataset: "ade20k",
        split: name.to_owned(),
        root: root.to_path_buf(),
        entries,
        label_max: MAX_LABEL_ID,
        ignore_label: IGNORE_LABEL,
        check: LabelCheck::Strict,
        expected_size: None,
    }
}

/// Parameters of a few-shot selection (see the module docs for the algorithm).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectionSpec {
    /// Split to select from.
    pub split: AdeSplit,
    /// Images per class.
    pub per_class: usize,
    /// Use only the last N entries of the sorted listing (`None` = all).
    pub pool_last: Option<usize>,
    /// Permutation seed.
    pub seed: u64,
}

impl SelectionSpec {
    /// The study's train selection: 4 per class from the last 2,500 training images (≤ 600 images).
    pub fn train(seed: u64) -> Self {
        Self {
            split: AdeSplit::Training,
            per_class: TRAIN_PER_CLASS,
            pool_last: Some(TRAIN_POOL_LAST),
            seed,
        }
    }

    /// The study's val selection: 2 per class from all validation images (≤ 300 images).
    pub fn val(seed: u64) -> Self {
        Self {
            split: AdeSplit::Validation,
            per_class: VAL_PER_CLASS,
            pool_last: None,
            seed,
        }
    }
}

/// Classes 1–150 present on the 42×28 patch grid of a label map resized to 672×448 (nearest-exact both).
pub fn selection_classes(label: &patchlens_image::ImageU8) -> ClassSet {
    let big = resize_u8(label, RESIZE.0, RESIZE.1, Interpolation::NearestExact);
    let grid = resize_u8(
        &big,
        SELECTION_GRID.0,
        SELECTION_GRID.1,
        Interpolation::NearestExact,
    );
    let mut s = ClassSet::from_labels(&grid.data);
    // Label 0 is ignored: never a selection class.
    s.0[0] &= !1;
    s
}

/// Run the seeded greedy selection and return the selected items as a split named
/// `"<split>_<per_class>per_class_seed<seed>"`. Annotations are decoded one at a time (the whole pool is
/// read once); an out-of-range label id is an error under the split's [`LabelCheck::Strict`].
pub fn select(root: &Path, spec: &SelectionSpec) -> Result<SegmentationSplit> {
    let full = open(root, spec.split)?;
    let start = spec
        .pool_last
        .map_or(0, |n| full.entries.len().saturating_sub(n));
    let pool: Vec<SegEntry> = full.entries[start..].to_vec();
    let mut presence = Vec::with_capacity(pool.len());
    for e in &pool {
        let mut label = read_label(&e.label)?;
        crate::sample::check_label_range(
            "ade20k",
            &e.label,
            &mut label,
            MAX_LABEL_ID,
            IGNORE_LABEL,
            LabelCheck::Strict,
        )?;
        presence.push(selection_classes(&label));
    }
    let classes: Vec<u8> = (1..=MAX_LABEL_ID).rev().collect();
    let picked = greedy_select(&presence, &classes, spec.per_class, spec.seed);
    if picked.is_empty() && !pool.is_empty() {
        return Err(DataError::Parse {
            path: dataset_dir(root).join("annotations").join(spec.split.dir()),
            reason: "no annotation contains any class 1-150".into(),
        });
    }
    let entries = picked.into_iter().map(|i| pool[i].clone()).collect();
    let name = format!(
        "{}_{}per_class_seed{}",
        spec.split.dir(),
        spec.per_class,
        spec.seed
    );
    Ok(make_split(root, &name, entries))
}

/// Build a split from an explicit list of ids (e.g. a saved selection), checking that all files exist.
pub fn open_ids(root: &Path, split: AdeSplit, ids: &[String]) -> Result<SegmentationSplit> {
    let dir = dataset_dir(root);
    let entries: Vec<SegEntry> = ids
        .iter()
        .map(|id| SegEntry {
            id: id.clone(),
            image: dir
                .join("images")
                .join(split.dir())
                .join(format!("{id}.jpg")),
            label: dir
                .join("annotations")
                .join(split.dir())
                .join(format!("{id}.png")),
        })
        .collect();
    let paths: Vec<&Path> = entries
        .iter()
        .flat_map(|e| [e.image.as_path(), e.label.as_path()])
        .collect();
    crate::sample::require_files("ade20k", root, &paths)?;
    Ok(make_split(root, split.dir(), entries))
}
