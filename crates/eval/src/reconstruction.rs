//! MAE reconstruction with high-variance features replaced (protocol §6.2).
//!
//! The authors' modified MAE decoder overwrites, before `decoder_embed`, the top-N variance-sorted
//! dimensions of the encoder output. Here:
//!
//! 1. The per-dimension mean and population variance (ddof = 0, as [`crate::variance`]) of the encoder's
//!    output (last layer, after the final norm: what `decoder_embed` receives) over every patch token of
//!    the *statistics* split, encoded whole (no mask); dimensions sorted by variance, descending.
//! 2. The reconstructed tiles (the first `tiles` tiles of the evaluation split, tiled like segmentation
//!    at the model's native input size) get MAE's 75 % random mask, seeded per tile, the same for every
//!    point of the sweep. For every N of the sweep and every mode, the top-N dimensions of every token of
//!    the latent (CLS included, as an overwrite of `x[:, :, idx]` does) are set to
//!    ([`ReplaceMode::Mean`]) their statistics-split mean, ([`ReplaceMode::Zero`]) zero, or
//!    ([`ReplaceMode::RandomZero`], the control) N dimensions drawn at random (seeded; the first N of one
//!    permutation, so the sets are nested) are set to zero.
//! 3. Metrics over the masked patches of all reconstructed tiles: MAE's `forward_loss` with the decoder's
//!    own target (`mae_loss`: per-patch normalised pixels for a `norm_pix_loss` decoder), and the plain
//!    pixel MSE in the model's input space (`pixel_mse`; a normalised-pixel prediction is mapped back with
//!    the target patch's mean and standard deviation, as MAE's visualisations of such models do).
//!
//! N = 0 is the unmodified reconstruction (`plain`), shared by every mode.

use std::path::{Path, PathBuf};
use std::time::Instant;

use patchlens_data::{TileSpec, cut_tiles, model_input};
use patchlens_image::{ImageU8, to_chw};
use patchlens_probe::MatRef;
use patchlens_probe::variance::{CITYSCAPES_REMOVAL_SWEEP, variance_spectrum};
use patchlens_report::{
    Curve, Experiment, ExperimentKind, ImageArtifact, ImageSource, ModelInfo, PlotKind,
};
use patchlens_vit::mae::{
    Mae, MaeDecoderConfig, MaeMask, masked_mean, normalise_patches, patch_errors, patchify,
    unpatchify,
};
use patchlens_vit::{Device, Tensor, TensorData, VitConfig};
use serde::{Deserialize, Serialize};

use crate::error::{Context, EvalError, Result, bail};
use crate::model::InputNorm;
use crate::progress::Progress;
use crate::segmentation::{SegSource, sanitize};

/// What replaces the selected dimensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplaceMode {
    /// The top-N variance dimensions set to their statistics-split mean.
    Mean,
    /// The top-N variance dimensions set to zero.
    Zero,
    /// Control: N random dimensions set to zero.
    RandomZero,
}

impl ReplaceMode {
    /// Every mode, in report order.
    pub const ALL: [ReplaceMode; 3] = [
        ReplaceMode::Mean,
        ReplaceMode::Zero,
        ReplaceMode::RandomZero,
    ];

    /// snake_case name (metric keys).
    pub fn name(self) -> &'static str {
        match self {
            ReplaceMode::Mean => "mean",
            ReplaceMode::Zero => "zero",
            ReplaceMode::RandomZero => "random_zero",
        }
    }

    fn label(self) -> &'static str {
        match self {
            ReplaceMode::Mean => "top-N → dataset mean",
            ReplaceMode::Zero => "top-N → 0",
            ReplaceMode::RandomZero => "random N → 0 (control)",
        }
    }
}

/// A reconstruction experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconstructionConfig {
    /// The dataset.
    pub source: SegSource,
    /// Split of the mean / variance statistics (default: the dataset's train split).
    #[serde(default)]
    pub stats_split: Option<String>,
    /// Split whose tiles are reconstructed (default: the dataset's test split).
    #[serde(default)]
    pub split: Option<String>,
    /// Number of tiles reconstructed (the first ones of the split, in order).
    #[serde(default = "default_tiles")]
    pub tiles: usize,
    /// Numbers of replaced dimensions (clamped to D, repeats dropped; 0 = the plain reconstruction).
    #[serde(default = "default_sweep")]
    pub sweep: Vec<usize>,
    /// Replacement modes.
    #[serde(default = "default_modes")]
    pub modes: Vec<ReplaceMode>,
    /// MAE's mask ratio.
    #[serde(default = "default_ratio")]
    pub mask_ratio: f64,
    /// Seed of the masks and of the control's random dimensions.
    #[serde(default)]
    pub seed: u64,
    /// Tiles per forward pass.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Tiles shown in the figure (original, masked, reconstruction, one panel per mode).
    #[serde(default = "default_figure_tiles")]
    pub figure_tiles: usize,
    /// N of the figure's replacement panels (default: the largest N of the sweep up to D / 4).
    #[serde(default)]
    pub figure_n: Option<usize>,
    /// Experiment id (file names of the figure).
    #[serde(default)]
    pub id: Option<String>,
    /// Folder of the figure's PNGs (none: no figure).
    #[serde(default)]
    pub images_dir: Option<PathBuf>,
}

