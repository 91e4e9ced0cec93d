//! `cargo xtask eval segmentation`: few-shot patch segmentation (protocol §3–§4) with a k-NN or a linear
//! probe on frozen patch tokens, scored at full label resolution.
//!
//! Pipeline: every train / test image is tiled by its dataset's [`patchlens_data::TileSpec`] (Cityscapes
//! 4×8 tiles of 256 → 224 bicubic on the normalised float tile; ADE20K and CamVid resized to 672×448
//! bilinear, 2×3 tiles of 224), encoded (cached per image in the feature store), and each patch gets the
//! centre pixel of its tile's label map. The gallery is *all* train patches, void included, with raw
//! label ids (the study). The probe predicts raw ids for every test patch; predictions are back-projected
//! (Cityscapes: nearest upsampling per tile + stitching; ADE20K / CamVid: the frame's patch grid resized
//! nearest-exact to the label size) and scored with the dataset's label space (Cityscapes 19 classes,
//! predicted void = wrong; ADE20K 150, 0 ignored; CamVid 11, void 11 ignored). mIoU comes with a 95 %
//! bootstrap interval over test images.

#[path = "../seg_features.rs"]
pub mod features;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use patchlens_probe::knn::{DINO_TEMPERATURE, Similarity, Vote};
use patchlens_probe::linear::{LinearProbeConfig, Selection, SelectionMetric};
use patchlens_report::{
    Experiment, ExperimentKind, ImageArtifact, ImageSource, ModelInfo, PaperKey, Results,
};
use patchlens_store::FeatureStore;
use patchlens_vit::Family;
use serde::Serialize;

use crate::backend::Backend;
use crate::encode::Encoder;
use crate::models::LoadedModel;
use features::{KnnSettings, Normalize, SegDataset, SplitFeatures};

/// Default number of bootstrap resamples for the mIoU interval.
pub const DEFAULT_BOOTSTRAP_RESAMPLES: usize = 1000;

/// Which probe classifies the patches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeKind {
    /// Exact k-NN over the gallery of train patches (the study: k = 1, dot product).
    Knn,
    /// Softmax regression trained with Adam on the train patches.
    Linear,
}

impl ProbeKind {
    /// `knn` / `linear`.
    pub fn name(self) -> &'static str {
        match self {
            ProbeKind::Knn => "knn",
            ProbeKind::Linear => "linear",
        }
    }
}

/// `--similarity`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SimilarityArg {
    /// Raw inner product (the study).
    Dot,
    /// Cosine similarity.
    Cosine,
    /// Negative Euclidean distance.
    NegL2,
}

impl From<SimilarityArg> for Similarity {
    fn from(s: SimilarityArg) -> Self {
        match s {
            SimilarityArg::Dot => Similarity::Dot,
            SimilarityArg::Cosine => Similarity::Cosine,
            SimilarityArg::NegL2 => Similarity::NegL2,
        }
    }
}

/// `--vote`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum VoteArg {
    /// Label of the nearest neighbour (the study).
    Nearest,
    /// Most frequent label among the k.
    Majority,
    /// Similarity-weighted votes.
    Weighted,
    /// `exp(s / T)`-weighted votes (DINO's k-NN), T from `--temperature`.
    Softmax,
}

/// `--batch-norm` of the linear probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BatchNormArg {
    /// On for the MAE family (the MAE linear-probing recipe, as the study), off otherwise.
    Auto,
    /// Always BatchNorm1d(affine = False) before the linear layer.
    On,
    /// Never.
    Off,
}

/// `--selection` of the linear probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SelectionArg {
    /// Epoch chosen on a held-out part of the training patches (default).
    HeldOut,
    /// The study's quirk: epoch chosen on the reported test set.
    ReportedVal,
    /// Last epoch, no selection.
    LastEpoch,
}

/// Linear-probe hyper-parameters (recorded in the results).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LinearSettings {
    /// Adam learning rate.
    pub lr: f64,
    /// Epochs.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Seed of initialisation and shuffling.
    pub seed: u64,
    /// BatchNorm before the head; `None` = on for the MAE family only.
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

