//! The crate's error type.

use std::path::PathBuf;

/// Errors from image decoding, encoding and geometric operations. Each variant names the file or value at fault.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The file could not be read or written.
    #[error("I/O error on {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file could not be decoded (or encoded) as an image.
    #[error("cannot decode/encode image {path}")]
    Codec {
        /// The file.
        path: PathBuf,
        /// The codec's error.
        #[source]
        source: CodecError,
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

/// An `image` crate error as the cause of another error, printed once along a `source()` chain.
///
/// `image::ImageError::Decoding` / `Encoding` write the underlying decoder error (e.g. `png`'s
/// "unexpected end of file") into their own message *and* return it from `source()`, so a chain
/// printer such as `anyhow`'s `{:#}` would show that text twice. This wrapper prints the `image`
/// error's message and, from `source()`, skips every link whose message that text already contains.
/// The `image` error itself stays available as the public field.
#[derive(Debug)]
pub struct CodecError(pub image::ImageError);

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for CodecError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        let text = self.0.to_string();
        let mut next = std::error::Error::source(&self.0);
        while let Some(e) = next {
            if !text.contains(&e.to_string()) {
                break;
            }
            next = e.source();
        }
        next
    }
}

impl From<image::ImageError> for CodecError {
    fn from(e: image::ImageError) -> Self {
        CodecError(e)
    }
}
