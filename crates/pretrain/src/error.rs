//! The crate's error type: every variant names the file, option or value at fault.

use std::path::PathBuf;

/// Anything that can go wrong while pretraining, exporting or evaluating a tiny model.
#[derive(Debug, thiserror::Error)]
pub enum PretrainError {
    /// A backbone operation failed (configuration, forward, checkpoint reading).
    #[error(transparent)]
    Vit(#[from] patchlens_vit::VitError),
    /// Generating the synthetic benchmark failed.
    #[error(transparent)]
    Data(#[from] patchlens_data::DataError),
    /// An option has a value we cannot use.
    #[error("invalid {name} `{value}`: {reason}")]
    Invalid {
        /// Option or parameter name.
        name: &'static str,
        /// The offending value.
        value: String,
        /// What is expected instead.
        reason: String,
    },
    /// The loss became NaN or infinite.
    #[error("{method}: loss is not finite ({loss}) at step {step}")]
    NonFinite {
        /// Objective name.
        method: &'static str,
        /// Training step (0-based).
        step: usize,
        /// The value.
        loss: f64,
    },
    /// Reading or writing a file failed.
    #[error("I/O error on {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Serialising a checkpoint failed.
    #[error("cannot write safetensors {path}: {reason}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What the writer said.
        reason: String,
    },
    /// A tensor could not be read back from the device.
    #[error("cannot read tensor `{what}` from the device: {reason}")]
    Tensor {
        /// Which tensor.
        what: String,
        /// What burn said.
        reason: String,
    },
}

/// Result alias of the crate.
pub type Result<T, E = PretrainError> = std::result::Result<T, E>;

pub(crate) fn invalid(
    name: &'static str,
    value: impl ToString,
    reason: impl ToString,
) -> PretrainError {
    PretrainError::Invalid {
        name,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

pub(crate) fn io_err(path: &std::path::Path, source: std::io::Error) -> PretrainError {
    PretrainError::Io {
        path: path.to_path_buf(),
        source,
    }
}