fn default_tiles() -> usize {
    64
}
fn default_sweep() -> Vec<usize> {
    CITYSCAPES_REMOVAL_SWEEP.to_vec()
}
fn default_modes() -> Vec<ReplaceMode> {
    ReplaceMode::ALL.to_vec()
}
fn default_ratio() -> f64 {
    0.75
}
fn default_batch() -> usize {
    16
}
fn default_figure_tiles() -> usize {
    2
}

impl ReconstructionConfig {
    /// Defaults: the dataset's splits, 64 tiles, the Cityscapes N sweep, every mode, 75 % masks, seed 0.
    pub fn new(source: SegSource) -> Self {
        ReconstructionConfig {
            source,
            stats_split: None,
            split: None,
            tiles: default_tiles(),
            sweep: default_sweep(),
            modes: default_modes(),
            mask_ratio: default_ratio(),
            seed: 0,
            batch: default_batch(),
            figure_tiles: default_figure_tiles(),
            figure_n: None,
            id: None,
            images_dir: None,
        }
    }

    /// Check values; errors name the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, why: String| Err(EvalError::invalid("reconstruction", field, why));
        if self.sweep.is_empty() {
            return bad("sweep", "is empty (give N values, e.g. [0, 10, 50])".into());
        }
        if self.modes.is_empty() {
            return bad("modes", "is empty (mean, zero, random_zero)".into());
        }
        if !(0.0..1.0).contains(&self.mask_ratio) || self.mask_ratio == 0.0 {
            return bad(
                "mask_ratio",
                format!("{} is not in (0, 1)", self.mask_ratio),
            );
        }
        if self.tiles == 0 || self.batch == 0 {
            return bad("tiles", "tiles and batch must be positive".into());
        }
        Ok(())
    }
}

/// An MAE with its decoder, ready for [`run`].
#[derive(Debug)]
pub struct MaeModel {
    /// Encoder + decoder.
    pub mae: Mae,
    /// Input normalisation.
    pub norm: InputNorm,
    /// The model as recorded in results.
    pub info: ModelInfo,
    /// The encoder's checkpoint.
    pub encoder_path: PathBuf,
    /// The decoder's checkpoint.
    pub decoder_path: PathBuf,
}

/// Key whose presence marks a checkpoint holding an MAE decoder.
const DECODER_ANCHOR: &str = "decoder_embed.weight";

/// The decoder of the MAE checkpoint `encoder`: the file itself when it holds `decoder_*` keys (as
/// `mae_visualize_vit_base.pth`), else `<stem>_decoder.safetensors` beside it (as `cargo xtask pretrain`
/// writes it). `None` when neither exists.
pub fn find_decoder(encoder: &Path) -> Result<Option<PathBuf>> {
    let ck = patchlens_vit::checkpoint::Checkpoint::open(encoder)?;
    if ck.tensors.keys().any(|k| k.ends_with(DECODER_ANCHOR)) {
        return Ok(Some(encoder.to_path_buf()));
    }
    let stem = encoder
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let sibling = encoder.with_file_name(format!("{stem}_decoder.safetensors"));
    Ok(sibling.exists().then_some(sibling))
}

/// The decoder architecture of `path`: its `patchlens.decoder` metadata (safetensors written by
/// `cargo xtask pretrain`), else the official `dec512d8b` with pixel targets ([`MaeDecoderConfig::official`]).
pub fn decoder_config_of(path: &Path) -> Result<MaeDecoderConfig> {
    if path.extension().and_then(|e| e.to_str()) == Some("safetensors")
        && let Some(json) = crate::safetensors_io::metadata(path)?.get("patchlens.decoder")
    {
        return serde_json::from_str(json)
            .with_context(|| format!("{}: metadata patchlens.decoder", path.display()));
    }
    Ok(MaeDecoderConfig::official())
}