/// Everything `eval segmentation` needs besides the model (what `reproduce` builds in-process).
#[derive(Clone, Debug)]
pub struct SegmentationConfig {
    /// Dataset.
    pub dataset: SegDataset,
    /// Dataset root folder.
    pub data_root: PathBuf,
    /// Train split / pool (see [`SegDataset::open`]).
    pub train_split: String,
    /// Test split / pool.
    pub test_split: String,
    /// 1-based layer; `None` = the last.
    pub layer: Option<usize>,
    /// Probe.
    pub probe: ProbeKind,
    /// k-NN settings (used when `probe` is k-NN).
    pub knn: KnnSettings,
    /// Linear-probe settings (used when `probe` is linear).
    pub linear: LinearSettings,
    /// Delete this many highest-variance dimensions (indices from the train patches) first.
    pub remove_top_variance: usize,
    /// Then normalise (statistics from the train patches).
    pub normalize: Normalize,
    /// Backend the model runs on (k-NN GEMM on the host for flex, on the device otherwise).
    pub backend: Backend,
    /// Tiles per forward pass.
    pub device_batch: usize,
    /// Results directory: sample maps are written here and referenced relative to it.
    pub out_dir: PathBuf,
    /// Bootstrap resamples for the mIoU interval (below 2: no interval).
    pub bootstrap_resamples: usize,
    /// Bootstrap seed.
    pub bootstrap_seed: u64,
    /// Experiment name; `None` = `<dataset>/<probe>/<train split>/<model>/layer<L>[/<transform>]`.
    pub name: Option<String>,
}

impl SegmentationConfig {
    /// The study's defaults for `dataset` (default splits, last layer, 1-NN dot product, no feature
    /// transform, flex backend, device batch 16, 1000 bootstrap resamples with seed 0).
    pub fn new(
        dataset: SegDataset,
        data_root: impl Into<PathBuf>,
        out_dir: impl Into<PathBuf>,
    ) -> Self {
        Self {
            dataset,
            data_root: data_root.into(),
            train_split: dataset.default_train_split().to_string(),
            test_split: dataset.default_test_split().to_string(),
            layer: None,
            probe: ProbeKind::Knn,
            knn: KnnSettings::default(),
            linear: LinearSettings::default(),
            remove_top_variance: 0,
            normalize: Normalize::None,
            backend: Backend::Flex,
            device_batch: 16,
            out_dir: out_dir.into(),
            bootstrap_resamples: DEFAULT_BOOTSTRAP_RESAMPLES,
            bootstrap_seed: 0,
            name: None,
        }
    }
}

/// Dataset, splits and layer of a segmentation-style experiment (`eval segmentation`, `eval variance`).
#[derive(Args, Clone, Debug)]
pub struct SegDataArgs {
    /// Dataset.
    #[arg(long, value_enum)]
    pub dataset: SegDataset,
    /// Dataset root (Cityscapes: holds leftImg8bit/ and gtFine/; ADE20K: ADEChallengeData2016; CamVid: SegNet layout).
    #[arg(long)]
    pub data_root: PathBuf,
    /// Train split or pool (Cityscapes set2_36|set4_72|set4prime_72|set8_144|train|val; ADE20K
    /// train-select|training|...; CamVid train|val|test). Default: the study's (set4_72, train-select, train).
    #[arg(long)]
    pub train_split: Option<String>,
    /// Test split or pool. Default: val30, val-select, test.
    #[arg(long)]
    pub test_split: Option<String>,
    /// Layer, 1-based (block l followed by the final norm); default: the last.
    #[arg(long)]
    pub layer: Option<usize>,
}

