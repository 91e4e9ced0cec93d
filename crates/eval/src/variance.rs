//! The high-variance-feature analysis of protocol §6 on a segmentation dataset.
//!
//! 1. The per-dimension population variance (ddof = 0) of the *training* patches at each layer, sorted
//!    descending, with the dimension indices (the spectrum; a log-y curve).
//! 2. The removal sweep: delete the top-N variance dimensions (indices from the training patches) from
//!    gallery and queries and re-run the k-NN probe (the study: 1-NN, dot product), for
//!    N ∈ {0, 10, 20, 30, 40, 50, 100, 200, 400, 600, 750} clamped to D − 1 (at least one dimension is
//!    kept). In the same sweep, the alternatives fitted on the training patches: BatchNorm with the
//!    gallery statistics, the study's §6.3 BatchNorm with the running statistics of a trained probe,
//!    standardisation, ZCA whitening and PCA-k (plotted at N = D − k, "dimensions dropped"). Optionally
//!    the linear probe is retrained at every point.
//!
//! Every point is scored like segmentation (full-resolution mIoU with a bootstrap interval).

use std::time::Instant;

use patchlens_probe::MatRef;
use patchlens_probe::knn::KnnConfig;
use patchlens_probe::variance::{
    BATCH_NORM_EPS, CITYSCAPES_REMOVAL_SWEEP, FeatureTransform, Whitening, clamp_sweep,
    variance_spectrum,
};
use patchlens_report::{
    ConfidenceInterval, Curve, Experiment, ExperimentKind, ModelInfo, PaperKey, PlotKind,
};
use serde::{Deserialize, Serialize};

use crate::encode::TokenSource;
use crate::error::{EvalError, Result, bail};
use crate::layers::LayerSel;
use crate::segmentation::probe::{self, WHITEN_EPS};
use crate::segmentation::{
    Bootstrap, LinearSettings, ScoreCtx, SegSource, SplitFeatures, encode_pair,
};

/// One alternative to removal in the sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Alternative {
    /// `(x − μ) / sqrt(σ² + 1e-5)` with gallery statistics.
    Bn,
    /// The study's §6.3 variant: BatchNorm1d(affine = False) with the running statistics of a linear
    /// probe trained with BatchNorm on the gallery (the probe's recipe: [`VarianceConfig::linear`]).
    BnProbe,
    /// `(x − μ) / σ`.
    Standardize,
    /// ZCA whitening (ε = 1e-5).
    Whiten,
    /// PCA-k for every k of [`VarianceConfig::pca_ks`] (default D − N for the sweep's N > 0).
    Pca,
    /// No alternative (only the removal sweep); ignored next to others.
    None,
}

impl Alternative {
    /// Every alternative.
    pub const ALL: [Alternative; 5] = [
        Alternative::Bn,
        Alternative::BnProbe,
        Alternative::Standardize,
        Alternative::Whiten,
        Alternative::Pca,
    ];

    /// Parse `bn`, `bn_probe` (or `bn-probe`), `standardize`, `whiten`, `pca` or `none`.
    pub fn parse(name: &str) -> Result<Alternative> {
        serde_json::from_value(serde_json::Value::String(name.replace('-', "_"))).map_err(|_| {
            EvalError::msg(format!(
                "unknown alternative `{name}` (bn, bn_probe, standardize, whiten, pca, none)"
            ))
        })
    }
}

/// A variance analysis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VarianceConfig {
    /// The dataset.
    pub source: SegSource,
    /// Train split (spectrum, gallery, fitted statistics; default: the dataset's).
    #[serde(default)]
    pub train_split: Option<String>,
    /// Test split (queries; default: the dataset's).
    #[serde(default)]
    pub test_split: Option<String>,
    /// Layers (default `last`).
    #[serde(default)]
    pub layers: Vec<LayerSel>,
    /// The k-NN classifier of the sweep.
    #[serde(default)]
    pub knn: KnnConfig,
    /// Numbers of removed dimensions (clamped to D − 1, repeats dropped).
    #[serde(default = "default_sweep")]
    pub sweep: Vec<usize>,
    /// Alternatives evaluated in the same sweep.
    #[serde(default = "default_alternatives")]
    pub alternatives: Vec<Alternative>,
    /// PCA dimensions; `None` = D − N for every N > 0 of the clamped sweep.
    #[serde(default)]
    pub pca_ks: Option<Vec<usize>>,
    /// The linear probe's recipe (for `bn_probe`, and for `retrain_linear`).
    #[serde(default)]
    pub linear: LinearSettings,
    /// Also retrain the linear probe at every point.
    #[serde(default)]
    pub retrain_linear: bool,
    /// Intervals per point (below 2 resamples: none).
    #[serde(default)]
    pub bootstrap: Bootstrap,
}

