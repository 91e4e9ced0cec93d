//! SimMIM: block-wise random masking, a learnable mask token substituted for masked patch embeddings
//! in the encoder input, a linear pixel head per token (SimMIM's 1 × 1 conv + pixel shuffle), and the
//! L1 loss on masked pixels.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use patchlens_vit::VitConfig;
use patchlens_vit::model::{Lin, VitModel};
use rand::Rng;
use rand::seq::index::sample;

use crate::encoder::{embed_patches, encode_embedded, lin, patchify};
use crate::error::{Result, invalid};
use crate::init::{Init, param};

/// SimMIM's `MaskGenerator` for a `grid × grid` token grid: a `(grid / block)²` grid of mask blocks,
/// exactly `⌈blocks · ratio⌉` of them chosen uniformly at random, each covering `block × block` tokens.
/// Returns the row-major token mask (`true` = masked).
pub fn block_mask<R: Rng>(rng: &mut R, grid: usize, block: usize, ratio: f32) -> Result<Vec<bool>> {
    if block == 0 || !grid.is_multiple_of(block) {
        return Err(invalid(
            "mask block",
            block,
            format!("must divide the {grid}-token grid"),
        ));
    }
    if !(0.0..=1.0).contains(&ratio) {
        return Err(invalid("mask_ratio", ratio, "must be in [0, 1]"));
    }
    let mg = grid / block;
    let count = ((mg * mg) as f64 * ratio as f64).ceil() as usize;
    let mut coarse = vec![false; mg * mg];
    for i in sample(rng, mg * mg, count) {
        coarse[i] = true;
    }
    let mut out = vec![false; grid * grid];
    for r in 0..grid {
        for c in 0..grid {
            out[r * grid + c] = coarse[(r / block) * mg + c / block];
        }
    }
    Ok(out)
}

/// Encoder + mask token + linear pixel head.
#[derive(Module, Debug)]
pub struct SimmimNet {
    /// The ViT encoder.
    pub backbone: VitModel,
    /// Mask token `[D]` (`encoder.mask_token` in SimMIM).
    pub mask_token: Param<Tensor<1>>,
    /// `[D, 3·p·p]` (SimMIM's `decoder.0` 1 × 1 conv; outputs in (channel, y, x) order, as PixelShuffle).
    pub head: Lin,
}

impl SimmimNet {
    /// Wrap `backbone` with a fresh mask token (truncated normal, σ = 0.02) and head.
    pub fn new(backbone: VitModel, cfg: &VitConfig, init: &mut Init, device: &Device) -> Self {
        let d = cfg.embed_dim;
        let p = cfg.patch_size;
        SimmimNet {
            backbone,
            mask_token: param(init.trunc_normal(d, 0.02), [d], device),
            head: init.linear(d, 3 * p * p, true, device),
        }
    }

    /// Reconstructed patch pixels `[B, N, 3·p·p]` of images `[B, 3, H, W]` with `masks[b][j]` = patch j
    /// of image b replaced by the mask token.
    pub fn predict(&self, cfg: &VitConfig, x: Tensor<4>, masks: &[Vec<bool>]) -> Result<Tensor<3>> {
        let (t, rows, cols) = embed_patches(&self.backbone, cfg, x)?;
        let [b, n, d] = t.dims();
        let w = mask_tensor(masks, b, n, &t.device())?.reshape([b, n, 1]);
        let mt = self.mask_token.val().reshape([1, 1, d]);
        let t = t * (w.clone().neg() + 1.0) + mt * w;
        let z = encode_embedded(&self.backbone, cfg, t, rows, cols)?;
        Ok(lin(&self.head, z.narrow(1, 1, n)))
    }

    /// SimMIM loss of images `x` under `masks`.
    pub fn loss(&self, cfg: &VitConfig, x: Tensor<4>, masks: &[Vec<bool>]) -> Result<Tensor<1>> {
        let target = patchify(x.clone(), cfg.patch_size);
        let pred = self.predict(cfg, x, masks)?;
        masked_l1(pred, target, masks, cfg.patch_size * cfg.patch_size)
    }
}

