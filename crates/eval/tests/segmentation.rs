//! Few-shot segmentation (`patchlens_eval::segmentation`) on a tiny fake CamVid tree, checked against
//! hand-derived scores.
//!
//! The test frame C has exactly the pixels of train frame A, so under cosine 1-NN every query patch finds
//! its own copy (similarity 1) and predicts A's patch label. A is labelled in quadrants split at
//! x = 240, y = 180; after the CamVid protocol (672×448, 2×3 tiles, 16×16 DINOv2 patches, patch grid
//! 48×32 resized nearest-exact back to 480×360) the quadrant boundaries fall on patch boundaries and map
//! back to exactly x = 240 / y = 180, so the predicted map *is* the quadrant map. C's ground truth is
//! left half Sky (0), right half Building (1). By hand, per class (TP, GT, predicted pixels):
//! Sky (43200, 86400, 43200) → IoU 1/2; Building likewise 1/2; Pole (0, 0, 43200) → 0; Road → 0; the other
//! classes are absent (left out of the mean). mIoU = (½ + ½ + 0 + 0) / 4 = 0.25, pixel accuracy
//! 86400 / 172800 = 0.5, and half of the patches (the top rows) are right: patch accuracy 0.5.

mod support;

use patchlens_eval::segmentation::{self, Normalize, ProbeKind, SegSource, SegmentationConfig};
use patchlens_eval::{FeatureDir, ModelSource, ModelSpec, ModelTokens};
use patchlens_probe::knn::{Similarity, Vote};
use patchlens_probe::linear::{LinearProbeConfig, Selection, SelectionMetric};
use patchlens_report::{ExperimentKind, ImageSource};
use patchlens_store::FeatureStore;
use support::{H, W};

