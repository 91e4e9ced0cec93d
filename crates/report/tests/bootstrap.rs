//! Bootstrap confidence intervals on hand-worked cases.

use patchlens_metrics::{AbsentClassPolicy, ConfusionMatrix, LabelSpace};
use patchlens_report::{
    ConfidenceInterval, DEFAULT_LEVEL, bootstrap_ci_mean, bootstrap_ci_miou, bootstrap_ci_with,
    quantile_sorted,
};

/// A label space of `k` evaluation classes (raw ids `0..k`) and one void raw id `k`.
fn space(k: usize, absent: AbsentClassPolicy) -> LabelSpace {
    let raw_to_eval = (0..k).map(|c| Some(c as u16)).chain([None]).collect();
    let names = (0..k).map(|c| format!("class{c}")).collect();
    LabelSpace::new("test", raw_to_eval, names, vec![], absent, None).unwrap()
}

/// One image's matrix with the given row-major `K × (K+1)` counts (last column: predicted void),
/// built by accumulating that many (prediction, ground truth) pixels.
fn matrix(space: &LabelSpace, counts: &[u64]) -> ConfusionMatrix {
    let cols = space.num_classes() + 1;
    assert_eq!(counts.len(), space.num_classes() * cols);
    let (mut pred, mut gt) = (Vec::new(), Vec::new());
    for (i, &c) in counts.iter().enumerate() {
        for _ in 0..c {
            gt.push((i / cols) as u16);
            pred.push((i % cols) as u16);
        }
    }
    let mut m = ConfusionMatrix::new(space);
    m.accumulate(&pred, &gt).unwrap();
    assert_eq!(m.counts(), counts);
    m
}

fn cityscapes_like(k: usize) -> LabelSpace {
    space(k, AbsentClassPolicy::Nan)
}

#[test]
fn constant_values_give_zero_width() {
    let ci = bootstrap_ci_mean(&[0.42; 30], 500, 7).unwrap();
    assert_eq!((ci.estimate, ci.lower, ci.upper), (0.42, 0.42, 0.42));
    assert_eq!(ci.level, 0.95);
    assert_eq!(ci.n_resamples, 500);
}

/// Two items {0, 1}: a resample's mean is 0, 0.5 or 1 with probabilities 1/4, 1/2, 1/4, so the
/// 2.5 % and 97.5 % quantiles are exactly 0 and 1.
#[test]
fn two_items_hand_worked() {
    let ci = bootstrap_ci_mean(&[0.0, 1.0], 4000, 1).unwrap();
    assert_eq!(ci.estimate, 0.5);
    assert_eq!(ci.lower, 0.0);
    assert_eq!(ci.upper, 1.0);
}

/// 200 values, half 0 and half 1: a resample mean is Binomial(200, 1/2) / 200, whose 2.5 % and
/// 97.5 % quantiles are 86/200 = 0.43 and 114/200 = 0.57 (normal approximation 0.5 ± 1.96·0.0354).
#[test]
fn binomial_case_within_expected_bounds() {
    let v: Vec<f64> = (0..200).map(|i| (i % 2) as f64).collect();
    let ci = bootstrap_ci_mean(&v, 5000, 2024).unwrap();
    assert!((ci.lower - 0.43).abs() <= 0.0101, "lower {}", ci.lower);
    assert!((ci.upper - 0.57).abs() <= 0.0101, "upper {}", ci.upper);
    assert_eq!(
        bootstrap_ci_mean(&v, 5000, 2024).unwrap(),
        ci,
        "deterministic under the seed"
    );
}

#[test]
fn seed_determinism_on_continuous_values() {
    let v: Vec<f64> = (0..50).map(|i| (i as f64).sqrt()).collect();
    let a = bootstrap_ci_mean(&v, 1000, 5).unwrap();
    assert_eq!(bootstrap_ci_mean(&v, 1000, 5).unwrap(), a);
    let b = bootstrap_ci_mean(&v, 1000, 6).unwrap();
    assert!(a.lower != b.lower && a.upper != b.upper);
    assert!(a.lower < a.estimate && a.estimate < a.upper);
}

