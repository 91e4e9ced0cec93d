//! Label spaces as data: which raw ids exist, which of them are evaluation classes, how classes group into
//! categories, how absent classes are scored, and a colour per raw id.
//!
//! A *raw id* is the value stored in a label / prediction map (Cityscapes `labelIds` 0–33, ADE20K 0–150,
//! CamVid 0–11). Each raw id maps either to an *evaluation class* `0..K` or to nothing (void / ignore).
//! Ground-truth pixels whose raw id maps to nothing are ignored; predicted raw ids that map to nothing are
//! counted as wrong (a false negative for the ground-truth class, a false positive for no class), exactly as
//! cityscapesScripts does for predicted void ids.

use serde::Serialize;

use crate::error::{MetricsError, Result};

/// How a class is scored when its IoU denominator (TP + FP + FN) is zero, and how the mean is taken.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum AbsentClassPolicy {
    /// cityscapesScripts: IoU = NaN when TP + FP + FN = 0, and the mean skips NaN classes
    /// (`getScoreAverage`). Pixel accuracy is NaN when no pixel is evaluated.
    Nan,
    /// CSAILVision / the authors' `eval_ade20k.py`: IoU = TP / (ε + TP + FP + FN), the mean runs over all
    /// classes (an absent class scores 0), pixel accuracy = correct / (ε + labelled). ε is `np.spacing(1)`
    /// = 2.220446049250313e-16 there.
    Epsilon(f64),
}

/// A named group of evaluation classes (Cityscapes categories such as "vehicle").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Category {
    /// The category's name.
    pub name: String,
    /// Its evaluation classes (indices into [`LabelSpace::class_names`]); empty for all-void categories.
    pub classes: Vec<usize>,
}

/// A label space: raw ids `0..num_raw`, their mapping to `K` evaluation classes, names and colours.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelSpace {
    /// Short name used in errors and result files ("cityscapes", "ade20k", "camvid", ...).
    pub name: String,
    /// Per raw id (length `num_raw`): its evaluation class, or `None` for void / ignore.
    pub raw_to_eval: Vec<Option<u16>>,
    /// Evaluation class names, length `K`.
    pub class_names: Vec<String>,
    /// Per evaluation class: its raw id (length `K`).
    pub eval_to_raw: Vec<u32>,
    /// Optional class groupings scored like cityscapesScripts' category IoU (empty if none).
    pub categories: Vec<Category>,
    /// How absent classes and means are scored.
    pub absent: AbsentClassPolicy,
    /// Colour per raw id (length `num_raw`) for colour PNGs.
    pub palette: Vec<[u8; 3]>,
}

/// ε used by CSAILVision's scene-parsing evaluation: `np.spacing(1)`.
pub const NP_SPACING_1: f64 = f64::EPSILON;

impl LabelSpace {
    /// Build and validate a label space. `raw_to_eval` has one entry per raw id; every evaluation class
    /// `0..class_names.len()` must be the image of exactly one raw id. With `palette = None` a
    /// deterministic PASCAL-VOC-style palette is generated.
    pub fn new(
        name: &str,
        raw_to_eval: Vec<Option<u16>>,
        class_names: Vec<String>,
        categories: Vec<Category>,
        absent: AbsentClassPolicy,
        palette: Option<Vec<[u8; 3]>>,
    ) -> Result<Self> {
        let k = class_names.len();
        if raw_to_eval.is_empty() || raw_to_eval.len() > 1 << 16 {
            return Err(MetricsError::InvalidArgument {
                what: "label space",
                detail: format!("`{name}` has {} raw ids; need 1..=65536", raw_to_eval.len()),
            });
        }
        let mut eval_to_raw = vec![u32::MAX; k];
        for (raw, e) in raw_to_eval.iter().enumerate() {
            if let Some(e) = *e {
                let e = e as usize;
                if e >= k {
                    return Err(MetricsError::InvalidArgument {
                        what: "label space",
                        detail: format!(
                            "`{name}`: raw id {raw} maps to class {e} but there are only {k} classes"
                        ),
                    });
                }
                if eval_to_raw[e] != u32::MAX {
                    return Err(MetricsError::InvalidArgument {
                        what: "label space",
                        detail: format!(
                            "`{name}`: class {e} is the image of raw ids {} and {raw}",
                            eval_to_raw[e]
                        ),
                    });
                }
                eval_to_raw[e] = raw as u32;
            }
        }
        if let Some(e) = eval_to_raw.iter().position(|&r| r == u32::MAX) {
            return Err(MetricsError::InvalidArgument {
                what: "label space",
                detail: format!("`{name}`: class {e} (`{}`) has no raw id", class_names[e]),
            });
        }
        for c in &categories {
            if let Some(&bad) = c.classes.iter().find(|&&i| i >= k) {
                return Err(MetricsError::InvalidArgument {
                    what: "label space",
                    detail: format!("`{name}`: category `{}` names class {bad} >= {k}", c.name),
                });
            }
        }
        let palette = match palette {
            Some(p) if p.len() == raw_to_eval.len() => p,
            Some(p) => {
                return Err(MetricsError::SizeMismatch {
                    what_a: "palette",
                    a: p.len().to_string(),
                    what_b: "raw ids",
                    b: raw_to_eval.len().to_string(),
                });
            }
            None => voc_palette(raw_to_eval.len()),
        };
        Ok(Self {
            name: name.to_string(),
            raw_to_eval,
            class_names,
            eval_to_raw,
            categories,
            absent,
            palette,
        })
    }

