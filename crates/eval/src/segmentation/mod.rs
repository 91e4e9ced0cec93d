//! Few-shot patch segmentation (protocol §3–§4): a k-NN or a linear probe on frozen patch tokens,
//! scored at full label resolution — for every probe × train split × layer of one dataset, with the
//! study's summary figures (mIoU by probe and train pool; mIoU by layer with the Cityscapes easy / hard
//! class groups).
//!
//! Pipeline: every train / test image is tiled by its dataset's [`TileSpec`] (Cityscapes 4×8 tiles of
//! 256 → 224 bicubic on the normalised float tile; ADE20K, CamVid and folder datasets resized to 672×448
//! bilinear, 2×3 tiles of 224; synthetic scenes at the model's native scale), encoded once for all
//! layers (cached per image), and each patch gets the centre pixel of its tile's label map. The gallery
//! is *all* train patches, void included, with raw label ids (the study). The probe predicts raw ids for
//! every test patch; predictions are back-projected and scored with the dataset's label space
//! (Cityscapes 19 classes, predicted void = wrong; ADE20K 150, 0 ignored; CamVid 11, void ignored).
//! mIoU comes with a 95 % bootstrap interval over test images.
//!
//! ```no_run
//! # fn main() -> patchlens_eval::Result<()> {
//! use patchlens_eval::segmentation::{self, SegSource, SegmentationConfig};
//! use patchlens_eval::{ModelSource, ModelSpec, ModelTokens};
//! let model = ModelSpec::zoo("dinov2_vits14")?.load(
//!     &ModelSource::Weights { path: "dinov2_vits14.safetensors".into(), part: None },
//!     &patchlens_vit::Device::flex(),
//! )?;
//! let cfg = SegmentationConfig::new(SegSource::Camvid { root: "data/camvid".into() });
//! let res = segmentation::run(&cfg, &ModelTokens::new(&model, None, 16))?;
//! println!("mIoU {:.3}", res.runs[0].scores.miou);
//! # Ok(()) }
//! ```

pub mod features;
pub mod probe;
pub mod score;
pub mod source;
pub mod synthetic;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use patchlens_data::{SegmentationSplit, TileSpec};
use patchlens_metrics::LabelSpace;
use patchlens_probe::knn::KnnConfig;
use patchlens_report::{
    ConfidenceInterval, Curve, Experiment, ExperimentKind, ImageArtifact, ImageSource, ModelInfo,
    PaperKey, PlotKind,
};
use serde::{Deserialize, Serialize};

use crate::encode::TokenSource;
use crate::error::{Context, EvalError, Result};
use crate::layers::{LayerSel, resolve_layers};
pub use features::{ImageSlot, SplitFeatures, extract};
pub use probe::{LinearSettings, Normalize, ProbeKind};
pub use score::SegEvaluation;
pub use source::SegSource;

/// Default number of bootstrap resamples of an mIoU interval.
pub const DEFAULT_BOOTSTRAP_RESAMPLES: usize = 1000;

/// Bootstrap settings of the mIoU intervals.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bootstrap {
    /// Resamples (below 2: no interval).
    pub resamples: usize,
    /// Seed.
    pub seed: u64,
}

impl Default for Bootstrap {
    /// 1000 resamples, seed 0.
    fn default() -> Self {
        Bootstrap {
            resamples: DEFAULT_BOOTSTRAP_RESAMPLES,
            seed: 0,
        }
    }
}

/// A segmentation experiment: every probe × train split × layer on one dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentationConfig {
    /// The dataset.
    pub source: SegSource,
    /// Probes (default `[knn]`).
    #[serde(default = "default_probes")]
    pub probes: Vec<ProbeKind>,
    /// Train splits / pools (default: the dataset's, see [`SegSource::default_train_split`]).
    #[serde(default)]
    pub train_splits: Vec<String>,
    /// Test split (default: the dataset's).
    #[serde(default)]
    pub test_split: Option<String>,
    /// Layers (numbers, `last`, `all`; default `last`).
    #[serde(default)]
    pub layers: Vec<LayerSel>,
    /// The k-NN classifier (the study: 1-NN, dot product).
    #[serde(default)]
    pub knn: KnnConfig,
    /// The linear probe's recipe.
    #[serde(default)]
    pub linear: LinearSettings,
    /// Delete this many highest-variance dimensions (indices from the train patches) first.
    #[serde(default)]
    pub remove_top_variance: usize,
    /// Then normalise (statistics from the train patches).
    #[serde(default)]
    pub normalize: Normalize,
    /// mIoU intervals.
    #[serde(default)]
    pub bootstrap: Bootstrap,
    /// Id of the experiment in a suite: names the summary (`<id>/summary/<model>`) and layer-sweep
    /// (`<id>/<probe>/<model>`) experiments. Default `segmentation`.
    #[serde(default)]
    pub id: Option<String>,
    /// Folder the sample colour maps are written to (none: no maps).
    #[serde(default)]
    pub maps_dir: Option<PathBuf>,
}

