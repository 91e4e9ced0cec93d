//! DINO self-distillation: projection head with a weight-normalised last layer, teacher centering and
//! sharpening, the multi-view cross-entropy, and the EMA teacher update.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::activation::{gelu, log_softmax, softmax};
use burn::tensor::{Device, Tensor};
use patchlens_vit::VitConfig;
use patchlens_vit::model::{Lin, Norm, VitModel};

use crate::encoder::{encode, lin};
use crate::error::{Result, invalid};
use crate::init::{Init, norm, param};

/// DINO projection head: 3-layer MLP (GELU) → L2 normalisation → weight-normalised linear layer to K
/// prototypes: column norms fixed to 1 (`norm_last_layer = True`) or learned gains `g` initialised to 1
/// (`norm_last_layer = False`, the official recipe for ViT-S).
#[derive(Module, Debug)]
pub struct DinoHead {
    /// `[D, hidden]`.
    pub mlp1: Lin,
    /// BatchNorm affine `[hidden]` after `mlp1` (`use_bn_in_head`), or `None`.
    pub bn1: Option<Norm>,
    /// `[hidden, hidden]`.
    pub mlp2: Lin,
    /// BatchNorm affine `[hidden]` after `mlp2`, or `None`.
    pub bn2: Option<Norm>,
    /// `[hidden, bottleneck]`.
    pub mlp3: Lin,
    /// Direction of the last layer `[bottleneck, K]` (each column normalised in the forward).
    pub last: Param<Tensor<2>>,
    /// Learned per-prototype gains `[1, K]` (PyTorch weight norm's `weight_g`), or `None` when the norm
    /// is fixed to 1.
    pub last_g: Option<Param<Tensor<2>>>,
}

impl DinoHead {
    /// A fresh head with `norm_last_layer = True` (see [`DinoHead::with_options`]).
    pub fn new(
        init: &mut Init,
        d: usize,
        hidden: usize,
        bottleneck: usize,
        out: usize,
        device: &Device,
    ) -> Self {
        Self::with_options(init, d, hidden, bottleneck, out, true, false, device)
    }

    /// A fresh head; `norm_last_layer = false` adds the learned gains `g = 1` of the last layer,
    /// `use_bn = true` a BatchNorm (batch statistics, unit affine at init) after each hidden layer, as
    /// DINO's `--use_bn_in_head`.
    #[allow(clippy::too_many_arguments)]
    pub fn with_options(
        init: &mut Init,
        d: usize,
        hidden: usize,
        bottleneck: usize,
        out: usize,
        norm_last_layer: bool,
        use_bn: bool,
        device: &Device,
    ) -> Self {
        DinoHead {
            mlp1: init.linear(d, hidden, true, device),
            bn1: use_bn.then(|| norm(hidden, device)),
            mlp2: init.linear(hidden, hidden, true, device),
            bn2: use_bn.then(|| norm(hidden, device)),
            mlp3: init.linear(hidden, bottleneck, true, device),
            last: param(
                init.trunc_normal(bottleneck * out, 0.02),
                [bottleneck, out],
                device,
            ),
            last_g: (!norm_last_layer).then(|| param(vec![1.0; out], [1, out], device)),
        }
    }

    /// `[B, D]` → logits `[B, K]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let h = gelu(batch_norm(lin(&self.mlp1, x), self.bn1.as_ref()));
        let h = gelu(batch_norm(lin(&self.mlp2, h), self.bn2.as_ref()));
        let h = l2_normalise(lin(&self.mlp3, h), 1);
        let w = l2_normalise(self.last.val(), 0);
        let w = match &self.last_g {
            Some(g) => w * g.val(),
            None => w,
        };
        h.matmul(w)
    }
}

/// Training-mode BatchNorm of `[B, C]` over the batch (biased variance, ε = 1e-5, as PyTorch's
/// `BatchNorm1d` normalises; DINO never switches its head to eval mode), then the affine `w·x̂ + b`;
/// the identity when `bn` is `None`.
pub fn batch_norm(x: Tensor<2>, bn: Option<&Norm>) -> Tensor<2> {
    let Some(bn) = bn else {
        return x;
    };
    let mean = x.clone().mean_dim(0);
    let centred = x - mean;
    let var = centred.clone().square().mean_dim(0);
    let c = bn.weight.dims()[0];
    centred / (var + 1e-5).sqrt() * bn.weight.val().reshape([1, c]) + bn.bias.val().reshape([1, c])
}

/// `x / max(‖x‖₂, 1e-12)` along `dim` (PyTorch `F.normalize`).
pub fn l2_normalise(x: Tensor<2>, dim: usize) -> Tensor<2> {
    let n = x.clone().square().sum_dim(dim).sqrt().clamp_min(1e-12);
    x / n
}

