//! MAE: per-image random masking (a seeded shuffle keeps the first `⌊N·(1 − r)⌋` patches), the encoder
//! on visible patches only, a light Transformer decoder with mask tokens and fixed sin-cos positions,
//! and the per-patch normalised pixel loss on masked patches.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use patchlens_vit::VitConfig;
use patchlens_vit::model::{Block, Lin, Norm, VitModel};
use rand::Rng;
use rand::seq::SliceRandom;

use crate::encoder::{block_forward, encode_visible, gather_index, lin, norm, patchify};
use crate::error::{Result, invalid};
use crate::init::{Init, block, mae_sincos, norm as unit_norm, param};

/// One image's random mask.
#[derive(Clone, Debug, PartialEq)]
pub struct MaeMask {
    /// Visible patch indices in shuffled order (length `⌊N·(1 − r)⌋`).
    pub keep: Vec<usize>,
    /// `restore[j]` = position of patch `j` in the shuffled order (MAE's `ids_restore`).
    pub restore: Vec<usize>,
    /// `mask[j]` = patch `j` is hidden from the encoder.
    pub mask: Vec<bool>,
}

/// MAE's `random_masking` for one image of `n` patches: a uniformly random permutation (here a seeded
/// Fisher–Yates shuffle instead of `argsort(noise)`), the first `⌊n·(1 − ratio)⌋` are kept.
pub fn random_mask<R: Rng>(rng: &mut R, n: usize, ratio: f32) -> Result<MaeMask> {
    if !(0.0..1.0).contains(&ratio) {
        return Err(invalid("mask_ratio", ratio, "must be in [0, 1)"));
    }
    let len_keep = (n as f64 * (1.0 - ratio as f64)) as usize;
    let mut shuffle: Vec<usize> = (0..n).collect();
    shuffle.shuffle(rng);
    let mut restore = vec![0usize; n];
    for (pos, &j) in shuffle.iter().enumerate() {
        restore[j] = pos;
    }
    let mask = restore.iter().map(|&pos| pos >= len_keep).collect();
    shuffle.truncate(len_keep);
    Ok(MaeMask {
        keep: shuffle,
        restore,
        mask,
    })
}

/// The MAE decoder: `decoder_embed`, `mask_token`, fixed `decoder_pos_embed`, blocks, norm, `decoder_pred`.
#[derive(Module, Debug)]
pub struct MaeDecoder {
    /// `[D, Dd]`.
    pub embed: Lin,
    /// `[Dd]`.
    pub mask_token: Param<Tensor<1>>,
    /// Fixed sin-cos `[1 + N, Dd]` (not trained).
    pub pos: Param<Tensor<2>>,
    /// Decoder blocks.
    pub blocks: Vec<Block>,
    /// Final decoder norm.
    pub norm: Norm,
    /// `[Dd, 3·p·p]` pixel prediction (patch pixels in (channel, y, x) order).
    pub pred: Lin,
    /// Decoder heads (a constant of the module).
    pub heads: usize,
}

/// Encoder + decoder.
#[derive(Module, Debug)]
pub struct MaeNet {
    /// The ViT encoder.
    pub backbone: VitModel,
    /// The decoder.
    pub decoder: MaeDecoder,
}

impl MaeNet {
    /// Wrap `backbone` with a fresh decoder of width `dd`, `depth` blocks and `heads` heads.
    pub fn new(
        backbone: VitModel,
        cfg: &VitConfig,
        dd: usize,
        depth: usize,
        heads: usize,
        init: &mut Init,
        device: &Device,
    ) -> Result<Self> {
        if !dd.is_multiple_of(heads) || !dd.is_multiple_of(4) {
            return Err(invalid(
                "decoder_dim",
                dd,
                format!("must be divisible by 4 and by {heads} heads"),
            ));
        }
        let g = cfg.native_grid();
        let p = cfg.patch_size;
        let dec_cfg = VitConfig {
            embed_dim: dd,
            num_heads: heads,
            layer_scale: false,
            qkv_bias: patchlens_vit::QkvBias::Full,
            ..cfg.clone()
        };
        let decoder = MaeDecoder {
            embed: init.linear(cfg.embed_dim, dd, true, device),
            mask_token: param(init.trunc_normal(dd, 0.02), [dd], device),
            pos: param(mae_sincos(dd, g), [1 + g * g, dd], device).set_require_grad(false),
            blocks: (0..depth)
                .map(|_| block(init, &dec_cfg, dd, 4 * dd, device))
                .collect(),
            norm: unit_norm(dd, device),
            pred: init.linear(dd, 3 * p * p, true, device),
            heads,
        };
        Ok(MaeNet { backbone, decoder })
    }

    /// Predicted patch pixels `[B, N, 3·p·p]` for images `[B, 3, H, W]` (native size) under `masks`.
    pub fn predict(&self, cfg: &VitConfig, x: Tensor<4>, masks: &[MaeMask]) -> Result<Tensor<3>> {
        let keep: Vec<Vec<usize>> = masks.iter().map(|m| m.keep.clone()).collect();
        let [b, _, h, w] = x.dims();
        let n = (h / cfg.patch_size) * (w / cfg.patch_size);
        let latent = encode_visible(&self.backbone, cfg, x, &keep)?;
        let dec = &self.decoder;
        let y = lin(&dec.embed, latent);
        let [_, t, dd] = y.dims();
        let k = t - 1;
        let device = y.device();
        let mask_tokens = dec
            .mask_token
            .val()
            .reshape([1, 1, dd])
            .expand([b, n - k, dd]);
        let body = Tensor::cat(vec![y.clone().narrow(1, 1, k), mask_tokens], 1);
        let restore: Vec<Vec<usize>> = masks.iter().map(|m| m.restore.clone()).collect();
        let body = body.gather(1, gather_index(&restore, b, n, dd, &device)?);
        let mut z = Tensor::cat(vec![y.narrow(1, 0, 1), body], 1) + dec.pos.val().unsqueeze::<3>();
        for blk in &dec.blocks {
            z = block_forward(blk, z, dec.heads, cfg.ln_eps, false, None);
        }
        let z = norm(&dec.norm, z, cfg.ln_eps);
        Ok(lin(&dec.pred, z).narrow(1, 1, n))
    }

