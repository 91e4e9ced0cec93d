//! DAVIS 2016 / 2017: tiny trees with ImageSets and the shared davis2016-mini set.

mod common;

use patchlens_data::DataError;
use patchlens_data::LabelCheck;
use patchlens_data::davis::{self, DavisVersion};

fn frame(root: &std::path::Path, seq: &str, f: &str, mask: &patchlens_image::ImageU8) {
    common::jpg(
        &root.join(format!("JPEGImages/480p/{seq}/{f}.jpg")),
        &common::rgb(mask.width, mask.height),
    );
    common::png(&root.join(format!("Annotations/480p/{seq}/{f}.png")), mask);
}

#[test]
fn davis2016_binary_masks_become_object_1() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for f in ["00000", "00001"] {
        frame(
            root,
            "bear",
            f,
            &common::label(16, 8, |x, _| if x < 4 { 255 } else { 0 }),
        );
    }
    frame(root, "cows", "00000", &common::label(16, 8, |_, _| 0));
    common::text(
        &root.join("ImageSets/480p/val.txt"),
        "/JPEGImages/480p/cows/00000.jpg /Annotations/480p/cows/00000.png\n",
    );
    let all = davis::open(root, DavisVersion::Davis2016, None).unwrap();
    assert_eq!(
        all.sequences
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["bear", "cows"]
    );
    assert_eq!(all.num_frames(), 3);
    let bear = all.sequence("bear").unwrap();
    let f = all.load_frame(bear, 1).unwrap();
    assert_eq!(f.frame, "00001");
    assert_eq!(f.objects, vec![1]);
    assert_eq!((f.mask.at(0, 3, 0), f.mask.at(0, 4, 0)), (1, 0));
    let val = davis::open(root, DavisVersion::Davis2016, Some("val")).unwrap();
    assert_eq!(val.sequences.len(), 1);
    assert!(val.sequence("bear").is_err());
    // A value other than 0/255 is out of range, or counted and zeroed on request.
    frame(
        root,
        "bear",
        "00002",
        &common::label(16, 8, |x, _| if x == 0 { 128 } else { 0 }),
    );
    let all = davis::open(root, DavisVersion::Davis2016, None).unwrap();
    let bear = all.sequence("bear").unwrap();
    assert!(matches!(
        all.load_frame(bear, 2),
        Err(DataError::LabelOutOfRange {
            value: 128,
            count: 8,
            ..
        })
    ));
    let lenient = all.clone().with_label_check(LabelCheck::CountAndReplace);
    let f = lenient
        .load_frame(lenient.sequence("bear").unwrap(), 2)
        .unwrap();
    assert_eq!(f.out_of_range, vec![(128, 8)]);
    assert!(f.objects.is_empty());
}

#[test]
fn davis2017_palette_ids_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    frame(
        root,
        "dogs",
        "00000",
        &common::label(12, 6, |x, _| (x / 4) as u8),
    );
    common::text(&root.join("ImageSets/2017/val.txt"), "dogs\n");
    let d = davis::open(root, DavisVersion::Davis2017, Some("val")).unwrap();
    let f = d.load_frame(&d.sequences[0], 0).unwrap();
    assert_eq!(f.objects, vec![1, 2]);
    assert_eq!(f.mask.at(0, 11, 0), 2);
    assert_eq!(f.void_pixels, 0);
    // 255 is void (davis2017-evaluation): kept in the mask, counted, never an object, never an error.
    frame(
        root,
        "dogs",
        "00000",
        &common::label(12, 6, |x, y| if y == 0 { 255 } else { (x / 4) as u8 }),
    );
    let f = d.load_frame(&d.sequences[0], 0).unwrap();
    assert_eq!(f.objects, vec![1, 2]);
    assert_eq!(f.void_pixels, 12);
    assert_eq!((f.mask.at(0, 5, 0), f.mask.at(1, 5, 0)), (255, 1));
    assert!(f.out_of_range.is_empty());
    // Missing: a listed sequence without folders, a frame without annotation.
    common::text(&root.join("ImageSets/2017/val.txt"), "dogs\ngoats\n");
    common::jpg(
        &root.join("JPEGImages/480p/dogs/00001.jpg"),
        &common::rgb(12, 6),
    );
    match davis::open(root, DavisVersion::Davis2017, Some("val")).unwrap_err() {
        DataError::MissingFiles { missing, .. } => {
            assert_eq!(missing.len(), 3, "{missing:?}");
            assert!(missing[0].ends_with("Annotations/480p/dogs/00001.png"));
            assert!(missing[1].ends_with("JPEGImages/480p/goats"));
            assert!(missing[2].ends_with("Annotations/480p/goats"));
        }
        e => panic!("unexpected {e}"),
    }
    assert!(matches!(
        davis::open(root, DavisVersion::Davis2017, Some("train")),
        Err(DataError::MissingFiles { .. })
    ));
}

#[test]
fn shared_davis2016_mini() {
    let Some(root) = patchlens_testutil::shared_asset("data/davis2016-mini") else {
        return;
    };
    let d = davis::open(&root, DavisVersion::Davis2016, None).unwrap();
    let counts: Vec<(&str, usize)> = d
        .sequences
        .iter()
        .map(|s| (s.name.as_str(), s.frames.len()))
        .collect();
    assert_eq!(
        counts,
        [
            ("blackswan", 50),
            ("car-shadow", 40),
            ("dog", 60),
            ("kite-surf", 50),
            ("motocross-jump", 40)
        ]
    );
    for seq in &d.sequences {
        for i in [0, seq.frames.len() - 1] {
            let f = d.load_frame(seq, i).unwrap();
            assert_eq!((f.image.width, f.image.height), (854, 480));
            assert_eq!(f.objects, vec![1], "{} frame {i}", seq.name);
        }
    }
}

#[test]
fn davis_palette_is_the_voc_colour_map() {
    let p = patchlens_data::davis::palette();
    // Hand-worked entries of the PASCAL VOC colour map (DAVIS annotation palette).
    assert_eq!(p[0], [0, 0, 0]);
    assert_eq!(p[1], [128, 0, 0]);
    assert_eq!(p[2], [0, 128, 0]);
    assert_eq!(p[3], [128, 128, 0]);
    assert_eq!(p[4], [0, 0, 128]);
    assert_eq!(p[8], [64, 0, 0]);
    assert_eq!(p[255], [224, 224, 192]);
    // Distinct colours: indices stay recoverable from a colour rendering.
    let set: std::collections::BTreeSet<[u8; 3]> = p.iter().copied().collect();
    assert_eq!(set.len(), 256);
}
