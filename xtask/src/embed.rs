//! `cargo xtask embed`: tokens of the requested layers as safetensors, for
//!
//! * one image (`--image`, resized to `--size` with OpenCV-exact bicubic and normalised with the model's
//!   mean/std) or an exact input tensor (`--input`, a `[3, H, W]` tensor named `input`) → one file `--out`;
//! * every image of a folder (`--input-dir`, PNG/JPEG, each resized to `--size`) → `<out>/<stem>.safetensors`;
//! * every image of a segmentation split (`--dataset camvid --data-root D --split train`), tiled exactly
//!   as the segmentation protocol tiles it → `<out>/<dataset>/<split folder>/<image id>.safetensors`, the
//!   layout `eval segmentation --features` reads.
//!
//! Every file holds `layer{l}` (`[rows·cols, D]` for one image, `[tiles, rows·cols, D]` for a split),
//! `cls{l}` / `cls` `[D]` and `registers{l}` where the model has them (single images), and the model,
//! weights hash, input size and grid as metadata.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use patchlens_eval::safetensors_io::{F32Tensors, read_f32, write_f32};
use patchlens_eval::{Backbone, ModelTokens};
use patchlens_image::Interpolation;
use patchlens_vit::{Tensor, TensorData};

use crate::backend::DeviceArgs;
use crate::cli::ModelArgs;
use crate::eval::SegDatasetArg;

/// Arguments of `embed`.
#[derive(Args, Debug)]
pub struct EmbedArgs {
    /// The model.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Image file (PNG/JPEG); resized with OpenCV-exact bicubic (a = -0.75) and normalised.
    #[arg(long, conflicts_with_all = ["input", "input_dir", "dataset"])]
    pub image: Option<PathBuf>,
    /// A safetensors file with a tensor `input` of shape [3, H, W] (already normalised); skips the image step.
    #[arg(long, conflicts_with_all = ["input_dir", "dataset"])]
    pub input: Option<PathBuf>,
    /// Every PNG / JPEG of this folder → `<out>/<stem>.safetensors`.
    #[arg(long, conflicts_with = "dataset")]
    pub input_dir: Option<PathBuf>,
    /// Every image of a segmentation split, tiled by the protocol → `<out>/<dataset>/<folder>/<id>.safetensors`.
    #[arg(long, value_enum, requires_all = ["data_root", "split"])]
    pub dataset: Option<SegDatasetArg>,
    /// Dataset root (with --dataset).
    #[arg(long)]
    pub data_root: Option<PathBuf>,
    /// Split or pool (with --dataset), e.g. `train`, `set4_72`.
    #[arg(long)]
    pub split: Option<String>,
    /// Folder datasets: tiling options KEY=VALUE (as `eval segmentation --protocol`).
    #[arg(long, value_name = "KEY=VALUE")]
    pub protocol: Vec<String>,
    /// Model input size HxW (multiples of the patch size); default 224x224.
    #[arg(long, value_parser = parse_size)]
    pub size: Option<(usize, usize)>,
    /// Layers to return, 1-based (layer l = block l followed by the final norm); default: the last.
    #[arg(long, value_delimiter = ',')]
    pub layers: Vec<usize>,
    /// Override the position-grid resize rule (dinov2_offset, dinov2_size, dino_offset, size_bicubic,
    /// torchvision_align_corners, timm_antialias), e.g. to match a reference exported with another rule.
    #[arg(long, value_parser = parse_pos_interp)]
    pub pos_interp: Option<patchlens_vit::PosInterp>,
    /// Output: a safetensors file (--image / --input) or a folder (--input-dir / --dataset).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub dev: DeviceArgs,
    /// Tiles per forward pass (--dataset).
    #[arg(long, default_value_t = 16)]
    pub device_batch: usize,
}

/// Parse `HxW`.
pub fn parse_size(s: &str) -> std::result::Result<(usize, usize), String> {
    let (h, w) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("size `{s}` is not HxW"))?;
    let h = h
        .trim()
        .parse()
        .map_err(|_| format!("bad height in `{s}`"))?;
    let w = w
        .trim()
        .parse()
        .map_err(|_| format!("bad width in `{s}`"))?;
    Ok((h, w))
}

/// Parse a [`patchlens_vit::PosInterp`] by its snake_case name.
pub fn parse_pos_interp(s: &str) -> std::result::Result<patchlens_vit::PosInterp, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| format!("unknown position-grid rule `{s}`"))
}

/// The values of a tensor.
fn to_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data()
        .try_to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("reading tokens: {e:?}"))
}

/// Tokens of one `[3, h, w]` input: `layer{l}`, `cls{l}`, `cls`, `registers{l}`.
fn embed_one(
    model: &Backbone,
    chw: Vec<f32>,
    h: usize,
    w: usize,
    layers: &[usize],
) -> Result<(F32Tensors, (usize, usize))> {
    let cfg = model.config();
    let p = cfg.patch_size;
    if !h.is_multiple_of(p) || !w.is_multiple_of(p) {
        bail!(
            "input size {h}x{w} is not a multiple of {}'s patch size {p}",
            model.name
        );
    }
    let x = Tensor::<4>::from_data(TensorData::new(chw, [1, 3, h, w]), model.device());
    let out = model.vit.forward_layers(x, layers)?;
    let d = cfg.embed_dim;
    let mut tensors = BTreeMap::new();
    for lt in &out.layers {
        let v = to_vec(lt.patches.clone())?;
        tensors.insert(
            format!("layer{}", lt.layer),
            (vec![out.rows * out.cols, d], v),
        );
        if let Some(cls) = &lt.cls {
            let v = to_vec(cls.clone())?;
            tensors.insert(format!("cls{}", lt.layer), (vec![d], v.clone()));
            tensors.insert("cls".into(), (vec![d], v));
        }
        if let Some(reg) = &lt.registers {
            let v = to_vec(reg.clone())?;
            tensors.insert(
                format!("registers{}", lt.layer),
                (vec![cfg.num_register_tokens, d], v),
            );
        }
    }
    Ok((tensors, (out.rows, out.cols)))
}