fn default_sweep() -> Vec<usize> {
    CITYSCAPES_REMOVAL_SWEEP.to_vec()
}
fn default_alternatives() -> Vec<Alternative> {
    Alternative::ALL.to_vec()
}

impl VarianceConfig {
    /// Defaults: the dataset's splits, last layer, 1-NN dot product, the Cityscapes N sweep, all
    /// alternatives, no linear retraining, 1000 bootstrap resamples.
    pub fn new(source: SegSource) -> Self {
        Self {
            source,
            train_split: None,
            test_split: None,
            layers: Vec::new(),
            knn: KnnConfig::default(),
            sweep: default_sweep(),
            alternatives: default_alternatives(),
            pca_ks: None,
            linear: LinearSettings::default(),
            retrain_linear: false,
            bootstrap: Bootstrap::default(),
        }
    }

    /// Check values; errors name the field.
    pub fn validate(&self) -> Result<()> {
        if self.sweep.is_empty() && !self.spectrum_only() {
            return Err(EvalError::invalid(
                "variance",
                "sweep",
                "is empty while `alternatives` are asked for (give the numbers of removed dimensions, e.g. [0, 10, 50], or `alternatives = []` for the spectrum only)",
            ));
        }
        Ok(())
    }

    /// An empty sweep without alternatives: the spectrum only, nothing scored.
    pub fn spectrum_only(&self) -> bool {
        self.sweep.is_empty() && self.alternatives.iter().all(|a| *a == Alternative::None)
    }
}

/// The gallery-fitted transforms of a sweep over `d`-dimensional features: removal of the top N for
/// every N of `removals` (already clamped), then the alternatives — PCA-k for every k of `pca_ks`, or
/// k = D − N for every N > 0. `bn_probe` is not here: it is fitted from a trained probe by the caller.
pub fn sweep_transforms(
    removals: &[usize],
    alternatives: &[Alternative],
    d: usize,
    pca_ks: Option<&[usize]>,
) -> Result<Vec<FeatureTransform>> {
    let mut transforms: Vec<FeatureTransform> = removals
        .iter()
        .map(|&n| FeatureTransform::RemoveTopVariance { n })
        .collect();
    for a in alternatives {
        match a {
            Alternative::None | Alternative::BnProbe => {}
            Alternative::Bn => transforms.push(FeatureTransform::BatchNorm {
                eps: BATCH_NORM_EPS,
            }),
            Alternative::Standardize => transforms.push(FeatureTransform::Standardize),
            Alternative::Whiten => transforms.push(FeatureTransform::Whiten {
                kind: Whitening::Zca,
                eps: WHITEN_EPS,
            }),
            Alternative::Pca => {
                let ks: Vec<usize> = pca_ks.map(<[usize]>::to_vec).unwrap_or_else(|| {
                    removals
                        .iter()
                        .filter(|&&n| n > 0 && n < d)
                        .map(|&n| d - n)
                        .collect()
                });
                for k in ks {
                    if k == 0 || k > d {
                        bail!("PCA dimension {k} is outside 1..={d}");
                    }
                    transforms.push(FeatureTransform::Pca { k });
                }
            }
        }
    }
    Ok(transforms)
}

/// A point of the sweep: which transform and what it scored.
#[derive(Clone, Debug)]
pub struct Point {
    /// Metric key (`remove10`, `bn`, `bn_probe`, `pca192`, …).
    pub key: String,
    /// The transform.
    pub transform: FeatureTransform,
    /// k-NN mIoU and its interval.
    pub knn: (f64, Option<ConfidenceInterval>),
    /// Linear-probe mIoU and its interval (if asked for).
    pub linear: Option<(f64, Option<ConfidenceInterval>)>,
}

/// A curve under construction: label, x, y, interval per point.
type Series = (String, Vec<f64>, Vec<f64>, Vec<Option<ConfidenceInterval>>);

/// Metric key of a transform (`remove10`, `bn`, `standardize`, `whiten`, `pca192`, `identity`).
pub fn key_of(t: &FeatureTransform) -> String {
    match *t {
        FeatureTransform::RemoveTopVariance { n } => format!("remove{n}"),
        FeatureTransform::BatchNorm { .. } => "bn".into(),
        FeatureTransform::Standardize => "standardize".into(),
        FeatureTransform::Whiten { .. } => "whiten".into(),
        FeatureTransform::Pca { k } => format!("pca{k}"),
        FeatureTransform::Identity => "identity".into(),
    }
}

