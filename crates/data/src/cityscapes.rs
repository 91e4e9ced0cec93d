//! Cityscapes (protocol §4.1): label table, the study's few-shot pools, and the split reader.
//!
//! Layout under the dataset root:
//! `leftImg8bit/<split>/<city>/<id>_leftImg8bit.png` and `gtFine/<split>/<city>/<id>_gtFine_labelIds.png`,
//! with ids `<city>_<seq>_<frame>`. Images are 2048×1024. Labels are raw labelIds 0–33 (void ids
//! included, as in the study); [`CITYSCAPES_LABELS`] maps them to trainIds and the 19 evaluation classes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;

use crate::error::{DataError, Result};
use crate::sample::{
    LabelCheck, SegEntry, SegmentationSplit, list_dirs, list_files, require_dir, require_files,
    stem_without,
};

/// One row of cityscapesScripts' `labels.py`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CityscapesLabel {
    /// Class name.
    pub name: &'static str,
    /// labelId (the value stored in `*_gtFine_labelIds.png`).
    pub id: u8,
    /// trainId: 0–18 for the 19 evaluation classes, 255 for ignored ids.
    pub train_id: u8,
    /// Category name.
    pub category: &'static str,
    /// Category id.
    pub category_id: u8,
    /// Whether the class has instance annotations.
    pub has_instances: bool,
    /// Whether the official evaluation ignores the class.
    pub ignore_in_eval: bool,
    /// Colour of the official palette (RGB).
    pub color: [u8; 3],
}

#[allow(clippy::too_many_arguments)]
const fn l(
    name: &'static str,
    id: u8,
    train_id: u8,
    category: &'static str,
    category_id: u8,
    has_instances: bool,
    ignore_in_eval: bool,
    color: [u8; 3],
) -> CityscapesLabel {
    CityscapesLabel {
        name,
        id,
        train_id,
        category,
        category_id,
        has_instances,
        ignore_in_eval,
        color,
    }
}

/// The 34 labelIds 0–33 of cityscapesScripts `labels.py` (index = labelId). The `license plate` row
/// (id −1) is omitted: it never appears in `labelIds` PNGs.
pub const CITYSCAPES_LABELS: [CityscapesLabel; 34] = [
    l("unlabeled", 0, 255, "void", 0, false, true, [0, 0, 0]),
    l("ego vehicle", 1, 255, "void", 0, false, true, [0, 0, 0]),
    l(
        "rectification border",
        2,
        255,
        "void",
        0,
        false,
        true,
        [0, 0, 0],
    ),
    l("out of roi", 3, 255, "void", 0, false, true, [0, 0, 0]),
    l("static", 4, 255, "void", 0, false, true, [0, 0, 0]),
    l("dynamic", 5, 255, "void", 0, false, true, [111, 74, 0]),
    l("ground", 6, 255, "void", 0, false, true, [81, 0, 81]),
    l("road", 7, 0, "flat", 1, false, false, [128, 64, 128]),
    l("sidewalk", 8, 1, "flat", 1, false, false, [244, 35, 232]),
    l("parking", 9, 255, "flat", 1, false, true, [250, 170, 160]),
    l(
        "rail track",
        10,
        255,
        "flat",
        1,
        false,
        true,
        [230, 150, 140],
    ),
    l(
        "building",
        11,
        2,
        "construction",
        2,
        false,
        false,
        [70, 70, 70],
    ),
    l(
        "wall",
        12,
        3,
        "construction",
        2,
        false,
        false,
        [102, 102, 156],
    ),
    l(
        "fence",
        13,
        4,
        "construction",
        2,
        false,
        false,
        [190, 153, 153],
    ),
    l(
        "guard rail",
        14,
        255,
        "construction",
        2,
        false,
        true,
        [180, 165, 180],
    ),
    l(
        "bridge",
        15,
        255,
        "construction",
        2,
        false,
        true,
        [150, 100, 100],
    ),
    l(
        "tunnel",
        16,
        255,
        "construction",
        2,
        false,
        true,
        [150, 120, 90],
    ),
    l("pole", 17, 5, "object", 3, false, false, [153, 153, 153]),
    l(
        "polegroup",
        18,
        255,
        "object",
        3,
        false,
        true,
        [153, 153, 153],
    ),
    l(
        "traffic light",
        19,
        6,
        "object",
        3,
        false,
        false,
        [250, 170, 30],
    ),
    l(
        "traffic sign",
        20,
        7,
        "object",
        3,
        false,
        false,
        [220, 220, 0],
    ),
    l(
        "vegetation",
        21,
        8,
        "nature",
        4,
        false,
        false,
        [107, 142, 35],
    ),
    l("terrain", 22, 9, "nature", 4, false, false, [152, 251, 152]),
    l("sky", 23, 10, "sky", 5, false, false, [70, 130, 180]),
    l("person", 24, 11, "human", 6, true, false, [220, 20, 60]),
    l("rider", 25, 12, "human", 6, true, false, [255, 0, 0]),
    l("car", 26, 13, "vehicle", 7, true, false, [0, 0, 142]),
    l("truck", 27, 14, "vehicle", 7, true, false, [0, 0, 70]),
    l("bus", 28, 15, "vehicle", 7, true, false, [0, 60, 100]),
    l("caravan", 29, 255, "vehicle", 7, true, true, [0, 0, 90]),
    l("trailer", 30, 255, "vehicle", 7, true, true, [0, 0, 110]),
    l("train", 31, 16, "vehicle", 7, true, false, [0, 80, 100]),
    l("motorcycle", 32, 17, "vehicle", 7, true, false, [0, 0, 230]),
    l("bicycle", 33, 18, "vehicle", 7, true, false, [119, 11, 32]),
];

