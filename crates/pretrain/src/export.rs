//! Checkpoint export with the **official** key names and tensor layouts of each family, as
//! `.safetensors`, so that `patchlens_vit::load_backbone(path, method.family(), config, None, device)`
//! reads the file like a downloaded checkpoint:
//!
//! | method | family | layout |
//! |---|---|---|
//! | supervised | `sup_timm` | timm `VisionTransformer` state dict (`cls_token`, `pos_embed`, `patch_embed.proj.*`, `blocks.N.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}.*`, `norm.*`) + `head.*` |
//! | DINO | `dino` | the teacher backbone as a plain state dict (as `dino_vits16_pretrain.pth`), no head |
//! | MAE | `mae` | `{"model": encoder}` (as `mae_pretrain_vit_base.pth`), stored fixed sin-cos `pos_embed`; the decoder in a sibling file [`mae_decoder_path`] as `{"model": decoder_*, mask_token}` (the decoder half of `mae_visualize_vit_base.pth`) |
//! | SimMIM | `simmim` | `{"model": {encoder.*, decoder.0.*}}` with `encoder.mask_token`, `q_bias`/`v_bias`, `gamma_1`/`gamma_2`, `rel_pos_bias.relative_position_bias_table` + `relative_position_index` (int64) |
//!
//! Nested dictionaries are flattened with dots, as PyTorch names them. Linear weights are written
//! `[out, in]`, the patch embedding `[D, 3, p, p]`, tokens `[1, 1, D]`, positions `[1, T, D]`.

use std::collections::HashMap;
use std::path::Path;

use patchlens_vit::model::{Lin, VitModel};
use patchlens_vit::{QkvBias, VitConfig};
use safetensors::Dtype;
use safetensors::tensor::TensorView;
use serde::{Deserialize, Serialize};

use crate::error::{PretrainError, Result, invalid};
use crate::method::Method;
use crate::objectives::dino::DinoNet;
use crate::objectives::mae::{MaeDecoder, MaeNet};
use crate::objectives::simmim::SimmimNet;
use crate::objectives::supervised::SupervisedNet;
use crate::tensor::host;

/// Element type of the exported float tensors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportDtype {
    /// 32-bit float (exact round trip).
    #[default]
    F32,
    /// IEEE half (half the size; values rounded to nearest).
    F16,
}

/// One tensor of a checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    /// Key in the file.
    pub name: String,
    /// Shape, outermost first.
    pub shape: Vec<usize>,
    /// Values in row-major order (float tensors) …
    pub data: Vec<f32>,
    /// … or, for index buffers, integer values (written as int64).
    pub ints: Option<Vec<i64>>,
}

impl NamedTensor {
    fn float(name: impl Into<String>, shape: Vec<usize>, data: Vec<f32>) -> Self {
        NamedTensor {
            name: name.into(),
            shape,
            data,
            ints: None,
        }
    }
}

fn transpose(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; v.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = v[r * cols + c];
        }
    }
    out
}

/// A stored linear `[in, out]` as PyTorch's `weight [out, in]` and `bias [out]`.
fn linear_tensors(l: &Lin, name: &str, out: &mut Vec<NamedTensor>) -> Result<()> {
    let [i, o] = l.weight.val().dims();
    let w = host(l.weight.val(), name)?;
    out.push(NamedTensor::float(
        format!("{name}.weight"),
        vec![o, i],
        transpose(&w, i, o),
    ));
    if let Some(b) = &l.bias {
        out.push(NamedTensor::float(
            format!("{name}.bias"),
            vec![o],
            host(b.val(), name)?,
        ));
    }
    Ok(())
}