/// MAE's checkpoint with encoder and decoder (pixel targets), for the skip lines.
pub const MAE_VISUALIZE_URL: &str =
    "https://dl.fbaipublicfiles.com/mae/visualize/mae_visualize_vit_base.pth";

/// The files of model `name`'s MAE with its decoder: `(encoder, decoder)`. With `checkpoint` (absolute,
/// or relative to `weights_root` or `weights_root/original`) both come from that file; otherwise the
/// model's own weights and [`find_decoder`]. `Err` is the one-line reason to skip (random weights, no
/// decoder, a missing file).
pub fn resolve_files(
    name: &str,
    source: &crate::model::ModelSource,
    checkpoint: Option<&Path>,
    weights_root: &Path,
) -> std::result::Result<(PathBuf, PathBuf), String> {
    let skip = |why: String| format!("reconstruction with `{name}` skipped: {why}");
    if let Some(c) = checkpoint {
        let candidates = [weights_root.join(c), weights_root.join("original").join(c)];
        return match candidates.iter().find(|p| p.is_file()) {
            Some(p) => Ok((p.clone(), p.clone())),
            None => Err(skip(format!(
                "its checkpoint {} is missing (looked in {} and {}/original; MAE's is {MAE_VISUALIZE_URL})",
                c.display(),
                weights_root.display(),
                weights_root.display()
            ))),
        };
    }
    let crate::model::ModelSource::Weights { path, .. } = source else {
        return Err(skip("random weights have no MAE decoder".into()));
    };
    match find_decoder(path) {
        Ok(Some(d)) => Ok((path.clone(), d)),
        Ok(None) => Err(skip(format!(
            "no MAE decoder in {} nor a *_decoder.safetensors beside it (a pretraining checkpoint with \
             its decoder, e.g. {MAE_VISUALIZE_URL}, named by the experiment's `checkpoint`)",
            path.display()
        ))),
        Err(e) => Err(skip(e.to_string())),
    }
}

impl MaeModel {
    /// Load the MAE `name` (architecture `config`) from `encoder_path`, its decoder from `decoder_path`
    /// (default [`find_decoder`]) with architecture `decoder` (default [`decoder_config_of`]).
    pub fn load(
        name: &str,
        config: VitConfig,
        norm: InputNorm,
        encoder_path: &Path,
        decoder_path: Option<&Path>,
        decoder: Option<MaeDecoderConfig>,
        device: &Device,
    ) -> Result<MaeModel> {
        let decoder_path = match decoder_path {
            Some(p) => p.to_path_buf(),
            None => find_decoder(encoder_path)?.with_context(|| {
                format!(
                    "model `{name}`: no MAE decoder in {} nor a {}_decoder.safetensors beside it (the \
                     reconstruction needs a pretraining checkpoint with its decoder, e.g. \
                     https://dl.fbaipublicfiles.com/mae/visualize/mae_visualize_vit_base.pth)",
                    encoder_path.display(),
                    encoder_path
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default()
                )
            })?,
        };
        let dcfg = match decoder {
            Some(d) => d,
            None => decoder_config_of(&decoder_path)?,
        };
        let mae = Mae::load(encoder_path, Some(&decoder_path), config, dcfg, device)
            .with_context(|| format!("loading the MAE `{name}` with its decoder"))?;
        let mut sha = patchlens_store::sha256_file(encoder_path)?;
        if decoder_path != encoder_path {
            sha = format!("{sha}+{}", patchlens_store::sha256_file(&decoder_path)?);
        }
        Ok(MaeModel {
            mae,
            norm,
            info: ModelInfo {
                zoo_name: name.to_string(),
                weights_sha256: Some(sha),
                family: "mae".into(),
            },
            encoder_path: encoder_path.to_path_buf(),
            decoder_path,
        })
    }
}

/// One point of the sweep.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReconPoint {
    /// The mode (`None`: the plain reconstruction, N = 0).
    pub mode: Option<ReplaceMode>,
    /// Dimensions replaced.
    pub n: usize,
    /// MAE's loss (the decoder's own target) over the masked patches.
    pub mae_loss: f64,
    /// Pixel MSE (model input space) over the masked patches.
    pub pixel_mse: f64,
}

