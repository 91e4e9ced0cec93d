//! Object association across frames (protocol §8) on BDD100K MOT or on the
//! synthetic videos of `patchlens-data`.
//!
//! Per frame: the frame is encoded into a patch-feature map, each ground-truth box is RoIAlign-ed
//! (7×7, torchvision semantics, `spatial_scale = 1/patch`) into one flattened `[D·7·7]` vector, and the
//! frames are streamed into [`AssociationEvaluator`] (for every Δ and start frame t, each object present at
//! t and t+Δ is matched by raw dot product against every object of t+Δ; same-instance / same-category
//! accuracy per frame pair, averaged over pairs).
//!
//! * **bdd100k** (the study): frames (1280×720) resized bicubic to 1120×672 (as `patchlens_data::TileSpec::bdd100k_tiled`),
//!   boxes rescaled the same way; `tiled` = 3×5 independent 224 tiles whose token grids are stitched
//!   (42×70 for patch 16, 48×80 for patch 14), `full` = the whole 1120×672 frame in one pass (position
//!   embedding interpolated). Videos: the first `--num-videos` (4) label files of the split in sorted
//!   order, or `--videos a,b`.
//! * **synthetic** (our scaled-down stand-in, no files needed): videos of
//!   [`patchlens_data::synthetic::video::video`] with their native geometry (default 448×224, 24 frames,
//!   3–5 moving/scaling/rotating objects that occlude each other), **not resized**: `tiled` = 1×2
//!   independent 224 tiles (the same tile size as the study), `full` = the 448×224 frame in one pass.
//!   Boxes are the visible boxes of the instance masks, track id = instance id, category = class
//!   (`classNN`). Videos are indices `0..--num-videos` (or `--videos 0,3`) of seed `--seed`;
//!   `--frames` sets the frames per video. Default Δ: 1, 3, … below the video length.
//!
//! Results (`metrics`): `same_instance.delta<Δ>`, `same_category.delta<Δ>` (mean over frame pairs),
//! `same_instance_mean` / `same_category_mean` (mean over the Δ that had pairs), `frames`, `videos`;
//! curves `same instance` / `same category` against Δ (with the paper's series for bdd100k).

use std::path::PathBuf;
use std::time::Instant;

use patchlens_data::synthetic::video::{SyntheticVideo, VideoConfig};
use patchlens_image::{ImageU8, Interpolation};
use patchlens_report::{Curve, Experiment, ExperimentKind, ModelInfo, PaperKey};
use patchlens_track::protocol::bdd;
use patchlens_track::{
    AssociationConfig, AssociationEvaluator, AssociationResult, BddTrackingProtocol, BoxXyxy,
    EncodingMode, FeatureMap, RoiAlignConfig, Similarity, TileLayout, TrackedObject, roi_align,
    stitch_tiles,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::encode::{ImageRequest, TokenSource};
use crate::error::{Context, EvalError, Result, bail};
use crate::model::InputNorm;
use crate::progress::Progress;

/// Dataset of a tracking experiment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrackingDataset {
    /// BDD100K MOT 2020 (`box_track_20`).
    Bdd100k,
    /// The synthetic videos of `patchlens-data`.
    Synthetic,
}

impl TrackingDataset {
    /// Name in results and cache keys.
    pub fn name(self) -> &'static str {
        match self {
            TrackingDataset::Bdd100k => "bdd100k",
            TrackingDataset::Synthetic => "synthetic",
        }
    }
}

/// A tracking experiment at one layer and encoding mode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackingConfig {
    /// Dataset.
    pub dataset: TrackingDataset,
    /// BDD100K root (bdd100k only).
    #[serde(default)]
    pub data_root: Option<PathBuf>,
    /// BDD100K split.
    #[serde(default = "default_split")]
    pub split: String,
    /// Layer (None = the last).
    #[serde(default)]
    pub layer: Option<usize>,
    /// Tiled or full.
    #[serde(default = "default_mode")]
    pub mode: EncodingMode,
    /// Explicit videos (names, or synthetic indices); empty = the first `num_videos`.
    #[serde(default)]
    pub videos: Vec<String>,
    /// Number of videos when `videos` is empty.
    #[serde(default = "default_num_videos")]
    pub num_videos: usize,
    /// Frames per video (synthetic: the video length, default 24; BDD100K: only the first N frames).
    #[serde(default)]
    pub frames: Option<usize>,
    /// Synthetic master seed.
    #[serde(default)]
    pub seed: u64,
    /// Synthetic video setting.
    #[serde(default)]
    pub video_preset: VideoPreset,
    /// Frame gaps (empty = the dataset default).
    #[serde(default)]
    pub deltas: Vec<usize>,
    /// Similarity of object vectors (the study: dot).
    #[serde(default = "default_similarity")]
    pub similarity: Similarity,
}