#[test]
fn quantile_matches_numpy_linear() {
    // numpy.quantile([1, 2, 3, 4], [0, 0.25, 0.5, 0.9, 1]) = [1, 1.75, 2.5, 3.7, 4]
    let v = [1.0, 2.0, 3.0, 4.0];
    for (q, want) in [(0.0, 1.0), (0.25, 1.75), (0.5, 2.5), (0.9, 3.7), (1.0, 4.0)] {
        assert!((quantile_sorted(&v, q) - want).abs() < 1e-12, "q={q}");
    }
}

#[test]
fn miou_with_void_predictions() {
    // Class 0: tp 3, gt 4, pred 3 -> 3/4; class 1: tp 2, gt 2, pred 2 -> 1. Column 2 = predicted void.
    let s = cityscapes_like(2);
    let m = matrix(&s, &[3, 0, 1, 0, 2, 0]);
    assert_eq!(m.iou_per_class(), vec![0.75, 1.0]);
    assert_eq!(m.miou(), 0.875);
    let ci = bootstrap_ci_miou(&vec![m; 4], 100, 0).unwrap();
    assert_eq!((ci.estimate, ci.lower, ci.upper), (0.875, 0.875, 0.875));
}

/// Identical images: every resample sums to a multiple of one matrix, so the mIoU never changes.
/// [[3, 1], [0, 2]]: IoU0 = 3/4, IoU1 = 2/3, mIoU = 17/24.
#[test]
fn miou_identical_images_zero_width() {
    let m = matrix(&cityscapes_like(2), &[3, 1, 0, 0, 2, 0]);
    let ci = bootstrap_ci_miou(&vec![m; 10], 300, 3).unwrap();
    let want = 17.0 / 24.0;
    assert!((ci.estimate - want).abs() < 1e-12);
    assert!((ci.lower - want).abs() < 1e-12 && (ci.upper - want).abs() < 1e-12);
}

/// Two images; the resample {A, A}, {A, B}/{B, A}, {B, B} has probability 1/4, 1/2, 1/4.
/// A = [[2, 2], [0, 0]], B = [[0, 0], [0, 4]].
/// - AA: IoU0 = 4/8, IoU1 = 0/4 -> mIoU 0.25
/// - AB: IoU0 = 2/4, IoU1 = 4/6 -> mIoU 7/12 (the estimate; the mean of per-image mIoUs would be 0.625)
/// - BB: class 0 absent -> mIoU 1
#[test]
fn miou_resamples_images_and_sums_matrices() {
    let s = cityscapes_like(2);
    let a = matrix(&s, &[2, 2, 0, 0, 0, 0]);
    let b = matrix(&s, &[0, 0, 0, 0, 4, 0]);
    let ci = bootstrap_ci_miou(&[a, b], 4000, 11).unwrap();
    assert!((ci.estimate - 7.0 / 12.0).abs() < 1e-12);
    assert!((ci.lower - 0.25).abs() < 1e-12, "{}", ci.lower);
    assert!((ci.upper - 1.0).abs() < 1e-12, "{}", ci.upper);
}

/// Six images, three classes and a predicted-void column.
fn fixed_counts() -> Vec<Vec<u64>> {
    vec![
        vec![9, 5, 10, 4, 9, 12, 8, 2, 7, 1, 15, 0],
        vec![16, 2, 8, 3, 9, 13, 10, 5, 0, 6, 10, 7],
        vec![12, 10, 6, 2, 9, 14, 1, 8, 4, 0, 16, 3],
        vec![19, 7, 4, 1, 9, 15, 3, 0, 8, 5, 11, 10],
        vec![15, 4, 2, 0, 9, 16, 5, 3, 1, 10, 17, 6],
        vec![11, 1, 0, 10, 9, 17, 7, 6, 5, 4, 12, 2],
    ]
}

/// The interval from `patchlens_metrics` matrices is bit-identical to the one the report crate's
/// former plain `3 × 4` matrix type gave on this example (values recorded from that code before the
/// change, commit 164090b), and the estimate is the merged matrix's `miou()`.
#[test]
fn miou_interval_unchanged_from_the_plain_matrix_version() {
    let s = cityscapes_like(3);
    let mats: Vec<ConfusionMatrix> = fixed_counts().iter().map(|c| matrix(&s, c)).collect();
    let ci = bootstrap_ci_miou(&mats, 500, 42).unwrap();
    assert_eq!(
        ci,
        ConfidenceInterval {
            estimate: f64::from_bits(0x3fd64f6d4775b9e0),
            lower: f64::from_bits(0x3fd4974b3ff93c1a),
            upper: f64::from_bits(0x3fd839a75e39a75f),
            level: 0.95,
            n_resamples: 500,
            seed: 42,
            method: "percentile bootstrap over images (summed confusion matrices)".into(),
        }
    );
    assert_eq!(ci.estimate, 0.34859783152105983);
    let mut total = ConfusionMatrix::new(&s);
    for m in &mats {
        total.merge(m).unwrap();
    }
    assert_eq!(ci.estimate.to_bits(), total.miou().to_bits());
}

