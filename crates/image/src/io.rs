//! Decoding and encoding: RGB photos (PNG/JPEG), label maps (PNG indices), atomic PNG writes.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use crate::{CodecError, ImageError, ImageU8};

fn io_err(path: &Path, source: std::io::Error) -> ImageError {
    ImageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Decode a PNG or JPEG file as 8-bit RGB, `[H, W, 3]`.
///
/// Grayscale inputs are replicated to three channels, alpha is dropped and 16-bit samples are
/// reduced to 8 bits (by the `image` crate's conversions).
pub fn decode_rgb(path: &Path) -> Result<ImageU8, ImageError> {
    let reader = image::ImageReader::open(path)
        .map_err(|e| io_err(path, e))?
        .with_guessed_format()
        .map_err(|e| io_err(path, e))?;
    let img = reader.decode().map_err(|e| ImageError::Codec {
        path: path.to_path_buf(),
        source: CodecError(e),
    })?;
    let rgb = img.into_rgb8();
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    Ok(ImageU8 {
        width: w,
        height: h,
        channels: 3,
        data: rgb.into_raw(),
    })
}

/// Decode a label map: a grayscale or palette PNG, `[H, W, 1]`.
///
/// The stored sample values are returned as raw class indices: a palette PNG yields its palette
/// *indices* (not the colours) and a grayscale PNG its gray levels (never a luma conversion).
/// Bit depths 1, 2 and 4 are unpacked; 16-bit grayscale is accepted only if every value is at most
/// 255. RGB, RGBA or gray+alpha PNGs are rejected with [`ImageError::NotALabelImage`] naming the file.
pub fn decode_label(path: &Path) -> Result<ImageU8, ImageError> {
    let file = File::open(path).map_err(|e| io_err(path, e))?;
    let codec = |e: png::DecodingError| ImageError::Codec {
        path: path.to_path_buf(),
        source: CodecError(image::ImageError::Decoding(
            image::error::DecodingError::new(
                image::error::ImageFormatHint::Exact(image::ImageFormat::Png),
                e,
            ),
        )),
    };
    let mut decoder = png::Decoder::new(BufReader::new(file));
    decoder.set_transformations(png::Transformations::IDENTITY);
    let mut reader = decoder.read_info().map_err(codec)?;
    let (color, depth) = reader.output_color_type();
    if !matches!(color, png::ColorType::Grayscale | png::ColorType::Indexed) {
        return Err(ImageError::NotALabelImage {
            path: path.to_path_buf(),
            found: format!("{color:?} {depth:?}"),
        });
    }
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| ImageError::InvalidArgument {
            name: "png size",
            value: path.display().to_string(),
            reason: "image too large",
        })?;
    let mut buf = vec![0u8; size];
    let info = reader.next_frame(&mut buf).map_err(codec)?;
    let (w, h) = (info.width as usize, info.height as usize);
    let stride = info.line_size;
    let mut data = Vec::with_capacity(w * h);
    for y in 0..h {
        let row = &buf[y * stride..(y + 1) * stride];
        match depth {
            png::BitDepth::Eight => data.extend_from_slice(&row[..w]),
            png::BitDepth::Sixteen => {
                for x in 0..w {
                    let v = u16::from_be_bytes([row[2 * x], row[2 * x + 1]]);
                    let v = u8::try_from(v).map_err(|_| ImageError::InvalidArgument {
                        name: "16-bit label value",
                        value: format!("{v} at (y={y}, x={x}) in {}", path.display()),
                        reason: "label indices must fit in 8 bits",
                    })?;
                    data.push(v);
                }
            }
            png::BitDepth::One | png::BitDepth::Two | png::BitDepth::Four => {
                let bits = depth as usize;
                let per_byte = 8 / bits;
                let mask = ((1u16 << bits) - 1) as u8;
                for x in 0..w {
                    let byte = row[x / per_byte];
                    let shift = 8 - bits * (x % per_byte + 1);
                    data.push((byte >> shift) & mask);
                }
            }
        }
    }
    Ok(ImageU8 {
        width: w,
        height: h,
        channels: 1,
        data,
    })
}

