//! `cargo xtask eval <experiment>`: one experiment of the library with explicit inputs, writing a
//! `results.json` whose `"metrics"` object holds the figures.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use patchlens_data::synthetic::transforms::TransformBenchConfig;
use patchlens_eval::identification::{self, IdDataset};
use patchlens_eval::propagation::{self, DavisDataset};
use patchlens_eval::segmentation::{self, LinearSettings, Normalize, ProbeKind, SegSource};
use patchlens_eval::tracking::{self, TrackingDataset, VideoPreset};
use patchlens_eval::variance::{self, Alternative};
use patchlens_eval::{
    DegradationConfig, IdentificationConfig, LayerSel, PropagationEvalConfig, SegmentationConfig,
    TrackingConfig, VarianceConfig,
};
use patchlens_probe::knn::{DINO_TEMPERATURE, KnnConfig, Similarity, Vote};
use patchlens_probe::linear::Selection;
use patchlens_report::{Experiment, StageTiming};
use patchlens_track::protocol::{bdd, davis as davis_protocol};

use crate::cli::{ModelArgs, RunArgs, Source, out_dir, write_results};

/// The experiments.
#[derive(Subcommand, Debug)]
pub enum EvalCmd {
    /// Few-shot patch segmentation (k-NN / linear probe) on Cityscapes, ADE20K, CamVid or synthetic scenes.
    Segmentation(SegmentationArgs),
    /// Segmentation of degraded test images (blur, noise, frequency noise) against clean ones.
    Degradation(DegradationArgs),
    /// Feature-variance spectrum and top-variance removal sweep.
    Variance(VarianceArgs),
    /// DAVIS label propagation (J&F).
    Propagation(PropagationArgs),
    /// FAIR1M-style instance identification / object retrieval under transformations.
    Identification(IdentificationArgs),
    /// BDD100K-style object association across frames.
    Tracking(TrackingArgs),
    /// MAE reconstruction with the top-N variance dimensions replaced before the decoder.
    Reconstruction(ReconstructionArgs),
}

/// Dispatch.
pub fn run(cmd: &EvalCmd) -> Result<()> {
    match cmd {
        EvalCmd::Segmentation(a) => segmentation_cmd(a),
        EvalCmd::Degradation(a) => degradation_cmd(a),
        EvalCmd::Variance(a) => variance_cmd(a),
        EvalCmd::Propagation(a) => propagation_cmd(a),
        EvalCmd::Identification(a) => identification_cmd(a),
        EvalCmd::Tracking(a) => tracking_cmd(a),
        EvalCmd::Reconstruction(a) => reconstruction_cmd(a),
    }
}

/// The segmentation datasets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SegDatasetArg {
    /// Cityscapes gtFine (labelIds 0–33; 19 evaluation classes).
    Cityscapes,
    /// ADEChallengeData2016 (ids 0–150; 0 ignored).
    Ade20k,
    /// CamVid, SegNet layout (ids 0–11; 11 = void, ignored).
    Camvid,
    /// The generic folder layout: images/{train,test}/*.{png,jpg}, masks/{train,test}/*.png (class index
    /// per pixel, 255 = ignore), classes.txt; tiling from --protocol.
    Folder,
    /// The synthetic scenes (written under --data-root; seed --synthetic-seed).
    Synthetic,
}

