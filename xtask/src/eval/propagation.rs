//! `cargo xtask eval propagation`: DAVIS semi-supervised video object segmentation by label propagation
//! of patch features (DINO's `eval_video_segmentation.py` protocol), scored with the official J&F.
//!
//! Per sequence:
//! 1. every frame is resized with DINO's `read_frame` rule (short side → `--scale-size` 480, long side
//!    `floor(480·long/short / 64)·64`, OpenCV bilinear on the `u8` RGB frame: 854×480 → 832×480), then
//!    **snapped down to a whole number of patches** (`rows = h / patch`, `cols = w / patch`, resized to
//!    `rows·patch × cols·patch`; a no-op for patch 8/16, 832×480 → 826×476 for patch 14 — DINO's strided
//!    patch convolution would silently crop those pixels, which misaligns the features with the first
//!    annotation that `read_seg` downsamples whole), ImageNet-normalised;
//! 2. the whole frame is one tile through the [`Encoder`] (cached per frame; the model's position
//!    embedding is interpolated to the frame grid), layer `--layer` (default: the last), final-norm patch
//!    tokens;
//! 3. the first annotation is propagated with [`patchlens_track::LabelPropagator`] (first frame + the
//!    `--n-last-frames` previous ones, `--topk`, `--radius`, `--temperature`), giving label maps at the
//!    annotation's resolution;
//! 4. J and F per object ([`patchlens_metrics::evaluate_semisupervised_sequence`], first and last frames
//!    excluded as in the official code); the summary means are over objects of all sequences
//!    ([`DavisSummary`]), per-sequence figures over that sequence's objects.
//!
//! Results (`metrics`): `j_mean`, `f_mean`, `jf_mean`, `j_recall`, `f_recall`, `j_decay`, `f_decay`,
//! `objects`, `sequences`, `frames`, and per sequence `per_sequence.<name>.j`, `.f`, `.jf` (the schema's
//! metrics are a flat name → number map, so the per-sequence table is flattened with dotted keys).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use patchlens_data::davis::{self, DavisVersion};
use patchlens_image::{IMAGENET_MEAN, IMAGENET_STD, ImageU8, Interpolation};
use patchlens_metrics::{DEFAULT_BOUND_TH, DavisSummary, LabelMap, ObjectScores};
use patchlens_report::{Experiment, ExperimentKind, ModelInfo, Results, StageTiming};
use patchlens_store::FeatureStore;
use patchlens_track::protocol::davis as davis_protocol;
use patchlens_track::{FeatureMap, LabelPropagator, PropagationConfig};
use serde_json::json;

use crate::encode::Encoder;
use crate::models::LoadedModel;

/// DAVIS edition on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DavisDataset {
    /// DAVIS 2016 (one object, 0/255 masks).
    Davis2016,
    /// DAVIS 2017 (several objects, palette-index masks).
    Davis2017,
}

impl DavisDataset {
    /// The data crate's edition.
    pub fn version(self) -> DavisVersion {
        match self {
            DavisDataset::Davis2016 => DavisVersion::Davis2016,
            DavisDataset::Davis2017 => DavisVersion::Davis2017,
        }
    }

    /// Name in results and cache keys.
    pub fn name(self) -> &'static str {
        match self {
            DavisDataset::Davis2016 => "davis2016",
            DavisDataset::Davis2017 => "davis2017",
        }
    }
}