/// Run `embed`.
pub fn run(args: &EmbedArgs) -> Result<()> {
    let device = args.dev.device()?;
    let mut spec = args.model.spec()?;
    if let Some(rule) = args.pos_interp {
        spec.config.pos_interp = rule;
    }
    let mut model = spec.load(&args.model.source()?, &device)?;
    model.vit.set_precision(args.dev.precision)?;
    let cfg = model.config();
    let layers = if args.layers.is_empty() {
        vec![cfg.depth]
    } else {
        args.layers.clone()
    };
    let mut meta = BTreeMap::from([
        ("model".to_string(), model.name.clone()),
        ("weights_sha256".to_string(), model.weights_sha256.clone()),
        ("weights".to_string(), model.weights.display().to_string()),
        ("precision".to_string(), args.dev.precision.to_string()),
        ("checkpoint_prefix".to_string(), model.report.prefix.clone()),
        (
            "tensors_loaded".to_string(),
            model.report.loaded.to_string(),
        ),
        (
            "layers".to_string(),
            layers
                .iter()
                .map(|l| l.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
    ]);
    let (h, w) = args.size.unwrap_or((224, 224));
    let image_input = |path: &std::path::Path| -> Result<Vec<f32>> {
        let rgb = patchlens_image::decode_rgb(path)?;
        let resized = patchlens_image::resize_u8(&rgb, w, h, Interpolation::Cubic);
        Ok(patchlens_image::to_chw(&model.norm.apply(&resized)))
    };
    if let Some(dataset) = args.dataset {
        return embed_split(args, &model, dataset, &layers, meta);
    }
    if let Some(dir) = &args.input_dir {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                    ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str())
                })
            })
            .collect();
        files.sort();
        if files.is_empty() {
            bail!("{}: no PNG or JPEG image", dir.display());
        }
        let mut progress = patchlens_eval::progress::Progress::new("embedding", files.len());
        for f in &files {
            let (tensors, (rows, cols)) = embed_one(&model, image_input(f)?, h, w, &layers)
                .with_context(|| format!("embedding {}", f.display()))?;
            meta.insert("input_size".into(), format!("{h}x{w}"));
            meta.insert("grid".into(), format!("{rows}x{cols}"));
            meta.insert("image".into(), f.display().to_string());
            let stem = f
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            write_f32(
                &args.out.join(format!("{stem}.safetensors")),
                &tensors,
                meta.clone(),
            )?;
            progress.inc(&stem);
        }
        println!(
            "embed: {} images of {} with {} ({h}x{w}) layers {layers:?} -> {}",
            files.len(),
            dir.display(),
            model.name,
            args.out.display()
        );
        return Ok(());
    }
    let (chw, h, w) = match (&args.input, &args.image) {
        (Some(p), _) => {
            let (shape, data) = read_f32(p, "input")?;
            if shape.len() != 3 || shape[0] != 3 {
                bail!(
                    "{}: `input` must be float32 [3, H, W], found {shape:?}",
                    p.display()
                );
            }
            (data, shape[1], shape[2])
        }
        (None, Some(img)) => (image_input(img)?, h, w),
        (None, None) => bail!("give --image, --input, --input-dir or --dataset"),
    };
    let (tensors, (rows, cols)) = embed_one(&model, chw, h, w, &layers)?;
    meta.insert("input_size".into(), format!("{h}x{w}"));
    meta.insert("grid".into(), format!("{rows}x{cols}"));
    write_f32(&args.out, &tensors, meta)?;
    println!(
        "embed: {} ({h}x{w} input, {rows}x{cols} grid, D={}) layers {layers:?} -> {}",
        model.name,
        cfg.embed_dim,
        args.out.display()
    );
    Ok(())
}

/// `--dataset`: every image of the split, tiled like the segmentation protocol, in the layout of
/// [`patchlens_eval::FeatureDir`].
fn embed_split(
    args: &EmbedArgs,
    model: &Backbone,
    dataset: SegDatasetArg,
    layers: &[usize],
    meta: BTreeMap<String, String>,
) -> Result<()> {
    let root = args
        .data_root
        .clone()
        .context("--dataset needs --data-root")?;
    let split = args.split.clone().context("--dataset needs --split")?;
    let source = crate::eval::seg_source(dataset, root, 0, &args.protocol)?;
    let tokens = ModelTokens::new(model, None, args.device_batch);
    let (n, tag) = patchlens_eval::segmentation::features::export_split(
        &source, &split, &tokens, layers, &args.out, &meta,
    )?;
    println!(
        "embed: {n} images of {} `{split}` with {} layers {layers:?} -> {}/{tag}/",
        source.name(),
        model.name,
        args.out.display()
    );
    Ok(())
}