fn mask_tensor(masks: &[Vec<bool>], b: usize, n: usize, device: &Device) -> Result<Tensor<2>> {
    if masks.len() != b || masks.iter().any(|m| m.len() != n) {
        return Err(invalid(
            "masks",
            masks.len(),
            format!("need {b} masks of {n} patches"),
        ));
    }
    let v: Vec<f32> = masks
        .iter()
        .flatten()
        .map(|&m| if m { 1.0 } else { 0.0 })
        .collect();
    Ok(Tensor::from_data(TensorData::new(v, [b, n]), device))
}

/// SimMIM's loss: `Σ |x − x̂| over masked pixels and channels / (#masked pixels + 1e-5) / 3`, for
/// patch pixels `pred`, `target` `[B, N, 3·pp]` (`pp` = pixels per patch).
pub fn masked_l1(
    pred: Tensor<3>,
    target: Tensor<3>,
    masks: &[Vec<bool>],
    pp: usize,
) -> Result<Tensor<1>> {
    let [b, n, _] = pred.dims();
    if target.dims() != pred.dims() {
        return Err(invalid(
            "simmim target",
            format!("{:?}", target.dims()),
            format!("must match the prediction {:?}", pred.dims()),
        ));
    }
    let m = mask_tensor(masks, b, n, &pred.device())?;
    let masked_pixels = masks.iter().flatten().filter(|&&x| x).count() * pp;
    let per_patch = (pred - target).abs().sum_dim(2).reshape([b, n]);
    Ok((per_patch * m)
        .sum()
        .div_scalar(masked_pixels as f32 + 1e-5)
        .div_scalar(3.0)
        .reshape([1]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn block_masks_have_the_exact_count_and_block_structure() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        // 8 × 8 tokens, 2 × 2-token blocks: 16 blocks, ⌈16 · 0.6⌉ = 10 masked → 40 tokens.
        let m = block_mask(&mut rng, 8, 2, 0.6).unwrap();
        assert_eq!(m.iter().filter(|&&x| x).count(), 40);
        for br in 0..4 {
            for bc in 0..4 {
                let v = m[(2 * br) * 8 + 2 * bc];
                for (dr, dc) in [(0, 1), (1, 0), (1, 1)] {
                    assert_eq!(m[(2 * br + dr) * 8 + 2 * bc + dc], v);
                }
            }
        }
        // SimMIM's ViT default: 224 px, 32-px blocks over 16-px patches → 49 blocks, ⌈29.4⌉ = 30.
        let m = block_mask(&mut rng, 14, 2, 0.6).unwrap();
        assert_eq!(m.iter().filter(|&&x| x).count(), 30 * 4);
        let a = block_mask(&mut ChaCha8Rng::seed_from_u64(9), 8, 2, 0.6).unwrap();
        let b = block_mask(&mut ChaCha8Rng::seed_from_u64(9), 8, 2, 0.6).unwrap();
        assert_eq!(a, b);
        assert!(block_mask(&mut rng, 8, 3, 0.6).is_err());
    }

    #[test]
    fn l1_loss_on_hand_values() {
        let dev = Device::flex();
        // One image, 2 patches of 1 pixel × 3 channels (pp = 1); patch 1 masked.
        let pred = Tensor::<3>::from_data(
            TensorData::new(vec![0.0f32, 0.0, 0.0, 1.0, 2.0, 3.0], [1, 2, 3]),
            &dev,
        );
        let target = Tensor::<3>::from_data(
            TensorData::new(vec![9.0f32, 9.0, 9.0, 0.0, 0.0, 0.0], [1, 2, 3]),
            &dev,
        );
        // |1| + |2| + |3| = 6 over 1 masked pixel, / 3 channels → 2 (up to the 1e-5).
        let l: f32 = masked_l1(pred, target, &[vec![false, true]], 1)
            .unwrap()
            .into_scalar();
        assert!((l - 6.0 / (1.0 + 1e-5) / 3.0).abs() < 1e-6, "{l}");
    }
}
