//! Decoding/encoding and pixel operations, with hand-made files and values.

mod common;

use std::path::Path;

use common::{load, u8_image};
use patchlens_image::{
    IMAGENET_MEAN, IMAGENET_STD, ImageError, ImageU8, Interpolation, crop, decode_label,
    decode_rgb, encode_indexed_png, from_chw, patch_labels, resize_u8, to_chw, to_f32_normalized,
    write_png,
};

fn write_raw_png(
    path: &Path,
    w: u32,
    h: u32,
    color: png::ColorType,
    depth: png::BitDepth,
    palette: Option<Vec<u8>>,
    data: &[u8],
) {
    let file = std::fs::File::create(path).expect("create");
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    enc.set_color(color);
    enc.set_depth(depth);
    if let Some(p) = palette {
        enc.set_palette(p);
    }
    let mut wr = enc.write_header().expect("header");
    wr.write_image_data(data).expect("data");
}

#[test]
fn decode_label_returns_palette_indices_not_colours() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("pal.png");
    // Palette: index 0 = white, 1 = red, 2 = black; luma would be 255, 76, 0.
    let palette = vec![255, 255, 255, 255, 0, 0, 0, 0, 0];
    write_raw_png(
        &p,
        3,
        2,
        png::ColorType::Indexed,
        png::BitDepth::Eight,
        Some(palette),
        &[0, 1, 2, 2, 1, 0],
    );
    let l = decode_label(&p).expect("decode");
    assert_eq!((l.width, l.height, l.channels), (3, 2, 1));
    assert_eq!(l.data, vec![0, 1, 2, 2, 1, 0]);
}

#[test]
fn decode_label_unpacks_low_bit_depths_and_reads_gray_values() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("g4.png");
    // 4-bit gray, width 3: row bytes [0x1F, 0x70] -> 1, 15, 7; row 2 [0x23, 0x40] -> 2, 3, 4.
    write_raw_png(
        &p,
        3,
        2,
        png::ColorType::Grayscale,
        png::BitDepth::Four,
        None,
        &[0x1F, 0x70, 0x23, 0x40],
    );
    assert_eq!(
        decode_label(&p).expect("decode").data,
        vec![1, 15, 7, 2, 3, 4]
    );
    let p = dir.path().join("g8.png");
    write_raw_png(
        &p,
        2,
        1,
        png::ColorType::Grayscale,
        png::BitDepth::Eight,
        None,
        &[33, 19],
    );
    assert_eq!(decode_label(&p).expect("decode").data, vec![33, 19]);
}

#[test]
fn decode_label_rejects_rgb_and_names_the_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("rgb_label.png");
    write_raw_png(
        &p,
        1,
        1,
        png::ColorType::Rgb,
        png::BitDepth::Eight,
        None,
        &[1, 2, 3],
    );
    let err = decode_label(&p).expect_err("rgb must fail");
    assert!(matches!(err, ImageError::NotALabelImage { .. }));
    assert!(err.to_string().contains("rgb_label.png"), "{err}");
    let missing = decode_label(&dir.path().join("nope.png")).expect_err("missing");
    assert!(missing.to_string().contains("nope.png"), "{missing}");
}

#[test]
fn write_png_round_trips_and_decode_rgb_expands_gray() {
    let dir = tempfile::tempdir().expect("tmp");
    let rgb = ImageU8 {
        width: 2,
        height: 2,
        channels: 3,
        data: (0..12).map(|v| v * 20).collect(),
    };
    let p = dir.path().join("a.png");
    write_png(&p, &rgb).expect("write");
    assert_eq!(decode_rgb(&p).expect("read"), rgb);
    let gray = ImageU8 {
        width: 3,
        height: 1,
        channels: 1,
        data: vec![5, 100, 250],
    };
    let g = dir.path().join("g.png");
    write_png(&g, &gray).expect("write");
    assert_eq!(decode_label(&g).expect("label").data, gray.data);
    assert_eq!(
        decode_rgb(&g).expect("rgb").data,
        vec![5, 5, 5, 100, 100, 100, 250, 250, 250]
    );
    // No temp files are left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .map(|e| e.expect("e").file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let two = ImageU8 {
        width: 1,
        height: 1,
        channels: 2,
        data: vec![1, 2],
    };
    assert!(matches!(
        write_png(&dir.path().join("x.png"), &two),
        Err(ImageError::Channels { .. })
    ));
}

