//! The study's own numbers (arXiv 2401.00463, from the authors' notebooks and figures), for
//! side-by-side comparison.
//!
//! The data is `data/paper_reference_numbers.json` in this crate, embedded at compile time and
//! kept in the structure of the project's reference file. [`PaperNumbers`] flattens it into
//! `(experiment, setting, model) -> value` entries:
//!
//! | experiment | setting | models |
//! |---|---|---|
//! | `cityscapes_knn_vs_linear_by_pool` | `{knn,linear}/{set2_36,set4_72,set4prime_72,set8_144}` | sup_vit dino dinov2 mae simmim |
//! | `cityscapes_knn_layerwise` | `{all,easy,hard}/layer{1..12}` | same |
//! | `cityscapes_per_class_iou_layer12` | `{knn,linear}/{class name or mIoU}` | same |
//! | `cityscapes_mae_high_variance_removal` | `{knn,linear}/removed{0,10,..,750}` (model `mae`); `batchnorm/{knn,linear}` (mae, simmim) | |
//! | `cityscapes_degradation_linear_layer12_approx` | `clean`, `blur/{2,4,6,8}`, `noise/{10,20,30,40}`, `frequency/{high,2,3,low}` | same |
//! | `fair1m_instance_identification_rotation` | `{same_patch,same_fine,same_super}/rot{5,10,15,20}` (raw counts), `{…}_rate/rot{…}` (count ÷ the paper's query total, [`fair1m_paper_queries`]), `queries` | sup_vit dino dinov2 mae mae_minus_200 |
//! | `bdd100k_tracking_same_instance` | `{full,tiled}/delta{1,5,..,57}` | dino dinov2 mae |
//! | `bdd100k_tracking_same_category_full` | `delta{1,5,..,57}` | dino dinov2 mae |
//!
//! mIoU and accuracies are fractions.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

/// The study's FAIR1M identification query totals (protocol §7: the non-background patches of its 295
/// tiles): 5,850 on the 14×14 grid, 7,623 on DINOv2's 16×16 grid. The paper reports raw counts; divided by
/// these they become the rates our runs report (`<metric>_rate/rot<deg>` settings).
pub const FAIR1M_PAPER_QUERIES: usize = 5850;
/// DINOv2's total of [`FAIR1M_PAPER_QUERIES`].
pub const FAIR1M_PAPER_QUERIES_DINOV2: usize = 7623;

/// The paper's identification query total of reference model `model`.
pub fn fair1m_paper_queries(model: &str) -> usize {
    if model == "dinov2" {
        FAIR1M_PAPER_QUERIES_DINOV2
    } else {
        FAIR1M_PAPER_QUERIES
    }
}

/// The embedded reference file.
pub const PAPER_JSON: &str = include_str!("../data/paper_reference_numbers.json");

/// One number of the paper.
#[derive(Debug, Clone, PartialEq)]
pub struct PaperEntry {
    /// Experiment id (top-level key of the reference file).
    pub experiment: String,
    /// Setting within the experiment (see the module table).
    pub setting: String,
    /// Model name.
    pub model: String,
    /// The value.
    pub value: f64,
}

/// The parsed reference numbers with a lookup index.
#[derive(Debug)]
pub struct PaperNumbers {
    raw: Value,
    entries: Vec<PaperEntry>,
    index: HashMap<(String, String, String), usize>,
}

/// The embedded paper numbers (parsed once).
pub fn paper() -> &'static PaperNumbers {
    static P: OnceLock<PaperNumbers> = OnceLock::new();
    P.get_or_init(|| {
        // The file is part of the crate and checked by the tests, so a parse failure is a build defect.
        PaperNumbers::from_json(PAPER_JSON)
            .expect("embedded data/paper_reference_numbers.json is valid")
    })
}

/// Shortcut for `paper().lookup(experiment, setting, model)`.
pub fn paper_lookup(experiment: &str, setting: &str, model: &str) -> Option<f64> {
    paper().lookup(experiment, setting, model)
}

impl PaperNumbers {
    /// Parses a reference file with the structure of the embedded one.
    pub fn from_json(text: &str) -> Result<PaperNumbers, serde_json::Error> {
        let raw: Value = serde_json::from_str(text)?;
        let entries = flatten(&raw);
        let index = entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                (
                    (e.experiment.clone(), e.setting.clone(), e.model.clone()),
                    i,
                )
            })
            .collect();
        Ok(PaperNumbers {
            raw,
            entries,
            index,
        })
    }

    /// The value for `(experiment, setting, model)`, if the paper has it.
    pub fn lookup(&self, experiment: &str, setting: &str, model: &str) -> Option<f64> {
        self.index
            .get(&(experiment.to_owned(), setting.to_owned(), model.to_owned()))
            .map(|&i| self.entries[i].value)
    }

    /// Every number, in a fixed order (by experiment, then by key).
    pub fn entries(&self) -> &[PaperEntry] {
        &self.entries
    }

    /// The `"source"` note of the file.
    pub fn source(&self) -> &str {
        self.raw.get("source").and_then(Value::as_str).unwrap_or("")
    }

    /// The `"note"` of an experiment, if any.
    pub fn note(&self, experiment: &str) -> Option<&str> {
        self.raw.get(experiment)?.get("note")?.as_str()
    }

    /// The raw JSON value.
    pub fn raw(&self) -> &Value {
        &self.raw
    }
}

/// Formats a number as a setting component: integers without decimals.
pub fn setting_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

fn label(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => n.as_f64().map(setting_number),
        _ => None,
    }
}

