//! Supervised classification: a linear head on the final-normed CLS token (timm's `global_pool =
//! "token"`), cross-entropy on image-level labels.

use burn::module::Module;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor, TensorData};
use patchlens_vit::VitConfig;
use patchlens_vit::model::{Lin, VitModel};

use crate::encoder::{encode, lin};
use crate::error::{Result, invalid};
use crate::init::Init;

/// Backbone + classification head `[D, K]`.
#[derive(Module, Debug)]
pub struct SupervisedNet {
    /// The ViT.
    pub backbone: VitModel,
    /// Linear classifier on the CLS token (`head.weight`/`head.bias` in timm).
    pub head: Lin,
}

impl SupervisedNet {
    /// Wrap `backbone` with a fresh head for `num_labels` classes (zero bias, Xavier weight).
    pub fn new(
        backbone: VitModel,
        cfg: &VitConfig,
        num_labels: usize,
        init: &mut Init,
        device: &Device,
    ) -> Self {
        SupervisedNet {
            backbone,
            head: init.linear(cfg.embed_dim, num_labels, true, device),
        }
    }

    /// Class logits `[B, K]` of images `[B, 3, H, W]`.
    pub fn logits(&self, cfg: &VitConfig, x: Tensor<4>) -> Result<Tensor<2>> {
        let t = encode(&self.backbone, cfg, x)?;
        let [b, _, d] = t.dims();
        Ok(lin(&self.head, t.narrow(1, 0, 1).reshape([b, d])))
    }

    /// Mean cross-entropy of images `x` against `labels` (one per image).
    pub fn loss(&self, cfg: &VitConfig, x: Tensor<4>, labels: &[usize]) -> Result<Tensor<1>> {
        cross_entropy(self.logits(cfg, x)?, labels)
    }
}

/// Mean cross-entropy `−mean_b log softmax(logits_b)[label_b]` of logits `[B, K]`: a `[1]` tensor.
pub fn cross_entropy(logits: Tensor<2>, labels: &[usize]) -> Result<Tensor<1>> {
    let [b, k] = logits.dims();
    if labels.len() != b {
        return Err(invalid(
            "labels",
            labels.len(),
            format!("need one per row ({b})"),
        ));
    }
    let mut onehot = vec![0f32; b * k];
    for (i, &l) in labels.iter().enumerate() {
        if l >= k {
            return Err(invalid("label", l, format!("must be < {k}")));
        }
        onehot[i * k + l] = 1.0;
    }
    let onehot = Tensor::<2>::from_data(TensorData::new(onehot, [b, k]), &logits.device());
    Ok((log_softmax(logits, 1) * onehot)
        .sum()
        .neg()
        .div_scalar(b as f32)
        .reshape([1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_entropy_on_hand_values() {
        let dev = Device::flex();
        let logits = Tensor::<2>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 0.0, 0.0, 0.0], [2, 3]),
            &dev,
        );
        // Row 0, label 2: log(1 + e^-1 + e^-2) = 0.40760596; row 1, label 0: ln 3 = 1.09861229.
        let l: f32 = cross_entropy(logits, &[2, 0]).unwrap().into_scalar();
        assert!((l - (0.407_605_96 + 1.098_612_3) / 2.0).abs() < 1e-6, "{l}");
    }

    #[test]
    fn bad_labels_are_errors() {
        let dev = Device::flex();
        let logits = Tensor::<2>::zeros([2, 3], &dev);
        assert!(cross_entropy(logits.clone(), &[0]).is_err());
        let e = cross_entropy(logits, &[0, 3]).unwrap_err().to_string();
        assert!(e.contains('3'), "{e}");
    }
}
