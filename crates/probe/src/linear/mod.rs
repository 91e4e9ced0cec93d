//! Linear probe: softmax regression on patch features (one sample per patch).
//!
//! Protocol §4 A.1 / §12.7: a `Linear(D, C)` head (for MAE preceded by
//! `BatchNorm1d(D, affine = False)`, the MAE linear-probing recipe) trained with **Adam** on
//! **cross-entropy**, shuffled mini-batches, seeded. The study's lr / batch / epochs are
//! unknown, so they are parameters here and are returned with the result
//! ([`LinearProbe::config`]).
//!
//! **Model selection.** By default a held-out part of the training pool picks the epoch
//! ([`Selection::HeldOut`]; fraction and seed are parameters). The study's own way (selection on
//! the very validation images that are reported) is available only as the explicitly named
//! [`Selection::ReportedValSet`].
//!
//! Samples whose label equals [`LinearProbeConfig::ignore_label`] are dropped from training and
//! selection.
//!
//! The trainer, [`train`], uses burn autodiff on any burn device (the caller's `Device`;
//! `.autodiff()` is applied internally), mini-batched Adam. Evaluation and prediction run on the
//! host. An independent full-batch L-BFGS fit with `linfa-logistic` (a dev-dependency) checks it
//! in `tests/linear.rs`; nothing else in the study uses a second trainer.

use crate::error::{ProbeError, Result};
use crate::knn::check_labels;
use crate::matrix::MatRef;
use burn::module::{Module, Param};
use burn::optim::{AdamConfig, GradientsParams, decay::WeightDecayConfig};
use burn::tensor::{Device, Tensor, TensorData, loss::cross_entropy_with_logits};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// `ε` of the MAE recipe's `BatchNorm1d(affine = False, eps = 1e-6)` (protocol §4 A.1).
pub const MAE_BN_EPS: f64 = 1e-6;

/// A feature matrix with one label per row.
#[derive(Clone, Copy, Debug)]
pub struct Labelled<'a> {
    /// Features `[n, dim]`.
    pub x: MatRef<'a>,
    /// Labels, length `n`; each `< n_classes` or equal to the ignore label.
    pub labels: &'a [u32],
}

/// How the reported epoch is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Selection {
    /// Hold out `fraction` of the (non-ignored) training samples, drawn at random with `seed`,
    /// train on the rest and keep the epoch with the best held-out metric. Patches of one image
    /// are correlated, so this split is optimistic; it still never touches the reported set.
    HeldOut {
        /// Fraction in `(0, 1)`.
        fraction: f64,
        /// Seed of the split (independent of the training seed).
        seed: u64,
    },
    /// **The study's quirk**: select on the validation set that is also reported (pass it as
    /// `val` to [`train`]). Use only to reproduce the paper's numbers.
    ReportedValSet,
    /// No selection: train on the whole pool and keep the last epoch.
    LastEpoch,
}

impl Default for Selection {
    /// `HeldOut { fraction: 0.1, seed: 0 }`.
    fn default() -> Self {
        Selection::HeldOut {
            fraction: 0.1,
            seed: 0,
        }
    }
}

/// Metric used for model selection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SelectionMetric {
    /// Lowest mean cross-entropy (one of the study's two criteria).
    Loss,
    /// Highest top-1 accuracy.
    Accuracy,
    /// Highest multiclass ROC-AUC, one-vs-rest, macro-averaged ([`macro_roc_auc`]): the study's
    /// other criterion ("the checkpoint with the best validation multiclass ROC-AUC").
    RocAuc,
}

