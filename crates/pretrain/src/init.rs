//! Seeded random initialisation of a [`VitModel`] (the recipes of timm / MAE / BEiT, simplified):
//! Xavier-uniform linear and patch-embedding weights, zero biases, unit LayerNorms, truncated-normal
//! (σ = 0.02) CLS token, learned positions and relative-position tables, LayerScale 0.1 (SimMIM),
//! and MAE's fixed 2-D sin-cos positions, stored but not trained.

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use patchlens_vit::model::{Block, Lin, Norm, VitModel};
use patchlens_vit::{PosEmbedKind, QkvBias, RelPosBias, VitConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::Result;

/// A seeded source of initial values.
pub struct Init {
    rng: ChaCha8Rng,
}

impl Init {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Init {
        Init {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// `n` samples of N(0, σ²) truncated to ±2σ (timm's `trunc_normal_(std=σ)`, a = −2σ, b = 2σ).
    pub fn trunc_normal(&mut self, n: usize, std: f32) -> Vec<f32> {
        (0..n)
            .map(|_| {
                loop {
                    // Box-Muller.
                    let u1: f32 = self.rng.random_range(f32::EPSILON..1.0);
                    let u2: f32 = self.rng.random();
                    let z = (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos();
                    if z.abs() <= 2.0 {
                        break z * std;
                    }
                }
            })
            .collect()
    }

    /// `n` samples of U(−a, a).
    pub fn uniform(&mut self, n: usize, a: f32) -> Vec<f32> {
        (0..n).map(|_| self.rng.random_range(-a..=a)).collect()
    }

    /// A linear layer `[fan_in, fan_out]` with Xavier-uniform weight and zero bias.
    pub fn linear(&mut self, fan_in: usize, fan_out: usize, bias: bool, device: &Device) -> Lin {
        let a = (6.0 / (fan_in + fan_out) as f32).sqrt();
        Lin {
            weight: param(self.uniform(fan_in * fan_out, a), [fan_in, fan_out], device),
            bias: bias.then(|| param(vec![0.0; fan_out], [fan_out], device)),
        }
    }
}

/// A trainable parameter from values and a shape.
pub fn param<const D: usize>(v: Vec<f32>, shape: [usize; D], device: &Device) -> Param<Tensor<D>> {
    Param::from_tensor(Tensor::from_data(TensorData::new(v, shape), device))
}

/// A unit LayerNorm of width `d`.
pub fn norm(d: usize, device: &Device) -> Norm {
    Norm {
        weight: param(vec![1.0; d], [d], device),
        bias: param(vec![0.0; d], [d], device),
    }
}

/// A pre-norm block of width `d`, FFN width `hidden`, with the bias/LayerScale layout of `cfg`.
pub fn block(init: &mut Init, cfg: &VitConfig, d: usize, hidden: usize, device: &Device) -> Block {
    let mut qkv = init.linear(d, 3 * d, true, device);
    if cfg.qkv_bias == QkvBias::None {
        qkv.bias = None;
    }
    let ls = || cfg.layer_scale.then(|| param(vec![0.1; d], [d], device));
    Block {
        norm1: norm(d, device),
        qkv,
        proj: init.linear(d, d, true, device),
        ls1: ls(),
        norm2: norm(d, device),
        fc1: init.linear(d, hidden, true, device),
        fc2: init.linear(hidden, d, true, device),
        ls2: ls(),
        rel_table: None,
    }
}

/// MAE's fixed 2-D sin-cos position table `[1 + g·g, D]` with a zero CLS row (`get_2d_sincos_pos_embed`
/// with `cls_token=True`): first half of the channels encodes the column, second half the row.
pub fn mae_sincos(d: usize, g: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; d];
    out.extend(patchlens_vit::posembed::sincos_gsd(d, g, g, 1.0));
    out
}

/// A freshly initialised backbone of architecture `config` (validated first), deterministic in `seed`.
///
/// MAE-style models (learned-kind positions with `fixed_positions` true) get the sin-cos table and
/// it is excluded from training (`require_grad = false`).
pub fn init_vit_model(
    config: &VitConfig,
    fixed_positions: bool,
    seed: u64,
    device: &Device,
) -> Result<VitModel> {
    let c = config.clone().validated()?;
    let mut init = Init::new(seed);
    let d = c.embed_dim;
    let p = c.patch_size;
    let g = c.native_grid();
    let patch = init.linear(3 * p * p, d, true, device);
    let cls_token = c
        .cls_token
        .then(|| param(init.trunc_normal(d, 0.02), [d], device));
    let registers = (c.num_register_tokens > 0).then(|| {
        let r = c.num_register_tokens;
        param(init.trunc_normal(r * d, 0.02), [r, d], device)
    });
    let t = usize::from(c.cls_token) + g * g;
    let pos_embed = (c.pos_embed == PosEmbedKind::Learned).then(|| {
        if fixed_positions {
            param(mae_sincos(d, g), [t, d], device).set_require_grad(false)
        } else {
            param(init.trunc_normal(t * d, 0.02), [t, d], device)
        }
    });
    let rel_len = (2 * g - 1) * (2 * g - 1) + 3;
    let heads = c.num_heads;
    let rel_table = (c.rel_pos_bias == RelPosBias::Shared).then(|| {
        param(
            init.trunc_normal(rel_len * heads, 0.02),
            [rel_len, heads],
            device,
        )
    });
    let blocks = (0..c.depth)
        .map(|_| {
            let mut b = block(&mut init, &c, d, c.mlp_hidden, device);
            if c.rel_pos_bias == RelPosBias::PerBlock {
                b.rel_table = Some(param(
                    init.trunc_normal(rel_len * heads, 0.02),
                    [rel_len, heads],
                    device,
                ));
            }
            b
        })
        .collect();
    Ok(VitModel {
        patch,
        cls_token,
        registers,
        pos_embed,
        rel_table,
        blocks,
        norm: c.final_norm.then(|| norm(d, device)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trunc_normal_has_the_truncated_moments() {
        // N(0,1) truncated to [-2, 2]: variance = 1 - 2·2·φ(2)/(Φ(2) − Φ(−2)) = 0.7737413.
        let v = Init::new(3).trunc_normal(200_000, 1.0);
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 0.773_741_3).abs() < 0.01, "{var}");
        assert!(v.iter().all(|x| x.abs() <= 2.0));
    }

    #[test]
    fn mae_sincos_matches_hand_values() {
        // D = 8, g = 2: quarter = 2 frequencies ω = [1, 1/100]; patch (r=1, c=0) is token 2:
        // x-part [sin(0), sin(0), cos(0), cos(0)], y-part [sin(1), sin(0.01), cos(1), cos(0.01)].
        let t = mae_sincos(8, 2);
        assert_eq!(t.len(), 8 * 5);
        assert!(t[..8].iter().all(|&x| x == 0.0));
        let tok = &t[8 * 3..8 * 4];
        let want = [
            0.0,
            0.0,
            1.0,
            1.0,
            1f32.sin(),
            0.01f32.sin(),
            1f32.cos(),
            0.01f32.cos(),
        ];
        for (a, b) in tok.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{tok:?}");
        }
    }
}
