//! End to end: `xtask eval variance` on the tiny fake CamVid tree of `segmentation_support`.
//!
//! - The spectrum must equal the population variance (ddof = 0) per dimension computed here, in f64, from
//!   the cached feature shards of the two train frames, sorted descending, with the same indices.
//! - With cosine 1-NN every query patch of C matches its own copy in A under *any* transform fitted on the
//!   gallery and applied to both (deleting columns, BatchNorm, standardising, whitening and PCA map equal
//!   rows to equal rows), so every point of the sweep scores the hand-derived mIoU 0.25 of
//!   `segmentation_cli.rs` (except with a single dimension left, where cosine similarities are ±1 and tie).

mod cli_support;
mod segmentation_support;

use patchlens_store::FeatureStore;
use segmentation_support::*;

#[test]
fn cli_variance_spectrum_and_sweep() {
    let Some(weights) = dinov2_small() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("camvid");
    write_tree(&root);
    let out = tmp.path().join("run/results.json");
    let cache = tmp.path().join("cache");
    let stdout = run_xtask(&[
        "eval",
        "variance",
        "--dataset",
        "camvid",
        "--data-root",
        root.to_str().unwrap(),
        "--model",
        "dinov2_vits14",
        "--weights",
        weights.to_str().unwrap(),
        "--similarity",
        "cosine",
        "--sweep",
        "0,10,100,750",
        "--alternatives",
        "bn,bn-probe,standardize,whiten,pca",
        "--pca-k",
        "64",
        "--bootstrap",
        "0",
        "--cache-dir",
        cache.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let v = read_json(&out);

    // Independent spectrum from the cached shards of the train frames A and B.
    let store = FeatureStore::open(&cache).expect("store");
    let (mut rows, mut dim) = (Vec::<f32>::new(), 0usize);
    let mut found = 0;
    for key in store.keys().expect("keys") {
        let shard = store.get(&key).expect("read").expect("present");
        if matches!(
            shard.metadata().get("image_id").map(String::as_str),
            Some("A" | "B")
        ) {
            dim = shard.dim();
            rows.extend_from_slice(shard.features());
            found += 1;
        }
    }
    assert_eq!(found, 2, "one shard per train frame");
    assert_eq!(dim, 384);
    let n = rows.len() / dim;
    assert_eq!(n, 2 * 6 * 256);
    let mut var = vec![0.0f64; dim];
    for d in 0..dim {
        let mean = (0..n).map(|i| rows[i * dim + d] as f64).sum::<f64>() / n as f64;
        var[d] = (0..n)
            .map(|i| (rows[i * dim + d] as f64 - mean).powi(2))
            .sum::<f64>()
            / n as f64;
    }
    let mut order: Vec<usize> = (0..dim).collect();
    order.sort_by(|&a, &b| var[b].total_cmp(&var[a]));

    let spec = &v["experiments"][0];
    assert_eq!(spec["kind"], "variance_spectrum");
    let sorted: Vec<f64> = spec["protocol"]["sorted_variance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    let got_order: Vec<usize> = spec["protocol"]["order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(sorted.len(), dim);
    for (r, (&s, &i)) in sorted.iter().zip(&order).enumerate() {
        assert!(
            (s - var[i]).abs() <= 1e-9 * var[i].max(1.0),
            "rank {r}: {s} vs {}",
            var[i]
        );
    }
    // Indices agree except possibly among (numerically) tied variances.
    for (r, (&a, &b)) in got_order.iter().zip(&order).enumerate() {
        assert!(
            a == b || (var[a] - var[b]).abs() <= 1e-9 * var[a].max(1.0),
            "rank {r}: dim {a} vs {b}"
        );
    }
    let curve = &spec["curves"][0];
    assert_eq!(curve["y"].as_array().unwrap().len(), dim);
    assert!((f(&v, "/metrics/variance_max") - var[order[0]]).abs() <= 1e-9 * var[order[0]]);

    // The sweep: N = 750 is clamped to D − 1 = 383; every point scores 0.25.
    let sw = &v["experiments"][1];
    assert_eq!(sw["kind"], "variance_removal");
    assert_eq!(
        sw["protocol"]["sweep"],
        serde_json::json!([0, 10, 100, 383])
    );
    let m = sw["metrics"].as_object().unwrap();
    let keys = [
        "remove0",
        "remove10",
        "remove100",
        "remove383",
        "bn",
        "bn_probe",
        "standardize",
        "whiten",
        "pca64",
    ];
    assert_eq!(m.len(), keys.len(), "{m:?}");
    for k in keys {
        let x = m[&format!("knn_miou/{k}")].as_f64().unwrap();
        if k == "remove383" {
            // One dimension left: cosine is ±1, ties everywhere; only a valid score is expected.
            assert!((0.0..=1.0).contains(&x), "{k}: {x}");
        } else {
            assert!((x - 0.25).abs() < 1e-12, "{k}: {x}");
        }
    }
    // bn_probe: the running statistics of a BatchNorm linear probe (§6.3), recorded with its settings;
    // a per-dimension affine map keeps every query's exact duplicate in the gallery, hence 0.25 again.
    assert!(
        sw["protocol"]["bn_probe"]["source"]
            .as_str()
            .unwrap()
            .contains("trained linear probe")
    );
    assert_eq!(sw["protocol"]["bn_probe"]["config"]["batch_norm"], true);
    // Curves: removal (4 points), PCA (one point at N = 384 − 64 = 320), four horizontal lines.
    let curves = sw["curves"].as_array().unwrap();
    assert_eq!(curves.len(), 6);
    let removal = curves
        .iter()
        .find(|c| c["label"].as_str().unwrap().ends_with("remove top-N"))
        .unwrap();
    assert_eq!(removal["x"], serde_json::json!([0.0, 10.0, 100.0, 383.0]));
    let pca = curves
        .iter()
        .find(|c| c["label"].as_str().unwrap().contains("PCA"))
        .unwrap();
    assert_eq!(pca["x"], serde_json::json!([320.0]));
    assert!(curves.iter().all(|c| c["figure"] == curves[0]["figure"]));
}
