//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong in `patchlens-metrics`. Every variant names the offending value, size or file.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// Two inputs that must have the same shape do not (e.g. a prediction map and its ground truth).
    #[error("size mismatch: {what_a} is {a} but {what_b} is {b}")]
    SizeMismatch {
        /// What the first input is (e.g. "prediction").
        what_a: &'static str,
        /// Its size, formatted (`W×H` for maps, a length for flat arrays).
        a: String,
        /// What the second input is (e.g. "ground truth").
        what_b: &'static str,
        /// Its size, formatted.
        b: String,
    },
    /// A label value that is not a raw id of the label space.
    #[error(
        "{what}: label {value} is outside the label space `{space}` (valid raw ids are 0..={max}{})",
        alias_note(*ignore)
    )]
    LabelOutOfRange {
        /// The label space's name (e.g. "cityscapes").
        space: String,
        /// Which input held the value ("prediction", "ground truth", ...).
        what: &'static str,
        /// The offending value.
        value: u32,
        /// The largest valid raw id.
        max: u32,
        /// The space's ignore value outside the raw ids ([`crate::labels::IgnoreAlias`]), also valid.
        ignore: Option<u32>,
    },
    /// Two confusion matrices over different label spaces were merged.
    #[error("cannot merge confusion matrices over label spaces `{a}` and `{b}`")]
    LabelSpaceMismatch {
        /// The first space's name.
        a: String,
        /// The second space's name.
        b: String,
    },
    /// An index (gallery index, patch index, ...) that points outside its array.
    #[error("{what}: index {index} is out of range (length {len})")]
    IndexOutOfRange {
        /// Which array the index points into.
        what: &'static str,
        /// The offending index.
        index: i64,
        /// The array's length.
        len: usize,
    },
    /// An argument with an invalid value.
    #[error("invalid {what}: {detail}")]
    InvalidArgument {
        /// The argument's name.
        what: &'static str,
        /// Why it is invalid, with the value.
        detail: String,
    },
    /// The same object id appears twice in one frame.
    #[error("{what}: object id {id} appears more than once")]
    DuplicateId {
        /// Which frame / list.
        what: String,
        /// The duplicated id.
        id: i64,
    },
    /// Reading or writing a PNG failed.
    #[error("cannot read or write PNG {path}")]
    Png {
        /// The file.
        path: PathBuf,
        /// The codec error.
        #[source]
        source: patchlens_image::CodecError,
    },
    /// A PNG that is not a single-channel label image.
    #[error("PNG {path}: expected a single-channel 8- or 16-bit label image, found {found}")]
    NotALabelImage {
        /// The file.
        path: PathBuf,
        /// The colour type found.
        found: String,
    },
}

fn alias_note(ignore: Option<u32>) -> String {
    ignore
        .map(|v| format!(", and {v} = ignore"))
        .unwrap_or_default()
}

/// Shorthand for `Result<T, MetricsError>`.
pub type Result<T> = std::result::Result<T, MetricsError>;

/// Format a 2-D size the way errors print it: `W×H`.
pub(crate) fn dims(width: usize, height: usize) -> String {
    format!("{width}×{height}")
}

/// Check that two flat arrays have the same length.
pub(crate) fn same_len(
    what_a: &'static str,
    a: usize,
    what_b: &'static str,
    b: usize,
) -> Result<()> {
    if a == b {
        Ok(())
    } else {
        Err(MetricsError::SizeMismatch {
            what_a,
            a: a.to_string(),
            what_b,
            b: b.to_string(),
        })
    }
}
