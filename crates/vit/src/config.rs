//! Architecture configuration, family-neutral. Every family of the study is a point in this space;
//! family differences are data (this struct + the remap tables in `data/families.toml`).

use serde::{Deserialize, Serialize};

use crate::error::{Result, VitError};

/// Model family: selects the checkpoint key-remap table and the position-embedding conventions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// DINO (facebookresearch/dino).
    Dino,
    /// DINOv2 (facebookresearch/dinov2), with or without registers.
    Dinov2,
    /// MAE (facebookresearch/mae), encoder.
    Mae,
    /// SimMIM (microsoft/SimMIM) ViT.
    Simmim,
    /// Supervised ViT, torchvision key names (`vit_b_16`).
    SupTorchvision,
    /// Supervised ViT, timm key names (`vit_base_patch16_224.augreg*`).
    SupTimm,
    /// iBOT (bytedance/ibot).
    Ibot,
    /// Scale-MAE (bair-climate-initiative/scale-mae), GSD-scaled sin-cos positions.
    Scalemae,
    /// BEiT in Hugging Face `transformers` key names.
    Beit,
    /// I-JEPA (facebookresearch/ijepa): no CLS token, the EMA `target_encoder` of a training checkpoint.
    Ijepa,
}

impl Family {
    /// All families.
    pub const ALL: [Family; 10] = [
        Family::Dino,
        Family::Dinov2,
        Family::Mae,
        Family::Simmim,
        Family::SupTorchvision,
        Family::SupTimm,
        Family::Ibot,
        Family::Scalemae,
        Family::Beit,
        Family::Ijepa,
    ];

    /// The snake_case name used in tables and manifests.
    pub fn name(self) -> &'static str {
        match self {
            Family::Dino => "dino",
            Family::Dinov2 => "dinov2",
            Family::Mae => "mae",
            Family::Simmim => "simmim",
            Family::SupTorchvision => "sup_torchvision",
            Family::SupTimm => "sup_timm",
            Family::Ibot => "ibot",
            Family::Scalemae => "scalemae",
            Family::Beit => "beit",
            Family::Ijepa => "ijepa",
        }
    }

    /// Parse a family name.
    pub fn parse(s: &str) -> Result<Family> {
        Family::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| VitError::Config(format!("unknown family `{s}`")))
    }
}

/// Feed-forward network type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Ffn {
    /// `fc2(gelu(fc1(x)))`, exact (erf) GELU.
    #[default]
    Mlp,
    /// DINOv2's fused SwiGLU: `w3(silu(a) * b)` with `[a, b] = w12(x)`.
    Swiglu,
}

/// How the absolute position embedding is obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PosEmbedKind {
    /// Learned (or stored fixed sin-cos) `pos_embed` `[1, 1 + G*G, D]` in the checkpoint.
    #[default]
    Learned,
    /// No absolute position embedding (relative bias only).
    None,
    /// Scale-MAE: 2-D sin-cos computed at run time, coordinates scaled by the GSD ratio.
    SincosGsd,
}

/// How a stored position grid is resized to another token grid. All forms are bicubic (a = -0.75)
/// without antialias, except `TimmAntialias`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PosInterp {
    /// DINOv2 hub code with `interpolate_offset > 0`: `scale_factor = ((h0 + off) / M, (w0 + off) / M)`,
    /// sampling at `(dst + 0.5) / scale - 0.5`.
    Dinov2Offset,
    /// DINOv2 hub code with `interpolate_offset = 0`: `size = (h0, w0)`, half-pixel centres.
    #[default]
    Dinov2Size,
    /// DINO v1: `scale_factor = ((h0 + 0.1) / M, (w0 + 0.1) / M)` (same maths as `Dinov2Offset`).
    DinoOffset,
    /// Size-based bicubic, half-pixel centres (MAE `interpolate_pos_embed`).
    SizeBicubic,
    /// torchvision `interpolate_embeddings`: size-based bicubic with `align_corners = True`.
    TorchvisionAlignCorners,
    /// timm `resample_abs_pos_embed`: bicubic with antialias (PyTorch's separable AA kernel, a = -0.5).
    TimmAntialias,
    /// I-JEPA `interpolate_pos_encoding` (no CLS slot): one `scale_factor = sqrt(npatch / N)` on the
    /// stored `√N × √N` grid, sampling at `(dst + 0.5) / scale - 0.5`: DINO's scale-factor form with offset
    /// 0. The official code strips a CLS row the model does not have and fails at any other size; this is
    /// the rule with that off-by-one removed. A non-square grid (which the official single scale cannot
    /// produce) gets one scale per axis, `rows / M` and `cols / M`.
    IjepaScale,
    /// The grid cannot be resized (native resolution only).
    None,
}

/// How a relative-position table is resized to another window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RelPosInterp {
    /// Bicubic, size-based, half-pixel, no antialias (our choice for SimMIM, whose code has none).
    #[default]
    Bicubic,
    /// Bilinear, `align_corners = False` (Hugging Face BEiT's own resize).
    Bilinear,
    /// Not resizable (native window only).
    None,
}

/// Attention bias of q/k/v projections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum QkvBias {
    /// One bias for q, k and v.
    #[default]
    Full,
    /// Separate `q_bias`, `v_bias`; k has none (BEiT, SimMIM).
    Qv,
    /// No bias.
    None,
}

/// Relative position bias (BEiT / SimMIM style).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RelPosBias {
    /// None.
    #[default]
    None,
    /// One table shared by all blocks.
    Shared,
    /// One table per block.
    PerBlock,
}

fn default_eps() -> f64 {
    1e-6
}
fn default_true() -> bool {
    true
}
fn default_offset() -> f64 {
    0.1
}
fn default_one() -> f64 {
    1.0
}
fn default_mlp_ratio() -> f64 {
    4.0
}

