//! Typed errors of the report crate.

use std::path::PathBuf;

/// Errors of `patchlens-report`.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// An I/O operation on `path` failed.
    #[error("I/O error on {path}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A results file could not be parsed.
    #[error("cannot parse results file {path}")]
    Parse {
        /// The results file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// A results file has a schema version this crate does not read.
    #[error("results file {path} has schema_version {found}, this build reads {supported}")]
    SchemaVersion {
        /// The results file.
        path: PathBuf,
        /// Version in the file.
        found: u32,
        /// Version this crate reads and writes.
        supported: u32,
    },
    /// Serialising results to JSON failed.
    #[error("cannot serialise results")]
    Serialize(#[source] serde_json::Error),
    /// Invalid input to a statistic (empty data, mismatched sizes, bad parameters).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A curve is malformed (`x`/`y` lengths differ, ...).
    #[error("curve {label:?} of figure {figure:?}: {reason}")]
    BadCurve {
        /// Figure id.
        figure: String,
        /// Series label.
        label: String,
        /// What is wrong.
        reason: String,
    },
    /// Drawing a plot failed.
    #[error("plotting figure {figure:?} failed: {reason}")]
    Plot {
        /// Figure id.
        figure: String,
        /// Backend message.
        reason: String,
    },
    /// Encoding a PNG failed.
    #[error("PNG encoding failed: {0}")]
    Png(String),
}

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ReportError {
    let path = path.into();
    move |source| ReportError::Io { path, source }
}
