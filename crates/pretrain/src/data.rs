//! Training data from the synthetic benchmark: a pool of pre-rendered scenes, torchvision-style
//! random resized crops, the DINO photometric augmentations, and batching into normalised tensors.

use burn::tensor::{Device, Tensor, TensorData};
use patchlens_data::synthetic::{SyntheticConfig, scene};
use patchlens_image::{
    IMAGENET_MEAN, IMAGENET_STD, ImageU8, Interpolation, box_blur, crop, resize_u8,
};
use rand::Rng;

use crate::error::{Result, invalid};

/// One training scene: RGB `[S, S, 3]` and class ids `[S, S, 1]` (0 = background).
#[derive(Clone, Debug)]
pub struct PoolScene {
    /// RGB image.
    pub image: ImageU8,
    /// Class mask.
    pub classes: ImageU8,
}

/// Scenes `range` of the synthetic generator `cfg`, rendered once into memory.
pub fn render_pool(cfg: &SyntheticConfig, range: std::ops::Range<usize>) -> Result<Vec<PoolScene>> {
    range
        .map(|i| {
            let s = scene(cfg, i)?;
            Ok(PoolScene {
                image: s.image,
                classes: s.class_mask,
            })
        })
        .collect()
}

/// A crop rectangle `(x, y, w, h)` in source pixels.
pub type CropBox = (usize, usize, usize, usize);

/// torchvision `RandomResizedCrop.get_params`: up to 10 tries of an area fraction in `scale` and a
/// log-uniform aspect ratio in [3/4, 4/3]; falls back to the whole (square) image.
pub fn random_crop_box<R: Rng>(
    rng: &mut R,
    width: usize,
    height: usize,
    scale: (f32, f32),
) -> CropBox {
    let area = (width * height) as f32;
    let (lo, hi) = ((3.0f32 / 4.0).ln(), (4.0f32 / 3.0).ln());
    for _ in 0..10 {
        let target = area * rng.random_range(scale.0..=scale.1);
        let ratio = rng.random_range(lo..=hi).exp();
        let w = (target * ratio).sqrt().round() as usize;
        let h = (target / ratio).sqrt().round() as usize;
        if w > 0 && h > 0 && w <= width && h <= height {
            let x = rng.random_range(0..=width - w);
            let y = rng.random_range(0..=height - h);
            return (x, y, w, h);
        }
    }
    let s = width.min(height);
    ((width - s) / 2, (height - s) / 2, s, s)
}

/// Crop `b` of `img` resized to `out × out` (bilinear for RGB, nearest for masks).
pub fn crop_resize(img: &ImageU8, b: CropBox, out: usize, mask: bool) -> Result<ImageU8> {
    let c = crop(img, b.0, b.1, b.2, b.3).map_err(|e| invalid("crop", format!("{b:?}"), e))?;
    let interp = if mask {
        Interpolation::NearestExact
    } else {
        Interpolation::Linear
    };
    Ok(resize_u8(&c, out, out, interp))
}

/// Mirror left–right in place.
pub fn hflip(img: &mut ImageU8) {
    let (w, c) = (img.width, img.channels);
    for row in img.data.chunks_exact_mut(w * c) {
        for x in 0..w / 2 {
            for ch in 0..c {
                row.swap(x * c + ch, (w - 1 - x) * c + ch);
            }
        }
    }
}

fn luma(p: &[u8]) -> f32 {
    0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32
}

fn clamp_u8(v: f32) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}

/// torchvision-style colour jitter without hue: brightness, contrast, saturation factors drawn from
/// `[1 − s, 1 + s]` for `s = (0.4, 0.4, 0.2)` (DINO's strengths), applied in that order.
pub fn colour_jitter<R: Rng>(rng: &mut R, img: &mut ImageU8) {
    let b = rng.random_range(0.6f32..=1.4);
    let c = rng.random_range(0.6f32..=1.4);
    let s = rng.random_range(0.8f32..=1.2);
    for v in &mut img.data {
        *v = clamp_u8(*v as f32 * b);
    }
    let mean = img.data.chunks_exact(3).map(luma).sum::<f32>() / (img.data.len() / 3).max(1) as f32;
    for v in &mut img.data {
        *v = clamp_u8((*v as f32 - mean) * c + mean);
    }
    for px in img.data.chunks_exact_mut(3) {
        let g = luma(px);
        for v in px.iter_mut() {
            *v = clamp_u8((*v as f32 - g) * s + g);
        }
    }
}

/// Replace every pixel by its luma (ITU-R 601, as torchvision's `Grayscale`).
pub fn grayscale(img: &mut ImageU8) {
    for px in img.data.chunks_exact_mut(3) {
        let g = clamp_u8(luma(px));
        px.fill(g);
    }
}

/// Invert pixels at or above 128 (torchvision `RandomSolarize(threshold=128)`).
pub fn solarize(img: &mut ImageU8) {
    for v in &mut img.data {
        if *v >= 128 {
            *v = 255 - *v;
        }
    }
}