    /// MAE loss of images `x` `[B, 3, H, W]` under `masks`.
    pub fn loss(
        &self,
        cfg: &VitConfig,
        x: Tensor<4>,
        masks: &[MaeMask],
        norm_pix: bool,
    ) -> Result<Tensor<1>> {
        let target = patchify(x.clone(), cfg.patch_size);
        let pred = self.predict(cfg, x, masks)?;
        masked_patch_mse(pred, target, masks, norm_pix)
    }
}

/// `Σ_b Σ_{j masked} mean_pixels (pred − target)² / #masked`, with each target patch optionally
/// normalised by its own mean and (unbiased) variance: `(t − μ) / √(σ² + 1e-6)` (MAE `norm_pix_loss`).
/// `pred`, `target` are `[B, N, P]`.
pub fn masked_patch_mse(
    pred: Tensor<3>,
    target: Tensor<3>,
    masks: &[MaeMask],
    norm_pix: bool,
) -> Result<Tensor<1>> {
    let [b, n, _] = pred.dims();
    if target.dims() != pred.dims() || masks.len() != b || masks.iter().any(|m| m.mask.len() != n) {
        return Err(invalid(
            "mae loss inputs",
            format!(
                "pred {:?}, target {:?}, {} masks",
                pred.dims(),
                target.dims(),
                masks.len()
            ),
            "need equal shapes and one mask of N patches per image",
        ));
    }
    let target = if norm_pix {
        let mean = target.clone().mean_dim(2);
        let var = target.clone().var(2);
        (target - mean) / (var + 1e-6).sqrt()
    } else {
        target
    };
    let m: Vec<f32> = masks
        .iter()
        .flat_map(|mk| mk.mask.iter().map(|&x| if x { 1.0 } else { 0.0 }))
        .collect();
    let count: f32 = m.iter().sum();
    if count == 0.0 {
        return Err(invalid("mask", 0, "no masked patch"));
    }
    let m = Tensor::<2>::from_data(TensorData::new(m, [b, n]), &pred.device());
    let per_patch = (pred - target).square().mean_dim(2).reshape([b, n]);
    Ok((per_patch * m).sum().div_scalar(count).reshape([1]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn masks_have_the_exact_ratio_and_are_seeded() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let m = random_mask(&mut rng, 64, 0.75).unwrap();
        assert_eq!(m.keep.len(), 16);
        assert_eq!(m.mask.iter().filter(|&&x| x).count(), 48);
        // keep ∪ masked = all patches, disjoint; restore inverts the shuffle on the kept part.
        for (pos, &j) in m.keep.iter().enumerate() {
            assert!(!m.mask[j]);
            assert_eq!(m.restore[j], pos);
        }
        // ⌊196·0.25⌋ = 49 kept of a 14 × 14 grid (MAE's ViT-B/16 at 224).
        assert_eq!(random_mask(&mut rng, 196, 0.75).unwrap().keep.len(), 49);
        let a = random_mask(&mut ChaCha8Rng::seed_from_u64(1), 64, 0.75).unwrap();
        let b = random_mask(&mut ChaCha8Rng::seed_from_u64(1), 64, 0.75).unwrap();
        let c = random_mask(&mut ChaCha8Rng::seed_from_u64(2), 64, 0.75).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.keep, c.keep);
        assert!(random_mask(&mut rng, 4, 1.0).is_err());
    }

    #[test]
    fn normalised_pixel_loss_on_hand_values() {
        let dev = Device::flex();
        // One image, two patches of 3 pixels; patch 0 masked, patch 1 visible.
        // Target patch 0 = [1, 2, 3]: mean 2, unbiased var 1 → normalised [−1, 0, 1]/√(1+1e-6).
        let target = Tensor::<3>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 5.0, 5.0, 5.0], [1, 2, 3]),
            &dev,
        );
        let pred = Tensor::<3>::from_data(
            TensorData::new(vec![0.0f32, 0.0, 0.0, 9.0, 9.0, 9.0], [1, 2, 3]),
            &dev,
        );
        let mask = MaeMask {
            keep: vec![1],
            restore: vec![1, 0],
            mask: vec![true, false],
        };
        let l: f32 = masked_patch_mse(
            pred.clone(),
            target.clone(),
            std::slice::from_ref(&mask),
            true,
        )
        .unwrap()
        .into_scalar();
        // mean of [1, 0, 1]/(1+1e-6) = 0.6666660
        assert!((l - 2.0 / 3.0 / (1.0 + 1e-6)).abs() < 1e-6, "{l}");
        let l: f32 = masked_patch_mse(pred, target, &[mask], false)
            .unwrap()
            .into_scalar();
        assert!((l - 14.0 / 3.0).abs() < 1e-5, "{l}");
    }
}