fn default_probes() -> Vec<ProbeKind> {
    vec![ProbeKind::Knn]
}

impl SegmentationConfig {
    /// The study's defaults on `source`: its default splits, last layer, 1-NN dot product, no feature
    /// transform, 1000 bootstrap resamples with seed 0, no sample maps.
    pub fn new(source: SegSource) -> Self {
        Self {
            source,
            probes: default_probes(),
            train_splits: Vec::new(),
            test_split: None,
            layers: Vec::new(),
            knn: KnnConfig::default(),
            linear: LinearSettings::default(),
            remove_top_variance: 0,
            normalize: Normalize::None,
            bootstrap: Bootstrap::default(),
            id: None,
            maps_dir: None,
        }
    }

    /// The train splits (the dataset's default when none is given).
    pub fn train_splits(&self) -> Vec<String> {
        if self.train_splits.is_empty() {
            vec![self.source.default_train_split().to_string()]
        } else {
            self.train_splits.clone()
        }
    }

    /// The test split.
    pub fn test_split(&self) -> String {
        self.test_split
            .clone()
            .unwrap_or_else(|| self.source.default_test_split().to_string())
    }

    /// Check the values that do not depend on the model; errors name the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, msg: String| Err(EvalError::invalid("segmentation", field, msg));
        if self.probes.is_empty() {
            return bad("probes", "is empty (give knn and/or linear)".into());
        }
        if self.knn.search.k == 0 {
            return bad("knn.search.k", "must be at least 1".into());
        }
        if let patchlens_probe::knn::Vote::Softmax { temperature } = self.knn.vote
            && !(temperature.is_finite() && temperature > 0.0)
        {
            return bad(
                "knn.vote.temperature",
                format!("must be finite and > 0, found {temperature}"),
            );
        }
        if self.linear.epochs == 0 || self.linear.batch_size == 0 {
            return bad(
                "linear",
                format!(
                    "epochs and batch_size must be at least 1 (found {} and {})",
                    self.linear.epochs, self.linear.batch_size
                ),
            );
        }
        if !(self.linear.lr.is_finite() && self.linear.lr > 0.0) {
            return bad(
                "linear.lr",
                format!("must be finite and > 0, found {}", self.linear.lr),
            );
        }
        Ok(())
    }
}

/// A dataset's protocol, label space and one train / test pair of splits encoded at some layers: what the
/// single-pair experiments (degradation, variance) start from.
pub struct EncodedPair {
    /// Layers encoded.
    pub layers: Vec<usize>,
    /// The tiling protocol.
    pub spec: TileSpec,
    /// The label space.
    pub space: LabelSpace,
    /// Train split name.
    pub train_split: String,
    /// Test split name.
    pub test_split: String,
    /// The test split (label maps are re-read for scoring).
    pub test: SegmentationSplit,
    /// The test split's feature-cache tag.
    pub test_tag: String,
    /// Train features per layer.
    pub train_f: BTreeMap<usize, SplitFeatures>,
    /// Test features per layer.
    pub test_f: BTreeMap<usize, SplitFeatures>,
}

