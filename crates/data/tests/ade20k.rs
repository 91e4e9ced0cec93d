//! ADE20K: class table, hand-worked greedy selection, and the reader/selection on a tiny tree.

mod common;

use patchlens_data::ade20k::{self, ADE20K_CLASSES, AdeSplit, SelectionSpec};
use patchlens_data::select::{ClassSet, greedy_select, greedy_select_in_order, seeded_permutation};
use patchlens_data::{DataError, TileSpec};

#[test]
fn class_table() {
    assert_eq!(ADE20K_CLASSES.len(), 150);
    assert_eq!(ade20k::class_name(1), Some("wall"));
    assert_eq!(ade20k::class_name(13), Some("person"));
    assert_eq!(ade20k::class_name(150), Some("flag"));
    assert_eq!(ade20k::class_name(0), Some("other"));
    assert_eq!(ade20k::class_name(151), None);
}

fn set(v: &[u8]) -> ClassSet {
    ClassSet::from_labels(v)
}

#[test]
fn greedy_selection_hand_worked() {
    // Candidates 0..5 with classes; visiting classes 3, 2, 1 with 2 per class over order [4, 3, 2, 1, 0]:
    // class 3: candidates containing 3 in order: 4, 2 -> take 4, 2.
    // class 2: containing 2 in order: 4 (taken), 3, 1 -> take 3, 1.
    // class 1: containing 1: 3 (taken), 2 (taken), 0 -> take 0 (only one left).
    let presence = [
        set(&[1]),
        set(&[2]),
        set(&[1, 3]),
        set(&[1, 2]),
        set(&[2, 3]),
    ];
    let got = greedy_select_in_order(&presence, &[4, 3, 2, 1, 0], &[3, 2, 1], 2);
    assert_eq!(got, vec![4, 2, 3, 1, 0]);
    // One per class in identity order: 3 -> 2; 2 -> 1; 1 -> 0.
    assert_eq!(
        greedy_select_in_order(&presence, &[0, 1, 2, 3, 4], &[3, 2, 1], 1),
        vec![2, 1, 0]
    );
}

#[test]
fn seeded_permutation_is_a_deterministic_permutation() {
    let p = seeded_permutation(1000, 7);
    let mut s = p.clone();
    s.sort();
    assert_eq!(s, (0..1000).collect::<Vec<_>>());
    assert_eq!(p, seeded_permutation(1000, 7));
    assert_ne!(p, seeded_permutation(1000, 8));
    assert_ne!(p, (0..1000).collect::<Vec<_>>());
    let presence: Vec<ClassSet> = (0..100u8).map(|i| set(&[i % 7 + 1, i % 5 + 1])).collect();
    let classes: Vec<u8> = (1..=7).rev().collect();
    let a = greedy_select(&presence, &classes, 3, 1);
    assert_eq!(a, greedy_select(&presence, &classes, 3, 1));
    assert_eq!(a.len(), 21);
    for c in 1..=7u8 {
        assert!(
            a.iter().filter(|&&i| presence[i].contains(c)).count() >= 3,
            "class {c}"
        );
    }
}

fn ade_item(
    root: &std::path::Path,
    split: &str,
    name: &str,
    w: usize,
    h: usize,
    f: impl Fn(usize, usize) -> u8,
) {
    let d = root.join("ADEChallengeData2016");
    common::jpg(
        &d.join("images").join(split).join(format!("{name}.jpg")),
        &common::rgb(w, h),
    );
    common::png(
        &d.join("annotations")
            .join(split)
            .join(format!("{name}.png")),
        &common::label(w, h, f),
    );
}