/// Dataset, splits and layer of a segmentation-style experiment.
#[derive(Args, Clone, Debug)]
pub struct SegDataArgs {
    /// Dataset.
    #[arg(long, value_enum)]
    pub dataset: SegDatasetArg,
    /// Dataset root (Cityscapes: holds leftImg8bit/ and gtFine/; ADE20K: ADEChallengeData2016; CamVid:
    /// SegNet layout; synthetic: where the scenes are written).
    #[arg(long)]
    pub data_root: PathBuf,
    /// Train split or pool (Cityscapes set2_36|set4_72|set4prime_72|set8_144|train|val; ADE20K
    /// train-select|training|...; CamVid train|val|test; synthetic `train<N>`). Default: the study's.
    #[arg(long)]
    pub train_split: Option<String>,
    /// Test split or pool. Default: val30, val-select, test, test12.
    #[arg(long)]
    pub test_split: Option<String>,
    /// Layer, 1-based (block l followed by the final norm); default: the last.
    #[arg(long)]
    pub layer: Option<usize>,
    /// Synthetic scenes: seed.
    #[arg(long, default_value_t = 0)]
    pub synthetic_seed: u64,
    /// Folder datasets: a tiling option KEY=VALUE (repeatable): resize=WxH|none, tile=PX,
    /// tile_grid=ROWSxCOLS|fit, input=PX, image_resample / tile_resample=nearest_exact|linear|cubic|area,
    /// order=normalize_then_resize|resize_then_normalize. Default: the ADE20K / CamVid protocol.
    #[arg(long, value_name = "KEY=VALUE")]
    pub protocol: Vec<String>,
    /// Read patch tokens from this folder (`<dir>/<dataset>/<split folder>/<image id>.safetensors`, tensors
    /// `layer<L>` [tiles, rows·cols, D], as `cargo xtask embed --dataset` writes them) instead of running
    /// the model; `--model` names the architecture they come from.
    #[arg(long)]
    pub features: Option<PathBuf>,
}

/// The segmentation source of a command-line dataset (`protocol`: folder tiling options `KEY=VALUE`).
pub fn seg_source(
    dataset: SegDatasetArg,
    root: PathBuf,
    synthetic_seed: u64,
    protocol: &[String],
) -> Result<SegSource> {
    if dataset != SegDatasetArg::Folder && !protocol.is_empty() {
        bail!("--protocol applies to --dataset folder only");
    }
    Ok(match dataset {
        SegDatasetArg::Cityscapes => SegSource::Cityscapes { root },
        SegDatasetArg::Ade20k => SegSource::Ade20k { root },
        SegDatasetArg::Camvid => SegSource::Camvid { root },
        SegDatasetArg::Folder => {
            let mut p = patchlens_data::folder::FolderProtocol::default();
            for kv in protocol {
                let (k, v) = kv
                    .split_once('=')
                    .with_context(|| format!("--protocol `{kv}`: expected KEY=VALUE"))?;
                p.set(k.trim(), v)
                    .with_context(|| format!("--protocol `{kv}`"))?;
            }
            SegSource::Folder { root, protocol: p }
        }
        SegDatasetArg::Synthetic => SegSource::Synthetic {
            root,
            seed: synthetic_seed,
        },
    })
}

impl SegDataArgs {
    fn source(&self) -> Result<SegSource> {
        seg_source(
            self.dataset,
            self.data_root.clone(),
            self.synthetic_seed,
            &self.protocol,
        )
    }

    fn layers(&self) -> Vec<LayerSel> {
        self.layer.map(LayerSel::Index).into_iter().collect()
    }
}

/// k-NN classifier options.
#[derive(Args, Clone, Debug)]
pub struct KnnArgs {
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
}

