//! Image degradations of the robustness study (protocol §5, §7): box blur, Gaussian noise and
//! band-limited ("frequency") noise. All operate on 8-bit images `[H, W, C]` on the 0–255 scale and
//! are deterministic under a seed.
//!
//! # Frequency noise (our design; the study's implementation is lost)
//!
//! For each channel independently: draw white Gaussian noise `n[y, x]`, take its 2-D DFT, keep only
//! the frequencies whose radial frequency `ρ = sqrt(fx² + fy²)` (cycles per pixel, `fx = kx / W`
//! with `kx` wrapped to `[-W/2, W/2)`) falls in the band, inverse-transform, and scale the result so
//! that its RMS over the whole image (all channels) is exactly `sigma`. The four bands are octaves:
//!
//! | band | name | `ρ` range (cycles/px) | spatial period |
//! |---|---|---|---|
//! | 1 | low | `(0, 1/16)` (DC excluded) | > 16 px |
//! | 2 | mid-low | `[1/16, 1/8)` | 8–16 px |
//! | 3 | mid-high | `[1/8, 1/4)` | 4–8 px |
//! | 4 | high | `[1/4, √2/2]` | < 4 px |
//!
//! Every band therefore adds noise of the same energy (matched RMS), so the bands differ only in
//! where that energy sits in the spectrum. The noisy image is `clip(img + noise, 0, 255)` cast to
//! `u8` by truncation, like the Gaussian noise.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rustfft::{FftPlanner, num_complex::Complex};

use crate::{ImageError, ImageU8};

/// Box-blur kernel sizes of the study (`cv2.blur`, k × k), levels 1–4 (protocol §5/§7).
pub const BLUR_KERNELS: [usize; 4] = [2, 4, 6, 8];
/// Gaussian noise standard deviations on the 0–255 scale, levels 1–4 (protocol §5/§7).
pub const NOISE_SIGMAS: [f32; 4] = [10.0, 20.0, 30.0, 40.0];
/// Radial band edges of the frequency noise in cycles per pixel: band `b` (1-based) covers
/// `[FREQ_BAND_EDGES[b-1], FREQ_BAND_EDGES[b])` (band 1 excludes DC; band 4 runs to the corners).
pub const FREQ_BAND_EDGES: [f64; 5] = [0.0, 1.0 / 16.0, 1.0 / 8.0, 1.0 / 4.0, f64::INFINITY];
/// RMS of the frequency noise on the 0–255 scale, identical for every band (our choice; the study does not say).
pub const FREQ_NOISE_SIGMA: f32 = 20.0;

/// One degradation with its parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Degradation {
    /// `cv2.blur` with a `k × k` box kernel.
    BoxBlur {
        /// Kernel size (≥ 1).
        k: usize,
    },
    /// Additive i.i.d. Gaussian noise, 0–255 scale, clipped and truncated to `u8`.
    GaussianNoise {
        /// Standard deviation.
        sigma: f32,
    },
    /// Band-limited Gaussian noise (see the module docs).
    FrequencyNoise {
        /// Band 1 (low) ..= 4 (high).
        band: u8,
        /// RMS of the added noise.
        sigma: f32,
    },
}

impl Degradation {
    /// The protocol's level `level` (1..=4) of a degradation kind: `"blur"`, `"noise"` or `"freq"`.
    pub fn level(kind: &str, level: usize) -> Result<Self, ImageError> {
        if !(1..=4).contains(&level) {
            return Err(ImageError::InvalidArgument {
                name: "degradation level",
                value: level.to_string(),
                reason: "must be 1..=4",
            });
        }
        match kind {
            "blur" => Ok(Self::BoxBlur {
                k: BLUR_KERNELS[level - 1],
            }),
            "noise" => Ok(Self::GaussianNoise {
                sigma: NOISE_SIGMAS[level - 1],
            }),
            "freq" => Ok(Self::FrequencyNoise {
                band: level as u8,
                sigma: FREQ_NOISE_SIGMA,
            }),
            other => Err(ImageError::InvalidArgument {
                name: "degradation kind",
                value: other.to_string(),
                reason: "expected blur, noise or freq",
            }),
        }
    }