fn numbers(v: &Value) -> Vec<Option<f64>> {
    v.as_array()
        .map(|a| a.iter().map(Value::as_f64).collect())
        .unwrap_or_default()
}

fn models(obj: &Value) -> impl Iterator<Item = (&String, &Value)> {
    obj.as_object()
        .into_iter()
        .flatten()
        .filter(|(k, v)| v.is_object() && !matches!(k.as_str(), "levels" | "batchnorm_instead"))
}

fn flatten(root: &Value) -> Vec<PaperEntry> {
    let mut out = Vec::new();
    let mut push = |exp: &str, setting: String, model: &str, value: Option<f64>| {
        if let Some(value) = value {
            out.push(PaperEntry {
                experiment: exp.into(),
                setting,
                model: model.into(),
                value,
            });
        }
    };
    let list_with = |axis: &Value| -> Vec<String> {
        axis.as_array()
            .map(|a| a.iter().filter_map(label).collect())
            .unwrap_or_default()
    };

    let exp = "cityscapes_knn_vs_linear_by_pool";
    if let Some(e) = root.get(exp) {
        for probe in ["knn", "linear"] {
            for (pool, per_model) in models(e.get(probe).unwrap_or(&Value::Null)) {
                for (model, v) in per_model.as_object().into_iter().flatten() {
                    push(exp, format!("{probe}/{pool}"), model, v.as_f64());
                }
            }
        }
    }

    let exp = "cityscapes_knn_layerwise";
    if let Some(e) = root.get(exp) {
        for group in ["all", "easy", "hard"] {
            for (model, v) in e
                .get(group)
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                if model == "classes" {
                    continue;
                }
                for (i, x) in numbers(v).into_iter().enumerate() {
                    push(exp, format!("{group}/layer{}", i + 1), model, x);
                }
            }
        }
    }

    let exp = "cityscapes_per_class_iou_layer12";
    if let Some(e) = root.get(exp) {
        let columns = list_with(e.get("columns").unwrap_or(&Value::Null));
        for (class, v) in e.as_object().into_iter().flatten() {
            if class == "columns" || class == "note" {
                continue;
            }
            for (col, x) in columns.iter().zip(numbers(v)) {
                let (probe, model) = match col.split_once('_') {
                    Some(("knn", m)) => ("knn", m),
                    Some(("lin", m)) => ("linear", m),
                    _ => continue,
                };
                push(exp, format!("{probe}/{class}"), model, x);
            }
        }
    }

    let exp = "cityscapes_mae_high_variance_removal";
    if let Some(e) = root.get(exp) {
        let removed = list_with(e.get("removed").unwrap_or(&Value::Null));
        for probe in ["knn", "linear"] {
            for (k, x) in removed
                .iter()
                .zip(numbers(e.get(probe).unwrap_or(&Value::Null)))
            {
                push(exp, format!("{probe}/removed{k}"), "mae", x);
            }
        }
        for (model, v) in e
            .get("batchnorm_instead")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            for probe in ["knn", "linear"] {
                push(
                    exp,
                    format!("batchnorm/{probe}"),
                    model,
                    v.get(probe).and_then(Value::as_f64),
                );
            }
        }
    }

    let exp = "cityscapes_degradation_linear_layer12_approx";
    if let Some(e) = root.get(exp) {
        let levels = e.get("levels").unwrap_or(&Value::Null);
        let axes = [
            ("blur", "blur_px"),
            ("noise", "noise_sigma"),
            ("frequency", "frequency_band"),
        ];
        for (model, v) in models(e) {
            push(
                exp,
                "clean".into(),
                model,
                v.get("clean").and_then(Value::as_f64),
            );
            for (name, level_key) in axes {
                let lv = list_with(levels.get(level_key).unwrap_or(&Value::Null));
                for (l, x) in lv.iter().zip(numbers(v.get(name).unwrap_or(&Value::Null))) {
                    push(exp, format!("{name}/{l}"), model, x);
                }
            }
        }
    }

    let exp = "fair1m_instance_identification_rotation";
    if let Some(e) = root.get(exp) {
        let degrees = list_with(e.get("degrees").unwrap_or(&Value::Null));
        for (model, v) in models(e) {
            let queries = fair1m_paper_queries(model);
            push(exp, "queries".into(), model, Some(queries as f64));
            for (metric, series) in v.as_object().into_iter().flatten() {
                for (d, x) in degrees.iter().zip(numbers(series)) {
                    push(exp, format!("{metric}/rot{d}"), model, x);
                    push(
                        exp,
                        format!("{metric}_rate/rot{d}"),
                        model,
                        x.map(|c| c / queries as f64),
                    );
                }
            }
        }
    }

    let exp = "bdd100k_tracking_same_instance";
    if let Some(e) = root.get(exp) {
        let deltas = list_with(e.get("delta").unwrap_or(&Value::Null));
        for (key, v) in e.as_object().into_iter().flatten() {
            let Some((model, mode)) = key.rsplit_once('_') else {
                continue;
            };
            if !v.is_array() || key == "delta" {
                continue;
            }
            for (d, x) in deltas.iter().zip(numbers(v)) {
                push(exp, format!("{mode}/delta{d}"), model, x);
            }
        }
    }

    let exp = "bdd100k_tracking_same_category_full";
    if let Some(e) = root.get(exp) {
        let deltas = list_with(e.get("delta").unwrap_or(&Value::Null));
        for (model, v) in e.as_object().into_iter().flatten() {
            if model == "delta" || !v.is_array() {
                continue;
            }
            for (d, x) in deltas.iter().zip(numbers(v)) {
                push(exp, format!("delta{d}"), model, x);
            }
        }
    }
    out
}
