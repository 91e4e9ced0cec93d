//! MAE's pretraining decoder and its forward with an explicit mask (facebookresearch/mae,
//! `models_mae.py`: `random_masking`, `forward_encoder`, `forward_decoder`, `forward_loss`, `patchify`).
//!
//! The decoder is read from the official keys of a pretraining checkpoint (`mae_visualize_vit_base.pth`,
//! `{"model": {…}}`): `decoder_embed.*`, `mask_token`, `decoder_pos_embed`, `decoder_blocks.N.*`,
//! `decoder_norm.*`, `decoder_pred.*`; the encoder comes from the same file (or another one) through the
//! `mae` family like any backbone. Shapes: images `[B, 3, H, W]` at the native size (`G × G` patches,
//! N = G²), latents `[B, 1 + K, D]` (CLS + K visible patches), predictions `[B, N, p²·3]` with the pixels
//! of a patch in MAE's `patchify` order (y, x, channel).
//!
//! ```no_run
//! # use patchlens_vit::{Device, mae::{Mae, MaeDecoderConfig, MaeMask}, zoo};
//! # fn main() -> patchlens_vit::Result<()> {
//! let dev = Device::flex();
//! let cfg = zoo::lookup("mae_vitb16")?.config.clone();
//! let path = std::path::Path::new("mae_visualize_vit_base.pth");
//! let mae = Mae::load(path, None, cfg, MaeDecoderConfig::official(), &dev)?;
//! let x = patchlens_vit::Tensor::<4>::zeros([1, 3, 224, 224], &dev);
//! let masks = vec![MaeMask::random(mae.num_patches(), 0.75, 0)?];
//! let latent = mae.encode(x.clone(), &masks)?;            // [1, 1 + 49, 768]
//! let pred = mae.decode(latent, &masks)?;                 // [1, 196, 768]
//! let loss = mae.loss(pred, x, &masks)?;                  // MAE's forward_loss
//! # let _ = loss; Ok(()) }
//! ```

use std::path::Path;

use burn::module::{Module, Param};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::checkpoint::Checkpoint;
use crate::config::{Family, Ffn, PosEmbedKind, RelPosBias, VitConfig};
use crate::error::{Result, VitError};
use crate::model::{Block, Lin, Norm, Vit};

/// The decoder's architecture (the head count cannot be read from the shapes) and its training target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaeDecoderConfig {
    /// `decoder_embed_dim` (512 in every official model).
    #[serde(alias = "decoder_dim")]
    pub dim: usize,
    /// `decoder_depth` (8).
    #[serde(alias = "decoder_depth")]
    pub depth: usize,
    /// `decoder_num_heads` (16).
    #[serde(alias = "decoder_heads")]
    pub heads: usize,
    /// FFN width / `dim` (4).
    #[serde(default = "default_mlp_ratio")]
    pub mlp_ratio: f64,
    /// Whether the decoder was trained to predict per-patch normalised pixels (`--norm_pix_loss`). The
    /// official `mae_visualize_*` checkpoints were trained on plain pixels ("pixels as targets for
    /// visualization", `demo/mae_visualize.ipynb`; PRETRAIN.md), the `mae_pretrain_*` ones with it.
    pub norm_pix_loss: bool,
}

fn default_mlp_ratio() -> f64 {
    4.0
}

impl MaeDecoderConfig {
    /// `mae_vit_{base,large,huge}_patch*_dec512d8b` as in `mae_visualize_vit_*.pth` (pixel targets).
    pub fn official() -> Self {
        MaeDecoderConfig {
            dim: 512,
            depth: 8,
            heads: 16,
            mlp_ratio: 4.0,
            norm_pix_loss: false,
        }
    }

    /// FFN hidden width.
    pub fn mlp_hidden(&self) -> usize {
        (self.dim as f64 * self.mlp_ratio).round() as usize
    }

