//! The probes of a segmentation experiment on patch-feature matrices: feature transforms fitted on the
//! gallery (top-variance removal, BatchNorm, standardisation, whitening, PCA), the k-NN classifier
//! (exact, on the host or on the model's device) and the linear probe (burn, Adam), and the study's §6.3
//! "BatchNorm from a trained probe".

use patchlens_probe::knn::{self, KnnConfig};
use patchlens_probe::linear::{self, Labelled, LinearProbeConfig, Selection, SelectionMetric};
use patchlens_probe::variance::{FeatureTransform, FittedTransform, Whitening};
use patchlens_probe::{MatRef, Matrix};
use patchlens_vit::{Device, Family};
use serde::{Deserialize, Serialize};

use crate::error::{Context, Result, bail};

/// Which probe classifies the patches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeKind {
    /// Exact k-NN over the gallery of train patches (the study: k = 1, dot product).
    Knn,
    /// Softmax regression trained with Adam on the train patches, our recipe ([`LinearSettings`]:
    /// the epoch chosen on a held-out part of the train patches, never on the reported set).
    Linear,
    /// The same probe with the study's recipe ([`LinearSettings::study_config`]: its epochs, a
    /// checkpoint every 5 epochs, chosen by ROC-AUC on the reported test set). Run beside `linear`,
    /// the two show how much the study's selection moves its numbers.
    #[serde(rename = "linear_study")]
    LinearStudy,
}

impl ProbeKind {
    /// `knn` / `linear` / `linear_study`.
    pub fn name(self) -> &'static str {
        match self {
            ProbeKind::Knn => "knn",
            ProbeKind::Linear => "linear",
            ProbeKind::LinearStudy => "linear_study",
        }
    }

    /// The probe's name in the paper's numbers (`knn` / `linear`: both linear recipes compare with
    /// the paper's one linear probe).
    pub fn paper_name(self) -> &'static str {
        match self {
            ProbeKind::Knn => "knn",
            ProbeKind::Linear | ProbeKind::LinearStudy => "linear",
        }
    }

    /// The probe of a name (`knn`, `linear`, `linear_study`).
    pub fn from_name(name: &str) -> Option<ProbeKind> {
        [ProbeKind::Knn, ProbeKind::Linear, ProbeKind::LinearStudy]
            .into_iter()
            .find(|p| p.name() == name)
    }

    /// The linear-probe configuration this probe trains with (`None` for k-NN).
    pub fn linear_config(
        self,
        settings: &LinearSettings,
        n_classes: usize,
        family: Family,
    ) -> Option<LinearProbeConfig> {
        match self {
            ProbeKind::Knn => None,
            ProbeKind::Linear => Some(settings.probe_config(n_classes, family)),
            ProbeKind::LinearStudy => Some(settings.study_config(n_classes, family)),
        }
    }
}

/// Epochs of the study's linear probes: its runs went to epoch 99 (protocol §4 A.1).
pub const STUDY_EPOCHS: usize = 100;
/// Epochs of the study's MAE probe: its BatchNorm probe was selected at epoch 244.
pub const STUDY_EPOCHS_MAE: usize = 250;
/// The study's Lightning runs kept a checkpoint every 5 epochs; selection chose among them.
pub const STUDY_CHECKPOINT_EVERY: usize = 5;
/// The paper's linear recipe, as the comparisons print it.
pub const PAPER_LINEAR_RECIPE: &str = "paper: Adam, ~100 epochs (MAE 244), a checkpoint every 5 epochs chosen by ROC-AUC on the reported val images (lr, batch unknown)";
/// The paper's k-NN, as the comparisons print it.
pub const PAPER_KNN_RECIPE: &str = "paper: 1-NN, dot product";

