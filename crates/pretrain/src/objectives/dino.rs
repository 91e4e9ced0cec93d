//! DINO self-distillation: projection head with a weight-normalised last layer, teacher centering and
//! sharpening, the multi-view cross-entropy, and the EMA teacher update.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::activation::{gelu, log_softmax, softmax};
use burn::tensor::{Device, Tensor};
use patchlens_vit::VitConfig;
use patchlens_vit::model::{Lin, VitModel};

use crate::encoder::{encode, lin};
use crate::error::{Result, invalid};
use crate::init::{Init, param};

/// DINO projection head: 3-layer MLP (GELU) → L2 normalisation → weight-normalised linear layer to K
/// prototypes with the norm fixed to 1 (`norm_last_layer = True`).
#[derive(Module, Debug)]
pub struct DinoHead {
    /// `[D, hidden]`.
    pub mlp1: Lin,
    /// `[hidden, hidden]`.
    pub mlp2: Lin,
    /// `[hidden, bottleneck]`.
    pub mlp3: Lin,
    /// Direction of the last layer `[bottleneck, K]` (each column normalised in the forward).
    pub last: Param<Tensor<2>>,
}

impl DinoHead {
    /// A fresh head.
    pub fn new(
        init: &mut Init,
        d: usize,
        hidden: usize,
        bottleneck: usize,
        out: usize,
        device: &Device,
    ) -> Self {
        DinoHead {
            mlp1: init.linear(d, hidden, true, device),
            mlp2: init.linear(hidden, hidden, true, device),
            mlp3: init.linear(hidden, bottleneck, true, device),
            last: param(
                init.trunc_normal(bottleneck * out, 0.02),
                [bottleneck, out],
                device,
            ),
        }
    }

    /// `[B, D]` → logits `[B, K]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let h = gelu(lin(&self.mlp1, x));
        let h = gelu(lin(&self.mlp2, h));
        let h = l2_normalise(lin(&self.mlp3, h), 1);
        let w = l2_normalise(self.last.val(), 0);
        h.matmul(w)
    }
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
        Tensor::from_data(TensorData::new(v, shape), &Device::default())
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
        let dev = Device::default();
        let mk = |v: f32| crate::objectives::dino::DinoHead {
            mlp1: Lin {
                weight: param(vec![v; 4], [2, 2], &dev),
                bias: Some(param(vec![v; 2], [2], &dev)),
            },
            mlp2: Lin {
                weight: param(vec![v; 4], [2, 2], &dev),
                bias: None,
            },
            mlp3: Lin {
                weight: param(vec![v; 2], [2, 1], &dev),
                bias: None,
            },
            last: param(vec![v; 3], [1, 3], &dev),
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
        assert!((teacher_momentum(0.99, 0, 10) - 0.99).abs() < 1e-12);
        assert!((teacher_momentum(0.99, 10, 10) - 1.0).abs() < 1e-12);
        assert!((teacher_momentum(0.99, 5, 10) - 0.995).abs() < 1e-12);
    }

    #[test]
    fn head_output_is_bounded_by_the_normalisations() {
        // Unit-norm input times unit-norm columns: every logit lies in [−1, 1].
        let dev = Device::default();
        let mut init = Init::new(0);
        let head = DinoHead::new(&mut init, 8, 16, 4, 32, &dev);
        let x = Tensor::<2>::from_data(TensorData::new(init.uniform(3 * 8, 10.0), [3, 8]), &dev);
        let y = vals(head.forward(x));
        assert_eq!(y.len(), 3 * 32);
        assert!(y.iter().all(|v| v.abs() <= 1.0 + 1e-5));
    }
}
