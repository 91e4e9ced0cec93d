//! DAVIS semi-supervised video object segmentation by label propagation
//! of patch features (DINO's `eval_video_segmentation.py` protocol), scored with the official J&F.
//!
//! Per sequence:
//! 1. every frame is resized with DINO's `read_frame` rule (short side → `--scale-size` 480, long side
//!    `floor(480·long/short / 64)·64`, OpenCV bilinear on the `u8` RGB frame: 854×480 → 832×480), then
//!    **snapped down to a whole number of patches** (`rows = h / patch`, `cols = w / patch`, resized to
//!    `rows·patch × cols·patch`; a no-op for patch 8/16, 832×480 → 826×476 for patch 14 — DINO's strided
//!    patch convolution would silently crop those pixels, which misaligns the features with the first
//!    annotation that `read_seg` downsamples whole), ImageNet-normalised;
//! 2. the whole frame is one tile through the [`TokenSource`] (cached per frame; the model's position
//!    embedding is interpolated to the frame grid), layer `--layer` (default: the last), final-norm patch
//!    tokens;
//! 3. the first annotation is propagated with [`patchlens_track::LabelPropagator`] (first frame + the
//!    `--n-last-frames` previous ones, `--topk`, `--radius`, `--temperature`), giving label maps at the
//!    annotation's resolution;
//! 4. J and F per object ([`patchlens_metrics::evaluate_semisupervised_sequence`], first and last frames
//!    excluded as in the official code); the summary means are over objects of all sequences
//!    ([`DavisSummary`]), per-sequence figures over that sequence's objects.
//!
//! With [`PropagationEvalConfig::write_masks`] every frame's predicted mask is also written as an indexed
//! PNG in the layout of the official `davis2017-evaluation` ([`write_mask`]).
//!
//! Results (`metrics`): `j_mean`, `f_mean`, `jf_mean`, `j_recall`, `f_recall`, `j_decay`, `f_decay`,
//! `objects`, `sequences`, `frames`, and per sequence `per_sequence.<name>.j`, `.f`, `.jf` (the schema's
//! metrics are a flat name → number map, so the per-sequence table is flattened with dotted keys).

use std::path::{Path, PathBuf};
use std::time::Instant;

use patchlens_data::davis::{self, DavisVersion};
use patchlens_image::{ImageU8, Interpolation};
use patchlens_metrics::{DEFAULT_BOUND_TH, DavisSummary, LabelMap, ObjectScores};
use patchlens_report::{Experiment, ExperimentKind, ModelInfo};
use patchlens_track::protocol::davis as davis_protocol;
use patchlens_track::{FeatureMap, LabelPropagator, PropagationConfig};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::encode::{ImageRequest, TokenSource};
use crate::error::{Context, EvalError, Result, bail, err};
use crate::progress::Progress;

/// DAVIS edition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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

/// A label-propagation experiment at one layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropagationEvalConfig {
    /// Edition.
    pub dataset: DavisDataset,
    /// DAVIS root.
    pub data_root: PathBuf,
    /// `ImageSets` split, or every sequence folder.
    #[serde(default)]
    pub split: Option<String>,
    /// Sequence filter (empty = all), in the given order.
    #[serde(default)]
    pub sequences: Vec<String>,
    /// Frames per sequence cap (None = all).
    #[serde(default)]
    pub max_frames: Option<usize>,
    /// Layer (None = the last).
    #[serde(default)]
    pub layer: Option<usize>,
    /// Propagation constants (DINO's defaults).
    #[serde(default)]
    pub propagation: PropagationConfig,
    /// DINO `scale_size` (480).
    #[serde(default = "default_scale_size")]
    pub scale_size: usize,
    /// Also write every frame's predicted mask (frame 0: the given annotation, as DINO writes it) to
    /// `<write_masks>/<sequence>/<frame>.png`, an indexed PNG with the DAVIS palette whose index is the
    /// object id ([`write_mask`]): the `--results_path` layout of the official `davis2017-evaluation`.
    /// `None`: masks are only scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_masks: Option<PathBuf>,
}