/// Number of raw labelIds (the k-NN / linear-probe label space of the study).
pub const NUM_LABEL_IDS: usize = 34;
/// Largest valid labelId.
pub const MAX_LABEL_ID: u8 = 33;
/// trainId of ignored classes.
pub const IGNORE_TRAIN_ID: u8 = 255;
/// The 19 evaluation labelIds, in trainId order (trainId i ↔ `EVAL_LABEL_IDS[i]`).
pub const EVAL_LABEL_IDS: [u8; 19] = [
    7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33,
];
/// The "easy" class group of the study's figures (labelIds of road, vegetation, building, car, sky).
pub const EASY_LABEL_IDS: [u8; 5] = [7, 21, 11, 26, 23];
/// The "hard" class group (the other 14 evaluation classes).
pub const HARD_LABEL_IDS: [u8; 14] = [24, 33, 20, 22, 8, 17, 13, 28, 27, 19, 25, 12, 31, 32];
/// Required image size (width, height).
pub const IMAGE_SIZE: (usize, usize) = (2048, 1024);

/// trainId of a labelId (255 for ignored ids and ids outside 0–33).
pub fn train_id(label_id: u8) -> u8 {
    CITYSCAPES_LABELS
        .get(label_id as usize)
        .map_or(IGNORE_TRAIN_ID, |l| l.train_id)
}

/// The 256-entry labelId → trainId lookup table.
pub fn train_id_lut() -> [u8; 256] {
    let mut lut = [IGNORE_TRAIN_ID; 256];
    for l in &CITYSCAPES_LABELS {
        lut[l.id as usize] = l.train_id;
    }
    lut
}

/// Names of the 34 labelIds, index = labelId.
pub fn label_names() -> Vec<&'static str> {
    CITYSCAPES_LABELS.iter().map(|l| l.name).collect()
}

#[derive(Deserialize)]
struct PoolJson {
    split: String,
    ids: Vec<String>,
}

#[derive(Deserialize)]
struct SplitsJson {
    pools: BTreeMap<String, PoolJson>,
    val: PoolJson,
}

/// A named list of Cityscapes image ids in a dataset split (`train` or `val`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool {
    /// Pool name (`set2_36`, `set4_72`, `set4prime_72`, `set8_144`, `val30`).
    pub name: String,
    /// Cityscapes split folder the ids live in.
    pub split: String,
    /// Image ids in the authors' row order (`set8_144` lists two ids twice, as the study does).
    pub ids: Vec<String>,
}

/// The study's pool names: the four train pools and the 30-image evaluation set.
pub const POOL_NAMES: [&str; 5] = ["set2_36", "set4_72", "set4prime_72", "set8_144", "val30"];
/// The default train pool (the "72-image split").
pub const DEFAULT_TRAIN_POOL: &str = "set4_72";
/// The evaluation pool.
pub const VAL_POOL: &str = "val30";