/// Our recipe beside the paper's, for the comparison table: the k-NN search of `knn`, or the
/// linear probe trained with `linear`.
pub fn recipe_note(knn: &KnnConfig, linear: Option<&LinearProbeConfig>) -> String {
    match linear {
        None => {
            let sim = match knn.search.similarity {
                patchlens_probe::knn::Similarity::Dot => "dot product",
                patchlens_probe::knn::Similarity::Cosine => "cosine",
                patchlens_probe::knn::Similarity::NegL2 => "L2 distance",
            };
            let vote = match knn.vote {
                patchlens_probe::knn::Vote::Nearest => String::new(),
                v => format!(", {v:?} vote").to_lowercase(),
            };
            format!("ours: {}-NN, {sim}{vote}; {PAPER_KNN_RECIPE}", knn.search.k)
        }
        Some(c) => {
            let metric = match c.selection_metric {
                SelectionMetric::Loss => "loss",
                SelectionMetric::Accuracy => "accuracy",
                SelectionMetric::RocAuc => "ROC-AUC",
            };
            let every = if c.select_every > 1 {
                format!("a checkpoint every {} epochs", c.select_every)
            } else {
                "the epoch".into()
            };
            let selection = match c.selection {
                Selection::HeldOut { fraction, .. } => format!(
                    "{every} chosen by {metric} on a held-out {}% of the train patches",
                    patchlens_report::setting_number(fraction * 100.0)
                ),
                Selection::ReportedValSet => {
                    format!(
                        "{every} chosen by {metric} on the reported test images (the study's way)"
                    )
                }
                Selection::LastEpoch => "the last epoch".into(),
            };
            format!(
                "ours: Adam lr {}, batch {}, {} epochs{}, {selection}; {PAPER_LINEAR_RECIPE}",
                c.lr,
                c.batch_size,
                c.epochs,
                if c.batch_norm { ", BatchNorm" } else { "" },
            )
        }
    }
}

/// Linear-probe hyper-parameters (recorded in the results).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearSettings {
    /// Adam learning rate.
    pub lr: f64,
    /// Epochs.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Seed of initialisation and shuffling.
    pub seed: u64,
    /// BatchNorm before the head; `None` = on for the MAE family only (the MAE linear-probing recipe).
    pub batch_norm: Option<bool>,
    /// Epoch selection.
    pub selection: Selection,
    /// Selection criterion.
    pub selection_metric: SelectionMetric,
}

impl Default for LinearSettings {
    /// [`LinearProbeConfig::new`]'s defaults (lr 1e-3, 20 epochs, batch 1024, seed 0, held-out 10 %
    /// selection on the loss), BatchNorm automatic.
    fn default() -> Self {
        let d = LinearProbeConfig::new(2);
        Self {
            lr: d.lr,
            epochs: d.epochs,
            batch_size: d.batch_size,
            seed: d.seed,
            batch_norm: None,
            selection: d.selection,
            selection_metric: d.selection_metric,
        }
    }
}

impl LinearSettings {
    /// The study's recipe on these settings' lr, batch, seed and BatchNorm rule: [`STUDY_EPOCHS`]
    /// ([`STUDY_EPOCHS_MAE`] for MAE), a candidate every [`STUDY_CHECKPOINT_EVERY`] epochs, chosen by
    /// macro ROC-AUC on the reported test set.
    pub fn study_config(&self, n_classes: usize, family: Family) -> LinearProbeConfig {
        let mut c = self.probe_config(n_classes, family);
        c.epochs = if family == Family::Mae {
            STUDY_EPOCHS_MAE
        } else {
            STUDY_EPOCHS
        };
        c.selection = Selection::ReportedValSet;
        c.selection_metric = SelectionMetric::RocAuc;
        c.select_every = STUDY_CHECKPOINT_EVERY;
        c
    }

    /// The probe crate's config for `n_classes` classes and a model of `family`.
    pub fn probe_config(&self, n_classes: usize, family: Family) -> LinearProbeConfig {
        let mut c = LinearProbeConfig::new(n_classes);
        c.lr = self.lr;
        c.epochs = self.epochs;
        c.batch_size = self.batch_size;
        c.seed = self.seed;
        c.batch_norm = self.batch_norm.unwrap_or(family == Family::Mae);
        c.selection = self.selection;
        c.selection_metric = self.selection_metric;
        c
    }
}

/// A feature normalisation applied after the optional top-variance removal. Written as
/// `none | bn | standardize | whiten[:EPS] | pca:K` in configs and results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Normalize {
    /// Unchanged.
    #[default]
    None,
    /// `(x − μ) / sqrt(σ² + 1e-5)` with gallery statistics (BatchNorm1d(affine = False), eval mode).
    Bn,
    /// `(x − μ) / σ` with gallery statistics.
    Standardize,
    /// ZCA whitening of the gallery covariance with regulariser `eps`.
    Whiten {
        /// Added to every eigenvalue.
        eps: f64,
    },
    /// Projection on the top-k principal components of the gallery.
    Pca {
        /// Components kept.
        k: usize,
    },
}

/// Default whitening regulariser.
pub const WHITEN_EPS: f64 = 1e-5;