/// CSAILVision scoring (ADE20K): the interval equals the one xtask's `miou_ci` computed itself before
/// (its formula copied here as the oracle), and the estimate is the merged matrix's `miou()`.
#[test]
fn miou_interval_under_the_epsilon_policy() {
    let eps = f64::EPSILON;
    let s = space(3, AbsentClassPolicy::Epsilon(eps));
    // Class 2 never occurs in image 0's ground truth or prediction: it scores 0 there, not NaN.
    let mut counts = fixed_counts();
    counts[0] = vec![9, 5, 0, 4, 9, 12, 0, 2, 0, 0, 0, 0];
    let mats: Vec<ConfusionMatrix> = counts.iter().map(|c| matrix(&s, c)).collect();
    let ci = bootstrap_ci_miou(&mats, 500, 42).unwrap();

    let k = 3;
    let sums: Vec<Vec<[u64; 3]>> = mats
        .iter()
        .map(|m| {
            let mut s = vec![[0u64; 3]; k];
            for g in 0..k {
                for p in 0..=k {
                    let c = m.get(g, p);
                    s[g][1] += c;
                    if p < k {
                        s[p][2] += c;
                    }
                    if p == g {
                        s[g][0] += c;
                    }
                }
            }
            s
        })
        .collect();
    let stat = |idx: &[usize]| {
        let mut acc = vec![[0u64; 3]; k];
        for &i in idx {
            for (a, s) in acc.iter_mut().zip(&sums[i]) {
                a[0] += s[0];
                a[1] += s[1];
                a[2] += s[2];
            }
        }
        let total: f64 = acc
            .iter()
            .map(|a| a[0] as f64 / (eps + (a[1] + a[2] - a[0]) as f64))
            .sum();
        Some(total / k as f64)
    };
    let mut total = ConfusionMatrix::new(&s);
    for m in &mats {
        total.merge(m).unwrap();
    }
    let want = bootstrap_ci_with(
        mats.len(),
        500,
        42,
        DEFAULT_LEVEL,
        total.miou(),
        "percentile bootstrap over images (summed per-class counts, CSAILVision IoU)",
        stat,
    )
    .unwrap();
    assert_eq!(ci, want);
    // Hand-worked, image 0 alone: class 0 tp 9, gt 18, pred 9 + 9 -> 9/27; class 1 tp 12, gt 23,
    // pred 5 + 12 -> 12/28; class 2 absent -> 0 (not skipped). mIoU = (1/3 + 3/7 + 0) / 3 = 16/63.
    let one = bootstrap_ci_miou(&mats[..1], 10, 0).unwrap();
    assert!(
        (one.estimate - 16.0 / 63.0).abs() < 1e-12,
        "{}",
        one.estimate
    );
}

#[test]
fn bad_inputs_are_errors() {
    assert!(bootstrap_ci_mean(&[], 100, 0).is_err());
    assert!(bootstrap_ci_mean(&[1.0, f64::NAN], 100, 0).is_err());
    assert!(bootstrap_ci_mean(&[1.0], 1, 0).is_err());
    assert!(bootstrap_ci_with(3, 100, 0, 1.5, 0.0, "x", |_| Some(0.0)).is_err());
    assert!(bootstrap_ci_with(3, 100, 0, 0.9, 0.0, "x", |_| None).is_err());
    let a = matrix(&cityscapes_like(2), &[1, 0, 0, 0, 1, 0]);
    let b = ConfusionMatrix::new(&cityscapes_like(3));
    assert!(
        bootstrap_ci_miou(&[a, b.clone()], 100, 0).is_err(),
        "two label spaces"
    );
    assert!(bootstrap_ci_miou(&[], 100, 0).is_err());
    assert!(
        bootstrap_ci_miou(&[b], 100, 0).is_err(),
        "no class anywhere"
    );
}
