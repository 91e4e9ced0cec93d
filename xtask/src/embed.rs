//! `cargo xtask embed`: one image (or an exact input tensor) → tokens of the requested layers, as safetensors.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use patchlens_image::{IMAGENET_MEAN, IMAGENET_STD, Interpolation};
use patchlens_vit::{Tensor, TensorData};

use crate::backend::Backend;
use crate::models;

/// Arguments of `embed`.
#[derive(Args, Debug)]
pub struct EmbedArgs {
    /// Zoo model name (e.g. dinov2_vits14, dino_vitb16, mae_vitb16; `cargo xtask models` lists them).
    #[arg(long)]
    pub model: String,
    /// Checkpoint file (.pth or .safetensors) in the family's official layout.
    #[arg(long)]
    pub weights: PathBuf,
    /// Image file (PNG/JPEG); resized with OpenCV-exact bicubic (a = -0.75) and ImageNet-normalised.
    #[arg(long, conflicts_with = "input", required_unless_present = "input")]
    pub image: Option<PathBuf>,
    /// A safetensors file with a tensor `input` of shape [3, H, W] (already normalised); skips the image step.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Model input size HxW (multiples of the patch size); default 224x224.
    #[arg(long, value_parser = parse_size)]
    pub size: Option<(usize, usize)>,
    /// Layers to return, 1-based (layer l = block l followed by the final norm); default: the last.
    #[arg(long, value_delimiter = ',')]
    pub layers: Vec<usize>,
    /// Override the zoo's position-grid resize rule (dinov2_offset, dinov2_size, dino_offset, size_bicubic,
    /// torchvision_align_corners, timm_antialias), e.g. to match a reference exported with another rule.
    #[arg(long, value_parser = parse_pos_interp)]
    pub pos_interp: Option<patchlens_vit::PosInterp>,
    /// Backbone to load from a training checkpoint holding several (e.g. teacher, student).
    #[arg(long)]
    pub part: Option<String>,
    /// Output safetensors: `layer{l}` `[rows*cols, D]` per layer, `cls{l}` `[D]`, `cls` (last layer) `[D]`.
    #[arg(long)]
    pub out: PathBuf,
    /// Compute backend.
    #[arg(long, value_enum, default_value = "flex")]
    pub backend: Backend,
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

/// Read `input` [3, H, W] f32 from a safetensors file.
fn read_input(path: &std::path::Path) -> Result<(Vec<f32>, usize, usize)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .with_context(|| format!("{}: not a safetensors file", path.display()))?;
    let t = st
        .tensor("input")
        .with_context(|| format!("{}: no tensor named `input`", path.display()))?;
    if t.dtype() != safetensors::Dtype::F32 || t.shape().len() != 3 || t.shape()[0] != 3 {
        bail!(
            "{}: `input` must be float32 [3, H, W], found {:?} {:?}",
            path.display(),
            t.dtype(),
            t.shape()
        );
    }
    let data = t
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok((data, t.shape()[1], t.shape()[2]))
}

/// Write named f32 tensors to a safetensors file atomically (temp file + rename).
pub fn write_safetensors(
    path: &std::path::Path,
    tensors: &BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    meta: BTreeMap<String, String>,
) -> Result<()> {
    let bytes: BTreeMap<&String, Vec<u8>> = tensors
        .iter()
        .map(|(k, (_, v))| (k, v.iter().flat_map(|x| x.to_le_bytes()).collect()))
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(k, (shape, _))| {
            Ok((
                k.clone(),
                safetensors::tensor::TensorView::new(
                    safetensors::Dtype::F32,
                    shape.clone(),
                    &bytes[k],
                )?,
            ))
        })
        .collect::<Result<_>>()?;
    let data = safetensors::serialize(views, Some(meta.into_iter().collect()))?;
    crate::reproduce::write_atomic(path, &data)
}

/// Run `embed`.
pub fn run(args: &EmbedArgs) -> Result<()> {
    let device = args.backend.device()?;
    let model = match args.pos_interp {
        None => models::load(&args.model, &args.weights, args.part.as_deref(), &device)?,
        Some(rule) => {
            let entry = patchlens_vit::zoo::lookup(&args.model)?;
            let mut cfg = entry.config.clone();
            cfg.pos_interp = rule;
            models::load_custom(&args.model, entry.family, cfg, &args.weights, &device)?
        }
    };
    let cfg = model.config();
    let (chw, h, w) = match (&args.input, &args.image) {
        (Some(p), _) => read_input(p)?,
        (None, Some(img)) => {
            let (h, w) = args.size.unwrap_or((224, 224));
            let rgb = patchlens_image::decode_rgb(img)?;
            let resized = patchlens_image::resize_u8(&rgb, w, h, Interpolation::Cubic);
            let norm = patchlens_image::to_f32_normalized(&resized, IMAGENET_MEAN, IMAGENET_STD);
            (patchlens_image::to_chw(&norm), h, w)
        }
        (None, None) => bail!("give --image or --input"),
    };
    let p = cfg.patch_size;
    if h % p != 0 || w % p != 0 {
        bail!(
            "input size {h}x{w} is not a multiple of {}'s patch size {p}",
            args.model
        );
    }
    let layers = if args.layers.is_empty() {
        vec![cfg.depth]
    } else {
        args.layers.clone()
    };
    let x = Tensor::<4>::from_data(TensorData::new(chw, [1, 3, h, w]), &device);
    let out = model.vit.forward_layers(x, &layers)?;
    let d = cfg.embed_dim;
    let mut tensors = BTreeMap::new();
    for lt in &out.layers {
        let v = lt
            .patches
            .clone()
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        tensors.insert(
            format!("layer{}", lt.layer),
            (vec![out.rows * out.cols, d], v),
        );
        if let Some(cls) = &lt.cls {
            let v = cls
                .clone()
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            tensors.insert(format!("cls{}", lt.layer), (vec![d], v.clone()));
            tensors.insert("cls".into(), (vec![d], v));
        }
        if let Some(reg) = &lt.registers {
            let v = reg
                .clone()
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            tensors.insert(
                format!("registers{}", lt.layer),
                (vec![cfg.num_register_tokens, d], v),
            );
        }
    }
    let meta = BTreeMap::from([
        ("model".to_string(), args.model.clone()),
        ("weights_sha256".to_string(), model.weights_sha256.clone()),
        ("weights".to_string(), model.weights.display().to_string()),
        ("checkpoint_prefix".to_string(), model.report.prefix.clone()),
        (
            "tensors_loaded".to_string(),
            model.report.loaded.to_string(),
        ),
        ("input_size".to_string(), format!("{h}x{w}")),
        ("grid".to_string(), format!("{}x{}", out.rows, out.cols)),
        (
            "layers".to_string(),
            layers
                .iter()
                .map(|l| l.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
    ]);
    write_safetensors(&args.out, &tensors, meta)?;
    println!(
        "embed: {} ({}x{} input, {}x{} grid, D={d}) layers {:?} -> {}",
        args.model,
        h,
        w,
        out.rows,
        out.cols,
        layers,
        args.out.display()
    );
    Ok(())
}
