//! The high-variance analysis (`patchlens_eval::variance`) on the tiny fake CamVid tree of
//! `support::write_camvid_tree`.
//!
//! - The spectrum must equal the population variance (ddof = 0) per dimension computed here, in f64, from
//!   the cached feature shards of the two train frames, sorted descending, with the same indices.
//! - With cosine 1-NN every query patch of C matches its own copy in A under *any* transform fitted on the
//!   gallery and applied to both (deleting columns, BatchNorm, standardising, whitening and PCA map equal
//!   rows to equal rows), so every point of the sweep scores the hand-derived mIoU 0.25 of
//!   `segmentation.rs` (except with a single dimension left, where cosine similarities are ±1 and tie).

mod support;

use patchlens_eval::variance::{self, Alternative, VarianceConfig};
use patchlens_eval::{ModelTokens, SegSource};
use patchlens_probe::knn::Similarity;
use patchlens_report::ExperimentKind;
use patchlens_store::FeatureStore;

#[test]
fn variance_spectrum_and_sweep() {
    let Some(weights) = support::dinov2_small() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("camvid");
    support::write_camvid_tree(&root);
    let cache = tmp.path().join("cache");
    let store = FeatureStore::open(&cache).expect("store");
    let model = support::load_dinov2_small(&weights);
    let mut cfg = VarianceConfig::new(SegSource::Camvid { root });
    cfg.knn.search.similarity = Similarity::Cosine;
    cfg.sweep = vec![0, 10, 100, 750];
    cfg.alternatives = "bn,bn-probe,standardize,whiten,pca"
        .split(',')
        .map(|s| Alternative::parse(s).expect("alternative"))
        .collect();
    cfg.pca_ks = Some(vec![64]);
    cfg.bootstrap.resamples = 0;
    let res = variance::run(&cfg, &ModelTokens::new(&model, Some(&store), 16)).expect("run");
    assert_eq!(res.summary_lines().len(), 1, "{:?}", res.summary_lines());
    assert_eq!(res.layers.len(), 1);
    let layer = &res.layers[0];
    assert_eq!((layer.layer, layer.dim), (12, 384));

    // Independent spectrum from the cached shards of the train frames A and B.
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
    assert_eq!(layer.patches, n);
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

    let exps = res.experiments();
    assert_eq!(exps.len(), 2, "spectrum and sweep of one layer");
    let spec = &exps[0];
    assert_eq!(spec.kind, ExperimentKind::VarianceSpectrum);
    let to_f64 = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let sorted = to_f64(&spec.protocol["sorted_variance"]);
    let got_order: Vec<usize> = spec.protocol["order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(
        sorted, layer.spectrum.sorted,
        "the report holds the typed spectrum"
    );
    assert_eq!(got_order, layer.spectrum.order);
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
    assert_eq!(spec.curves[0].y.len(), dim);
    assert!((spec.metrics["variance_max"] - var[order[0]]).abs() <= 1e-9 * var[order[0]]);

    // The sweep: N = 750 is clamped to D − 1 = 383; every point scores 0.25.
    assert_eq!(layer.removals, vec![0, 10, 100, 383]);
    let sw = &exps[1];
    assert_eq!(sw.kind, ExperimentKind::VarianceRemoval);
    assert_eq!(sw.protocol["sweep"], serde_json::json!([0, 10, 100, 383]));
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
    assert_eq!(sw.metrics.len(), keys.len(), "{:?}", sw.metrics);
    let mut point_keys: Vec<&str> = layer.points.iter().map(|p| p.key.as_str()).collect();
    point_keys.sort_unstable();
    let mut want = keys.to_vec();
    want.sort_unstable();
    assert_eq!(point_keys, want);
    for k in keys {
        let x = sw.metrics[&format!("knn_miou/{k}")];
        let typed = layer.points.iter().find(|p| p.key == k).unwrap().knn.0;
        assert_eq!(x, typed, "{k}");
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
        sw.protocol["bn_probe"]["source"]
            .as_str()
            .unwrap()
            .contains("trained linear probe"),
        "{}",
        sw.protocol["bn_probe"]
    );
    assert_eq!(sw.protocol["bn_probe"]["config"]["batch_norm"], true);
    // Curves: removal (4 points), PCA (one point at N = 384 − 64 = 320), four horizontal lines.
    assert_eq!(sw.curves.len(), 6);
    let removal = sw
        .curves
        .iter()
        .find(|c| c.label.ends_with("remove top-N"))
        .unwrap();
    assert_eq!(removal.x, vec![0.0, 10.0, 100.0, 383.0]);
    let pca = sw.curves.iter().find(|c| c.label.contains("PCA")).unwrap();
    assert_eq!(pca.x, vec![320.0]);
    assert!(sw.curves.iter().all(|c| c.figure == sw.curves[0].figure));
}

#[test]
fn bad_values_are_refused_naming_them() {
    let e = Alternative::parse("whitening").unwrap_err();
    assert!(
        support::chain(&e).contains("whitening"),
        "{}",
        support::chain(&e)
    );
    assert_eq!(
        Alternative::parse("bn-probe").unwrap(),
        Alternative::BnProbe
    );
    let mut cfg = VarianceConfig::new(SegSource::Camvid { root: "x".into() });
    cfg.sweep.clear();
    let e = cfg.validate().unwrap_err();
    assert!(
        support::chain(&e).contains("sweep"),
        "{}",
        support::chain(&e)
    );
    let e = variance::sweep_transforms(&[0, 10], &[Alternative::Pca], 32, Some(&[40])).unwrap_err();
    let msg = support::chain(&e);
    assert!(msg.contains("40") && msg.contains("1..=32"), "{msg}");
}