    /// Number of raw ids (valid raw values are `0..num_raw()`).
    pub fn num_raw(&self) -> usize {
        self.raw_to_eval.len()
    }

    /// Number of evaluation classes `K`.
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    /// Cityscapes: predictions and ground truth in the 34 `labelIds` (0–33); the 19 evaluation classes are
    /// the labels with a trainId (cityscapesScripts `labels.py`), in trainId order; void ground truth is
    /// ignored and predicted void ids count as wrong; absent classes are NaN (cityscapesScripts).
    /// Includes the 8 cityscapesScripts categories (void … vehicle) and the official colours.
    pub fn cityscapes() -> Self {
        let mut raw_to_eval = vec![None; CITYSCAPES_LABELS.len()];
        let mut names = vec![String::new(); 19];
        for l in CITYSCAPES_LABELS {
            if l.train_id != 255 {
                raw_to_eval[l.id as usize] = Some(l.train_id as u16);
                names[l.train_id as usize] = l.name.to_string();
            }
        }
        let mut categories: Vec<Category> = Vec::new();
        for l in CITYSCAPES_LABELS {
            let idx = match categories.iter().position(|c| c.name == l.category) {
                Some(i) => i,
                None => {
                    categories.push(Category {
                        name: l.category.to_string(),
                        classes: vec![],
                    });
                    categories.len() - 1
                }
            };
            if l.train_id != 255 {
                categories[idx].classes.push(l.train_id as usize);
            }
        }
        let palette = CITYSCAPES_LABELS.iter().map(|l| l.color).collect();
        Self::new(
            "cityscapes",
            raw_to_eval,
            names,
            categories,
            AbsentClassPolicy::Nan,
            Some(palette),
        )
        .expect("the Cityscapes table is valid")
    }

    /// ADE20K (SceneParsing, 150 classes): raw ids 0–150, 0 = "other" (ignored in ground truth, wrong when
    /// predicted), class `i` = raw id `i + 1`. Scored like CSAILVision `intersectionAndUnion` as used by the
    /// authors' `eval_ade20k.py`: IoU = I / (ε + U) over all 150 classes, ε = `np.spacing(1)`.
    pub fn ade20k() -> Self {
        let names: Vec<String> = ADE20K_CLASSES
            .lines()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        debug_assert_eq!(names.len(), 150);
        let mut raw_to_eval = vec![None];
        raw_to_eval.extend((0..names.len() as u16).map(Some));
        Self::new(
            "ade20k",
            raw_to_eval,
            names,
            vec![],
            AbsentClassPolicy::Epsilon(NP_SPACING_1),
            None,
        )
        .expect("the ADE20K table is valid")
    }

    /// CamVid (SegNet version): classes 0–10 (Sky … Bicyclist), 11 = void (ignored in ground truth, wrong when
    /// predicted). Absent classes are NaN and skipped in the mean. SegNet colours.
    pub fn camvid() -> Self {
        let mut raw_to_eval: Vec<Option<u16>> = (0..11u16).map(Some).collect();
        raw_to_eval.push(None);
        let names = CAMVID_CLASSES.iter().map(|(n, _)| n.to_string()).collect();
        let mut palette: Vec<[u8; 3]> = CAMVID_CLASSES.iter().map(|(_, c)| *c).collect();
        palette.push([0, 0, 0]);
        Self::new(
            "camvid",
            raw_to_eval,
            names,
            vec![],
            AbsentClassPolicy::Nan,
            Some(palette),
        )
        .expect("the CamVid table is valid")
    }

    /// Look a built-in space up by name: "cityscapes", "ade20k" or "camvid".
    pub fn by_name(name: &str) -> Result<Self> {
        match name {
            "cityscapes" => Ok(Self::cityscapes()),
            "ade20k" | "ade" => Ok(Self::ade20k()),
            "camvid" => Ok(Self::camvid()),
            other => Err(MetricsError::InvalidArgument {
                what: "label space name",
                detail: format!("`{other}` (known: cityscapes, ade20k, camvid)"),
            }),
        }
    }
}

/// The PASCAL VOC colour map (bit-interleaved id → RGB) for `n` ids; id 0 is black.
pub fn voc_palette(n: usize) -> Vec<[u8; 3]> {
    (0..n)
        .map(|i| {
            let (mut r, mut g, mut b) = (0u8, 0u8, 0u8);
            let mut c = i;
            for j in 0..8 {
                r |= ((c & 1) as u8) << (7 - j);
                g |= (((c >> 1) & 1) as u8) << (7 - j);
                b |= (((c >> 2) & 1) as u8) << (7 - j);
                c >>= 3;
            }
            [r, g, b]
        })
        .collect()
}