    /// Apply to an image; `seed` drives the noise (ignored by blur).
    pub fn apply(&self, img: &ImageU8, seed: u64) -> Result<ImageU8, ImageError> {
        match *self {
            Self::BoxBlur { k } => box_blur(img, k),
            Self::GaussianNoise { sigma } => gaussian_noise(img, sigma, seed),
            Self::FrequencyNoise { band, sigma } => frequency_noise(img, band, sigma, seed),
        }
    }
}

/// `BORDER_REFLECT_101` index (`gfedcb|abcdefgh|gfedcba`).
#[inline]
fn reflect101(i: isize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let n = n as isize;
    let mut i = i;
    loop {
        if i < 0 {
            i = -i;
        } else if i >= n {
            i = 2 * n - 2 - i;
        } else {
            return i as usize;
        }
    }
}

/// `cv2.blur(img, (k, k))`: the mean over a `k × k` window, default anchor `k / 2` (so for even `k`
/// the window covers offsets `-k/2 ..= k/2 - 1`, e.g. `{-1, 0}` for `k = 2`), border
/// `BORDER_REFLECT_101`. Exact integer window sums `s`; the division is OpenCV's 16-bit fixed point
/// for `k <= 16`: `((s + δ) * m) >> 23` with `m ≈ 2^23 / k²` and `δ = k²/2 (+1)` (so 2×2 gives
/// `(s + 3) >> 2`, not round-to-nearest). Bit-exact with OpenCV 4.10. `[H, W, C]` in and out.
pub fn box_blur(img: &ImageU8, k: usize) -> Result<ImageU8, ImageError> {
    if k == 0 || k > 1 + 2 * img.width.min(img.height).max(1) {
        return Err(ImageError::InvalidArgument {
            name: "blur kernel size",
            value: k.to_string(),
            reason: "must be >= 1 and not exceed the image size",
        });
    }
    let (w, h, c) = (img.width, img.height, img.channels);
    let anchor = (k / 2) as isize;
    // Horizontal sums.
    let mut hsum = vec![0u32; w * h * c];
    for y in 0..h {
        let row = &img.data[y * w * c..(y + 1) * w * c];
        for x in 0..w {
            for ch in 0..c {
                let mut s = 0u32;
                for j in 0..k as isize {
                    s += row[reflect101(x as isize - anchor + j, w) * c + ch] as u32;
                }
                hsum[(y * w + x) * c + ch] = s;
            }
        }
    }
    let area = (k * k) as u64;
    // OpenCV's `ColumnSum<ushort, uchar>` (used when k*k*255 fits in 16 bits, i.e. k <= 16):
    // fixed-point division `((s + div_delta) * div_scale) >> 23`. Larger kernels: `round(s / k^2)`.
    let fixed = area * 255 < 1 << 16;
    let scalef = (1u64 << 23) as f64 / area as f64;
    let mut div_scale = scalef.floor() as u64;
    let mut div_delta = area / 2;
    if scalef - (div_scale as f64) < 0.5 {
        div_delta += 1;
    } else {
        div_scale += 1;
    }
    let mut out = ImageU8::new(w, h, c);
    for y in 0..h {
        for i in 0..w * c {
            let mut s = 0u64;
            for j in 0..k as isize {
                s += hsum[reflect101(y as isize - anchor + j, h) * w * c + i] as u64;
            }
            out.data[y * w * c + i] = if fixed {
                (((s + div_delta) * div_scale) >> 23).min(255) as u8
            } else {
                (s as f64 / area as f64).round_ties_even().min(255.0) as u8
            };
        }
    }
    Ok(out)
}

/// A standard normal sampler (Box–Muller on ChaCha8 uniforms), producing values in pairs.
struct Normal {
    rng: ChaCha8Rng,
    spare: Option<f64>,
}

impl Normal {
    fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            spare: None,
        }
    }

    fn sample(&mut self) -> f64 {
        if let Some(v) = self.spare.take() {
            return v;
        }
        // u1 in (0, 1] so that ln(u1) is finite.
        let u1: f64 = 1.0 - self.rng.random::<f64>();
        let u2: f64 = self.rng.random::<f64>();
        let r = (-2.0 * u1.ln()).sqrt();
        let t = std::f64::consts::TAU * u2;
        self.spare = Some(r * t.sin());
        r * t.cos()
    }
}