/// DINO's photometric pipeline on one crop: flip (p = 0.5), colour jitter (p = 0.8), grayscale
/// (p = 0.2), 3 × 3 box blur (probability `blur_p`, standing in for DINO's Gaussian blur at this size),
/// solarisation (probability `solarize_p`). With `colour = false` only the flip and the blur are
/// applied (no jitter, grayscale or solarisation: the crop keeps its colours).
pub fn dino_photometric<R: Rng>(
    rng: &mut R,
    img: &mut ImageU8,
    blur_p: f64,
    solarize_p: f64,
    colour: bool,
) -> Result<()> {
    if rng.random_bool(0.5) {
        hflip(img);
    }
    if colour && rng.random_bool(0.8) {
        colour_jitter(rng, img);
    }
    if colour && rng.random_bool(0.2) {
        grayscale(img);
    }
    if rng.random_bool(blur_p) {
        *img = box_blur(img, 3).map_err(|e| invalid("blur", 3, e))?;
    }
    if colour && rng.random_bool(solarize_p) {
        solarize(img);
    }
    Ok(())
}

/// Normalised planar pixels `[3, H, W]` of an RGB image (ImageNet mean/std, as every model of the
/// study is evaluated).
pub fn normalised_chw(img: &ImageU8) -> Vec<f32> {
    let (h, w) = (img.height, img.width);
    let plane = h * w;
    let mut out = vec![0f32; 3 * plane];
    for (i, px) in img.data.chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * plane + i] = (px[c] as f32 / 255.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
        }
    }
    out
}

/// Stack equally sized RGB images into a normalised batch `[B, 3, H, W]`.
pub fn batch_tensor(images: &[ImageU8], device: &Device) -> Result<Tensor<4>> {
    let Some(first) = images.first() else {
        return Err(invalid("batch", 0, "empty batch"));
    };
    let (h, w) = (first.height, first.width);
    let mut data = Vec::with_capacity(images.len() * 3 * h * w);
    for im in images {
        if im.height != h || im.width != w || im.channels != 3 {
            return Err(invalid(
                "batch image",
                format!("{}x{}x{}", im.width, im.height, im.channels),
                format!("every image must be {w}x{h}x3"),
            ));
        }
        data.extend(normalised_chw(im));
    }
    Ok(Tensor::from_data(
        TensorData::new(data, [images.len(), 3, h, w]),
        device,
    ))
}

/// The supervised image-level label of a crop: the most frequent **object** class of its mask (ties →
/// the smallest id), or 0 when the crop shows background only. (The plain most-frequent id would be
/// background for almost every crop, a trivial task.)
pub fn dominant_class(mask: &ImageU8, num_labels: usize) -> usize {
    let mut counts = vec![0usize; num_labels.max(1)];
    for &v in mask.data.iter().step_by(mask.channels.max(1)) {
        if let Some(c) = counts.get_mut(v as usize) {
            *c += 1;
        }
    }
    let mut best = 0;
    for (i, &c) in counts.iter().enumerate().skip(1) {
        if c > 0 && (best == 0 || c > counts[best]) {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn img(w: usize, h: usize, data: Vec<u8>) -> ImageU8 {
        let channels = data.len() / (w * h);
        ImageU8 {
            width: w,
            height: h,
            channels,
            data,
        }
    }

    #[test]
    fn crop_boxes_fit_and_respect_the_area_range() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..500 {
            let (x, y, w, h) = random_crop_box(&mut rng, 128, 96, (0.25, 0.5));
            assert!(x + w <= 128 && y + h <= 96);
            let frac = (w * h) as f32 / (128.0 * 96.0);
            // Rounding of w and h moves the area by at most a few percent.
            assert!((0.22..=0.55).contains(&frac), "{frac}");
            let ratio = w as f32 / h as f32;
            assert!((0.70..=1.40).contains(&ratio), "{ratio}");
        }
    }

    #[test]
    fn flip_grayscale_solarize_on_hand_pixels() {
        let mut a = img(2, 1, vec![10, 20, 30, 200, 100, 0]);
        hflip(&mut a);
        assert_eq!(a.data, vec![200, 100, 0, 10, 20, 30]);
        solarize(&mut a);
        assert_eq!(a.data, vec![55, 100, 0, 10, 20, 30]);
        let mut g = img(1, 1, vec![100, 200, 50]);
        grayscale(&mut g);
        // 0.299·100 + 0.587·200 + 0.114·50 = 153.0
        assert_eq!(g.data, vec![153, 153, 153]);
    }

    #[test]
    fn normalisation_and_dominant_class() {
        let a = img(1, 1, vec![255, 0, 128]);
        let v = normalised_chw(&a);
        assert!((v[0] - (1.0 - 0.485) / 0.229).abs() < 1e-6);
        assert!((v[1] - (0.0 - 0.456) / 0.224).abs() < 1e-6);
        assert!((v[2] - (128.0 / 255.0 - 0.406) / 0.225).abs() < 1e-6);
        // Background (0) is ignored while any object pixel is present; ties → the smallest id.
        let m = img(3, 2, vec![0, 2, 2, 1, 1, 0]);
        assert_eq!(dominant_class(&m, 3), 1);
        let m = img(3, 2, vec![0, 0, 0, 0, 2, 0]);
        assert_eq!(dominant_class(&m, 3), 2);
        let m = img(3, 2, vec![0; 6]);
        assert_eq!(dominant_class(&m, 3), 0);
    }
}