static SPLITS: OnceLock<BTreeMap<String, Pool>> = OnceLock::new();

fn pools() -> &'static BTreeMap<String, Pool> {
    SPLITS.get_or_init(|| {
        let parsed: SplitsJson =
            serde_json::from_str(include_str!("../data/cityscapes_splits.json"))
                .expect("embedded data/cityscapes_splits.json is valid (checked by tests)");
        let mut m: BTreeMap<String, Pool> = parsed
            .pools
            .into_iter()
            .map(|(name, p)| {
                (
                    name.clone(),
                    Pool {
                        name,
                        split: p.split,
                        ids: p.ids,
                    },
                )
            })
            .collect();
        m.insert(
            VAL_POOL.to_owned(),
            Pool {
                name: VAL_POOL.to_owned(),
                split: parsed.val.split,
                ids: parsed.val.ids,
            },
        );
        m
    })
}

/// The pool called `name` (one of [`POOL_NAMES`]).
pub fn pool(name: &str) -> Result<&'static Pool> {
    pools().get(name).ok_or_else(|| DataError::UnknownSplit {
        dataset: "cityscapes",
        name: name.to_owned(),
        known: POOL_NAMES.join(", "),
    })
}

/// The city of an id (`krefeld_000000_011655` → `krefeld`).
pub fn city_of(id: &str) -> &str {
    id.split('_').next().unwrap_or(id)
}

/// Image path of `id` in `split`.
pub fn image_path(root: &Path, split: &str, id: &str) -> PathBuf {
    root.join("leftImg8bit")
        .join(split)
        .join(city_of(id))
        .join(format!("{id}_leftImg8bit.png"))
}

/// labelIds path of `id` in `split`.
pub fn label_path(root: &Path, split: &str, id: &str) -> PathBuf {
    root.join("gtFine")
        .join(split)
        .join(city_of(id))
        .join(format!("{id}_gtFine_labelIds.png"))
}

fn split_of(name: &str, root: &Path, entries: Vec<SegEntry>) -> SegmentationSplit {
    SegmentationSplit {
        dataset: "cityscapes",
        split: name.to_owned(),
        root: root.to_path_buf(),
        entries,
        label_max: MAX_LABEL_ID,
        ignore_label: 0,
        check: LabelCheck::Strict,
        expected_size: Some(IMAGE_SIZE),
    }
}

/// Open one of the study's pools (see [`POOL_NAMES`]) under `root`. Every missing image or label file is
/// listed in the error. Items keep the pool's row order (duplicates of `set8_144` included).
pub fn open_pool(root: &Path, name: &str) -> Result<SegmentationSplit> {
    let p = pool(name)?;
    let entries: Vec<SegEntry> = p
        .ids
        .iter()
        .map(|id| SegEntry {
            id: id.clone(),
            image: image_path(root, &p.split, id),
            label: label_path(root, &p.split, id),
        })
        .collect();
    let paths: Vec<&Path> = entries
        .iter()
        .flat_map(|e| [e.image.as_path(), e.label.as_path()])
        .collect();
    require_files("cityscapes", root, &paths)?;
    Ok(split_of(name, root, entries))
}

/// Open a whole Cityscapes split folder (`train`, `val`, `test`) by listing
/// `leftImg8bit/<split>/<city>/`; items sorted by city then id. Images without labels are listed as missing.
pub fn open_split(root: &Path, split: &str) -> Result<SegmentationSplit> {
    let img_root = root.join("leftImg8bit").join(split);
    require_dir("cityscapes", root, &img_root)?;
    let mut entries = Vec::new();
    for city in list_dirs(&img_root)? {
        for img in list_files(&city, "_leftImg8bit.png")? {
            let id = stem_without(&img, "_leftImg8bit.png");
            entries.push(SegEntry {
                label: label_path(root, split, &id),
                image: img,
                id,
            });
        }
    }
    let paths: Vec<&Path> = entries.iter().map(|e| e.label.as_path()).collect();
    require_files("cityscapes", root, &paths)?;
    Ok(split_of(split, root, entries))
}