/// Arguments of `eval segmentation`.
#[derive(Args, Debug)]
pub struct SegmentationArgs {
    /// The model.
    #[command(flatten)]
    pub model: super::common::ModelArgs,
    /// Backend, batch size, feature cache.
    #[command(flatten)]
    pub run: super::common::RunArgs,
    /// Dataset, splits, layer.
    #[command(flatten)]
    pub data: SegDataArgs,
    /// Probe.
    #[arg(long, value_enum)]
    pub probe: ProbeKind,
    /// k-NN: neighbours kept.
    #[arg(long, default_value_t = 1)]
    pub k: usize,
    /// k-NN: similarity.
    #[arg(long, value_enum, default_value = "dot")]
    pub similarity: SimilarityArg,
    /// k-NN: vote rule.
    #[arg(long, value_enum, default_value = "nearest")]
    pub vote: VoteArg,
    /// k-NN softmax vote temperature.
    #[arg(long, default_value_t = DINO_TEMPERATURE)]
    pub temperature: f32,
    /// Delete the N highest-variance feature dimensions (variance over the train patches) first.
    #[arg(long, default_value_t = 0)]
    pub remove_top_variance: usize,
    /// Then normalise with train statistics: `none`, `bn`, `standardize`, `whiten` (or `whiten:EPS`), `pca:K`.
    #[arg(long, default_value = "none", value_parser = features::parse_normalize)]
    pub normalize: Normalize,
    /// Linear probe: Adam learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Linear probe: epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Linear probe: mini-batch size.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Linear probe: seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Linear probe: BatchNorm(affine = False) before the head.
    #[arg(long, value_enum, default_value = "auto")]
    pub batch_norm: BatchNormArg,
    /// Linear probe: epoch selection.
    #[arg(long, value_enum, default_value = "held-out")]
    pub selection: SelectionArg,
    /// Linear probe: held-out fraction of the train patches for `--selection held-out`.
    #[arg(long, default_value_t = 0.1)]
    pub holdout_fraction: f64,
    /// Bootstrap resamples of the mIoU interval (0 = none).
    #[arg(long, default_value_t = DEFAULT_BOOTSTRAP_RESAMPLES)]
    pub bootstrap: usize,
    /// results.json to write.
    #[arg(long)]
    pub out: PathBuf,
}

impl SegmentationArgs {
    /// The configuration these arguments describe.
    pub fn config(&self) -> Result<SegmentationConfig> {
        let mut c = SegmentationConfig::new(
            self.data.dataset,
            &self.data.data_root,
            features::out_dir(&self.out),
        );
        if let Some(s) = &self.data.train_split {
            c.train_split = s.clone();
        }
        if let Some(s) = &self.data.test_split {
            c.test_split = s.clone();
        }
        c.layer = self.data.layer;
        c.probe = self.probe;
        c.knn = knn_settings(self.k, self.similarity, self.vote, self.temperature)?;
        let l = &mut c.linear;
        l.lr = self.lr.unwrap_or(l.lr);
        l.epochs = self.epochs.unwrap_or(l.epochs);
        l.batch_size = self.batch_size.unwrap_or(l.batch_size);
        l.seed = self.seed.unwrap_or(l.seed);
        l.batch_norm = match self.batch_norm {
            BatchNormArg::Auto => None,
            BatchNormArg::On => Some(true),
            BatchNormArg::Off => Some(false),
        };
        l.selection = match self.selection {
            SelectionArg::HeldOut => Selection::HeldOut {
                fraction: self.holdout_fraction,
                seed: 0,
            },
            SelectionArg::ReportedVal => Selection::ReportedValSet,
            SelectionArg::LastEpoch => Selection::LastEpoch,
        };
        c.remove_top_variance = self.remove_top_variance;
        c.normalize = self.normalize;
        c.backend = self.run.backend;
        c.device_batch = self.run.device_batch;
        c.bootstrap_resamples = self.bootstrap;
        Ok(c)
    }
}