/// Backbone + DINO head (the student, or its EMA copy, the teacher).
#[derive(Module, Debug)]
pub struct DinoNet {
    /// The ViT.
    pub backbone: VitModel,
    /// Projection head.
    pub head: DinoHead,
}

impl DinoNet {
    /// Head logits `[B, K]` of the CLS token of images `[B, 3, H, W]` (any grid: positions are resized
    /// by the family's rule, as DINO does for local crops).
    pub fn forward(&self, cfg: &VitConfig, x: Tensor<4>) -> Result<Tensor<2>> {
        let t = encode(&self.backbone, cfg, x)?;
        let [b, _, d] = t.dims();
        Ok(self.head.forward(t.narrow(1, 0, 1).reshape([b, d])))
    }
}

/// Teacher targets: `softmax((t − c) / τ_t)` row-wise, for teacher logits `[B, K]` and centre `[1, K]`
/// (centering, then sharpening by the low temperature).
pub fn teacher_targets(teacher: Tensor<2>, center: Tensor<2>, temp: f32) -> Tensor<2> {
    softmax((teacher - center).div_scalar(temp), 1)
}

/// Mean entropy (nats) of the rows of probability tensors `[B, K]` over every row of `targets`: `ln K`
/// is DINO's uniform collapse, 0 its one-hot collapse.
pub fn mean_entropy(targets: &[Tensor<2>]) -> Result<f64> {
    if targets.is_empty() {
        return Err(invalid("teacher targets", 0, "need at least one view"));
    }
    let all = Tensor::cat(targets.to_vec(), 0);
    let rows = all.dims()[0];
    let h = (all.clone() * all.clamp_min(1e-30).log()).sum().neg();
    let v = crate::tensor::host(h.reshape([1]), "teacher entropy")?;
    Ok(v.first().copied().unwrap_or(f32::NAN) as f64 / rows as f64)
}

/// Updated centre `c·m + mean(teacher logits over every row of every view)·(1 − m)`, `[1, K]`.
pub fn updated_center(
    center: Tensor<2>,
    teacher: &[Tensor<2>],
    momentum: f32,
) -> Result<Tensor<2>> {
    if teacher.is_empty() {
        return Err(invalid("teacher views", 0, "need at least one"));
    }
    let all = Tensor::cat(teacher.to_vec(), 0);
    let mean = all.mean_dim(0);
    Ok(center.mul_scalar(momentum) + mean.mul_scalar(1.0 - momentum))
}

/// DINO's loss: the mean over pairs (teacher view i, student view v ≠ i) of
/// `mean_b Σ_k −q_ik · log softmax(s_v / τ_s)_k`. Teacher view i is student view i (the global crops
/// come first in `student`). Returns a `[1]` tensor.
pub fn dino_loss(
    student: &[Tensor<2>],
    targets: &[Tensor<2>],
    student_temp: f32,
) -> Result<Tensor<1>> {
    if targets.is_empty() || student.len() < 2 {
        return Err(invalid(
            "views",
            format!("{} student, {} teacher", student.len(), targets.len()),
            "need ≥ 2 student views and ≥ 1 teacher view",
        ));
    }
    let logp: Vec<Tensor<2>> = student
        .iter()
        .map(|s| log_softmax(s.clone().div_scalar(student_temp), 1))
        .collect();
    let mut total: Option<Tensor<1>> = None;
    let mut terms = 0usize;
    for (i, q) in targets.iter().enumerate() {
        for (v, lp) in logp.iter().enumerate() {
            if v == i {
                continue;
            }
            let b = q.dims()[0];
            let term = (q.clone() * lp.clone())
                .sum()
                .neg()
                .div_scalar(b as f32)
                .reshape([1]);
            total = Some(match total {
                Some(t) => t + term,
                None => term,
            });
            terms += 1;
        }
    }
    let total = total.ok_or_else(|| invalid("views", 1, "no (teacher, student) pair"))?;
    Ok(total.div_scalar(terms as f32))
}

struct Collect {
    values: Vec<Tensor<1>>,
}

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val().inner();
        let n = t.shape().num_elements();
        self.values.push(t.reshape([n]));
    }
}

struct Ema {
    values: std::vec::IntoIter<Tensor<1>>,
    momentum: f64,
    mismatch: bool,
}

impl ModuleMapper for Ema {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(s) = self.values.next() else {
            self.mismatch = true;
            return param;
        };
        let m = self.momentum;
        param.map(|t| {
            let shape = t.shape();
            if shape.num_elements() != s.dims()[0] {
                return t;
            }
            let s = s.reshape(shape).to_device(&t.device());
            t.mul_scalar(m) + s.mul_scalar(1.0 - m)
        })
    }
}

