//! The crate's error type.

use std::path::PathBuf;

/// Errors from image decoding, encoding and geometric operations. Each variant names the file or value at fault.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The file could not be read or written.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file could not be decoded (or encoded) as an image.
    #[error("cannot decode/encode image {path}: {source}")]
    Codec {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: image::ImageError,
    },
    /// A label file is not a single-channel (grayscale or palette) image.
    #[error(
        "label image {path} is not single-channel (found {found}); labels must be a grayscale or palette PNG"
    )]
    NotALabelImage {
        /// The file.
        path: PathBuf,
        /// A description of the colour type found.
        found: String,
    },
    /// The image has a channel count the operation does not support.
    #[error("{op}: unsupported channel count {channels} (expected {expected})")]
    Channels {
        /// The operation.
        op: &'static str,
        /// The channel count found.
        channels: usize,
        /// What was expected.
        expected: &'static str,
    },
    /// A crop rectangle does not fit in the image.
    #[error("crop rectangle x={x} y={y} w={w} h={h} does not fit in a {width}x{height} image")]
    CropOutOfBounds {
        /// Left column.
        x: usize,
        /// Top row.
        y: usize,
        /// Crop width.
        w: usize,
        /// Crop height.
        h: usize,
        /// Image width.
        width: usize,
        /// Image height.
        height: usize,
    },
    /// An argument value is invalid (zero size, bad kernel, ...).
    #[error("invalid argument {name} = {value}: {reason}")]
    InvalidArgument {
        /// Parameter name.
        name: &'static str,
        /// The offending value, formatted.
        value: String,
        /// Why it is invalid.
        reason: &'static str,
    },
}
