//! Robustness to image degradations (protocol §5): the test images are blurred (`cv2.blur`, k = 2/4/6/8),
//! noised (Gaussian σ = 10/20/30/40 on the 0–255 scale) or given band-limited frequency noise (bands
//! low…high), and probed with the gallery / probe fitted on the clean train images.

use std::time::Instant;

use patchlens_image::{Degradation, ImageU8};
use patchlens_probe::knn::KnnConfig;
use patchlens_report::{
    ConfidenceInterval, Curve, Experiment, ExperimentKind, ModelInfo, PaperKey, PlotKind,
};
use serde::{Deserialize, Serialize};

use crate::encode::TokenSource;
use crate::error::{EvalError, Result};
use crate::layers::LayerSel;
use crate::segmentation::{
    Bootstrap, LinearSettings, ProbeKind, ScoreCtx, SegSource, SplitFeatures, encode_pair, extract,
    probe,
};

/// A kind of degradation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DegradeKind {
    /// `cv2.blur` with a k × k box kernel.
    Blur,
    /// Additive Gaussian noise.
    Noise,
    /// Band-limited frequency noise.
    Freq,
}

impl DegradeKind {
    /// All three, in the study's order.
    pub const ALL: [DegradeKind; 3] = [DegradeKind::Blur, DegradeKind::Noise, DegradeKind::Freq];

    /// `blur`, `noise`, `freq`.
    pub fn name(self) -> &'static str {
        match self {
            DegradeKind::Blur => "blur",
            DegradeKind::Noise => "noise",
            DegradeKind::Freq => "freq",
        }
    }
}

/// A degradation of the test images with its protocol level.
#[derive(Clone, Copy, Debug)]
pub struct Degrade {
    /// Kind.
    pub kind: DegradeKind,
    /// Level 1–4.
    pub level: u8,
    /// The operation.
    pub op: Degradation,
    /// Noise seed.
    pub seed: u64,
}

impl Degrade {
    /// Protocol level `level` of `kind` (see [`Degradation::level`]).
    pub fn new(kind: DegradeKind, level: u8, seed: u64) -> Result<Self> {
        Ok(Self {
            kind,
            level,
            op: Degradation::level(kind.name(), level as usize)?,
            seed,
        })
    }

    /// The paper's setting name: `blur/<px>`, `noise/<σ>`, `frequency/<high|2|3|low>`.
    pub fn paper_setting(&self) -> String {
        let i = self.level as usize - 1;
        match self.kind {
            DegradeKind::Blur => format!("blur/{}", patchlens_image::BLUR_KERNELS[i]),
            DegradeKind::Noise => format!("noise/{}", patchlens_image::NOISE_SIGMAS[i]),
            // The figure's bands run high → low: "high", "2", "3", "low". Our band 4 is its "high", band 3
            // the second-highest ("2"), band 2 the third ("3"), band 1 its "low".
            DegradeKind::Freq => format!("frequency/{}", ["low", "3", "2", "high"][i]),
        }
    }

    /// Cache / name tag.
    pub fn tag(&self) -> String {
        format!("{}{}-seed{}", self.kind.name(), self.level, self.seed)
    }

    /// Degrade tile `tile` of image `image` (noise seeded per (seed, image, tile)).
    pub fn apply(&self, img: &ImageU8, image: u64, tile: u64) -> Result<ImageU8> {
        Ok(self.op.apply(img, mix(self.seed, image, tile))?)
    }
}