    fn validated(self) -> Result<Self> {
        if self.dim == 0
            || self.depth == 0
            || self.heads == 0
            || !self.dim.is_multiple_of(self.heads)
        {
            return Err(VitError::Config(format!(
                "MAE decoder: dim {} must be a positive multiple of heads {} (depth {})",
                self.dim, self.heads, self.depth
            )));
        }
        Ok(self)
    }
}

/// One image's mask in MAE's terms: `keep` = `ids_keep` (the visible patches, in the order the encoder
/// sees them), `restore` = `ids_restore`, `mask` = MAE's binary mask (true = removed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaeMask {
    /// Visible patch indices, in encoder order.
    pub keep: Vec<usize>,
    /// `restore[j]` = position of patch `j` in `ids_shuffle` (the kept patches, then the removed ones).
    pub restore: Vec<usize>,
    /// `mask[j]` = patch `j` is hidden from the encoder.
    pub mask: Vec<bool>,
}

impl MaeMask {
    /// The mask that keeps `keep` (distinct indices < `n`, in that order) of `n` patches:
    /// `ids_shuffle` = `keep` followed by the removed patches in ascending order. (The order of the
    /// removed patches does not change MAE's output: their tokens are all the mask token.)
    pub fn from_keep(keep: &[usize], n: usize) -> Result<MaeMask> {
        let mut seen = vec![false; n];
        for &j in keep {
            if j >= n || seen[j] {
                return Err(VitError::Config(format!(
                    "MAE mask: kept patch {j} is out of 0..{n} or repeated (keep = {keep:?})"
                )));
            }
            seen[j] = true;
        }
        let shuffle: Vec<usize> = keep
            .iter()
            .copied()
            .chain((0..n).filter(|&j| !seen[j]))
            .collect();
        let mut restore = vec![0usize; n];
        for (pos, &j) in shuffle.iter().enumerate() {
            restore[j] = pos;
        }
        Ok(MaeMask {
            keep: keep.to_vec(),
            restore,
            mask: seen.iter().map(|&s| !s).collect(),
        })
    }

    /// MAE's `random_masking` for one image of `n` patches, seeded: a uniformly random permutation (a
    /// ChaCha8 Fisher–Yates shuffle under `seed`, in place of `argsort(rand)`); the first
    /// `⌊n·(1 − ratio)⌋` are kept (75 % masked at `ratio` = 0.75).
    pub fn random(n: usize, ratio: f64, seed: u64) -> Result<MaeMask> {
        if !(0.0..1.0).contains(&ratio) {
            return Err(VitError::Config(format!(
                "MAE mask ratio {ratio} is outside [0, 1)"
            )));
        }
        let len_keep = (n as f64 * (1.0 - ratio)) as usize;
        let mut shuffle: Vec<usize> = (0..n).collect();
        shuffle.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        MaeMask::from_keep(&shuffle[..len_keep], n)
    }

    /// Number of masked patches.
    pub fn masked(&self) -> usize {
        self.mask.iter().filter(|&&m| m).count()
    }
}

/// A checkpoint seen under a key prefix: each part reads its own tensors, checked for shape.
struct Scoped<'a> {
    ckpt: &'a Checkpoint,
    prefix: String,
}

impl Scoped<'_> {
    fn pp(&self, sub: &str) -> Scoped<'_> {
        Scoped {
            ckpt: self.ckpt,
            prefix: format!("{}{sub}.", self.prefix),
        }
    }

    /// Tensor `name` under the prefix, of shape `shape` (leading singleton dimensions aside).
    fn read(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let key = format!("{}{name}", self.prefix);
        let Some(t) = self.ckpt.tensors.get(&key) else {
            return Err(VitError::MissingKeys {
                path: self.ckpt.path.clone(),
                family: "mae decoder".into(),
                keys: vec![key],
            });
        };
        let strip = |s: &[usize]| -> Vec<usize> {
            let first = s.iter().position(|&x| x != 1).unwrap_or(s.len());
            s[first..].to_vec()
        };
        if strip(&t.shape) != strip(shape) {
            return Err(VitError::Shape {
                path: self.ckpt.path.clone(),
                key,
                expected: shape.to_vec(),
                found: t.shape.clone(),
            });
        }
        self.ckpt.read_f32(&key)
    }

    fn param1(&self, name: &str, n: usize, dev: &Device) -> Result<Param<Tensor<1>>> {
        let v = self.read(name, &[n])?;
        Ok(Param::from_tensor(Tensor::from_data(
            TensorData::new(v, [n]),
            dev,
        )))
    }
}