/// Arguments of `eval propagation`.
#[derive(Args, Debug)]
pub struct PropagationArgs {
    /// The model.
    #[command(flatten)]
    pub model: super::common::ModelArgs,
    /// Backend, batch size, feature cache.
    #[command(flatten)]
    pub run: super::common::RunArgs,
    /// DAVIS edition.
    #[arg(long, value_enum)]
    pub dataset: DavisDataset,
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
    /// results.json to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// Everything [`evaluate`] needs besides the model.
#[derive(Clone, Debug)]
pub struct PropagationEvalConfig {
    /// Edition.
    pub dataset: DavisDataset,
    /// DAVIS root.
    pub data_root: PathBuf,
    /// `ImageSets` split, or every sequence folder.
    pub split: Option<String>,
    /// Sequence filter (empty = all), in the given order.
    pub sequences: Vec<String>,
    /// Frames per sequence cap (None = all).
    pub max_frames: Option<usize>,
    /// Layer (None = the last).
    pub layer: Option<usize>,
    /// Propagation constants.
    pub propagation: PropagationConfig,
    /// DINO `scale_size` (480).
    pub scale_size: usize,
    /// Tiles per forward pass.
    pub device_batch: usize,
}

impl PropagationEvalConfig {
    /// From the command line.
    pub fn from_args(a: &PropagationArgs) -> Self {
        Self {
            dataset: a.dataset,
            data_root: a.data_root.clone(),
            split: a.split.clone(),
            sequences: a.sequences.clone(),
            max_frames: a.max_frames,
            layer: a.layer,
            propagation: PropagationConfig {
                n_last_frames: a.n_last_frames,
                topk: a.topk,
                size_mask_neighborhood: a.radius,
                temperature: a.temperature,
            },
            scale_size: a.scale_size,
            device_batch: a.run.device_batch,
        }
    }
}

/// Model input size `(height, width)` of a `ori_h × ori_w` DAVIS frame: DINO's `read_frame` size for
/// `scale_size`, snapped down to whole patches (see the module docs).
pub fn input_size(
    ori_h: usize,
    ori_w: usize,
    scale_size: usize,
    patch: usize,
) -> Result<(usize, usize)> {
    let (th, tw) = davis_protocol::frame_size(ori_h, ori_w, scale_size);
    let (rows, cols) = (th / patch.max(1), tw / patch.max(1));
    if rows == 0 || cols == 0 {
        bail!("frame {ori_w}x{ori_h} resized to {tw}x{th} is smaller than one {patch}-pixel patch");
    }
    Ok((rows * patch, cols * patch))
}

/// One sequence's scores.
#[derive(Clone, Debug)]
pub struct SequenceResult {
    /// Sequence name.
    pub name: String,
    /// Frames propagated (including the annotated first one).
    pub frames: usize,
    /// Per-object scores.
    pub objects: Vec<ObjectScores>,
    /// Summary over this sequence's objects.
    pub summary: DavisSummary,
    /// Seconds spent encoding (or reading cached features) and preprocessing frames.
    pub encode_seconds: f64,
    /// Seconds spent propagating labels.
    pub propagate_seconds: f64,
}

fn label_map_u8(mask: &ImageU8) -> Result<LabelMap> {
    if mask.channels != 1 {
        bail!("annotation has {} channels, expected 1", mask.channels);
    }
    Ok(LabelMap::from_u8(mask.width, mask.height, &mask.data)?)
}

/// Propagate and score one sequence.
fn run_sequence(
    cfg: &PropagationEvalConfig,
    data: &davis::Davis,
    seq: &davis::DavisSequence,
    encoder: &Encoder<'_>,
    layer: usize,
    progress: &str,
) -> Result<SequenceResult> {
    let patch = encoder.model.config().patch_size;
    let n = cfg
        .max_frames
        .map_or(seq.frames.len(), |m| m.min(seq.frames.len()));
    if n == 0 {
        bail!("sequence {} has no frames", seq.name);
    }
    let mut gt = Vec::with_capacity(n);
    let mut pred = Vec::with_capacity(n);
    let mut propagator: Option<LabelPropagator> = None;
    let (mut enc_s, mut prop_s) = (0f64, 0f64);
    for i in 0..n {
        eprint!("\r{progress} {} frame {}/{n}   ", seq.name, i + 1);
        let t0 = Instant::now();
        let frame = data.load_frame(seq, i)?;
        let (h, w) = input_size(frame.image.height, frame.image.width, cfg.scale_size, patch)?;
        let image_id = format!("{}/{}", seq.name, frame.frame);
        let feats = encoder.encode_image(&image_id, h, w, &[layer], || {
            let resized = patchlens_image::resize_u8(&frame.image, w, h, Interpolation::Linear);
            let norm = patchlens_image::to_f32_normalized(&resized, IMAGENET_MEAN, IMAGENET_STD);
            Ok(vec![patchlens_image::to_chw(&norm)])
        })?;
        let f = feats
            .get(&layer)
            .context("encoder returned no features for the layer")?;
        let map = FeatureMap::from_tokens(&f.features, f.rows, f.cols, f.dim)?;
        enc_s += t0.elapsed().as_secs_f64();
        let labels =
            label_map_u8(&frame.mask).with_context(|| format!("{image_id}: annotation"))?;
        let t1 = Instant::now();
        let predicted = match propagator.as_mut() {
            None => {
                // DAVIS 2017 void (255) is not an object: it seeds as background; the ground truth keeps
                // it so the metrics exclude it as davis2017-evaluation does.
                let mut seed = labels.clone();
                if cfg.dataset.version() == DavisVersion::Davis2017 {
                    for v in &mut seed.data {
                        if *v == u16::from(davis::VOID_2017) {
                            *v = 0;
                        }
                    }
                }
                propagator = Some(
                    LabelPropagator::new(cfg.propagation, &map, &seed, patch)
                        .with_context(|| format!("{image_id}: first frame"))?,
                );
                seed
            }
            Some(p) => {
                p.step(&map)
                    .with_context(|| format!("{image_id}: propagation"))?
                    .labels
            }
        };
        prop_s += t1.elapsed().as_secs_f64();
        gt.push(labels);
        pred.push(predicted);
    }
    let objects = patchlens_metrics::evaluate_semisupervised_sequence(
        &seq.name,
        &gt,
        &pred,
        DEFAULT_BOUND_TH,
    )?;
    if objects.is_empty() {
        bail!(
            "sequence {}: the first annotation has no object (or fewer than 3 frames to score)",
            seq.name
        );
    }
    Ok(SequenceResult {
        name: seq.name.clone(),
        frames: n,
        summary: DavisSummary::from_objects(&objects),
        objects,
        encode_seconds: enc_s,
        propagate_seconds: prop_s,
    })
}

/// Canonical description of the preprocessing (part of the feature-cache key).
fn preprocessing(cfg: &PropagationEvalConfig) -> String {
    format!(
        "davis-read_frame scale_size={} long=floor64 snapped-to-patch cv2-bilinear-u8 imagenet-norm whole-frame-one-tile",
        cfg.scale_size
    )
}

/// Run the propagation experiment with `model` (features cached in `store` if given).
/// Returns the experiment record (metrics, protocol, timings) and the per-sequence results.
pub fn evaluate_detailed(
    cfg: &PropagationEvalConfig,
    model: &LoadedModel,
    store: Option<&FeatureStore>,
) -> Result<(Experiment, Vec<SequenceResult>)> {
    let mc = model.config();
    let layer = cfg.layer.unwrap_or(mc.depth);
    if layer == 0 || layer > mc.depth {
        bail!(
            "--layer {layer} is out of range for {} (1..={})",
            model.name,
            mc.depth
        );
    }
    let data = davis::open(&cfg.data_root, cfg.dataset.version(), cfg.split.as_deref())
        .with_context(|| {
            format!(
                "opening {} under {}",
                cfg.dataset.name(),
                cfg.data_root.display()
            )
        })?;
    let seqs: Vec<&davis::DavisSequence> = if cfg.sequences.is_empty() {
        data.sequences.iter().collect()
    } else {
        cfg.sequences
            .iter()
            .map(|s| data.sequence(s))
            .collect::<std::result::Result<_, _>>()?
    };
    if seqs.is_empty() {
        bail!("no DAVIS sequences found under {}", cfg.data_root.display());
    }
    let encoder = Encoder {
        model,
        device_batch: cfg.device_batch,
        store,
        preprocessing: preprocessing(cfg),
        dataset: cfg.dataset.name().to_string(),
    };
    let mut results = Vec::with_capacity(seqs.len());
    for (k, seq) in seqs.iter().enumerate() {
        let r = run_sequence(
            cfg,
            &data,
            seq,
            &encoder,
            layer,
            &format!("[{}/{}]", k + 1, seqs.len()),
        )?;
        results.push(r);
    }
    eprintln!();
    let all: Vec<ObjectScores> = results
        .iter()
        .flat_map(|r| r.objects.iter().cloned())
        .collect();
    let s = DavisSummary::from_objects(&all);

    let mut exp = Experiment::new(
        format!(
            "davis/{}/propagation/{}/layer{layer}",
            cfg.dataset.name(),
            model.name
        ),
        ExperimentKind::Other,
        ModelInfo {
            zoo_name: model.name.clone(),
            weights_sha256: Some(model.weights_sha256.clone()),
            family: model.family.name().to_string(),
        },
    );
    let m = &mut exp.metrics;
    for (k, v) in [
        ("j_mean", s.j_mean),
        ("f_mean", s.f_mean),
        ("jf_mean", s.jf_mean),
        ("j_recall", s.j_recall),
        ("f_recall", s.f_recall),
        ("j_decay", s.j_decay),
        ("f_decay", s.f_decay),
        ("objects", s.objects as f64),
        ("sequences", results.len() as f64),
        (
            "frames",
            results.iter().map(|r| r.frames).sum::<usize>() as f64,
        ),
    ] {
        m.insert(k.to_string(), v);
    }
    for r in &results {
        m.insert(format!("per_sequence.{}.j", r.name), r.summary.j_mean);
        m.insert(format!("per_sequence.{}.f", r.name), r.summary.f_mean);
        m.insert(format!("per_sequence.{}.jf", r.name), r.summary.jf_mean);
    }
    let first = &seqs[0];
    let probe = data.load_frame(first, 0)?;
    let (ih, iw) = input_size(
        probe.image.height,
        probe.image.width,
        cfg.scale_size,
        mc.patch_size,
    )?;
    let p = &mut exp.protocol;
    p.insert("dataset".into(), json!(cfg.dataset.name()));
    p.insert(
        "data_root".into(),
        json!(cfg.data_root.display().to_string()),
    );
    p.insert("split".into(), json!(cfg.split));
    p.insert(
        "sequences".into(),
        json!(results.iter().map(|r| &r.name).collect::<Vec<_>>()),
    );
    p.insert("max_frames".into(), json!(cfg.max_frames));
    p.insert("layer".into(), json!(layer));
    p.insert("features".into(), json!("final-norm patch tokens of the layer, whole frame in one pass (position embedding interpolated)"));
    p.insert("propagation".into(), serde_json::to_value(cfg.propagation)?);
    p.insert("scale_size".into(), json!(cfg.scale_size));
    p.insert("preprocessing".into(), json!(preprocessing(cfg)));
    p.insert(
        "input_size_first_sequence".into(),
        json!(format!("{ih}x{iw}")),
    );
    p.insert(
        "grid_first_sequence".into(),
        json!(format!("{}x{}", ih / mc.patch_size, iw / mc.patch_size)),
    );
    p.insert("bound_th".into(), json!(DEFAULT_BOUND_TH));
    p.insert(
        "metric".into(),
        json!("DAVIS semi-supervised J&F (first and last frames excluded), means over objects"),
    );
    p.insert(
        "timings_s".into(),
        json!({
            "encode": results.iter().map(|r| r.encode_seconds).sum::<f64>(),
            "propagate": results.iter().map(|r| r.propagate_seconds).sum::<f64>(),
            "per_sequence": results.iter().map(|r| json!({
                "name": r.name, "frames": r.frames,
                "encode": r.encode_seconds, "propagate": r.propagate_seconds,
            })).collect::<Vec<_>>(),
        }),
    );
    Ok((exp, results))
}

/// Run the propagation experiment with `model` (features cached in `store` if given).
pub fn evaluate(
    cfg: &PropagationEvalConfig,
    model: &LoadedModel,
    store: Option<&FeatureStore>,
) -> Result<Experiment> {
    Ok(evaluate_detailed(cfg, model, store)?.0)
}

/// Run `eval propagation`.
pub fn run(args: &PropagationArgs) -> Result<()> {
    let t0 = Instant::now();
    let device = args.run.backend.device()?;
    let model = args.model.load(&device)?;
    let store = args.run.open_store(&args.out)?;
    let cfg = PropagationEvalConfig::from_args(args);
    let exp = evaluate(&cfg, &model, store.as_ref())?;
    let timing = |k: &str| exp.protocol["timings_s"][k].as_f64().unwrap_or(f64::NAN);
    let mut run = args.run.backend.run_info();
    run.stages = vec![
        StageTiming {
            name: "encode".into(),
            seconds: timing("encode"),
        },
        StageTiming {
            name: "propagate".into(),
            seconds: timing("propagate"),
        },
        StageTiming {
            name: "total".into(),
            seconds: t0.elapsed().as_secs_f64(),
        },
    ];
    run.update_peak_memory();
    let mut results = Results::new(run);
    let line = format!(
        "propagation {} {}: J&F {:.4} (J {:.4}, F {:.4}) over {} sequences, {} frames -> {}",
        cfg.dataset.name(),
        model.name,
        exp.metrics["jf_mean"],
        exp.metrics["j_mean"],
        exp.metrics["f_mean"],
        exp.metrics["sequences"],
        exp.metrics["frames"],
        args.out.display()
    );
    results.experiments.push(exp);
    results
        .save(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!("{line}");
    Ok(())
}