/// Encode a 1-channel index map as an 8-bit palette ("indexed") PNG, the format of DAVIS annotations:
/// each pixel stores its value as a palette index (readers such as `PIL.Image.open` or [`decode_label`]
/// return the indices; viewers show the colours). `palette` holds up to 256 RGB entries; every index in
/// `img` must have one.
///
/// Returns the file's bytes (write them with an atomic writer).
pub fn encode_indexed_png(img: &ImageU8, palette: &[[u8; 3]]) -> Result<Vec<u8>, ImageError> {
    if img.channels != 1 {
        return Err(ImageError::Channels {
            op: "encode_indexed_png",
            channels: img.channels,
            expected: "1",
        });
    }
    if img.data.len() != img.width * img.height || img.width == 0 || img.height == 0 {
        return Err(ImageError::InvalidArgument {
            name: "image size",
            value: format!(
                "{}x{} with {} values",
                img.width,
                img.height,
                img.data.len()
            ),
            reason: "non-empty and data length must equal width*height",
        });
    }
    if palette.is_empty() || palette.len() > 256 {
        return Err(ImageError::InvalidArgument {
            name: "palette length",
            value: palette.len().to_string(),
            reason: "a PNG palette has 1 to 256 entries",
        });
    }
    if let Some(&v) = img.data.iter().max()
        && usize::from(v) >= palette.len()
    {
        return Err(ImageError::InvalidArgument {
            name: "index",
            value: v.to_string(),
            reason: "the palette has no entry for it",
        });
    }
    let enc_err = |e: png::EncodingError| ImageError::Codec {
        path: std::path::PathBuf::from("<indexed png in memory>"),
        source: CodecError(image::ImageError::Encoding(
            image::error::EncodingError::new(
                image::error::ImageFormatHint::Exact(image::ImageFormat::Png),
                e,
            ),
        )),
    };
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, img.width as u32, img.height as u32);
        enc.set_color(png::ColorType::Indexed);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_palette(palette.concat());
        let mut writer = enc.write_header().map_err(enc_err)?;
        writer.write_image_data(&img.data).map_err(enc_err)?;
        writer.finish().map_err(enc_err)?;
    }
    Ok(out)
}

/// Write a 1-channel (grayscale) or 3-channel (RGB) 8-bit image as PNG.
///
/// Atomic: the file is written to a temporary sibling (`.<name>.tmp-<pid>`) and renamed over `path`,
/// so readers never see a partial file.
pub fn write_png(path: &Path, img: &ImageU8) -> Result<(), ImageError> {
    let color = match img.channels {
        1 => png::ColorType::Grayscale,
        3 => png::ColorType::Rgb,
        c => {
            return Err(ImageError::Channels {
                op: "write_png",
                channels: c,
                expected: "1 or 3",
            });
        }
    };
    if img.data.len() != img.width * img.height * img.channels || img.width == 0 || img.height == 0
    {
        return Err(ImageError::InvalidArgument {
            name: "image size",
            value: format!(
                "{}x{}x{} with {} values",
                img.width,
                img.height,
                img.channels,
                img.data.len()
            ),
            reason: "non-empty and data length must equal width*height*channels",
        });
    }
    let name = path
        .file_name()
        .ok_or_else(|| ImageError::InvalidArgument {
            name: "path",
            value: path.display().to_string(),
            reason: "has no file name",
        })?;
    let tmp = path.with_file_name(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let file = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
        let mut w = BufWriter::new(file);
        let enc_err = |e: png::EncodingError| ImageError::Codec {
            path: path.to_path_buf(),
            source: CodecError(image::ImageError::Encoding(
                image::error::EncodingError::new(
                    image::error::ImageFormatHint::Exact(image::ImageFormat::Png),
                    e,
                ),
            )),
        };
        {
            let mut enc = png::Encoder::new(&mut w, img.width as u32, img.height as u32);
            enc.set_color(color);
            enc.set_depth(png::BitDepth::Eight);
            let mut writer = enc.write_header().map_err(enc_err)?;
            writer.write_image_data(&img.data).map_err(enc_err)?;
            writer.finish().map_err(enc_err)?;
        }
        w.flush().map_err(|e| io_err(&tmp, e))?;
        w.get_ref().sync_all().map_err(|e| io_err(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| io_err(path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