/// Macro-averaged one-vs-rest ROC-AUC of the softmax probabilities `probs` (`[n, c]` row-major)
/// for labels `labels` (rows whose label is `ignore` are skipped). Each class with at least one
/// positive and one negative sample contributes its AUC, the Mann–Whitney statistic (the
/// probability that a random positive outranks a random negative, ties counting one half, the
/// trapezoidal area under the ROC curve); classes absent from the labels, or present in every
/// row, are left out of the mean. `None` when no class qualifies.
pub fn macro_roc_auc(probs: &[f32], labels: &[u32], c: usize, ignore: Option<u32>) -> Option<f64> {
    let rows: Vec<usize> = (0..labels.len())
        .filter(|&i| Some(labels[i]) != ignore)
        .collect();
    let mut order: Vec<usize> = Vec::with_capacity(rows.len());
    let (mut sum, mut classes) = (0.0f64, 0usize);
    for k in 0..c {
        let pos = rows.iter().filter(|&&i| labels[i] as usize == k).count();
        let neg = rows.len() - pos;
        if pos == 0 || neg == 0 {
            continue;
        }
        order.clear();
        order.extend(rows.iter().copied());
        order.sort_by(|&a, &b| probs[a * c + k].total_cmp(&probs[b * c + k]));
        // Sum of the (1-based, tie-averaged) ranks of the positives.
        let mut rank_sum = 0.0f64;
        let mut i = 0;
        while i < order.len() {
            let v = probs[order[i] * c + k];
            let mut j = i;
            while j < order.len() && probs[order[j] * c + k] == v {
                j += 1;
            }
            let avg = (i + 1 + j) as f64 / 2.0;
            let p = order[i..j]
                .iter()
                .filter(|&&r| labels[r] as usize == k)
                .count();
            rank_sum += avg * p as f64;
            i = j;
        }
        let u = rank_sum - (pos * (pos + 1)) as f64 / 2.0;
        sum += u / (pos as f64 * neg as f64);
        classes += 1;
    }
    (classes > 0).then(|| sum / classes as f64)
}

/// Hyper-parameters of the burn trainer; returned inside the result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearProbeConfig {
    /// Number of classes `C` (34 for Cityscapes labelIds).
    pub n_classes: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Number of passes over the training split.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Seed of the weight initialisation and of the batch shuffling.
    pub seed: u64,
    /// Insert `BatchNorm1d(affine = False)` before the linear layer (the MAE recipe).
    pub batch_norm: bool,
    /// BatchNorm ε ([`MAE_BN_EPS`] by default).
    pub bn_eps: f64,
    /// BatchNorm running-statistics momentum (PyTorch's 0.1 by default).
    pub bn_momentum: f64,
    /// L2 penalty added to the gradient by Adam (0 = none, the default).
    pub weight_decay: f64,
    /// Samples with this label are dropped (e.g. `Some(255)`); `None` keeps all.
    pub ignore_label: Option<u32>,
    /// How the reported epoch is chosen.
    pub selection: Selection,
    /// Criterion for the selection.
    pub selection_metric: SelectionMetric,
    /// Only every `select_every`-th epoch is a candidate (the study's Lightning run kept a
    /// checkpoint every 5 epochs); the last epoch always is. 1 = every epoch (the default).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub select_every: usize,
}