impl KnnArgs {
    fn config(&self) -> KnnConfig {
        let mut c = KnnConfig::default();
        c.search.k = self.k;
        c.search.similarity = match self.similarity {
            SimilarityArg::Dot => Similarity::Dot,
            SimilarityArg::Cosine => Similarity::Cosine,
            SimilarityArg::NegL2 => Similarity::NegL2,
        };
        c.vote = match self.vote {
            VoteArg::Nearest => Vote::Nearest,
            VoteArg::Majority => Vote::Majority,
            VoteArg::Weighted => Vote::Weighted,
            VoteArg::Softmax => Vote::Softmax {
                temperature: self.temperature,
            },
        };
        c
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

/// Linear-probe options.
#[derive(Args, Clone, Debug)]
pub struct LinearArgs {
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
    /// Linear probe: BatchNorm(affine = False) before the head (auto: on for the MAE family).
    #[arg(long, value_enum, default_value = "auto")]
    pub batch_norm: BatchNormArg,
    /// Linear probe: epoch selection.
    #[arg(long, value_enum, default_value = "held-out")]
    pub selection: SelectionArg,
    /// Linear probe: held-out fraction of the train patches for `--selection held-out`.
    #[arg(long, default_value_t = 0.1)]
    pub holdout_fraction: f64,
}

impl LinearArgs {
    fn settings(&self) -> LinearSettings {
        let mut l = LinearSettings::default();
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
        l
    }
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

/// Arguments of `eval segmentation`.
#[derive(Args, Debug)]
pub struct SegmentationArgs {
    /// The model.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Backend, batch size, feature cache.
    #[command(flatten)]
    pub run: RunArgs,
    /// Dataset, splits, layer.
    #[command(flatten)]
    pub data: SegDataArgs,
    /// Probe.
    #[arg(long, value_enum)]
    pub probe: ProbeArg,
    /// k-NN options.
    #[command(flatten)]
    pub knn: KnnArgs,
    /// Linear-probe options.
    #[command(flatten)]
    pub linear: LinearArgs,
    /// Delete the N highest-variance feature dimensions (variance over the train patches) first.
    #[arg(long, default_value_t = 0)]
    pub remove_top_variance: usize,
    /// Then normalise with train statistics: `none`, `bn`, `standardize`, `whiten` (or `whiten:EPS`), `pca:K`.
    #[arg(long, default_value = "none", value_parser = segmentation::probe::parse_normalize)]
    pub normalize: Normalize,
    /// Bootstrap resamples of the mIoU interval (0 = none).
    #[arg(long, default_value_t = segmentation::DEFAULT_BOOTSTRAP_RESAMPLES)]
    pub bootstrap: usize,
    /// results.json to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// `--probe`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProbeArg {
    /// Exact k-NN over the train patches.
    Knn,
    /// Softmax regression trained with Adam (our recipe: the epoch chosen on held-out train patches).
    Linear,
    /// The same with the study's recipe: 100 epochs (MAE 250), every 5th chosen by ROC-AUC on the test set.
    LinearStudy,
}

impl From<ProbeArg> for ProbeKind {
    fn from(p: ProbeArg) -> ProbeKind {
        match p {
            ProbeArg::Knn => ProbeKind::Knn,
            ProbeArg::Linear => ProbeKind::Linear,
            ProbeArg::LinearStudy => ProbeKind::LinearStudy,
        }
    }
}

/// Run `f` with the command's token source (timed), write `out` (results.json with its `"metrics"` object)
/// and print `f`'s summary lines (`prefix` first).
fn run_and_write(
    model: &ModelArgs,
    run: &RunArgs,
    out: &std::path::Path,
    features: Option<&std::path::Path>,
    prefix: &str,
    f: impl FnOnce(
        &dyn patchlens_eval::TokenSource,
    ) -> patchlens_eval::Result<(Vec<Experiment>, Vec<String>)>,
) -> Result<()> {
    let t0 = Instant::now();
    let source = Source::open(model, run, out, features)?;
    let load_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let (exps, lines) = source.with(f)?;
    let mut info = run.dev.run_info();
    info.stages.push(StageTiming {
        name: "load_model".into(),
        seconds: load_s,
    });
    info.stages.push(StageTiming {
        name: prefix.trim().into(),
        seconds: t1.elapsed().as_secs_f64(),
    });
    info.extra
        .insert("weights".into(), model.weights_label().into());
    if let Some(f) = features {
        info.extra
            .insert("features".into(), f.display().to_string().into());
    }
    info.update_peak_memory();
    write_results(out, info, exps)?;
    for l in lines {
        println!("{prefix}{l} -> {}", out.display());
    }
    Ok(())
}

fn segmentation_cmd(a: &SegmentationArgs) -> Result<()> {
    let mut cfg = SegmentationConfig::new(a.data.source()?);
    cfg.train_splits = a.data.train_split.iter().cloned().collect();
    cfg.test_split = a.data.test_split.clone();
    cfg.layers = a.data.layers();
    cfg.probes = vec![a.probe.into()];
    cfg.knn = a.knn.config();
    cfg.linear = a.linear.settings();
    cfg.remove_top_variance = a.remove_top_variance;
    cfg.normalize = a.normalize;
    cfg.bootstrap.resamples = a.bootstrap;
    cfg.maps_dir = Some(out_dir(&a.out));
    let features = a.data.features.as_deref();
    run_and_write(&a.model, &a.run, &a.out, features, "segmentation ", |t| {
        let r = segmentation::run(&cfg, t)?;
        Ok((r.experiments(), r.summary_lines()))
    })
}

/// Arguments of `eval degradation`.
#[derive(Args, Debug)]
pub struct DegradationArgs {
    /// The model.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Backend, batch size, feature cache.
    #[command(flatten)]
    pub run: RunArgs,
    /// Dataset, splits, layer.
    #[command(flatten)]
    pub data: SegDataArgs,
    /// Probe.
    #[arg(long, value_enum, default_value = "knn")]
    pub probe: ProbeArg,
    /// Degradation kinds (comma-separated: blur, noise, freq).
    #[arg(long, value_delimiter = ',', default_value = "blur,noise,freq")]
    pub kinds: Vec<String>,
    /// Levels 1–4.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3,4")]
    pub levels: Vec<u8>,
    /// Noise seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Bootstrap resamples per setting (at least 2).
    #[arg(long, default_value_t = segmentation::DEFAULT_BOOTSTRAP_RESAMPLES)]
    pub bootstrap: usize,
    /// results.json to write.
    #[arg(long)]
    pub out: PathBuf,
}

fn degradation_cmd(a: &DegradationArgs) -> Result<()> {
    let mut cfg = DegradationConfig::new(a.data.source()?);
    cfg.train_split = a.data.train_split.clone();
    cfg.test_split = a.data.test_split.clone();
    cfg.layers = a.data.layers();
    cfg.probes = vec![a.probe.into()];
    cfg.kinds = a
        .kinds
        .iter()
        .map(|k| {
            serde_json::from_value(serde_json::Value::String(k.clone()))
                .with_context(|| format!("--kinds: unknown degradation `{k}` (blur, noise, freq)"))
        })
        .collect::<Result<_>>()?;
    cfg.levels = a.levels.clone();
    cfg.seed = a.seed;
    cfg.bootstrap.resamples = a.bootstrap;
    let features = a.data.features.as_deref();
    run_and_write(&a.model, &a.run, &a.out, features, "", |t| {
        let r = patchlens_eval::degradation::run(&cfg, t)?;
        Ok((r.experiments(), r.summary_lines()))
    })
}

/// Arguments of `eval variance`.
#[derive(Args, Debug)]
pub struct VarianceArgs {
    /// The model.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Backend, batch size, feature cache.
    #[command(flatten)]
    pub run: RunArgs,
    /// Dataset, splits (train: spectrum, gallery, fitted statistics; test: queries), layer.
    #[command(flatten)]
    pub data: SegDataArgs,
    /// Numbers of top-variance dimensions to delete (comma-separated; clamped to D − 1).
    #[arg(long, value_delimiter = ',', default_values_t = patchlens_probe::variance::CITYSCAPES_REMOVAL_SWEEP.to_vec())]
    pub sweep: Vec<usize>,
    /// Alternatives in the same sweep (comma-separated: bn, bn-probe, standardize, whiten, pca; `none`
    /// for only the removal sweep).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "bn,bn-probe,standardize,whiten,pca"
    )]
    pub alternatives: Vec<String>,
    /// PCA dimensions k (comma-separated); default D − N for every N > 0 of the sweep.
    #[arg(long, value_delimiter = ',')]
    pub pca_k: Vec<usize>,
    /// Also retrain the linear probe (default hyper-parameters) at every point.
    #[arg(long)]
    pub linear: bool,
    /// k-NN options.
    #[command(flatten)]
    pub knn: KnnArgs,
    /// Bootstrap resamples per point (0 = none).
    #[arg(long, default_value_t = segmentation::DEFAULT_BOOTSTRAP_RESAMPLES)]
    pub bootstrap: usize,
    /// results.json to write.
    #[arg(long)]
    pub out: PathBuf,
}

fn variance_cmd(a: &VarianceArgs) -> Result<()> {
    let mut cfg = VarianceConfig::new(a.data.source()?);
    cfg.train_split = a.data.train_split.clone();
    cfg.test_split = a.data.test_split.clone();
    cfg.layers = a.data.layers();
    cfg.knn = a.knn.config();
    cfg.sweep = a.sweep.clone();
    cfg.alternatives = a
        .alternatives
        .iter()
        .map(|s| Alternative::parse(s))
        .collect::<patchlens_eval::Result<_>>()?;
    cfg.pca_ks = (!a.pca_k.is_empty()).then(|| a.pca_k.clone());
    cfg.retrain_linear = a.linear;
    cfg.bootstrap.resamples = a.bootstrap;
    let features = a.data.features.as_deref();
    run_and_write(&a.model, &a.run, &a.out, features, "", |t| {
        let r = variance::run(&cfg, t)?;
        Ok((r.experiments(), r.summary_lines()))
    })
}

/// Arguments of `eval propagation`.
#[derive(Args, Debug)]
pub struct PropagationArgs {
    /// The model.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Backend, batch size, feature cache.
    #[command(flatten)]
    pub run: RunArgs,
    /// DAVIS edition.
    #[arg(long, value_enum)]
    pub dataset: DavisArg,
    /// DAVIS root (holding `JPEGImages/480p` and `Annotations/480p`).
    #[arg(long)]
    pub data_root: PathBuf,
    /// `ImageSets` split (e.g. `val`); default: every sequence folder under `JPEGImages/480p`.
    #[arg(long)]
    pub split: Option<String>,
    /// Only these sequences (comma-separated), in this order.
    #[arg(long, value_delimiter = ',')]
    pub sequences: Vec<String>,
    /// Only the first N frames of each sequence (quick checks; the official protocol uses all).
    #[arg(long)]
    pub max_frames: Option<usize>,
    /// Layer (1-based, block output + final norm); default: the last.
    #[arg(long)]
    pub layer: Option<usize>,
    /// Previous frames kept as context besides the first.
    #[arg(long, default_value_t = davis_protocol::N_LAST_FRAMES)]
    pub n_last_frames: usize,
    /// Neighbours accumulated per target patch.
    #[arg(long, default_value_t = davis_protocol::TOPK)]
    pub topk: usize,
    /// Radius (patches) of the source window; 0 = whole frame.
    #[arg(long, default_value_t = davis_protocol::SIZE_MASK_NEIGHBORHOOD)]
    pub radius: usize,
    /// Softmax temperature.
    #[arg(long, default_value_t = davis_protocol::TEMPERATURE)]
    pub temperature: f32,
    /// Short side frames are resized to (DINO's `scale_size`).
    #[arg(long, default_value_t = davis_protocol::SCALE_SIZE)]
    pub scale_size: usize,
    /// Also write the predicted masks as indexed PNGs (DAVIS palette, index = object id) to
    /// `DIR/<sequence>/<frame>.png`, the layout the official davis2017-evaluation scores.
    #[arg(long, value_name = "DIR")]
    pub masks_out: Option<PathBuf>,
    /// results.json to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// DAVIS edition on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DavisArg {
    /// DAVIS 2016 (one object, 0/255 masks).
    Davis2016,
    /// DAVIS 2017 (several objects, palette-index masks).
    Davis2017,
}

fn propagation_cmd(a: &PropagationArgs) -> Result<()> {
    let dataset = match a.dataset {
        DavisArg::Davis2016 => DavisDataset::Davis2016,
        DavisArg::Davis2017 => DavisDataset::Davis2017,
    };
    let mut cfg = PropagationEvalConfig::new(dataset, &a.data_root);
    cfg.split = a.split.clone();
    cfg.sequences = a.sequences.clone();
    cfg.max_frames = a.max_frames;
    cfg.layer = a.layer;
    cfg.propagation = patchlens_track::PropagationConfig {
        n_last_frames: a.n_last_frames,
        topk: a.topk,
        size_mask_neighborhood: a.radius,
        temperature: a.temperature,
    };
    cfg.scale_size = a.scale_size;
    cfg.write_masks = a.masks_out.clone();
    run_and_write(&a.model, &a.run, &a.out, None, "propagation ", |t| {
        let r = propagation::run(&cfg, t)?;
        Ok((vec![r.experiment()], vec![r.summary_line()]))
    })
}

/// Arguments of `eval identification`.
#[derive(Args, Debug)]
pub struct IdentificationArgs {
    /// The model.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Backend, batch size, feature cache.
    #[command(flatten)]
    pub run: RunArgs,
    /// Dataset.
    #[arg(long, value_enum)]
    pub dataset: IdDatasetArg,
    /// FAIR1M chip folder (`images/<chip>.png` + `labelXml/<chip>.xml` or `labelTxt/<chip>.txt`).
    #[arg(long, required_if_eq("dataset", "fair1m"))]
    pub data_root: Option<PathBuf>,
    /// Transformation kinds: rotate, scale, shift, blur, noise, freq, or all (comma-separated list allowed).
    #[arg(long, default_value = "all")]
    pub transform: String,
    /// Levels 1–4 of each kind.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3,4")]
    pub levels: Vec<u8>,
    /// Layer (1-based; layer l = block l followed by the final norm); default: the last.
    #[arg(long)]
    pub layer: Option<usize>,
    /// Also report object retrieval: the top-1 with every gallery patch of the query's own tile excluded.
    #[arg(long)]
    pub exclude_same_tile: bool,
    /// Delete the N highest-variance feature dimensions (variance over the gallery) before the search.
    #[arg(long, default_value_t = 0)]
    pub remove_top_variance: usize,
    /// FAIR1M: tiles per fine class of the selection.
    #[arg(long, default_value_t = patchlens_data::fair1m::TILES_PER_CLASS)]
    pub per_class: usize,
    /// FAIR1M: tile-selection and noise seed.
    #[arg(long, default_value_t = patchlens_data::fair1m::DEFAULT_SEED)]
    pub seed: u64,
    /// Synthetic: number of scenes (one original tile each).
    #[arg(long, default_value_t = 32)]
    pub scenes: usize,
    /// Synthetic: scene generator seed.
    #[arg(long, default_value_t = 0)]
    pub synthetic_seed: u64,
    /// Output results.json.
    #[arg(long)]
    pub out: PathBuf,
}

/// Which dataset (`--dataset`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum IdDatasetArg {
    /// FAIR1M chips (`--data-root`: `images/` + `labelXml/` or `labelTxt/`).
    Fair1m,
    /// The synthetic transformation benchmark (no files).
    Synthetic,
}

