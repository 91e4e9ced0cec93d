//! `cargo xtask eval variance`: the high-variance-feature analysis of protocol §6 on a segmentation
//! dataset.
//!
//! 1. The per-dimension population variance (ddof = 0) of the *training* patches at the chosen layer,
//!    sorted descending, with the dimension indices (the spectrum; a log-y curve).
//! 2. The removal sweep: delete the top-N variance dimensions (indices from the training patches) from
//!    gallery and queries and re-run the k-NN probe (the study: 1-NN, dot product), for
//!    N ∈ {0, 10, 20, 30, 40, 50, 100, 200, 400, 600, 750} clamped to D − 1 (at least one dimension is
//!    kept). In the same sweep, the alternatives fitted on the training patches: BatchNorm with the
//!    gallery statistics (the study's §6.3 takes them from a trained probe instead), standardisation,
//!    ZCA whitening and PCA-k (plotted at N = D − k, "dimensions dropped"). Optionally the linear probe is
//!    retrained at every point.
//!
//! Every point is scored like `eval segmentation` (full-resolution mIoU with a bootstrap interval).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;
use patchlens_probe::MatRef;
use patchlens_probe::variance::{
    BATCH_NORM_EPS, CITYSCAPES_REMOVAL_SWEEP, FeatureTransform, Whitening, clamp_sweep,
    variance_spectrum,
};
use patchlens_report::{
    ConfidenceInterval, Curve, Experiment, ExperimentKind, ModelInfo, PaperKey, PlotKind, Results,
};
use patchlens_store::FeatureStore;

use super::segmentation::features::{self, KnnSettings, SegDataset, WHITEN_EPS};
use super::segmentation::{self, LinearSettings, SimilarityArg, VoteArg};
use crate::backend::Backend;
use crate::models::LoadedModel;

/// One alternative to removal in the sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Alternative {
    /// `(x − μ) / sqrt(σ² + 1e-5)` with gallery statistics.
    Bn,
    /// The study's §6.3 variant: BatchNorm1d(affine = False) with the running statistics of a linear
    /// probe trained with BatchNorm on the gallery (the probe's lr/epochs/seed: the linear defaults).
    #[value(name = "bn-probe")]
    #[serde(rename = "bn_probe")]
    BnProbe,
    /// `(x − μ) / σ`.
    Standardize,
    /// ZCA whitening (ε = 1e-5).
    Whiten,
    /// PCA-k for every k given by `--pca-k` (default D − N for the sweep's N > 0).
    Pca,
    /// No alternative (only the removal sweep); ignored next to others.
    None,
}

/// Everything `eval variance` needs besides the model.
#[derive(Clone, Debug)]
pub struct VarianceConfig {
    /// Dataset.
    pub dataset: SegDataset,
    /// Dataset root.
    pub data_root: PathBuf,
    /// Train split (spectrum, gallery, fitted statistics).
    pub train_split: String,
    /// Test split (queries).
    pub test_split: String,
    /// 1-based layer; `None` = the last.
    pub layer: Option<usize>,
    /// k-NN settings of the sweep.
    pub knn: KnnSettings,
    /// Numbers of removed dimensions (clamped to D − 1, repeats dropped).
    pub sweep: Vec<usize>,
    /// Alternatives evaluated in the same sweep.
    pub alternatives: Vec<Alternative>,
    /// PCA dimensions; `None` = D − N for every N > 0 of the clamped sweep.
    pub pca_ks: Option<Vec<usize>>,
    /// Also retrain the linear probe at every point.
    pub linear: Option<LinearSettings>,
    /// Backend.
    pub backend: Backend,
    /// Tiles per forward pass.
    pub device_batch: usize,
    /// Bootstrap resamples per point (0 = no intervals).
    pub bootstrap_resamples: usize,
    /// Bootstrap seed.
    pub bootstrap_seed: u64,
}