fn default_split() -> String {
    "val".into()
}
fn default_mode() -> EncodingMode {
    EncodingMode::Tiled
}
fn default_num_videos() -> usize {
    bdd::NUM_VIDEOS
}
fn default_similarity() -> Similarity {
    Similarity::Dot
}

impl TrackingConfig {
    /// Defaults on `dataset`: split `val`, last layer, tiled, the first 4 videos, the protocol's Δ, dot.
    pub fn new(dataset: TrackingDataset) -> Self {
        Self {
            dataset,
            data_root: None,
            split: default_split(),
            layer: None,
            mode: default_mode(),
            videos: Vec::new(),
            num_videos: default_num_videos(),
            frames: None,
            seed: 0,
            video_preset: VideoPreset::Default,
            deltas: Vec::new(),
            similarity: default_similarity(),
        }
    }
}

/// Frame geometry of one dataset/mode: how a stored frame becomes a feature map and boxes RoI features.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FrameGeometry {
    /// Encoded frame `(width, height)`.
    pub frame_size: (usize, usize),
    /// Whole-frame resize kernel (`None` = not resized).
    pub resize: Option<&'static str>,
    /// Tile layout (full mode: one tile covering the frame).
    pub layout: TileLayout,
    /// Tile side in pixels (tiled mode).
    pub tile: usize,
    /// Feature grid `(rows, cols)`.
    pub grid: (usize, usize),
    /// RoIAlign setting.
    pub roi: RoiAlignConfig,
    /// Tiled or full.
    pub mode: EncodingMode,
}

impl FrameGeometry {
    /// The study's BDD100K geometry for a `patch`-pixel model.
    pub fn bdd(patch: usize, mode: EncodingMode) -> Result<Self> {
        let p = BddTrackingProtocol::new(patch, mode)?;
        Ok(Self {
            frame_size: p.frame_size,
            resize: Some("cv2 bicubic (u8)"),
            layout: p.layout,
            tile: bdd::TILE,
            grid: p.grid,
            roi: p.roi,
            mode,
        })
    }

    /// The synthetic geometry: the `width × height` frame as is, cut into 224 tiles (tiled) or encoded
    /// whole (full). Errors if the frame is not a whole number of 224 tiles.
    pub fn synthetic(
        width: usize,
        height: usize,
        patch: usize,
        mode: EncodingMode,
    ) -> Result<Self> {
        let tiled = TileLayout::for_frame(height, width, bdd::TILE, patch)?;
        let layout = match mode {
            EncodingMode::Tiled => tiled,
            EncodingMode::Full => TileLayout {
                tiles_down: 1,
                tiles_across: 1,
                tile_rows: tiled.rows(),
                tile_cols: tiled.cols(),
            },
        };
        Ok(Self {
            frame_size: (width, height),
            resize: None,
            layout,
            tile: bdd::TILE,
            grid: (layout.rows(), layout.cols()),
            roi: RoiAlignConfig::protocol(patch),
            mode,
        })
    }
}

/// Where the frames' tokens come from.
struct FrameEncoder<'a> {
    tokens: &'a dyn TokenSource,
    dataset: String,
    preprocessing: String,
    norm: InputNorm,
}

