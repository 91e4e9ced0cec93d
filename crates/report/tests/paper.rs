//! The embedded paper numbers: known values, coverage, and agreement with the shared reference file.

use patchlens_report::{PAPER_JSON, paper, paper_lookup};

/// Values read off the tables of protocol.md §9.
#[test]
fn known_values() {
    let cases = [
        (
            "cityscapes_knn_vs_linear_by_pool",
            "knn/set4_72",
            "dinov2",
            0.494,
        ),
        (
            "cityscapes_knn_vs_linear_by_pool",
            "linear/set8_144",
            "simmim",
            0.215,
        ),
        (
            "cityscapes_knn_vs_linear_by_pool",
            "knn/set4prime_72",
            "sup_vit",
            0.299,
        ),
        ("cityscapes_knn_layerwise", "all/layer12", "dino", 0.345),
        ("cityscapes_knn_layerwise", "all/layer1", "sup_vit", 0.123),
        ("cityscapes_knn_layerwise", "easy/layer9", "dino", 0.777),
        ("cityscapes_knn_layerwise", "hard/layer12", "dinov2", 0.398),
        (
            "cityscapes_per_class_iou_layer12",
            "knn/road",
            "dinov2",
            0.858,
        ),
        (
            "cityscapes_per_class_iou_layer12",
            "linear/mIoU",
            "simmim",
            0.156,
        ),
        (
            "cityscapes_per_class_iou_layer12",
            "linear/traffic light",
            "sup_vit",
            0.206,
        ),
        (
            "cityscapes_mae_high_variance_removal",
            "knn/removed200",
            "mae",
            0.295,
        ),
        (
            "cityscapes_mae_high_variance_removal",
            "linear/removed750",
            "mae",
            0.060,
        ),
        (
            "cityscapes_mae_high_variance_removal",
            "batchnorm/knn",
            "simmim",
            0.139,
        ),
        (
            "cityscapes_degradation_linear_layer12_approx",
            "clean",
            "dino",
            0.383,
        ),
        (
            "cityscapes_degradation_linear_layer12_approx",
            "blur/8",
            "mae",
            0.057,
        ),
        (
            "cityscapes_degradation_linear_layer12_approx",
            "noise/20",
            "dinov2",
            0.49,
        ),
        (
            "cityscapes_degradation_linear_layer12_approx",
            "frequency/high",
            "dinov2",
            0.568,
        ),
        (
            "fair1m_instance_identification_rotation",
            "same_patch/rot5",
            "dino",
            2161.0,
        ),
        (
            "fair1m_instance_identification_rotation",
            "same_super/rot20",
            "mae_minus_200",
            2393.0,
        ),
        (
            "bdd100k_tracking_same_instance",
            "tiled/delta57",
            "dinov2",
            0.548,
        ),
        (
            "bdd100k_tracking_same_instance",
            "full/delta1",
            "mae",
            0.802,
        ),
        (
            "bdd100k_tracking_same_category_full",
            "delta1",
            "dino",
            0.995,
        ),
        (
            "bdd100k_tracking_same_category_full",
            "delta57",
            "mae",
            0.866,
        ),
    ];
    for (e, s, m, v) in cases {
        assert_eq!(paper_lookup(e, s, m), Some(v), "{e} / {s} / {m}");
    }
    assert_eq!(
        paper_lookup("cityscapes_knn_vs_linear_by_pool", "knn/set4_72", "dinov3"),
        None
    );
    assert_eq!(
        paper_lookup("cityscapes_knn_layerwise", "all/layer13", "dino"),
        None
    );
    assert_eq!(paper_lookup("nope", "knn/set4_72", "dino"), None);
}

/// Every number of the file is reachable: 706 numeric leaves outside the axis lists (counted with
/// a separate Python walk of the JSON), and the flattening is one-to-one.
#[test]
fn every_number_is_indexed_once() {
    let p = paper();
    assert_eq!(p.entries().len(), 706);
    let mut keys: Vec<_> = p
        .entries()
        .iter()
        .map(|e| (&e.experiment, &e.setting, &e.model))
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 706);
    assert!(p.source().contains("2401.00463"));
    assert!(
        p.note("cityscapes_degradation_linear_layer12_approx")
            .unwrap()
            .contains("0.01")
    );
}

/// The crate's copy carries the same data as the project's reference file (when it is available).
#[test]
fn matches_shared_reference_file() {
    let Some(path) = patchlens_testutil::shared_asset("paper/reference_numbers.json") else {
        return;
    };
    let shared: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let ours: serde_json::Value = serde_json::from_str(PAPER_JSON).unwrap();
    assert_eq!(ours, shared);
}