/// The backbone in timm's canonical names and PyTorch layouts (`q_bias`/`v_bias` when the config says
/// so, LayerScale as `blocks.N.ls1`/`ls2`, the shared relative table as `rel_pos_table`); families
/// rename from here.
pub fn backbone_tensors(model: &VitModel, cfg: &VitConfig) -> Result<Vec<NamedTensor>> {
    let d = cfg.embed_dim;
    let p = cfg.patch_size;
    let mut out = Vec::new();
    if let Some(c) = &model.cls_token {
        out.push(NamedTensor::float(
            "cls_token",
            vec![1, 1, d],
            host(c.val(), "cls_token")?,
        ));
    }
    if let Some(pe) = &model.pos_embed {
        let [t, _] = pe.val().dims();
        out.push(NamedTensor::float(
            "pos_embed",
            vec![1, t, d],
            host(pe.val(), "pos_embed")?,
        ));
    }
    let w = host(model.patch.weight.val(), "patch_embed")?;
    // [3·p·p, D] → [D, 3, p, p] (the flattened conv weight is (c, ky, kx)-major).
    out.push(NamedTensor::float(
        "patch_embed.proj.weight",
        vec![d, 3, p, p],
        transpose(&w, 3 * p * p, d),
    ));
    if let Some(b) = &model.patch.bias {
        out.push(NamedTensor::float(
            "patch_embed.proj.bias",
            vec![d],
            host(b.val(), "patch_embed")?,
        ));
    }
    if let Some(t) = &model.rel_table {
        let [n, h] = t.val().dims();
        out.push(NamedTensor::float(
            "rel_pos_table",
            vec![n, h],
            host(t.val(), "rel_pos_table")?,
        ));
    }
    for (i, blk) in model.blocks.iter().enumerate() {
        let b = format!("blocks.{i}");
        for (n, nm) in [("norm1", &blk.norm1), ("norm2", &blk.norm2)] {
            out.push(NamedTensor::float(
                format!("{b}.{n}.weight"),
                vec![d],
                host(nm.weight.val(), n)?,
            ));
            out.push(NamedTensor::float(
                format!("{b}.{n}.bias"),
                vec![d],
                host(nm.bias.val(), n)?,
            ));
        }
        let w = host(blk.qkv.weight.val(), "qkv")?;
        out.push(NamedTensor::float(
            format!("{b}.attn.qkv.weight"),
            vec![3 * d, d],
            transpose(&w, d, 3 * d),
        ));
        if let Some(bias) = &blk.qkv.bias {
            let v = host(bias.val(), "qkv.bias")?;
            match cfg.qkv_bias {
                QkvBias::Full => out.push(NamedTensor::float(
                    format!("{b}.attn.qkv.bias"),
                    vec![3 * d],
                    v,
                )),
                QkvBias::Qv => {
                    out.push(NamedTensor::float(
                        format!("{b}.attn.q_bias"),
                        vec![d],
                        v[..d].to_vec(),
                    ));
                    out.push(NamedTensor::float(
                        format!("{b}.attn.v_bias"),
                        vec![d],
                        v[2 * d..].to_vec(),
                    ));
                }
                QkvBias::None => {}
            }
        }
        linear_tensors(&blk.proj, &format!("{b}.attn.proj"), &mut out)?;
        for (n, ls) in [("ls1", &blk.ls1), ("ls2", &blk.ls2)] {
            if let Some(ls) = ls {
                out.push(NamedTensor::float(
                    format!("{b}.{n}"),
                    vec![d],
                    host(ls.val(), n)?,
                ));
            }
        }
        linear_tensors(&blk.fc1, &format!("{b}.mlp.fc1"), &mut out)?;
        linear_tensors(&blk.fc2, &format!("{b}.mlp.fc2"), &mut out)?;
    }
    if let Some(n) = &model.norm {
        out.push(NamedTensor::float(
            "norm.weight",
            vec![d],
            host(n.weight.val(), "norm")?,
        ));
        out.push(NamedTensor::float(
            "norm.bias",
            vec![d],
            host(n.bias.val(), "norm")?,
        ));
    }
    Ok(out)
}

/// Rename canonical backbone keys to SimMIM's ViT names.
fn simmim_name(canonical: &str) -> String {
    if canonical == "rel_pos_table" {
        return "rel_pos_bias.relative_position_bias_table".into();
    }
    if let Some(rest) = canonical.strip_prefix("blocks.")
        && let Some((i, tail)) = rest.split_once('.')
    {
        match tail {
            "ls1" => return format!("blocks.{i}.gamma_1"),
            "ls2" => return format!("blocks.{i}.gamma_2"),
            _ => {}
        }
    }
    canonical.to_string()
}

/// Everything a trained objective exports.
// One value per training run: the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum TrainedNet {
    /// Backbone + classification head.
    Supervised(SupervisedNet),
    /// The EMA teacher (exported) and the student.
    Dino {
        /// Exported backbone.
        teacher: Box<DinoNet>,
        /// The student (not exported).
        student: Box<DinoNet>,
    },
    /// Encoder + decoder (the encoder is exported).
    Mae(MaeNet),
    /// Encoder + mask token + pixel head (all exported, as SimMIM does).
    Simmim(SimmimNet),
}

impl TrainedNet {
    /// The method that trained it.
    pub fn method(&self) -> Method {
        match self {
            TrainedNet::Supervised(_) => Method::Supervised,
            TrainedNet::Dino { .. } => Method::Dino,
            TrainedNet::Mae(_) => Method::Mae,
            TrainedNet::Simmim(_) => Method::Simmim,
        }
    }

    /// The backbone that is exported (the teacher for DINO).
    pub fn backbone(&self) -> &VitModel {
        match self {
            TrainedNet::Supervised(n) => &n.backbone,
            TrainedNet::Dino { teacher, .. } => &teacher.backbone,
            TrainedNet::Mae(n) => &n.backbone,
            TrainedNet::Simmim(n) => &n.backbone,
        }
    }
}

