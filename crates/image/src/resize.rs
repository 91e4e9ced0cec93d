//! OpenCV-compatible resizing (placeholder implementation; being made bit-exact).

use crate::{Image, ImageF32, ImageU8, Interpolation};

fn weights(interp: Interpolation, src: usize, dst: usize) -> Vec<(isize, Vec<f64>)> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|d| {
            let f = (d as f64 + 0.5) * scale - 0.5;
            match interp {
                Interpolation::Cubic => {
                    let i = f.floor();
                    let t = f - i;
                    let a = -0.75;
                    let w0 =
                        ((a * (t + 1.0) - 5.0 * a) * (t + 1.0) + 8.0 * a) * (t + 1.0) - 4.0 * a;
                    let w1 = ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0;
                    let w2 = ((a + 2.0) * (1.0 - t) - (a + 3.0)) * (1.0 - t) * (1.0 - t) + 1.0;
                    (i as isize - 1, vec![w0, w1, w2, 1.0 - w0 - w1 - w2])
                }
                _ => {
                    let i = f.floor();
                    let t = f - i;
                    (i as isize, vec![1.0 - t, t])
                }
            }
        })
        .collect()
}

fn resize_generic<T: Copy + Default>(
    img: &Image<T>,
    width: usize,
    height: usize,
    interp: Interpolation,
    to: impl Fn(T) -> f64,
    from: impl Fn(f64) -> T,
) -> Image<T> {
    let mut out = Image::new(width, height, img.channels);
    if img.width == 0 || img.height == 0 || width == 0 || height == 0 {
        return out;
    }
    let c = img.channels;
    if interp == Interpolation::NearestExact {
        for y in 0..height {
            let sy = ((2 * y + 1) * img.height) / (2 * height);
            for x in 0..width {
                let sx = ((2 * x + 1) * img.width) / (2 * width);
                for ch in 0..c {
                    out.data[(y * width + x) * c + ch] = img.at(sy, sx, ch);
                }
            }
        }
        return out;
    }
    let wx = weights(interp, img.width, width);
    let wy = weights(interp, img.height, height);
    let clampi = |v: isize, n: usize| v.clamp(0, n as isize - 1) as usize;
    for (y, (y0, ky)) in wy.iter().enumerate() {
        for (x, (x0, kx)) in wx.iter().enumerate() {
            for ch in 0..c {
                let mut acc = 0.0;
                for (j, &a) in ky.iter().enumerate() {
                    let sy = clampi(y0 + j as isize, img.height);
                    for (i, &b) in kx.iter().enumerate() {
                        let sx = clampi(x0 + i as isize, img.width);
                        acc += a * b * to(img.at(sy, sx, ch));
                    }
                }
                out.data[(y * width + x) * c + ch] = from(acc);
            }
        }
    }
    out
}

/// Resize an 8-bit image `[H, W, C]` to `[height, width, C]` with OpenCV `cv2.resize` semantics.
pub fn resize_u8(img: &ImageU8, width: usize, height: usize, interp: Interpolation) -> ImageU8 {
    resize_generic(
        img,
        width,
        height,
        interp,
        |v| v as f64,
        |v| v.round().clamp(0.0, 255.0) as u8,
    )
}

/// Resize a float image `[H, W, C]` to `[height, width, C]` with OpenCV `cv2.resize` semantics.
pub fn resize_f32(img: &ImageF32, width: usize, height: usize, interp: Interpolation) -> ImageF32 {
    resize_generic(img, width, height, interp, |v| v as f64, |v| v as f32)
}
