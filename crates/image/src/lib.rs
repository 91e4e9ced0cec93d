//! patchlens-image: decoding, OpenCV-exact resizing, normalisation, degradations and geometric
//! transforms with patch correspondences. Knows nothing about models or datasets.
//!
//! Images are stored interleaved, row-major, `[H, W, C]` (OpenCV's layout).

mod degrade;
mod error;
mod geom;
mod io;
mod ops;
mod resize;

pub use degrade::{
    BLUR_KERNELS, Degradation, FREQ_BAND_EDGES, FREQ_NOISE_SIGMA, NOISE_SIGMAS, band_noise,
    box_blur, frequency_noise, gaussian_noise, in_band,
};
pub use error::ImageError;
pub use geom::{
    Correspondence, Geometric, ROTATION_DEGREES, SCALE_FACTORS, SHIFT_PIXELS, Tile,
    TransformedTile, invert_affine, rotation_matrix, transform_tile, warp_affine,
};
pub use io::{decode_label, decode_rgb, write_png};
pub use ops::{
    IMAGENET_MEAN, IMAGENET_STD, crop, from_chw, patch_labels, to_chw, to_f32_normalized,
};
pub use resize::{resize_f32, resize_u8};

/// An interleaved image `[height, width, channels]`, row-major (OpenCV `Mat` layout).
#[derive(Clone, Debug, PartialEq)]
pub struct Image<T> {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Channels per pixel (1 for masks/labels, 3 for RGB).
    pub channels: usize,
    /// `height * width * channels` values.
    pub data: Vec<T>,
}

/// 8-bit image (RGB photos, label maps).
pub type ImageU8 = Image<u8>;
/// Float image (normalised tiles).
pub type ImageF32 = Image<f32>;

impl<T: Copy + Default> Image<T> {
    /// A zero-filled image.
    pub fn new(width: usize, height: usize, channels: usize) -> Self {
        Self {
            width,
            height,
            channels,
            data: vec![T::default(); width * height * channels],
        }
    }

    /// Value at `(y, x, c)`.
    #[inline]
    pub fn at(&self, y: usize, x: usize, c: usize) -> T {
        self.data[(y * self.width + x) * self.channels + c]
    }
}

/// Interpolation kernels, with OpenCV's exact semantics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Interpolation {
    /// `INTER_NEAREST_EXACT`: nearest neighbour sampling pixel centres (used for label maps).
    NearestExact,
    /// `INTER_LINEAR`: bilinear, half-pixel centres.
    Linear,
    /// `INTER_CUBIC`: bicubic with a = -0.75, half-pixel centres.
    Cubic,
    /// `INTER_AREA`: area averaging for downscaling (bilinear when upscaling, as OpenCV).
    Area,
}