fn one() -> usize {
    1
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

impl LinearProbeConfig {
    /// Defaults for `n_classes` classes: lr 1e-3, 20 epochs, batch 1024, seed 0, no BatchNorm,
    /// held-out selection (10 %, seed 0) on the loss.
    pub fn new(n_classes: usize) -> Self {
        Self {
            n_classes,
            lr: 1e-3,
            epochs: 20,
            batch_size: 1024,
            seed: 0,
            batch_norm: false,
            bn_eps: MAE_BN_EPS,
            bn_momentum: 0.1,
            weight_decay: 0.0,
            ignore_label: None,
            selection: Selection::default(),
            selection_metric: SelectionMetric::Loss,
            select_every: 1,
        }
    }

    fn validate(&self) -> Result<()> {
        let bad = |name: &'static str, value: String, reason: &'static str| {
            Err(ProbeError::InvalidParam {
                name,
                value,
                reason,
            })
        };
        if self.n_classes < 2 {
            return bad("n_classes", self.n_classes.to_string(), "must be >= 2");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("lr", self.lr.to_string(), "must be finite and > 0");
        }
        if self.epochs == 0 {
            return bad("epochs", "0".into(), "must be >= 1");
        }
        if self.batch_size == 0 {
            return bad("batch_size", "0".into(), "must be >= 1");
        }
        if self.select_every == 0 {
            return bad("select_every", "0".into(), "must be >= 1");
        }
        if !(self.bn_eps.is_finite() && self.bn_eps > 0.0) {
            return bad("bn_eps", self.bn_eps.to_string(), "must be finite and > 0");
        }
        if !(0.0..=1.0).contains(&self.bn_momentum) {
            return bad(
                "bn_momentum",
                self.bn_momentum.to_string(),
                "must be in [0, 1]",
            );
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(
                "weight_decay",
                self.weight_decay.to_string(),
                "must be finite and >= 0",
            );
        }
        if let Selection::HeldOut { fraction, .. } = self.selection
            && !(fraction > 0.0 && fraction < 1.0)
        {
            return bad(
                "selection.fraction",
                fraction.to_string(),
                "must be in (0, 1)",
            );
        }
        Ok(())
    }
}

/// Frozen BatchNorm statistics (eval mode): `x ↦ (x − mean) / sqrt(var + eps)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BnStats {
    /// Running mean, length `dim`.
    pub mean: Vec<f32>,
    /// Running variance, length `dim`.
    pub var: Vec<f32>,
    /// ε.
    pub eps: f64,
}

/// A trained head, evaluated on the host: `logits = W · bn(x) + b`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearHead {
    /// Input dimension `D`.
    pub dim: usize,
    /// Number of classes `C`.
    pub n_classes: usize,
    /// Weight, row-major `[C, D]` (PyTorch's `Linear.weight` layout).
    pub weight: Vec<f32>,
    /// Bias, length `C`.
    pub bias: Vec<f32>,
    /// Optional BatchNorm applied before the linear layer.
    pub bn: Option<BnStats>,
}

/// Rows per host evaluation chunk.
const EVAL_CHUNK: usize = 4096;

impl LinearHead {
    fn check_input(&self, x: MatRef<'_>) -> Result<()> {
        if x.cols() != self.dim {
            return Err(ProbeError::DimMismatch {
                a: "features",
                a_cols: x.cols(),
                b: "linear head",
                b_cols: self.dim,
            });
        }
        Ok(())
    }

    /// Calls `f(first_row, logits_chunk)` for consecutive row chunks; `logits_chunk` is
    /// row-major `[rows, C]`.
    fn for_each_logits(
        &self,
        x: MatRef<'_>,
        mut f: impl FnMut(usize, &[f32]) -> Result<()>,
    ) -> Result<()> {
        self.check_input(x)?;
        let c = self.n_classes;
        let w = MatRef::new(&self.weight, c, self.dim)?;
        let mut buf = Vec::new();
        let mut out = vec![0.0f32; EVAL_CHUNK.min(x.rows().max(1)) * c];
        let mut r0 = 0;
        while r0 < x.rows() {
            let r1 = (r0 + EVAL_CHUNK).min(x.rows());
            let mut xb = x.slice_rows(r0, r1);
            if let Some(bn) = &self.bn {
                buf.clear();
                buf.extend_from_slice(xb.data());
                let inv: Vec<f32> = bn
                    .var
                    .iter()
                    .map(|&v| (1.0 / (v as f64 + bn.eps).sqrt()) as f32)
                    .collect();
                for row in buf.chunks_mut(self.dim) {
                    for ((v, m), s) in row.iter_mut().zip(&bn.mean).zip(&inv) {
                        *v = (*v - m) * s;
                    }
                }
                xb = MatRef::new(&buf, r1 - r0, self.dim)?;
            }
            let o = &mut out[..(r1 - r0) * c];
            crate::knn::cpu::dot_tile(xb, w, o);
            for row in o.chunks_mut(c) {
                for (v, b) in row.iter_mut().zip(&self.bias) {
                    *v += b;
                }
            }
            f(r0, o)?;
            r0 = r1;
        }
        Ok(())
    }