/// Encode one frame (already at `geometry.frame_size`) into its feature map.
fn frame_map(
    encoder: &FrameEncoder<'_>,
    geometry: &FrameGeometry,
    image_id: &str,
    layer: usize,
    image: &ImageU8,
) -> Result<FeatureMap> {
    let (w, h) = geometry.frame_size;
    if (image.width, image.height) != (w, h) {
        bail!(
            "{image_id}: frame is {}x{}, expected {w}x{h}",
            image.width,
            image.height
        );
    }
    let norm = |img: &ImageU8| patchlens_image::to_chw(&encoder.norm.apply(img));
    let d = encoder.tokens.embed_dim();
    let request = |h: usize, w: usize| ImageRequest {
        dataset: &encoder.dataset,
        preprocessing: &encoder.preprocessing,
        image_id,
        height: h,
        width: w,
        cache: true,
    };
    match geometry.mode {
        EncodingMode::Full => {
            let feats = encoder
                .tokens
                .tokens(&request(h, w), &[layer], &mut || Ok(vec![norm(image)]))?;
            let f = feats.get(&layer).context("no features for the layer")?;
            Ok(FeatureMap::from_tokens(&f.features, f.rows, f.cols, f.dim)?)
        }
        EncodingMode::Tiled => {
            let t = geometry.tile;
            let feats = encoder.tokens.tokens(&request(t, t), &[layer], &mut || {
                let l = &geometry.layout;
                let mut tiles = Vec::with_capacity(l.num_tiles());
                for i in 0..l.tiles_down {
                    for j in 0..l.tiles_across {
                        tiles.push(norm(&patchlens_image::crop(image, j * t, i * t, t, t)?));
                    }
                }
                Ok(tiles)
            })?;
            let f = feats.get(&layer).context("no features for the layer")?;
            let per_tile = f.rows * f.cols * d;
            if f.features.len() != per_tile * geometry.layout.num_tiles() {
                bail!(
                    "{image_id}: {} feature values for {} tiles",
                    f.features.len(),
                    geometry.layout.num_tiles()
                );
            }
            let tiles: Vec<&[f32]> = f.features.chunks_exact(per_tile).collect();
            Ok(stitch_tiles(&tiles, &geometry.layout, d)?)
        }
    }
}

/// One frame's ground truth: `(track id, category, box in the stored frame's pixels)`.
type FrameObjects = Vec<(String, String, BoxXyxy)>;

/// A video source streaming `(image at the stored size, objects)`.
enum VideoSource {
    Bdd(patchlens_data::bdd100k::BddVideo, usize),
    Synthetic(SyntheticVideo),
}

impl VideoSource {
    fn name(&self) -> String {
        match self {
            VideoSource::Bdd(v, _) => v.name.clone(),
            VideoSource::Synthetic(v) => v.id.clone(),
        }
    }

    fn len(&self) -> usize {
        match self {
            VideoSource::Bdd(v, n) => v.frames.len().min(*n),
            VideoSource::Synthetic(v) => v.frames,
        }
    }

    fn frame(&self, i: usize) -> Result<(String, ImageU8, FrameObjects)> {
        match self {
            VideoSource::Bdd(v, _) => {
                let f = &v.frames[i];
                let img = v.load_image(i)?;
                let objs = f
                    .boxes
                    .iter()
                    .map(|b| {
                        let [x1, y1, x2, y2] = b.bbox;
                        (
                            b.track_id.clone(),
                            b.category.clone(),
                            BoxXyxy::new(x1.into(), y1.into(), x2.into(), y2.into()),
                        )
                    })
                    .collect();
                Ok((format!("{}/{}", v.name, f.name), img, objs))
            }
            VideoSource::Synthetic(v) => {
                let f = v.frame(i)?;
                let objs = f
                    .objects
                    .iter()
                    .map(|o| {
                        let [x1, y1, x2, y2] = o.bbox;
                        (
                            o.track_id.to_string(),
                            format!("class{:02}", o.class),
                            BoxXyxy::new(x1.into(), y1.into(), x2.into(), y2.into()),
                        )
                    })
                    .collect();
                Ok((format!("{}/{:05}", v.id, i), f.image, objs))
            }
        }
    }
}

/// Which synthetic video setting to generate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VideoPreset {
    /// [`VideoConfig::default`]: independent colours per object (colour alone identifies most instances).
    #[default]
    Default,
    /// [`VideoConfig::hard`]: one colour pair per video, distinct classes, faster rotation/scaling and
    /// changing brightness (instances differ only by shape and texture).
    Hard,
}

impl VideoPreset {
    /// Name used in ids and cache keys.
    pub fn name(self) -> &'static str {
        match self {
            VideoPreset::Default => "default",
            VideoPreset::Hard => "hard",
        }
    }
}

/// Synthetic video configuration used by `eval tracking`: the data crate's [`VideoConfig::default`]
/// (448×224, 24 frames, 3–5 objects, speed ≤ 4 px/frame, 8 classes) or [`VideoConfig::hard`], with
/// `frames` (if given) and the master `seed` set.
pub fn synthetic_video_config(
    preset: VideoPreset,
    frames: Option<usize>,
    seed: u64,
) -> VideoConfig {
    let mut c = match preset {
        VideoPreset::Default => VideoConfig::default(),
        VideoPreset::Hard => VideoConfig::hard(),
    };
    if let Some(f) = frames {
        c.frames = f;
    }
    c.scene.seed = seed;
    c
}