#[test]
fn cosine_self_match_scores_by_hand() {
    let Some(weights) = support::dinov2_small() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("camvid");
    support::write_camvid_tree(&root);
    let model = support::load_dinov2_small(&weights);
    let out = tmp.path().join("run");
    let store = FeatureStore::open(out.join("cache")).expect("store");
    let mut cfg = SegmentationConfig::new(SegSource::Camvid { root: root.clone() });
    cfg.knn.search.similarity = Similarity::Cosine;
    cfg.bootstrap.resamples = 200;
    cfg.maps_dir = Some(out.clone());
    let res = segmentation::run(&cfg, &ModelTokens::new(&model, Some(&store), 16)).expect("run");
    let lines = res.summary_lines();
    assert_eq!(lines.len(), 1, "one run: {lines:?}");
    assert!(
        lines[0].starts_with("camvid/knn/train/dinov2_vits14/layer12"),
        "{lines:?}"
    );
    assert_eq!(res.layers, vec![12]);
    assert_eq!(
        store.keys().expect("keys").len(),
        3,
        "one shard per image (A, B, C)"
    );

    // The typed scores.
    assert_eq!(res.runs.len(), 1);
    let s = &res.runs[0].scores;
    assert!((s.miou - 0.25).abs() < 1e-12, "{}", s.miou);
    assert!(
        (s.pixel_accuracy - 0.5).abs() < 1e-12,
        "{}",
        s.pixel_accuracy
    );
    assert!(
        (s.patch_accuracy - 0.5).abs() < 1e-12,
        "{}",
        s.patch_accuracy
    );
    let expect = [
        ("Sky", 0.5),
        ("Building", 0.5),
        ("Pole", 0.0),
        ("Road", 0.0),
    ];
    assert_eq!(
        s.per_class_iou.len(),
        expect.len(),
        "absent classes are left out: {:?}",
        s.per_class_iou
    );
    for (name, iou) in expect {
        let got = s
            .per_class_iou
            .iter()
            .find(|(c, _)| c == name)
            .unwrap_or_else(|| panic!("{name} missing: {:?}", s.per_class_iou))
            .1;
        assert!((got - iou).abs() < 1e-12, "{name}: {got}");
    }
    // One test image: every bootstrap resample is that image, so the interval collapses on the estimate.
    let ci = s.miou_ci.as_ref().expect("interval");
    assert!(
        (ci.lower - 0.25).abs() < 1e-12 && (ci.upper - 0.25).abs() < 1e-12,
        "{ci:?}"
    );

    // The experiment as the report sees it: one run, no summary and no layer sweep.
    let exps = res.experiments();
    assert_eq!(exps.len(), 1);
    let e = &exps[0];
    assert_eq!(e.kind, ExperimentKind::Segmentation);
    assert_eq!(e.name, "camvid/knn/train/dinov2_vits14/layer12");
    assert_eq!(e.model.zoo_name, "dinov2_vits14");
    assert_eq!(e.model.family, "dinov2");
    assert_eq!(e.model.weights_sha256.as_deref().map(str::len), Some(64));
    assert!((e.metrics["miou"] - 0.25).abs() < 1e-12);
    assert!((e.metrics["pixel_accuracy"] - 0.5).abs() < 1e-12);
    assert!((e.metrics["patch_accuracy"] - 0.5).abs() < 1e-12);
    for (name, iou) in expect {
        let got = e.metrics[&format!("per_class_iou/{name}")];
        assert!((got - iou).abs() < 1e-12, "{name}: {got}");
    }
    assert_eq!(
        e.metrics
            .keys()
            .filter(|k| k.starts_with("per_class_iou/"))
            .count(),
        4
    );
    assert_eq!(e.protocol["gallery_patches"], 2 * 6 * 256);
    assert_eq!(e.protocol["query_patches"], 6 * 256);
    assert_eq!(
        e.protocol["tile_spec"]["resize"],
        serde_json::json!([672, 448])
    );
    assert_eq!(e.protocol["tile_spec"]["grid"], 16);
    let ci = &e.confidence_intervals["miou"];
    assert!((ci.lower - 0.25).abs() < 1e-12 && (ci.upper - 0.25).abs() < 1e-12);
    // Sample maps: the predicted map is the quadrant map in the SegNet colours.
    assert_eq!(e.images.len(), 2);
    let ImageSource::File { path } = &e.images[0].source else {
        panic!("a PNG file expected: {:?}", e.images[0].source)
    };
    let rgb = patchlens_image::decode_rgb(&out.join(path)).expect("prediction PNG");
    assert_eq!((rgb.width, rgb.height), (W, H));
    let colour = |x: usize, y: usize| [rgb.at(y, x, 0), rgb.at(y, x, 1), rgb.at(y, x, 2)];
    let palette = patchlens_metrics::LabelSpace::camvid().palette;
    for (x, y, class) in [
        (239, 179, 0),
        (240, 179, 1),
        (239, 180, 2),
        (240, 180, 3),
        (0, 0, 0),
        (479, 359, 3),
    ] {
        assert_eq!(colour(x, y), palette[class], "pixel ({x}, {y})");
    }

    // Re-run from the cache with the dot product and a k-NN vote after removal and standardisation: no
    // new shard, a valid score, and the transform recorded.
    let mut cfg2 = SegmentationConfig::new(SegSource::Camvid { root });
    cfg2.knn.search.k = 5;
    cfg2.knn.vote = Vote::Majority;
    cfg2.remove_top_variance = 10;
    cfg2.normalize = Normalize::Standardize;
    cfg2.bootstrap.resamples = 0;
    let res2 = segmentation::run(&cfg2, &ModelTokens::new(&model, Some(&store), 16)).expect("run");
    assert_eq!(
        store.keys().expect("keys").len(),
        3,
        "features read from the cache"
    );
    let s2 = &res2.runs[0].scores;
    assert!((0.0..=1.0).contains(&s2.miou), "{}", s2.miou);
    assert!(s2.miou_ci.is_none(), "no interval without resamples");
    let e2 = &res2.experiments()[0];
    assert_eq!(
        e2.name,
        "camvid/knn/train/dinov2_vits14/layer12/minus10/standardize"
    );
    assert!(e2.images.is_empty(), "no maps without maps_dir");
    let ft = &e2.protocol["knn"]["feature_transform"];
    assert_eq!(ft["dim_after"], 384 - 10, "{ft}");
    assert_eq!(
        ft["removed_columns"].as_array().map(Vec::len),
        Some(10),
        "{ft}"
    );

    // Both linear recipes from the same cached features: ours selects on held-out train patches, the
    // study's trains 100 epochs and picks, among every 5th, the head with the best ROC-AUC on the test set.
    let mut cfg3 = SegmentationConfig::new(SegSource::Camvid {
        root: tmp.path().join("camvid"),
    });
    cfg3.probes = vec![ProbeKind::Linear, ProbeKind::LinearStudy];
    cfg3.linear.epochs = 3;
    cfg3.bootstrap.resamples = 0;
    let res3 = segmentation::run(&cfg3, &ModelTokens::new(&model, Some(&store), 16)).expect("run");
    assert_eq!(store.keys().expect("keys").len(), 3, "from the cache");
    let ours: LinearProbeConfig =
        serde_json::from_value(res3.runs[0].record["config"].clone()).unwrap();
    assert_eq!(ours.epochs, 3);
    assert!(matches!(ours.selection, Selection::HeldOut { .. }));
    let study = &res3.runs[1];
    assert_eq!(study.probe, ProbeKind::LinearStudy);
    let sc: LinearProbeConfig = serde_json::from_value(study.record["config"].clone()).unwrap();
    assert_eq!(
        (
            sc.epochs,
            sc.select_every,
            sc.selection,
            sc.selection_metric
        ),
        (100, 5, Selection::ReportedValSet, SelectionMetric::RocAuc)
    );
    assert_eq!(
        study.record["n_selection"],
        6 * 256,
        "the test image's patches"
    );
    let best = study.record["best_epoch"].as_u64().unwrap();
    assert_eq!(best % 5, 0, "a checkpoint epoch: {best}");
    let auc = |e: u64| study.record["history"][e as usize - 1]["selection"]["roc_auc"].as_f64();
    for e in (5..=100).step_by(5) {
        assert!(auc(e).unwrap() <= auc(best).unwrap(), "epoch {e}");
    }
    assert_eq!(auc(4), None, "not a checkpoint");
    let exps3 = res3.experiments();
    let study_e = exps3
        .iter()
        .find(|e| e.name == "camvid/linear_study/train/dinov2_vits14/layer12")
        .expect("the study recipe's experiment");
    // The recipe is stated beside the number.
    let recipe = study_e.protocol["recipe"].as_str().unwrap();
    assert!(
        recipe.starts_with("ours: Adam lr 0.001, batch 1024, 100 epochs, a checkpoint every 5 epochs chosen by ROC-AUC on the reported test images"),
        "{recipe}"
    );
}

