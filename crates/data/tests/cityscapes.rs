//! Cityscapes: label table, the study's pools (protocol Appendix A) and the reader on a tiny tree.

mod common;

use std::collections::BTreeSet;

use patchlens_data::cityscapes::{self, CITYSCAPES_LABELS, EVAL_LABEL_IDS, POOL_NAMES};
use patchlens_data::{DataError, LabelCheck, TileSpec};

#[test]
fn label_table_matches_cityscapes_scripts() {
    assert_eq!(CITYSCAPES_LABELS.len(), 34);
    for (i, l) in CITYSCAPES_LABELS.iter().enumerate() {
        assert_eq!(l.id as usize, i);
    }
    // Protocol §4.1: the 19 evaluation labelIds.
    let eval: Vec<u8> = CITYSCAPES_LABELS
        .iter()
        .filter(|l| !l.ignore_in_eval)
        .map(|l| l.id)
        .collect();
    assert_eq!(
        eval,
        vec![
            7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33
        ]
    );
    assert_eq!(eval, EVAL_LABEL_IDS.to_vec());
    for (t, &id) in EVAL_LABEL_IDS.iter().enumerate() {
        assert_eq!(cityscapes::train_id(id) as usize, t);
    }
    // labels.py spot checks.
    assert_eq!(CITYSCAPES_LABELS[26].name, "car");
    assert_eq!(CITYSCAPES_LABELS[26].color, [0, 0, 142]);
    assert_eq!(cityscapes::train_id(0), 255);
    assert_eq!(cityscapes::train_id(29), 255); // caravan
    assert_eq!(cityscapes::train_id(200), 255);
    assert_eq!(cityscapes::train_id_lut()[33], 18);
    let names = cityscapes::label_names();
    let easy: Vec<&str> = cityscapes::EASY_LABEL_IDS
        .iter()
        .map(|&i| names[i as usize])
        .collect();
    assert_eq!(easy, ["road", "vegetation", "building", "car", "sky"]);
    let all: BTreeSet<u8> = cityscapes::EASY_LABEL_IDS
        .iter()
        .chain(&cityscapes::HARD_LABEL_IDS)
        .copied()
        .collect();
    assert_eq!(all, EVAL_LABEL_IDS.iter().copied().collect());
}

#[test]
fn pools_match_protocol_appendix_a() {
    let set2 = cityscapes::pool("set2_36").unwrap();
    let set4 = cityscapes::pool("set4_72").unwrap();
    let set4p = cityscapes::pool("set4prime_72").unwrap();
    let set8 = cityscapes::pool("set8_144").unwrap();
    let val = cityscapes::pool("val30").unwrap();
    assert_eq!(
        (
            set2.ids.len(),
            set4.ids.len(),
            set4p.ids.len(),
            set8.ids.len(),
            val.ids.len()
        ),
        (36, 72, 72, 144, 30)
    );
    assert_eq!(set4.split, "train");
    assert_eq!(val.split, "val");
    // 18 train cities, 4 per city in set4, first rows as in Appendix A.
    assert_eq!(
        &set4.ids[..4],
        [
            "krefeld_000000_011655",
            "krefeld_000000_012353",
            "krefeld_000000_024276",
            "krefeld_000000_006274"
        ]
    );
    assert_eq!(set4.ids[71], "bochum_000000_024343");
    let cities: BTreeSet<&str> = set4.ids.iter().map(|i| cityscapes::city_of(i)).collect();
    assert_eq!(cities.len(), 18);
    // set2 = 1st and 3rd entry of every city block of set4.
    let expect2: Vec<&String> = set4.ids.chunks(4).flat_map(|c| [&c[0], &c[2]]).collect();
    assert_eq!(set2.ids.iter().collect::<Vec<_>>(), expect2);
    // set8 = set4 then set4'; 142 unique; the overlap is two ids.
    assert_eq!(set8.ids[..72], set4.ids[..]);
    assert_eq!(set8.ids[72..], set4p.ids[..]);
    assert_eq!(set8.ids.iter().collect::<BTreeSet<_>>().len(), 142);
    let a: BTreeSet<&String> = set4.ids.iter().collect();
    let b: BTreeSet<&String> = set4p.ids.iter().collect();
    let overlap: Vec<&&String> = a.intersection(&b).collect();
    assert_eq!(overlap.len(), 2);
    assert!(
        overlap
            .iter()
            .any(|s| s.as_str() == "krefeld_000000_012353")
    );
    assert!(
        overlap
            .iter()
            .any(|s| s.as_str() == "tubingen_000096_000019")
    );
    // val: 10 each from munster, frankfurt, lindau.
    for city in ["munster", "frankfurt", "lindau"] {
        assert_eq!(
            val.ids
                .iter()
                .filter(|i| cityscapes::city_of(i) == city)
                .count(),
            10,
            "{city}"
        );
    }
    assert!(matches!(
        cityscapes::pool("set3"),
        Err(DataError::UnknownSplit { .. })
    ));
    assert_eq!(POOL_NAMES.len(), 5);
}