fn open_videos(cfg: &TrackingConfig) -> Result<Vec<VideoSource>> {
    match cfg.dataset {
        TrackingDataset::Bdd100k => {
            let root = cfg
                .data_root
                .as_deref()
                .context("--data-root is required for bdd100k")?;
            let names = if cfg.videos.is_empty() {
                let all = patchlens_data::bdd100k::list_videos(root, &cfg.split)?;
                all.into_iter().take(cfg.num_videos).collect()
            } else {
                cfg.videos.clone()
            };
            names
                .iter()
                .map(|n| {
                    let v = patchlens_data::bdd100k::open_video(root, &cfg.split, n)
                        .with_context(|| format!("opening BDD100K video {n}"))?;
                    Ok(VideoSource::Bdd(v, cfg.frames.unwrap_or(usize::MAX)))
                })
                .collect()
        }
        TrackingDataset::Synthetic => {
            let vc = &synthetic_video_config(cfg.video_preset, cfg.frames, cfg.seed);
            let idx: Vec<usize> = if cfg.videos.is_empty() {
                (0..cfg.num_videos).collect()
            } else {
                cfg.videos
                    .iter()
                    .map(|s| {
                        s.trim()
                            .parse()
                            .with_context(|| format!("synthetic video `{s}` is not an index"))
                    })
                    .collect::<Result<_>>()?
            };
            idx.into_iter()
                .map(|i| {
                    let mut v = patchlens_data::synthetic::video::video(vc, i)?;
                    // Frame ids key the feature cache: other presets render other frames.
                    if cfg.video_preset != VideoPreset::Default {
                        v.id = format!("{}_{}", v.id, cfg.video_preset.name());
                    }
                    Ok(VideoSource::Synthetic(v))
                })
                .collect()
        }
    }
}

/// Protocol frame gaps for the configuration.
fn deltas_for(cfg: &TrackingConfig) -> Vec<usize> {
    if !cfg.deltas.is_empty() {
        return cfg.deltas.clone();
    }
    match cfg.dataset {
        TrackingDataset::Bdd100k => bdd::deltas(),
        TrackingDataset::Synthetic => {
            let len = synthetic_video_config(cfg.video_preset, cfg.frames, cfg.seed).frames;
            bdd::deltas().into_iter().filter(|&d| d < len).collect()
        }
    }
}

/// Names of tracking results: the one place they are made and read.
pub mod keys {
    /// Mean same-instance accuracy over Δ.
    pub const SAME_INSTANCE_MEAN: &str = "same_instance_mean";
    /// Mean same-category accuracy over Δ.
    pub const SAME_CATEGORY_MEAN: &str = "same_category_mean";
}

/// Everything a tracking experiment measured.
#[derive(Clone, Debug)]
pub struct TrackingResult {
    /// The model.
    pub model: ModelInfo,
    /// The study's name for the model.
    pub paper_model: Option<String>,
    /// The configuration.
    pub config: TrackingConfig,
    /// Layer.
    pub layer: usize,
    /// Frame geometry.
    pub geometry: FrameGeometry,
    /// Association settings (with the Δ used).
    pub association: AssociationConfig,
    /// Video names.
    pub videos: Vec<String>,
    /// Objects seen over all frames.
    pub objects: usize,
    /// Per-Δ accuracies.
    pub result: AssociationResult,
    /// Preprocessing description (a cache-key part).
    pub preprocessing: String,
    /// Seconds spent encoding and associating.
    pub seconds: f64,
}

impl TrackingResult {
    /// Mean same-instance accuracy over the Δ that had frame pairs.
    pub fn same_instance_mean(&self) -> Option<f64> {
        mean_of(self.result.deltas.iter().filter_map(|d| d.same_instance))
    }

    /// Mean same-category accuracy over the Δ that had frame pairs.
    pub fn same_category_mean(&self) -> Option<f64> {
        mean_of(self.result.deltas.iter().filter_map(|d| d.same_category))
    }
}

impl TrackingResult {
    /// One line: mean accuracies over Δ, videos and frames.
    pub fn summary_line(&self) -> String {
        format!(
            "{}/tracking/{}/{}/layer{}: same instance {:.4} / same category {:.4} (mean over Δ) over {} videos, {} frames",
            self.config.dataset.name(),
            mode_name(self.config.mode),
            self.model.zoo_name,
            self.layer,
            self.same_instance_mean().unwrap_or(f64::NAN),
            self.same_category_mean().unwrap_or(f64::NAN),
            self.result.videos,
            self.result.frames
        )
    }
}