/// A per-(image, tile) noise seed.
fn mix(seed: u64, image: u64, tile: u64) -> u64 {
    let mut z =
        seed ^ image.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ tile.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A degradation experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DegradationConfig {
    /// The dataset.
    pub source: SegSource,
    /// Probes (default `[knn]`).
    #[serde(default = "default_probes")]
    pub probes: Vec<ProbeKind>,
    /// Train split (gallery / probe; default: the dataset's).
    #[serde(default)]
    pub train_split: Option<String>,
    /// Test split (degraded; default: the dataset's).
    #[serde(default)]
    pub test_split: Option<String>,
    /// Layers (default `last`).
    #[serde(default)]
    pub layers: Vec<LayerSel>,
    /// Kinds (default all three).
    #[serde(default = "default_kinds")]
    pub kinds: Vec<DegradeKind>,
    /// Levels 1–4 (default all).
    #[serde(default = "default_levels")]
    pub levels: Vec<u8>,
    /// Noise seed.
    #[serde(default)]
    pub seed: u64,
    /// The k-NN classifier.
    #[serde(default)]
    pub knn: KnnConfig,
    /// The linear probe's recipe.
    #[serde(default)]
    pub linear: LinearSettings,
    /// mIoU intervals.
    #[serde(default)]
    pub bootstrap: Bootstrap,
    /// Id in a suite (names the experiments: `<id>/<probe>/<model>/layer<L>`; default `degradation`).
    #[serde(default)]
    pub id: Option<String>,
}

fn default_probes() -> Vec<ProbeKind> {
    vec![ProbeKind::Knn]
}
fn default_kinds() -> Vec<DegradeKind> {
    DegradeKind::ALL.to_vec()
}
fn default_levels() -> Vec<u8> {
    vec![1, 2, 3, 4]
}

impl DegradationConfig {
    /// Every kind and level on `source`, k-NN, last layer.
    pub fn new(source: SegSource) -> Self {
        Self {
            source,
            probes: default_probes(),
            train_split: None,
            test_split: None,
            layers: Vec::new(),
            kinds: default_kinds(),
            levels: default_levels(),
            seed: 0,
            knn: KnnConfig::default(),
            linear: LinearSettings::default(),
            bootstrap: Bootstrap::default(),
            id: None,
        }
    }

    /// Check values; errors name the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |f: &str, m: String| Err(EvalError::invalid("degradation", f, m));
        if self.probes.is_empty() {
            return bad("probes", "is empty".into());
        }
        if self.kinds.is_empty() {
            return bad("kinds", "is empty (blur, noise, freq)".into());
        }
        if let Some(l) = self.levels.iter().find(|l| !(1..=4).contains(*l)) {
            return bad("levels", format!("level {l} is not 1..=4"));
        }
        if self.levels.is_empty() {
            return bad("levels", "is empty".into());
        }
        Ok(())
    }
}

/// One degraded setting's score.
#[derive(Clone, Debug)]
pub struct DegradedScore {
    /// The degradation (`None`: the clean test images).
    pub degrade: Option<Degrade>,
    /// mIoU.
    pub miou: f64,
    /// Its interval.
    pub ci: ConfidenceInterval,
}

/// One probe × layer: clean and degraded scores.
#[derive(Clone, Debug)]
pub struct DegradationRun {
    /// The probe.
    pub probe: ProbeKind,
    /// The linear probe's configuration (`None` for k-NN).
    pub linear: Option<patchlens_probe::linear::LinearProbeConfig>,
    /// Layer.
    pub layer: usize,
    /// Clean first, then every kind × level.
    pub scores: Vec<DegradedScore>,
}

/// Everything a degradation experiment measured.
#[derive(Clone, Debug)]
pub struct DegradationResult {
    /// The model.
    pub model: ModelInfo,
    /// The study's name for the model.
    pub paper_model: Option<String>,
    /// The configuration.
    pub config: DegradationConfig,
    /// Train split used.
    pub train_split: String,
    /// Test split used.
    pub test_split: String,
    /// The tiling protocol.
    pub spec: patchlens_data::TileSpec,
    /// Runs (probe-major).
    pub runs: Vec<DegradationRun>,
    /// Seconds.
    pub seconds: f64,
}

/// A probe fitted once on the clean gallery.
enum Fitted {
    Knn,
    Linear(Box<patchlens_probe::linear::LinearProbe>),
}

