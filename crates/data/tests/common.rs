//! Helpers shared by the integration tests: writing tiny dataset trees.
#![allow(dead_code)]

use std::path::Path;

use patchlens_image::{ImageU8, write_png};

/// An RGB image whose pixel (x, y) is `(x % 251, y % 241, (x + y) % 239)`.
pub fn rgb(width: usize, height: usize) -> ImageU8 {
    let mut img = ImageU8::new(width, height, 3);
    for y in 0..height {
        for x in 0..width {
            let i = (y * width + x) * 3;
            img.data[i] = (x % 251) as u8;
            img.data[i + 1] = (y % 241) as u8;
            img.data[i + 2] = ((x + y) % 239) as u8;
        }
    }
    img
}

/// A 1-channel label map with `f(x, y)`.
pub fn label(width: usize, height: usize, f: impl Fn(usize, usize) -> u8) -> ImageU8 {
    let mut img = ImageU8::new(width, height, 1);
    for y in 0..height {
        for x in 0..width {
            img.data[y * width + x] = f(x, y);
        }
    }
    img
}

/// Write a PNG, creating parent folders.
pub fn png(path: &Path, img: &ImageU8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    write_png(path, img).unwrap();
}

/// Write an RGB JPEG (quality 95), creating parent folders.
pub fn jpg(path: &Path, img: &ImageU8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let buf =
        image::RgbImage::from_raw(img.width as u32, img.height as u32, img.data.clone()).unwrap();
    let mut f = std::fs::File::create(path).unwrap();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut f, 95);
    enc.encode_image(&buf).unwrap();
}

/// Write a text file, creating parent folders.
pub fn text(path: &Path, s: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, s).unwrap();
}
