//! Label spaces as data: which raw ids exist, which of them are evaluation classes, how classes group into
//! categories, how absent classes are scored, and a colour per raw id.
//!
//! A *raw id* is the value stored in a label / prediction map (Cityscapes `labelIds` 0–33, ADE20K 0–150,
//! CamVid 0–11). Each raw id maps either to an *evaluation class* `0..K` or to nothing (void / ignore).
//! Ground-truth pixels whose raw id maps to nothing are ignored; predicted raw ids that map to nothing are
//! counted as wrong (a false negative for the ground-truth class, a false positive for no class), exactly as
//! cityscapesScripts does for predicted void ids.
//!
//! # Probes see raw ids `0..num_raw()`
//!
//! A k-NN gallery or a linear probe is trained on raw ids `0..num_raw()` ([`LabelSpace::num_raw`] is its
//! class count): void / ignore raw ids are ordinary probe classes (CamVid's void 11 votes like any class,
//! and a query predicted void is scored as wrong). A label map may also hold one value *outside* the raw
//! ids, the space's [`IgnoreAlias`] (the folder layout's 255, [`LabelSpace::folder`]): it stands for a void
//! raw id inside the range, [`LabelSpace::canonical`] maps it there before a probe sees it, and the
//! confusion matrix scores it like that void id. So 255 never becomes a probe class.

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

/// A label-map value outside a space's raw ids that stands for one of its void raw ids (see the
/// [module docs](self)): the folder layout's ignore value 255 standing for raw id `K`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IgnoreAlias {
    /// The value label maps hold (255 in the folder layout); `>= num_raw()` unless it equals `raw`.
    pub value: u32,
    /// The void raw id it stands for (maps to no evaluation class); what a probe is given instead.
    pub raw: u32,
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
    /// Colour per raw id (length `num_raw`) for colour PNGs (map an [`IgnoreAlias`] value through
    /// [`LabelSpace::canonical`] first).
    pub palette: Vec<[u8; 3]>,
    /// A label-map value outside the raw ids that stands for a void raw id (the folder layout's 255), if
    /// any; `None` for the built-in spaces. Set with [`LabelSpace::with_ignore_alias`].
    pub ignore_alias: Option<IgnoreAlias>,
}

/// The ignore value of the folder layout's masks (`patchlens_data::folder`): never a class.
pub const FOLDER_IGNORE: u32 = 255;

