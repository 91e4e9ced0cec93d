//! End to end: `xtask eval segmentation` on a tiny fake CamVid tree, checked against hand-derived scores.
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

mod cli_support;
mod segmentation_support;

use segmentation_support::*;

#[test]
fn cli_cosine_self_match_scores_by_hand() {
    let Some(weights) = dinov2_small() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("camvid");
    write_tree(&root);
    let out = tmp.path().join("run/results.json");
    let stdout = run_xtask(&[
        "eval",
        "segmentation",
        "--dataset",
        "camvid",
        "--data-root",
        root.to_str().unwrap(),
        "--model",
        "dinov2_vits14",
        "--weights",
        weights.to_str().unwrap(),
        "--probe",
        "knn",
        "--similarity",
        "cosine",
        "--bootstrap",
        "200",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(stdout.lines().count(), 1, "one summary line: {stdout}");
    assert!(
        stdout.starts_with("segmentation camvid/knn/train/dinov2_vits14/layer12"),
        "{stdout}"
    );

    let v = read_json(&out);
    // Top-level summary.
    assert!((f(&v, "/metrics/miou") - 0.25).abs() < 1e-12);
    assert!((f(&v, "/metrics/pixel_accuracy") - 0.5).abs() < 1e-12);
    assert!((f(&v, "/metrics/patch_accuracy") - 0.5).abs() < 1e-12);
    let pc = v
        .pointer("/metrics/per_class_iou")
        .and_then(|p| p.as_object())
        .expect("per_class_iou");
    let expect = [
        ("Sky", 0.5),
        ("Building", 0.5),
        ("Pole", 0.0),
        ("Road", 0.0),
    ];
    assert_eq!(
        pc.len(),
        expect.len(),
        "absent classes are left out: {pc:?}"
    );
    for (name, iou) in expect {
        assert!(
            (pc[name].as_f64().unwrap() - iou).abs() < 1e-12,
            "{name}: {}",
            pc[name]
        );
    }
    // The experiment inside the versioned schema.
    assert_eq!(v["schema_version"], 1);
    let e = &v["experiments"][0];
    assert_eq!(e["kind"], "segmentation");
    assert_eq!(e["model"]["zoo_name"], "dinov2_vits14");
    assert_eq!(e["model"]["family"], "dinov2");
    assert_eq!(
        e["model"]["weights_sha256"].as_str().map(str::len),
        Some(64)
    );
    assert!((f(e, "/metrics/miou") - 0.25).abs() < 1e-12);
    assert_eq!(e["protocol"]["gallery_patches"], 2 * 6 * 256);
    assert_eq!(e["protocol"]["query_patches"], 6 * 256);
    assert_eq!(
        e["protocol"]["tile_spec"]["resize"],
        serde_json::json!([672, 448])
    );
    assert_eq!(e["protocol"]["tile_spec"]["grid"], 16);
    // One test image: every bootstrap resample is that image, so the interval collapses on the estimate.
    let ci = &e["confidence_intervals"]["miou"];
    assert!(
        (f(ci, "/lower") - 0.25).abs() < 1e-12 && (f(ci, "/upper") - 0.25).abs() < 1e-12,
        "{ci}"
    );
    // Sample maps: the predicted map is the quadrant map in the SegNet colours.
    let images = e["images"].as_array().expect("images");
    assert_eq!(images.len(), 2);
    let pred = out
        .parent()
        .unwrap()
        .join(images[0]["source"]["path"].as_str().unwrap());
    let rgb = patchlens_image::decode_rgb(&pred).expect("prediction PNG");
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

    // Re-run from the cache with the dot product and a k-NN vote: still a valid results file.
    let out2 = tmp.path().join("run2/results.json");
    run_xtask(&[
        "eval",
        "segmentation",
        "--dataset",
        "camvid",
        "--data-root",
        root.to_str().unwrap(),
        "--model",
        "dinov2_vits14",
        "--weights",
        weights.to_str().unwrap(),
        "--probe",
        "knn",
        "--k",
        "5",
        "--vote",
        "majority",
        "--remove-top-variance",
        "10",
        "--normalize",
        "standardize",
        "--cache-dir",
        out.parent().unwrap().join("cache").to_str().unwrap(),
        "--bootstrap",
        "0",
        "--out",
        out2.to_str().unwrap(),
    ]);
    let v2 = read_json(&out2);
    let m = f(&v2, "/metrics/miou");
    assert!((0.0..=1.0).contains(&m), "{m}");
    assert_eq!(
        v2["experiments"][0]["protocol"]["feature_transform"]["dim_after"],
        384 - 10
    );
    assert_eq!(
        v2["experiments"][0]["protocol"]["feature_transform"]["removed_columns"]
            .as_array()
            .map(Vec::len),
        Some(10)
    );
}

#[test]
fn cli_rejects_bad_input_clearly() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["eval", "segmentation", "--dataset", "camvid", "--data-root"])
        .arg(tmp.path().join("nope"))
        .args(["--model", "dinov2_vits14", "--weights"])
        .arg(tmp.path().join("missing.safetensors"))
        .args(["--probe", "knn", "--normalize", "pca:0", "--out"])
        .arg(tmp.path().join("r.json"))
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pca:0"), "{err}");
}