/// Architecture of a ViT backbone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VitConfig {
    /// Patch size in pixels (square patches).
    pub patch_size: usize,
    /// Token width D.
    pub embed_dim: usize,
    /// Number of blocks.
    pub depth: usize,
    /// Attention heads.
    pub num_heads: usize,
    /// MLP ratio (informational when `mlp_hidden` is given).
    #[serde(default = "default_mlp_ratio")]
    pub mlp_ratio: f64,
    /// Hidden width of the FFN (for SwiGLU: the width of `a` and `b`, i.e. `w12` outputs / 2).
    #[serde(default)]
    pub mlp_hidden: usize,
    /// Native (training) input size in pixels; the stored position grid is `img_size / patch_size`.
    pub img_size: usize,
    /// Register tokens (DINOv2 `_reg4`: 4).
    #[serde(default)]
    pub num_register_tokens: usize,
    /// Feed-forward type.
    #[serde(default)]
    pub ffn: Ffn,
    /// LayerScale on both residual branches.
    #[serde(default)]
    pub layer_scale: bool,
    /// q/k/v bias layout.
    #[serde(default, deserialize_with = "de_qkv_bias")]
    pub qkv_bias: QkvBias,
    /// LayerNorm epsilon.
    #[serde(default = "default_eps")]
    pub ln_eps: f64,
    /// Absolute position embedding.
    #[serde(default)]
    pub pos_embed: PosEmbedKind,
    /// Position-grid interpolation rule.
    #[serde(default)]
    pub pos_interp: PosInterp,
    /// DINOv2 `interpolate_offset` (used by the offset forms).
    #[serde(default = "default_offset")]
    pub interpolate_offset: f64,
    /// DINOv2 `interpolate_antialias` (the official `_reg` hub models set it): antialiased bicubic.
    #[serde(default)]
    pub interpolate_antialias: bool,
    /// Relative position bias.
    #[serde(default)]
    pub rel_pos_bias: RelPosBias,
    /// Relative-position table resize rule for non-native windows.
    #[serde(default)]
    pub rel_pos_interp: RelPosInterp,
    /// Scale-MAE ground-sample-distance ratio.
    #[serde(default = "default_one")]
    pub gsd_ratio: f64,
    /// Whether the model has a final norm (layer l = block l then this norm).
    #[serde(default = "default_true")]
    pub final_norm: bool,
    /// Whether the model has a CLS token.
    #[serde(default = "default_true")]
    pub cls_token: bool,
}

/// Accept both the enum spelling and the booleans some manifests use.
fn de_qkv_bias<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<QkvBias, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        Bool(bool),
        Kind(QkvBias),
    }
    Ok(match B::deserialize(d)? {
        B::Bool(true) => QkvBias::Full,
        B::Bool(false) => QkvBias::None,
        B::Kind(k) => k,
    })
}

impl VitConfig {
    /// Check internal consistency and fill `mlp_hidden` from `mlp_ratio` when absent.
    pub fn validated(mut self) -> Result<Self> {
        if self.patch_size == 0 || self.embed_dim == 0 || self.depth == 0 || self.num_heads == 0 {
            return Err(VitError::Config(format!(
                "zero-sized dimension in {self:?}"
            )));
        }
        if !self.embed_dim.is_multiple_of(self.num_heads) {
            return Err(VitError::Config(format!(
                "embed_dim {} is not divisible by num_heads {}",
                self.embed_dim, self.num_heads
            )));
        }
        if !self.img_size.is_multiple_of(self.patch_size) {
            return Err(VitError::Config(format!(
                "img_size {} is not a multiple of patch_size {}",
                self.img_size, self.patch_size
            )));
        }
        if self.mlp_hidden == 0 {
            let h = (self.embed_dim as f64 * self.mlp_ratio) as usize;
            self.mlp_hidden = match self.ffn {
                Ffn::Mlp => h,
                // DINOv2 SwiGLUFFNFused: hidden = (int(hidden * 2 / 3) + 7) // 8 * 8
                Ffn::Swiglu => (h * 2 / 3).div_ceil(8) * 8,
            };
        }
        Ok(self)
    }

    /// The stored (native) position grid side, `img_size / patch_size`.
    pub fn native_grid(&self) -> usize {
        self.img_size / self.patch_size
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.embed_dim / self.num_heads
    }

    /// Number of prefix tokens (CLS + registers) before the patch tokens.
    pub fn num_prefix_tokens(&self) -> usize {
        usize::from(self.cls_token) + self.num_register_tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swiglu_hidden_rounding_matches_dinov2_g14() {
        // ViT-g/14: embed 1536, mlp_ratio 4 -> SwiGLUFFNFused hidden 4096 (the official w12 is [8192, 1536]).
        let c = VitConfig {
            patch_size: 14,
            embed_dim: 1536,
            depth: 40,
            num_heads: 24,
            mlp_ratio: 4.0,
            mlp_hidden: 0,
            img_size: 518,
            num_register_tokens: 0,
            ffn: Ffn::Swiglu,
            layer_scale: true,
            qkv_bias: QkvBias::Full,
            ln_eps: 1e-6,
            pos_embed: PosEmbedKind::Learned,
            pos_interp: PosInterp::Dinov2Offset,
            interpolate_offset: 0.1,
            interpolate_antialias: false,
            rel_pos_bias: RelPosBias::None,
            rel_pos_interp: RelPosInterp::None,
            gsd_ratio: 1.0,
            final_norm: true,
            cls_token: true,
        }
        .validated()
        .unwrap();
        assert_eq!(c.mlp_hidden, 4096);
        assert_eq!(c.native_grid(), 37);
    }
}