    /// Logits, row-major `[n, C]`.
    ///
    /// # Errors
    /// [`ProbeError::DimMismatch`] for a wrong feature dimension.
    pub fn logits(&self, x: MatRef<'_>) -> Result<Vec<f32>> {
        let mut all = Vec::with_capacity(x.rows() * self.n_classes);
        self.for_each_logits(x, |_, o| {
            all.extend_from_slice(o);
            Ok(())
        })?;
        Ok(all)
    }

    /// Predicted class per row (arg-max of the logits; ties to the lower class id).
    ///
    /// # Errors
    /// [`ProbeError::DimMismatch`] for a wrong feature dimension.
    pub fn predict(&self, x: MatRef<'_>) -> Result<Vec<u32>> {
        let mut pred = Vec::with_capacity(x.rows());
        self.for_each_logits(x, |_, o| {
            pred.extend(o.chunks(self.n_classes).map(argmax));
            Ok(())
        })?;
        Ok(pred)
    }

    /// Mean cross-entropy and accuracy over the rows of `data` whose label is not `ignore`.
    ///
    /// # Errors
    /// Dimension or label errors; [`ProbeError::NoSamples`] when every label is ignored.
    pub fn evaluate(&self, data: Labelled<'_>, ignore: Option<u32>) -> Result<Evaluation> {
        check_labels("labels", data.labels, data.x.rows(), self.n_classes, ignore)?;
        let (mut loss, mut correct, mut n) = (0.0f64, 0usize, 0usize);
        self.for_each_logits(data.x, |r0, o| {
            for (i, row) in o.chunks(self.n_classes).enumerate() {
                let y = data.labels[r0 + i];
                if Some(y) == ignore {
                    continue;
                }
                let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
                let lse = m + row.iter().map(|&v| (v as f64 - m).exp()).sum::<f64>().ln();
                loss += lse - row[y as usize] as f64;
                correct += usize::from(argmax(row) == y);
                n += 1;
            }
            Ok(())
        })?;
        if n == 0 {
            return Err(ProbeError::NoSamples {
                name: "labels",
                ignore,
            });
        }
        Ok(Evaluation {
            loss: loss / n as f64,
            accuracy: correct as f64 / n as f64,
            n,
            roc_auc: None,
        })
    }

    /// [`evaluate`](Self::evaluate) plus the macro one-vs-rest ROC-AUC of the softmax
    /// probabilities ([`macro_roc_auc`]; `None` when no class has both positives and negatives).
    ///
    /// # Errors
    /// As [`evaluate`](Self::evaluate).
    pub fn evaluate_with_auc(&self, data: Labelled<'_>, ignore: Option<u32>) -> Result<Evaluation> {
        let mut e = self.evaluate(data, ignore)?;
        let mut probs = self.logits(data.x)?;
        for row in probs.chunks_mut(self.n_classes) {
            let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut z = 0.0f32;
            for v in row.iter_mut() {
                *v = (*v - m).exp();
                z += *v;
            }
            for v in row.iter_mut() {
                *v /= z;
            }
        }
        e.roc_auc = macro_roc_auc(&probs, data.labels, self.n_classes, ignore);
        Ok(e)
    }
}

fn argmax(row: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best as u32
}

/// Mean cross-entropy and accuracy on a labelled set.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Mean cross-entropy (nats).
    pub loss: f64,
    /// Top-1 accuracy in `[0, 1]`.
    pub accuracy: f64,
    /// Number of samples evaluated.
    pub n: usize,
    /// Macro one-vs-rest ROC-AUC, when computed ([`LinearHead::evaluate_with_auc`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roc_auc: Option<f64>,
}

