//! `results.csv`: one flat row per metric, for pandas (`pd.read_csv("results.csv")`) or R
//! (`read.csv("results.csv")`).

use crate::error::ReportError;
use crate::schema::{Experiment, Results};
use std::fmt::Write as _;
use std::path::Path;

/// The columns of [`Results::to_csv`], in order.
pub const CSV_COLUMNS: [&str; 9] = [
    "model",
    "experiment",
    "layer",
    "probe",
    "split",
    "metric",
    "value",
    "ci_low",
    "ci_high",
];

/// One RFC 4180 field: quoted (inner quotes doubled) when it holds a comma, a quote, CR or LF.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// A number as text that parses back to the same `f64` (shortest round-trip form; exponent form
/// outside `[1e-5, 1e16)`; `NaN`, `Inf`, `-Inf` as pandas and R read them).
pub(crate) fn csv_number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "Inf".into() } else { "-Inf".into() }
    } else if v == 0.0 || (1e-5..1e16).contains(&v.abs()) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// A protocol value as a CSV cell: strings as they are, numbers and booleans as JSON prints them,
/// `null` or absent as empty, arrays and objects as compact JSON.
fn protocol_cell(e: &Experiment, key: &str) -> Option<String> {
    Some(match e.protocol.get(key)? {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        v => v.to_string(),
    })
}

impl Results {
    /// The metrics as CSV (RFC 4180: comma-separated, CRLF line ends, fields with commas, quotes or
    /// line breaks quoted): a header row [`CSV_COLUMNS`] and one row per metric of every experiment
    /// (experiments in order, metrics in natural name order: `layer2` before `layer10`). `layer`, `probe` and `split` come from the
    /// experiment's protocol keys `layer`, `probe` and `train_split` (else `split`), empty when
    /// absent; `ci_low` / `ci_high` from the metric's confidence interval, empty when it has none.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        out.push_str(&CSV_COLUMNS.join(","));
        out.push_str("\r\n");
        for e in &self.experiments {
            let layer = protocol_cell(e, "layer").unwrap_or_default();
            let probe = protocol_cell(e, "probe").unwrap_or_default();
            let split = protocol_cell(e, "train_split")
                .or_else(|| protocol_cell(e, "split"))
                .unwrap_or_default();
            for (metric, value) in e.metrics_natural_order() {
                let (lo, hi) = e
                    .confidence_intervals
                    .get(metric)
                    .map(|c| (csv_number(c.lower), csv_number(c.upper)))
                    .unwrap_or_default();
                let cells = [
                    field(&e.model.zoo_name),
                    field(&e.name),
                    field(&layer),
                    field(&probe),
                    field(&split),
                    field(metric),
                    csv_number(value),
                    lo,
                    hi,
                ];
                let _ = write!(out, "{}\r\n", cells.join(","));
            }
        }
        out
    }

    /// Writes [`Results::to_csv`] to `path` (atomically).
    pub fn save_csv(&self, path: impl AsRef<Path>) -> Result<(), ReportError> {
        crate::files::write_atomic(path.as_ref(), self.to_csv().as_bytes())
    }
}
