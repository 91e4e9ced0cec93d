//! The forward-pass entry points of [`Vit`]: check the requested layers, then run the host path
//! ([`crate::cpu`]) when it applies and the burn-tensor path ([`Vit::forward_burn`], in
//! [`crate::model`]) otherwise.
//!
//! This module sits above both paths (`forward` → `cpu` → `model`, `forward` → `model`), so neither
//! path refers to the other.

use burn::tensor::Tensor;

use crate::backend::Precision;
use crate::cpu;
use crate::error::{Result, VitError};
use crate::model::{ForwardOutput, ForwardPath, Vit};

impl Vit {
    /// Run the backbone on `x` `[B, 3, H, W]` (H, W multiples of the patch size) and return the tokens of
    /// every layer in `layers` (1-based; layer l = block l's output followed by the final norm), in one pass
    /// that stops after the deepest requested block.
    pub fn forward_layers(&self, x: Tensor<4>, layers: &[usize]) -> Result<ForwardOutput> {
        self.forward_impl(x, layers, true)
    }

    /// Like [`Vit::forward_layers`] but returns the raw block outputs, without the final norm
    /// (for checking against block-level references).
    pub fn forward_blocks(&self, x: Tensor<4>, layers: &[usize]) -> Result<ForwardOutput> {
        self.forward_impl(x, layers, false)
    }

    fn forward_impl(
        &self,
        x: Tensor<4>,
        layers: &[usize],
        final_norm: bool,
    ) -> Result<ForwardOutput> {
        let depth = self.config.depth;
        let mut wanted: Vec<usize> = layers.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        if let Some(&bad) = wanted.iter().find(|&&l| l == 0 || l > depth) {
            return Err(VitError::Layer { layer: bad, depth });
        }
        let path = self.forward_path();
        // The host path is f32 only; any other precision runs the burn path.
        if path != ForwardPath::Burn
            && self.precision() == Precision::F32
            && let Some(res) = cpu::try_forward(self, x.clone(), &wanted, final_norm)
        {
            return res;
        }
        if path == ForwardPath::Host {
            return Err(VitError::Config(
                "ForwardPath::Host needs the input and every parameter as untracked f32 tensors on the flex device, at precision f32".into(),
            ));
        }
        self.forward_burn(x, &wanted, final_norm)
    }
}