fn check_sigma(sigma: f32) -> Result<(), ImageError> {
    if !sigma.is_finite() || sigma < 0.0 {
        return Err(ImageError::InvalidArgument {
            name: "sigma",
            value: sigma.to_string(),
            reason: "must be finite and >= 0",
        });
    }
    Ok(())
}

/// Add noise values (same layout as `img.data`), clip to `[0, 255]`, truncate to `u8`
/// (numpy's `np.clip(img + n, 0, 255).astype(np.uint8)`).
fn add_clip_truncate(img: &ImageU8, noise: impl Iterator<Item = f64>) -> ImageU8 {
    let data = img
        .data
        .iter()
        .zip(noise)
        .map(|(&u, n)| (u as f64 + n).clamp(0.0, 255.0) as u8)
        .collect();
    ImageU8 {
        width: img.width,
        height: img.height,
        channels: img.channels,
        data,
    }
}

/// Additive Gaussian noise `N(0, sigma)` per pixel and channel on the 0–255 scale, then clipped to
/// `[0, 255]` and truncated to `u8` (as the study's `astype(np.uint8)`). Deterministic in `seed`
/// (ChaCha8 stream, values drawn in `[H, W, C]` order).
pub fn gaussian_noise(img: &ImageU8, sigma: f32, seed: u64) -> Result<ImageU8, ImageError> {
    check_sigma(sigma)?;
    let mut normal = Normal::new(seed);
    let s = sigma as f64;
    Ok(add_clip_truncate(
        img,
        std::iter::repeat_with(move || s * normal.sample()),
    ))
}

/// Whether radial frequency `rho` (cycles/px) lies in `band` (1..=4), see [`FREQ_BAND_EDGES`].
pub fn in_band(rho: f64, band: u8) -> bool {
    let b = band as usize;
    (1..=4).contains(&b) && rho > 0.0 && rho >= FREQ_BAND_EDGES[b - 1] && rho < FREQ_BAND_EDGES[b]
}

/// Signed DFT frequency of bin `k` of `n` in cycles per sample, in `[-1/2, 1/2)`.
#[inline]
fn freq(k: usize, n: usize) -> f64 {
    let k = if 2 * k >= n {
        k as f64 - n as f64
    } else {
        k as f64
    };
    k / n as f64
}

/// Band-limited Gaussian noise field `[height, width, channels]` (interleaved), RMS exactly `sigma`
/// over all values (see the module docs). Deterministic in `seed`.
pub fn band_noise(
    width: usize,
    height: usize,
    channels: usize,
    band: u8,
    sigma: f32,
    seed: u64,
) -> Result<Vec<f32>, ImageError> {
    check_sigma(sigma)?;
    if !(1..=4).contains(&band) {
        return Err(ImageError::InvalidArgument {
            name: "frequency band",
            value: band.to_string(),
            reason: "must be 1 (low) ..= 4 (high)",
        });
    }
    if width < 2 || height < 2 || channels == 0 {
        return Err(ImageError::InvalidArgument {
            name: "noise size",
            value: format!("{width}x{height}x{channels}"),
            reason: "needs at least 2x2 pixels and one channel",
        });
    }
    let mut normal = Normal::new(seed);
    let mut planner = FftPlanner::<f64>::new();
    let (fwd_w, inv_w) = (
        planner.plan_fft_forward(width),
        planner.plan_fft_inverse(width),
    );
    let (fwd_h, inv_h) = (
        planner.plan_fft_forward(height),
        planner.plan_fft_inverse(height),
    );
    let mask: Vec<bool> = (0..height)
        .flat_map(|ky| (0..width).map(move |kx| (ky, kx)))
        .map(|(ky, kx)| in_band(freq(kx, width).hypot(freq(ky, height)), band))
        .collect();
    let mut out = vec![0.0f32; width * height * channels];
    let mut field = vec![Complex::new(0.0, 0.0); width * height];
    let mut col = vec![Complex::new(0.0, 0.0); height];
    let mut energy = 0.0f64;
    let mut planes = Vec::with_capacity(channels);
    for _ in 0..channels {
        for v in field.iter_mut() {
            *v = Complex::new(normal.sample(), 0.0);
        }
        // Forward 2-D DFT: rows, then columns.
        for row in field.chunks_exact_mut(width) {
            fwd_w.process(row);
        }
        let mut columns = |f: &mut [Complex<f64>], fft: &std::sync::Arc<dyn rustfft::Fft<f64>>| {
            for x in 0..width {
                for y in 0..height {
                    col[y] = f[y * width + x];
                }
                fft.process(&mut col);
                for y in 0..height {
                    f[y * width + x] = col[y];
                }
            }
        };
        columns(&mut field, &fwd_h);
        for (v, &keep) in field.iter_mut().zip(&mask) {
            if !keep {
                *v = Complex::new(0.0, 0.0);
            }
        }
        columns(&mut field, &inv_h);
        for row in field.chunks_exact_mut(width) {
            inv_w.process(row);
        }
        // The mask is symmetric under k -> -k, so the field is real up to rounding.
        let plane: Vec<f64> = field.iter().map(|v| v.re).collect();
        energy += plane.iter().map(|v| v * v).sum::<f64>();
        planes.push(plane);
    }
    let rms = (energy / (width * height * channels) as f64).sqrt();
    let gain = if rms > 0.0 { sigma as f64 / rms } else { 0.0 };
    for (ch, plane) in planes.iter().enumerate() {
        for (p, v) in plane.iter().enumerate() {
            out[p * channels + ch] = (v * gain) as f32;
        }
    }
    Ok(out)
}