/// Build [`KnnSettings`] from CLI values, checking them.
pub fn knn_settings(
    k: usize,
    similarity: SimilarityArg,
    vote: VoteArg,
    temperature: f32,
) -> Result<KnnSettings> {
    if k == 0 {
        bail!("--k must be at least 1");
    }
    let vote = match vote {
        VoteArg::Nearest => Vote::Nearest,
        VoteArg::Majority => Vote::Majority,
        VoteArg::Weighted => Vote::Weighted,
        VoteArg::Softmax => {
            if !(temperature.is_finite() && temperature > 0.0) {
                bail!("--temperature must be finite and > 0, got {temperature}");
            }
            Vote::Softmax { temperature }
        }
    };
    Ok(KnnSettings {
        k,
        similarity: similarity.into(),
        vote,
    })
}

/// Encoded train and test splits of one dataset at one layer.
pub struct EncodedSplits {
    /// The tiling protocol used.
    pub spec: patchlens_data::TileSpec,
    /// 1-based layer.
    pub layer: usize,
    /// The train split (paths).
    pub train_split: patchlens_data::SegmentationSplit,
    /// The test split (paths; labels are re-read for scoring).
    pub test_split: patchlens_data::SegmentationSplit,
    /// Train patches (the gallery).
    pub train: SplitFeatures,
    /// Test patches (the queries).
    pub test: SplitFeatures,
}

/// Open both splits and encode them (reading / filling the feature cache `store`).
#[allow(clippy::too_many_arguments)]
pub fn encode_splits(
    dataset: SegDataset,
    data_root: &Path,
    train_split: &str,
    test_split: &str,
    layer: Option<usize>,
    model: &LoadedModel,
    store: Option<&FeatureStore>,
    device_batch: usize,
) -> Result<EncodedSplits> {
    let depth = model.config().depth;
    let layer = layer.unwrap_or(depth);
    if layer == 0 || layer > depth {
        bail!("--layer {layer} is outside 1..={depth} for {}", model.name);
    }
    let spec = dataset.tile_spec(model.config().patch_size)?;
    let preprocessing = features::preprocessing_key(&spec)?;
    let (train_s, train_folder) = dataset.open(data_root, train_split)?;
    let (test_s, test_folder) = dataset.open(data_root, test_split)?;
    let enc = |folder: &str| Encoder {
        model,
        device_batch: device_batch.max(1),
        store,
        preprocessing: preprocessing.clone(),
        dataset: format!("{}/{folder}", dataset.name()),
    };
    let train = features::extract(&enc(&train_folder), &train_s, &spec, layer)?;
    let test = features::extract(&enc(&test_folder), &test_s, &spec, layer)?;
    Ok(EncodedSplits {
        spec,
        layer,
        train_split: train_s,
        test_split: test_s,
        train,
        test,
    })
}

fn model_info(model: &LoadedModel) -> ModelInfo {
    ModelInfo {
        zoo_name: model.name.clone(),
        weights_sha256: Some(model.weights_sha256.clone()),
        family: model.family.name().to_string(),
    }
}

