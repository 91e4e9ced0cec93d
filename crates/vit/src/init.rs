//! Random initialisation of a backbone of any [`VitConfig`] (benchmarks, tests, training from scratch).
//!
//! The defaults follow timm / DINO's `trunc_normal_(std = 0.02)` for every weight matrix, token and
//! table, LayerNorm weight 1 and bias 0, and linear biases 0. LayerScale vectors (when the config has
//! them) are drawn per channel log-uniformly in `[1e-5, 0.1]`, the range between DINOv2's
//! initial value and typical trained magnitudes. Every draw comes from one ChaCha8 stream seeded by
//! `seed`, in a fixed order, so a (config, spec, seed) triple always yields the same parameters.

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::{Ffn, PosEmbedKind, QkvBias, RelPosBias, VitConfig};
use crate::model::{Block, Lin, Norm, Vit, VitModel};

/// Distribution parameters of [`init_random_with`].
#[derive(Clone, Debug, PartialEq)]
pub struct InitSpec {
    /// Standard deviation of the truncated normal (cut at ±2 std) for weights, tokens and tables.
    pub std: f32,
    /// Standard deviation of linear biases (0: biases are zero).
    pub bias_std: f32,
    /// LayerNorm weights are `1 + N(0, norm_std)` (0: exactly 1).
    pub norm_weight_std: f32,
    /// LayerNorm biases are `N(0, norm_std)` (0: exactly 0).
    pub norm_bias_std: f32,
    /// LayerScale range `[lo, hi]`, drawn log-uniformly per channel (`lo == hi`: a constant).
    pub layer_scale: (f32, f32),
}

impl Default for InitSpec {
    fn default() -> Self {
        InitSpec {
            std: 0.02,
            bias_std: 0.0,
            norm_weight_std: 0.0,
            norm_bias_std: 0.0,
            layer_scale: (1e-5, 0.1),
        }
    }
}

struct Draw {
    rng: ChaCha8Rng,
}

impl Draw {
    /// Standard normal by Box–Muller.
    fn normal(&mut self) -> f32 {
        let u1: f64 = self.rng.random::<f64>().max(f64::MIN_POSITIVE);
        let u2: f64 = self.rng.random::<f64>();
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }

    /// `n` draws of `N(0, std)` truncated at ±2 std (by resampling).
    fn trunc_normal(&mut self, n: usize, std: f32) -> Vec<f32> {
        (0..n)
            .map(|_| {
                if std == 0.0 {
                    return 0.0;
                }
                loop {
                    let z = self.normal();
                    if z.abs() <= 2.0 {
                        return z * std;
                    }
                }
            })
            .collect()
    }

    fn log_uniform(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        let (a, b) = ((lo as f64).ln(), (hi as f64).ln());
        (0..n)
            .map(|_| (a + (b - a) * self.rng.random::<f64>()).exp() as f32)
            .collect()
    }
}

fn p1(v: Vec<f32>, device: &Device) -> Param<Tensor<1>> {
    let n = v.len();
    Param::from_tensor(Tensor::from_data(TensorData::new(v, [n]), device))
}

fn p2(v: Vec<f32>, shape: [usize; 2], device: &Device) -> Param<Tensor<2>> {
    Param::from_tensor(Tensor::from_data(TensorData::new(v, shape), device))
}

/// A random backbone of architecture `config` with the default [`InitSpec`] (see the module docs).
///
/// `config` should be validated ([`VitConfig::validated`]); an unvalidated config with
/// `mlp_hidden = 0` is validated here (an invalid one panics: it is a programming error, not input).
pub fn init_random(config: &VitConfig, seed: u64, device: &Device) -> Vit {
    init_random_with(config, &InitSpec::default(), seed, device)
}