/// Frequency noise: add [`band_noise`] (`band` 1 = low ..= 4 = high, RMS `sigma` on the 0–255
/// scale), clip to `[0, 255]` and truncate to `u8`. Deterministic in `seed`.
pub fn frequency_noise(
    img: &ImageU8,
    band: u8,
    sigma: f32,
    seed: u64,
) -> Result<ImageU8, ImageError> {
    let noise = band_noise(img.width, img.height, img.channels, band, sigma, seed)?;
    Ok(add_clip_truncate(img, noise.into_iter().map(f64::from)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect101_matches_opencv_definition() {
        // gfedcb|abcdefgh|gfedcba for n = 8.
        let got: Vec<usize> = (-3..11).map(|i| reflect101(i, 8)).collect();
        assert_eq!(got, vec![3, 2, 1, 0, 1, 2, 3, 4, 5, 6, 7, 6, 5, 4]);
    }

    #[test]
    fn blur_k2_hand_worked() {
        // One row [0, 10, 20, 31]; window offsets {-1, 0} in x and y (row -1 of a 1-row image
        // reflects to row 0, so the 2x2 sum is twice the row pair sum). OpenCV divides by 4 as
        // (s + 3) >> 2: x=0 -> row pair 10+0 (x=-1 reflects to 1), s=20 -> 5; x=1 -> s=20 -> 5;
        // x=2 -> s=60 -> 15; x=3 -> s=102 -> 26.
        let img = ImageU8 {
            width: 4,
            height: 1,
            channels: 1,
            data: vec![0, 10, 20, 31],
        };
        let out = box_blur(&img, 2).expect("blur");
        assert_eq!(out.data, vec![5, 5, 15, 26]);
        // s = 2 * (1 + 1) = 4... with [1, 2]: x=0 -> 2*(2+1)=6 -> (6+3)>>2 = 2; x=1 -> 6 -> 2.
        let img = ImageU8 {
            width: 2,
            height: 1,
            channels: 1,
            data: vec![1, 2],
        };
        assert_eq!(box_blur(&img, 2).expect("blur").data, vec![2, 2]);
        // A sum of 1 (quarter) rounds *up* in OpenCV's fixed point: 2x2 window over [1, 0 / 0, 0]
        // at (0, 0) -> offsets {-1, 0} reflect to {1, 0}: pixels (1,1)=0,(1,0)=0,(0,1)=0,(0,0)=1.
        let img = ImageU8 {
            width: 2,
            height: 2,
            channels: 1,
            data: vec![1, 0, 0, 0],
        };
        assert_eq!(box_blur(&img, 2).expect("blur").data[0], 1);
    }

    #[test]
    fn levels_follow_the_protocol() {
        assert_eq!(
            Degradation::level("blur", 3).expect("ok"),
            Degradation::BoxBlur { k: 6 }
        );
        assert_eq!(
            Degradation::level("noise", 1).expect("ok"),
            Degradation::GaussianNoise { sigma: 10.0 }
        );
        assert!(Degradation::level("noise", 5).is_err());
        assert!(Degradation::level("fog", 1).is_err());
    }
}
