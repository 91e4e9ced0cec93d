//! The crate's error type.

use std::path::PathBuf;

/// Errors from dataset readers, splits, tiling and the synthetic benchmark.
///
/// Every variant names the file, key or value at fault. No reader panics on bad input.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// Files that a dataset layout requires are absent. *All* missing paths are listed, not just the first.
    #[error("{dataset}: {} file(s) missing under {root}:\n{}", missing.len(), list_paths(missing))]
    MissingFiles {
        /// Dataset name.
        dataset: &'static str,
        /// The dataset root that was searched.
        root: PathBuf,
        /// Every missing path.
        missing: Vec<PathBuf>,
    },
    /// Files of a dataset break its layout rules (two files with one stem, a mask that is not
    /// single-channel, ...). *All* problems found are listed, each with its file.
    #[error("{dataset}: {} layout problem(s) under {root}:\n{}", problems.len(), list_problems(problems))]
    Layout {
        /// Dataset name.
        dataset: &'static str,
        /// The dataset root.
        root: PathBuf,
        /// `(file, what is wrong)` per problem.
        problems: Vec<(PathBuf, String)>,
    },
    /// A directory could not be listed or a file could not be read.
    #[error("I/O error on {path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An image or label file could not be decoded (unreadable, truncated, wrong format).
    #[error("cannot read {what} {path}")]
    Image {
        /// "image", "label" or "output" (a file being written).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: Box<patchlens_image::ImageError>,
    },
    /// An image operation (crop, resize, transform) failed on an item.
    #[error("image operation failed for {item}")]
    ImageOp {
        /// The item (image id or file) being processed.
        item: String,
        /// The underlying error.
        #[source]
        source: Box<patchlens_image::ImageError>,
    },
    /// A label map holds an id outside the dataset's label range.
    #[error(
        "{dataset}: label file {path} holds id {value} ({count} pixel(s), the first at x={x}, y={y}) outside the valid ids {valid}"
    )]
    LabelOutOfRange {
        /// Dataset name.
        dataset: &'static str,
        /// The label file.
        path: PathBuf,
        /// The smallest offending value.
        value: u8,
        /// How many pixels hold that value.
        count: u64,
        /// Column of the first pixel (row-major order) holding `value`.
        x: usize,
        /// Row of that pixel.
        y: usize,
        /// The valid ids, described (e.g. `0..=33`, `{0, 255}`).
        valid: String,
    },
    /// Image and label map of one item have different sizes.
    #[error(
        "size mismatch: image {image} is {image_w}x{image_h} but label {label} is {label_w}x{label_h}"
    )]
    SizeMismatch {
        /// The image file.
        image: PathBuf,
        /// Image width.
        image_w: usize,
        /// Image height.
        image_h: usize,
        /// The label file.
        label: PathBuf,
        /// Label width.
        label_w: usize,
        /// Label height.
        label_h: usize,
    },
    /// An image does not have the size the dataset protocol requires (e.g. Cityscapes 2048x1024).
    #[error("{path}: expected a {expected_w}x{expected_h} image, found {found_w}x{found_h}")]
    UnexpectedSize {
        /// The file.
        path: PathBuf,
        /// Expected width.
        expected_w: usize,
        /// Expected height.
        expected_h: usize,
        /// Found width.
        found_w: usize,
        /// Found height.
        found_h: usize,
    },
    /// An annotation file could not be parsed.
    #[error("cannot parse annotation {path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the offending key/value.
        reason: String,
    },
    /// An unknown split or pool name was requested.
    #[error("{dataset}: unknown split {name:?}; known: {known}")]
    UnknownSplit {
        /// Dataset name.
        dataset: &'static str,
        /// The requested name.
        name: String,
        /// Comma-separated known names.
        known: String,
    },
    /// An argument value is invalid (zero size, tile larger than image, ...).
    #[error("invalid argument {name} = {value}: {reason}")]
    InvalidArgument {
        /// Parameter name.
        name: &'static str,
        /// The offending value, formatted.
        value: String,
        /// Why it is invalid.
        reason: String,
    },
}

fn list_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| format!("  {}", p.display()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn list_problems(problems: &[(PathBuf, String)]) -> String {
    problems
        .iter()
        .map(|(p, why)| format!("  {}: {why}", p.display()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, DataError>;

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> DataError {
    let path = path.into();
    move |source| DataError::Io { path, source }
}

pub(crate) fn invalid(
    name: &'static str,
    value: impl ToString,
    reason: impl ToString,
) -> DataError {
    DataError::InvalidArgument {
        name,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}