impl VarianceConfig {
    /// Defaults: the study's splits, last layer, 1-NN dot product, the Cityscapes N sweep, all
    /// alternatives, no linear probe, 1000 bootstrap resamples.
    pub fn new(dataset: SegDataset, data_root: impl Into<PathBuf>) -> Self {
        Self {
            dataset,
            data_root: data_root.into(),
            train_split: dataset.default_train_split().into(),
            test_split: dataset.default_test_split().into(),
            layer: None,
            knn: KnnSettings::default(),
            sweep: CITYSCAPES_REMOVAL_SWEEP.to_vec(),
            alternatives: vec![
                Alternative::Bn,
                Alternative::BnProbe,
                Alternative::Standardize,
                Alternative::Whiten,
                Alternative::Pca,
            ],
            pca_ks: None,
            linear: None,
            backend: Backend::Flex,
            device_batch: 16,
            bootstrap_resamples: segmentation::DEFAULT_BOOTSTRAP_RESAMPLES,
            bootstrap_seed: 0,
        }
    }
}

/// Arguments of `eval variance`.
#[derive(Args, Debug)]
pub struct VarianceArgs {
    /// The model.
    #[command(flatten)]
    pub model: super::common::ModelArgs,
    /// Backend, batch size, feature cache.
    #[command(flatten)]
    pub run: super::common::RunArgs,
    /// Dataset, splits (train: spectrum, gallery, fitted statistics; test: queries), layer.
    #[command(flatten)]
    pub data: segmentation::SegDataArgs,
    /// Numbers of top-variance dimensions to delete (comma-separated; clamped to D − 1).
    #[arg(long, value_delimiter = ',', default_values_t = CITYSCAPES_REMOVAL_SWEEP.to_vec())]
    pub sweep: Vec<usize>,
    /// Alternatives in the same sweep (comma-separated; `none` for only the removal sweep).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = vec![Alternative::Bn, Alternative::BnProbe, Alternative::Standardize, Alternative::Whiten, Alternative::Pca])]
    pub alternatives: Vec<Alternative>,
    /// PCA dimensions k (comma-separated); default D − N for every N > 0 of the sweep.
    #[arg(long, value_delimiter = ',')]
    pub pca_k: Vec<usize>,
    /// Also retrain the linear probe (default hyper-parameters) at every point.
    #[arg(long)]
    pub linear: bool,
    /// k-NN neighbours.
    #[arg(long, default_value_t = 1)]
    pub k: usize,
    /// k-NN similarity.
    #[arg(long, value_enum, default_value = "dot")]
    pub similarity: SimilarityArg,
    /// k-NN vote.
    #[arg(long, value_enum, default_value = "nearest")]
    pub vote: VoteArg,
    /// Bootstrap resamples per point (0 = none).
    #[arg(long, default_value_t = segmentation::DEFAULT_BOOTSTRAP_RESAMPLES)]
    pub bootstrap: usize,
    /// results.json to write.
    #[arg(long)]
    pub out: PathBuf,
}

impl VarianceArgs {
    /// The configuration these arguments describe.
    pub fn config(&self) -> Result<VarianceConfig> {
        let mut c = VarianceConfig::new(self.data.dataset, &self.data.data_root);
        if let Some(s) = &self.data.train_split {
            c.train_split = s.clone();
        }
        if let Some(s) = &self.data.test_split {
            c.test_split = s.clone();
        }
        c.layer = self.data.layer;
        c.knn = segmentation::knn_settings(
            self.k,
            self.similarity,
            self.vote,
            patchlens_probe::knn::DINO_TEMPERATURE,
        )?;
        c.sweep = self.sweep.clone();
        c.alternatives = self.alternatives.clone();
        c.pca_ks = (!self.pca_k.is_empty()).then(|| self.pca_k.clone());
        c.linear = self.linear.then(LinearSettings::default);
        c.backend = self.run.backend;
        c.device_batch = self.run.device_batch;
        c.bootstrap_resamples = self.bootstrap;
        Ok(c)
    }
}

