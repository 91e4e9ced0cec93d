//! CamVid (SegNet layout): tiny tree and the shared camvid-mini set.

mod common;

use std::collections::BTreeSet;

use patchlens_data::camvid::{self, CAMVID_CLASSES, CamVidSplit};
use patchlens_data::{DataError, TileSpec};

#[test]
fn tiny_tree_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for n in ["a", "b"] {
        common::png(
            &root.join("train").join(format!("{n}.png")),
            &common::rgb(48, 36),
        );
        common::png(
            &root.join("trainannot").join(format!("{n}.png")),
            &common::label(48, 36, |x, _| (x % 12) as u8),
        );
    }
    let s = camvid::open(root, CamVidSplit::Train).unwrap();
    assert_eq!(s.len(), 2);
    let item = s.load(0).unwrap();
    assert_eq!(item.id, "a");
    assert_eq!(item.label.at(0, 11, 0), 11);
    // One image without label and one label without image: both listed.
    common::png(&root.join("train").join("c.png"), &common::rgb(48, 36));
    common::png(
        &root.join("trainannot").join("d.png"),
        &common::label(48, 36, |_, _| 0),
    );
    match camvid::open(root, CamVidSplit::Train).unwrap_err() {
        DataError::MissingFiles { missing, .. } => {
            assert_eq!(
                missing,
                vec![root.join("trainannot/c.png"), root.join("train/d.png")]
            );
        }
        e => panic!("unexpected {e}"),
    }
    // Missing split folders are listed too.
    match camvid::open(root, CamVidSplit::Val).unwrap_err() {
        DataError::MissingFiles { missing, .. } => assert_eq!(missing.len(), 2),
        e => panic!("unexpected {e}"),
    }
    // Label 12 is out of range.
    common::png(&root.join("test").join("x.png"), &common::rgb(8, 8));
    common::png(
        &root.join("testannot").join("x.png"),
        &common::label(8, 8, |_, _| 12),
    );
    assert!(matches!(
        camvid::open(root, CamVidSplit::Test).unwrap().load(0),
        Err(DataError::LabelOutOfRange { value: 12, .. })
    ));
}

#[test]
fn shared_camvid_mini() {
    let Some(root) = patchlens_testutil::shared_asset("data/camvid-mini") else {
        return;
    };
    assert_eq!(CAMVID_CLASSES.len(), 11);
    let train = camvid::open(&root, CamVidSplit::Train).unwrap();
    let test = camvid::open(&root, CamVidSplit::Test).unwrap();
    assert_eq!((train.len(), test.len()), (37, 24));
    for split in [&train, &test] {
        let mut classes = BTreeSet::new();
        for s in split.iter() {
            let s = s.unwrap();
            assert_eq!((s.image.width, s.image.height), camvid::IMAGE_SIZE);
            classes.extend(s.label.data.iter().copied());
        }
        assert_eq!(
            classes,
            (0..=11).collect::<BTreeSet<u8>>(),
            "{}",
            split.split
        );
    }
    let spec = TileSpec::camvid(16).unwrap();
    let tiles: Vec<_> = test.tiles(&spec).take(6).collect::<Result<_, _>>().unwrap();
    assert_eq!(tiles.len(), 6);
    assert!(
        tiles
            .iter()
            .all(|t| t.patch_labels.as_ref().is_some_and(|p| p.len() == 196))
    );
}