#[test]
fn tiny_tree_open_select_and_tile() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // Six validation images: classes present on the 42x28 grid.
    ade_item(root, "validation", "ADE_val_00000001", 64, 48, |_, _| 5);
    ade_item(root, "validation", "ADE_val_00000002", 64, 48, |x, _| {
        if x < 32 { 5 } else { 9 }
    });
    ade_item(root, "validation", "ADE_val_00000003", 64, 48, |_, _| 9);
    ade_item(root, "validation", "ADE_val_00000004", 64, 48, |_, y| {
        if y < 24 { 0 } else { 150 }
    });
    ade_item(root, "validation", "ADE_val_00000005", 64, 48, |_, _| 0);
    ade_item(root, "validation", "ADE_val_00000006", 96, 40, |_, _| 5);
    let all = ade20k::open(root, AdeSplit::Validation).unwrap();
    assert_eq!(all.len(), 6);
    let s = all.load(5).unwrap();
    assert_eq!((s.image.width, s.image.height), (96, 40));
    // 1 per class: classes 150, 9, 5 each get one image; image 5 (only "other") is never chosen.
    let spec = SelectionSpec {
        split: AdeSplit::Validation,
        per_class: 1,
        pool_last: None,
        seed: 3,
    };
    let sel = ade20k::select(root, &spec).unwrap();
    assert_eq!(sel.len(), 3);
    assert_eq!(
        sel.entries[0].id, "ADE_val_00000004",
        "class 150 is visited first"
    );
    assert!(sel.entries.iter().all(|e| e.id != "ADE_val_00000005"));
    let again = ade20k::select(root, &spec).unwrap();
    assert_eq!(sel.entries, again.entries);
    // 2 per class from the last 3 images only (4, 5, 6): 150 -> 4; 5 -> 6.
    let spec = SelectionSpec {
        pool_last: Some(3),
        per_class: 2,
        ..spec
    };
    let ids: Vec<String> = ade20k::select(root, &spec)
        .unwrap()
        .entries
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, ["ADE_val_00000004", "ADE_val_00000006"]);
    // Tiling: 672x448 -> 6 tiles of 224; image 4 has "other" on top, class 150 below.
    let t = TileSpec::ade20k(16).unwrap();
    let tiles: Vec<_> = all
        .tiles(&t)
        .skip(18)
        .take(6)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(tiles[0].image_id, "ADE_val_00000004");
    assert!(
        tiles[0]
            .patch_labels
            .as_ref()
            .unwrap()
            .iter()
            .all(|&v| v == 0)
    );
    assert!(
        tiles[5]
            .patch_labels
            .as_ref()
            .unwrap()
            .iter()
            .all(|&v| v == 150)
    );
    // Study constants.
    let tr = SelectionSpec::train(ade20k::DEFAULT_SEED);
    assert_eq!((tr.per_class, tr.pool_last), (4, Some(2500)));
    assert_eq!(SelectionSpec::val(1).per_class, 2);
}

#[test]
fn missing_and_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    ade_item(root, "training", "ADE_train_00000001", 32, 32, |_, _| 151);
    let d = root.join("ADEChallengeData2016");
    common::jpg(
        &d.join("images/training/ADE_train_00000002.jpg"),
        &common::rgb(8, 8),
    );
    common::png(
        &d.join("annotations/training/ADE_train_00000003.png"),
        &common::label(8, 8, |_, _| 1),
    );
    match ade20k::open(root, AdeSplit::Training).unwrap_err() {
        DataError::MissingFiles { missing, .. } => {
            assert_eq!(missing.len(), 2);
            assert!(missing[0].ends_with("annotations/training/ADE_train_00000002.png"));
            assert!(missing[1].ends_with("images/training/ADE_train_00000003.jpg"));
        }
        e => panic!("unexpected {e}"),
    }
    std::fs::remove_file(d.join("images/training/ADE_train_00000002.jpg")).unwrap();
    std::fs::remove_file(d.join("annotations/training/ADE_train_00000003.png")).unwrap();
    let s = ade20k::open(root, AdeSplit::Training).unwrap();
    assert!(matches!(
        s.load(0),
        Err(DataError::LabelOutOfRange { value: 151, .. })
    ));
    assert!(ade20k::select(root, &SelectionSpec::train(0)).is_err());
    let err = ade20k::open_ids(root, AdeSplit::Training, &["nope".into()]).unwrap_err();
    assert!(err.to_string().contains("nope.jpg") && err.to_string().contains("nope.png"));
}
