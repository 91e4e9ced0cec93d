//! Protocols as short key/value rows: nested objects flattened to dotted keys, long arrays
//! summarised, and training histories (per-epoch records with a loss) kept as series to draw.

use crate::format::fmt_value;
use serde_json::{Map, Value};

/// Arrays of scalars up to this length (and `MAX_INLINE_CHARS`) are shown whole.
const MAX_INLINE_ITEMS: usize = 8;
/// Longest inline rendering of an array or object before it is summarised.
const MAX_INLINE_CHARS: usize = 100;
/// Values shown from a summarised array.
const PREVIEW_ITEMS: usize = 4;
/// Objects nested deeper than this are shown as (shortened) JSON instead of more dotted keys.
const MAX_DEPTH: usize = 4;

/// One row of a protocol table.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolRow {
    /// Dotted key (`linear.config.lr`).
    pub key: String,
    /// What to show.
    pub value: ProtocolValue,
}

/// The value of a [`ProtocolRow`].
#[derive(Debug, Clone, PartialEq)]
pub enum ProtocolValue {
    /// Text (a scalar, a short array, or a summary of a long one).
    Text(String),
    /// A training history, drawn as a loss curve.
    History(TrainingHistory),
}

/// Per-epoch loss series of a training run, e.g. a linear probe's `history`
/// (`[{"epoch": 1, "train_loss": 2.3, "selection": {"loss": 2.1, "accuracy": 0.4, "n": 900}}, …]`).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingHistory {
    /// Number of records.
    pub records: usize,
    /// `(name, [(epoch, loss)])` for every numeric field with "loss" in its (dotted) name, in order of
    /// first appearance (`train_loss`, `selection.loss`).
    pub series: Vec<(String, Vec<(f64, f64)>)>,
    /// The selected epoch (`best_epoch` next to the history), if given.
    pub best_epoch: Option<f64>,
}

impl TrainingHistory {
    /// Reads a history: a non-empty array of objects that all have a numeric `epoch`, with at least
    /// one numeric field (at the top level or one object down) whose name contains `loss`.
    pub fn from_value(v: &Value, best_epoch: Option<f64>) -> Option<TrainingHistory> {
        let records = v.as_array().filter(|a| !a.is_empty())?;
        let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
        for r in records {
            let r = r.as_object()?;
            let epoch = r.get("epoch")?.as_f64()?;
            let mut add = |name: String, y: f64| match series.iter_mut().find(|s| s.0 == name) {
                Some(s) => s.1.push((epoch, y)),
                None => series.push((name, vec![(epoch, y)])),
            };
            for (k, v) in r {
                match v {
                    Value::Number(n) if k.contains("loss") => {
                        if let Some(y) = n.as_f64() {
                            add(k.clone(), y);
                        }
                    }
                    Value::Object(inner) => {
                        for (k2, v2) in inner {
                            if let Some(y) = v2.as_f64().filter(|_| k2.contains("loss")) {
                                add(format!("{k}.{k2}"), y);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        (!series.is_empty()).then_some(TrainingHistory {
            records: records.len(),
            series,
            best_epoch,
        })
    }

    /// One line of text: `20 epochs; train_loss 2.3026 → 0.5123; best epoch 14`.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!(
            "{} epoch{}",
            self.records,
            if self.records == 1 { "" } else { "s" }
        )];
        for (name, pts) in &self.series {
            if let (Some(a), Some(b)) = (pts.first(), pts.last()) {
                parts.push(format!("{name} {} → {}", fmt_value(a.1), fmt_value(b.1)));
            }
        }
        if let Some(b) = self.best_epoch {
            parts.push(format!("best epoch {}", fmt_value(b)));
        }
        parts.join("; ")
    }
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Array(_) | Value::Object(_))
}

/// A scalar as text (strings without quotes).
fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_f64() => n.as_f64().map(short_float).unwrap_or_default(),
        v => v.to_string(),
    }
}