fn mean_of(v: impl Iterator<Item = f64>) -> Option<f64> {
    let v: Vec<f64> = v.collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn mode_name(m: EncodingMode) -> &'static str {
    match m {
        EncodingMode::Tiled => "tiled",
        EncodingMode::Full => "full",
    }
}

/// Run the association experiment with the tokens of `tokens`.
pub fn run(cfg: &TrackingConfig, tokens: &dyn TokenSource) -> Result<TrackingResult> {
    let patch = tokens.patch_size();
    let depth = tokens.depth();
    let layer = cfg.layer.unwrap_or(depth);
    if layer == 0 || layer > depth {
        return Err(EvalError::invalid(
            "tracking",
            "layer",
            format!("{layer} is outside 1..={depth} of {}", tokens.name()),
        ));
    }
    let videos = open_videos(cfg)?;
    if videos.is_empty() {
        bail!("no videos to evaluate");
    }
    let geometry = match cfg.dataset {
        TrackingDataset::Bdd100k => FrameGeometry::bdd(patch, cfg.mode)?,
        TrackingDataset::Synthetic => {
            let vc = synthetic_video_config(cfg.video_preset, cfg.frames, cfg.seed);
            FrameGeometry::synthetic(vc.width, vc.height, patch, cfg.mode)?
        }
    };
    let deltas = deltas_for(cfg);
    let assoc = AssociationConfig {
        deltas: deltas.clone(),
        similarity: cfg.similarity,
    };
    let mut evaluator = AssociationEvaluator::new(assoc.clone())?;
    let mode_name = match cfg.mode {
        EncodingMode::Tiled => "tiled",
        EncodingMode::Full => "full",
    };
    let norm = tokens.norm();
    let preprocessing = format!(
        "tracking {mode_name} frame={}x{} resize={} tile={} {}",
        geometry.frame_size.0,
        geometry.frame_size.1,
        geometry.resize.unwrap_or("none"),
        geometry.tile,
        crate::encode::norm_tag(&norm)
    );
    let encoder = FrameEncoder {
        tokens,
        norm,
        preprocessing: preprocessing.clone(),
        dataset: format!(
            "{}/{}",
            cfg.dataset.name(),
            if cfg.dataset == TrackingDataset::Bdd100k {
                &cfg.split
            } else {
                "videos"
            }
        ),
    };
    let t0 = Instant::now();
    let total: usize = videos.iter().map(|v| v.len()).sum();
    let mut progress = Progress::new(format!("tracking ({mode_name})"), total);
    let mut objects_seen = 0usize;
    for v in &videos {
        for i in 0..v.len() {
            progress.inc(&v.name());
            let (id, image, objs) = v.frame(i)?;
            let (sw, sh) = (image.width, image.height);
            let (fw, fh) = geometry.frame_size;
            let frame = if (sw, sh) == (fw, fh) {
                image
            } else if geometry.resize.is_some() {
                patchlens_image::resize_u8(&image, fw, fh, Interpolation::Cubic)
            } else {
                bail!("{id}: frame is {sw}x{sh}, expected {fw}x{fh}");
            };
            let map = frame_map(&encoder, &geometry, &id, layer, &frame)?;
            let tracked = objs
                .into_iter()
                .map(|(tid, cat, b)| {
                    let b = b.rescaled(sw, sh, fw, fh);
                    Ok(TrackedObject {
                        id: tid,
                        category: cat,
                        vector: roi_align(&map, &b, &geometry.roi)?,
                    })
                })
                .collect::<Result<Vec<_>>>()
                .with_context(|| format!("{id}: RoIAlign"))?;
            objects_seen += tracked.len();
            evaluator
                .push_frame(tracked)
                .with_context(|| format!("{id}: association"))?;
        }
        evaluator.end_video();
    }
    drop(progress);
    let seconds = t0.elapsed().as_secs_f64();
    let result = evaluator.finish();
    if !result
        .deltas
        .iter()
        .any(|d| d.same_instance.is_some() && d.same_category.is_some())
    {
        bail!("no frame pair had an object in common for any Δ in {deltas:?}");
    }
    Ok(TrackingResult {
        model: tokens.info(),
        paper_model: tokens.paper_model().map(str::to_string),
        config: cfg.clone(),
        layer,
        geometry,
        association: assoc,
        videos: videos.iter().map(|v| v.name()).collect(),
        objects: objects_seen,
        result,
        preprocessing,
        seconds,
    })
}