/// Run the segmentation experiment `cfg` with `model`, caching features in `store`.
///
/// Metrics (fractions): `miou`, `pixel_accuracy`, `patch_accuracy`, `per_class_iou/<class>` (classes
/// absent from ground truth and prediction are left out under the Cityscapes / CamVid convention),
/// Cityscapes also `miou_easy` / `miou_hard`. `confidence_intervals["miou"]` is the 95 % bootstrap
/// interval over test images. The colour maps (prediction and ground truth) of the first test image are
/// written into `cfg.out_dir` and listed in `images` (paths relative to `cfg.out_dir`).
pub fn evaluate(
    cfg: &SegmentationConfig,
    model: &LoadedModel,
    store: Option<&FeatureStore>,
) -> Result<Experiment> {
    let t_all = Instant::now();
    let enc = encode_splits(
        cfg.dataset,
        &cfg.data_root,
        &cfg.train_split,
        &cfg.test_split,
        cfg.layer,
        model,
        store,
        cfg.device_batch,
    )?;
    let space = cfg.dataset.label_space();
    let n_classes = space.num_raw();
    let device = model.vit.device().clone();

    let t_probe = Instant::now();
    let (transformed, transform) = features::transform_features(
        enc.train.view()?,
        enc.test.view()?,
        cfg.remove_top_variance,
        cfg.normalize,
    )?;
    let (g, q) = match &transformed {
        Some((g, q)) => (g.view(), q.view()),
        None => (enc.train.view()?, enc.test.view()?),
    };
    let (preds, probe_record) = match cfg.probe {
        ProbeKind::Knn => {
            let p = features::knn_predict(
                g,
                &enc.train.labels,
                q,
                n_classes,
                &cfg.knn,
                cfg.backend,
                &device,
            )?;
            (p, serde_json::to_value(cfg.knn)?)
        }
        ProbeKind::Linear => {
            let lc = cfg.linear.probe_config(n_classes, model.family);
            features::linear_predict(g, &enc.train.labels, q, &enc.test.labels, &lc, &device)?
        }
    };
    drop(transformed);
    let probe_s = t_probe.elapsed().as_secs_f64();

    let t_eval = Instant::now();
    let ev = features::evaluate_predictions(&space, &enc.spec, &enc.test_split, &enc.test, &preds)?;
    let ci = if cfg.bootstrap_resamples >= 2 {
        Some(features::miou_ci(
            &ev,
            cfg.bootstrap_resamples,
            cfg.bootstrap_seed,
        )?)
    } else {
        None
    };
    let eval_s = t_eval.elapsed().as_secs_f64();

    let name = cfg.name.clone().unwrap_or_else(|| {
        let mut n = format!(
            "{}/{}/{}/{}/layer{}",
            cfg.dataset.name(),
            cfg.probe.name(),
            cfg.train_split,
            model.name,
            enc.layer
        );
        if cfg.remove_top_variance > 0 {
            n.push_str(&format!("/minus{}", cfg.remove_top_variance));
        }
        if cfg.normalize != Normalize::None {
            n.push_str(&format!("/{}", cfg.normalize.label()));
        }
        n
    });
    let mut e = Experiment::new(
        name.clone(),
        ExperimentKind::Segmentation,
        model_info(model),
    );
    let scores = ev.total.scores();
    e.metrics.insert("miou".into(), scores.miou);
    e.metrics
        .insert("pixel_accuracy".into(), scores.pixel_accuracy);
    e.metrics.insert("patch_accuracy".into(), ev.patch_accuracy);
    for (cname, iou) in scores.class_names.iter().zip(&scores.iou) {
        if iou.is_finite() {
            e.metrics.insert(format!("per_class_iou/{cname}"), *iou);
        }
    }
    if cfg.dataset == SegDataset::Cityscapes {
        use patchlens_metrics::labels::{CITYSCAPES_EASY, CITYSCAPES_HARD};
        e.metrics
            .insert("miou_easy".into(), ev.total.miou_of(&CITYSCAPES_EASY)?);
        e.metrics
            .insert("miou_hard".into(), ev.total.miou_of(&CITYSCAPES_HARD)?);
    }
    e.metrics.retain(|_, v| v.is_finite());
    if let Some(ci) = ci {
        e.confidence_intervals.insert("miou".into(), ci);
    }

    // Sample maps of the first test image.
    if let (Some(map), Some(slot)) = (&ev.first_map, enc.test.images.first()) {
        std::fs::create_dir_all(&cfg.out_dir)
            .with_context(|| format!("creating {}", cfg.out_dir.display()))?;
        let stem = format!(
            "{}_{}",
            features::sanitize(&name),
            features::sanitize(&slot.entry.id)
        );
        let pred_file = format!("{stem}_pred.png");
        patchlens_metrics::write_color_png(&cfg.out_dir.join(&pred_file), map, &space.palette)?;
        let gt = features::read_gt(&enc.test_split, &slot.entry)?;
        let gt_map = patchlens_metrics::LabelMap::from_u8(gt.width, gt.height, &gt.data)?;
        let gt_file = format!("{stem}_gt.png");
        patchlens_metrics::write_color_png(&cfg.out_dir.join(&gt_file), &gt_map, &space.palette)?;
        e.images.push(ImageArtifact {
            title: format!("{} prediction: {}", cfg.probe.name(), slot.entry.id),
            caption: Some(format!("{name}; {} colours; black = void", space.name)),
            source: ImageSource::File { path: pred_file },
        });
        e.images.push(ImageArtifact {
            title: format!("ground truth: {}", slot.entry.id),
            caption: None,
            source: ImageSource::File { path: gt_file },
        });
    }

    // Paper numbers (Cityscapes, layer 12, the study's five ViT-B models, untransformed or MAE − N).
    if let Some(pm) = features::paper_model(&model.name)
        && cfg.dataset == SegDataset::Cityscapes
        && enc.layer == 12
        && cfg.test_split == patchlens_data::cityscapes::VAL_POOL
        && cfg.knn == KnnSettings::default()
        && cfg.normalize == Normalize::None
    {
        let probe = cfg.probe.name();
        let pools = ["set2_36", "set4_72", "set4prime_72", "set8_144"];
        if cfg.remove_top_variance == 0 && pools.contains(&cfg.train_split.as_str()) {
            e.paper.insert(
                "miou".into(),
                PaperKey::new(
                    "cityscapes_knn_vs_linear_by_pool",
                    format!("{probe}/{}", cfg.train_split),
                    pm,
                ),
            );
            if cfg.train_split == patchlens_data::cityscapes::DEFAULT_TRAIN_POOL {
                for cname in &scores.class_names {
                    let key = format!("per_class_iou/{cname}");
                    if e.metrics.contains_key(&key) {
                        e.paper.insert(
                            key,
                            PaperKey::new(
                                "cityscapes_per_class_iou_layer12",
                                format!("{probe}/{cname}"),
                                pm,
                            ),
                        );
                    }
                }
            }
        } else if pm == "mae" && cfg.train_split == patchlens_data::cityscapes::DEFAULT_TRAIN_POOL {
            e.paper.insert(
                "miou".into(),
                PaperKey::new(
                    "cityscapes_mae_high_variance_removal",
                    format!("{probe}/removed{}", cfg.remove_top_variance),
                    pm,
                ),
            );
        }
    }

    let mut p = serde_json::Map::new();
    p.insert("dataset".into(), cfg.dataset.name().into());
    p.insert(
        "data_root".into(),
        cfg.data_root.display().to_string().into(),
    );
    p.insert("train_split".into(), cfg.train_split.clone().into());
    p.insert("test_split".into(), cfg.test_split.clone().into());
    p.insert("train_images".into(), enc.train.images.len().into());
    let ids = |s: &patchlens_data::SegmentationSplit| -> Vec<String> {
        s.entries.iter().map(|e| e.id.clone()).collect()
    };
    p.insert("train_ids".into(), ids(&enc.train_split).into());
    p.insert("test_ids".into(), ids(&enc.test_split).into());
    p.insert("test_images".into(), enc.test.images.len().into());
    p.insert("gallery_patches".into(), enc.train.len().into());
    p.insert("query_patches".into(), enc.test.len().into());
    p.insert("layer".into(), enc.layer.into());
    p.insert("feature_dim".into(), enc.train.dim.into());
    p.insert("tile_spec".into(), serde_json::to_value(&enc.spec)?);
    p.insert("label_space".into(), space.name.clone().into());
    p.insert("probe_classes".into(), n_classes.into());
    p.insert(
        "gallery".into(),
        "all train patches incl. void, centre-pixel labels in the raw label space".into(),
    );
    p.insert(
        "evaluation".into(),
        match enc.spec.resize {
            None => "tile grids upsampled nearest-exact (OpenCV 4) to the tile size and stitched; full resolution",
            Some(_) => "frame patch grid resized nearest-exact (OpenCV 4) to the original label size",
        }
        .into(),
    );
    p.insert("probe".into(), cfg.probe.name().into());
    p.insert(cfg.probe.name().into(), probe_record);
    p.insert("feature_transform".into(), transform);
    p.insert("backend".into(), cfg.backend.name().into());
    p.insert("device_batch".into(), cfg.device_batch.into());
    p.insert(
        "timings_s".into(),
        serde_json::json!({
            "encode_train": enc.train.seconds,
            "encode_test": enc.test.seconds,
            "probe": probe_s,
            "evaluate": eval_s,
            "total": t_all.elapsed().as_secs_f64(),
        }),
    );
    e.protocol = p;
    Ok(e)
}