impl Normalize {
    /// The probe crate's transform (`None` for [`Normalize::None`]).
    pub fn transform(self) -> Option<FeatureTransform> {
        match self {
            Normalize::None => None,
            Normalize::Bn => Some(FeatureTransform::BatchNorm {
                eps: patchlens_probe::variance::BATCH_NORM_EPS,
            }),
            Normalize::Standardize => Some(FeatureTransform::Standardize),
            Normalize::Whiten { eps } => Some(FeatureTransform::Whiten {
                kind: Whitening::Zca,
                eps,
            }),
            Normalize::Pca { k } => Some(FeatureTransform::Pca { k }),
        }
    }

    /// Short label (`none`, `bn`, `standardize`, `whiten`, `pca:K`).
    pub fn label(self) -> String {
        match self {
            Normalize::None => "none".into(),
            Normalize::Bn => "bn".into(),
            Normalize::Standardize => "standardize".into(),
            Normalize::Whiten { eps } if eps == WHITEN_EPS => "whiten".into(),
            Normalize::Whiten { eps } => format!("whiten:{eps}"),
            Normalize::Pca { k } => format!("pca:{k}"),
        }
    }
}

impl TryFrom<String> for Normalize {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        parse_normalize(&s)
    }
}

impl From<Normalize> for String {
    fn from(n: Normalize) -> String {
        n.label()
    }
}

/// Parse `none|bn|standardize|whiten[:EPS]|pca:K`.
pub fn parse_normalize(s: &str) -> std::result::Result<Normalize, String> {
    let (head, arg) = match s.split_once(':') {
        Some((h, a)) => (h, Some(a)),
        None => (s, None),
    };
    match (head, arg) {
        ("none", None) => Ok(Normalize::None),
        ("bn" | "batchnorm", None) => Ok(Normalize::Bn),
        ("standardize" | "standardise", None) => Ok(Normalize::Standardize),
        ("whiten", None) => Ok(Normalize::Whiten { eps: WHITEN_EPS }),
        ("whiten", Some(e)) => match e.parse::<f64>() {
            Ok(eps) if eps.is_finite() && eps > 0.0 => Ok(Normalize::Whiten { eps }),
            _ => Err(format!("bad whitening eps `{e}` in `{s}` (a number > 0)")),
        },
        ("pca", Some(k)) => match k.parse::<usize>() {
            Ok(k) if k > 0 => Ok(Normalize::Pca { k }),
            _ => Err(format!("bad PCA dimension `{k}` in `{s}` (an integer > 0)")),
        },
        ("pca", None) => Err("pca needs the number of components: pca:K".into()),
        _ => Err(format!(
            "unknown normalisation `{s}` (none, bn, standardize, whiten[:EPS], pca:K)"
        )),
    }
}

/// Gallery and queries after [`transform_features`]; `None` when no transform was asked for (use the
/// original matrices, no copy is made).
pub type Transformed = Option<(Matrix, Matrix)>;

/// Fit the removal (`remove_top`, indices from the gallery variance) and then `normalize` on the gallery,
/// and apply both to gallery and queries. Returns the transformed pair (`None` if nothing was asked for)
/// and a description for results.
pub fn transform_features(
    gallery: MatRef<'_>,
    queries: MatRef<'_>,
    remove_top: usize,
    normalize: Normalize,
) -> Result<(Transformed, serde_json::Value)> {
    let d = gallery.cols();
    if remove_top >= d {
        bail!(
            "--remove-top-variance {remove_top} would delete every one of the {d} feature dimensions"
        );
    }
    let mut desc = serde_json::Map::new();
    desc.insert("remove_top_variance".into(), remove_top.into());
    desc.insert("normalize".into(), normalize.label().into());
    let mut cur: Transformed = None;
    if remove_top > 0 {
        let fitted = FeatureTransform::RemoveTopVariance { n: remove_top }.fit(gallery)?;
        desc.insert(
            "removed_columns".into(),
            serde_json::to_value(fitted.removed_columns())?,
        );
        cur = Some((fitted.apply(gallery)?, fitted.apply(queries)?));
    }
    if let Some(t) = normalize.transform() {
        let (g, q) = match &cur {
            Some((g, q)) => (g.view(), q.view()),
            None => (gallery, queries),
        };
        let fitted: FittedTransform = t.fit(g)?;
        cur = Some((fitted.apply(g)?, fitted.apply(q)?));
    }
    let dim_after = cur.as_ref().map_or(d, |(g, _)| g.cols());
    desc.insert("dim_after".into(), dim_after.into());
    Ok((cur, serde_json::Value::Object(desc)))
}

