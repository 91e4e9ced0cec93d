//! Hand-worked examples, published constants and error behaviour.

use patchlens_metrics::davis::{self, Mask};
use patchlens_metrics::labels::{CITYSCAPES_EASY, CITYSCAPES_HARD};
use patchlens_metrics::*;

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-12, "got {a}, expected {b}");
}

#[test]
fn cityscapes_hand_worked_example() {
    // gt:   road road sidewalk void car car car
    // pred: road side sidewalk road void car car
    let gt: [u8; 7] = [7, 7, 8, 0, 26, 26, 26];
    let pred: [u8; 7] = [7, 8, 8, 7, 0, 26, 26];
    let space = LabelSpace::cityscapes();
    let mut cm = ConfusionMatrix::new(&space);
    cm.accumulate(&pred, &gt).unwrap();
    let s = cm.scores();
    let idx = |n: &str| space.class_names.iter().position(|c| c == n).unwrap();
    close(s.iou[idx("road")], 0.5); // TP 1, FN 1 (predicted sidewalk); GT void predicted road is no FP
    close(s.iou[idx("sidewalk")], 0.5); // TP 1, FP 1
    close(s.iou[idx("car")], 2.0 / 3.0); // TP 2, FN 1 (predicted void)
    assert!(s.iou[idx("sky")].is_nan());
    close(s.miou, (0.5 + 0.5 + 2.0 / 3.0) / 3.0);
    close(s.pixel_accuracy, 4.0 / 6.0);
    assert_eq!(s.pixels, 6);
    let cat = |n: &str| s.category_iou.iter().find(|(c, _)| c == n).unwrap().1;
    close(cat("flat"), 1.0); // road↔sidewalk confusions are within the category
    close(cat("vehicle"), 2.0 / 3.0);
    assert!(cat("void").is_nan());
    close(
        cm.miou_of(&["road", "car", "sky"]).unwrap(),
        (0.5 + 2.0 / 3.0) / 2.0,
    );
    assert!(cm.miou_of(&["roads"]).is_err());
}

#[test]
fn ade_absent_classes_score_zero_and_count_in_the_mean() {
    let space = LabelSpace::ade20k();
    let mut cm = ConfusionMatrix::new(&space);
    // gt: wall wall other sky ; pred: wall other(0) sky sky
    cm.accumulate(&[1u8, 0, 3, 3], &[1u8, 1, 0, 3]).unwrap();
    let iou = cm.iou_per_class();
    let eps = f64::EPSILON;
    close(iou[0], 1.0 / (eps + 2.0)); // wall: TP 1, FN 1 (predicted 0)
    close(iou[2], 1.0 / (eps + 1.0)); // sky: GT-0 pixel predicted sky is not counted
    assert_eq!(iou[1], 0.0);
    close(cm.miou(), (1.0 / (eps + 2.0) + 1.0 / (eps + 1.0)) / 150.0);
    close(cm.pixel_accuracy(), 2.0 / (eps + 3.0));
}

