//! `cargo xtask eval tracking`: object association across frames (protocol §8) on BDD100K MOT or on the
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

use anyhow::{Context, Result, bail};
use clap::Args;
use patchlens_data::synthetic::video::{SyntheticVideo, VideoConfig};
use patchlens_image::{IMAGENET_MEAN, IMAGENET_STD, ImageU8, Interpolation};
use patchlens_report::{
    Curve, Experiment, ExperimentKind, ModelInfo, PaperKey, Results, StageTiming,
};
use patchlens_store::FeatureStore;
use patchlens_track::protocol::bdd;
use patchlens_track::{
    AssociationConfig, AssociationEvaluator, AssociationResult, BddTrackingProtocol, BoxXyxy,
    EncodingMode, FeatureMap, RoiAlignConfig, Similarity, TileLayout, TrackedObject, roi_align,
    stitch_tiles,
};
use serde_json::json;

use crate::encode::Encoder;
use crate::models::LoadedModel;

/// Dataset of `eval tracking`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
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

/// Encoding mode on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    /// Independent 224 tiles, token grids stitched.
    Tiled,
    /// The whole frame in one pass.
    Full,
}

impl From<ModeArg> for EncodingMode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::Tiled => EncodingMode::Tiled,
            ModeArg::Full => EncodingMode::Full,
        }
    }
}

/// Arguments of `eval tracking`.
#[derive(Args, Debug)]
pub struct TrackingArgs {
    /// The model.
    #[command(flatten)]
    pub model: super::common::ModelArgs,
    /// Backend, batch size, feature cache.
    #[command(flatten)]
    pub run: super::common::RunArgs,
    /// Dataset.
    #[arg(long, value_enum)]
    pub dataset: TrackingDataset,
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
    pub video_preset: VideoPreset,
    /// Frame gaps Δ (default 1,3,…,59; synthetic: odd Δ below the video length).
    #[arg(long, value_delimiter = ',')]
    pub deltas: Vec<usize>,
    /// Similarity of object vectors.
    #[arg(long, value_enum, default_value = "dot")]
    pub similarity: SimilarityArg,
    /// results.json to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// Similarity on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SimilarityArg {
    /// Raw dot product (the study).
    Dot,
    /// Cosine.
    Cosine,
}

/// Everything [`evaluate`] needs besides the model.
#[derive(Clone, Debug)]
pub struct TrackingEvalConfig {
    /// Dataset.
    pub dataset: TrackingDataset,
    /// BDD100K root (bdd100k only).
    pub data_root: Option<PathBuf>,
    /// BDD100K split.
    pub split: String,
    /// Layer (None = the last).
    pub layer: Option<usize>,
    /// Tiled or full.
    pub mode: EncodingMode,
    /// Explicit videos (names, or synthetic indices); empty = the first `num_videos`.
    pub videos: Vec<String>,
    /// Number of videos when `videos` is empty.
    pub num_videos: usize,
    /// Frames per video (synthetic: the video length, default 24; BDD100K: only the first N frames).
    pub frames: Option<usize>,
    /// Synthetic master seed.
    pub seed: u64,
    /// Synthetic video setting.
    pub video_preset: VideoPreset,
    /// Frame gaps (empty = the dataset default).
    pub deltas: Vec<usize>,
    /// Similarity.
    pub similarity: Similarity,
    /// Tiles per forward pass.
    pub device_batch: usize,
}