/// A 128-bit content hash of f32 / u32 data (two multiply-xorshift lanes over 64-bit words; not
/// cryptographic, for recognising repeated inputs).
#[derive(Clone, Copy)]
struct Lanes(u64, u64);

impl Lanes {
    fn new() -> Self {
        Lanes(0x243F_6A88_85A3_08D3, 0x1319_8A2E_0370_7344)
    }

    fn word(&mut self, w: u64) {
        let m = |h: u64, k: u64| {
            let x = (h ^ w).wrapping_mul(k);
            x ^ (x >> 29)
        };
        self.0 = m(self.0, 0x9E37_79B9_7F4A_7C15).rotate_left(17);
        self.1 = m(self.1, 0xC2B2_AE3D_27D4_EB4F).rotate_left(31);
    }

    fn bits(&mut self, v: impl IntoIterator<Item = u32>) {
        let mut it = v.into_iter();
        let mut n = 0u64;
        while let Some(a) = it.next() {
            let b = it.next().unwrap_or(0x5555_5555);
            self.word(((a as u64) << 32) | b as u64);
            n += 1;
        }
        self.word(n);
    }
}

/// Predictions of the last k-NN runs by the content of their inputs: the study's protocols probe the same
/// gallery and queries more than once within a model (a segmentation pool, the layer sweep's last layer,
/// the clean score of the degradations and the variance sweep's `remove0` are one 1-NN), and an exact
/// search repeated gives the same predictions.
static KNN_MEMO: std::sync::Mutex<Vec<KnnMemoEntry>> = std::sync::Mutex::new(Vec::new());
/// A memoised search: the content hash of its inputs and its predictions.
type KnnMemoEntry = ((u64, u64), Vec<u32>);
/// Entries kept in [`KNN_MEMO`].
const KNN_MEMO_ENTRIES: usize = 64;

/// k-NN predictions (raw label ids) of `queries` from `gallery` with labels `gallery_labels < n_classes`.
/// The GEMM runs on the host for the flex device and on `device` otherwise. A search with the same inputs
/// as one of the last few returns that search's predictions.
pub fn knn_predict(
    gallery: MatRef<'_>,
    gallery_labels: &[u32],
    queries: MatRef<'_>,
    n_classes: usize,
    cfg: &KnnConfig,
    device: &Device,
) -> Result<Vec<u32>> {
    let host = knn::on_host(device);
    let mut h = Lanes::new();
    h.bits(gallery.data().iter().map(|v| v.to_bits()));
    h.bits(queries.data().iter().map(|v| v.to_bits()));
    h.bits(gallery_labels.iter().copied());
    h.bits([
        gallery.rows() as u32,
        gallery.cols() as u32,
        queries.rows() as u32,
        n_classes as u32,
        host as u32,
    ]);
    h.bits(serde_json::to_string(cfg)?.bytes().map(u32::from));
    let key = (h.0, h.1);
    if let Some((_, p)) = KNN_MEMO
        .lock()
        .map_err(|_| crate::error::EvalError::msg("k-NN memo poisoned"))?
        .iter()
        .find(|(k, _)| *k == key)
    {
        tracing::debug!(
            "k-NN of {} queries against {} gallery rows: the same search ran before",
            queries.rows(),
            gallery.rows()
        );
        return Ok(p.clone());
    }
    let preds = knn_predict_uncached(gallery, gallery_labels, queries, n_classes, cfg, device)?;
    let mut memo = KNN_MEMO
        .lock()
        .map_err(|_| crate::error::EvalError::msg("k-NN memo poisoned"))?;
    if memo.len() >= KNN_MEMO_ENTRIES {
        memo.remove(0);
    }
    memo.push((key, preds.clone()));
    Ok(preds)
}

fn knn_predict_uncached(
    gallery: MatRef<'_>,
    gallery_labels: &[u32],
    queries: MatRef<'_>,
    n_classes: usize,
    cfg: &KnnConfig,
    device: &Device,
) -> Result<Vec<u32>> {
    let nb = knn::search_on(device, gallery, queries, &cfg.search)?;
    Ok(knn::vote(
        &nb,
        gallery_labels,
        n_classes,
        cfg.vote,
        cfg.search.similarity,
    )?)
}
/// Train the linear probe on gallery `[n, D]` with its labels; the queries `[m, D]` and their labels are
/// the reported set (used only by the reported-val-set selection).
fn train_linear(
    gallery: MatRef<'_>,
    gallery_labels: &[u32],
    queries: MatRef<'_>,
    query_labels: &[u32],
    cfg: &LinearProbeConfig,
    device: &Device,
) -> Result<linear::LinearProbe> {
    Ok(linear::train(
        device,
        Labelled {
            x: gallery,
            labels: gallery_labels,
        },
        Some(Labelled {
            x: queries,
            labels: query_labels,
        }),
        cfg,
    )?)
}