impl Norm {
    fn load(s: &Scoped<'_>, d: usize, dev: &Device) -> Result<Norm> {
        Ok(Norm {
            weight: s.param1("weight", d, dev)?,
            bias: s.param1("bias", d, dev)?,
        })
    }
}

impl Lin {
    /// PyTorch `nn.Linear` (`weight [out, in]`, `bias [out]`), stored input-major.
    fn load(s: &Scoped<'_>, inp: usize, out: usize, dev: &Device) -> Result<Lin> {
        let w = s.read("weight", &[out, inp])?;
        let mut t = vec![0f32; w.len()];
        for o in 0..out {
            for i in 0..inp {
                t[i * out + o] = w[o * inp + i];
            }
        }
        Ok(Lin {
            weight: Param::from_tensor(Tensor::from_data(TensorData::new(t, [inp, out]), dev)),
            bias: Some(s.param1("bias", out, dev)?),
        })
    }
}

impl Block {
    /// timm's `Block` (`norm1`, `attn.qkv`, `attn.proj`, `norm2`, `mlp.fc1`, `mlp.fc2`), qkv bias.
    fn load(s: &Scoped<'_>, d: usize, hidden: usize, dev: &Device) -> Result<Block> {
        Ok(Block {
            norm1: Norm::load(&s.pp("norm1"), d, dev)?,
            qkv: Lin::load(&s.pp("attn").pp("qkv"), d, 3 * d, dev)?,
            proj: Lin::load(&s.pp("attn").pp("proj"), d, d, dev)?,
            ls1: None,
            norm2: Norm::load(&s.pp("norm2"), d, dev)?,
            fc1: Lin::load(&s.pp("mlp").pp("fc1"), d, hidden, dev)?,
            fc2: Lin::load(&s.pp("mlp").pp("fc2"), hidden, d, dev)?,
            ls2: None,
            rel_table: None,
        })
    }
}

/// MAE's decoder parameters.
#[derive(Module, Debug)]
pub struct MaeDecoder {
    /// `decoder_embed`: `[D, Dd]`.
    pub embed: Lin,
    /// `mask_token`: `[Dd]`.
    pub mask_token: Param<Tensor<1>>,
    /// `decoder_pos_embed` (fixed sin-cos in MAE, read as stored): `[1 + G², Dd]`.
    pub pos: Param<Tensor<2>>,
    /// `decoder_blocks`.
    pub blocks: Vec<Block>,
    /// `decoder_norm`.
    pub norm: Norm,
    /// `decoder_pred`: `[Dd, p²·3]`, pixels in (y, x, channel) order.
    pub pred: Lin,
    /// Attention heads.
    pub heads: usize,
    /// LayerNorm epsilon (the encoder's: MAE builds both with the same `norm_layer`).
    pub eps: f64,
}

