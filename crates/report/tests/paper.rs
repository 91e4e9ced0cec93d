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
/// a separate Python walk of the JSON), plus 65 derived FAIR1M entries (a rate for each of the 60
/// counts, a query total for each of the 5 models), and the flattening is one-to-one.
#[test]
fn every_number_is_indexed_once() {
    let p = paper();
    let derived =
        |e: &&patchlens_report::PaperEntry| e.setting.contains("_rate/") || e.setting == "queries";
    assert_eq!(p.entries().iter().filter(|e| !derived(e)).count(), 706);
    assert_eq!(p.entries().iter().filter(derived).count(), 65);
    assert_eq!(p.entries().len(), 771);
    let mut keys: Vec<_> = p
        .entries()
        .iter()
        .map(|e| (&e.experiment, &e.setting, &e.model))
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 771);
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

/// The identification counts as rates over the paper's own query totals agree with the percentages
/// protocol §9.6 prints beside them (to its 0.1 %), DINOv2's over 7,623, the others over 5,850.
#[test]
fn identification_rates_use_the_papers_totals() {
    let exp = "fair1m_instance_identification_rotation";
    for (setting, model, percent) in [
        ("same_patch_rate/rot5", "sup_vit", 26.7),
        ("same_patch_rate/rot5", "dino", 36.9),
        ("same_patch_rate/rot5", "dinov2", 20.0),
        ("same_fine_rate/rot10", "dinov2", 60.5),
        ("same_super_rate/rot20", "mae_minus_200", 40.9),
        ("same_fine_rate/rot15", "mae", 3.5),
    ] {
        let r = paper_lookup(exp, setting, model).unwrap();
        assert!((100.0 * r - percent).abs() < 0.05, "{setting} {model}: {r}");
    }
    assert_eq!(paper_lookup(exp, "queries", "dinov2"), Some(7623.0));
    assert_eq!(paper_lookup(exp, "queries", "mae_minus_200"), Some(5850.0));
    let note = paper().note(exp).unwrap();
    assert!(note.contains("5850") && note.contains("7623"), "{note}");
}