#[test]
fn crop_normalise_and_chw_hand_worked() {
    let img = ImageU8 {
        width: 3,
        height: 2,
        channels: 1,
        data: vec![1, 2, 3, 4, 5, 6],
    };
    assert_eq!(crop(&img, 1, 0, 2, 2).expect("crop").data, vec![2, 3, 5, 6]);
    assert!(matches!(
        crop(&img, 2, 0, 2, 1),
        Err(ImageError::CropOutOfBounds { .. })
    ));
    assert!(crop(&img, 0, 0, 0, 1).is_err());

    let px = ImageU8 {
        width: 1,
        height: 1,
        channels: 3,
        data: vec![255, 0, 128],
    };
    let n = to_f32_normalized(&px, IMAGENET_MEAN, IMAGENET_STD);
    let want = [
        (1.0 - 0.485) / 0.229,
        (0.0 - 0.456) / 0.224,
        (128.0 / 255.0 - 0.406) / 0.225,
    ];
    for (g, w) in n.data.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{g} vs {w}");
    }

    let f = patchlens_image::ImageF32 {
        width: 2,
        height: 1,
        channels: 3,
        data: vec![1., 2., 3., 4., 5., 6.],
    };
    let chw = to_chw(&f);
    assert_eq!(chw, vec![1., 4., 2., 5., 3., 6.]);
    assert_eq!(from_chw(&chw, 3, 1, 2).expect("back"), f);
}