/// The hand-derived scores rest on the protocol alone (identical pixels give identical tokens, and cosine
/// 1-NN finds the exact copy), so they hold for random weights too: this runs without the shared assets.
#[test]
fn self_match_scores_hold_with_random_weights() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("camvid");
    support::write_camvid_tree(&root);
    let model = support::random_dinov2_small(0);
    let mut cfg = SegmentationConfig::new(SegSource::Camvid { root });
    cfg.knn.search.similarity = Similarity::Cosine;
    cfg.bootstrap.resamples = 0;
    let res = segmentation::run(&cfg, &ModelTokens::new(&model, None, 16)).expect("run");
    let s = &res.runs[0].scores;
    assert!((s.miou - 0.25).abs() < 1e-12, "{}", s.miou);
    assert!(
        (s.pixel_accuracy - 0.5).abs() < 1e-12,
        "{}",
        s.pixel_accuracy
    );
    assert!(
        (s.patch_accuracy - 0.5).abs() < 1e-12,
        "{}",
        s.patch_accuracy
    );
    let mut per_class = s.per_class_iou.clone();
    per_class.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        per_class,
        vec![
            ("Building".to_string(), 0.5),
            ("Pole".to_string(), 0.0),
            ("Road".to_string(), 0.0),
            ("Sky".to_string(), 0.5),
        ]
    );
    let e = &res.experiments()[0];
    assert!(
        e.model
            .weights_sha256
            .as_deref()
            .unwrap()
            .starts_with("random-init-seed0-config")
    );
}

#[test]
fn bad_input_is_refused_clearly() {
    // A PCA with no component: refused naming the value (the command line's `--normalize pca:0`).
    let e = segmentation::probe::parse_normalize("pca:0").unwrap_err();
    assert!(e.contains("pca:0"), "{e}");
    // The same value in a configuration document.
    let doc =
        serde_json::json!({"source": {"dataset": "camvid", "root": "x"}, "normalize": "pca:0"});
    let e = serde_json::from_value::<SegmentationConfig>(doc).unwrap_err();
    assert!(e.to_string().contains("pca:0"), "{e}");

    let tmp = tempfile::tempdir().expect("tempdir");
    // A missing weights file names the file.
    let missing = tmp.path().join("missing.safetensors");
    let e = ModelSpec::zoo("dinov2_vits14")
        .unwrap()
        .load(
            &ModelSource::Weights {
                path: missing,
                part: None,
            },
            &patchlens_vit::Device::flex(),
        )
        .err()
        .expect("no such weights");
    let msg = support::chain(&e);
    assert!(msg.contains("missing.safetensors"), "{msg}");

    // A missing dataset folder names the folder (found before any token is asked for).
    let features = FeatureDir {
        dir: tmp.path().join("features"),
        name: "dinov2_vits14".into(),
        family: patchlens_vit::Family::Dinov2,
        patch_size: 14,
        depth: 12,
        embed_dim: 384,
        native_size: 518,
        paper_model: None,
    };
    let cfg = SegmentationConfig::new(SegSource::Camvid {
        root: tmp.path().join("nope"),
    });
    let e = segmentation::run(&cfg, &features).unwrap_err();
    let msg = support::chain(&e);
    assert!(msg.contains("nope"), "{msg}");

    // k = 0 is refused naming the field.
    let mut cfg = SegmentationConfig::new(SegSource::Camvid {
        root: tmp.path().join("nope"),
    });
    cfg.knn.search.k = 0;
    let e = segmentation::run(&cfg, &features).unwrap_err();
    let msg = support::chain(&e);
    assert!(msg.contains("knn.search.k"), "{msg}");
}