/// One row of cityscapesScripts' `labels.py` (the labels with id ≥ 0).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CityscapesLabel {
    /// Label name.
    pub name: &'static str,
    /// `labelId` (the value in `*_gtFine_labelIds.png`).
    pub id: u8,
    /// `trainId` (0–18 for the evaluation classes, 255 = ignored).
    pub train_id: u8,
    /// Category name.
    pub category: &'static str,
    /// `ignoreInEval`.
    pub ignore_in_eval: bool,
    /// Official colour.
    pub color: [u8; 3],
}

const fn cl(
    name: &'static str,
    id: u8,
    train_id: u8,
    category: &'static str,
    color: [u8; 3],
) -> CityscapesLabel {
    CityscapesLabel {
        name,
        id,
        train_id,
        category,
        ignore_in_eval: train_id == 255,
        color,
    }
}

/// cityscapesScripts `labels.py`, labelIds 0–33 (license plate, id −1, is not a labelId value).
pub const CITYSCAPES_LABELS: [CityscapesLabel; 34] = [
    cl("unlabeled", 0, 255, "void", [0, 0, 0]),
    cl("ego vehicle", 1, 255, "void", [0, 0, 0]),
    cl("rectification border", 2, 255, "void", [0, 0, 0]),
    cl("out of roi", 3, 255, "void", [0, 0, 0]),
    cl("static", 4, 255, "void", [0, 0, 0]),
    cl("dynamic", 5, 255, "void", [111, 74, 0]),
    cl("ground", 6, 255, "void", [81, 0, 81]),
    cl("road", 7, 0, "flat", [128, 64, 128]),
    cl("sidewalk", 8, 1, "flat", [244, 35, 232]),
    cl("parking", 9, 255, "flat", [250, 170, 160]),
    cl("rail track", 10, 255, "flat", [230, 150, 140]),
    cl("building", 11, 2, "construction", [70, 70, 70]),
    cl("wall", 12, 3, "construction", [102, 102, 156]),
    cl("fence", 13, 4, "construction", [190, 153, 153]),
    cl("guard rail", 14, 255, "construction", [180, 165, 180]),
    cl("bridge", 15, 255, "construction", [150, 100, 100]),
    cl("tunnel", 16, 255, "construction", [150, 120, 90]),
    cl("pole", 17, 5, "object", [153, 153, 153]),
    cl("polegroup", 18, 255, "object", [153, 153, 153]),
    cl("traffic light", 19, 6, "object", [250, 170, 30]),
    cl("traffic sign", 20, 7, "object", [220, 220, 0]),
    cl("vegetation", 21, 8, "nature", [107, 142, 35]),
    cl("terrain", 22, 9, "nature", [152, 251, 152]),
    cl("sky", 23, 10, "sky", [70, 130, 180]),
    cl("person", 24, 11, "human", [220, 20, 60]),
    cl("rider", 25, 12, "human", [255, 0, 0]),
    cl("car", 26, 13, "vehicle", [0, 0, 142]),
    cl("truck", 27, 14, "vehicle", [0, 0, 70]),
    cl("bus", 28, 15, "vehicle", [0, 60, 100]),
    cl("caravan", 29, 255, "vehicle", [0, 0, 90]),
    cl("trailer", 30, 255, "vehicle", [0, 0, 110]),
    cl("train", 31, 16, "vehicle", [0, 80, 100]),
    cl("motorcycle", 32, 17, "vehicle", [0, 0, 230]),
    cl("bicycle", 33, 18, "vehicle", [119, 11, 32]),
];

/// The paper's "easy" Cityscapes classes (protocol §A.1), by name.
pub const CITYSCAPES_EASY: [&str; 5] = ["road", "vegetation", "building", "car", "sky"];

/// The paper's "hard" Cityscapes classes (protocol §A.1), by name.
pub const CITYSCAPES_HARD: [&str; 14] = [
    "person",
    "bicycle",
    "traffic sign",
    "terrain",
    "sidewalk",
    "pole",
    "fence",
    "bus",
    "truck",
    "traffic light",
    "rider",
    "wall",
    "train",
    "motorcycle",
];

/// CamVid (SegNet) classes 0–10 with their SegNet colours.
pub const CAMVID_CLASSES: [(&str, [u8; 3]); 11] = [
    ("Sky", [128, 128, 128]),
    ("Building", [128, 0, 0]),
    ("Pole", [192, 192, 128]),
    ("Road", [128, 64, 128]),
    ("Pavement", [60, 40, 222]),
    ("Tree", [128, 128, 0]),
    ("SignSymbol", [192, 128, 128]),
    ("Fence", [64, 64, 128]),
    ("Car", [64, 0, 128]),
    ("Pedestrian", [64, 64, 0]),
    ("Bicyclist", [0, 128, 192]),
];

/// ADE20K SceneParsing `objectInfo150` class names, one per line, class 1 first.
pub const ADE20K_CLASSES: &str = include_str!("ade20k_classes.txt");