#[test]
fn missing_pool_files_are_all_listed() {
    let dir = tempfile::tempdir().unwrap();
    let err = cityscapes::open_pool(dir.path(), "set2_36").unwrap_err();
    match &err {
        DataError::MissingFiles { missing, .. } => {
            assert_eq!(missing.len(), 72, "36 images + 36 labels");
            assert!(
                missing[0]
                    .ends_with("leftImg8bit/train/krefeld/krefeld_000000_011655_leftImg8bit.png")
            );
            assert!(
                missing[1]
                    .ends_with("gtFine/train/krefeld/krefeld_000000_011655_gtFine_labelIds.png")
            );
        }
        e => panic!("unexpected {e}"),
    }
    assert!(err.to_string().contains("72 file(s) missing"));
}

fn write_city(root: &std::path::Path, split: &str, id: &str, lab: &patchlens_image::ImageU8) {
    common::png(
        &cityscapes::image_path(root, split, id),
        &common::rgb(2048, 1024),
    );
    common::png(&cityscapes::label_path(root, split, id), lab);
}

#[test]
fn reads_a_tiny_tree_and_tiles_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let lab = common::label(2048, 1024, |x, y| {
        if y < 512 {
            23
        } else if x < 1024 {
            7
        } else {
            26
        }
    });
    write_city(root, "val", "lindau_000000_000019", &lab);
    write_city(root, "val", "munster_000001_000019", &lab);
    let split = cityscapes::open_split(root, "val").unwrap();
    assert_eq!(split.len(), 2);
    assert_eq!(split.entries[0].id, "lindau_000000_000019");
    let s = split.load(1).unwrap();
    assert_eq!(
        (s.image.width, s.image.height, s.label.channels),
        (2048, 1024, 1)
    );
    assert_eq!(s.label.at(0, 0, 0), 23);
    let spec = TileSpec::cityscapes(16).unwrap();
    let tiles: Vec<_> = split.tiles(&spec).collect::<Result<_, _>>().unwrap();
    assert_eq!(tiles.len(), 64);
    // Tile (0, *) is sky, tile (3, 0) road, tile (3, 7) car.
    assert!(
        tiles[0]
            .patch_labels
            .as_ref()
            .unwrap()
            .iter()
            .all(|&v| v == 23)
    );
    assert!(
        tiles[24]
            .patch_labels
            .as_ref()
            .unwrap()
            .iter()
            .all(|&v| v == 7)
    );
    assert!(
        tiles[31]
            .patch_labels
            .as_ref()
            .unwrap()
            .iter()
            .all(|&v| v == 26)
    );
}

#[test]
fn bad_labels_and_sizes_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // Label id 34 is outside 0..=33.
    write_city(
        root,
        "train",
        "ulm_000000_000019",
        &common::label(2048, 1024, |x, _| if x < 10 { 34 } else { 7 }),
    );
    // Wrong label size.
    write_city(
        root,
        "train",
        "zurich_000000_000019",
        &common::label(1024, 512, |_, _| 7),
    );
    // Unreadable image.
    let bad = cityscapes::image_path(root, "train", "aachen_000000_000019");
    common::text(&bad, "not a png");
    common::png(
        &cityscapes::label_path(root, "train", "aachen_000000_000019"),
        &common::label(4, 4, |_, _| 0),
    );
    let split = cityscapes::open_split(root, "train").unwrap();
    let ids: Vec<&str> = split.entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "aachen_000000_000019",
            "ulm_000000_000019",
            "zurich_000000_000019"
        ]
    );
    match split.load(0).unwrap_err() {
        DataError::Image { what, path, .. } => {
            assert_eq!(what, "image");
            assert_eq!(path, bad);
        }
        e => panic!("unexpected {e}"),
    }
    match split.load(1).unwrap_err() {
        DataError::LabelOutOfRange { value, count, .. } => {
            assert_eq!((value, count), (34, 10 * 1024))
        }
        e => panic!("unexpected {e}"),
    }
    assert!(matches!(
        split.load(2).unwrap_err(),
        DataError::SizeMismatch { .. }
    ));
    // With the explicit flag the out-of-range pixels are counted and replaced by 0 (unlabeled).
    let lenient = split.clone().with_label_check(LabelCheck::CountAndReplace);
    let s = lenient.load(1).unwrap();
    assert_eq!(s.out_of_range.get(&34), Some(&(10 * 1024)));
    assert_eq!(s.label.at(0, 0, 0), 0);
    assert_eq!(s.label.at(0, 10, 0), 7);
}