/// One epoch of training.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epochs completed (1-based).
    pub epoch: usize,
    /// Mean mini-batch training loss during the epoch.
    pub train_loss: f64,
    /// Metrics on the selection set after the epoch (`None` for [`Selection::LastEpoch`]).
    pub selection: Option<Evaluation>,
}

/// A trained linear probe with everything needed to reproduce it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearProbe {
    /// The hyper-parameters used (lr, epochs, batch size, seed, …).
    pub config: LinearProbeConfig,
    /// The selected head.
    pub head: LinearHead,
    /// Epoch of the selected head (1-based).
    pub best_epoch: usize,
    /// Per-epoch log.
    pub history: Vec<EpochRecord>,
    /// Metrics of the initial (untrained) head on the selection set, or on the training split
    /// for [`Selection::LastEpoch`].
    pub initial: Evaluation,
    /// Training samples used.
    pub n_train: usize,
    /// Selection samples used (0 for [`Selection::LastEpoch`]).
    pub n_selection: usize,
    /// Samples dropped because of the ignore label (training pool only).
    pub n_ignored: usize,
}

#[derive(Module, Debug)]
struct Head {
    /// `[D, C]` (burn's `Linear` layout).
    weight: Param<Tensor<2>>,
    /// `[C]`.
    bias: Param<Tensor<1>>,
}

/// Owned row-major features and their labels.
type Owned = (Vec<f32>, Vec<u32>);

/// Gathers the rows `idx` of `x` and their labels into an owned matrix.
fn gather(x: MatRef<'_>, labels: &[u32], idx: &[usize]) -> Owned {
    let mut data = Vec::with_capacity(idx.len() * x.cols());
    let mut lab = Vec::with_capacity(idx.len());
    for &i in idx {
        data.extend_from_slice(x.row(i));
        lab.push(labels[i]);
    }
    (data, lab)
}

fn read_vec(t: Tensor<1>) -> Result<Vec<f32>> {
    let d = t
        .try_into_data()
        .map_err(|e| ProbeError::Backend(format!("{e:?}")))?;
    d.convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| ProbeError::Backend(format!("{e:?}")))
}