/// Most classes a folder dataset may have (ids 0–254; 255 is the ignore value).
pub const FOLDER_MAX_CLASSES: usize = 255;

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
            ignore_alias: None,
        })
    }

    /// Return a copy in which label-map value `value` stands for the void raw id `raw` (see
    /// [`IgnoreAlias`]). Errors if `raw` is not a raw id mapping to no class, or if `value` is another
    /// raw id of the space.
    pub fn with_ignore_alias(mut self, value: u32, raw: u32) -> Result<Self> {
        match self.raw_to_eval.get(raw as usize) {
            Some(None) => {}
            Some(Some(c)) => {
                return Err(MetricsError::InvalidArgument {
                    what: "ignore alias",
                    detail: format!(
                        "`{}`: raw id {raw} is class {c} (`{}`), not a void id",
                        self.name, self.class_names[*c as usize]
                    ),
                });
            }
            None => {
                return Err(MetricsError::InvalidArgument {
                    what: "ignore alias",
                    detail: format!(
                        "`{}`: raw id {raw} is outside the raw ids 0..={}",
                        self.name,
                        self.num_raw() - 1
                    ),
                });
            }
        }
        if (value as usize) < self.num_raw() && value != raw {
            return Err(MetricsError::InvalidArgument {
                what: "ignore alias",
                detail: format!(
                    "`{}`: value {value} is already raw id {value} (valid raw ids 0..={})",
                    self.name,
                    self.num_raw() - 1
                ),
            });
        }
        self.ignore_alias = Some(IgnoreAlias { value, raw });
        Ok(self)
    }

    /// The raw id a label-map value stands for: the [`IgnoreAlias`] value becomes its void raw id, every
    /// other value is returned unchanged. Map ground-truth patch labels through this before giving them to
    /// a probe (whose classes are `0..num_raw()`), and label maps before colouring them with
    /// [`LabelSpace::palette`]. The identity for spaces without an alias.
    pub fn canonical(&self, value: u32) -> u32 {
        match self.ignore_alias {
            Some(a) if a.value == value => a.raw,
            _ => value,
        }
    }

    /// True if `value` may appear in a label map of this space (a raw id or the [`IgnoreAlias`] value).
    pub fn accepts(&self, value: u32) -> bool {
        (value as usize) < self.num_raw() || self.ignore_alias.is_some_and(|a| a.value == value)
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

    /// A folder dataset (`patchlens_data::folder`) with `K = class_names.len()` classes, scored like
    /// [`LabelSpace::camvid`]:
    ///
    /// * raw ids `0..K` are the classes, in `classes.txt` order;
    /// * raw id `K` is void: it maps to no class, is ignored in ground truth and wrong when predicted;
    /// * the masks' ignore value [`FOLDER_IGNORE`] (255) is an [`IgnoreAlias`] of raw id `K`. A probe is
    ///   trained on raw ids `0..=K` ([`LabelSpace::num_raw`] = `K + 1`; map patch labels with
    ///   [`LabelSpace::canonical`], 255 → `K`), so ignore patches vote as one void class, exactly as
    ///   CamVid's void 11 does, and 255 is never a probe class;
    /// * absent classes are NaN and skipped in the mean ([`AbsentClassPolicy::Nan`]); no categories.
    ///
    /// CamVid converted to the folder layout (void 11 → 255) thus gets `K = 11`, the same raw ids
    /// `0..=11` for the probe as [`LabelSpace::camvid`], and the same scores. Colours: the PASCAL VOC
    /// palette entries 1..=K for the classes, black for void. Errors on no classes, more than
    /// [`FOLDER_MAX_CLASSES`], or an empty or repeated name.
    pub fn folder<S: AsRef<str>>(class_names: &[S]) -> Result<Self> {
        let k = class_names.len();
        let bad = |detail: String| MetricsError::InvalidArgument {
            what: "folder class names",
            detail,
        };
        if k == 0 || k > FOLDER_MAX_CLASSES {
            return Err(bad(format!(
                "{k} classes; a folder dataset has 1..={FOLDER_MAX_CLASSES}"
            )));
        }
        let mut names: Vec<String> = Vec::with_capacity(k);
        for (i, n) in class_names.iter().enumerate() {
            let n = n.as_ref();
            if n.trim().is_empty() {
                return Err(bad(format!("class {i} has an empty name")));
            }
            if let Some(j) = names.iter().position(|m| m == n) {
                return Err(bad(format!("classes {j} and {i} are both named `{n}`")));
            }
            names.push(n.to_string());
        }
        let mut raw_to_eval: Vec<Option<u16>> = (0..k as u16).map(Some).collect();
        raw_to_eval.push(None);
        let mut palette = voc_palette(k + 1);
        palette.rotate_left(1); // classes get VOC colours 1..=K, void (raw K) VOC 0 = black
        Self::new(
            "folder",
            raw_to_eval,
            names,
            vec![],
            AbsentClassPolicy::Nan,
            Some(palette),
        )?
        .with_ignore_alias(FOLDER_IGNORE, k as u32)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::confusion::ConfusionMatrix;

    /// `(ground truth, prediction, pixel count)` in CamVid raw ids (11 = void).
    const PAIRS: [(u8, u8, usize); 7] = [
        (0, 0, 3),
        (0, 1, 1),
        (1, 1, 2),
        (1, 11, 1), // predicted void: a false negative of class 1
        (2, 0, 1),
        (11, 0, 2), // void ground truth: ignored, not a false positive of class 0
        (11, 11, 1),
    ];

    fn expand(void_gt: u8, void_pred: u8) -> (Vec<u8>, Vec<u8>) {
        let (mut gt, mut pred) = (vec![], vec![]);
        for (g, p, n) in PAIRS {
            for _ in 0..n {
                gt.push(if g == 11 { void_gt } else { g });
                pred.push(if p == 11 { void_pred } else { p });
            }
        }
        (gt, pred)
    }

    fn camvid_names() -> Vec<&'static str> {
        CAMVID_CLASSES.iter().map(|(n, _)| *n).collect()
    }

    #[test]
    fn folder_space_scores_camvid_converted_data_like_camvid() {
        // Worked by hand over the 8 evaluated pixels (the 3 void ground-truth pixels are skipped):
        // class 0: TP 3, FN 1 (0→1), FP 1 (2→0; void→0 does not count) → 3/5
        // class 1: TP 2, FN 1 (1→void), FP 1 (0→1) → 2/4
        // class 2: TP 0, FN 1, FP 0 → 0; classes 3–10 absent → NaN, skipped in the mean.
        let iou = [0.6, 0.5, 0.0];
        let miou = (0.6 + 0.5 + 0.0) / 3.0;
        let pixel_accuracy = 5.0 / 8.0;

        let camvid = LabelSpace::camvid();
        let folder = LabelSpace::folder(&camvid_names()).unwrap();
        let mut cm_camvid = ConfusionMatrix::new(&camvid);
        let (gt, pred) = expand(11, 11);
        cm_camvid.accumulate(&pred, &gt).unwrap();
        // Folder masks hold 255 for void; the probe predicts raw id K = 11 (its void class).
        let mut cm_folder = ConfusionMatrix::new(&folder);
        let (gt255, pred_k) = expand(255, 11);
        cm_folder.accumulate(&pred_k, &gt255).unwrap();
        // A prediction holding 255 itself counts as void too.
        let mut cm_folder_255 = ConfusionMatrix::new(&folder);
        let (gt255, pred255) = expand(255, 255);
        cm_folder_255.accumulate(&pred255, &gt255).unwrap();

        for cm in [&cm_camvid, &cm_folder, &cm_folder_255] {
            assert_eq!(cm.total(), 8, "{}", cm.space().name);
            assert_eq!(cm.get(1, 11), 1, "predicted void is column K");
            assert_eq!(cm.get(0, 0), 3);
            let got = cm.iou_per_class();
            for (c, want) in iou.iter().enumerate() {
                assert!((got[c] - want).abs() < 1e-12, "class {c}: {}", got[c]);
            }
            assert!(got[3..].iter().all(|v| v.is_nan()));
            assert!((cm.miou() - miou).abs() < 1e-12, "{}", cm.miou());
            assert!((cm.pixel_accuracy() - pixel_accuracy).abs() < 1e-12);
        }
        assert_eq!(cm_camvid.counts(), cm_folder.counts());
        assert_eq!(cm_folder.counts(), cm_folder_255.counts());
        let (a, b) = (cm_camvid.scores(), cm_folder.scores());
        assert_eq!(a.class_names, b.class_names);
        assert_eq!(a.miou.to_bits(), b.miou.to_bits());
        assert_eq!(a.pixel_accuracy.to_bits(), b.pixel_accuracy.to_bits());
    }

    #[test]
    fn folder_space_raw_ids_for_the_probe() {
        let folder = LabelSpace::folder(&camvid_names()).unwrap();
        let camvid = LabelSpace::camvid();
        // The probe's class count and the raw ids it is trained on are CamVid's.
        assert_eq!((folder.num_raw(), folder.num_classes()), (12, 11));
        assert_eq!(folder.raw_to_eval, camvid.raw_to_eval);
        assert_eq!(folder.absent, camvid.absent);
        assert_eq!(
            folder.ignore_alias,
            Some(IgnoreAlias {
                value: 255,
                raw: 11
            })
        );
        assert_eq!(folder.canonical(255), 11);
        assert_eq!((folder.canonical(3), folder.canonical(11)), (3, 11));
        assert_eq!(camvid.canonical(255), 255, "identity without an alias");
        assert!(folder.accepts(255) && folder.accepts(11) && !folder.accepts(12));
        assert!(!folder.accepts(254) && !camvid.accepts(255));
        assert_eq!(folder.palette.len(), 12);
        assert_eq!(folder.palette[11], [0, 0, 0], "void is black");
        assert_eq!(folder.palette[0], voc_palette(2)[1]);

        // Values between K and 255 are errors in ground truth and prediction, naming the ignore value.
        let mut cm = ConfusionMatrix::new(&folder);
        let e = cm.accumulate(&[0u8], &[12u8]).unwrap_err();
        assert!(
            matches!(
                e,
                MetricsError::LabelOutOfRange {
                    value: 12,
                    what: "ground truth",
                    max: 11,
                    ignore: Some(255),
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("0..=11, and 255 = ignore"), "{e}");
        let e = cm.accumulate(&[254u16], &[0u16]).unwrap_err();
        assert!(
            matches!(
                e,
                MetricsError::LabelOutOfRange {
                    value: 254,
                    what: "prediction",
                    ..
                }
            ),
            "{e}"
        );
        assert!(cm.accumulate(&[0u16], &[256u16]).is_err());
        assert_eq!(cm.total(), 0);
        let e = ConfusionMatrix::new(&camvid)
            .accumulate(&[0u8], &[255u8])
            .unwrap_err();
        assert!(!e.to_string().contains("ignore"), "{e}");
    }

    #[test]
    fn folder_space_limits() {
        // 255 classes: raw ids 0..=254 are classes and 255 is both the void raw id and the ignore value.
        let names: Vec<String> = (0..255).map(|i| format!("c{i}")).collect();
        let s = LabelSpace::folder(&names).unwrap();
        assert_eq!((s.num_raw(), s.num_classes()), (256, 255));
        assert_eq!(s.canonical(255), 255);
        let mut cm = ConfusionMatrix::new(&s);
        cm.accumulate(&[254u8, 0, 7], &[254u8, 255, 7]).unwrap();
        assert_eq!(cm.total(), 2);
        assert_eq!(cm.miou(), 1.0);

        let too_many: Vec<String> = (0..256).map(|i| format!("c{i}")).collect();
        let e = LabelSpace::folder(&too_many).unwrap_err().to_string();
        assert!(e.contains("256 classes"), "{e}");
        let e = LabelSpace::folder::<&str>(&[]).unwrap_err().to_string();
        assert!(e.contains("0 classes"), "{e}");
        let e = LabelSpace::folder(&["sky", " "]).unwrap_err().to_string();
        assert!(e.contains("class 1 has an empty name"), "{e}");
        let e = LabelSpace::folder(&["sky", "road", "sky"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("classes 0 and 2 are both named `sky`"), "{e}");
    }

    #[test]
    fn ignore_alias_is_validated() {
        let cv = LabelSpace::camvid();
        assert!(
            cv.clone().with_ignore_alias(255, 3).is_err(),
            "3 is a class"
        );
        assert!(
            cv.clone().with_ignore_alias(255, 12).is_err(),
            "12 is not a raw id"
        );
        assert!(
            cv.clone().with_ignore_alias(5, 11).is_err(),
            "5 is a raw id"
        );
        let s = cv.with_ignore_alias(255, 11).unwrap();
        assert_eq!(s.canonical(255), 11);
    }
}