/// Resolve `layers` for `tokens`, open `train` / `test` of `source` (its defaults when `None`) and encode
/// both at those layers. `what` names the experiment in errors.
pub fn encode_pair(
    source: &SegSource,
    tokens: &dyn TokenSource,
    train: Option<&str>,
    test: Option<&str>,
    layers: &[LayerSel],
    what: &str,
) -> Result<EncodedPair> {
    let layers = resolve_layers(layers, tokens.depth(), &format!("{what}: `layers`"))?;
    let spec = source.tile_spec(tokens)?;
    let space = source.label_space()?;
    let train_split = train.unwrap_or(source.default_train_split()).to_string();
    let test_split = test.unwrap_or(source.default_test_split()).to_string();
    let (train_s, train_tag) = source.open(&train_split)?;
    let (test, test_tag) = source.open(&test_split)?;
    let train_f = extract(tokens, &train_s, &train_tag, &spec, &space, &layers, None)?;
    let test_f = extract(tokens, &test, &test_tag, &spec, &space, &layers, None)?;
    Ok(EncodedPair {
        layers,
        spec,
        space,
        train_split,
        test_split,
        test,
        test_tag,
        train_f,
        test_f,
    })
}

/// Scores of one probe run at full label resolution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegScores {
    /// Mean IoU over the label space's classes (its absent-class convention).
    pub miou: f64,
    /// 95 % bootstrap interval of the mIoU over test images.
    pub miou_ci: Option<ConfidenceInterval>,
    /// Pixel accuracy.
    pub pixel_accuracy: f64,
    /// Patch accuracy over all query patches (void included).
    pub patch_accuracy: f64,
    /// IoU per class (classes absent from ground truth and prediction left out where the convention
    /// skips them).
    pub per_class_iou: Vec<(String, f64)>,
    /// Cityscapes: mIoU of the study's easy classes.
    pub miou_easy: Option<f64>,
    /// Cityscapes: mIoU of the study's hard classes.
    pub miou_hard: Option<f64>,
}

/// One probe × train split × layer.
#[derive(Clone, Debug)]
pub struct SegRun {
    /// The probe.
    pub probe: ProbeKind,
    /// The linear probe's configuration (`None` for k-NN).
    pub linear: Option<patchlens_probe::linear::LinearProbeConfig>,
    /// Train split.
    pub train_split: String,
    /// Layer (1-based).
    pub layer: usize,
    /// Scores.
    pub scores: SegScores,
    /// The probe's record (settings, training history) and the feature transform.
    pub record: serde_json::Value,
    /// Gallery / query sizes and split contents.
    pub protocol: serde_json::Map<String, serde_json::Value>,
    /// Sample colour maps (prediction and ground truth of the first test image).
    pub images: Vec<ImageArtifact>,
}

/// Everything a segmentation experiment measured.
#[derive(Clone, Debug)]
pub struct SegmentationResult {
    /// The model.
    pub model: ModelInfo,
    /// The study's name for the model, if any.
    pub paper_model: Option<String>,
    /// The configuration that ran.
    pub config: SegmentationConfig,
    /// Layers that ran.
    pub layers: Vec<usize>,
    /// Train splits that ran.
    pub train_splits: Vec<String>,
    /// The test split.
    pub test_split: String,
    /// The tiling protocol.
    pub spec: TileSpec,
    /// Name of the label space.
    pub label_space: String,
    /// Number of raw label ids the probes classify into.
    pub probe_classes: usize,
    /// Depth of the model.
    pub depth: usize,
    /// One per probe × train split × layer, in that loop order.
    pub runs: Vec<SegRun>,
    /// Seconds: encoding, probing and scoring.
    pub seconds: f64,
}

/// Names of segmentation results: the one place they are made and read.
pub mod keys {
    use super::ProbeKind;

    /// Metric of a summary experiment: mIoU of `probe` with train split `split` (last layer).
    pub fn summary(probe: ProbeKind, split: &str) -> String {
        format!("{}/{split}", probe.name())
    }

    /// The probe and split of a summary metric.
    pub fn parse_summary(key: &str) -> Option<(ProbeKind, &str)> {
        let (p, split) = key.split_once('/')?;
        Some((ProbeKind::from_name(p)?, split))
    }

    /// Name of the summary experiment of suite experiment `id`.
    pub fn summary_experiment(id: &str, model: &str) -> String {
        format!("{id}/summary/{model}")
    }

    /// Whether `name` is a summary experiment's.
    pub fn is_summary_experiment(name: &str) -> bool {
        name.contains("/summary/")
    }
}