/// A float in at most about 12 characters: its shortest round-trip form when that is short,
/// otherwise 4 significant digits in exponent form (tiny or huge values) or 6 decimals.
fn short_float(f: f64) -> String {
    let s = format!("{f}");
    if s.len() <= 12 {
        s
    } else if f != 0.0 && (f.abs() < 1e-3 || f.abs() >= 1e9) {
        format!("{f:.3e}")
    } else {
        let s = format!("{f:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// `s` cut to `max` characters with an ellipsis.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        s.chars()
            .take(max.saturating_sub(1))
            .chain(std::iter::once('…'))
            .collect()
    }
}

/// Text of an array that is not a history.
fn array_text(a: &[Value]) -> String {
    if a.is_empty() {
        return "[]".into();
    }
    if a.iter().all(is_scalar) {
        let items: Vec<String> = a.iter().map(scalar_text).collect();
        let whole = format!("[{}]", items.join(", "));
        if a.len() <= MAX_INLINE_ITEMS && whole.chars().count() <= MAX_INLINE_CHARS {
            return whole;
        }
        let mut s = format!(
            "{} values: {}, …",
            a.len(),
            items[..PREVIEW_ITEMS.min(a.len())].join(", ")
        );
        let nums: Vec<f64> = a.iter().filter_map(Value::as_f64).collect();
        if nums.len() == a.len() {
            let lo = nums.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = nums.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            s.push_str(&format!(" (min {}, max {})", fmt_value(lo), fmt_value(hi)));
        }
        return s;
    }
    let whole = Value::Array(a.to_vec()).to_string();
    if whole.chars().count() <= MAX_INLINE_CHARS {
        whole
    } else {
        format!(
            "{} items, first: {}",
            a.len(),
            shorten(&a[0].to_string(), MAX_INLINE_CHARS - 20)
        )
    }
}

fn walk(
    key: String,
    v: &Value,
    best_epoch: Option<f64>,
    depth: usize,
    rows: &mut Vec<ProtocolRow>,
) {
    if let Some(h) = TrainingHistory::from_value(v, best_epoch) {
        rows.push(ProtocolRow {
            key,
            value: ProtocolValue::History(h),
        });
        return;
    }
    let text = |s: String| ProtocolValue::Text(s);
    match v {
        Value::Object(m) if m.is_empty() => rows.push(ProtocolRow {
            key,
            value: text("{}".into()),
        }),
        Value::Object(m) if depth >= MAX_DEPTH => rows.push(ProtocolRow {
            key,
            value: text(shorten(
                &Value::Object(m.clone()).to_string(),
                MAX_INLINE_CHARS,
            )),
        }),
        Value::Object(m) => {
            let best = m.get("best_epoch").and_then(Value::as_f64);
            for (k, v) in m {
                walk(format!("{key}.{k}"), v, best, depth + 1, rows);
            }
        }
        Value::Array(a) => rows.push(ProtocolRow {
            key,
            value: text(array_text(a)),
        }),
        v => rows.push(ProtocolRow {
            key,
            value: text(scalar_text(v)),
        }),
    }
}

/// The rows of a protocol: scalars as they are; arrays of up to 8 scalars (100 characters) whole,
/// longer ones as `N values: first, …, (min, max)`; arrays of objects inline when short, else
/// `N items, first: …`; nested objects flattened to dotted keys (up to 4 levels); and
/// training histories ([`TrainingHistory::from_value`], with a sibling `best_epoch`) as
/// [`ProtocolValue::History`].
pub fn protocol_rows(protocol: &Map<String, Value>) -> Vec<ProtocolRow> {
    let mut rows = Vec::new();
    let best = protocol.get("best_epoch").and_then(Value::as_f64);
    for (k, v) in protocol {
        walk(k.clone(), v, best, 1, &mut rows);
    }
    rows
}