impl Alternative {
    /// Parse a suite-file name: `bn`, `bn_probe`, `standardize`, `whiten`, `pca` or `none`.
    pub fn from_suite(name: &str) -> Result<Alternative> {
        <Alternative as clap::ValueEnum>::from_str(&name.replace('_', "-"), true).map_err(|_| {
            anyhow::anyhow!(
                "unknown alternative `{name}` (bn, bn_probe, standardize, whiten, pca, none)"
            )
        })
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
struct Point {
    /// Metric key (`remove10`, `bn`, `bn_probe`, `pca192`, …).
    key: String,
    transform: FeatureTransform,
    /// k-NN mIoU and its interval.
    knn: (f64, Option<ConfidenceInterval>),
    /// Linear-probe mIoU and its interval (if asked for).
    linear: Option<(f64, Option<ConfidenceInterval>)>,
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

/// Run the variance analysis: returns two experiments, the spectrum ([`ExperimentKind::VarianceSpectrum`])
/// and the sweep ([`ExperimentKind::VarianceRemoval`]), whose curves share figure ids across models.
pub fn evaluate(
    cfg: &VarianceConfig,
    model: &LoadedModel,
    store: Option<&FeatureStore>,
) -> Result<Vec<Experiment>> {
    let t0 = Instant::now();
    let enc = segmentation::encode_splits(
        cfg.dataset,
        &cfg.data_root,
        &cfg.train_split,
        &cfg.test_split,
        cfg.layer,
        model,
        store,
        cfg.device_batch,
    )?;
    let encode_s = t0.elapsed().as_secs_f64();
    let d = enc.train.dim;
    if d < 2 {
        bail!("feature dimension {d} is too small for a removal sweep");
    }
    let space = cfg.dataset.label_space();
    let n_classes = space.num_raw();
    let device = model.vit.device().clone();
    let info = ModelInfo {
        zoo_name: model.name.clone(),
        weights_sha256: Some(model.weights_sha256.clone()),
        family: model.family.name().to_string(),
    };
    let base = format!(
        "{}/{}/{}/layer{}",
        cfg.dataset.name(),
        cfg.train_split,
        model.name,
        enc.layer
    );

    // 1. Spectrum.
    let spectrum = variance_spectrum(enc.train.view()?)?;
    let mut spec_e = Experiment::new(
        format!("variance_spectrum/{base}"),
        ExperimentKind::VarianceSpectrum,
        info.clone(),
    );
    let total: f64 = spectrum.sorted.iter().sum();
    let share = |n: usize| spectrum.sorted[..n.min(d)].iter().sum::<f64>() / total;
    spec_e
        .metrics
        .insert("variance_max".into(), spectrum.sorted[0]);
    spec_e
        .metrics
        .insert("variance_min".into(), spectrum.sorted[d - 1]);
    spec_e
        .metrics
        .insert("variance_median".into(), spectrum.sorted[d / 2]);
    spec_e.metrics.insert("variance_total".into(), total);
    for n in [10usize, 50, 200] {
        if n < d {
            spec_e
                .metrics
                .insert(format!("variance_share_top{n}"), share(n));
        }
    }
    spec_e.metrics.retain(|_, v| v.is_finite());
    let spec_fig = format!(
        "Feature variance spectrum ({} {}, layer {})",
        cfg.dataset.name(),
        cfg.train_split,
        enc.layer
    );
    spec_e.curves.push(Curve::new(
        spec_fig,
        model.name.clone(),
        "dimension rank (by variance)",
        "variance",
        (1..=d).map(|r| r as f64).collect(),
        spectrum.sorted.clone(),
    ));
    let mut p = serde_json::Map::new();
    p.insert("dataset".into(), cfg.dataset.name().into());
    p.insert("train_split".into(), cfg.train_split.clone().into());
    p.insert("layer".into(), enc.layer.into());
    p.insert("patches".into(), enc.train.len().into());
    p.insert("feature_dim".into(), d.into());
    p.insert(
        "variance".into(),
        "population variance (ddof = 0) per dimension over all train patches".into(),
    );
    p.insert("order".into(), serde_json::to_value(&spectrum.order)?);
    p.insert(
        "sorted_variance".into(),
        serde_json::to_value(&spectrum.sorted)?,
    );
    p.insert("tile_spec".into(), serde_json::to_value(&enc.spec)?);
    spec_e.protocol = p;

    // 2. Sweep.
    let removals = clamp_sweep(&cfg.sweep, d - 1);
    let transforms = sweep_transforms(&removals, &cfg.alternatives, d, cfg.pca_ks.as_deref())?;
    let t_sweep = Instant::now();
    let n_points = transforms.len();
    let mut done = 0usize;
    // Score one transformed gallery/query pair: k-NN (and the linear probe if asked for).
    let evaluate_point =
        |key: String, transform: FeatureTransform, g: MatRef<'_>, q: MatRef<'_>| -> Result<Point> {
            let score = |preds: &[u32]| -> Result<(f64, Option<ConfidenceInterval>)> {
                let ev = features::evaluate_predictions(
                    &space,
                    &enc.spec,
                    &enc.test_split,
                    &enc.test,
                    preds,
                )?;
                let ci = if cfg.bootstrap_resamples >= 2 {
                    Some(features::miou_ci(
                        &ev,
                        cfg.bootstrap_resamples,
                        cfg.bootstrap_seed,
                    )?)
                } else {
                    None
                };
                Ok((ev.total.miou(), ci))
            };
            let preds = features::knn_predict(
                g,
                &enc.train.labels,
                q,
                n_classes,
                &cfg.knn,
                cfg.backend,
                &device,
            )?;
            let knn = score(&preds)?;
            let linear = match &cfg.linear {
                Some(ls) => {
                    let lc = ls.probe_config(n_classes, model.family);
                    let (lp, _) = features::linear_predict(
                        g,
                        &enc.train.labels,
                        q,
                        &enc.test.labels,
                        &lc,
                        &device,
                    )?;
                    Some(score(&lp)?)
                }
                None => None,
            };
            Ok(Point {
                key,
                transform,
                knn,
                linear,
            })
        };
    let results = patchlens_probe::variance::sweep(
        enc.train.view()?,
        enc.test.view()?,
        &transforms,
        |fitted, g, q| {
            done += 1;
            let key = key_of(&fitted.transform());
            eprintln!("[{done}/{n_points}] {key}");
            Ok(evaluate_point(key, fitted.transform(), g, q))
        },
    )?;
    let mut points: Vec<Point> = results.into_iter().collect::<Result<_>>()?;
    let mut bn_probe_record = None;
    if cfg.alternatives.contains(&Alternative::BnProbe) {
        eprintln!("[bn_probe] training a BatchNorm linear probe for its running statistics");
        let ls = cfg.linear.clone().unwrap_or_default();
        let (fitted, rec) = features::probe_batch_norm(
            enc.train.view()?,
            &enc.train.labels,
            enc.test.view()?,
            &enc.test.labels,
            &ls.probe_config(n_classes, model.family),
            &device,
        )?;
        let g = fitted.apply(enc.train.view()?)?;
        let q = fitted.apply(enc.test.view()?)?;
        points.push(evaluate_point(
            "bn_probe".into(),
            fitted.transform(),
            g.view(),
            q.view(),
        )?);
        bn_probe_record = Some(rec);
    }
    let sweep_s = t_sweep.elapsed().as_secs_f64();

    let mut sw = Experiment::new(
        format!("variance_removal/{base}"),
        ExperimentKind::VarianceRemoval,
        info,
    );
    let paper_mae = features::paper_model(&model.name) == Some("mae")
        && cfg.dataset == SegDataset::Cityscapes
        && enc.layer == 12
        && cfg.train_split == patchlens_data::cityscapes::DEFAULT_TRAIN_POOL
        && cfg.test_split == patchlens_data::cityscapes::VAL_POOL
        && cfg.knn == KnnSettings::default();
    let pm = features::paper_model(&model.name);
    let x_max = removals.last().copied().unwrap_or(0) as f64;
    let probes: Vec<(&str, &str)> = std::iter::once(("knn", "k-NN"))
        .chain(cfg.linear.as_ref().map(|_| ("linear", "linear-probe")))
        .collect();
    for (probe, probe_label) in probes {
        let get = |pt: &Point| {
            if probe == "knn" {
                Some(pt.knn.clone())
            } else {
                pt.linear.clone()
            }
        };
        for pt in &points {
            if let Some((m, ci)) = get(pt) {
                let key = format!("{probe}_miou/{}", pt.key);
                if m.is_finite() {
                    sw.metrics.insert(key.clone(), m);
                }
                if let Some(ci) = ci {
                    sw.confidence_intervals.insert(key, ci);
                }
            }
        }
        let fig = format!(
            "{probe_label} mIoU without the top-N variance dimensions ({} {}, layer {})",
            cfg.dataset.name(),
            cfg.train_split,
            enc.layer
        );
        // Series: removal, PCA at N = D − k, and the full-dimension alternatives as horizontal lines.
        let mut series: Vec<Series> = Vec::new();
        let mut push = |label: String, x: f64, y: f64, ci: Option<ConfidenceInterval>| match series
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
        for pt in &points {
            let Some((m, ci)) = get(pt) else { continue };
            match pt.transform {
                FeatureTransform::RemoveTopVariance { n } => {
                    push(format!("{}: remove top-N", model.name), n as f64, m, ci)
                }
                FeatureTransform::Pca { k } => push(
                    format!("{}: PCA-k (N = D − k)", model.name),
                    (d - k) as f64,
                    m,
                    ci,
                ),
                _ => {
                    let label = format!("{}: {}", model.name, pt.key);
                    push(label.clone(), 0.0, m, ci.clone());
                    push(label, x_max, m, ci);
                }
            }
        }
        for (label, x, y, cis) in series {
            let mut order: Vec<usize> = (0..x.len()).collect();
            order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
            let mut c = Curve::new(
                fig.clone(),
                label.clone(),
                "top-variance dimensions removed (N)",
                "mIoU",
                order.iter().map(|&i| x[i]).collect(),
                order.iter().map(|&i| y[i]).collect(),
            );
            c.plot = Some(PlotKind::Line);
            if cis.iter().all(Option::is_some) {
                c.y_lower = Some(
                    order
                        .iter()
                        .map(|&i| cis[i].as_ref().map_or(f64::NAN, |c| c.lower))
                        .collect(),
                );
                c.y_upper = Some(
                    order
                        .iter()
                        .map(|&i| cis[i].as_ref().map_or(f64::NAN, |c| c.upper))
                        .collect(),
                );
            }
            if paper_mae && label.ends_with("remove top-N") {
                c.paper = Some(PaperKey::new(
                    "cityscapes_mae_high_variance_removal",
                    format!("{probe}/removed{{x}}"),
                    "mae",
                ));
            }
            sw.curves.push(c);
        }
        // The study's "+ BN" points (§6.3) used a trained probe's running statistics: compare them with
        // `bn_probe` when it was run, else with the gallery-statistics `bn`.
        let bn_key = [format!("{probe}_miou/bn_probe"), format!("{probe}_miou/bn")]
            .into_iter()
            .find(|k| sw.metrics.contains_key(k));
        if let Some(pm) = pm
            && (pm == "mae" || pm == "simmim")
            && paper_mae_like(cfg, enc.layer)
            && let Some(bn_key) = bn_key
        {
            sw.paper.insert(
                bn_key,
                PaperKey::new(
                    "cityscapes_mae_high_variance_removal",
                    format!("batchnorm/{probe}"),
                    pm,
                ),
            );
        }
        if paper_mae {
            for n in &removals {
                let key = format!("{probe}_miou/remove{n}");
                if sw.metrics.contains_key(&key) {
                    sw.paper.insert(
                        key,
                        PaperKey::new(
                            "cityscapes_mae_high_variance_removal",
                            format!("{probe}/removed{n}"),
                            "mae",
                        ),
                    );
                }
            }
        }
    }
    let mut p = serde_json::Map::new();
    p.insert("dataset".into(), cfg.dataset.name().into());
    p.insert("train_split".into(), cfg.train_split.clone().into());
    p.insert("test_split".into(), cfg.test_split.clone().into());
    p.insert("layer".into(), enc.layer.into());
    p.insert("feature_dim".into(), d.into());
    p.insert("gallery_patches".into(), enc.train.len().into());
    p.insert("query_patches".into(), enc.test.len().into());
    p.insert("sweep_requested".into(), serde_json::to_value(&cfg.sweep)?);
    p.insert("sweep".into(), serde_json::to_value(&removals)?);
    p.insert("transforms".into(), serde_json::to_value(&transforms)?);
    p.insert("knn".into(), serde_json::to_value(cfg.knn)?);
    if let Some(l) = &cfg.linear {
        p.insert(
            "linear".into(),
            serde_json::to_value(l.probe_config(n_classes, model.family))?,
        );
    }
    p.insert(
        "notes".into(),
        "statistics, variance order and eigenvectors from the train patches; bn uses the gallery mean/variance, \
         bn_probe the running statistics of a linear probe trained with BatchNorm on the train patches (the \
         study's §6.3); PCA-k plotted at N = D - k; N clamped to D - 1"
            .into(),
    );
    if let Some(r) = bn_probe_record {
        p.insert("bn_probe".into(), r);
    }
    p.insert(
        "timings_s".into(),
        serde_json::json!({"encode": encode_s, "sweep": sweep_s}),
    );
    p.insert("tile_spec".into(), serde_json::to_value(&enc.spec)?);
    sw.protocol = p;
    Ok(vec![spec_e, sw])
}

fn paper_mae_like(cfg: &VarianceConfig, layer: usize) -> bool {
    cfg.dataset == SegDataset::Cityscapes
        && layer == 12
        && cfg.train_split == patchlens_data::cityscapes::DEFAULT_TRAIN_POOL
        && cfg.test_split == patchlens_data::cityscapes::VAL_POOL
        && cfg.knn == KnnSettings::default()
}

/// Run `eval variance`.
pub fn run(args: &VarianceArgs) -> Result<()> {
    let cfg = args.config()?;
    let (exps, run) = super::common::run_timed(
        &args.model,
        &args.run,
        &args.out,
        "variance",
        |model, store| evaluate(&cfg, model, store),
    )?;
    let mut metrics = serde_json::Map::new();
    for e in &exps {
        if let serde_json::Value::Object(m) = segmentation::summary_metrics(e) {
            for (k, v) in m {
                match (metrics.get_mut(&k), v) {
                    (Some(serde_json::Value::Object(a)), serde_json::Value::Object(b)) => {
                        a.extend(b)
                    }
                    (_, v) => {
                        metrics.insert(k, v);
                    }
                }
            }
        }
    }
    let m = &exps[1].metrics;
    let best = m
        .iter()
        .filter(|(k, _)| k.starts_with("knn_miou/remove"))
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(k, v)| format!("{} {v:.4}", k.trim_start_matches("knn_miou/")))
        .unwrap_or_default();
    let line = format!(
        "variance {}: top variance {:.4}, k-NN mIoU remove0 {:.4}, best {best}  -> {}",
        exps[0].name,
        exps[0]
            .metrics
            .get("variance_max")
            .copied()
            .unwrap_or(f64::NAN),
        m.get("knn_miou/remove0").copied().unwrap_or(f64::NAN),
        args.out.display()
    );
    let mut results = Results::new(run);
    results.experiments.extend(exps);
    segmentation::write_results(&args.out, &results, serde_json::Value::Object(metrics))?;
    println!("{line}");
    Ok(())
}