impl TrackingEvalConfig {
    /// From the command line.
    pub fn from_args(a: &TrackingArgs) -> Self {
        Self {
            dataset: a.dataset,
            data_root: a.data_root.clone(),
            split: a.split.clone(),
            layer: a.layer,
            mode: a.mode.into(),
            videos: a.videos.clone(),
            num_videos: a.num_videos,
            frames: a.frames,
            seed: a.seed,
            video_preset: a.video_preset,
            deltas: a.deltas.clone(),
            similarity: match a.similarity {
                SimilarityArg::Dot => Similarity::Dot,
                SimilarityArg::Cosine => Similarity::Cosine,
            },
            device_batch: a.run.device_batch,
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

/// Encode one frame (already at `geometry.frame_size`) into its feature map.
fn frame_map(
    encoder: &Encoder<'_>,
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
    let norm = |img: &ImageU8| {
        patchlens_image::to_chw(&patchlens_image::to_f32_normalized(
            img,
            IMAGENET_MEAN,
            IMAGENET_STD,
        ))
    };
    let d = encoder.model.config().embed_dim;
    match geometry.mode {
        EncodingMode::Full => {
            let feats = encoder.encode_image(image_id, h, w, &[layer], || Ok(vec![norm(image)]))?;
            let f = feats.get(&layer).context("no features for the layer")?;
            Ok(FeatureMap::from_tokens(&f.features, f.rows, f.cols, f.dim)?)
        }
        EncodingMode::Tiled => {
            let t = geometry.tile;
            let feats = encoder.encode_image(image_id, t, t, &[layer], || {
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
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
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

fn open_videos(cfg: &TrackingEvalConfig) -> Result<Vec<VideoSource>> {
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
fn deltas_for(cfg: &TrackingEvalConfig) -> Vec<usize> {
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

/// The study's model name in `paper_reference_numbers.json` for a zoo name (the ViT-B models).
pub fn paper_model(zoo_name: &str) -> Option<&'static str> {
    match zoo_name {
        "dino_vitb16" => Some("dino"),
        "dinov2_vitb14" => Some("dinov2"),
        "mae_vitb16" => Some("mae"),
        "sup_vitb16_torchvision" | "sup_vitb16_timm" => Some("sup_vit"),
        "simmim_vitb16" => Some("simmim"),
        _ => None,
    }
}

/// Run the association experiment with `model`; returns the experiment and the raw per-Δ result.
pub fn evaluate_detailed(
    cfg: &TrackingEvalConfig,
    model: &LoadedModel,
    store: Option<&FeatureStore>,
) -> Result<(Experiment, AssociationResult, f64)> {
    let mc = model.config();
    let patch = mc.patch_size;
    let layer = cfg.layer.unwrap_or(mc.depth);
    if layer == 0 || layer > mc.depth {
        bail!(
            "--layer {layer} is out of range for {} (1..={})",
            model.name,
            mc.depth
        );
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
    let preprocessing = format!(
        "tracking {mode_name} frame={}x{} resize={} tile={} imagenet-norm",
        geometry.frame_size.0,
        geometry.frame_size.1,
        geometry.resize.unwrap_or("none"),
        geometry.tile
    );
    let encoder = Encoder {
        model,
        device_batch: cfg.device_batch,
        store,
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
    let mut done = 0usize;
    let mut objects_seen = 0usize;
    for v in &videos {
        for i in 0..v.len() {
            done += 1;
            eprint!("\r[{done}/{total}] {}   ", v.name());
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
    eprintln!();
    let seconds = t0.elapsed().as_secs_f64();
    let result = evaluator.finish();

    let mut exp = Experiment::new(
        format!(
            "{}/tracking/{mode_name}/{}/layer{layer}",
            cfg.dataset.name(),
            model.name
        ),
        ExperimentKind::Tracking,
        ModelInfo {
            zoo_name: model.name.clone(),
            weights_sha256: Some(model.weights_sha256.clone()),
            family: model.family.name().to_string(),
        },
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
    if xs.is_empty() {
        bail!("no frame pair had an object in common for any Δ in {deltas:?}");
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    exp.metrics.insert("same_instance_mean".into(), mean(&inst));
    exp.metrics.insert("same_category_mean".into(), mean(&cat));
    exp.metrics.insert("frames".into(), result.frames as f64);
    exp.metrics.insert("videos".into(), result.videos as f64);
    exp.metrics.insert("objects".into(), objects_seen as f64);
    let ds = match cfg.dataset {
        TrackingDataset::Bdd100k => "BDD100K",
        TrackingDataset::Synthetic => "synthetic",
    };
    let label = format!("{} {mode_name}", model.name);
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
        && let Some(pm) = paper_model(&model.name)
    {
        ci.paper = Some(PaperKey::new(
            "bdd100k_tracking_same_instance",
            format!("{mode_name}/delta{{x}}"),
            pm,
        ));
        if cfg.mode == EncodingMode::Full {
            cc.paper = Some(PaperKey::new(
                "bdd100k_tracking_same_category_full",
                "delta{x}",
                pm,
            ));
        }
    }
    exp.curves = vec![ci, cc];
    let p = &mut exp.protocol;
    p.insert("dataset".into(), json!(cfg.dataset.name()));
    if let Some(r) = &cfg.data_root {
        p.insert("data_root".into(), json!(r.display().to_string()));
        p.insert("split".into(), json!(cfg.split));
    }
    p.insert(
        "videos".into(),
        json!(videos.iter().map(|v| v.name()).collect::<Vec<_>>()),
    );
    if cfg.dataset == TrackingDataset::Synthetic {
        p.insert(
            "synthetic_video_config".into(),
            serde_json::to_value(synthetic_video_config(
                cfg.video_preset,
                cfg.frames,
                cfg.seed,
            ))?,
        );
    }
    p.insert("layer".into(), json!(layer));
    p.insert("mode".into(), json!(mode_name));
    p.insert("geometry".into(), serde_json::to_value(&geometry)?);
    p.insert("association".into(), serde_json::to_value(&assoc)?);
    p.insert("preprocessing".into(), json!(preprocessing));
    p.insert(
        "object_vector".into(),
        json!("RoIAlign [D, 7, 7] on the patch-feature map, flattened channel-major"),
    );
    p.insert(
        "accuracy".into(),
        json!("fraction correct per frame pair, averaged over frame pairs with common ids"),
    );
    p.insert(
        "timings_s".into(),
        json!({ "encode_and_associate": seconds }),
    );
    Ok((exp, result, seconds))
}

/// Run the association experiment with `model` (features cached in `store` if given).
pub fn evaluate(
    cfg: &TrackingEvalConfig,
    model: &LoadedModel,
    store: Option<&FeatureStore>,
) -> Result<Experiment> {
    Ok(evaluate_detailed(cfg, model, store)?.0)
}

/// Run `eval tracking`.
pub fn run(args: &TrackingArgs) -> Result<()> {
    let t0 = Instant::now();
    let device = args.run.backend.device()?;
    let model = args.model.load(&device)?;
    let store = args.run.open_store(&args.out)?;
    let cfg = TrackingEvalConfig::from_args(args);
    let exp = evaluate(&cfg, &model, store.as_ref())?;
    let seconds = exp.protocol["timings_s"]["encode_and_associate"]
        .as_f64()
        .unwrap_or(f64::NAN);
    let mut run = args.run.backend.run_info();
    run.stages = vec![
        StageTiming {
            name: "encode+associate".into(),
            seconds,
        },
        StageTiming {
            name: "total".into(),
            seconds: t0.elapsed().as_secs_f64(),
        },
    ];
    run.update_peak_memory();
    let first = exp
        .metrics
        .iter()
        .find(|(k, _)| k.starts_with("same_instance.delta"))
        .map(|(k, v)| (k.clone(), *v));
    let line = format!(
        "tracking {} {} {}: same instance {:.4} / same category {:.4} (mean over Δ){} over {} videos, {} frames -> {}",
        cfg.dataset.name(),
        match cfg.mode {
            EncodingMode::Tiled => "tiled",
            EncodingMode::Full => "full",
        },
        model.name,
        exp.metrics["same_instance_mean"],
        exp.metrics["same_category_mean"],
        first.map_or(String::new(), |(k, v)| format!(", {k} {v:.4}")),
        exp.metrics["videos"],
        exp.metrics["frames"],
        args.out.display()
    );
    let mut results = Results::new(run);
    results.experiments.push(exp);
    results
        .save(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!("{line}");
    Ok(())
}