fn identification_cmd(a: &IdentificationArgs) -> Result<()> {
    let dataset = match a.dataset {
        IdDatasetArg::Fair1m => {
            let root = a
                .data_root
                .clone()
                .context("--data-root is required for --dataset fair1m")?;
            if !root.is_dir() {
                bail!("--data-root {} is not a directory", root.display());
            }
            IdDataset::Fair1m {
                root,
                per_class: a.per_class,
                selection_seed: a.seed,
            }
        }
        IdDatasetArg::Synthetic => {
            let mut bench = TransformBenchConfig::default();
            bench.scene.seed = a.synthetic_seed;
            IdDataset::Synthetic {
                bench,
                scenes: a.scenes,
            }
        }
    };
    let mut cfg = IdentificationConfig::new(dataset);
    cfg.transforms = identification::parse_transforms(&a.transform, &a.levels)?;
    cfg.layer = a.layer;
    cfg.exclude_same_tile = a.exclude_same_tile;
    cfg.remove_top_variance = a.remove_top_variance;
    cfg.noise_seed = a.seed;
    run_and_write(&a.model, &a.run, &a.out, None, "", |t| {
        let r = identification::run(&cfg, t)?;
        Ok((vec![r.experiment()], vec![r.summary_line()]))
    })
}

/// Arguments of `eval tracking`.
#[derive(Args, Debug)]
pub struct TrackingArgs {
    /// The model.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Backend, batch size, feature cache.
    #[command(flatten)]
    pub run: RunArgs,
    /// Dataset.
    #[arg(long, value_enum)]
    pub dataset: TrackDatasetArg,
    /// BDD100K root (`images/track/<split>/…`, `labels/box_track_20/<split>/…`); not used for synthetic.
    #[arg(long)]
    pub data_root: Option<PathBuf>,
    /// BDD100K split.
    #[arg(long, default_value = "val")]
    pub split: String,
    /// Layer (1-based); default: the last.
    #[arg(long)]
    pub layer: Option<usize>,
    /// Tiled (independent 224 tiles, stitched) or full (one pass).
    #[arg(long, value_enum, default_value = "tiled")]
    pub mode: ModeArg,
    /// Videos: BDD100K video names, or synthetic video indices (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub videos: Vec<String>,
    /// Without --videos: the first N videos (BDD100K: label files in sorted order; synthetic: 0..N).
    #[arg(long, default_value_t = bdd::NUM_VIDEOS)]
    pub num_videos: usize,
    /// Frames per video: synthetic video length (default 24), BDD100K: only the first N frames.
    #[arg(long)]
    pub frames: Option<usize>,
    /// Synthetic master seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Synthetic video setting (`hard`: shared colours, so instances differ only by shape/texture).
    #[arg(long, value_enum, default_value = "default")]
    pub video_preset: PresetArg,
    /// Frame gaps Δ (default 1,3,…,59; synthetic: odd Δ below the video length).
    #[arg(long, value_delimiter = ',')]
    pub deltas: Vec<usize>,
    /// Similarity of object vectors.
    #[arg(long, value_enum, default_value = "dot")]
    pub similarity: TrackSimilarityArg,
    /// results.json to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// Tracking dataset on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TrackDatasetArg {
    /// BDD100K MOT 2020 (`box_track_20`).
    Bdd100k,
    /// The synthetic videos of `patchlens-data`.
    Synthetic,
}