fn default_scale_size() -> usize {
    davis_protocol::SCALE_SIZE
}

impl PropagationEvalConfig {
    /// DINO's protocol on the DAVIS tree under `data_root`: every sequence and frame, last layer.
    pub fn new(dataset: DavisDataset, data_root: impl Into<PathBuf>) -> Self {
        Self {
            dataset,
            data_root: data_root.into(),
            split: None,
            sequences: Vec::new(),
            max_frames: None,
            layer: None,
            propagation: PropagationConfig::default(),
            scale_size: default_scale_size(),
            write_masks: None,
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

/// Write one predicted label map as `<dir>/<sequence>/<frame>.png`: an 8-bit indexed PNG with the DAVIS
/// palette ([`davis::palette`]), pixel = palette index = object id (DAVIS 2016's object is id 1, as the
/// data reader returns it), written atomically. Returns the path.
pub fn write_mask(dir: &Path, sequence: &str, frame: &str, labels: &LabelMap) -> Result<PathBuf> {
    let data = labels
        .data
        .iter()
        .map(|&v| u8::try_from(v))
        .collect::<std::result::Result<Vec<u8>, _>>()
        .map_err(|_| {
            err!(
                "{sequence}/{frame}: object id {} does not fit a palette PNG (at most 255)",
                labels.max_value()
            )
        })?;
    let img = ImageU8 {
        width: labels.width,
        height: labels.height,
        channels: 1,
        data,
    };
    let bytes = patchlens_image::encode_indexed_png(&img, &davis::palette())
        .with_context(|| format!("{sequence}/{frame}: encoding the predicted mask"))?;
    let path = dir.join(sequence).join(format!("{frame}.png"));
    patchlens_store::write_atomic(&path, &bytes)?;
    Ok(path)
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
    encoder: &FrameEncoder<'_>,
    layer: usize,
    progress: &mut Progress,
) -> Result<SequenceResult> {
    let patch = encoder.tokens.patch_size();
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
        let t0 = Instant::now();
        let frame = data.load_frame(seq, i)?;
        let (h, w) = input_size(frame.image.height, frame.image.width, cfg.scale_size, patch)?;
        let image_id = format!("{}/{}", seq.name, frame.frame);
        let request = ImageRequest {
            dataset: &encoder.dataset,
            preprocessing: &encoder.preprocessing,
            image_id: &image_id,
            height: h,
            width: w,
            cache: true,
        };
        let feats = encoder.tokens.tokens(&request, &[layer], &mut || {
            let resized = patchlens_image::resize_u8(&frame.image, w, h, Interpolation::Linear);
            Ok(vec![patchlens_image::to_chw(
                &encoder.tokens.norm().apply(&resized),
            )])
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
        if let Some(dir) = &cfg.write_masks {
            write_mask(dir, &seq.name, &frame.frame, &predicted)?;
        }
        gt.push(labels);
        pred.push(predicted);
        progress.inc(&image_id);
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

/// Where the frames' tokens come from.
struct FrameEncoder<'a> {
    tokens: &'a dyn TokenSource,
    dataset: String,
    preprocessing: String,
}

/// Canonical description of the preprocessing (part of the feature-cache key).
fn preprocessing(cfg: &PropagationEvalConfig, norm: &crate::model::InputNorm) -> String {
    format!(
        "davis-read_frame scale_size={} long=floor64 snapped-to-patch cv2-bilinear-u8 {} whole-frame-one-tile",
        cfg.scale_size,
        crate::encode::norm_tag(norm)
    )
}

/// Everything a propagation experiment measured.
#[derive(Clone, Debug)]
pub struct PropagationResult {
    /// The model.
    pub model: ModelInfo,
    /// The configuration.
    pub config: PropagationEvalConfig,
    /// Layer.
    pub layer: usize,
    /// Per sequence, in order.
    pub sequences: Vec<SequenceResult>,
    /// Means over the objects of all sequences.
    pub summary: DavisSummary,
    /// Model input `(height, width)` of the first sequence's frames.
    pub input_first_sequence: (usize, usize),
    /// Patch size.
    pub patch_size: usize,
    /// Preprocessing description.
    pub preprocessing: String,
}

/// Run the propagation experiment with the tokens of `tokens`.
pub fn run(cfg: &PropagationEvalConfig, tokens: &dyn TokenSource) -> Result<PropagationResult> {
    let depth = tokens.depth();
    let layer = cfg.layer.unwrap_or(depth);
    if layer == 0 || layer > depth {
        return Err(EvalError::invalid(
            "propagation",
            "layer",
            format!("{layer} is outside 1..={depth} of {}", tokens.name()),
        ));
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
    let encoder = FrameEncoder {
        tokens,
        dataset: cfg.dataset.name().to_string(),
        preprocessing: preprocessing(cfg, &tokens.norm()),
    };
    let total: usize = seqs
        .iter()
        .map(|q| {
            cfg.max_frames
                .map_or(q.frames.len(), |m| m.min(q.frames.len()))
        })
        .sum();
    let mut progress = Progress::new(format!("propagating {}", cfg.dataset.name()), total);
    let mut results = Vec::with_capacity(seqs.len());
    for seq in &seqs {
        results.push(run_sequence(
            cfg,
            &data,
            seq,
            &encoder,
            layer,
            &mut progress,
        )?);
    }
    drop(progress);
    let all: Vec<ObjectScores> = results
        .iter()
        .flat_map(|r| r.objects.iter().cloned())
        .collect();
    let summary = DavisSummary::from_objects(&all);
    let patch = tokens.patch_size();
    let probe = data.load_frame(seqs[0], 0)?;
    let input_first_sequence =
        input_size(probe.image.height, probe.image.width, cfg.scale_size, patch)?;
    Ok(PropagationResult {
        model: tokens.info(),
        config: cfg.clone(),
        layer,
        sequences: results,
        summary,
        input_first_sequence,
        patch_size: patch,
        preprocessing: encoder.preprocessing.clone(),
    })
}

impl PropagationResult {
    /// One line: J&F, J and F over the sequences.
    pub fn summary_line(&self) -> String {
        format!(
            "davis/{}/propagation/{}/layer{}: J&F {:.4} (J {:.4}, F {:.4}) over {} sequences, {} frames",
            self.config.dataset.name(),
            self.model.zoo_name,
            self.layer,
            self.summary.jf_mean,
            self.summary.j_mean,
            self.summary.f_mean,
            self.sequences.len(),
            self.sequences.iter().map(|r| r.frames).sum::<usize>()
        )
    }
}

impl PropagationResult {
    /// The experiment: J&F summary metrics, per-sequence figures, the protocol.
    pub fn experiment(&self) -> Experiment {
        let cfg = &self.config;
        let layer = self.layer;
        let s = &self.summary;
        let results = &self.sequences;
        let mut exp = Experiment::new(
            format!(
                "davis/{}/propagation/{}/layer{layer}",
                cfg.dataset.name(),
                self.model.zoo_name
            ),
            ExperimentKind::Other,
            self.model.clone(),
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
        for r in results {
            m.insert(format!("per_sequence.{}.j", r.name), r.summary.j_mean);
            m.insert(format!("per_sequence.{}.f", r.name), r.summary.f_mean);
            m.insert(format!("per_sequence.{}.jf", r.name), r.summary.jf_mean);
        }
        let (ih, iw) = self.input_first_sequence;
        let patch = self.patch_size;
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
        p.insert(
            "propagation".into(),
            serde_json::to_value(cfg.propagation).unwrap_or_default(),
        );
        p.insert("scale_size".into(), json!(cfg.scale_size));
        p.insert("preprocessing".into(), json!(self.preprocessing));
        p.insert(
            "input_size_first_sequence".into(),
            json!(format!("{ih}x{iw}")),
        );
        p.insert(
            "grid_first_sequence".into(),
            json!(format!("{}x{}", ih / patch, iw / patch)),
        );
        p.insert("bound_th".into(), json!(DEFAULT_BOUND_TH));
        p.insert(
            "metric".into(),
            json!("DAVIS semi-supervised J&F (first and last frames excluded), means over objects"),
        );
        exp
    }
}