/// The flat metrics of `e` as the nested top-level `"metrics"` object of an eval results file:
/// scalars as they are, `<group>/<name>` gathered into `<group>: {name: value}` (e.g.
/// `per_class_iou: {class: fraction}`), and intervals as `miou_ci95: [lower, upper]` (grouped likewise).
pub fn summary_metrics(e: &Experiment) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    let mut per_class = serde_json::Map::new();
    for (k, v) in &e.metrics {
        match k.split_once('/') {
            Some((group, name)) => {
                let obj = if group == "per_class_iou" {
                    &mut per_class
                } else {
                    m.entry(group.to_string())
                        .or_insert_with(|| serde_json::Value::Object(Default::default()))
                        .as_object_mut()
                        .expect("inserted as object")
                };
                obj.insert(name.to_string(), (*v).into());
            }
            None => {
                m.insert(k.clone(), (*v).into());
            }
        }
    }
    if !per_class.is_empty() {
        m.insert("per_class_iou".into(), per_class.into());
    }
    for (k, ci) in &e.confidence_intervals {
        let bounds = serde_json::json!([ci.lower, ci.upper]);
        match k.split_once('/') {
            Some((group, name)) => {
                if let Some(o) = m
                    .entry(format!("{group}_ci95"))
                    .or_insert_with(|| serde_json::Value::Object(Default::default()))
                    .as_object_mut()
                {
                    o.insert(name.to_string(), bounds);
                }
            }
            None => {
                m.insert(format!("{k}_ci95"), bounds);
            }
        }
    }
    serde_json::Value::Object(m)
}