/// A random backbone of architecture `config` drawn from `spec`, deterministic in `seed`.
///
/// Parameter shapes are those of [`VitModel`]: linear weights `[in, out]`, the patch projection
/// `[3·p·p, D]`, position embedding `[prefix + G·G, D]`, relative tables `[(2G−1)²+3, heads]`.
pub fn init_random_with(config: &VitConfig, spec: &InitSpec, seed: u64, device: &Device) -> Vit {
    let c = config
        .clone()
        .validated()
        .expect("init_random: invalid VitConfig");
    let mut r = Draw {
        rng: ChaCha8Rng::seed_from_u64(seed),
    };
    let d = c.embed_dim;
    let h = c.mlp_hidden;
    let p = c.patch_size;
    let g = c.native_grid();
    let heads = c.num_heads;
    let rel_len = (2 * g - 1) * (2 * g - 1) + 3;

    let lin = |r: &mut Draw, inp: usize, out: usize, bias: bool| Lin {
        weight: p2(r.trunc_normal(inp * out, spec.std), [inp, out], device),
        bias: bias.then(|| p1(r.trunc_normal(out, spec.bias_std), device)),
    };
    let norm = |r: &mut Draw| Norm {
        weight: p1(
            r.trunc_normal(d, spec.norm_weight_std)
                .into_iter()
                .map(|v| 1.0 + v)
                .collect(),
            device,
        ),
        bias: p1(r.trunc_normal(d, spec.norm_bias_std), device),
    };
    let ls = |r: &mut Draw| {
        c.layer_scale.then(|| {
            p1(
                r.log_uniform(d, spec.layer_scale.0, spec.layer_scale.1),
                device,
            )
        })
    };

    let patch = lin(&mut r, 3 * p * p, d, true);
    let cls_token = c.cls_token.then(|| p1(r.trunc_normal(d, spec.std), device));
    let registers = (c.num_register_tokens > 0).then(|| {
        p2(
            r.trunc_normal(c.num_register_tokens * d, spec.std),
            [c.num_register_tokens, d],
            device,
        )
    });
    let pos_embed = (c.pos_embed == PosEmbedKind::Learned).then(|| {
        let t = usize::from(c.cls_token) + g * g;
        p2(r.trunc_normal(t * d, spec.std), [t, d], device)
    });
    let rel_table = (c.rel_pos_bias == RelPosBias::Shared).then(|| {
        p2(
            r.trunc_normal(rel_len * heads, spec.std),
            [rel_len, heads],
            device,
        )
    });
    let mut blocks = Vec::with_capacity(c.depth);
    for _ in 0..c.depth {
        let norm1 = norm(&mut r);
        let mut qkv = lin(&mut r, d, 3 * d, c.qkv_bias != QkvBias::None);
        if c.qkv_bias == QkvBias::Qv {
            // k has no bias in the BEiT/SimMIM layout: the stored combined bias has zeros there.
            let mut b = r.trunc_normal(3 * d, spec.bias_std);
            b[d..2 * d].fill(0.0);
            qkv.bias = Some(p1(b, device));
        }
        let proj = lin(&mut r, d, d, true);
        let ls1 = ls(&mut r);
        let norm2 = norm(&mut r);
        let f1_out = match c.ffn {
            Ffn::Mlp => h,
            Ffn::Swiglu => 2 * h,
        };
        let fc1 = lin(&mut r, d, f1_out, true);
        let fc2 = lin(&mut r, h, d, true);
        let ls2 = ls(&mut r);
        let rel_table = (c.rel_pos_bias == RelPosBias::PerBlock).then(|| {
            p2(
                r.trunc_normal(rel_len * heads, spec.std),
                [rel_len, heads],
                device,
            )
        });
        blocks.push(Block {
            norm1,
            qkv,
            proj,
            ls1,
            norm2,
            fc1,
            fc2,
            ls2,
            rel_table,
        });
    }
    let norm = c.final_norm.then(|| norm(&mut r));
    let model = VitModel {
        patch,
        cls_token,
        registers,
        pos_embed,
        rel_table,
        blocks,
        norm,
    };
    Vit::new(model, c, device.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values<const D: usize>(p: &Param<Tensor<D>>) -> Vec<f32> {
        p.val().into_data().try_to_vec::<f32>().unwrap()
    }

    fn small() -> VitConfig {
        serde_json::from_value(serde_json::json!({
            "patch_size": 16, "embed_dim": 192, "depth": 2, "num_heads": 3, "img_size": 64,
            "layer_scale": true, "num_register_tokens": 2
        }))
        .unwrap()
    }

    #[test]
    fn statistics_follow_the_spec() {
        let vit = init_random(&small(), 3, &Device::flex());
        let w = values(&vit.model.blocks[0].fc1.weight);
        assert_eq!(w.len(), 192 * 768);
        let n = w.len() as f64;
        let mean = w.iter().map(|&v| v as f64).sum::<f64>() / n;
        let std = (w.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n).sqrt();
        // N(0, 0.02) truncated at ±2σ has standard deviation 0.02 · 0.8796 = 0.01759.
        assert!((std - 0.017_59).abs() < 0.000_3, "std {std}");
        assert!(mean.abs() < 1e-4, "mean {mean}");
        assert!(w.iter().all(|v| v.abs() <= 0.04));
        let blk = &vit.model.blocks[1];
        assert!(values(&blk.norm1.weight).iter().all(|&v| v == 1.0));
        assert!(values(&blk.norm2.bias).iter().all(|&v| v == 0.0));
        assert!(
            values(blk.fc1.bias.as_ref().unwrap())
                .iter()
                .all(|&v| v == 0.0)
        );
        let ls = values(blk.ls2.as_ref().unwrap());
        assert!(ls.iter().all(|&v| (1e-5..=0.1).contains(&v)));
        // Log-uniform: about half the draws below the geometric midpoint 1e-3.
        let below = ls.iter().filter(|&&v| v < 1e-3).count();
        assert!((60..=132).contains(&below), "{below} of 192 below 1e-3");
        assert_eq!(values(vit.model.registers.as_ref().unwrap()).len(), 2 * 192);
        assert_eq!(
            values(vit.model.pos_embed.as_ref().unwrap()).len(),
            17 * 192
        );
    }

    #[test]
    fn deterministic_in_the_seed() {
        let cfg = small();
        let a = init_random(&cfg, 11, &Device::flex());
        let b = init_random(&cfg, 11, &Device::flex());
        let c = init_random(&cfg, 12, &Device::flex());
        let pa = values(a.model.pos_embed.as_ref().unwrap());
        assert_eq!(pa, values(b.model.pos_embed.as_ref().unwrap()));
        assert_ne!(pa, values(c.model.pos_embed.as_ref().unwrap()));
        assert_eq!(
            values(&a.model.blocks[1].qkv.weight),
            values(&b.model.blocks[1].qkv.weight)
        );
    }
}