/// Run the experiment with the tokens of `tokens`.
pub fn run(cfg: &SegmentationConfig, tokens: &dyn TokenSource) -> Result<SegmentationResult> {
    cfg.validate()?;
    let t0 = Instant::now();
    let layers = resolve_layers(&cfg.layers, tokens.depth(), "segmentation: `layers`")?;
    let spec = cfg.source.tile_spec(tokens)?;
    let space = cfg.source.label_space()?;
    let train_splits = cfg.train_splits();
    let test_split = cfg.test_split();
    let (test_s, test_tag) = cfg.source.open(&test_split)?;
    let test_f = extract(tokens, &test_s, &test_tag, &spec, &space, &layers, None)?;
    let ctx = ScoreCtx {
        space: &space,
        spec: &spec,
        test_split: &test_s,
        bootstrap: cfg.bootstrap,
        cityscapes: cfg.source.is_cityscapes(),
    };
    let device = tokens.device();
    let n_classes = space.num_raw();
    let last = *layers.last().context("no layer")?;
    let mut runs = Vec::new();
    for (si, split) in train_splits.iter().enumerate() {
        let (train_s, train_tag) = cfg.source.open(split)?;
        let train_f = extract(tokens, &train_s, &train_tag, &spec, &space, &layers, None)?;
        for &probe in &cfg.probes {
            for &layer in &layers {
                let (train, test) = (&train_f[&layer], &test_f[&layer]);
                let (transformed, transform) = probe::transform_features(
                    train.view()?,
                    test.view()?,
                    cfg.remove_top_variance,
                    cfg.normalize,
                )?;
                let (g, q) = match &transformed {
                    Some((g, q)) => (g.view(), q.view()),
                    None => (train.view()?, test.view()?),
                };
                let linear = probe.linear_config(&cfg.linear, n_classes, tokens.family());
                let (preds, mut record) = match &linear {
                    None => {
                        let p =
                            probe::knn_predict(g, &train.labels, q, n_classes, &cfg.knn, &device)?;
                        (p, serde_json::to_value(&cfg.knn)?)
                    }
                    Some(lc) => {
                        probe::linear_predict(g, &train.labels, q, &test.labels, lc, &device)?
                    }
                };
                drop(transformed);
                if let Some(o) = record.as_object_mut() {
                    o.insert("feature_transform".into(), transform);
                }
                let eval = ctx.evaluate(test, &preds)?;
                let scores = ctx.scores(&eval)?;
                let mut images = Vec::new();
                if let Some(dir) = &cfg.maps_dir
                    && si == 0
                    && layer == last
                {
                    let name = run_name(cfg, tokens.name(), probe, split, layer);
                    images = sample_maps(dir, &name, probe, &space, &test_s, test, &eval)?;
                }
                runs.push(SegRun {
                    probe,
                    linear,
                    train_split: split.clone(),
                    layer,
                    scores,
                    record,
                    protocol: split_protocol(&train_s, &test_s, train, test),
                    images,
                });
            }
        }
    }
    Ok(SegmentationResult {
        model: tokens.info(),
        paper_model: tokens.paper_model().map(str::to_string),
        config: cfg.clone(),
        layers,
        train_splits,
        test_split,
        spec,
        label_space: space.name.clone(),
        probe_classes: n_classes,
        depth: tokens.depth(),
        runs,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// Sizes and contents of the splits of one run.
fn split_protocol(
    train_s: &SegmentationSplit,
    test_s: &SegmentationSplit,
    train: &SplitFeatures,
    test: &SplitFeatures,
) -> serde_json::Map<String, serde_json::Value> {
    let ids =
        |s: &SegmentationSplit| -> Vec<String> { s.entries.iter().map(|e| e.id.clone()).collect() };
    let mut p = serde_json::Map::new();
    p.insert("train_images".into(), train.images.len().into());
    p.insert("test_images".into(), test.images.len().into());
    p.insert("train_ids".into(), ids(train_s).into());
    p.insert("test_ids".into(), ids(test_s).into());
    p.insert("gallery_patches".into(), train.len().into());
    p.insert("query_patches".into(), test.len().into());
    p.insert("feature_dim".into(), train.dim.into());
    p
}

/// The default name of one run: `<dataset>/<probe>/<train split>/<model>/layer<L>[/minus<N>][/<normalize>]`.
fn run_name(
    cfg: &SegmentationConfig,
    model: &str,
    probe: ProbeKind,
    split: &str,
    layer: usize,
) -> String {
    let mut n = format!(
        "{}/{}/{split}/{model}/layer{layer}",
        cfg.source.name(),
        probe.name()
    );
    if cfg.remove_top_variance > 0 {
        n.push_str(&format!("/minus{}", cfg.remove_top_variance));
    }
    if cfg.normalize != Normalize::None {
        n.push_str(&format!("/{}", cfg.normalize.label()));
    }
    n
}

/// What scoring a probe needs besides the predictions.
pub struct ScoreCtx<'a> {
    /// Label space of the dataset.
    pub space: &'a LabelSpace,
    /// Tiling (for back-projection).
    pub spec: &'a TileSpec,
    /// The test split (label maps are re-read for scoring).
    pub test_split: &'a SegmentationSplit,
    /// Interval settings.
    pub bootstrap: Bootstrap,
    /// Cityscapes (easy / hard class groups).
    pub cityscapes: bool,
}

impl ScoreCtx<'_> {
    /// Confusion matrices of `preds` (raw ids, one per query patch of `test`).
    pub fn evaluate(&self, test: &SplitFeatures, preds: &[u32]) -> Result<SegEvaluation> {
        score::evaluate_predictions(self.space, self.spec, self.test_split, test, preds)
    }

    /// The interval of an evaluation's mIoU (none below 2 resamples).
    pub fn interval(&self, eval: &SegEvaluation) -> Result<Option<ConfidenceInterval>> {
        Ok(if self.bootstrap.resamples >= 2 {
            Some(score::miou_ci(
                eval,
                self.bootstrap.resamples,
                self.bootstrap.seed,
            )?)
        } else {
            None
        })
    }

    /// All scores of an evaluation.
    pub fn scores(&self, eval: &SegEvaluation) -> Result<SegScores> {
        let s = eval.total.scores();
        let (miou_easy, miou_hard) = if self.cityscapes {
            use patchlens_metrics::labels::{CITYSCAPES_EASY, CITYSCAPES_HARD};
            (
                Some(eval.total.miou_of(&CITYSCAPES_EASY)?),
                Some(eval.total.miou_of(&CITYSCAPES_HARD)?),
            )
        } else {
            (None, None)
        };
        Ok(SegScores {
            miou: s.miou,
            miou_ci: self.interval(eval)?,
            pixel_accuracy: s.pixel_accuracy,
            patch_accuracy: eval.patch_accuracy,
            per_class_iou: s
                .class_names
                .iter()
                .zip(&s.iou)
                .filter(|(_, v)| v.is_finite())
                .map(|(c, v)| (c.clone(), *v))
                .collect(),
            miou_easy,
            miou_hard,
        })
    }
}

/// A file-name-safe version of `s` (alphanumerics, `-`, `_`, `.`; everything else `_`).
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Write a label map in the palette's colours as an RGB PNG, atomically (temp file + rename: units that run
/// at once may write the same map).
fn write_color_map(
    path: &Path,
    map: &patchlens_metrics::LabelMap,
    palette: &[[u8; 3]],
) -> Result<()> {
    let mut data = Vec::with_capacity(map.data.len() * 3);
    for &v in &map.data {
        let c = palette.get(v as usize).with_context(|| {
            format!(
                "{}: label {v} has no colour (palette of {})",
                path.display(),
                palette.len()
            )
        })?;
        data.extend_from_slice(c);
    }
    let img = patchlens_image::ImageU8 {
        width: map.width,
        height: map.height,
        channels: 3,
        data,
    };
    Ok(patchlens_image::write_png(path, &img)?)
}

/// Write the predicted and ground-truth colour maps of the first test image into `dir`; returns the two
/// image artifacts (paths relative to `dir`).
pub fn sample_maps(
    dir: &Path,
    name: &str,
    probe: ProbeKind,
    space: &LabelSpace,
    test_split: &SegmentationSplit,
    test: &SplitFeatures,
    eval: &SegEvaluation,
) -> Result<Vec<ImageArtifact>> {
    let (Some(map), Some(slot)) = (&eval.first_map, test.images.first()) else {
        return Ok(Vec::new());
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let stem = format!("{}_{}", sanitize(name), sanitize(&slot.entry.id));
    let pred_file = format!("{stem}_pred.png");
    write_color_map(&dir.join(&pred_file), map, &space.palette)?;
    let gt = score::read_gt(test_split, &slot.entry)?;
    let canonical: Vec<u8> = gt
        .data
        .iter()
        .map(|&v| space.canonical(v as u32) as u8)
        .collect();
    let gt_map = patchlens_metrics::LabelMap::from_u8(gt.width, gt.height, &canonical)?;
    let gt_file = format!("{stem}_gt.png");
    write_color_map(&dir.join(&gt_file), &gt_map, &space.palette)?;
    Ok(vec![
        ImageArtifact {
            title: format!("{} prediction: {}", probe.name(), slot.entry.id),
            caption: Some(format!("{name}; {} colours; black = void", space.name)),
            source: ImageSource::File { path: pred_file },
        },
        ImageArtifact {
            title: format!("ground truth: {}", slot.entry.id),
            caption: None,
            source: ImageSource::File { path: gt_file },
        },
    ])
}

/// The metrics of one run as the report names them: `miou`, `pixel_accuracy`, `patch_accuracy`,
/// `per_class_iou/<class>`, Cityscapes also `miou_easy` / `miou_hard`; the `miou` interval.
pub fn put_scores(e: &mut Experiment, s: &SegScores) {
    e.metrics.insert("miou".into(), s.miou);
    e.metrics.insert("pixel_accuracy".into(), s.pixel_accuracy);
    e.metrics.insert("patch_accuracy".into(), s.patch_accuracy);
    for (c, v) in &s.per_class_iou {
        e.metrics.insert(format!("per_class_iou/{c}"), *v);
    }
    if let Some(v) = s.miou_easy {
        e.metrics.insert("miou_easy".into(), v);
    }
    if let Some(v) = s.miou_hard {
        e.metrics.insert("miou_hard".into(), v);
    }
    e.metrics.retain(|_, v| v.is_finite());
    if let Some(ci) = &s.miou_ci {
        e.confidence_intervals.insert("miou".into(), ci.clone());
    }
}

impl SegmentationResult {
    /// Whether the study's published Cityscapes numbers apply to run `r` (the study's five ViT-B models,
    /// layer 12, val30, 1-NN dot product or linear, no normalisation).
    fn paper_applies(&self) -> Option<&str> {
        let c = &self.config;
        let pm = self.paper_model.as_deref()?;
        (c.source.is_cityscapes()
            && self.test_split == patchlens_data::cityscapes::VAL_POOL
            && c.knn == KnnConfig::default()
            && c.normalize == Normalize::None)
            .then_some(pm)
    }

    /// The experiments of the report: the summary (by probe and train split, when there are several),
    /// the layer sweeps (when there are several layers), then one per run.
    pub fn experiments(&self) -> Vec<Experiment> {
        let c = &self.config;
        let model = &self.model.zoo_name;
        let id = c.id.as_deref().unwrap_or("segmentation");
        let last = self.layers.last().copied().unwrap_or(0);
        let run = |p: ProbeKind, s: &str, l: usize| {
            self.runs
                .iter()
                .find(|r| r.probe == p && r.train_split == s && r.layer == l)
        };
        let mut out = Vec::new();
        if self.train_splits.len() > 1 || c.probes.len() > 1 {
            let mut sum = Experiment::new(
                keys::summary_experiment(id, model),
                ExperimentKind::Segmentation,
                self.model.clone(),
            );
            let fig = format!(
                "{}: mIoU by probe and train split (layer {last})",
                c.source.name()
            );
            for &probe in &c.probes {
                let mut curve = Curve::new(
                    fig.clone(),
                    format!("{model} {}", probe.name()),
                    "train split",
                    "mIoU",
                    vec![],
                    vec![],
                );
                let (mut lo, mut hi, mut labels) = (vec![], vec![], vec![]);
                for (i, split) in self.train_splits.iter().enumerate() {
                    let Some(r) = run(probe, split, last) else {
                        continue;
                    };
                    let m = r.scores.miou;
                    sum.metrics.insert(keys::summary(probe, split), m);
                    if let Some(ci) = &r.scores.miou_ci {
                        sum.confidence_intervals
                            .insert(keys::summary(probe, split), ci.clone());
                        lo.push(ci.lower);
                        hi.push(ci.upper);
                    }
                    curve.x.push(i as f64);
                    curve.y.push(m);
                    labels.push(split.clone());
                }
                if lo.len() == curve.x.len() {
                    curve.y_lower = Some(lo);
                    curve.y_upper = Some(hi);
                }
                curve.point_labels = Some(labels);
                curve.plot = Some(PlotKind::Bars);
                sum.curves.push(curve);
            }
            sum.protocol.insert(
                "train_splits".into(),
                serde_json::to_value(&self.train_splits).unwrap_or_default(),
            );
            sum.protocol
                .insert("test_split".into(), self.test_split.clone().into());
            sum.protocol.insert("layer".into(), last.into());
            out.push(sum);
        }
        if self.layers.len() > 1 {
            let split = &self.train_splits[0];
            for &probe in &c.probes {
                let mut sw = Experiment::new(
                    format!("{id}/{}/{model}", probe.name()),
                    ExperimentKind::LayerSweep,
                    self.model.clone(),
                );
                let groups: &[(&str, ScorePick)] = if c.source.is_cityscapes() {
                    &[
                        ("all", |s| Some(s.miou)),
                        ("easy", |s| s.miou_easy),
                        ("hard", |s| s.miou_hard),
                    ]
                } else {
                    &[("all", |s| Some(s.miou))]
                };
                for (group, pick) in groups {
                    let fig = format!(
                        "{} {} mIoU by layer ({group} classes, {split})",
                        c.source.name(),
                        probe.name()
                    );
                    let rs: Vec<Option<&SegRun>> =
                        self.layers.iter().map(|&l| run(probe, split, l)).collect();
                    let xs: Vec<f64> = self.layers.iter().map(|&l| l as f64).collect();
                    let ys: Vec<f64> = rs
                        .iter()
                        .map(|r| r.and_then(|r| pick(&r.scores)).unwrap_or(f64::NAN))
                        .collect();
                    for (l, y) in self.layers.iter().zip(&ys) {
                        sw.metrics.insert(format!("{group}/layer{l}"), *y);
                    }
                    let mut curve = Curve::new(fig, model.clone(), "layer", "mIoU", xs, ys);
                    if *group == "all" {
                        let cis: Vec<&ConfidenceInterval> = rs
                            .iter()
                            .filter_map(|r| r.and_then(|r| r.scores.miou_ci.as_ref()))
                            .collect();
                        if cis.len() == self.layers.len() {
                            curve.y_lower = Some(cis.iter().map(|c| c.lower).collect());
                            curve.y_upper = Some(cis.iter().map(|c| c.upper).collect());
                        }
                    }
                    if let Some(pm) = self.paper_applies()
                        && probe == ProbeKind::Knn
                        && split == patchlens_data::cityscapes::DEFAULT_TRAIN_POOL
                        && self.depth == 12
                        && c.remove_top_variance == 0
                    {
                        curve.paper = Some(
                            PaperKey::new(
                                "cityscapes_knn_layerwise",
                                format!("{group}/layer{{x}}"),
                                pm,
                            )
                            .with_note(probe::recipe_note(&c.knn, None)),
                        );
                    }
                    sw.curves.push(curve);
                }
                sw.metrics.retain(|_, v| v.is_finite());
                sw.protocol
                    .insert("train_split".into(), split.clone().into());
                sw.protocol
                    .insert("test_split".into(), self.test_split.clone().into());
                sw.protocol.insert(
                    "layers".into(),
                    serde_json::to_value(&self.layers).unwrap_or_default(),
                );
                out.push(sw);
            }
        }
        let mut runs: Vec<&SegRun> = self.runs.iter().collect();
        // Report order: by probe name, split, layer (stable across runs and merges).
        runs.sort_by(|a, b| {
            (a.probe.name(), &a.train_split, a.layer).cmp(&(
                b.probe.name(),
                &b.train_split,
                b.layer,
            ))
        });
        for r in runs {
            out.push(self.run_experiment(r));
        }
        out
    }

    /// One run as an experiment (metrics, protocol, sample maps, the paper's numbers where they apply).
    fn run_experiment(&self, r: &SegRun) -> Experiment {
        let c = &self.config;
        let name = run_name(c, &self.model.zoo_name, r.probe, &r.train_split, r.layer);
        let mut e = Experiment::new(name, ExperimentKind::Segmentation, self.model.clone());
        put_scores(&mut e, &r.scores);
        e.images = r.images.clone();
        let note = probe::recipe_note(&c.knn, r.linear.as_ref());
        if let Some(pm) = self.paper_applies()
            && r.layer == 12
        {
            let probe = r.probe.paper_name();
            let pools = ["set2_36", "set4_72", "set4prime_72", "set8_144"];
            if c.remove_top_variance == 0 && pools.contains(&r.train_split.as_str()) {
                e.paper.insert(
                    "miou".into(),
                    PaperKey::new(
                        "cityscapes_knn_vs_linear_by_pool",
                        format!("{probe}/{}", r.train_split),
                        pm,
                    )
                    .with_note(note.clone()),
                );
                if r.train_split == patchlens_data::cityscapes::DEFAULT_TRAIN_POOL {
                    for (cname, _) in &r.scores.per_class_iou {
                        e.paper.insert(
                            format!("per_class_iou/{cname}"),
                            PaperKey::new(
                                "cityscapes_per_class_iou_layer12",
                                format!("{probe}/{cname}"),
                                pm,
                            )
                            .with_note(note.clone()),
                        );
                    }
                }
            } else if pm == "mae" && r.train_split == patchlens_data::cityscapes::DEFAULT_TRAIN_POOL
            {
                e.paper.insert(
                    "miou".into(),
                    PaperKey::new(
                        "cityscapes_mae_high_variance_removal",
                        format!("{probe}/removed{}", c.remove_top_variance),
                        pm,
                    )
                    .with_note(note.clone()),
                );
            }
        }
        let mut p = serde_json::Map::new();
        p.insert("dataset".into(), c.source.name().into());
        p.insert(
            "data_root".into(),
            c.source.root().display().to_string().into(),
        );
        if let SegSource::Synthetic { seed, .. } = &c.source {
            p.insert(
                "scenes".into(),
                serde_json::to_value(synthetic::scene_config(*seed, false)).unwrap_or_default(),
            );
        }
        p.insert("train_split".into(), r.train_split.clone().into());
        p.insert("test_split".into(), self.test_split.clone().into());
        for (k, v) in &r.protocol {
            p.insert(k.clone(), v.clone());
        }
        p.insert("layer".into(), r.layer.into());
        p.insert(
            "tile_spec".into(),
            serde_json::to_value(&self.spec).unwrap_or_default(),
        );
        p.insert(
            "gallery".into(),
            "all train patches incl. void, centre-pixel labels in the raw label space".into(),
        );
        p.insert(
            "evaluation".into(),
            match self.spec.resize {
                None => "tile grids upsampled nearest-exact (OpenCV 4) to the tile size and stitched; full resolution",
                Some(_) => "frame patch grid resized nearest-exact (OpenCV 4) to the original label size",
            }
            .into(),
        );
        p.insert("label_space".into(), self.label_space.clone().into());
        p.insert("probe_classes".into(), self.probe_classes.into());
        p.insert("probe".into(), r.probe.name().into());
        p.insert("recipe".into(), note.into());
        p.insert(r.probe.name().into(), r.record.clone());
        p.insert(
            "bootstrap".into(),
            serde_json::to_value(c.bootstrap).unwrap_or_default(),
        );
        e.protocol = p;
        e
    }
}

/// `value` with its interval as the one-line summaries print it: `0.1234 [0.100, 0.150]`.
pub fn fmt_ci(value: f64, ci: Option<&ConfidenceInterval>) -> String {
    match ci {
        Some(c) => format!("{value:.4} [{:.3}, {:.3}]", c.lower, c.upper),
        None => format!("{value:.4}"),
    }
}

impl SegmentationResult {
    /// One line per run: its name and mIoU with the interval.
    pub fn summary_lines(&self) -> Vec<String> {
        self.runs
            .iter()
            .map(|r| {
                format!(
                    "{}: miou {}, pixel accuracy {:.4}",
                    run_name(
                        &self.config,
                        &self.model.zoo_name,
                        r.probe,
                        &r.train_split,
                        r.layer
                    ),
                    fmt_ci(r.scores.miou, r.scores.miou_ci.as_ref()),
                    r.scores.pixel_accuracy
                )
            })
            .collect()
    }
}

/// Picks one score of a run (a class group's mIoU).
type ScorePick = fn(&SegScores) -> Option<f64>;

/// Segmentation results by run, for callers that pick one: `(probe, split, layer)` → run.
pub fn by_key(res: &SegmentationResult) -> BTreeMap<(ProbeKind, String, usize), &SegRun> {
    res.runs
        .iter()
        .map(|r| ((r.probe, r.train_split.clone(), r.layer), r))
        .collect()
}