/// Trains the linear probe with burn on `device`.
///
/// `train_pool`: the training patches (`[n, D]` + labels); `val`: the reported validation set,
/// required only for [`Selection::ReportedValSet`] (ignored otherwise). Deterministic for a given
/// seed and device.
///
/// # Errors
/// Invalid configuration, shape / label errors, an empty pool after dropping ignored samples,
/// missing `val` for [`Selection::ReportedValSet`], backend failures.
pub fn train(
    device: &Device,
    train_pool: Labelled<'_>,
    val: Option<Labelled<'_>>,
    cfg: &LinearProbeConfig,
) -> Result<LinearProbe> {
    cfg.validate()?;
    let x = train_pool.x;
    x.require_non_empty("train_pool")?;
    x.require_finite("train_pool")?;
    check_labels(
        "train_pool.labels",
        train_pool.labels,
        x.rows(),
        cfg.n_classes,
        cfg.ignore_label,
    )?;
    let dim = x.cols();
    let c = cfg.n_classes;
    let mut pool: Vec<usize> = (0..x.rows())
        .filter(|&i| Some(train_pool.labels[i]) != cfg.ignore_label)
        .collect();
    let n_ignored = x.rows() - pool.len();
    if pool.is_empty() {
        return Err(ProbeError::NoSamples {
            name: "train_pool",
            ignore: cfg.ignore_label,
        });
    }

    // Selection split.
    let (train_idx, sel_owned): (Vec<usize>, Option<Owned>) = match cfg.selection {
        Selection::HeldOut { fraction, seed } => {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            pool.shuffle(&mut rng);
            if pool.len() < 2 {
                return Err(ProbeError::NoSamples {
                    name: "train_pool (held-out split needs >= 2 samples)",
                    ignore: cfg.ignore_label,
                });
            }
            let n_sel = ((pool.len() as f64 * fraction).round() as usize).clamp(1, pool.len() - 1);
            let sel: Vec<usize> = pool[..n_sel].to_vec();
            let mut tr = pool[n_sel..].to_vec();
            tr.sort_unstable();
            let mut sel_sorted = sel;
            sel_sorted.sort_unstable();
            (tr, Some(gather(x, train_pool.labels, &sel_sorted)))
        }
        Selection::ReportedValSet => {
            let v = val.ok_or(ProbeError::InvalidParam {
                name: "val",
                value: "None".into(),
                reason: "Selection::ReportedValSet needs the validation set",
            })?;
            if v.x.cols() != dim {
                return Err(ProbeError::DimMismatch {
                    a: "val",
                    a_cols: v.x.cols(),
                    b: "train_pool",
                    b_cols: dim,
                });
            }
            v.x.require_finite("val")?;
            check_labels("val.labels", v.labels, v.x.rows(), c, cfg.ignore_label)?;
            (pool, Some((v.x.data().to_vec(), v.labels.to_vec())))
        }
        Selection::LastEpoch => (pool, None),
    };
    let sel_view = match &sel_owned {
        Some((d, l)) => Some(Labelled {
            x: MatRef::new(d, l.len(), dim)?,
            labels: l,
        }),
        None => None,
    };

    // Deterministic initialisation (PyTorch's Linear default: U(−1/√D, 1/√D)).
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let bound = 1.0 / (dim as f32).sqrt();
    let w_cd: Vec<f32> = (0..c * dim)
        .map(|_| rng.random_range(-bound..bound))
        .collect();
    let b0: Vec<f32> = (0..c).map(|_| rng.random_range(-bound..bound)).collect();
    let mut w_dc = vec![0.0f32; dim * c];
    for k in 0..c {
        for d in 0..dim {
            w_dc[d * c + k] = w_cd[k * dim + d];
        }
    }
    let ad = device.clone().autodiff();
    let mut head = Head {
        weight: Param::from_data(TensorData::new(w_dc, [dim, c]), &ad),
        bias: Param::from_data(TensorData::new(b0.clone(), [c]), &ad),
    };
    let mut adam = AdamConfig::new().with_epsilon(1e-8);
    if cfg.weight_decay > 0.0 {
        adam = adam.with_weight_decay(Some(WeightDecayConfig::new(cfg.weight_decay as f32)));
    }
    let mut optim = adam.init();
    let mut run_mean = Tensor::<1>::zeros([dim], &ad);
    let mut run_var = Tensor::<1>::ones([dim], &ad);

    let to_host = |head: &Head, rm: &Tensor<1>, rv: &Tensor<1>| -> Result<LinearHead> {
        let w = head
            .weight
            .val()
            .transpose()
            .try_into_data()
            .map_err(|e| ProbeError::Backend(format!("{e:?}")))?
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| ProbeError::Backend(format!("{e:?}")))?;
        Ok(LinearHead {
            dim,
            n_classes: c,
            weight: w,
            bias: read_vec(head.bias.val())?,
            bn: if cfg.batch_norm {
                Some(BnStats {
                    mean: read_vec(rm.clone())?,
                    var: read_vec(rv.clone())?,
                    eps: cfg.bn_eps,
                })
            } else {
                None
            },
        })
    };

    let (train_x, train_y) = (x, train_pool.labels);
    let initial_head = to_host(&head, &run_mean, &run_var)?;
    let initial = match sel_view {
        Some(s) => initial_head.evaluate(s, cfg.ignore_label)?,
        None => {
            let (d, l) = gather(train_x, train_y, &train_idx);
            initial_head.evaluate(
                Labelled {
                    x: MatRef::new(&d, l.len(), dim)?,
                    labels: &l,
                },
                None,
            )?
        }
    };

    let mut shuffle_rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5eed_5eed_5eed_5eed);
    let mut order = train_idx.clone();
    let mut history = Vec::with_capacity(cfg.epochs);
    let mut best: Option<(f64, usize, LinearHead)> = None;
    let mom = cfg.bn_momentum;
    for epoch in 1..=cfg.epochs {
        order.shuffle(&mut shuffle_rng);
        let mut loss_sum = Tensor::<1>::zeros([1], &ad);
        let mut n_batches = 0usize;
        for batch in order.chunks(cfg.batch_size) {
            let b = batch.len();
            let (bx, by) = gather(train_x, train_y, batch);
            let mut onehot = vec![0.0f32; b * c];
            for (i, &y) in by.iter().enumerate() {
                onehot[i * c + y as usize] = 1.0;
            }
            let mut xb = Tensor::<2>::from_data(TensorData::new(bx, [b, dim]), &ad);
            if cfg.batch_norm {
                let mean = xb.clone().mean_dim(0); // [1, D]
                let centred = xb - mean.clone();
                let var = centred.clone().powi_scalar(2).mean_dim(0); // population
                xb = centred / var.clone().add_scalar(cfg.bn_eps).sqrt();
                let unbiased = if b > 1 {
                    b as f64 / (b as f64 - 1.0)
                } else {
                    1.0
                };
                run_mean =
                    (run_mean.mul_scalar(1.0 - mom) + mean.reshape([dim]).mul_scalar(mom)).detach();
                run_var = (run_var.mul_scalar(1.0 - mom)
                    + var.reshape([dim]).mul_scalar(mom * unbiased))
                .detach();
            }
            let logits = xb.matmul(head.weight.val()) + head.bias.val().unsqueeze::<2>();
            let target = Tensor::<2>::from_data(TensorData::new(onehot, [b, c]), &ad);
            let loss = cross_entropy_with_logits(logits, target);
            loss_sum = loss_sum + loss.clone().detach();
            let grads = loss.backward();
            let grads = GradientsParams::from_grads(grads, &head);
            head = optim.step(cfg.lr, head, grads);
            n_batches += 1;
        }
        let train_loss = read_vec(loss_sum)?[0] as f64 / n_batches as f64;
        let host = to_host(&head, &run_mean, &run_var)?;
        let candidate = epoch % cfg.select_every == 0 || epoch == cfg.epochs;
        let selection = match sel_view {
            Some(s) if cfg.selection_metric == SelectionMetric::RocAuc && candidate => {
                Some(host.evaluate_with_auc(s, cfg.ignore_label)?)
            }
            Some(s) => Some(host.evaluate(s, cfg.ignore_label)?),
            None => None,
        };
        history.push(EpochRecord {
            epoch,
            train_loss,
            selection,
        });
        let score = match (selection, cfg.selection_metric) {
            (None, _) => epoch as f64, // last epoch wins
            (Some(e), SelectionMetric::Loss) => -e.loss,
            (Some(e), SelectionMetric::Accuracy) => e.accuracy,
            // No class with positives and negatives: AUC undefined, fall back to the loss order.
            (Some(e), SelectionMetric::RocAuc) => e.roc_auc.unwrap_or(-e.loss),
        };
        // Strictly better only: on equal scores the earlier epoch is kept.
        if candidate && best.as_ref().is_none_or(|(s, _, _)| score > *s) {
            best = Some((score, epoch, host));
        }
    }
    let (_, best_epoch, head) = best.expect("epochs >= 1");
    Ok(LinearProbe {
        config: cfg.clone(),
        head,
        best_epoch,
        history,
        initial,
        n_train: train_idx.len(),
        n_selection: sel_view.map_or(0, |s| s.labels.len()),
        n_ignored,
    })
}
