//! Linear probe: loss decreases, separable data, burn vs linfa, ignore label, BatchNorm,
//! determinism, selection modes.

use burn::tensor::Device;
use patchlens_probe::linear::{
    self, Labelled, LinearHead, LinearProbeConfig, Selection, SelectionMetric,
};
use patchlens_probe::{MatRef, ProbeError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n` samples of `c` Gaussian-ish blobs in `d` dims: class `y` has centre `spread · e_y`
/// (cycled over the dims) plus `offset`, noise U(−1, 1) per coordinate.
fn blobs(
    n: usize,
    d: usize,
    c: usize,
    spread: f32,
    offset: f32,
    seed: u64,
) -> (Vec<f32>, Vec<u32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Vec::with_capacity(n * d);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let label = (i % c) as u32;
        for j in 0..d {
            let centre = if j % c == label as usize && j < c {
                spread
            } else {
                0.0
            };
            x.push(offset + centre + rng.random_range(-1.0f32..1.0));
        }
        y.push(label);
    }
    (x, y)
}

fn accuracy(pred: &[u32], y: &[u32]) -> f64 {
    pred.iter().zip(y).filter(|(a, b)| a == b).count() as f64 / y.len() as f64
}

fn cfg(c: usize) -> LinearProbeConfig {
    LinearProbeConfig {
        lr: 0.05,
        epochs: 15,
        batch_size: 32,
        seed: 3,
        ..LinearProbeConfig::new(c)
    }
}

#[test]
fn separable_data_reaches_full_accuracy_and_loss_drops() {
    let (x, y) = blobs(600, 6, 3, 6.0, 0.0, 1);
    let (xt, yt) = blobs(300, 6, 3, 6.0, 0.0, 2);
    let data = Labelled {
        x: MatRef::new(&x, 600, 6).unwrap(),
        labels: &y,
    };
    let probe = linear::train(&Device::flex(), data, None, &cfg(3)).unwrap();
    let pred = probe
        .head
        .predict(MatRef::new(&xt, 300, 6).unwrap())
        .unwrap();
    assert_eq!(accuracy(&pred, &yt), 1.0);
    let sel = probe.history[probe.best_epoch - 1].selection.unwrap();
    assert_eq!(sel.accuracy, 1.0);
    // Loss falls from the untrained head (≈ ln 3 or worse) to near zero.
    assert!(probe.initial.loss > 0.5, "{}", probe.initial.loss);
    assert!(
        sel.loss < 0.1 * probe.initial.loss,
        "{} vs {}",
        sel.loss,
        probe.initial.loss
    );
    assert!(probe.history[0].train_loss > probe.history.last().unwrap().train_loss);
    // 10 % held out by default.
    assert_eq!(probe.n_selection, 60);
    assert_eq!(probe.n_train, 540);
    // The result carries its hyper-parameters and serialises.
    let json = serde_json::to_string(&probe).unwrap();
    assert!(json.contains("\"lr\":0.05") && json.contains("\"batch_size\":32"));
}

#[test]
fn a_few_steps_lower_the_loss() {
    let (x, y) = blobs(256, 8, 4, 1.0, 0.0, 5);
    let data = Labelled {
        x: MatRef::new(&x, 256, 8).unwrap(),
        labels: &y,
    };
    let c = LinearProbeConfig {
        lr: 1e-2,
        epochs: 1,
        batch_size: 64, // 4 Adam steps on 256 samples (LastEpoch: no hold-out)
        selection: Selection::LastEpoch,
        ..LinearProbeConfig::new(4)
    };
    let p = linear::train(&Device::flex(), data, None, &c).unwrap();
    let after = p.head.evaluate(data, None).unwrap();
    assert!(
        after.loss < p.initial.loss,
        "{} !< {}",
        after.loss,
        p.initial.loss
    );
}

/// An independent reference trainer: multinomial logistic regression fitted with `linfa-logistic`
/// (full-batch L-BFGS in `f64`, objective `Σᵢ CEᵢ + α/2 · |W|²` with `α = 1e-3`, 200 iterations,
/// gradient tolerance 1e-5) on every sample, as a [`LinearHead`] without BatchNorm. Classes absent
/// from the data get a zero weight row and a bias of `-1e30`, so they are never predicted.
fn train_linfa(data: Labelled<'_>, n_classes: usize) -> LinearHead {
    use linfa::prelude::*;
    use linfa_logistic::MultiLogisticRegression;
    use ndarray::{Array1, Array2};

    let (n, d) = (data.x.rows(), data.x.cols());
    let mut recs = Array2::<f64>::zeros((n, d));
    let mut targets = Array1::<usize>::zeros(n);
    for i in 0..n {
        for (c, &v) in data.x.row(i).iter().enumerate() {
            recs[(i, c)] = f64::from(v);
        }
        targets[i] = data.labels[i] as usize;
    }
    let model = MultiLogisticRegression::default()
        .alpha(1e-3)
        .max_iterations(200)
        .gradient_tolerance(1e-5)
        .fit(&Dataset::new(recs, targets))
        .expect("linfa-logistic fit");
    let params = model.params(); // [D, n_present]
    let intercept = model.intercept();
    let mut weight = vec![0.0f32; n_classes * d];
    let mut bias = vec![-1e30f32; n_classes];
    for (j, &class) in model.classes().iter().enumerate() {
        for c in 0..d {
            weight[class * d + c] = params[(c, j)] as f32;
        }
        bias[class] = intercept[j] as f32;
    }
    LinearHead {
        dim: d,
        n_classes,
        weight,
        bias,
        bn: None,
    }
}

#[test]
fn burn_and_linfa_agree_on_overlapping_blobs() {
    // Overlapping classes: the Bayes accuracy is well below 1, so the two trainers must land
    // on (nearly) the same decision boundary to agree.
    let (x, y) = blobs(900, 5, 3, 1.2, 0.0, 11);
    let (xt, yt) = blobs(900, 5, 3, 1.2, 0.0, 12);
    let data = Labelled {
        x: MatRef::new(&x, 900, 5).unwrap(),
        labels: &y,
    };
    let test = MatRef::new(&xt, 900, 5).unwrap();
    let burn_probe = linear::train(
        &Device::flex(),
        data,
        None,
        &LinearProbeConfig {
            lr: 0.02,
            epochs: 40,
            batch_size: 64,
            selection: Selection::LastEpoch,
            ..LinearProbeConfig::new(3)
        },
    )
    .unwrap();
    let linfa_head = train_linfa(data, 3);
    let a_burn = accuracy(&burn_probe.head.predict(test).unwrap(), &yt);
    let a_linfa = accuracy(&linfa_head.predict(test).unwrap(), &yt);
    // Both minimise the same convex cross-entropy (linfa with a negligible L2 term, α = 1e-3
    // against a loss summed over 900 samples), so both sit near the same optimum; Adam's
    // mini-batch noise leaves a small gap near the boundary. 0.03 is 27 of 900 test points.
    assert!(
        a_linfa > 0.6 && a_linfa < 0.99,
        "not a hard problem: {a_linfa}"
    );
    assert!(
        (a_burn - a_linfa).abs() <= 0.03,
        "burn {a_burn} vs linfa {a_linfa}"
    );
    // Their training losses agree closely as well.
    let l_burn = burn_probe.head.evaluate(data, None).unwrap().loss;
    let l_linfa = linfa_head.evaluate(data, None).unwrap().loss;
    assert!(
        (l_burn - l_linfa).abs() < 0.02,
        "loss {l_burn} vs {l_linfa}"
    );
}

#[test]
fn ignored_samples_are_dropped() {
    let (x, y) = blobs(200, 4, 2, 4.0, 0.0, 21);
    // Insert 50 rows with the ignore label and adversarial features (the opposite class's
    // centre) between the real ones.
    let (mut x2, mut y2) = (Vec::new(), Vec::new());
    for i in 0..200 {
        x2.extend_from_slice(&x[i * 4..i * 4 + 4]);
        y2.push(y[i]);
        if i % 4 == 0 {
            x2.extend_from_slice(&[100.0, -100.0, 100.0, -100.0]);
            y2.push(255);
        }
    }
    let mut c = cfg(2);
    c.ignore_label = Some(255);
    let clean = linear::train(
        &Device::flex(),
        Labelled {
            x: MatRef::new(&x, 200, 4).unwrap(),
            labels: &y,
        },
        None,
        &c,
    )
    .unwrap();
    let with_ignored = linear::train(
        &Device::flex(),
        Labelled {
            x: MatRef::new(&x2, 250, 4).unwrap(),
            labels: &y2,
        },
        None,
        &c,
    )
    .unwrap();
    assert_eq!(with_ignored.n_ignored, 50);
    assert_eq!(with_ignored.n_train + with_ignored.n_selection, 200);
    // Same surviving samples in the same order ⇒ the same split, batches and weights.
    assert_eq!(with_ignored.head, clean.head);
    // Labels out of range that are not the ignore label are errors; all-ignored is an error.
    c.ignore_label = None;
    let err = linear::train(
        &Device::flex(),
        Labelled {
            x: MatRef::new(&x2, 250, 4).unwrap(),
            labels: &y2,
        },
        None,
        &c,
    );
    assert!(matches!(
        err,
        Err(ProbeError::LabelRange { label: 255, .. })
    ));
    c.ignore_label = Some(255);
    let all = vec![255u32; 200];
    let err = linear::train(
        &Device::flex(),
        Labelled {
            x: MatRef::new(&x, 200, 4).unwrap(),
            labels: &all,
        },
        None,
        &c,
    );
    assert!(matches!(err, Err(ProbeError::NoSamples { .. })));
}

#[test]
fn batch_norm_head_learns_offset_features_and_tracks_statistics() {
    // Features with a large common offset: BatchNorm centres them.
    let (x, y) = blobs(800, 4, 2, 3.0, 100.0, 31);
    let data = Labelled {
        x: MatRef::new(&x, 800, 4).unwrap(),
        labels: &y,
    };
    let c = LinearProbeConfig {
        batch_norm: true,
        selection_metric: SelectionMetric::Accuracy,
        ..cfg(2)
    };
    let p = linear::train(&Device::flex(), data, None, &c).unwrap();
    assert!(p.head.evaluate(data, None).unwrap().accuracy > 0.97);
    // Statistics after all 15 epochs (accuracy selection may stop at an early epoch).
    let c = LinearProbeConfig {
        selection: Selection::LastEpoch,
        ..c
    };
    let p = linear::train(&Device::flex(), data, None, &c).unwrap();
    assert_eq!(p.best_epoch, 15);
    let bn = p.head.bn.as_ref().expect("BatchNorm stats");
    // Column means are 100 + 1.5 for the two class dims and 100 for the others; the running
    // mean (momentum 0.1 over ~20 steps/epoch × 15 epochs) has converged to them.
    for (j, m) in bn.mean.iter().enumerate() {
        let want = if j < 2 { 101.5 } else { 100.0 };
        assert!((m - want).abs() < 0.5, "mean[{j}] = {m}");
    }
    // Variance: U(−1,1) noise (1/3) plus, for class dims, the two-point centre (9/4).
    for (j, v) in bn.var.iter().enumerate() {
        let want = if j < 2 { 1.0 / 3.0 + 2.25 } else { 1.0 / 3.0 };
        assert!((v - want).abs() < 0.25 * want, "var[{j}] = {v}");
    }
    assert!(p.head.evaluate(data, None).unwrap().accuracy > 0.97);
}

#[test]
fn training_is_deterministic_and_selection_modes_behave() {
    let (x, y) = blobs(300, 5, 3, 2.0, 0.0, 41);
    let data = Labelled {
        x: MatRef::new(&x, 300, 5).unwrap(),
        labels: &y,
    };
    let c = LinearProbeConfig {
        epochs: 4,
        ..cfg(3)
    };
    let a = linear::train(&Device::flex(), data, None, &c).unwrap();
    let b = linear::train(&Device::flex(), data, None, &c).unwrap();
    assert_eq!(a, b);
    // Another seed gives another model.
    let other = linear::train(
        &Device::flex(),
        data,
        None,
        &LinearProbeConfig {
            seed: 4,
            ..c.clone()
        },
    )
    .unwrap();
    assert_ne!(other.head, a.head);

    // The study's quirk must be asked for and needs the reported set.
    let quirk = LinearProbeConfig {
        selection: Selection::ReportedValSet,
        ..c.clone()
    };
    assert!(matches!(
        linear::train(&Device::flex(), data, None, &quirk),
        Err(ProbeError::InvalidParam { name: "val", .. })
    ));
    let (xv, yv) = blobs(90, 5, 3, 2.0, 0.0, 42);
    let val = Labelled {
        x: MatRef::new(&xv, 90, 5).unwrap(),
        labels: &yv,
    };
    let q = linear::train(&Device::flex(), data, Some(val), &quirk).unwrap();
    assert_eq!(q.n_selection, 90);
    assert_eq!(q.n_train, 300);
    let best = q.history[q.best_epoch - 1].selection.unwrap().loss;
    assert!(q.history.iter().all(|h| h.selection.unwrap().loss >= best));

    let bad = LinearProbeConfig {
        selection: Selection::HeldOut {
            fraction: 1.0,
            seed: 0,
        },
        ..c
    };
    assert!(linear::train(&Device::flex(), data, None, &bad).is_err());
}

/// Macro one-vs-rest ROC-AUC against pairs counted by hand.
#[test]
fn macro_roc_auc_matches_hand_counted_pairs() {
    // Class 0: positives 0.7, 0.1 vs negatives 0.4, 0.4 → 2 of 4 pairs = 0.5.
    // Class 1: positive 0.4 vs 0.2, 0.1, 0.3 → 3 of 3 = 1.
    // Class 2: positive 0.5 vs 0.1, 0.2, 0.6 → 2 of 3.
    let probs = [
        0.7, 0.2, 0.1, //
        0.4, 0.4, 0.2, //
        0.4, 0.1, 0.5, //
        0.1, 0.3, 0.6,
    ];
    let auc = linear::macro_roc_auc(&probs, &[0, 1, 2, 0], 3, None).unwrap();
    assert!((auc - (0.5 + 1.0 + 2.0 / 3.0) / 3.0).abs() < 1e-12, "{auc}");

    // Ties count one half; ignored rows and a class that never occurs are left out.
    // Class 1 scores: positives 0.5, 0.3 vs negatives 0.5, 0.1 → (0.5 + 1 + 0 + 1) / 4.
    let p = |x: f32| [1.0 - x, x, 0.0];
    let rows: Vec<f32> = [0.5, 0.3, 0.5, 0.1, 0.9]
        .iter()
        .flat_map(|&x| p(x))
        .collect();
    let auc = linear::macro_roc_auc(&rows, &[1, 1, 0, 0, 7], 3, Some(7)).unwrap();
    assert!((auc - 0.625).abs() < 1e-12, "{auc}");
    // One class only: undefined.
    assert_eq!(
        linear::macro_roc_auc(&rows, &[1, 1, 1, 1, 7], 3, Some(7)),
        None
    );
}

/// The study's selection: ROC-AUC on the reported set, a candidate every 5 epochs (and the last).
#[test]
fn roc_auc_selection_picks_among_every_fifth_epoch() {
    let (x, y) = blobs(300, 5, 3, 1.0, 0.0, 51);
    let (xv, yv) = blobs(90, 5, 3, 1.0, 0.0, 52);
    let data = Labelled {
        x: MatRef::new(&x, 300, 5).unwrap(),
        labels: &y,
    };
    let val = Labelled {
        x: MatRef::new(&xv, 90, 5).unwrap(),
        labels: &yv,
    };
    let c = LinearProbeConfig {
        epochs: 12,
        lr: 0.2,
        selection: Selection::ReportedValSet,
        selection_metric: SelectionMetric::RocAuc,
        select_every: 5,
        ..cfg(3)
    };
    let p = linear::train(&Device::flex(), data, Some(val), &c).unwrap();
    assert!([5, 10, 12].contains(&p.best_epoch), "{}", p.best_epoch);
    let auc = |e: usize| p.history[e - 1].selection.unwrap().roc_auc;
    for e in [5, 10, 12] {
        assert!(auc(e).unwrap() <= auc(p.best_epoch).unwrap());
    }
    assert_eq!(auc(3), None, "epoch 3 is no candidate");
    // The recorded AUC is the one of the selected head on the reported set.
    let again = p.head.evaluate_with_auc(val, None).unwrap();
    assert_eq!(again.roc_auc, auc(p.best_epoch));
    assert!(
        linear::train(
            &Device::flex(),
            data,
            Some(val),
            &LinearProbeConfig {
                select_every: 0,
                ..c
            }
        )
        .is_err()
    );
}