/// EMA update `teacher ← m·teacher + (1 − m)·student`, parameter by parameter (same module structure).
pub fn ema_update<M: Module>(teacher: M, student: &M, momentum: f64) -> Result<M> {
    let mut c = Collect { values: Vec::new() };
    student.visit(&mut c);
    let n = c.values.len();
    let mut ema = Ema {
        values: c.values.into_iter(),
        momentum,
        mismatch: false,
    };
    let teacher = teacher.map(&mut ema);
    if ema.mismatch || ema.values.next().is_some() {
        return Err(invalid(
            "teacher",
            n,
            "teacher and student have different structures",
        ));
    }
    Ok(teacher)
}

/// The cosine teacher-momentum schedule `1 − (1 − m₀)·(cos(π·step/steps) + 1)/2`.
pub fn teacher_momentum(m0: f64, step: usize, steps: usize) -> f64 {
    let t = step as f64 / steps.max(1) as f64;
    1.0 - (1.0 - m0) * ((std::f64::consts::PI * t).cos() + 1.0) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn t2(v: Vec<f32>, shape: [usize; 2]) -> Tensor<2> {
        Tensor::from_data(TensorData::new(v, shape), &Device::flex())
    }

    fn vals(t: Tensor<2>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn centering_and_sharpening_on_hand_values() {
        // t − c = [0, 2, 1]; / 0.5 = [0, 4, 2]; softmax = [1, e⁴, e²] / (1 + e⁴ + e²).
        let q = vals(teacher_targets(
            t2(vec![1.0, 2.0, 3.0], [1, 3]),
            t2(vec![1.0, 0.0, 2.0], [1, 3]),
            0.5,
        ));
        let want = [0.015_876_22, 0.866_813_9, 0.117_310_4];
        for (a, b) in q.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{q:?}");
        }
        // A lower temperature sharpens: the top probability grows.
        let q2 = vals(teacher_targets(
            t2(vec![1.0, 2.0, 3.0], [1, 3]),
            t2(vec![1.0, 0.0, 2.0], [1, 3]),
            0.25,
        ));
        assert!(q2[1] > q[1]);
    }

    #[test]
    fn center_update_on_hand_values() {
        let c = t2(vec![1.0, 0.0], [1, 2]);
        let v1 = t2(vec![2.0, 4.0, 0.0, 0.0], [2, 2]);
        let v2 = t2(vec![6.0, 8.0], [1, 2]);
        // mean over the 3 rows = [8/3, 4]; 0.9·c + 0.1·mean = [0.9 + 0.26667, 0.4].
        let out = vals(updated_center(c, &[v1, v2], 0.9).unwrap());
        assert!(
            (out[0] - (0.9 + 0.8 / 3.0)).abs() < 1e-6 && (out[1] - 0.4).abs() < 1e-6,
            "{out:?}"
        );
    }

    #[test]
    fn loss_on_hand_values() {
        // One teacher view q = [0.25, 0.75]; two student views with logits/τ = log-probs:
        // view 0 is skipped (same view), view 1 logits [0, 0] → log softmax = [−ln 2, −ln 2].
        let q = t2(vec![0.25, 0.75], [1, 2]);
        let s0 = t2(vec![5.0, -5.0], [1, 2]);
        let s1 = t2(vec![0.0, 0.0], [1, 2]);
        let l: f32 = dino_loss(&[s0, s1], &[q], 0.1).unwrap().into_scalar();
        assert!((l - std::f32::consts::LN_2).abs() < 1e-6, "{l}");
        // Two views, two targets: pairs (0,1) and (1,0) averaged.
        // s = [ln 1, ln 3] / τ with τ = 1 → log softmax = [ln .25, ln .75].
        let a = t2(vec![0.0, 3f32.ln()], [1, 2]);
        let q0 = t2(vec![1.0, 0.0], [1, 2]);
        let q1 = t2(vec![0.0, 1.0], [1, 2]);
        let l: f32 = dino_loss(&[a.clone(), a], &[q0, q1], 1.0)
            .unwrap()
            .into_scalar();
        let want = (-(0.25f32.ln()) - 0.75f32.ln()) / 2.0;
        assert!((l - want).abs() < 1e-6, "{l} vs {want}");
    }

    #[test]
    fn ema_moves_the_teacher_towards_the_student() {
        let dev = Device::flex();
        let mk = |v: f32| crate::objectives::dino::DinoHead {
            mlp1: Lin {
                weight: param(vec![v; 4], [2, 2], &dev),
                bias: Some(param(vec![v; 2], [2], &dev)),
            },
            bn1: None,
            bn2: None,
            mlp2: Lin {
                weight: param(vec![v; 4], [2, 2], &dev),
                bias: None,
            },
            mlp3: Lin {
                weight: param(vec![v; 2], [2, 1], &dev),
                bias: None,
            },
            last: param(vec![v; 3], [1, 3], &dev),
            last_g: Some(param(vec![v; 3], [1, 3], &dev)),
        };
        let teacher = ema_update(mk(0.0), &mk(1.0), 0.9).unwrap();
        let w = teacher
            .mlp1
            .weight
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(w.iter().all(|&x| (x - 0.1).abs() < 1e-7), "{w:?}");
        let l = teacher.last.val().into_data().try_to_vec::<f32>().unwrap();
        assert!(l.iter().all(|&x| (x - 0.1).abs() < 1e-7), "{l:?}");
        let g = teacher.last_g.unwrap().val();
        let g = g.into_data().try_to_vec::<f32>().unwrap();
        assert!(g.iter().all(|&x| (x - 0.1).abs() < 1e-7), "{g:?}");
        assert!((teacher_momentum(0.99, 0, 10) - 0.99).abs() < 1e-12);
        assert!((teacher_momentum(0.99, 10, 10) - 1.0).abs() < 1e-12);
        assert!((teacher_momentum(0.99, 5, 10) - 0.995).abs() < 1e-12);
    }

    #[test]
    fn head_output_is_bounded_by_the_normalisations() {
        // Unit-norm input times unit-norm columns: every logit lies in [−1, 1].
        let dev = Device::flex();
        let mut init = Init::new(0);
        let head = DinoHead::new(&mut init, 8, 16, 4, 32, &dev);
        let x = Tensor::<2>::from_data(TensorData::new(init.uniform(3 * 8, 10.0), [3, 8]), &dev);
        let y = vals(head.forward(x));
        assert_eq!(y.len(), 3 * 32);
        assert!(y.iter().all(|v| v.abs() <= 1.0 + 1e-5));
    }

    #[test]
    fn learned_gains_scale_the_logits() {
        // Same weights, gains g: the logits of prototype k are multiplied by g_k.
        let dev = Device::flex();
        let fixed = DinoHead::new(&mut Init::new(3), 8, 16, 4, 5, &dev);
        let mut gained = DinoHead::with_options(&mut Init::new(3), 8, 16, 4, 5, false, false, &dev);
        let g = [1.0, 2.0, 0.5, 3.0, 1.0];
        gained.last_g = Some(param(g.to_vec(), [1, 5], &dev));
        let x = Tensor::<2>::from_data(
            TensorData::new(Init::new(4).uniform(2 * 8, 1.0), [2, 8]),
            &dev,
        );
        let a = vals(fixed.forward(x.clone()));
        let b = vals(gained.forward(x));
        for (i, (a, b)) in a.iter().zip(&b).enumerate() {
            assert!(
                (a * g[i % 5] - b).abs() < 1e-6,
                "{i}: {a} · {} vs {b}",
                g[i % 5]
            );
        }
    }

    #[test]
    fn entropy_on_hand_values() {
        // Rows [½, ½] (ln 2) and [1, 0] (0): mean ln 2 / 2; a uniform row over 4 gives ln 4.
        let q = t2(vec![0.5, 0.5, 1.0, 0.0], [2, 2]);
        let h = mean_entropy(&[q]).unwrap();
        assert!((h - std::f64::consts::LN_2 / 2.0).abs() < 1e-6, "{h}");
        let u = t2(vec![0.25; 4], [1, 4]);
        let h = mean_entropy(&[u]).unwrap();
        assert!((h - 4f64.ln()).abs() < 1e-6, "{h}");
        assert!(mean_entropy(&[]).is_err());
    }

    #[test]
    fn batch_norm_on_hand_values() {
        // Column [1, 3]: mean 2, biased variance 1 → [−1, 1]/√(1 + 1e-5); column [2, 2]: variance 0 → 0.
        // Affine w = [2, 1], b = [0, 5].
        let dev = Device::flex();
        let bn = Norm {
            weight: param(vec![2.0, 1.0], [2], &dev),
            bias: param(vec![0.0, 5.0], [2], &dev),
        };
        let y = vals(batch_norm(t2(vec![1.0, 2.0, 3.0, 2.0], [2, 2]), Some(&bn)));
        let s = 1.0 / (1.0f32 + 1e-5).sqrt();
        let want = [-2.0 * s, 5.0, 2.0 * s, 5.0];
        for (a, b) in y.iter().zip(want) {
            assert!((a - b).abs() < 1e-5, "{y:?}");
        }
        let x = t2(vec![1.0, 2.0], [1, 2]);
        assert_eq!(vals(batch_norm(x, None)), vec![1.0, 2.0]);
    }
}