impl TrackingResult {
    /// The experiment: `same_instance.delta<Δ>`, `same_category.delta<Δ>`, `frame_pairs.delta<Δ>`, the
    /// means over Δ, `frames`, `videos`, `objects`; the two accuracy curves (with the study's series for
    /// BDD100K).
    pub fn experiment(&self) -> Experiment {
        let cfg = &self.config;
        let layer = self.layer;
        let mode_name = mode_name(cfg.mode);
        let model = &self.model.zoo_name;
        let result = &self.result;
        let mut exp = Experiment::new(
            format!(
                "{}/tracking/{mode_name}/{model}/layer{layer}",
                cfg.dataset.name()
            ),
            ExperimentKind::Tracking,
            self.model.clone(),
        );
        let (mut xs, mut inst, mut cat) = (Vec::new(), Vec::new(), Vec::new());
        for d in &result.deltas {
            if let (Some(a), Some(b)) = (d.same_instance, d.same_category) {
                exp.metrics
                    .insert(format!("same_instance.delta{}", d.delta), a);
                exp.metrics
                    .insert(format!("same_category.delta{}", d.delta), b);
                exp.metrics.insert(
                    format!("frame_pairs.delta{}", d.delta),
                    d.frame_pairs as f64,
                );
                xs.push(d.delta as f64);
                inst.push(a);
                cat.push(b);
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        exp.metrics
            .insert(keys::SAME_INSTANCE_MEAN.into(), mean(&inst));
        exp.metrics
            .insert(keys::SAME_CATEGORY_MEAN.into(), mean(&cat));
        exp.metrics.insert("frames".into(), result.frames as f64);
        exp.metrics.insert("videos".into(), result.videos as f64);
        exp.metrics.insert("objects".into(), self.objects as f64);
        let ds = match cfg.dataset {
            TrackingDataset::Bdd100k => "BDD100K",
            TrackingDataset::Synthetic => "synthetic",
        };
        let label = format!("{model} {mode_name}");
        let mut ci = Curve::new(
            format!("{ds} tracking: same instance"),
            label.clone(),
            "frame gap Δ",
            "accuracy",
            xs.clone(),
            inst,
        );
        let mut cc = Curve::new(
            format!("{ds} tracking: same category"),
            label,
            "frame gap Δ",
            "accuracy",
            xs,
            cat,
        );
        if cfg.dataset == TrackingDataset::Bdd100k
            && let Some(pm) = self.paper_model.as_deref()
        {
            let note = format!(
                "ours: {} val videos, {} frames, ground-truth boxes, {mode_name}; paper: the first 4 val videos, ground-truth boxes",
                result.videos, result.frames
            );
            ci.paper = Some(
                PaperKey::new(
                    "bdd100k_tracking_same_instance",
                    format!("{mode_name}/delta{{x}}"),
                    pm,
                )
                .with_note(note.clone()),
            );
            if cfg.mode == EncodingMode::Full {
                cc.paper = Some(
                    PaperKey::new("bdd100k_tracking_same_category_full", "delta{x}", pm)
                        .with_note(note),
                );
            }
        }
        exp.curves = vec![ci, cc];
        let p = &mut exp.protocol;
        p.insert("dataset".into(), json!(cfg.dataset.name()));
        if let Some(r) = &cfg.data_root {
            p.insert("data_root".into(), json!(r.display().to_string()));
            p.insert("split".into(), json!(cfg.split));
        }
        p.insert("videos".into(), json!(self.videos));
        if cfg.dataset == TrackingDataset::Synthetic {
            p.insert(
                "synthetic_video_config".into(),
                serde_json::to_value(synthetic_video_config(
                    cfg.video_preset,
                    cfg.frames,
                    cfg.seed,
                ))
                .unwrap_or_default(),
            );
        }
        p.insert("layer".into(), json!(layer));
        p.insert("mode".into(), json!(mode_name));
        p.insert(
            "geometry".into(),
            serde_json::to_value(&self.geometry).unwrap_or_default(),
        );
        p.insert(
            "association".into(),
            serde_json::to_value(&self.association).unwrap_or_default(),
        );
        p.insert("preprocessing".into(), json!(self.preprocessing));
        p.insert(
            "object_vector".into(),
            json!("RoIAlign [D, 7, 7] on the patch-feature map, flattened channel-major"),
        );
        p.insert(
            "accuracy".into(),
            json!("fraction correct per frame pair, averaged over frame pairs with common ids"),
        );
        exp
    }
}
