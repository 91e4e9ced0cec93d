//! Typed errors and warnings of the feature store.

use std::path::PathBuf;

/// Errors returned by the feature store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An I/O operation on `path` failed.
    #[error("I/O error on {path}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A shard handed to the store (or built with [`crate::Shard::new`]) is inconsistent.
    #[error("invalid shard: {0}")]
    InvalidShard(String),
    /// A metadata key uses the reserved `patchlens.` prefix.
    #[error("metadata key {0:?} uses the reserved prefix \"patchlens.\"")]
    ReservedMetadataKey(String),
    /// A string is not a valid shard key (64 lowercase hex digits).
    #[error("invalid shard key {0:?}: expected 64 lowercase hex digits")]
    InvalidKey(String),
    /// A shard file exists but is unreadable as a valid shard (only from [`crate::FeatureStore::get`];
    /// [`crate::FeatureStore::get_or_compute`] turns this into a [`StoreWarning`] and recomputes).
    #[error("corrupt shard {path}: {reason}")]
    Corrupt {
        /// The shard file.
        path: PathBuf,
        /// What is wrong with it.
        reason: CorruptReason,
    },
    /// The compute closure of [`crate::FeatureStore::get_or_compute`] failed for `key`.
    #[error("computing shard {key} failed")]
    Compute {
        /// The shard key.
        key: String,
        /// The closure's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Why a shard file was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorruptReason {
    /// The safetensors container could not be parsed (truncated file, bad header, ...).
    #[error("unparsable safetensors container: {0}")]
    Container(String),
    /// A required tensor is missing.
    #[error("missing tensor {0:?}")]
    MissingTensor(&'static str),
    /// A tensor has an unexpected dtype.
    #[error("tensor {tensor:?} has dtype {found}, expected {expected}")]
    BadDtype {
        /// Tensor name.
        tensor: &'static str,
        /// Dtype found in the file.
        found: String,
        /// Accepted dtype(s).
        expected: &'static str,
    },
    /// A tensor has an unexpected shape.
    #[error("tensor {tensor:?} has shape {found:?}, expected {expected}")]
    BadShape {
        /// Tensor name.
        tensor: &'static str,
        /// Shape found in the file.
        found: Vec<usize>,
        /// What was expected.
        expected: String,
    },
    /// A required metadata entry is missing.
    #[error("missing metadata entry {0:?}")]
    MissingMetadata(&'static str),
    /// The stored format version is not supported.
    #[error("unsupported format {0:?}")]
    UnsupportedFormat(String),
    /// The file was written for another key (misplaced or renamed file).
    #[error("file holds key {found}, expected {expected}")]
    KeyMismatch {
        /// Key recorded in the file.
        found: String,
        /// Key the file name promises.
        expected: String,
    },
    /// The sha256 of the tensor bytes differs from the recorded checksum.
    #[error("checksum mismatch: recorded sha256 {recorded}, computed {computed}")]
    ChecksumMismatch {
        /// Checksum in the metadata.
        recorded: String,
        /// Checksum of the bytes read.
        computed: String,
    },
}

/// A non-fatal event reported by [`crate::FeatureStore::get_or_compute`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreWarning {
    /// A shard file was corrupt; it was discarded and the shard recomputed.
    CorruptShardRecomputed {
        /// The shard file.
        path: PathBuf,
        /// What was wrong with it.
        reason: CorruptReason,
    },
}

impl std::fmt::Display for StoreWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreWarning::CorruptShardRecomputed { path, reason } => {
                write!(f, "corrupt shard {} ({reason}); recomputed", path.display())
            }
        }
    }
}

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.into();
    move |source| StoreError::Io { path, source }
}