/// Run the experiment.
pub fn run(cfg: &DegradationConfig, tokens: &dyn TokenSource) -> Result<DegradationResult> {
    cfg.validate()?;
    let t0 = Instant::now();
    let enc = encode_pair(
        &cfg.source,
        tokens,
        cfg.train_split.as_deref(),
        cfg.test_split.as_deref(),
        &cfg.layers,
        "degradation",
    )?;
    let (layers, spec, space) = (&enc.layers, &enc.spec, &enc.space);
    let mut tests: Vec<(
        Option<Degrade>,
        std::collections::BTreeMap<usize, SplitFeatures>,
    )> = vec![(None, enc.test_f.clone())];
    for &k in &cfg.kinds {
        for &l in &cfg.levels {
            let d = Degrade::new(k, l, cfg.seed)?;
            let f = extract(
                tokens,
                &enc.test,
                &enc.test_tag,
                spec,
                space,
                layers,
                Some(&d),
            )?;
            tests.push((Some(d), f));
        }
    }
    let ctx = ScoreCtx {
        space,
        spec,
        test_split: &enc.test,
        bootstrap: Bootstrap {
            resamples: cfg.bootstrap.resamples.max(2),
            seed: cfg.bootstrap.seed,
        },
        cityscapes: cfg.source.is_cityscapes(),
    };
    let device = tokens.device();
    let n_classes = space.num_raw();
    let mut runs = Vec::new();
    for &probe in &cfg.probes {
        for &layer in layers {
            let train = &enc.train_f[&layer];
            // The linear probe is trained once on the clean gallery and applied to every test variant.
            // The study's recipe selects its epoch on the clean reported test set.
            let linear = probe.linear_config(&cfg.linear, n_classes, tokens.family());
            let fitted = match &linear {
                None => Fitted::Knn,
                Some(lc) => {
                    let clean = &enc.test_f[&layer];
                    let val = (lc.selection == patchlens_probe::linear::Selection::ReportedValSet)
                        .then(|| -> Result<_> {
                            Ok(patchlens_probe::linear::Labelled {
                                x: clean.view()?,
                                labels: &clean.labels,
                            })
                        })
                        .transpose()?;
                    Fitted::Linear(Box::new(patchlens_probe::linear::train(
                        &device,
                        patchlens_probe::linear::Labelled {
                            x: train.view()?,
                            labels: &train.labels,
                        },
                        val,
                        lc,
                    )?))
                }
            };
            let mut scores = Vec::with_capacity(tests.len());
            for (d, tf) in &tests {
                let test = &tf[&layer];
                let preds = match &fitted {
                    Fitted::Knn => probe::knn_predict(
                        train.view()?,
                        &train.labels,
                        test.view()?,
                        n_classes,
                        &cfg.knn,
                        &device,
                    )?,
                    Fitted::Linear(p) => p.head.predict(test.view()?)?,
                };
                let eval = ctx.evaluate(test, &preds)?;
                let ci = ctx.interval(&eval)?.expect("at least 2 resamples");
                scores.push(DegradedScore {
                    degrade: *d,
                    miou: eval.total.miou(),
                    ci,
                });
            }
            runs.push(DegradationRun {
                probe,
                linear,
                layer,
                scores,
            });
        }
    }
    Ok(DegradationResult {
        model: tokens.info(),
        paper_model: tokens.paper_model().map(str::to_string),
        config: cfg.clone(),
        train_split: enc.train_split.clone(),
        test_split: enc.test_split.clone(),
        spec: enc.spec.clone(),
        runs,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

impl DegradationResult {
    /// One experiment per probe × layer: metrics `clean` and `<paper setting>` (e.g. `blur/4`), each
    /// with its interval; the deepest layer of the run also draws a degraded-vs-clean scatter and a
    /// by-level line per kind (a sweep over all 12 layers would otherwise draw 12 of each).
    pub fn experiments(&self) -> Vec<Experiment> {
        let c = &self.config;
        let id = c.id.as_deref().unwrap_or("degradation");
        let ds = c.source.name();
        let model = &self.model.zoo_name;
        let figure_layer = self.runs.iter().map(|r| r.layer).max();
        let mut out = Vec::new();
        for r in &self.runs {
            let probe = r.probe.name();
            let layer = r.layer;
            let mut e = Experiment::new(
                format!("{id}/{probe}/{model}/layer{layer}"),
                ExperimentKind::Degradation,
                self.model.clone(),
            );
            let mut clean = f64::NAN;
            // Curves in kind-name order (blur, freq, noise).
            let mut by_kind: std::collections::BTreeMap<&str, Vec<(u8, f64)>> = Default::default();
            for s in &r.scores {
                let setting = s
                    .degrade
                    .map(|d| d.paper_setting())
                    .unwrap_or_else(|| "clean".into());
                e.metrics.insert(setting.clone(), s.miou);
                e.confidence_intervals.insert(setting.clone(), s.ci.clone());
                match s.degrade {
                    None => clean = s.miou,
                    Some(d) => by_kind
                        .entry(d.kind.name())
                        .or_default()
                        .push((d.level, s.miou)),
                }
                if let Some(pm) = self.paper_model.as_deref()
                    && c.source.is_cityscapes()
                    && r.probe.paper_name() == ProbeKind::Linear.name()
                    && layer == 12
                    && self.train_split == patchlens_data::cityscapes::DEFAULT_TRAIN_POOL
                    && self.test_split == patchlens_data::cityscapes::VAL_POOL
                {
                    e.paper.insert(
                        setting.clone(),
                        PaperKey::new("cityscapes_degradation_linear_layer12_approx", setting, pm)
                            .with_note(crate::segmentation::probe::recipe_note(
                                &c.knn,
                                r.linear.as_ref(),
                            )),
                    );
                }
            }
            if Some(layer) != figure_layer {
                by_kind.clear();
            }
            for (kind, pts) in by_kind {
                let mut sc = Curve::new(
                    format!(
                        "{ds} degradation, {probe} (layer {layer}): {kind}, degraded vs clean mIoU"
                    ),
                    model.clone(),
                    "clean mIoU",
                    "degraded mIoU",
                    pts.iter().map(|_| clean).collect(),
                    pts.iter().map(|p| p.1).collect(),
                );
                sc.plot = Some(PlotKind::Scatter);
                sc.point_labels = Some(pts.iter().map(|p| format!("L{}", p.0)).collect());
                e.curves.push(sc);
                let mut xs = vec![0.0];
                let mut ys = vec![clean];
                xs.extend(pts.iter().map(|p| p.0 as f64));
                ys.extend(pts.iter().map(|p| p.1));
                let mut lc = Curve::new(
                    format!("{ds} {probe} mIoU (layer {layer}) by {kind} level (0 = clean)"),
                    model.clone(),
                    "level",
                    "mIoU",
                    xs,
                    ys,
                );
                lc.plot = Some(PlotKind::Line);
                e.curves.push(lc);
            }
            e.metrics.retain(|_, v| v.is_finite());
            let p = &mut e.protocol;
            p.insert("train_split".into(), self.train_split.clone().into());
            p.insert("test_split".into(), self.test_split.clone().into());
            p.insert("layer".into(), layer.into());
            p.insert("probe".into(), probe.into());
            p.insert(
                "recipe".into(),
                crate::segmentation::probe::recipe_note(&c.knn, r.linear.as_ref()).into(),
            );
            p.insert(
                "kinds".into(),
                serde_json::to_value(&c.kinds).unwrap_or_default(),
            );
            p.insert(
                "levels".into(),
                serde_json::to_value(&c.levels).unwrap_or_default(),
            );
            p.insert(
                "degradation".into(),
                "applied to the test tiles only (u8, before the model-input resize and normalisation); gallery / probe from clean train images; noise seeded per (seed, image, tile)".into(),
            );
            p.insert("level_parameters".into(), serde_json::json!({
                "blur": "cv2.blur k×k, k = 2/4/6/8", "noise": "Gaussian σ = 10/20/30/40 (0–255), clipped",
                "freq": format!("band-limited noise, RMS {}, bands 1 (low) to 4 (high) = the paper's low / 3 / 2 / high", patchlens_image::FREQ_NOISE_SIGMA),
            }));
            p.insert("seed".into(), c.seed.into());
            p.insert(
                "tile_spec".into(),
                serde_json::to_value(&self.spec).unwrap_or_default(),
            );
            if r.probe == ProbeKind::Knn {
                p.insert(
                    "knn".into(),
                    serde_json::to_value(&c.knn).unwrap_or_default(),
                );
            } else {
                p.insert(
                    "linear".into(),
                    serde_json::to_value(&c.linear).unwrap_or_default(),
                );
            }
            out.push(e);
        }
        out
    }
}

impl DegradationResult {
    /// One line per probe × layer: clean mIoU and the mean over the degraded settings.
    pub fn summary_lines(&self) -> Vec<String> {
        let id = self.config.id.as_deref().unwrap_or("degradation");
        self.runs
            .iter()
            .map(|r| {
                let clean = r.scores.iter().find(|s| s.degrade.is_none());
                let degraded: Vec<f64> = r
                    .scores
                    .iter()
                    .filter(|s| s.degrade.is_some())
                    .map(|s| s.miou)
                    .collect();
                format!(
                    "{id}/{}/{}/layer{}: clean {}, mean over {} degraded settings {:.4}",
                    r.probe.name(),
                    self.model.zoo_name,
                    r.layer,
                    clean.map_or("-".into(), |c| crate::segmentation::fmt_ci(
                        c.miou,
                        Some(&c.ci)
                    )),
                    degraded.len(),
                    degraded.iter().sum::<f64>() / degraded.len().max(1) as f64
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_settings_of_degradations() {
        let s = |k, l: u8| Degrade::new(k, l, 0).unwrap().paper_setting();
        assert_eq!(s(DegradeKind::Blur, 1), "blur/2");
        assert_eq!(s(DegradeKind::Blur, 4), "blur/8");
        assert_eq!(s(DegradeKind::Noise, 3), "noise/30");
        assert_eq!(s(DegradeKind::Freq, 4), "frequency/high");
        assert_eq!(s(DegradeKind::Freq, 1), "frequency/low");
        // The paper's columns run high → low ("high", "2", "3", "low"): its "2" is the band next to the
        // highest (our band 3), its "3" the one next to the lowest (our band 2).
        assert_eq!(s(DegradeKind::Freq, 3), "frequency/2");
        assert_eq!(s(DegradeKind::Freq, 2), "frequency/3");
        assert!(Degrade::new(DegradeKind::Blur, 5, 0).is_err());
    }

    #[test]
    fn noise_seeds_differ_per_tile() {
        assert_ne!(mix(0, 0, 1), mix(0, 1, 0));
        assert_eq!(mix(3, 4, 5), mix(3, 4, 5));
    }
}