/// The tensors of the checkpoint of `net`, with the official names of its family.
pub fn checkpoint_tensors(net: &TrainedNet, cfg: &VitConfig) -> Result<Vec<NamedTensor>> {
    let mut t = backbone_tensors(net.backbone(), cfg)?;
    match net {
        TrainedNet::Supervised(n) => linear_tensors(&n.head, "head", &mut t)?,
        TrainedNet::Dino { .. } => {}
        TrainedNet::Mae(_) => {
            for x in &mut t {
                x.name = format!("model.{}", x.name);
            }
        }
        TrainedNet::Simmim(n) => {
            for x in &mut t {
                x.name = format!("model.encoder.{}", simmim_name(&x.name));
            }
            let d = cfg.embed_dim;
            let g = cfg.native_grid();
            t.push(NamedTensor::float(
                "model.encoder.mask_token",
                vec![1, 1, d],
                host(n.mask_token.val(), "mask_token")?,
            ));
            let idx = patchlens_vit::posembed::relative_position_index(g, g);
            let tt = g * g + 1;
            t.push(NamedTensor {
                name: "model.encoder.rel_pos_bias.relative_position_index".into(),
                shape: vec![tt, tt],
                data: Vec::new(),
                ints: Some(idx.into_iter().map(|i| i as i64).collect()),
            });
            // decoder.0 = Conv2d(D, p²·3, 1): weight [p²·3, D, 1, 1].
            let mut head = Vec::new();
            linear_tensors(&n.head, "model.decoder.0", &mut head)?;
            for mut h in head {
                if h.name.ends_with("weight") {
                    h.shape.extend([1, 1]);
                }
                t.push(h);
            }
        }
    }
    Ok(t)
}

/// Where [`pretrain`](crate::train::pretrain) writes an MAE checkpoint's decoder: `<stem>_decoder.safetensors`
/// beside the encoder file `out` (a separate file, so that the encoder file stays as it was and each
/// file stays small).
pub fn mae_decoder_path(out: &Path) -> std::path::PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "mae".into());
    out.with_file_name(format!("{stem}_decoder.safetensors"))
}

/// The MAE decoder under the official names of `models_mae.py` (facebookresearch/mae), prefixed
/// `model.` as in `mae_visualize_vit_base.pth`: `decoder_embed.*` `[Dd, D]`, `mask_token` `[1, 1, Dd]`,
/// `decoder_pos_embed` `[1, 1 + G², Dd]`, `decoder_blocks.N.{norm1, attn.qkv, attn.proj, norm2,
/// mlp.fc1, mlp.fc2}.*`, `decoder_norm.*`, `decoder_pred.*` `[p²·3, Dd]`.
///
/// The pretrainer predicts patch pixels in (channel, y, x) order; MAE's `patchify` orders them
/// (y, x, channel), so the rows of `decoder_pred` are permuted to the official order (the loss, a mean
/// over the pixels of a patch, is the same in both).
pub fn mae_decoder_tensors(dec: &MaeDecoder, cfg: &VitConfig) -> Result<Vec<NamedTensor>> {
    let p = cfg.patch_size;
    let [_, dd] = dec.pos.val().dims();
    let mut out = Vec::new();
    linear_tensors(&dec.embed, "decoder_embed", &mut out)?;
    out.push(NamedTensor::float(
        "mask_token",
        vec![1, 1, dd],
        host(dec.mask_token.val(), "mask_token")?,
    ));
    let [t, _] = dec.pos.val().dims();
    out.push(NamedTensor::float(
        "decoder_pos_embed",
        vec![1, t, dd],
        host(dec.pos.val(), "decoder_pos_embed")?,
    ));
    for (i, blk) in dec.blocks.iter().enumerate() {
        let b = format!("decoder_blocks.{i}");
        for (n, nm) in [("norm1", &blk.norm1), ("norm2", &blk.norm2)] {
            out.push(NamedTensor::float(
                format!("{b}.{n}.weight"),
                vec![dd],
                host(nm.weight.val(), n)?,
            ));
            out.push(NamedTensor::float(
                format!("{b}.{n}.bias"),
                vec![dd],
                host(nm.bias.val(), n)?,
            ));
        }
        linear_tensors(&blk.qkv, &format!("{b}.attn.qkv"), &mut out)?;
        linear_tensors(&blk.proj, &format!("{b}.attn.proj"), &mut out)?;
        linear_tensors(&blk.fc1, &format!("{b}.mlp.fc1"), &mut out)?;
        linear_tensors(&blk.fc2, &format!("{b}.mlp.fc2"), &mut out)?;
    }
    out.push(NamedTensor::float(
        "decoder_norm.weight",
        vec![dd],
        host(dec.norm.weight.val(), "decoder_norm")?,
    ));
    out.push(NamedTensor::float(
        "decoder_norm.bias",
        vec![dd],
        host(dec.norm.bias.val(), "decoder_norm")?,
    ));
    let mut pred = Vec::new();
    linear_tensors(&dec.pred, "decoder_pred", &mut pred)?;
    // official row (y·p + x)·3 + c  ←  pretrainer row (c·p + y)·p + x
    let ours = |o: usize| {
        let (yx, c) = (o / 3, o % 3);
        c * p * p + yx
    };
    for mut t in pred {
        let row = t.data.len() / (3 * p * p);
        t.data = (0..3 * p * p)
            .flat_map(|o| {
                let r = ours(o);
                t.data[r * row..(r + 1) * row].to_vec()
            })
            .collect();
        out.push(t);
    }
    for x in &mut out {
        x.name = format!("model.{}", x.name);
    }
    Ok(out)
}