/// Everything a reconstruction run measured.
#[derive(Clone, Debug)]
pub struct ReconstructionResult {
    /// The model.
    pub model: ModelInfo,
    /// The configuration.
    pub config: ReconstructionConfig,
    /// The decoder's architecture and target.
    pub decoder: MaeDecoderConfig,
    /// File names of the encoder's and the decoder's checkpoints.
    pub files: [String; 2],
    /// Statistics split.
    pub stats_split: String,
    /// Reconstructed split.
    pub split: String,
    /// The tiling protocol.
    pub spec: TileSpec,
    /// Feature width D.
    pub dim: usize,
    /// Patches of the statistics.
    pub stats_patches: usize,
    /// Tiles reconstructed.
    pub tiles: usize,
    /// Masked patches scored (over all tiles).
    pub masked_patches: usize,
    /// Dimensions by variance, descending.
    pub order: Vec<usize>,
    /// Their variances.
    pub sorted_variance: Vec<f64>,
    /// The control's random order of the dimensions (its first N are zeroed).
    pub random_order: Vec<usize>,
    /// The clamped sweep.
    pub sweep: Vec<usize>,
    /// `plain`, then every mode × N > 0.
    pub points: Vec<ReconPoint>,
    /// The figure.
    pub images: Vec<ImageArtifact>,
    /// Seconds.
    pub seconds: f64,
}

/// The tiles of `split` at the model input, planar `[3, H, W]` normalised, at most `limit`, with
/// their ids.
fn split_tiles(
    source: &SegSource,
    name: &str,
    spec: &TileSpec,
    limit: Option<usize>,
) -> Result<(Vec<Vec<f32>>, Vec<String>)> {
    let (split, _) = source.open(name)?;
    if split.entries.is_empty() {
        bail!("split `{name}` has no images");
    }
    let (mut tiles, mut ids) = (Vec::new(), Vec::new());
    for i in 0..split.len() {
        if limit.is_some_and(|l| tiles.len() >= l) {
            break;
        }
        let sample = split
            .load(i)
            .with_context(|| format!("loading {}", split.entries[i].id))?;
        for (t, tile) in cut_tiles(spec, &sample.id, &sample.image, None)?
            .iter()
            .enumerate()
        {
            if limit.is_some_and(|l| tiles.len() >= l) {
                break;
            }
            tiles.push(to_chw(&model_input(spec, &tile.image)));
            ids.push(format!("{}#{t}", sample.id));
        }
    }
    Ok((tiles, ids))
}

fn batch_tensor(tiles: &[Vec<f32>], side: usize, dev: &Device) -> Tensor<4> {
    let data: Vec<f32> = tiles.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(data, [tiles.len(), 3, side, side]), dev)
}

fn host<const N: usize>(t: Tensor<N>) -> Result<Vec<f32>> {
    t.into_data()
        .try_to_vec::<f32>()
        .map_err(|e| EvalError::msg(format!("tensor to host: {e:?}")))
}

/// The latent `[B, T, D]` with dimensions `dims` of every token set to `values[d]`.
fn replace_dims(latent: Tensor<3>, dims: &[usize], values: &[f32]) -> Tensor<3> {
    if dims.is_empty() {
        return latent;
    }
    let [_, _, d] = latent.dims();
    let mut keep = vec![1f32; d];
    let mut fill = vec![0f32; d];
    for &i in dims {
        keep[i] = 0.0;
        fill[i] = values[i];
    }
    let dev = latent.device();
    let keep = Tensor::<1>::from_data(TensorData::new(keep, [d]), &dev).reshape([1, 1, d]);
    let fill = Tensor::<1>::from_data(TensorData::new(fill, [d]), &dev).reshape([1, 1, d]);
    latent * keep + fill
}

/// Mask of tile `index` (seeded by the run's seed and the tile's position, so every point of the
/// sweep sees the same masks).
pub fn tile_mask(n: usize, ratio: f64, seed: u64, index: usize) -> Result<MaeMask> {
    Ok(MaeMask::random(
        n,
        ratio,
        seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index as u64,
    )?)
}

/// Prediction in pixel space: a normalised-pixel prediction mapped back with the target patches'
/// statistics.
fn pixel_prediction(pred: Tensor<3>, target: Tensor<3>, norm_pix: bool) -> Tensor<3> {
    if norm_pix {
        let (_, mean, std) = normalise_patches(target);
        pred * std + mean
    } else {
        pred
    }
}