/// Encoding mode on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Independent 224 tiles, token grids stitched.
    Tiled,
    /// The whole frame in one pass.
    Full,
}

/// Synthetic video setting on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PresetArg {
    /// Independent colours per object.
    Default,
    /// One colour pair per video, hue/brightness drift.
    Hard,
}

/// Object-vector similarity on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TrackSimilarityArg {
    /// Raw dot product (the study).
    Dot,
    /// Cosine.
    Cosine,
}

fn tracking_cmd(a: &TrackingArgs) -> Result<()> {
    let mut cfg = TrackingConfig::new(match a.dataset {
        TrackDatasetArg::Bdd100k => TrackingDataset::Bdd100k,
        TrackDatasetArg::Synthetic => TrackingDataset::Synthetic,
    });
    cfg.data_root = a.data_root.clone();
    cfg.split = a.split.clone();
    cfg.layer = a.layer;
    cfg.mode = match a.mode {
        ModeArg::Tiled => patchlens_track::EncodingMode::Tiled,
        ModeArg::Full => patchlens_track::EncodingMode::Full,
    };
    cfg.videos = a.videos.clone();
    cfg.num_videos = a.num_videos;
    cfg.frames = a.frames;
    cfg.seed = a.seed;
    cfg.video_preset = match a.video_preset {
        PresetArg::Default => VideoPreset::Default,
        PresetArg::Hard => VideoPreset::Hard,
    };
    cfg.deltas = a.deltas.clone();
    cfg.similarity = match a.similarity {
        TrackSimilarityArg::Dot => patchlens_track::Similarity::Dot,
        TrackSimilarityArg::Cosine => patchlens_track::Similarity::Cosine,
    };
    run_and_write(&a.model, &a.run, &a.out, None, "tracking ", |t| {
        let r = tracking::run(&cfg, t)?;
        Ok((vec![r.experiment()], vec![r.summary_line()]))
    })
}