/// Train a linear probe on `gallery` (+ labels) and predict `queries`. `val` (the test patches and
/// labels) is passed for the study's [`linear::Selection::ReportedValSet`]. Returns the predictions and
/// a record of the training (config, best epoch, sample counts, per-epoch history).
pub fn linear_predict(
    gallery: MatRef<'_>,
    gallery_labels: &[u32],
    queries: MatRef<'_>,
    query_labels: &[u32],
    cfg: &LinearProbeConfig,
    device: &Device,
) -> Result<(Vec<u32>, serde_json::Value)> {
    let probe = train_linear(gallery, gallery_labels, queries, query_labels, cfg, device)?;
    let preds = probe.head.predict(queries)?;
    let rec = serde_json::json!({
        "config": probe.config,
        "best_epoch": probe.best_epoch,
        "n_train": probe.n_train,
        "n_selection": probe.n_selection,
        "n_ignored": probe.n_ignored,
        "history": probe.history,
    });
    Ok((preds, rec))
}

/// The study's §6.3 "BatchNorm instead of removal": train a linear probe **with** BatchNorm1d(affine = False)
/// on the gallery (`cfg` with `batch_norm` forced on; `queries` are used only by the reported-val-set
/// selection) and return its running-statistics normalisation `(x − running_mean) / sqrt(running_var + ε)`
/// as a fitted transform for gallery `[n, D]` and queries `[m, D]`, plus a record of the probe.
pub fn probe_batch_norm(
    gallery: MatRef<'_>,
    gallery_labels: &[u32],
    queries: MatRef<'_>,
    query_labels: &[u32],
    cfg: &LinearProbeConfig,
    device: &Device,
) -> Result<(FittedTransform, serde_json::Value)> {
    let mut c = cfg.clone();
    c.batch_norm = true;
    let probe = train_linear(gallery, gallery_labels, queries, query_labels, &c, device)?;
    let bn = probe
        .head
        .bn
        .as_ref()
        .context("the BatchNorm linear probe returned no BatchNorm statistics")?;
    let t = FittedTransform::batch_norm_from_stats(&bn.mean, &bn.var, bn.eps)?;
    let rec = serde_json::json!({
        "source": "running statistics of a trained linear probe with BatchNorm1d(affine=False) (protocol 6.3)",
        "config": probe.config,
        "best_epoch": probe.best_epoch,
        "n_train": probe.n_train,
    });
    Ok((t, rec))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The notes printed beside the paper's numbers name both recipes.
    #[test]
    fn recipe_notes_name_ours_and_the_papers() {
        assert_eq!(
            recipe_note(&KnnConfig::default(), None),
            "ours: 1-NN, dot product; paper: 1-NN, dot product"
        );
        let s = LinearSettings::default();
        let ours = s.probe_config(34, Family::Dino);
        assert_eq!(
            recipe_note(&KnnConfig::default(), Some(&ours)),
            format!(
                "ours: Adam lr 0.001, batch 1024, 20 epochs, the epoch chosen by loss on a held-out 10% of the train patches; {PAPER_LINEAR_RECIPE}"
            )
        );
        let study = s.study_config(34, Family::Mae);
        assert_eq!((study.epochs, study.batch_norm), (STUDY_EPOCHS_MAE, true));
        assert_eq!(
            recipe_note(&KnnConfig::default(), Some(&study)),
            format!(
                "ours: Adam lr 0.001, batch 1024, 250 epochs, BatchNorm, a checkpoint every 5 epochs chosen by ROC-AUC on the reported test images (the study's way); {PAPER_LINEAR_RECIPE}"
            )
        );
        assert_eq!(s.study_config(34, Family::Dinov2).epochs, STUDY_EPOCHS);
        assert_eq!(
            ProbeKind::from_name("linear_study"),
            Some(ProbeKind::LinearStudy)
        );
        assert_eq!(ProbeKind::LinearStudy.paper_name(), "linear");
    }
}
