//! Variance analysis: numpy reference, hand-worked removal, whitening / PCA properties.

use patchlens_probe::variance::{
    self, CITYSCAPES_REMOVAL_SWEEP, FeatureTransform, FittedTransform, Whitening,
};
use patchlens_probe::{MatRef, Matrix, ProbeError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

struct Reference {
    x: Vec<f32>,
    rows: usize,
    cols: usize,
    mean: Vec<f64>,
    var: Vec<f64>,
    order: Vec<usize>,
    eig: Vec<f64>,
    bn_eps: f64,
    bn_first3: Vec<f64>,
}

fn reference() -> Reference {
    let path = patchlens_testutil::fixture("probe/reference.json");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let f64s = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    Reference {
        x: f64s(&r["x"]["data"])
            .into_iter()
            .map(|v| v as f32)
            .collect(),
        rows: r["x"]["rows"].as_u64().unwrap() as usize,
        cols: r["x"]["cols"].as_u64().unwrap() as usize,
        mean: f64s(&r["mean"]),
        var: f64s(&r["var"]),
        order: f64s(&r["order"]).into_iter().map(|v| v as usize).collect(),
        eig: f64s(&r["cov_eigvals_desc"]),
        bn_eps: r["bn_eps"].as_f64().unwrap(),
        bn_first3: f64s(&r["bn_first3"]),
    }
}

#[test]
fn spectrum_matches_numpy() {
    let r = reference();
    let x = MatRef::new(&r.x, r.rows, r.cols).unwrap();
    let s = variance::variance_spectrum(x).unwrap();
    for (a, b) in s.stats.variance.iter().zip(&r.var) {
        assert!((a - b).abs() <= 1e-10 * b.abs().max(1e-3), "{a} vs {b}");
    }
    for (a, b) in s.stats.mean.iter().zip(&r.mean) {
        assert!((a - b).abs() <= 1e-10 * (1.0 + b.abs()));
    }
    // Columns 0 and 7 are identical in the fixture: the tie goes to the lower index.
    assert_eq!(s.order, r.order);
    for w in s.sorted.windows(2) {
        assert!(w[0] >= w[1]);
    }
}

#[test]
fn pca_eigenvalues_match_numpy() {
    let r = reference();
    let x = MatRef::new(&r.x, r.rows, r.cols).unwrap();
    let p = variance::pca(x).unwrap();
    for (a, b) in p.values.iter().zip(&r.eig) {
        // The covariance is accumulated from f32 products: relative 1e-5 of the largest.
        assert!((a - b).abs() <= 1e-5 * r.eig[0], "{a} vs {b}");
    }
}

#[test]
fn batch_norm_variant_matches_numpy() {
    let r = reference();
    let x = MatRef::new(&r.x, r.rows, r.cols).unwrap();
    let t = FeatureTransform::BatchNorm { eps: r.bn_eps }
        .fit(x)
        .unwrap();
    let y = t.apply(x.slice_rows(0, 3)).unwrap();
    for (a, b) in y.data().iter().zip(&r.bn_first3) {
        assert!((*a as f64 - b).abs() < 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
    }
}

#[test]
fn hand_worked_removal() {
    // 4 rows × 3 columns. Column variances (ddof = 0):
    // col 0: values 0, 0, 2, 2 → mean 1, var 1
    // col 1: values 0, 0, 0, 4 → mean 1, var (1 + 1 + 1 + 9) / 4 = 3
    // col 2: values 1, 1, 1, 1 → var 0
    let x = [
        0.0f32, 0.0, 1.0, 0.0, 0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 4.0, 1.0,
    ];
    let m = MatRef::new(&x, 4, 3).unwrap();
    let s = variance::variance_spectrum(m).unwrap();
    assert_eq!(s.stats.variance, vec![1.0, 3.0, 0.0]);
    assert_eq!(s.order, vec![1, 0, 2]);
    assert_eq!(s.sorted, vec![3.0, 1.0, 0.0]);

    let t = FeatureTransform::RemoveTopVariance { n: 1 }.fit(m).unwrap();
    assert_eq!(t.removed_columns(), Some(&[1usize][..]));
    let q = [7.0f32, 8.0, 9.0];
    let y = t.apply(MatRef::new(&q, 1, 3).unwrap()).unwrap();
    assert_eq!(y.data(), &[7.0, 9.0]); // deleted, not zeroed
    let t2 = FeatureTransform::RemoveTopVariance { n: 2 }.fit(m).unwrap();
    assert_eq!(t2.apply(m).unwrap().data(), &[1.0, 1.0, 1.0, 1.0]);
    // Clamped to the dimension: everything removed.
    let t9 = FeatureTransform::RemoveTopVariance { n: 9 }.fit(m).unwrap();
    assert_eq!(t9.out_dim(), 0);

    // Standardise: col 0 → (x − 1) / 1, col 1 → (x − 1) / √3, col 2 constant → centred.
    let st = FeatureTransform::Standardize
        .fit(m)
        .unwrap()
        .apply(m)
        .unwrap();
    let s3 = 3f32.sqrt();
    let want = [
        -1.0,
        -1.0 / s3,
        0.0,
        -1.0,
        -1.0 / s3,
        0.0,
        1.0,
        -1.0 / s3,
        0.0,
        1.0,
        3.0 / s3,
        0.0,
    ];
    for (a, b) in st.data().iter().zip(want) {
        assert!((a - b).abs() < 1e-6);
    }
}

#[test]
fn sweep_clamps_and_deduplicates() {
    assert_eq!(
        variance::clamp_sweep(&CITYSCAPES_REMOVAL_SWEEP, 768),
        CITYSCAPES_REMOVAL_SWEEP.to_vec()
    );
    assert_eq!(
        variance::clamp_sweep(&CITYSCAPES_REMOVAL_SWEEP, 384),
        vec![0, 10, 20, 30, 40, 50, 100, 200, 384]
    );
    let r = reference();
    let x = MatRef::new(&r.x, r.rows, r.cols).unwrap();
    let q = x.slice_rows(0, 5);
    let ts = FeatureTransform::removal_sweep(&CITYSCAPES_REMOVAL_SWEEP, r.cols);
    // 12 columns: 0, 10, then everything clamps to 12.
    assert_eq!(ts.len(), 3);
    let dims = variance::sweep(x, q, &ts, |t, g, qq| {
        assert_eq!(g.cols(), qq.cols());
        if let FeatureTransform::RemoveTopVariance { n } = t.transform() {
            // The removed columns are the n first of numpy's order.
            let mut want = r.order[..n].to_vec();
            want.sort_unstable();
            assert_eq!(t.removed_columns().unwrap(), &want[..]);
        }
        Ok(g.cols())
    })
    .unwrap();
    assert_eq!(dims, vec![12, 2, 0]);
}

/// Correlated random data: x = A z + offset with z ~ U(−1, 1)^d.
fn correlated(n: usize, d: usize, seed: u64) -> Matrix {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let a: Vec<f32> = (0..d * d).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let mut x = vec![0.0f32; n * d];
    for r in 0..n {
        let z: Vec<f32> = (0..d).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        for i in 0..d {
            x[r * d + i] = 3.0 + (0..d).map(|j| a[i * d + j] * z[j]).sum::<f32>();
        }
    }
    Matrix::new(x, n, d).unwrap()
}

fn cov_of(m: &Matrix) -> Vec<f64> {
    let d = m.cols();
    let n = m.rows() as f64;
    let mut mean = vec![0.0f64; d];
    for r in 0..m.rows() {
        for (mu, &v) in mean.iter_mut().zip(m.row(r)) {
            *mu += v as f64 / n;
        }
    }
    let mut c = vec![0.0f64; d * d];
    for r in 0..m.rows() {
        let row = m.row(r);
        for i in 0..d {
            for j in 0..d {
                c[i * d + j] += (row[i] as f64 - mean[i]) * (row[j] as f64 - mean[j]) / n;
            }
        }
    }
    c
}

#[test]
fn whitened_covariance_is_identity() {
    let x = correlated(3000, 8, 3);
    for kind in [Whitening::Pca, Whitening::Zca] {
        let t = FeatureTransform::Whiten { kind, eps: 1e-9 }
            .fit(x.view())
            .unwrap();
        let y = t.apply(x.view()).unwrap();
        let c = cov_of(&y);
        for i in 0..8 {
            for j in 0..8 {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!(
                    (c[i * 8 + j] - want).abs() < 2e-3,
                    "{kind:?} C[{i}][{j}] = {}",
                    c[i * 8 + j]
                );
            }
        }
    }
    // ZCA is the symmetric whitening: W = C^{-1/2}, so W is symmetric. Check through its
    // action on unit vectors (apply to mean + e_i and subtract the image of the mean).
    let t = FeatureTransform::Whiten {
        kind: Whitening::Zca,
        eps: 1e-9,
    }
    .fit(x.view())
    .unwrap();
    let stats = variance::column_stats(x.view()).unwrap();
    let base: Vec<f32> = stats.mean.iter().map(|&v| v as f32).collect();
    let mut probes = Vec::new();
    for i in 0..8 {
        let mut p = base.clone();
        p[i] += 1.0;
        probes.extend(p);
    }
    let w = t.apply(MatRef::new(&probes, 8, 8).unwrap()).unwrap();
    // Column i of W is w.row(i) (the image of e_i).
    for i in 0..8 {
        for j in 0..8 {
            let (a, b) = (w.row(i)[j], w.row(j)[i]);
            assert!(
                (a - b).abs() < 1e-3 * (1.0 + a.abs()),
                "W not symmetric at {i},{j}"
            );
        }
    }
}

#[test]
fn pca_k_keeps_the_top_components() {
    let x = correlated(2000, 6, 5);
    let eig = variance::pca(x.view()).unwrap();
    let t = FeatureTransform::Pca { k: 3 }.fit(x.view()).unwrap();
    assert_eq!(t.out_dim(), 3);
    let y = t.apply(x.view()).unwrap();
    let c = cov_of(&y);
    for i in 0..3 {
        for j in 0..3 {
            let want = if i == j { eig.values[i] } else { 0.0 };
            assert!(
                (c[i * 3 + j] - want).abs() < 1e-3 * eig.values[0],
                "C[{i}][{j}]"
            );
        }
    }
    // Total variance is preserved by the full PCA rotation.
    let full = FeatureTransform::Pca { k: 6 }.fit(x.view()).unwrap();
    let yf = full.apply(x.view()).unwrap();
    let trace = |m: &Matrix| {
        let c = cov_of(m);
        (0..m.cols()).map(|i| c[i * m.cols() + i]).sum::<f64>()
    };
    assert!((trace(&yf) - trace(&x)).abs() < 1e-4 * trace(&x));
}

#[test]
fn batch_norm_from_probe_stats_and_errors() {
    let t = FittedTransform::batch_norm_from_stats(&[1.0, 2.0], &[4.0, 1.0], 0.0).unwrap();
    let y = t.apply(MatRef::new(&[3.0, 2.0], 1, 2).unwrap()).unwrap();
    // (3 − 1) / √4 = 1; (2 − 2) / √1 = 0.
    assert_eq!(y.data(), &[1.0, 0.0]);
    // A zero variance with eps = 0 would divide by zero: rejected.
    assert!(FittedTransform::batch_norm_from_stats(&[1.0, 2.0], &[4.0, 0.0], 0.0).is_err());
    assert!(FittedTransform::batch_norm_from_stats(&[1.0], &[-1.0], 1e-5).is_err());
    assert!(FittedTransform::batch_norm_from_stats(&[1.0], &[1.0, 2.0], 1e-5).is_err());
    let m = MatRef::new(&[1.0f32, 2.0], 1, 2).unwrap();
    assert!(matches!(
        t.apply(MatRef::new(&[1.0f32], 1, 1).unwrap()),
        Err(ProbeError::DimMismatch { .. })
    ));
    assert!(
        FeatureTransform::Whiten {
            kind: Whitening::Pca,
            eps: 0.0
        }
        .fit(m)
        .is_err()
    );
}