/// Arguments of `eval reconstruction`.
#[derive(Args, Debug)]
pub struct ReconstructionArgs {
    /// The MAE (`--weights`: its checkpoint; encoder, and decoder unless `--decoder`).
    #[command(flatten)]
    pub model: ModelArgs,
    /// Backend, batch size.
    #[command(flatten)]
    pub run: RunArgs,
    /// Dataset; --train-split: the mean/variance statistics; --test-split: the tiles reconstructed.
    #[command(flatten)]
    pub data: SegDataArgs,
    /// Decoder checkpoint (default: the weights file, else `<stem>_decoder.safetensors` beside it).
    #[arg(long)]
    pub decoder: Option<PathBuf>,
    /// Decoder architecture DIMxDEPTHxHEADS (default: the decoder file's metadata, else 512x8x16).
    #[arg(long)]
    pub decoder_arch: Option<String>,
    /// Whether the decoder predicts per-patch normalised pixels (default: metadata, else false).
    #[arg(long)]
    pub norm_pix_loss: Option<bool>,
    /// Numbers of replaced dimensions (comma-separated; 0 = plain reconstruction).
    #[arg(long, value_delimiter = ',', default_values_t = patchlens_probe::variance::CITYSCAPES_REMOVAL_SWEEP.to_vec())]
    pub sweep: Vec<usize>,
    /// Modes (comma-separated: mean, zero, random-zero).
    #[arg(long, value_delimiter = ',', default_value = "mean,zero,random-zero")]
    pub modes: Vec<String>,
    /// Tiles reconstructed (the first of the split).
    #[arg(long, default_value_t = 64)]
    pub tiles: usize,
    /// Seed of the masks and of the control's dimensions.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// N of the figure's replacement panels (default: the largest N of the sweep up to D / 4).
    #[arg(long)]
    pub figure_n: Option<usize>,
    /// results.json to write (the figure's PNGs beside it).
    #[arg(long)]
    pub out: PathBuf,
}

