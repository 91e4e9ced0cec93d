//! BDD100K MOT 2020 label parsing on a tiny tree.

mod common;

use patchlens_data::DataError;
use patchlens_data::bdd100k::{self, BDD_CATEGORIES};

const LABELS: &str = r#"[
 {"name": "v1-0000002.jpg", "videoName": "v1", "frameIndex": 1, "labels": [
   {"id": "7", "category": "car", "attributes": {"occluded": true, "truncated": false, "crowd": false},
    "box2d": {"x1": 10.5, "y1": 20, "x2": 30, "y2": 44.25}}]},
 {"name": "v1-0000001.jpg", "videoName": "v1", "frameIndex": 0, "labels": [
   {"id": "7", "category": "car", "box2d": {"x1": 8, "y1": 20, "x2": 28, "y2": 44}},
   {"id": "9", "category": "pedestrian", "attributes": {}, "box2d": {"x1": 1, "y1": 2, "x2": 3, "y2": 4}}]},
 {"name": "v1-0000003.jpg", "videoName": "v1", "frameIndex": 2}
]"#;

#[test]
fn parses_frames_boxes_tracks_and_categories() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    common::text(&bdd100k::label_path(root, "val", "v1"), LABELS);
    for i in 1..=3 {
        common::jpg(
            &root.join(format!("images/track/val/v1/v1-000000{i}.jpg")),
            &common::rgb(32, 18),
        );
    }
    assert_eq!(bdd100k::list_videos(root, "val").unwrap(), ["v1"]);
    let v = bdd100k::open_video(root, "val", "v1").unwrap();
    assert_eq!(v.frames.len(), 3);
    assert_eq!(v.frames[0].name, "v1-0000001.jpg", "sorted by frameIndex");
    assert_eq!(v.frames[0].boxes.len(), 2);
    let b = &v.frames[1].boxes[0];
    assert_eq!(
        (b.track_id.as_str(), b.category.as_str(), b.category_id),
        ("7", "car", 2)
    );
    assert_eq!(b.bbox, [10.5, 20.0, 30.0, 44.25]);
    assert!(b.occluded && !b.truncated);
    assert_eq!(v.frames[0].boxes[1].category_id, 0);
    assert!(v.frames[2].boxes.is_empty());
    let (f, img) = v.iter().next().unwrap().unwrap();
    assert_eq!((f.frame_index, img.width, img.height), (0, 32, 18));
    assert_eq!(BDD_CATEGORIES[..bdd100k::NUM_EVAL_CATEGORIES].len(), 8);
    assert_eq!(bdd100k::frame_gaps().len(), 30);
}

#[test]
fn bad_annotations_and_missing_images() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    common::text(&bdd100k::label_path(root, "val", "v1"), LABELS);
    match bdd100k::open_video(root, "val", "v1").unwrap_err() {
        DataError::MissingFiles { missing, .. } => assert_eq!(missing.len(), 3),
        e => panic!("unexpected {e}"),
    }
    let bad = LABELS.replace("pedestrian", "unicorn");
    common::text(
        &bdd100k::label_path(root, "val", "v2"),
        &bad.replace("\"v1", "\"v2"),
    );
    let e = bdd100k::open_video(root, "val", "v2")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unicorn") && e.contains("v2.json"), "{e}");
    common::text(
        &bdd100k::label_path(root, "val", "v3"),
        &LABELS
            .replace("\"x2\": 30", "\"x2\": 3")
            .replace("\"v1", "\"v3"),
    );
    assert!(
        bdd100k::open_video(root, "val", "v3")
            .unwrap_err()
            .to_string()
            .contains("invalid box")
    );
    common::text(&bdd100k::label_path(root, "val", "v4"), "{not json");
    assert!(matches!(
        bdd100k::open_video(root, "val", "v4"),
        Err(DataError::Parse { .. })
    ));
    assert!(matches!(
        bdd100k::open_video(root, "val", "v5"),
        Err(DataError::MissingFiles { .. })
    ));
}