/// Run the reconstruction experiment with `model`. `encoder_tokens`, when given, must be a token source
/// of the same encoder (same weights): the statistics then come from it, through its feature cache (the
/// variance analysis' tokens of the same split are reused); otherwise the encoder runs here.
pub fn run(
    cfg: &ReconstructionConfig,
    model: &MaeModel,
    encoder_tokens: Option<&dyn crate::encode::TokenSource>,
) -> Result<ReconstructionResult> {
    cfg.validate()?;
    let t0 = Instant::now();
    let mae = &model.mae;
    let ec = &mae.encoder.config;
    let (p, d, depth) = (ec.patch_size, ec.embed_dim, ec.depth);
    let side = mae.input_size();
    let spec = cfg.source.tile_spec_for(p, side, model.norm)?;
    if spec.input != side {
        bail!(
            "{} tiles reach the model at {1}x{1} px, the MAE decoder works at its native {side}x{side} only",
            cfg.source.name(),
            spec.input
        );
    }
    let dev = mae.encoder.device().clone();
    let stats_split = cfg
        .stats_split
        .clone()
        .unwrap_or_else(|| cfg.source.default_train_split().to_string());
    let split = cfg
        .split
        .clone()
        .unwrap_or_else(|| cfg.source.default_test_split().to_string());

    // 1. Statistics of the unmasked encoder output over the statistics split.
    let feats: Vec<f32> = match encoder_tokens {
        Some(tokens) => {
            if tokens.embed_dim() != d || tokens.depth() != depth || tokens.patch_size() != p {
                bail!("the statistics' token source is not this MAE's encoder");
            }
            let (s, tag) = cfg.source.open(&stats_split)?;
            let space = cfg.source.label_space()?;
            let mut f =
                crate::segmentation::extract(tokens, &s, &tag, &spec, &space, &[depth], None)?;
            f.remove(&depth).map(|sf| sf.features).unwrap_or_default()
        }
        None => {
            let (stats_tiles, _) = split_tiles(&cfg.source, &stats_split, &spec, None)?;
            let mut feats = Vec::new();
            let mut progress = Progress::new(
                format!("reconstruction statistics ({stats_split})"),
                stats_tiles.len().div_ceil(cfg.batch),
            );
            for chunk in stats_tiles.chunks(cfg.batch) {
                let out = mae
                    .encoder
                    .forward_layers(batch_tensor(chunk, side, &dev), &[depth])?;
                feats.extend(host(out.layers[0].patches.clone())?);
                progress.inc("");
            }
            feats
        }
    };
    let stats_patches = feats.len() / d;
    let spectrum = variance_spectrum(MatRef::new(&feats, stats_patches, d)?)?;
    let mean: Vec<f32> = spectrum.stats.mean.iter().map(|&m| m as f32).collect();
    drop(feats);
    let zeros = vec![0f32; d];
    // A seeded permutation of the dimensions (a ChaCha8 shuffle: MAE's masking helper keeping all).
    let random_order = MaeMask::random(d, 0.0, cfg.seed ^ 0x5EED_D1A5)?.keep;

    // The sweep: N clamped to D, repeats dropped; 0 is the plain reconstruction.
    let mut sweep: Vec<usize> = cfg.sweep.iter().map(|&n| n.min(d)).collect();
    sweep.sort_unstable();
    sweep.dedup();
    let variants: Vec<(Option<ReplaceMode>, usize)> = std::iter::once((None, 0))
        .chain(
            cfg.modes
                .iter()
                .flat_map(|&m| sweep.iter().filter(|&&n| n > 0).map(move |&n| (Some(m), n))),
        )
        .collect();
    let dims_of = |mode: Option<ReplaceMode>, n: usize| -> Vec<usize> {
        match mode {
            None => Vec::new(),
            Some(ReplaceMode::Mean | ReplaceMode::Zero) => spectrum.order[..n].to_vec(),
            Some(ReplaceMode::RandomZero) => random_order[..n].to_vec(),
        }
    };
    let figure_n = cfg.figure_n.map(|n| n.min(d)).unwrap_or_else(|| {
        sweep
            .iter()
            .copied()
            .filter(|&n| n > 0 && n <= d / 4)
            .max()
            .or_else(|| sweep.iter().copied().find(|&n| n > 0))
            .unwrap_or(0)
    });

    // 2. Reconstruct.
    let (tiles, tile_ids) = split_tiles(&cfg.source, &split, &spec, Some(cfg.tiles))?;
    let n_patches = mae.num_patches();
    let norm_pix = mae.decoder_config.norm_pix_loss;
    let mut sums = vec![(0f64, 0f64); variants.len()];
    let mut masked = 0usize;
    // Figure panels: per figure tile, the pixel predictions of the plain run and of each mode at figure_n.
    let n_fig = cfg.figure_tiles.min(tiles.len());
    let mut fig_preds: Vec<(Option<ReplaceMode>, Vec<f32>)> = Vec::new();
    let mut fig_masks: Vec<MaeMask> = Vec::new();
    let mut progress = Progress::new(
        format!("reconstruction ({split}, {} variants)", variants.len()),
        tiles.len().div_ceil(cfg.batch),
    );
    for (bi, chunk) in tiles.chunks(cfg.batch).enumerate() {
        let first = bi * cfg.batch;
        let masks: Vec<MaeMask> = (0..chunk.len())
            .map(|i| tile_mask(n_patches, cfg.mask_ratio, cfg.seed, first + i))
            .collect::<Result<_>>()?;
        masked += masks.iter().map(MaeMask::masked).sum::<usize>();
        let x = batch_tensor(chunk, side, &dev);
        let target = patchify(x.clone(), p);
        let latent = mae.encode(x, &masks)?;
        let fig_here = n_fig.saturating_sub(first).min(chunk.len());
        if fig_here > 0 {
            fig_masks.extend(masks[..fig_here].iter().cloned());
        }
        for (vi, &(mode, n)) in variants.iter().enumerate() {
            let values = if mode == Some(ReplaceMode::Mean) {
                &mean
            } else {
                &zeros
            };
            let pred = mae.decode(
                replace_dims(latent.clone(), &dims_of(mode, n), values),
                &masks,
            )?;
            let loss = masked_mean(patch_errors(pred.clone(), target.clone(), norm_pix), &masks)?;
            let pix = pixel_prediction(pred, target.clone(), norm_pix);
            let mse = masked_mean(patch_errors(pix.clone(), target.clone(), false), &masks)?;
            let k = masks.iter().map(MaeMask::masked).sum::<usize>() as f64;
            sums[vi].0 += loss as f64 * k;
            sums[vi].1 += mse as f64 * k;
            if fig_here > 0 && (mode.is_none() || n == figure_n) {
                let v = host(pix.narrow(0, 0, fig_here))?;
                match fig_preds.iter_mut().find(|(m, _)| *m == mode) {
                    Some((_, acc)) => acc.extend(v),
                    None => fig_preds.push((mode, v)),
                }
            }
        }
        progress.inc("");
    }
    let points: Vec<ReconPoint> = variants
        .iter()
        .zip(&sums)
        .map(|(&(mode, n), &(l, m))| ReconPoint {
            mode,
            n,
            mae_loss: l / masked as f64,
            pixel_mse: m / masked as f64,
        })
        .collect();

    // 3. The figure.
    let mut images = Vec::new();
    if let Some(dir) = &cfg.images_dir
        && n_fig > 0
    {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let name = format!(
            "{}_{}",
            cfg.id.as_deref().unwrap_or("reconstruction"),
            model.info.zoo_name
        );
        for t in 0..n_fig {
            let file = format!("{}_{}.png", sanitize(&name), sanitize(&tile_ids[t]));
            let panels = figure_panels(
                &tiles[t],
                &fig_masks[t],
                &fig_preds,
                t,
                p,
                side,
                &model.norm,
            )?;
            write_strip(&dir.join(&file), &panels, side)?;
            let titles: Vec<String> = ["original", "masked (75 %)", "reconstruction"]
                .iter()
                .map(|s| s.to_string())
                .chain(
                    fig_preds
                        .iter()
                        .filter_map(|(m, _)| m.map(|m| format!("{} (N = {figure_n})", m.label()))),
                )
                .collect();
            images.push(ImageArtifact {
                title: format!("MAE reconstruction, {}: {}", model.info.zoo_name, tile_ids[t]),
                caption: Some(format!(
                    "Left to right: {}. Reconstructions show the prediction on the masked patches and the \
                     visible patches as given.",
                    titles.join(" | ")
                )),
                source: ImageSource::File { path: file },
            });
        }
    }
    Ok(ReconstructionResult {
        model: model.info.clone(),
        config: cfg.clone(),
        decoder: mae.decoder_config.clone(),
        files: [&model.encoder_path, &model.decoder_path].map(|p| {
            p.file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default()
        }),
        stats_split,
        split,
        spec,
        dim: d,
        stats_patches,
        tiles: tiles.len(),
        masked_patches: masked,
        order: spectrum.order.clone(),
        sorted_variance: spectrum.sorted.clone(),
        random_order,
        sweep,
        points,
        images,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// The panels of figure tile `t` as RGB `u8` images `side × side`: original, masked (grey), then each
/// prediction with the visible patches pasted in.
fn figure_panels(
    tile: &[f32],
    mask: &MaeMask,
    preds: &[(Option<ReplaceMode>, Vec<f32>)],
    t: usize,
    p: usize,
    side: usize,
    norm: &InputNorm,
) -> Result<Vec<ImageU8>> {
    let g = side / p;
    let plane = side * side;
    let to_u8 = |chw: &[f32], hide: Option<&[bool]>| -> ImageU8 {
        let mut data = Vec::with_capacity(plane * 3);
        for y in 0..side {
            for x in 0..side {
                let hidden = hide.is_some_and(|h| h[(y / p) * g + x / p]);
                for c in 0..3 {
                    let v = if hidden {
                        0.5
                    } else {
                        chw[c * plane + y * side + x] * norm.std[c] + norm.mean[c]
                    };
                    data.push((v.clamp(0.0, 1.0) * 255.0).round() as u8);
                }
            }
        }
        ImageU8 {
            width: side,
            height: side,
            channels: 3,
            data,
        }
    };
    let mut out = vec![to_u8(tile, None), to_u8(tile, Some(&mask.mask))];
    let per_tile = g * g * p * p * 3;
    for (_, v) in preds {
        let patches = &v[t * per_tile..(t + 1) * per_tile];
        let img = unpatchify(
            Tensor::<3>::from_data(
                TensorData::new(patches.to_vec(), [1, g * g, p * p * 3]),
                &Device::flex(),
            ),
            p,
            g,
            g,
        );
        let mut chw = host(img)?;
        // Visible patches as given.
        for (j, &hidden) in mask.mask.iter().enumerate() {
            if hidden {
                continue;
            }
            let (r, c) = (j / g, j % g);
            for ch in 0..3 {
                for y in r * p..(r + 1) * p {
                    let o = ch * plane + y * side + c * p;
                    chw[o..o + p].copy_from_slice(&tile[o..o + p]);
                }
            }
        }
        out.push(to_u8(&chw, None));
    }
    Ok(out)
}

/// The panels side by side (white gaps of 2 px), scaled up ×⌈128 / side⌉ (nearest) for small inputs.
fn write_strip(path: &Path, panels: &[ImageU8], side: usize) -> Result<()> {
    let s = 128usize.div_ceil(side).max(1);
    let (w_panel, gap) = (side * s, 2);
    let width = panels.len() * w_panel + (panels.len() - 1) * gap;
    let height = side * s;
    let mut data = vec![255u8; width * height * 3];
    for (i, img) in panels.iter().enumerate() {
        let x0 = i * (w_panel + gap);
        for y in 0..height {
            for x in 0..w_panel {
                let src = ((y / s) * side + x / s) * 3;
                let dst = (y * width + x0 + x) * 3;
                data[dst..dst + 3].copy_from_slice(&img.data[src..src + 3]);
            }
        }
    }
    let img = ImageU8 {
        width,
        height,
        channels: 3,
        data,
    };
    // Atomic: units that run at once may write the same figure.
    let tmp = path.with_extension("png.tmp");
    patchlens_image::write_png(&tmp, &img)?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// Names of reconstruction results: the one place they are made and read.
pub mod keys {
    use super::ReplaceMode;

    /// Metric `<metric>/plain` (N = 0) or `<metric>/<mode>/n<N>` (`metric`: `mae_loss`, `pixel_mse`).
    pub fn point(metric: &str, mode: Option<ReplaceMode>, n: usize) -> String {
        match mode {
            None => format!("{metric}/plain"),
            Some(m) => format!("{metric}/{}/n{n}", m.name()),
        }
    }
}

impl ReconstructionResult {
    /// One line: plain loss and the loss at the largest N per mode.
    pub fn summary_lines(&self) -> Vec<String> {
        let plain = self.points.iter().find(|p| p.mode.is_none());
        let mut parts = vec![format!(
            "plain {:.4} (pixel MSE {:.4})",
            plain.map_or(f64::NAN, |p| p.mae_loss),
            plain.map_or(f64::NAN, |p| p.pixel_mse)
        )];
        for m in &self.config.modes {
            if let Some(p) = self
                .points
                .iter()
                .filter(|p| p.mode == Some(*m))
                .max_by_key(|p| p.n)
            {
                parts.push(format!("{} N={} {:.4}", m.name(), p.n, p.mae_loss));
            }
        }
        vec![format!(
            "reconstruction {}/{}/{}: MAE loss on masked patches: {}",
            self.config.source.name(),
            self.split,
            self.model.zoo_name,
            parts.join(", ")
        )]
    }

    /// One experiment ([`ExperimentKind::Reconstruction`]): the metrics of every point, a curve per mode
    /// and metric (x = N, the plain reconstruction at N = 0), the figure.
    pub fn experiments(&self) -> Vec<Experiment> {
        let ds = self.config.source.name();
        let model = &self.model.zoo_name;
        let mut e = Experiment::new(
            format!("reconstruction/{ds}/{}/{model}", self.split),
            ExperimentKind::Reconstruction,
            self.model.clone(),
        );
        for pt in &self.points {
            for (metric, v) in [("mae_loss", pt.mae_loss), ("pixel_mse", pt.pixel_mse)] {
                if v.is_finite() {
                    e.metrics.insert(keys::point(metric, pt.mode, pt.n), v);
                }
            }
        }
        let plain = self.points.iter().find(|p| p.mode.is_none());
        let target = if self.decoder.norm_pix_loss {
            "normalised-pixel"
        } else {
            "pixel"
        };
        for (metric, y_label, fig) in [
            (
                "mae_loss",
                format!("MAE loss ({target} target)"),
                format!(
                    "MAE loss on masked patches vs replaced dimensions ({ds} {})",
                    self.split
                ),
            ),
            (
                "pixel_mse",
                "pixel MSE".to_string(),
                format!(
                    "Pixel MSE on masked patches vs replaced dimensions ({ds} {})",
                    self.split
                ),
            ),
        ] {
            for m in &self.config.modes {
                let mut pts: Vec<&ReconPoint> =
                    self.points.iter().filter(|p| p.mode == Some(*m)).collect();
                pts.sort_by_key(|p| p.n);
                let get = |p: &ReconPoint| {
                    if metric == "mae_loss" {
                        p.mae_loss
                    } else {
                        p.pixel_mse
                    }
                };
                let (mut x, mut y): (Vec<f64>, Vec<f64>) =
                    pts.iter().map(|p| (p.n as f64, get(p))).unzip();
                if let Some(p0) = plain {
                    x.insert(0, 0.0);
                    y.insert(0, get(p0));
                }
                let mut c = Curve::new(
                    fig.clone(),
                    format!("{model}: {}", m.label()),
                    "dimensions replaced (N)",
                    y_label.clone(),
                    x,
                    y,
                );
                c.plot = Some(PlotKind::Line);
                e.curves.push(c);
            }
        }
        e.images = self.images.clone();
        let p = &mut e.protocol;
        p.insert("dataset".into(), ds.into());
        p.insert("stats_split".into(), self.stats_split.clone().into());
        p.insert("split".into(), self.split.clone().into());
        p.insert("tiles".into(), self.tiles.into());
        p.insert("masked_patches".into(), self.masked_patches.into());
        p.insert("stats_patches".into(), self.stats_patches.into());
        p.insert("feature_dim".into(), self.dim.into());
        p.insert("mask_ratio".into(), self.config.mask_ratio.into());
        p.insert("seed".into(), self.config.seed.into());
        p.insert(
            "sweep".into(),
            serde_json::to_value(&self.sweep).unwrap_or_default(),
        );
        p.insert(
            "decoder".into(),
            serde_json::to_value(&self.decoder).unwrap_or_default(),
        );
        p.insert("encoder_checkpoint".into(), self.files[0].clone().into());
        p.insert("decoder_checkpoint".into(), self.files[1].clone().into());
        p.insert(
            "statistics".into(),
            "mean and population variance (ddof = 0) per dimension of the unmasked encoder output (last layer, after the final norm) over every patch of the statistics split".into(),
        );
        p.insert(
            "replacement".into(),
            "before decoder_embed, on every token of the latent (CLS included); mean: top-N variance dims → their mean; zero: → 0; random_zero: N random dims (seeded, nested) → 0".into(),
        );
        p.insert(
            "metrics".into(),
            "mae_loss: MAE forward_loss with the decoder's own target over the masked patches; pixel_mse: MSE in the model's input space over the masked patches (a normalised-pixel prediction mapped back with the target patch's mean and std)".into(),
        );
        p.insert(
            "order".into(),
            serde_json::to_value(&self.order).unwrap_or_default(),
        );
        p.insert(
            "random_order".into(),
            serde_json::to_value(&self.random_order).unwrap_or_default(),
        );
        p.insert(
            "tile_spec".into(),
            serde_json::to_value(&self.spec).unwrap_or_default(),
        );
        p.insert("seconds".into(), self.seconds.into());
        vec![e]
    }
}

impl From<ReconstructionResult> for Vec<Experiment> {
    fn from(r: ReconstructionResult) -> Self {
        r.experiments()
    }
}