/// The spectrum and the sweep at one layer.
#[derive(Clone, Debug)]
pub struct VarianceLayer {
    /// Layer.
    pub layer: usize,
    /// Feature width D.
    pub dim: usize,
    /// Train patches.
    pub patches: usize,
    /// Query patches.
    pub queries: usize,
    /// The spectrum (sorted variances and the dimension order).
    pub spectrum: patchlens_probe::variance::VarianceSpectrum,
    /// The clamped removal sweep.
    pub removals: Vec<usize>,
    /// The transforms of the sweep (removal, then the alternatives; `bn_probe` last, outside).
    pub transforms: Vec<FeatureTransform>,
    /// The scored points, in the order of `transforms` (then `bn_probe`).
    pub points: Vec<Point>,
    /// The record of the `bn_probe` probe.
    pub bn_probe: Option<serde_json::Value>,
}

/// Everything a variance analysis measured.
#[derive(Clone, Debug)]
pub struct VarianceResult {
    /// The model.
    pub model: ModelInfo,
    /// The study's name for the model.
    pub paper_model: Option<String>,
    /// The configuration.
    pub config: VarianceConfig,
    /// Train split.
    pub train_split: String,
    /// Test split.
    pub test_split: String,
    /// The tiling protocol.
    pub spec: patchlens_data::TileSpec,
    /// Number of raw classes of the probes.
    pub probe_classes: usize,
    /// Family (the linear recipe's BatchNorm rule).
    pub family: patchlens_vit::Family,
    /// One per layer.
    pub layers: Vec<VarianceLayer>,
    /// Seconds.
    pub seconds: f64,
}