fn reconstruction_cmd(a: &ReconstructionArgs) -> Result<()> {
    use patchlens_eval::reconstruction::{self, MaeModel, ReconstructionConfig};
    let mut cfg = ReconstructionConfig::new(a.data.source()?);
    cfg.stats_split = a.data.train_split.clone();
    cfg.split = a.data.test_split.clone();
    cfg.sweep = a.sweep.clone();
    cfg.modes = a
        .modes
        .iter()
        .map(|m| serde_json::from_value(m.replace('-', "_").into()))
        .collect::<Result<_, _>>()
        .context("--modes: mean, zero, random-zero")?;
    (cfg.tiles, cfg.seed, cfg.figure_n) = (a.tiles, a.seed, a.figure_n);
    cfg.batch = a.run.device_batch;
    cfg.id = Some("reconstruction".into());
    cfg.images_dir = Some(out_dir(&a.out));
    let decoder = match (&a.decoder_arch, a.norm_pix_loss) {
        (None, None) => None,
        (arch, npl) => {
            let mut d = patchlens_vit::mae::MaeDecoderConfig::official();
            if let Some(s) = arch {
                let v: Vec<usize> = s.split('x').map(str::parse).collect::<Result<_, _>>()?;
                let [dim, depth, heads] = v[..] else {
                    bail!("--decoder-arch `{s}`: expected DIMxDEPTHxHEADS")
                };
                (d.dim, d.depth, d.heads) = (dim, depth, heads);
            }
            d.norm_pix_loss = npl.unwrap_or(false);
            Some(d)
        }
    };
    let patchlens_eval::ModelSource::Weights { path, .. } = a.model.source()? else {
        bail!("reconstruction needs --weights (an MAE checkpoint; random weights have no decoder)");
    };
    let spec = a.model.spec()?;
    let t0 = Instant::now();
    let device = a.run.dev.device()?;
    let model = MaeModel::load(
        &spec.name,
        spec.config,
        spec.norm,
        &path,
        a.decoder.as_deref(),
        decoder,
        &device,
    )?;
    let load_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let r = reconstruction::run(&cfg, &model, None)?;
    let mut info = a.run.dev.run_info();
    for (name, seconds) in [
        ("load_model", load_s),
        ("reconstruction", t1.elapsed().as_secs_f64()),
    ] {
        info.stages.push(StageTiming {
            name: name.into(),
            seconds,
        });
    }
    info.extra
        .insert("weights".into(), a.model.weights_label().into());
    info.update_peak_memory();
    write_results(&a.out, info, r.experiments())?;
    for l in r.summary_lines() {
        println!("{l} -> {}", a.out.display());
    }
    Ok(())
}