impl MaeDecoder {
    /// Read the decoder of an MAE with encoder `encoder` from `ckpt`: the keys `decoder_embed.weight`
    /// marks (their prefix, e.g. `model.`, is found like the backbone's; several are an error).
    pub fn load(
        ckpt: &Checkpoint,
        encoder: &VitConfig,
        cfg: &MaeDecoderConfig,
        dev: &Device,
    ) -> Result<MaeDecoder> {
        const ANCHOR: &str = "decoder_embed.weight";
        let mut prefixes: Vec<String> = ckpt
            .tensors
            .keys()
            .filter_map(|k| k.strip_suffix(ANCHOR))
            .filter(|p| p.is_empty() || p.ends_with('.'))
            .map(str::to_string)
            .collect();
        let prefix = match prefixes.len() {
            1 => prefixes.remove(0),
            0 => {
                return Err(VitError::NoBackbone {
                    path: ckpt.path.clone(),
                    family:
                        "MAE decoder (a pretraining checkpoint such as mae_visualize_vit_base.pth)"
                            .into(),
                    anchors: vec![ANCHOR.into()],
                    sample: ckpt.tensors.keys().take(8).cloned().collect(),
                });
            }
            _ => {
                return Err(VitError::AmbiguousBackbone {
                    path: ckpt.path.clone(),
                    prefixes,
                });
            }
        };
        let s = Scoped { ckpt, prefix };
        let (d, dd) = (encoder.embed_dim, cfg.dim);
        let g = encoder.native_grid();
        let p = encoder.patch_size;
        let t = 1 + g * g;
        let blocks = (0..cfg.depth)
            .map(|i| {
                Block::load(
                    &s.pp("decoder_blocks").pp(&i.to_string()),
                    dd,
                    cfg.mlp_hidden(),
                    dev,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        // One block more than configured is a wrong depth, not an extra to ignore.
        let next = format!("{}decoder_blocks.{}.norm1.weight", s.prefix, cfg.depth);
        if ckpt.tensors.contains_key(&next) {
            return Err(VitError::UnexpectedKeys {
                path: ckpt.path.clone(),
                family: format!("mae decoder of depth {}", cfg.depth),
                keys: vec![next],
            });
        }
        let pos = s.read("decoder_pos_embed", &[1, t, dd])?;
        Ok(MaeDecoder {
            embed: Lin::load(&s.pp("decoder_embed"), d, dd, dev)?,
            mask_token: s.param1("mask_token", dd, dev)?,
            pos: Param::from_tensor(Tensor::from_data(TensorData::new(pos, [t, dd]), dev)),
            blocks,
            norm: Norm::load(&s.pp("decoder_norm"), dd, dev)?,
            pred: Lin::load(&s.pp("decoder_pred"), dd, 3 * p * p, dev)?,
            heads: cfg.heads,
            eps: encoder.ln_eps,
        })
    }

    /// MAE's `forward_decoder`: latent `[B, 1 + K, D]` (CLS first) and the images' masks →
    /// predicted patches `[B, N, p²·3]`.
    pub fn forward(&self, latent: Tensor<3>, masks: &[MaeMask]) -> Result<Tensor<3>> {
        let y = self.embed.forward(latent);
        let [b, t, dd] = y.dims();
        let k = t - 1;
        let n = self.pos.val().dims()[0] - 1;
        check_masks(masks, b, n, k)?;
        let dev = y.device();
        let mask_tokens = self
            .mask_token
            .val()
            .reshape([1, 1, dd])
            .expand([b, n - k, dd]);
        let body = Tensor::cat(vec![y.clone().narrow(1, 1, k), mask_tokens], 1);
        let restore: Vec<&[usize]> = masks.iter().map(|m| m.restore.as_slice()).collect();
        let body = body.gather(1, gather_index(&restore, dd, &dev));
        let mut z = Tensor::cat(vec![y.narrow(1, 0, 1), body], 1) + self.pos.val().unsqueeze::<3>();
        for blk in &self.blocks {
            z = blk.forward(z, self.heads, self.eps, Ffn::Mlp, None);
        }
        let z = self.norm.forward(z, self.eps);
        Ok(self.pred.forward(z).narrow(1, 1, n))
    }
}

fn check_masks(masks: &[MaeMask], b: usize, n: usize, k: usize) -> Result<()> {
    if masks.len() != b {
        return Err(VitError::Config(format!(
            "MAE: {} masks for a batch of {b} images",
            masks.len()
        )));
    }
    for (i, m) in masks.iter().enumerate() {
        if m.mask.len() != n || m.restore.len() != n || m.keep.len() != k {
            return Err(VitError::Config(format!(
                "MAE: mask {i} is for {} patches with {} kept, expected {n} patches with {k} kept",
                m.mask.len(),
                m.keep.len()
            )));
        }
    }
    Ok(())
}

/// Index `[B, L, d]` for `gather(1, ·)` picking the tokens `rows[b]`.
fn gather_index(rows: &[&[usize]], d: usize, dev: &Device) -> Tensor<3, Int> {
    let l = rows.first().map_or(0, |r| r.len());
    let idx: Vec<i64> = rows
        .iter()
        .flat_map(|r| r.iter().flat_map(|&i| std::iter::repeat_n(i as i64, d)))
        .collect();
    Tensor::<3, Int>::from_data(TensorData::new(idx, [rows.len(), l, d]), dev)
}

/// An MAE: the encoder (a `mae`-family [`Vit`]) and its pretraining decoder.
#[derive(Debug)]
pub struct Mae {
    /// The encoder.
    pub encoder: Vit,
    /// The decoder.
    pub decoder: MaeDecoder,
    /// The decoder's configuration.
    pub decoder_config: MaeDecoderConfig,
}

impl Mae {
    /// Load the encoder (family `mae`, architecture `encoder`) from `encoder_path` and the decoder from
    /// `decoder_path` (by default the same file, as in `mae_visualize_vit_base.pth`).
    pub fn load(
        encoder_path: &Path,
        decoder_path: Option<&Path>,
        encoder: VitConfig,
        decoder: MaeDecoderConfig,
        dev: &Device,
    ) -> Result<Mae> {
        let (vit, _) = crate::load_backbone(encoder_path, Family::Mae, encoder, None, dev)?;
        let ckpt = Checkpoint::open(decoder_path.unwrap_or(encoder_path))?;
        Mae::new(vit, &ckpt, decoder, dev)
    }

    /// Attach the decoder read from `ckpt` to an already loaded encoder.
    pub fn new(
        encoder: Vit,
        ckpt: &Checkpoint,
        decoder: MaeDecoderConfig,
        dev: &Device,
    ) -> Result<Mae> {
        let decoder = decoder.validated()?;
        let c = &encoder.config;
        if !c.cls_token
            || c.num_register_tokens > 0
            || c.rel_pos_bias != RelPosBias::None
            || c.pos_embed != PosEmbedKind::Learned
            || !c.final_norm
        {
            return Err(VitError::Config(format!(
                "{}: an MAE encoder has a CLS token, a stored position table, a final norm and no \
                 registers or relative positions",
                ckpt.path.display()
            )));
        }
        let dec = MaeDecoder::load(ckpt, c, &decoder, dev)?;
        Ok(Mae {
            encoder,
            decoder: dec,
            decoder_config: decoder,
        })
    }

    /// Patches per image at the native input size (N = G²).
    pub fn num_patches(&self) -> usize {
        let g = self.encoder.config.native_grid();
        g * g
    }

    /// Native input side in pixels (MAE's decoder positions exist for this size only).
    pub fn input_size(&self) -> usize {
        self.encoder.config.native_grid() * self.encoder.config.patch_size
    }

    /// MAE's `forward_encoder` with the given masks: images `[B, 3, H, W]` (native size) → latent
    /// `[B, 1 + K, D]` (CLS, then the kept patches in `keep` order), after the final norm.
    pub fn encode(&self, x: Tensor<4>, masks: &[MaeMask]) -> Result<Tensor<3>> {
        let [b, _, h, w] = x.dims();
        let side = self.input_size();
        if h != side || w != side {
            return Err(VitError::Config(format!(
                "MAE reconstruction runs at the native size {side}x{side} (decoder positions), got {h}x{w}"
            )));
        }
        let (t, _, _) = self.encoder.embed(x)?;
        let [_, t_len, d] = t.dims();
        let n = t_len - 1;
        let k = masks.first().map_or(0, |m| m.keep.len());
        check_masks(masks, b, n, k)?;
        let dev = t.device();
        let keep: Vec<&[usize]> = masks.iter().map(|m| m.keep.as_slice()).collect();
        let body = t
            .clone()
            .narrow(1, 1, n)
            .gather(1, gather_index(&keep, d, &dev));
        let mut z = Tensor::cat(vec![t.narrow(1, 0, 1), body], 1);
        let c = &self.encoder.config;
        for blk in &self.encoder.model.blocks {
            z = blk.forward(z, c.num_heads, c.ln_eps, c.ffn, None);
        }
        let norm = self
            .encoder
            .model
            .norm
            .as_ref()
            .expect("checked in Mae::new");
        Ok(norm.forward(z, c.ln_eps))
    }

    /// MAE's `forward_decoder` (see [`MaeDecoder::forward`]).
    pub fn decode(&self, latent: Tensor<3>, masks: &[MaeMask]) -> Result<Tensor<3>> {
        self.decoder.forward(latent, masks)
    }

    /// MAE's `forward_loss` with this decoder's `norm_pix_loss`: mean over the masked patches of all
    /// images of the per-patch mean squared error.
    pub fn loss(&self, pred: Tensor<3>, imgs: Tensor<4>, masks: &[MaeMask]) -> Result<f32> {
        let target = patchify(imgs, self.encoder.config.patch_size);
        let per_patch = patch_errors(pred, target, self.decoder_config.norm_pix_loss);
        masked_mean(per_patch, masks)
    }
}

/// MAE's `patchify`: `[B, 3, H, W]` → `[B, (H/p)·(W/p), p²·3]`, pixels of a patch in (y, x, channel)
/// order.
pub fn patchify(imgs: Tensor<4>, p: usize) -> Tensor<3> {
    let [b, c, h, w] = imgs.dims();
    let (gh, gw) = (h / p, w / p);
    imgs.reshape([b, c, gh, p, gw, p])
        .permute([0, 2, 4, 3, 5, 1])
        .reshape([b, gh * gw, p * p * c])
}

/// MAE's `unpatchify` for a `rows × cols` grid: `[B, rows·cols, p²·3]` → `[B, 3, rows·p, cols·p]`.
pub fn unpatchify(x: Tensor<3>, p: usize, rows: usize, cols: usize) -> Tensor<4> {
    let [b, _, _] = x.dims();
    x.reshape([b, rows, cols, p, p, 3])
        .permute([0, 5, 1, 3, 2, 4])
        .reshape([b, 3, rows * p, cols * p])
}

/// Each target patch normalised by its own mean and unbiased variance, `(t − μ) / √(σ² + 1e-6)`
/// (`norm_pix_loss`); also returns `(μ, √(σ² + 1e-6))` `[B, N, 1]` to map predictions back to pixels.
pub fn normalise_patches(target: Tensor<3>) -> (Tensor<3>, Tensor<3>, Tensor<3>) {
    let mean = target.clone().mean_dim(2);
    let std = (target.clone().var(2) + 1e-6).sqrt();
    ((target - mean.clone()) / std.clone(), mean, std)
}

/// Per-patch mean squared error `[B, N]` of predictions against target patches (both `[B, N, P]`),
/// with the targets normalised per patch when `norm_pix`.
pub fn patch_errors(pred: Tensor<3>, target: Tensor<3>, norm_pix: bool) -> Tensor<2> {
    let [b, n, _] = pred.dims();
    let target = if norm_pix {
        normalise_patches(target).0
    } else {
        target
    };
    (pred - target).square().mean_dim(2).reshape([b, n])
}

/// `Σ (error · mask) / Σ mask` over all images (MAE's loss reduction).
pub fn masked_mean(per_patch: Tensor<2>, masks: &[MaeMask]) -> Result<f32> {
    let [b, n] = per_patch.dims();
    if masks.len() != b || masks.iter().any(|m| m.mask.len() != n) {
        return Err(VitError::Config(format!(
            "MAE loss: {} masks for {b} images of {n} patches",
            masks.len()
        )));
    }
    let m: Vec<f32> = masks
        .iter()
        .flat_map(|mk| mk.mask.iter().map(|&x| if x { 1.0 } else { 0.0 }))
        .collect();
    let count: f32 = m.iter().sum();
    if count == 0.0 {
        return Err(VitError::Config("MAE loss: no masked patch".into()));
    }
    let m = Tensor::<2>::from_data(TensorData::new(m, [b, n]), &per_patch.device());
    let s: f32 = (per_patch * m).sum().into_scalar();
    Ok(s / count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_follow_random_masking() {
        let m = MaeMask::random(64, 0.75, 7).unwrap();
        assert_eq!(m.keep.len(), 16);
        assert_eq!(m.masked(), 48);
        for (pos, &j) in m.keep.iter().enumerate() {
            assert!(!m.mask[j]);
            assert_eq!(m.restore[j], pos);
        }
        // ⌊196·0.25⌋ = 49 (ViT-B/16 at 224).
        assert_eq!(MaeMask::random(196, 0.75, 0).unwrap().keep.len(), 49);
        assert_eq!(
            MaeMask::random(64, 0.75, 1).unwrap(),
            MaeMask::random(64, 0.75, 1).unwrap()
        );
        assert_ne!(
            MaeMask::random(64, 0.75, 1).unwrap().keep,
            MaeMask::random(64, 0.75, 2).unwrap().keep
        );
        assert!(MaeMask::random(4, 1.0, 0).is_err());
        let m = MaeMask::from_keep(&[3, 0], 4).unwrap();
        assert_eq!(m.restore, vec![1, 2, 3, 0]);
        assert_eq!(m.mask, vec![false, true, true, false]);
        assert!(MaeMask::from_keep(&[1, 1], 4).is_err());
        assert!(MaeMask::from_keep(&[4], 4).is_err());
    }

    #[test]
    fn patchify_orders_pixels_y_x_channel_and_unpatchify_inverts_it() {
        let dev = Device::flex();
        // [1, 3, 2, 4], p = 2: value = c·100 + y·10 + x.
        let v: Vec<f32> = (0..3)
            .flat_map(|c| {
                (0..2).flat_map(move |y| (0..4).map(move |x| (c * 100 + y * 10 + x) as f32))
            })
            .collect();
        let img = Tensor::<4>::from_data(TensorData::new(v.clone(), [1, 3, 2, 4]), &dev);
        let p = patchify(img, 2);
        assert_eq!(p.dims(), [1, 2, 12]);
        let got = p.clone().into_data().try_to_vec::<f32>().unwrap();
        // patch 1 (x 2..4), pixel (y 0, x 1) = pixel index 1, channel 2: offset 1·3 + 2 → 200 + 0 + 3
        assert_eq!(got[12 + 3 + 2], 203.0);
        assert_eq!(got[..6], [0.0, 100.0, 200.0, 1.0, 101.0, 201.0]);
        let back = unpatchify(p, 2, 1, 2)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn masked_loss_on_hand_values() {
        let dev = Device::flex();
        // Patch 0 = [1, 2, 3] (mean 2, unbiased var 1), masked; patch 1 visible.
        let target = Tensor::<3>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 5.0, 5.0, 5.0], [1, 2, 3]),
            &dev,
        );
        let pred = Tensor::<3>::from_data(
            TensorData::new(vec![0.0f32, 0.0, 0.0, 9.0, 9.0, 9.0], [1, 2, 3]),
            &dev,
        );
        let mask = MaeMask::from_keep(&[1], 2).unwrap();
        let l = masked_mean(
            patch_errors(pred.clone(), target.clone(), true),
            std::slice::from_ref(&mask),
        )
        .unwrap();
        assert!((l - 2.0 / 3.0 / (1.0 + 1e-6)).abs() < 1e-6, "{l}");
        let l = masked_mean(patch_errors(pred, target, false), &[mask]).unwrap();
        assert!((l - 14.0 / 3.0).abs() < 1e-5, "{l}");
    }
}
