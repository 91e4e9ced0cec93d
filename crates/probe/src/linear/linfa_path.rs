//! The `linfa-logistic` trainer (multinomial logistic regression, L-BFGS, `f64`).

use super::{Labelled, LinearHead};
use crate::error::{ProbeError, Result};
use crate::knn::check_labels;
use linfa::prelude::*;
use linfa_logistic::MultiLogisticRegression;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

/// Parameters of [`train_linfa`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinfaConfig {
    /// Number of classes `C`.
    pub n_classes: usize,
    /// L2 weight `α` of linfa's objective `Σᵢ CEᵢ + α/2 · |W|²` (a *sum* over samples, so
    /// `α` is relative to `n`).
    pub alpha: f64,
    /// L-BFGS iteration cap.
    pub max_iterations: u64,
    /// Stop when the gradient norm falls below this.
    pub gradient_tolerance: f64,
    /// Samples with this label are dropped.
    pub ignore_label: Option<u32>,
}

impl LinfaConfig {
    /// Defaults: `α = 1e-3`, 200 iterations, tolerance 1e-5, no ignore label.
    pub fn new(n_classes: usize) -> Self {
        Self {
            n_classes,
            alpha: 1e-3,
            max_iterations: 200,
            gradient_tolerance: 1e-5,
            ignore_label: None,
        }
    }
}

/// Fits a multinomial logistic regression with `linfa-logistic` on all non-ignored samples and
/// returns it as a [`LinearHead`] (no BatchNorm). Classes absent from the training data get a
/// zero weight row and a bias of `-1e30`, so they are never predicted.
///
/// Full-batch `f64`: meant for small problems (thousands of samples) and as a cross-check of
/// the burn trainer.
///
/// # Errors
/// Shape / label errors, fewer than two distinct classes ([`ProbeError::Linfa`]), solver
/// failures.
pub fn train_linfa(data: Labelled<'_>, cfg: &LinfaConfig) -> Result<LinearHead> {
    let x = data.x;
    x.require_non_empty("train_pool")?;
    x.require_finite("train_pool")?;
    check_labels(
        "train_pool.labels",
        data.labels,
        x.rows(),
        cfg.n_classes,
        cfg.ignore_label,
    )?;
    let keep: Vec<usize> = (0..x.rows())
        .filter(|&i| Some(data.labels[i]) != cfg.ignore_label)
        .collect();
    if keep.is_empty() {
        return Err(ProbeError::NoSamples {
            name: "train_pool",
            ignore: cfg.ignore_label,
        });
    }
    let d = x.cols();
    let mut recs = Array2::<f64>::zeros((keep.len(), d));
    let mut targets = Array1::<usize>::zeros(keep.len());
    for (r, &i) in keep.iter().enumerate() {
        for (c, &v) in x.row(i).iter().enumerate() {
            recs[(r, c)] = v as f64;
        }
        targets[r] = data.labels[i] as usize;
    }
    let ds = Dataset::new(recs, targets);
    let model = MultiLogisticRegression::default()
        .alpha(cfg.alpha)
        .max_iterations(cfg.max_iterations)
        .gradient_tolerance(cfg.gradient_tolerance)
        .fit(&ds)
        .map_err(|e| ProbeError::Linfa(e.to_string()))?;
    let params = model.params(); // [D, n_present]
    let intercept = model.intercept();
    let mut weight = vec![0.0f32; cfg.n_classes * d];
    let mut bias = vec![-1e30f32; cfg.n_classes];
    for (j, &class) in model.classes().iter().enumerate() {
        for c in 0..d {
            weight[class * d + c] = params[(c, j)] as f32;
        }
        bias[class] = intercept[j] as f32;
    }
    Ok(LinearHead {
        dim: d,
        n_classes: cfg.n_classes,
        weight,
        bias,
        bn: None,
    })
}