#[test]
fn errors_name_sizes_and_values() {
    let space = LabelSpace::cityscapes();
    let mut cm = ConfusionMatrix::new(&space);
    let a = LabelMap::new(2048, 1024, vec![7; 2048 * 1024]).unwrap();
    let b = LabelMap::new(2048, 1000, vec![7; 2048 * 1000]).unwrap();
    let e = cm.accumulate_maps(&a, &b).unwrap_err().to_string();
    assert!(e.contains("2048×1024") && e.contains("2048×1000"), "{e}");

    let e = cm.accumulate(&[7u8, 34], &[7u8, 7]).unwrap_err();
    assert!(
        matches!(
            e,
            MetricsError::LabelOutOfRange {
                value: 34,
                what: "prediction",
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string().contains("label 34") && e.to_string().contains("cityscapes"),
        "{e}"
    );
    let e = cm.accumulate(&[7u8, 7], &[7u8, 200]).unwrap_err();
    assert!(
        matches!(
            e,
            MetricsError::LabelOutOfRange {
                value: 200,
                what: "ground truth",
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(
        cm.total(),
        0,
        "a failed accumulation leaves the matrix unchanged"
    );
    // large images go through the parallel path and must error the same way
    let mut big = vec![7u16; 1 << 20];
    big[777_777] = 99;
    let e = cm.accumulate(&big, &vec![7u16; 1 << 20]).unwrap_err();
    assert!(
        matches!(e, MetricsError::LabelOutOfRange { value: 99, .. }),
        "{e}"
    );

    let e = ConfusionMatrix::new(&LabelSpace::ade20k())
        .accumulate(&[151u16], &[1u16])
        .unwrap_err();
    assert!(e.to_string().contains("151"), "{e}");
    let mut other = ConfusionMatrix::new(&LabelSpace::camvid());
    assert!(matches!(
        other.merge(&cm),
        Err(MetricsError::LabelSpaceMismatch { .. })
    ));
    assert!(LabelMap::new(3, 3, vec![0; 8]).is_err());
    assert!(patch_accuracy(&[1, 2], &[1]).is_err());
}

#[test]
fn label_space_tables_match_the_protocol() {
    let cs = LabelSpace::cityscapes();
    assert_eq!(cs.num_raw(), 34);
    // protocol §A.1: "The 19 eval labelIds are 7, 8, 11, 12, 13, 17, 19, ..., 33"
    assert_eq!(
        cs.eval_to_raw,
        vec![
            7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33
        ]
    );
    let mut groups: Vec<&str> = CITYSCAPES_EASY
        .iter()
        .chain(CITYSCAPES_HARD.iter())
        .copied()
        .collect();
    groups.sort();
    let mut names: Vec<&str> = cs.class_names.iter().map(String::as_str).collect();
    names.sort();
    assert_eq!(groups, names, "easy + hard = the 19 classes");
    assert_eq!(cs.palette[7], [128, 64, 128], "official road colour");

    let ade = LabelSpace::ade20k();
    assert_eq!((ade.num_raw(), ade.num_classes()), (151, 150));
    assert_eq!(ade.class_names[0], "wall");
    assert_eq!(ade.class_names[149], "flag");
    assert_eq!(ade.raw_to_eval[0], None);

    let cv = LabelSpace::camvid();
    assert_eq!((cv.num_raw(), cv.num_classes()), (12, 11));
    assert_eq!(cv.raw_to_eval[11], None);
    assert_eq!(cv.class_names[10], "Bicyclist");
    assert!(LabelSpace::by_name("kitti").is_err());

    // protocol §7 supercategory ranges
    for (lo, hi, s) in [
        (1, 12, 1),
        (13, 21, 2),
        (22, 31, 3),
        (32, 35, 4),
        (36, 38, 5),
    ] {
        assert!((lo..=hi).all(|i| FAIR1M_STUDY_SUPERCATEGORY[i] == s));
    }
    assert_eq!(FAIR1M_STUDY_SUPERCATEGORY[0], 0);
}

#[test]
fn nearest_exact_14_to_256_is_centre_sampling() {
    // For the Cityscapes tile upsampling (14×14 → 256), OpenCV 4 equals floor((x + 0.5) · 14 / 256).
    let idx = nearest_exact_indices(14, 256, NearestExact::OpenCv4).unwrap();
    for (x, &i) in idx.iter().enumerate() {
        assert_eq!(i, (2 * x + 1) * 14 / 512);
    }
    assert!(nearest_exact_indices(0, 4, NearestExact::OpenCv4).is_err());
}

#[test]
fn cityscapes_tiles_stitch_to_full_resolution() {
    // tile t of a 4×8 layout predicts the constant t: the 1024×2048 map holds (y / 256) * 8 + x / 256
    let layout = TileLayout {
        tile_rows: 4,
        tile_cols: 8,
        grid: 16,
    };
    let preds: Vec<u16> = (0..32u16)
        .flat_map(|t| std::iter::repeat_n(t, 256))
        .collect();
    let m = stitch_tiles_upsampled(&preds, layout, 256, NearestExact::OpenCv4).unwrap();
    assert_eq!((m.width, m.height), (2048, 1024));
    for &(y, x) in &[(0, 0), (255, 255), (256, 0), (1023, 2047), (700, 1300)] {
        assert_eq!(m.at(y, x) as usize, (y / 256) * 8 + x / 256);
    }
    // patch (r, c) of a 16×16 grid covers 16×16 pixels
    let mut one = vec![0u16; 32 * 256];
    one[3 * 16 + 5] = 9; // tile 0, patch row 3, col 5
    let m = stitch_tiles_upsampled(&one, layout, 256, NearestExact::OpenCv4).unwrap();
    assert_eq!(m.at(48, 80), 9);
    assert_eq!(m.at(63, 95), 9);
    assert_eq!(m.at(64, 95), 0);
    let e = stitch_tiles_upsampled(&one[1..], layout, 256, NearestExact::OpenCv4).unwrap_err();
    assert!(
        e.to_string().contains("8191") && e.to_string().contains("8192"),
        "{e}"
    );
}

#[test]
fn png_roundtrip_and_palette() {
    let dir = tempfile::tempdir().unwrap();
    let m8 = LabelMap::new(3, 2, vec![0, 7, 33, 26, 23, 255]).unwrap();
    let p = dir.path().join("ids.png");
    write_label_png(&p, &m8).unwrap();
    assert_eq!(read_label_png(&p).unwrap(), m8);
    let m16 = LabelMap::new(2, 1, vec![300, 1]).unwrap();
    write_label_png(&p, &m16).unwrap();
    assert_eq!(read_label_png(&p).unwrap(), m16);

    let cs = LabelSpace::cityscapes();
    let m = LabelMap::new(3, 1, vec![7, 26, 0]).unwrap();
    let c = dir.path().join("color.png");
    write_color_png(&c, &m, &cs.palette).unwrap();
    let img = image::open(&c).unwrap().to_rgb8();
    assert_eq!(img.get_pixel(0, 0).0, [128, 64, 128]); // road
    assert_eq!(img.get_pixel(1, 0).0, [0, 0, 142]); // car
    assert!(
        read_label_png(&c).is_err(),
        "a colour PNG is not a label image"
    );
    assert!(
        write_color_png(&c, &m8, &cs.palette).is_err(),
        "255 has no Cityscapes colour"
    );
}

#[test]
fn seg2bmap_marks_pixels_towards_the_origin() {
    // a single foreground pixel at (1, 1) of a 3×3 image: boundary at (0,0), (0,1), (1,0), (1,1)
    let mut seg = [false; 9];
    seg[4] = true;
    let b = davis::seg2bmap(3, 3, &seg);
    let on: Vec<usize> = (0..9).filter(|&i| b[i]).collect();
    assert_eq!(on, vec![0, 1, 3, 4]);
    // radius-1 disk is a plus sign
    let mut one = [false; 9];
    one[4] = true;
    let d = davis::dilate_disk(3, 3, &one, 1);
    assert_eq!(
        d,
        [false, true, false, true, true, true, false, true, false]
    );
}

#[test]
fn jaccard_conventions_and_errors() {
    let z = [0u8; 4];
    let e = Mask::new(2, 2, &z).unwrap();
    assert_eq!(jaccard(&e, &e, None).unwrap(), 1.0, "empty vs empty is 1");
    assert_eq!(boundary_f(&e, &e, None, DEFAULT_BOUND_TH).unwrap(), 1.0);
    let big = [0u8; 6];
    let m = Mask::new(3, 2, &big).unwrap();
    let err = jaccard(&e, &m, None).unwrap_err().to_string();
    assert!(err.contains("2×2") && err.contains("3×2"), "{err}");
    assert!(davis::bound_pixels(10, 10, 2.5).is_err());
    assert!(davis::bound_pixels(10, 10, 0.0).is_err());
    assert_eq!(davis::bound_pixels(854, 480, DEFAULT_BOUND_TH).unwrap(), 8); // ceil(0.008 · 979.6)
}

#[test]
fn patch_accuracy_and_tracking_errors() {
    close(
        patch_accuracy(&[1u8, 2, 3, 0], &[1u8, 2, 0, 0]).unwrap(),
        0.75,
    );
    let a = FrameObjects {
        ids: &[1, 1],
        categories: &[0, 0],
    };
    let b = FrameObjects {
        ids: &[1],
        categories: &[0],
    };
    assert!(matches!(
        score_frame_pair(1, &a, &b, &[0.0, 0.0]),
        Err(MetricsError::DuplicateId { id: 1, .. })
    ));
    let a = FrameObjects {
        ids: &[1, 2],
        categories: &[0, 0],
    };
    assert!(
        score_frame_pair(1, &a, &b, &[0.0]).is_err(),
        "similarity size must be 2×1"
    );
    let c = FrameObjects {
        ids: &[5],
        categories: &[0],
    };
    assert_eq!(
        score_frame_pair(1, &a, &c, &[0.0, 0.0]).unwrap(),
        None,
        "no common object: skipped"
    );

    let labels = [0u16, 3, 0, 5];
    let input = RetrievalInput {
        labels: &labels,
        patches_per_tile: 2,
        query_positions: &[1, 3],
        top1: &[1, 4],
        correspondence: None,
        missing: MissingCorrespondence::Strict,
        supercategory: &FAIR1M_STUDY_SUPERCATEGORY,
    };
    assert!(matches!(
        retrieval_counts(&input),
        Err(MetricsError::IndexOutOfRange { index: 4, .. })
    ));
}

#[test]
fn png_errors_print_each_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.png");
    write_label_png(&whole, &LabelMap::new(5, 4, (0..20).collect()).unwrap()).unwrap();
    let bytes = std::fs::read(&whole).unwrap();
    let cut = dir.path().join("cut.png");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let mut crc = bytes.clone();
    crc[29] ^= 0xff; // first byte of the IHDR CRC: `image` embeds the PNG decoder's message and exposes it
    let bad_crc = dir.path().join("crc.png");
    std::fs::write(&bad_crc, &crc).unwrap();
    for p in [&cut, &bad_crc] {
        let e = read_label_png(p).unwrap_err();
        assert!(matches!(e, MetricsError::Png { .. }), "{e:?}");
        let chain = patchlens_testutil::error_chain(&e);
        assert_eq!(
            chain[0],
            format!("cannot read or write PNG {}", p.display())
        );
        patchlens_testutil::assert_each_cause_once(&e, 2);
    }
    let missing = dir.path().join("nope.png");
    let os = std::fs::File::open(&missing).unwrap_err().to_string();
    let e = read_label_png(&missing).unwrap_err();
    assert_eq!(
        patchlens_testutil::error_chain(&e),
        [
            format!("cannot read or write PNG {}", missing.display()),
            os
        ]
    );
}
