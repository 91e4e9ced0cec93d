//! patchlens-image: decoding, OpenCV-exact resizing, normalisation, degradations and geometric
//! transforms with patch correspondences. Knows nothing about models or datasets.
//!
//! Images are stored interleaved, row-major, `[H, W, C]` (OpenCV's layout) in [`Image`].
//!
//! * I/O: [`decode_rgb`] (PNG/JPEG → RGB), [`decode_label`] (grayscale/palette PNG → raw indices),
//!   [`write_png`] (atomic), [`encode_indexed_png`] (palette PNG bytes, DAVIS annotation format).
//! * Pixels: [`crop`], [`to_f32_normalized`] with [`IMAGENET_MEAN`]/[`IMAGENET_STD`], [`to_chw`],
//!   [`patch_labels`] (protocol §3 centre-pixel labels).
//! * Resizing: [`resize_u8`], [`resize_f32`] reproduce `cv2.resize` of opencv-python 4.x
//!   (bit-exact for `u8` linear/area/nearest-exact; see the `resize` module notes on the IPP-backed
//!   cubic and float paths). Verified against OpenCV 4.10 fixtures in `fixtures/image/`.
//! * Degradations (protocol §5): [`box_blur`] (`cv2.blur`, bit-exact), [`gaussian_noise`],
//!   [`frequency_noise`] (our four-band design, documented on [`band_noise`]), all behind
//!   [`Degradation`] with the study's levels [`BLUR_KERNELS`], [`NOISE_SIGMAS`], [`FREQ_BAND_EDGES`].
//! * Geometry (protocol §7): [`transform_tile`] with [`Geometric`] rotate/scale/shift (levels
//!   [`ROTATION_DEGREES`], [`SCALE_FACTORS`], [`SHIFT_PIXELS`]) returns the transformed tile and a
//!   [`Correspondence`] map; [`warp_affine`] is `cv2.warpAffine` (bit-exact with OpenCV 4.10).
//!
//! # Frequency noise
//!
//! The study's implementation is lost; ours: per channel, white Gaussian noise is filtered to one
//! of four octave bands of radial frequency `ρ = sqrt(fx² + fy²)` (cycles/px) — band 1 (low)
//! `(0, 1/16)`, 2 `[1/16, 1/8)`, 3 `[1/8, 1/4)`, 4 (high) `[1/4, √2/2]` — by zeroing all other DFT
//! coefficients, then scaled so the noise RMS is exactly `sigma` (default [`FREQ_NOISE_SIGMA`] = 20
//! on the 0–255 scale) in every band; the image is `clip(img + noise)` truncated to `u8`.

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
pub use error::{CodecError, ImageError};
pub use geom::{
    Correspondence, Geometric, ROTATION_DEGREES, SCALE_FACTORS, SHIFT_PIXELS, Tile,
    TransformedTile, invert_affine, rotation_matrix, transform_tile, warp_affine,
};
pub use io::{decode_label, decode_rgb, encode_indexed_png, write_png};
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
