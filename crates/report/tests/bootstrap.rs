//! Bootstrap confidence intervals on hand-worked cases.

use patchlens_report::{
    ConfusionMatrix, bootstrap_ci_mean, bootstrap_ci_miou, bootstrap_ci_with, quantile_sorted,
};

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
    let m = ConfusionMatrix::new(2, 3, vec![3, 0, 1, 0, 2, 0]).unwrap();
    assert_eq!(m.class_iou(), vec![Some(0.75), Some(1.0)]);
    assert_eq!(m.miou(), Some(0.875));
    assert!(ConfusionMatrix::new(2, 2, vec![1, 2, 3]).is_err());
    assert!(ConfusionMatrix::new(3, 2, vec![0; 6]).is_err());
}

/// Identical images: every resample sums to a multiple of one matrix, so the mIoU never changes.
/// [[3, 1], [0, 2]]: IoU0 = 3/4, IoU1 = 2/3, mIoU = 17/24.
#[test]
fn miou_identical_images_zero_width() {
    let m = ConfusionMatrix::square(2, vec![3, 1, 0, 2]).unwrap();
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
    let a = ConfusionMatrix::square(2, vec![2, 2, 0, 0]).unwrap();
    let b = ConfusionMatrix::square(2, vec![0, 0, 0, 4]).unwrap();
    let ci = bootstrap_ci_miou(&[a, b], 4000, 11).unwrap();
    assert!((ci.estimate - 7.0 / 12.0).abs() < 1e-12);
    assert!((ci.lower - 0.25).abs() < 1e-12, "{}", ci.lower);
    assert!((ci.upper - 1.0).abs() < 1e-12, "{}", ci.upper);
}

#[test]
fn bad_inputs_are_errors() {
    assert!(bootstrap_ci_mean(&[], 100, 0).is_err());
    assert!(bootstrap_ci_mean(&[1.0, f64::NAN], 100, 0).is_err());
    assert!(bootstrap_ci_mean(&[1.0], 1, 0).is_err());
    assert!(bootstrap_ci_with(3, 100, 0, 1.5, 0.0, "x", |_| Some(0.0)).is_err());
    assert!(bootstrap_ci_with(3, 100, 0, 0.9, 0.0, "x", |_| None).is_err());
    let a = ConfusionMatrix::square(2, vec![1, 0, 0, 1]).unwrap();
    let b = ConfusionMatrix::square(3, vec![0; 9]).unwrap();
    assert!(bootstrap_ci_miou(&[a, b.clone()], 100, 0).is_err());
    assert!(
        bootstrap_ci_miou(&[b], 100, 0).is_err(),
        "no class anywhere"
    );
}
