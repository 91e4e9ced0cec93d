//! Errors of the backbone crate. Every variant names the file and, where relevant, the key and values.

use std::path::PathBuf;

/// Anything that can go wrong loading or running a backbone.
#[derive(Debug, thiserror::Error)]
pub enum VitError {
    /// The checkpoint could not be opened or parsed (truncated, corrupt, not a checkpoint).
    #[error("{path}: cannot read checkpoint: {reason}")]
    Read {
        /// Checkpoint file.
        path: PathBuf,
        /// What the reader said.
        reason: String,
    },
    /// The checkpoint has an extension/format we do not read.
    #[error(
        "{path}: unsupported checkpoint format (expected .pth/.pt/.bin zip pickle or .safetensors)"
    )]
    Format {
        /// Checkpoint file.
        path: PathBuf,
    },
    /// No key of the file looks like this family's backbone.
    #[error(
        "{path}: no {family} backbone found: none of the keys ends with {anchors:?} (first keys: {sample:?})"
    )]
    NoBackbone {
        /// Checkpoint file.
        path: PathBuf,
        /// Family name.
        family: String,
        /// Anchor keys looked for.
        anchors: Vec<String>,
        /// A few keys of the file, to help.
        sample: Vec<String>,
    },
    /// Several backbones are in the file and the choice is ambiguous.
    #[error(
        "{path}: several backbones found under prefixes {prefixes:?}; choose one with `part` (e.g. \"teacher\")"
    )]
    AmbiguousBackbone {
        /// Checkpoint file.
        path: PathBuf,
        /// Candidate prefixes.
        prefixes: Vec<String>,
    },
    /// Keys the model needs are absent.
    #[error("{path}: missing keys for {family}: {keys:?}")]
    MissingKeys {
        /// Checkpoint file.
        path: PathBuf,
        /// Family name.
        family: String,
        /// Canonical names of the missing keys (as they would appear after remapping).
        keys: Vec<String>,
    },
    /// Keys inside the backbone that the family does not know.
    #[error("{path}: unexpected keys for {family}: {keys:?}")]
    UnexpectedKeys {
        /// Checkpoint file.
        path: PathBuf,
        /// Family name.
        family: String,
        /// Original names in the file.
        keys: Vec<String>,
    },
    /// A tensor has a shape different from the configuration's.
    #[error("{path}: key `{key}`: expected shape {expected:?}, found {found:?}")]
    Shape {
        /// Checkpoint file.
        path: PathBuf,
        /// Original key in the file.
        key: String,
        /// Shape the configuration requires.
        expected: Vec<usize>,
        /// Shape in the file.
        found: Vec<usize>,
    },
    /// A weight is not floating point.
    #[error("{path}: key `{key}`: expected a float tensor, found dtype {found}")]
    DType {
        /// Checkpoint file.
        path: PathBuf,
        /// Original key.
        key: String,
        /// dtype found.
        found: String,
    },
    /// A weight holds NaN or infinity.
    #[error("{path}: key `{key}`: {count} non-finite value(s) (first at flat index {first})")]
    NonFinite {
        /// Checkpoint file.
        path: PathBuf,
        /// Original key.
        key: String,
        /// Number of NaN/Inf values.
        count: usize,
        /// First offending flat index.
        first: usize,
    },
    /// Unknown zoo model name.
    #[error("unknown model `{name}`; known: {known}")]
    UnknownModel {
        /// Name asked for.
        name: String,
        /// Comma-separated list of known names.
        known: String,
    },
    /// A backend, device or precision that cannot be used (the message says which and what there is).
    #[error("{0}")]
    Backend(String),
    /// A configuration value is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// An input has the wrong size.
    #[error("input of size {height}x{width} is not a multiple of the patch size {patch}")]
    InputSize {
        /// Input height.
        height: usize,
        /// Input width.
        width: usize,
        /// Patch size.
        patch: usize,
    },
    /// A requested layer is outside 1..=depth.
    #[error("layer {layer} requested, the model has blocks 1..={depth}")]
    Layer {
        /// Requested layer.
        layer: usize,
        /// Model depth.
        depth: usize,
    },
    /// I/O error with a path.
    #[error("I/O error on {path}")]
    Io {
        /// File.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
}

/// Result alias.
pub type Result<T> = std::result::Result<T, VitError>;