/// Write `results` to `path` (atomically) with an extra top-level `"metrics"` object (see
/// [`summary_metrics`]); the file still loads as [`Results`].
pub fn write_results(path: &Path, results: &Results, metrics: serde_json::Value) -> Result<()> {
    let mut v = serde_json::to_value(results)?;
    if let Some(o) = v.as_object_mut() {
        o.insert("metrics".into(), metrics);
    }
    let text = serde_json::to_string_pretty(&v)?;
    crate::reproduce::write_atomic(path, text.as_bytes())
}

/// Run `eval segmentation`.
pub fn run(args: &SegmentationArgs) -> Result<()> {
    let cfg = args.config()?;
    let (e, run) = super::common::run_timed(
        &args.model,
        &args.run,
        &args.out,
        "segmentation",
        |model, store| evaluate(&cfg, model, store),
    )?;
    let metrics = summary_metrics(&e);
    let ci = e
        .confidence_intervals
        .get("miou")
        .map(|c| (c.lower, c.upper))
        .unwrap_or((f64::NAN, f64::NAN));
    let line = format!(
        "segmentation {}: mIoU {:.4} [95% CI {:.4}, {:.4}]  pixel acc {:.4}  patch acc {:.4}  -> {}",
        e.name,
        e.metrics.get("miou").copied().unwrap_or(f64::NAN),
        ci.0,
        ci.1,
        e.metrics.get("pixel_accuracy").copied().unwrap_or(f64::NAN),
        e.metrics.get("patch_accuracy").copied().unwrap_or(f64::NAN),
        args.out.display()
    );
    let mut results = Results::new(run);
    results.experiments.push(e);
    write_results(&args.out, &results, metrics)?;
    println!("{line}");
    Ok(())
}
