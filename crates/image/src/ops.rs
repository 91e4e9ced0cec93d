//! Pixel-level operations: cropping, normalisation, layout conversion, patch labels.

use crate::{Image, ImageError, ImageF32, ImageU8};

/// ImageNet channel means (RGB, on the 0–1 scale), used by every model in the study.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations (RGB, on the 0–1 scale).
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Copy the rectangle `[y, y+h) × [x, x+w)` out of `img` (all channels), giving `[h, w, C]`.
///
/// Errors with [`ImageError::CropOutOfBounds`] if the rectangle does not fit, and
/// [`ImageError::InvalidArgument`] if `w` or `h` is zero.
pub fn crop<T: Copy + Default>(
    img: &Image<T>,
    x: usize,
    y: usize,
    w: usize,
    h: usize,
) -> Result<Image<T>, ImageError> {
    if w == 0 || h == 0 {
        return Err(ImageError::InvalidArgument {
            name: "crop size",
            value: format!("{w}x{h}"),
            reason: "must be non-zero",
        });
    }
    let fits = x.checked_add(w).is_some_and(|r| r <= img.width)
        && y.checked_add(h).is_some_and(|b| b <= img.height);
    if !fits {
        return Err(ImageError::CropOutOfBounds {
            x,
            y,
            w,
            h,
            width: img.width,
            height: img.height,
        });
    }
    let c = img.channels;
    let mut data = Vec::with_capacity(w * h * c);
    for row in y..y + h {
        let start = (row * img.width + x) * c;
        data.extend_from_slice(&img.data[start..start + w * c]);
    }
    Ok(Image {
        width: w,
        height: h,
        channels: c,
        data,
    })
}

/// Convert an RGB `u8` image to normalised floats: `v = (u / 255 - mean[c]) / std[c]`, `[H, W, 3]`.
///
/// The arithmetic is done in `f32` in exactly this order (divide by 255, subtract, divide), matching
/// numpy's `(img / 255.0 - mean) / std` up to float rounding. A 1-channel image is treated as gray
/// and uses `mean[0]`/`std[0]`; other channel counts use `mean[c % 3]`.
pub fn to_f32_normalized(img: &ImageU8, mean: [f32; 3], std: [f32; 3]) -> ImageF32 {
    let c = img.channels.max(1);
    let data = img
        .data
        .iter()
        .enumerate()
        .map(|(i, &u)| {
            let ch = (i % c) % 3;
            (u as f32 / 255.0 - mean[ch]) / std[ch]
        })
        .collect();
    ImageF32 {
        width: img.width,
        height: img.height,
        channels: img.channels,
        data,
    }
}

/// Interleaved `[H, W, C]` → planar `[C, H, W]` (the layout a model's input tensor expects).
pub fn to_chw(img: &ImageF32) -> Vec<f32> {
    let (h, w, c) = (img.height, img.width, img.channels);
    let plane = h * w;
    let mut out = vec![0.0f32; plane * c];
    for (p, px) in img.data.chunks_exact(c.max(1)).enumerate() {
        for (ch, &v) in px.iter().enumerate() {
            out[ch * plane + p] = v;
        }
    }
    out
}

/// Planar `[C, H, W]` → interleaved `[H, W, C]` (inverse of [`to_chw`]).
///
/// Errors if `data.len() != channels * height * width`.
pub fn from_chw(
    data: &[f32],
    channels: usize,
    height: usize,
    width: usize,
) -> Result<ImageF32, ImageError> {
    let plane = height * width;
    if data.len() != plane * channels {
        return Err(ImageError::InvalidArgument {
            name: "chw length",
            value: data.len().to_string(),
            reason: "must equal channels * height * width",
        });
    }
    let mut out = ImageF32::new(width, height, channels);
    for ch in 0..channels {
        for p in 0..plane {
            out.data[p * channels + ch] = data[ch * plane + p];
        }
    }
    Ok(out)
}

/// Centre-pixel patch labels of a mask on a `rows × cols` token grid, row-major, length `rows * cols`.
///
/// `label[r][c] = mask[floor((r + 0.5) * H / rows)][floor((c + 0.5) * W / cols)]` (protocol §3),
/// computed in exact integer arithmetic as `floor((2r + 1) * H / (2 rows))`. This equals OpenCV's
/// `cv2.resize(mask, (cols, rows), interpolation=cv2.INTER_NEAREST_EXACT)` (checked against OpenCV
/// in the fixture tests). Only channel 0 of the mask is read. Returns an empty vector if `rows` or
/// `cols` is zero or the mask is empty.
pub fn patch_labels(mask: &ImageU8, rows: usize, cols: usize) -> Vec<u8> {
    if rows == 0 || cols == 0 || mask.width == 0 || mask.height == 0 {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        let y = ((2 * r + 1) * mask.height) / (2 * rows);
        for c in 0..cols {
            let x = ((2 * c + 1) * mask.width) / (2 * cols);
            out.push(mask.at(y, x, 0));
        }
    }
    out
}