/// Run the variance analysis.
pub fn run(cfg: &VarianceConfig, tokens: &dyn TokenSource) -> Result<VarianceResult> {
    cfg.validate()?;
    let t0 = Instant::now();
    let enc = encode_pair(
        &cfg.source,
        tokens,
        cfg.train_split.as_deref(),
        cfg.test_split.as_deref(),
        &cfg.layers,
        "variance",
    )?;
    let ctx = ScoreCtx {
        space: &enc.space,
        spec: &enc.spec,
        test_split: &enc.test,
        bootstrap: cfg.bootstrap,
        cityscapes: cfg.source.is_cityscapes(),
    };
    let device = tokens.device();
    let n_classes = enc.space.num_raw();
    let mut out = Vec::new();
    for &layer in &enc.layers {
        out.push(sweep_layer(
            cfg,
            &ctx,
            tokens,
            &device,
            n_classes,
            layer,
            &enc.train_f[&layer],
            &enc.test_f[&layer],
        )?);
    }
    Ok(VarianceResult {
        model: tokens.info(),
        paper_model: tokens.paper_model().map(str::to_string),
        config: cfg.clone(),
        train_split: enc.train_split.clone(),
        test_split: enc.test_split.clone(),
        spec: enc.spec.clone(),
        probe_classes: n_classes,
        family: tokens.family(),
        layers: out,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

#[allow(clippy::too_many_arguments)]
fn sweep_layer(
    cfg: &VarianceConfig,
    ctx: &ScoreCtx<'_>,
    tokens: &dyn TokenSource,
    device: &patchlens_vit::Device,
    n_classes: usize,
    layer: usize,
    train: &SplitFeatures,
    test: &SplitFeatures,
) -> Result<VarianceLayer> {
    let d = train.dim;
    if d < 2 {
        bail!("feature dimension {d} is too small for a removal sweep");
    }
    let spectrum = variance_spectrum(train.view()?)?;
    if cfg.spectrum_only() {
        return Ok(VarianceLayer {
            layer,
            dim: d,
            patches: train.len(),
            queries: test.len(),
            spectrum,
            removals: Vec::new(),
            transforms: Vec::new(),
            points: Vec::new(),
            bn_probe: None,
        });
    }
    let removals = clamp_sweep(&cfg.sweep, d - 1);
    let transforms = sweep_transforms(&removals, &cfg.alternatives, d, cfg.pca_ks.as_deref())?;
    let lc = cfg.linear.probe_config(n_classes, tokens.family());
    // Score one transformed gallery/query pair: k-NN (and the linear probe if asked for).
    let evaluate_point =
        |key: String, transform: FeatureTransform, g: MatRef<'_>, q: MatRef<'_>| -> Result<Point> {
            let score = |preds: &[u32]| -> Result<(f64, Option<ConfidenceInterval>)> {
                let ev = ctx.evaluate(test, preds)?;
                Ok((ev.total.miou(), ctx.interval(&ev)?))
            };
            let preds = probe::knn_predict(g, &train.labels, q, n_classes, &cfg.knn, device)?;
            let knn = score(&preds)?;
            let linear = if cfg.retrain_linear {
                let (lp, _) =
                    probe::linear_predict(g, &train.labels, q, &test.labels, &lc, device)?;
                Some(score(&lp)?)
            } else {
                None
            };
            Ok(Point {
                key,
                transform,
                knn,
                linear,
            })
        };
    let n_points = transforms.len() + usize::from(cfg.alternatives.contains(&Alternative::BnProbe));
    let mut progress =
        crate::progress::Progress::new(format!("variance sweep, layer {layer}"), n_points);
    let results = patchlens_probe::variance::sweep(
        train.view()?,
        test.view()?,
        &transforms,
        |fitted, g, q| {
            let key = key_of(&fitted.transform());
            progress.inc(&key);
            Ok(evaluate_point(key, fitted.transform(), g, q))
        },
    )?;
    let mut points: Vec<Point> = results.into_iter().collect::<Result<_>>()?;
    let mut bn_probe = None;
    if cfg.alternatives.contains(&Alternative::BnProbe) {
        let (fitted, rec) = probe::probe_batch_norm(
            train.view()?,
            &train.labels,
            test.view()?,
            &test.labels,
            &lc,
            device,
        )?;
        let g = fitted.apply(train.view()?)?;
        let q = fitted.apply(test.view()?)?;
        points.push(evaluate_point(
            "bn_probe".into(),
            fitted.transform(),
            g.view(),
            q.view(),
        )?);
        progress.inc("bn_probe");
        bn_probe = Some(rec);
    }
    Ok(VarianceLayer {
        layer,
        dim: d,
        patches: train.len(),
        queries: test.len(),
        spectrum,
        removals,
        transforms,
        points,
        bn_probe,
    })
}

impl VarianceResult {
    /// One line per layer: top variance, top-10 share, k-NN mIoU without removal and the best removal.
    pub fn summary_lines(&self) -> Vec<String> {
        self.layers
            .iter()
            .map(|l| {
                let total: f64 = l.spectrum.sorted.iter().sum();
                let top10: f64 = l.spectrum.sorted.iter().take(10).sum::<f64>() / total;
                let base = l.points.iter().find(|p| p.key == "remove0");
                let best = l
                    .points
                    .iter()
                    .filter(|p| matches!(p.transform, FeatureTransform::RemoveTopVariance { n } if n > 0))
                    .max_by(|a, b| a.knn.0.total_cmp(&b.knn.0));
                format!(
                    "variance {}/{}/{}/layer{}: top variance {:.4}, top-10 share {:.4}, k-NN mIoU remove0 {}, best {}",
                    self.config.source.name(),
                    self.train_split,
                    self.model.zoo_name,
                    l.layer,
                    l.spectrum.sorted[0],
                    top10,
                    base.map_or("-".into(), |p| crate::segmentation::fmt_ci(p.knn.0, p.knn.1.as_ref())),
                    best.map_or("-".into(), |p| format!("{} {:.4}", p.key, p.knn.0)),
                )
            })
            .collect()
    }
}

/// How many top-variance dimensions the dataset-overlap table compares for features `d` wide: the
/// study's 200 for ViT-B (768) and wider, the same share (200 / 768) for narrower models.
pub fn overlap_top(d: usize) -> usize {
    if d >= 768 {
        200
    } else {
        ((d * 200 + 384) / 768).clamp(1, d)
    }
}

/// The top-variance dimensions one experiment found: `(set label, dimensions in variance order, width)`.
fn top_dimension_set(e: &Experiment) -> Option<(usize, String, Vec<usize>, Option<usize>)> {
    let p = &e.protocol;
    let layer = p.get("layer")?.as_u64()? as usize;
    let dims = |v: &serde_json::Value| -> Option<Vec<usize>> {
        v.as_array()?
            .iter()
            .map(|x| x.as_u64().map(|x| x as usize))
            .collect()
    };
    let dataset = p.get("dataset")?.as_str()?;
    match e.kind {
        ExperimentKind::VarianceSpectrum => {
            let split = p.get("train_split")?.as_str()?;
            let order = dims(p.get("order")?)?;
            let d = order.len();
            Some((layer, format!("{dataset}/{split}"), order, Some(d)))
        }
        // Identification with its top-variance dimensions removed (the study's FAIR1M "MAE-200"):
        // the variance of the original tiles' patches.
        ExperimentKind::Retrieval => {
            let removed = dims(p.get(crate::identification::keys::REMOVED_DIMENSIONS)?)?;
            (!removed.is_empty())
                .then(|| (layer, format!("{dataset}/original tiles"), removed, None))
        }
        _ => None,
    }
}

/// The study's "dataset-agnostic high-variance dimensions" (protocol §6.1: the top-200 MAE dimensions
/// found on Cityscapes, ADE20K and FAIR1M overlap in about 195 of 200), for every model and layer that
/// has top-variance dimensions from two or more datasets or splits among `experiments`: variance
/// spectra (their train split) and identification runs with removed dimensions (their original tiles).
/// One experiment per model and layer, `variance_overlap/<model>/layer<L>`: metrics `top_n` (N, see
/// [`overlap_top`]), `overlap/<a> & <b>` (shared dimensions of each pair), `overlap_all` (shared by
/// every set) and `overlap_all_share` (÷ N); the sets and their dimensions in the protocol. A set with
/// fewer than N known dimensions (an identification run that removed fewer) is left out and named.
pub fn dimension_overlap(experiments: &[Experiment]) -> Vec<Experiment> {
    type Sets = Vec<(String, Vec<usize>, Option<usize>)>;
    let mut by: std::collections::BTreeMap<(String, usize), (patchlens_report::ModelInfo, Sets)> =
        Default::default();
    for e in experiments {
        let Some((layer, label, dims, d)) = top_dimension_set(e) else {
            continue;
        };
        let entry = by
            .entry((e.model.zoo_name.clone(), layer))
            .or_insert_with(|| (e.model.clone(), Vec::new()));
        if !entry.1.iter().any(|(l, _, _)| *l == label) {
            entry.1.push((label, dims, d));
        }
    }
    let mut out = Vec::new();
    for ((model, layer), (info, sets)) in by {
        let Some(d) = sets.iter().find_map(|s| s.2) else {
            continue;
        };
        let n = overlap_top(d);
        let (usable, short): (Sets, Sets) = sets.into_iter().partition(|s| s.1.len() >= n);
        if usable.len() < 2 {
            continue;
        }
        let tops: Vec<std::collections::BTreeSet<usize>> = usable
            .iter()
            .map(|s| s.1[..n].iter().copied().collect())
            .collect();
        let mut e = Experiment::new(
            format!("variance_overlap/{model}/layer{layer}"),
            ExperimentKind::VarianceSpectrum,
            info,
        );
        e.metrics.insert("top_n".into(), n as f64);
        for i in 0..usable.len() {
            for j in i + 1..usable.len() {
                e.metrics.insert(
                    format!("overlap/{} & {}", usable[i].0, usable[j].0),
                    tops[i].intersection(&tops[j]).count() as f64,
                );
            }
        }
        let all = tops[0]
            .iter()
            .filter(|x| tops[1..].iter().all(|t| t.contains(x)))
            .count();
        e.metrics.insert("overlap_all".into(), all as f64);
        e.metrics
            .insert("overlap_all_share".into(), all as f64 / n as f64);
        let p = &mut e.protocol;
        p.insert("layer".into(), layer.into());
        p.insert("feature_dim".into(), d.into());
        p.insert(
            "what".into(),
            format!("the {n} highest-variance dimensions of each set (population variance of its patches), compared as sets; the study: ~195 of 200 shared by Cityscapes, ADE20K and FAIR1M for MAE").into(),
        );
        p.insert(
            "sets".into(),
            serde_json::json!(
                usable
                    .iter()
                    .map(|s| serde_json::json!({"set": s.0, "top": &s.1[..n]}))
                    .collect::<Vec<_>>()
            ),
        );
        if !short.is_empty() {
            p.insert(
                "left_out".into(),
                serde_json::json!(
                    short
                        .iter()
                        .map(|s| format!("{}: {} dimensions known, {n} needed", s.0, s.1.len()))
                        .collect::<Vec<_>>()
                ),
            );
        }
        out.push(e);
    }
    out
}

/// Names of variance results: the one place they are made and read.
pub mod keys {
    /// Metric of a sweep point: `<probe>_miou/<point key>` (e.g. `knn_miou/remove10`).
    pub fn point(probe: &str, key: &str) -> String {
        format!("{probe}_miou/{key}")
    }

    /// The number of removed dimensions of a k-NN removal metric (`knn_miou/remove<N>`).
    pub fn parse_knn_removal(metric: &str) -> Option<usize> {
        metric.strip_prefix("knn_miou/remove")?.parse().ok()
    }

    /// Share of the total variance in the top-n dimensions.
    pub fn share_top(n: usize) -> String {
        format!("variance_share_top{n}")
    }
}

impl VarianceResult {
    fn paper_mae_like(&self, layer: usize) -> bool {
        let c = &self.config;
        c.source.is_cityscapes()
            && layer == 12
            && self.train_split == patchlens_data::cityscapes::DEFAULT_TRAIN_POOL
            && self.test_split == patchlens_data::cityscapes::VAL_POOL
            && c.knn == KnnConfig::default()
    }

    /// Two experiments per layer: the spectrum ([`ExperimentKind::VarianceSpectrum`]) and the sweep
    /// ([`ExperimentKind::VarianceRemoval`]), whose curves share figure ids across models.
    pub fn experiments(&self) -> Vec<Experiment> {
        let mut out = Vec::new();
        for l in &self.layers {
            out.extend(self.layer_experiments(l));
        }
        out
    }

    fn layer_experiments(&self, l: &VarianceLayer) -> Vec<Experiment> {
        let c = &self.config;
        let model = &self.model.zoo_name;
        let ds = c.source.name();
        let (d, layer) = (l.dim, l.layer);
        let base = format!("{ds}/{}/{model}/layer{layer}", self.train_split);
        let spectrum = &l.spectrum;

        let mut spec_e = Experiment::new(
            format!("variance_spectrum/{base}"),
            ExperimentKind::VarianceSpectrum,
            self.model.clone(),
        );
        let total: f64 = spectrum.sorted.iter().sum();
        let share = |n: usize| spectrum.sorted[..n.min(d)].iter().sum::<f64>() / total;
        let m = &mut spec_e.metrics;
        m.insert("variance_max".into(), spectrum.sorted[0]);
        m.insert("variance_min".into(), spectrum.sorted[d - 1]);
        m.insert("variance_median".into(), spectrum.sorted[d / 2]);
        m.insert("variance_total".into(), total);
        for n in [10usize, 50, 200] {
            if n < d {
                m.insert(keys::share_top(n), share(n));
            }
        }
        m.retain(|_, v| v.is_finite());
        spec_e.curves.push(Curve::new(
            format!(
                "Feature variance spectrum ({ds} {}, layer {layer})",
                self.train_split
            ),
            model.clone(),
            "dimension rank (by variance)",
            "variance",
            (1..=d).map(|r| r as f64).collect(),
            spectrum.sorted.clone(),
        ));
        let p = &mut spec_e.protocol;
        p.insert("dataset".into(), ds.into());
        p.insert("train_split".into(), self.train_split.clone().into());
        p.insert("layer".into(), layer.into());
        p.insert("patches".into(), l.patches.into());
        p.insert("feature_dim".into(), d.into());
        p.insert(
            "variance".into(),
            "population variance (ddof = 0) per dimension over all train patches".into(),
        );
        p.insert(
            "order".into(),
            serde_json::to_value(&spectrum.order).unwrap_or_default(),
        );
        p.insert(
            "sorted_variance".into(),
            serde_json::to_value(&spectrum.sorted).unwrap_or_default(),
        );
        p.insert(
            "tile_spec".into(),
            serde_json::to_value(&self.spec).unwrap_or_default(),
        );

        let mut sw = Experiment::new(
            format!("variance_removal/{base}"),
            ExperimentKind::VarianceRemoval,
            self.model.clone(),
        );
        let pm = self.paper_model.as_deref();
        let paper_mae = pm == Some("mae") && self.paper_mae_like(layer);
        let x_max = l.removals.last().copied().unwrap_or(0) as f64;
        let probes: Vec<(&str, &str)> = std::iter::once(("knn", "k-NN"))
            .chain(c.retrain_linear.then_some(("linear", "linear-probe")))
            .collect();
        for (probe, probe_label) in probes {
            let linear_cfg =
                (probe == "linear").then(|| c.linear.probe_config(self.probe_classes, self.family));
            let note = crate::segmentation::probe::recipe_note(&c.knn, linear_cfg.as_ref());
            let get = |pt: &Point| {
                if probe == "knn" {
                    Some(pt.knn.clone())
                } else {
                    pt.linear.clone()
                }
            };
            for pt in &l.points {
                if let Some((m, ci)) = get(pt) {
                    let key = keys::point(probe, &pt.key);
                    if m.is_finite() {
                        sw.metrics.insert(key.clone(), m);
                    }
                    if let Some(ci) = ci {
                        sw.confidence_intervals.insert(key, ci);
                    }
                }
            }
            let fig = format!(
                "{probe_label} mIoU without the top-N variance dimensions ({ds} {}, layer {layer})",
                self.train_split
            );
            // Series: removal, PCA at N = D − k, and the full-dimension alternatives as horizontal lines.
            let mut series: Vec<Series> = Vec::new();
            let mut push =
                |label: String, x: f64, y: f64, ci: Option<ConfidenceInterval>| match series
                    .iter_mut()
                    .find(|s| s.0 == label)
                {
                    Some(s) => {
                        s.1.push(x);
                        s.2.push(y);
                        s.3.push(ci);
                    }
                    None => series.push((label, vec![x], vec![y], vec![ci])),
                };
            for pt in &l.points {
                let Some((m, ci)) = get(pt) else { continue };
                match pt.transform {
                    FeatureTransform::RemoveTopVariance { n } => {
                        push(format!("{model}: remove top-N"), n as f64, m, ci)
                    }
                    FeatureTransform::Pca { k } => {
                        push(format!("{model}: PCA-k (N = D − k)"), (d - k) as f64, m, ci)
                    }
                    _ => {
                        let label = format!("{model}: {}", pt.key);
                        push(label.clone(), 0.0, m, ci.clone());
                        push(label, x_max, m, ci);
                    }
                }
            }
            for (label, x, y, cis) in series {
                let mut order: Vec<usize> = (0..x.len()).collect();
                order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
                let mut curve = Curve::new(
                    fig.clone(),
                    label.clone(),
                    "top-variance dimensions removed (N)",
                    "mIoU",
                    order.iter().map(|&i| x[i]).collect(),
                    order.iter().map(|&i| y[i]).collect(),
                );
                curve.plot = Some(PlotKind::Line);
                if cis.iter().all(Option::is_some) {
                    curve.y_lower = Some(
                        order
                            .iter()
                            .map(|&i| cis[i].as_ref().map_or(f64::NAN, |c| c.lower))
                            .collect(),
                    );
                    curve.y_upper = Some(
                        order
                            .iter()
                            .map(|&i| cis[i].as_ref().map_or(f64::NAN, |c| c.upper))
                            .collect(),
                    );
                }
                if paper_mae && label.ends_with("remove top-N") {
                    curve.paper = Some(
                        PaperKey::new(
                            "cityscapes_mae_high_variance_removal",
                            format!("{probe}/removed{{x}}"),
                            "mae",
                        )
                        .with_note(note.clone()),
                    );
                }
                sw.curves.push(curve);
            }
            // The study's "+ BN" points (§6.3) used a trained probe's running statistics: compare them with
            // `bn_probe` when it was run, else with the gallery-statistics `bn`.
            let bn_key = [keys::point(probe, "bn_probe"), keys::point(probe, "bn")]
                .into_iter()
                .find(|k| sw.metrics.contains_key(k));
            if let Some(pm) = pm
                && (pm == "mae" || pm == "simmim")
                && self.paper_mae_like(layer)
                && let Some(bn_key) = bn_key
            {
                sw.paper.insert(
                    bn_key,
                    PaperKey::new(
                        "cityscapes_mae_high_variance_removal",
                        format!("batchnorm/{probe}"),
                        pm,
                    )
                    .with_note(note.clone()),
                );
            }
            if paper_mae {
                for n in &l.removals {
                    let key = keys::point(probe, &format!("remove{n}"));
                    if sw.metrics.contains_key(&key) {
                        sw.paper.insert(
                            key,
                            PaperKey::new(
                                "cityscapes_mae_high_variance_removal",
                                format!("{probe}/removed{n}"),
                                "mae",
                            )
                            .with_note(note.clone()),
                        );
                    }
                }
            }
        }
        let p = &mut sw.protocol;
        p.insert("dataset".into(), ds.into());
        p.insert("train_split".into(), self.train_split.clone().into());
        p.insert("test_split".into(), self.test_split.clone().into());
        p.insert("layer".into(), layer.into());
        p.insert("feature_dim".into(), d.into());
        p.insert("gallery_patches".into(), l.patches.into());
        p.insert("query_patches".into(), l.queries.into());
        p.insert(
            "sweep_requested".into(),
            serde_json::to_value(&c.sweep).unwrap_or_default(),
        );
        p.insert(
            "sweep".into(),
            serde_json::to_value(&l.removals).unwrap_or_default(),
        );
        p.insert(
            "transforms".into(),
            serde_json::to_value(&l.transforms).unwrap_or_default(),
        );
        p.insert(
            "knn".into(),
            serde_json::to_value(&c.knn).unwrap_or_default(),
        );
        if c.retrain_linear {
            p.insert(
                "linear".into(),
                serde_json::to_value(c.linear.probe_config(self.probe_classes, self.family))
                    .unwrap_or_default(),
            );
        }
        p.insert(
            "notes".into(),
            "statistics, variance order and eigenvectors from the train patches; bn uses the gallery mean/variance, \
             bn_probe the running statistics of a linear probe trained with BatchNorm on the train patches (the \
             study's §6.3); PCA-k plotted at N = D - k; N clamped to D - 1"
                .into(),
        );
        if let Some(r) = &l.bn_probe {
            p.insert("bn_probe".into(), r.clone());
        }
        p.insert(
            "tile_spec".into(),
            serde_json::to_value(&self.spec).unwrap_or_default(),
        );
        if l.points.is_empty() {
            // The spectrum only: nothing was scored.
            return vec![spec_e];
        }
        vec![spec_e, sw]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use patchlens_report::ModelInfo;

    fn exp(kind: ExperimentKind, model: &str, protocol: serde_json::Value) -> Experiment {
        let mut e = Experiment::new(
            "x",
            kind,
            ModelInfo {
                zoo_name: model.into(),
                weights_sha256: None,
                family: "mae".into(),
            },
        );
        e.protocol = protocol.as_object().unwrap().clone();
        e
    }

    /// Sets compared by hand: N = 2 of 8 dimensions (200 / 768 of the width); the spectra of two
    /// splits and an identification run's removed dimensions.
    #[test]
    fn dataset_overlap_counts_shared_top_dimensions() {
        assert_eq!(
            (overlap_top(768), overlap_top(1024), overlap_top(192)),
            (200, 200, 50)
        );
        assert_eq!(overlap_top(8), 2);
        let spec = |split: &str, order: &[usize]| {
            exp(
                ExperimentKind::VarianceSpectrum,
                "m",
                serde_json::json!({"dataset": "synthetic", "train_split": split, "layer": 5, "order": order}),
            )
        };
        let ident = |removed: &[usize]| {
            exp(
                ExperimentKind::Retrieval,
                "m",
                serde_json::json!({"dataset": "fair1m", "layer": 5, "removed_dimensions": removed}),
            )
        };
        let out = dimension_overlap(&[
            spec("train48", &[3, 1, 0, 2, 4, 5, 6, 7]),
            spec("test24", &[1, 5, 3, 0, 2, 4, 6, 7]),
            ident(&[3, 1]),
            ident(&[]),
            spec("train48", &[7, 6, 5, 4, 3, 2, 1, 0]), // a repeat of a set: the first counts
            exp(
                ExperimentKind::VarianceSpectrum,
                "other",
                serde_json::json!({"dataset": "synthetic", "train_split": "train48", "layer": 5, "order": [0, 1]}),
            ),
        ]);
        assert_eq!(out.len(), 1, "one model with two or more sets");
        let e = &out[0];
        assert_eq!(e.name, "variance_overlap/m/layer5");
        let m = &e.metrics;
        assert_eq!(m["top_n"], 2.0);
        assert_eq!(m["overlap/synthetic/train48 & synthetic/test24"], 1.0);
        assert_eq!(m["overlap/synthetic/train48 & fair1m/original tiles"], 2.0);
        assert_eq!(m["overlap/synthetic/test24 & fair1m/original tiles"], 1.0);
        assert_eq!(m["overlap_all"], 1.0);
        assert_eq!(m["overlap_all_share"], 0.5);
        // Too few removed dimensions: left out, and said so.
        let short = dimension_overlap(&[
            spec("train48", &[3, 1, 0, 2, 4, 5, 6, 7]),
            spec("test24", &[1, 5, 3, 0, 2, 4, 6, 7]),
            ident(&[3]),
        ]);
        assert_eq!(short[0].metrics.len(), 4, "{:?}", short[0].metrics);
        assert_eq!(
            short[0].protocol["left_out"][0],
            "fair1m/original tiles: 1 dimensions known, 2 needed"
        );
    }
}