/// Write `tensors` as a `.safetensors` file with string `metadata`.
pub fn write_safetensors(
    path: &Path,
    tensors: &[NamedTensor],
    dtype: ExportDtype,
    metadata: HashMap<String, String>,
) -> Result<()> {
    let bytes: Vec<(Dtype, Vec<u8>)> = tensors
        .iter()
        .map(|t| match (&t.ints, dtype) {
            (Some(ints), _) => (
                Dtype::I64,
                ints.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ),
            (None, ExportDtype::F32) => (
                Dtype::F32,
                t.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ),
            (None, ExportDtype::F16) => (
                Dtype::F16,
                t.data
                    .iter()
                    .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                    .collect(),
            ),
        })
        .collect();
    let mut views = Vec::with_capacity(tensors.len());
    for (t, (dt, b)) in tensors.iter().zip(&bytes) {
        let v =
            TensorView::new(*dt, t.shape.clone(), b).map_err(|e| PretrainError::Safetensors {
                path: path.to_path_buf(),
                reason: format!("{}: {e}", t.name),
            })?;
        views.push((t.name.clone(), v));
    }
    let st_err = |reason: String| PretrainError::Safetensors {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = safetensors::serialize(views, Some(metadata)).map_err(|e| st_err(e.to_string()))?;
    let bytes = canonical_header(&bytes).map_err(st_err)?;
    // Atomic: an interrupted run leaves the previous file (or none), never a truncated checkpoint.
    patchlens_store::write_atomic(path, &bytes).map_err(|(at, e)| crate::error::io_err(&at, e))
}

/// The same safetensors bytes with the JSON header's keys sorted (the `safetensors` crate writes its
/// metadata map in hash order, so two identical exports differed byte-wise); the header is padded with
/// spaces to a multiple of 8 bytes, as the format asks, and the data section is unchanged.
pub fn canonical_header(bytes: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let n = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as usize)
        .ok_or("shorter than the 8-byte header length")?;
    let header = bytes.get(8..8 + n).ok_or_else(|| {
        format!(
            "header length {n} runs past the end ({} bytes)",
            bytes.len()
        )
    })?;
    // serde_json's map is ordered by key (no `preserve_order`), so re-serialising sorts every level.
    let value: serde_json::Value =
        serde_json::from_slice(header).map_err(|e| format!("header JSON: {e}"))?;
    let mut json = serde_json::to_vec(&value).map_err(|e| format!("header JSON: {e}"))?;
    json.resize(json.len().div_ceil(8) * 8, b' ');
    let mut out = Vec::with_capacity(8 + json.len() + bytes.len() - 8 - n);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&bytes[8 + n..]);
    Ok(out)
}

/// Export `net` (architecture `cfg`) to `path` with the official names of its family, recording the
/// method, family and architecture (JSON) in the file's metadata.
pub fn export(
    net: &TrainedNet,
    cfg: &VitConfig,
    path: &Path,
    dtype: ExportDtype,
    extra: &[(&str, String)],
) -> Result<()> {
    if path.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        return Err(invalid(
            "out",
            path.display(),
            "the checkpoint must be a .safetensors file",
        ));
    }
    let tensors = checkpoint_tensors(net, cfg)?;
    let method = net.method();
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), "pt".to_string());
    meta.insert("patchlens.method".to_string(), method.name().to_string());
    meta.insert(
        "patchlens.family".to_string(),
        method.family().name().to_string(),
    );
    meta.insert(
        "patchlens.config".to_string(),
        serde_json::to_string(cfg).map_err(|e| invalid("config", "json", e))?,
    );
    for (k, v) in extra {
        meta.insert(format!("patchlens.{k}"), v.clone());
    }
    write_safetensors(path, &tensors, dtype, meta)
}
