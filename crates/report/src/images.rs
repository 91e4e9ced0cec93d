//! Sample images: label maps to PNG, base64 for data URIs.

use crate::error::ReportError;

/// Colour for label ids without a palette entry (e.g. 255 = void): black.
pub const UNLABELLED_COLOR: [u8; 3] = [0, 0, 0];

/// A deterministic palette of `n` well-separated colours (golden-ratio hue steps, full value).
pub fn default_palette(n: usize) -> Vec<[u8; 3]> {
    (0..n)
        .map(|i| {
            let h = (i as f64 * 0.618_033_988_749_895).fract() * 6.0;
            let s = if i % 2 == 0 { 0.85 } else { 0.55 };
            let c = s;
            let x = c * (1.0 - ((h % 2.0) - 1.0).abs());
            let (r, g, b) = match h as u32 {
                0 => (c, x, 0.0),
                1 => (x, c, 0.0),
                2 => (0.0, c, x),
                3 => (0.0, x, c),
                4 => (x, 0.0, c),
                _ => (c, 0.0, x),
            };
            let m = 1.0 - s;
            [
                ((r + m) * 255.0).round() as u8,
                ((g + m) * 255.0).round() as u8,
                ((b + m) * 255.0).round() as u8,
            ]
        })
        .collect()
}

/// Encodes a label map `labels` `[height, width]` (row-major) as an RGB PNG, colouring label `l`
/// with `palette[l]` (labels beyond the palette get [`UNLABELLED_COLOR`]).
pub fn label_map_png(
    labels: &[u16],
    width: u32,
    height: u32,
    palette: &[[u8; 3]],
) -> Result<Vec<u8>, ReportError> {
    if labels.len() != width as usize * height as usize {
        return Err(ReportError::InvalidInput(format!(
            "label map of {} values is not {width} x {height}",
            labels.len()
        )));
    }
    let mut rgb = Vec::with_capacity(labels.len() * 3);
    for &l in labels {
        rgb.extend_from_slice(palette.get(l as usize).unwrap_or(&UNLABELLED_COLOR));
    }
    rgb_png(&rgb, width, height)
}

/// Encodes interleaved RGB bytes `[height, width, 3]` as a PNG.
pub fn rgb_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, ReportError> {
    let img = image::RgbImage::from_raw(width, height, rgb.to_vec()).ok_or_else(|| {
        ReportError::InvalidInput(format!(
            "{} RGB bytes do not make a {width} x {height} image",
            rgb.len()
        ))
    })?;
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| ReportError::Png(e.to_string()))?;
    Ok(out.into_inner())
}

/// Standard base64 (RFC 4648, with `=` padding).
pub fn base64_encode(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4648 §10 test vectors.
    #[test]
    fn base64_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (i, o) in cases {
            assert_eq!(base64_encode(i.as_bytes()), o);
        }
    }

    #[test]
    fn label_map_round_trip() {
        let pal = default_palette(3);
        let png = label_map_png(&[0, 1, 2, 255], 2, 2, &pal).unwrap();
        let img = image::load_from_memory(&png).unwrap().to_rgb8();
        assert_eq!(img.get_pixel(0, 0).0, pal[0]);
        assert_eq!(img.get_pixel(1, 0).0, pal[1]);
        assert_eq!(img.get_pixel(0, 1).0, pal[2]);
        assert_eq!(img.get_pixel(1, 1).0, UNLABELLED_COLOR);
        assert!(label_map_png(&[0; 3], 2, 2, &pal).is_err());
        // Distinct colours.
        let p = default_palette(19);
        for i in 0..p.len() {
            for j in 0..i {
                assert_ne!(p[i], p[j]);
            }
        }
    }
}