#[test]
fn patch_labels_match_the_centre_formula_and_opencv_4x_at_protocol_sizes() {
    let refs = load();
    let mut checked = 0;
    for (key, arr) in refs.iter().filter(|(k, _)| k.starts_with("nnexact_")) {
        // nnexact_<mask>_<cols>x<rows>
        let rest = &key["nnexact_".len()..];
        let (mask_name, size) = rest.rsplit_once('_').expect("key");
        let (cols, rows) = size.split_once('x').expect("size");
        let (cols, rows): (usize, usize) = (cols.parse().expect("c"), rows.parse().expect("r"));
        let mask = u8_image(&refs[&format!("srcmask_{mask_name}")]);
        let want = u8_image(arr);
        // The resize must equal OpenCV 4.x everywhere.
        assert_eq!(
            resize_u8(&mask, cols, rows, Interpolation::NearestExact).data,
            want.data,
            "{key} resize"
        );
        // The protocol formula, written out here: mask[floor((r+0.5) H / rows)][floor((c+0.5) W / cols)].
        let formula: Vec<u8> = (0..rows)
            .flat_map(|r| {
                let m = &mask;
                (0..cols).map(move |c| {
                    let y = ((r as f64 + 0.5) * m.height as f64 / rows as f64).floor() as usize;
                    let x = ((c as f64 + 0.5) * m.width as f64 / cols as f64).floor() as usize;
                    m.at(y, x, 0)
                })
            })
            .collect();
        let got = patch_labels(&mask, rows, cols);
        assert_eq!(got, formula, "{key} formula");
        if matches!(
            (mask.width, cols),
            (224, 14) | (224, 16) | (256, 14) | (256, 16)
        ) {
            assert_eq!(
                got, want.data,
                "{key}: centre rule equals OpenCV 4.x at protocol sizes"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 12);
}

/// FAIR1M ships its chips as 8-bit RGB TIFF: they decode like PNG, pixel for pixel.
#[test]
fn tiff_decodes_to_the_same_pixels_as_png() {
    let dir = tempfile::tempdir().unwrap();
    let mut img = image::RgbImage::new(5, 3);
    for (x, y, p) in img.enumerate_pixels_mut() {
        *p = image::Rgb([(x * 50) as u8, (y * 80) as u8, (x * y * 10) as u8]);
    }
    let (tif, png) = (dir.path().join("chip.tif"), dir.path().join("chip.png"));
    img.save(&tif).unwrap();
    img.save(&png).unwrap();
    let a = patchlens_image::decode_rgb(&tif).unwrap();
    let b = patchlens_image::decode_rgb(&png).unwrap();
    assert_eq!((a.width, a.height, a.channels), (5, 3, 3));
    assert_eq!(a.data, img.into_raw());
    assert_eq!(a.data, b.data);
}

/// A 4×3 PNG with `channels` channels written by [`write_png`], as bytes.
fn small_png_bytes(dir: &Path, channels: usize) -> Vec<u8> {
    let p = dir.join("whole.png");
    let mut img = ImageU8::new(4, 3, channels);
    for (i, v) in img.data.iter_mut().enumerate() {
        *v = (i * 7) as u8;
    }
    write_png(&p, &img).expect("write");
    std::fs::read(&p).expect("read back")
}

#[test]
fn error_chains_print_each_cause_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let bytes = small_png_bytes(dir.path(), 3);

    // Truncated PNGs, cut after 43 bytes (signature 8, IHDR 25, the IDAT length and type 8, two
    // bytes of pixel data), RGB for `decode_rgb`, grayscale for `decode_label`: the codec error,
    // its own text once.
    let cut = dir.path().join("cut.png");
    std::fs::write(&cut, &bytes[..43]).expect("write");
    let gray = small_png_bytes(dir.path(), 1);
    let cut_gray = dir.path().join("cut_gray.png");
    std::fs::write(&cut_gray, &gray[..43]).expect("write");
    for (err, cut) in [
        (decode_rgb(&cut).expect_err("truncated"), &cut),
        (decode_label(&cut_gray).expect_err("truncated"), &cut_gray),
    ] {
        assert!(matches!(err, ImageError::Codec { .. }), "{err:?}");
        let chain = patchlens_testutil::error_chain(&err);
        assert_eq!(
            chain[0],
            format!("cannot decode/encode image {}", cut.display())
        );
        patchlens_testutil::assert_each_cause_once(&err, 2);
    }

    // Corrupt IHDR checksum: `image` reports a decoding error whose own message embeds the PNG
    // decoder's message, which it also returns as its source; [`CodecError`] shows it once.
    let crc = dir.path().join("crc.png");
    let mut bad = bytes.clone();
    bad[29] ^= 0xff; // first byte of the IHDR CRC (after 8 signature + 4 length + 4 type + 13 data)
    std::fs::write(&crc, &bad).expect("write");
    let err = decode_rgb(&crc).expect_err("bad crc");
    let ImageError::Codec { source, .. } = &err else {
        panic!("expected a codec error, got {err:?}")
    };
    let inner = std::error::Error::source(&source.0).map(|e| e.to_string());
    let inner = inner.expect("image's decoding error exposes the png error");
    assert!(source.0.to_string().contains(&inner), "{source}");
    patchlens_testutil::assert_each_cause_once(&err, 2);

    // I/O error: the path in the message, the OS error below it.
    let missing = dir.path().join("nope.png");
    let os = std::fs::File::open(&missing)
        .expect_err("absent")
        .to_string();
    for err in [
        decode_rgb(&missing).expect_err("missing"),
        decode_label(&missing).expect_err("missing"),
    ] {
        assert_eq!(
            patchlens_testutil::error_chain(&err),
            [format!("I/O error on {}", missing.display()), os.clone()]
        );
        patchlens_testutil::assert_each_cause_once(&err, 2);
    }
}

#[test]
fn indexed_png_stores_indices_and_the_palette() {
    let img = ImageU8 {
        width: 3,
        height: 2,
        channels: 1,
        data: vec![0, 1, 2, 2, 1, 0],
    };
    let palette = [[0, 0, 0], [128, 0, 0], [0, 128, 0], [9, 9, 9]];
    let bytes = encode_indexed_png(&img, &palette).expect("encode");
    // The raw PNG: an 8-bit indexed image whose PLTE is the palette, whose samples are the indices.
    let reader = png::Decoder::new(std::io::Cursor::new(&bytes))
        .read_info()
        .expect("png header");
    let info = reader.info();
    assert_eq!(info.color_type, png::ColorType::Indexed);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    assert_eq!(
        info.palette.as_deref(),
        Some(&[0, 0, 0, 128, 0, 0, 0, 128, 0, 9, 9, 9][..])
    );
    // The label reader (indices, not colours) reads the map back.
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("idx.png");
    std::fs::write(&p, &bytes).expect("write");
    assert_eq!(decode_label(&p).expect("decode"), img);
    // Index without a palette entry, several channels, wrong sizes: errors.
    let mut bad = img.clone();
    bad.data[0] = 4;
    let e = encode_indexed_png(&bad, &palette).unwrap_err().to_string();
    assert!(e.contains("index") && e.contains('4'), "{e}");
    let rgb = ImageU8 {
        width: 2,
        height: 2,
        channels: 3,
        data: vec![0; 12],
    };
    assert!(encode_indexed_png(&rgb, &palette).is_err());
    assert!(encode_indexed_png(&img, &[]).is_err());
}
