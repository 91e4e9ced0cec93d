//! Model and training presets (the one place where architecture sizes and hyper-parameters live).
//!
//! `tiny` is the shipped demo configuration; `micro` is a minute model for unit tests.
//! Hyper-parameters follow the official recipes where a tiny, short CPU run allows it and say so
//! where they differ.

use patchlens_data::synthetic::SyntheticConfig;
use patchlens_vit::config::RelPosInterp;
use patchlens_vit::{Ffn, PosEmbedKind, PosInterp, QkvBias, RelPosBias, VitConfig};
use serde::Serialize;

use crate::error::{Result, invalid};
use crate::method::Method;

/// Optimiser and schedule of one method (AdamW, linear warm-up then cosine decay to `min_lr`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OptimHparams {
    /// Images per step (for DINO: scenes per step, each giving all crops).
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Final learning rate of the cosine schedule.
    pub min_lr: f64,
    /// AdamW decoupled weight decay (applied to every trainable tensor).
    pub weight_decay: f32,
    /// AdamW β₂ (0.95 for the masked-image models as MAE/SimMIM, 0.999 otherwise).
    pub beta2: f32,
    /// Linear warm-up steps.
    pub warmup_steps: usize,
    /// Gradient-norm clipping (DINO clips at 3.0).
    pub grad_clip: Option<f32>,
    /// Default number of steps of `cargo xtask pretrain` for this preset.
    pub steps: usize,
}

/// DINO-specific settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DinoHparams {
    /// Prototypes K of the DINO head (output dimension).
    pub out_dim: usize,
    /// Hidden width of the head MLP.
    pub hidden_dim: usize,
    /// Bottleneck width before the weight-normalised last layer.
    pub bottleneck_dim: usize,
    /// Local crops per image (plus 2 global crops).
    pub local_crops: usize,
    /// Side of a local crop in pixels (global crops use the model's `img_size`).
    pub local_size: usize,
    /// Area fraction range of the scene region all crops of one scene are cut from (each step draws one
    /// region per scene with the random-resized-crop algorithm; `global_scale` and `local_scale` are then
    /// fractions of that region), or `None` for the whole scene. A region keeps the views of one image
    /// overlapping, as DINO's crops of an object-centric ImageNet photo do, while the crops stay small
    /// enough to show objects at the evaluation's pixel scale.
    pub view_region: Option<(f32, f32)>,
    /// Area fraction range of global crops (of the view region, else of the scene).
    pub global_scale: (f32, f32),
    /// Area fraction range of local crops (of the view region, else of the scene).
    pub local_scale: (f32, f32),
    /// Student softmax temperature.
    pub student_temp: f32,
    /// Teacher softmax temperature (sharpening).
    pub teacher_temp: f32,
    /// Momentum of the teacher-output centre.
    pub center_momentum: f32,
    /// Initial EMA momentum of the teacher (cosine schedule to 1).
    pub teacher_momentum: f64,
    /// Fix the norm of the head's last-layer columns to 1 (`true`, DINO's default) or learn per-prototype
    /// gains (`false`, the official ViT-S recipe: logits can outgrow the cosine range, so the teacher
    /// can sharpen outputs that differ little between images).
    pub norm_last_layer: bool,
    /// BatchNorm (batch statistics) after the head's hidden layers (DINO's `--use_bn_in_head`): the
    /// head sees each feature standardised over the batch, so images whose backbone outputs differ
    /// little still get distinct prototype scores. Statistics are taken per forward call — the global
    /// crops together, the local crops together — where DINO's multi-crop wrapper runs its head once
    /// over the outputs of all crops.
    pub use_bn_in_head: bool,
    /// DINO's colour augmentations (jitter, grayscale, solarisation) on every crop; `false` keeps flips
    /// and blur only.
    pub colour_augment: bool,
}

/// MAE-specific settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MaeHparams {
    /// Fraction of patches removed from the encoder input.
    pub mask_ratio: f32,
    /// Decoder width.
    pub decoder_dim: usize,
    /// Decoder blocks.
    pub decoder_depth: usize,
    /// Decoder heads.
    pub decoder_heads: usize,
    /// Normalise each target patch by its own mean and variance (MAE's `norm_pix_loss`).
    pub norm_pix_loss: bool,
    /// Area fraction range of the random resized crop.
    pub crop_scale: (f32, f32),
}

/// SimMIM-specific settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SimmimHparams {
    /// Fraction of mask blocks replaced by the mask token.
    pub mask_ratio: f32,
    /// Side of a mask block in pixels (a multiple of the patch size).
    pub mask_patch_size: usize,
    /// Area fraction range of the random resized crop.
    pub crop_scale: (f32, f32),
}

/// A complete preset: architecture, data and per-method hyper-parameters.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Preset {
    /// Preset name.
    pub name: &'static str,
    /// Model input side in pixels (training resolution and native position grid).
    pub img_size: usize,
    /// Patch size in pixels.
    pub patch_size: usize,
    /// Token width D.
    pub embed_dim: usize,
    /// Transformer blocks.
    pub depth: usize,
    /// Attention heads.
    pub num_heads: usize,
    /// FFN hidden width / D.
    pub mlp_ratio: f64,
    /// The synthetic scenes crops are taken from (training pool: indices `0..train_scenes`).
    pub scenes: SyntheticConfig,
    /// Number of training scenes rendered once into memory.
    pub train_scenes: usize,
    /// Area fraction range of the supervised random resized crop.
    pub supervised_crop_scale: (f32, f32),
    /// Optimiser of the supervised run.
    pub supervised: OptimHparams,
    /// Optimiser of the DINO run.
    pub dino_optim: OptimHparams,
    /// DINO settings.
    pub dino: DinoHparams,
    /// Optimiser of the MAE run.
    pub mae_optim: OptimHparams,
    /// MAE settings.
    pub mae: MaeHparams,
    /// Optimiser of the SimMIM run.
    pub simmim_optim: OptimHparams,
    /// SimMIM settings.
    pub simmim: SimmimHparams,
}

/// Names of the presets.
pub const PRESETS: [&str; 2] = ["tiny", "micro"];

/// Look a preset up by name.
pub fn by_name(name: &str) -> Result<Preset> {
    match name {
        "tiny" => Ok(tiny()),
        "micro" => Ok(micro()),
        other => Err(invalid("preset", other, format!("known: {PRESETS:?}"))),
    }
}

fn optim(
    batch_size: usize,
    lr: f64,
    beta2: f32,
    warmup_steps: usize,
    steps: usize,
) -> OptimHparams {
    OptimHparams {
        batch_size,
        lr,
        min_lr: lr * 0.01,
        weight_decay: 0.05,
        beta2,
        warmup_steps,
        grad_clip: None,
        steps,
    }
}

/// The synthetic scenes of the tiny preset: the benchmark generator itself (`SyntheticConfig::default()`:
/// 224 × 224, 8 classes, 3–8 objects), the same scenes the demo evaluates on.
pub fn tiny_scenes() -> SyntheticConfig {
    SyntheticConfig::default()
}

/// Area fraction range of the tiny preset's training crops of a 224 scene: sides ≈ 39–90 px
/// (`224·√0.03` … `224·√0.16`) resized to the 64-pixel input, so objects and textures reach the model at
/// about the pixel scale of the demo's evaluation tiles (4 × 4 tiles of 56 px resized to 64, see
/// `xtask::reproduce_synthetic::tile_spec`), not 3.5× downscaled as a whole scene at 64 would be.
pub const TINY_CROP_SCALE: (f32, f32) = (0.03, 0.16);

/// DINO's view region in the tiny preset: sides ≈ 71–100 px of the 224 scene (area 0.1–0.2).
pub const TINY_DINO_REGION: (f32, f32) = (0.1, 0.2);

/// DINO's global crops in the tiny preset, as fractions of the view region: sides ≈ 42–100 px resized
/// to 64 (the pixel scale of [`TINY_CROP_SCALE`]).
pub const TINY_DINO_GLOBAL: (f32, f32) = (0.35, 1.0);

/// DINO's 32-pixel local crops in the tiny preset, as fractions of the view region: sides ≈ 20–55 px of
/// the scene (≈ 0.01–0.06 of its area), at about the pixel scale of the global crops.
pub const TINY_DINO_LOCAL: (f32, f32) = (0.08, 0.3);

/// The shipped demo preset: ViT with D = 192, 5 blocks, 3 heads, 8-pixel patches at 64 × 64 (8 × 8
/// tokens), trained on small crops ([`TINY_CROP_SCALE`]) of 224 × 224 synthetic scenes. Five blocks
/// rather than six keep a half-precision checkpoint under 5 MB (2.2 M backbone parameters).
pub fn tiny() -> Preset {
    Preset {
        name: "tiny",
        img_size: 64,
        patch_size: 8,
        embed_dim: 192,
        depth: 5,
        num_heads: 3,
        mlp_ratio: 4.0,
        scenes: tiny_scenes(),
        train_scenes: 2000,
        supervised_crop_scale: TINY_CROP_SCALE,
        supervised: optim(64, 1e-3, 0.999, 30, 1000),
        // 16 scenes × (2 global + 4 local) crops per step, 3000 steps (~31 min on 2 cores), a BatchNorm
        // head and no colour augmentation: the combination whose loss fell and whose patch features beat
        // random weights (fixtures/pretrained/README.md has every attempt and its figures).
        dino_optim: OptimHparams {
            grad_clip: Some(3.0),
            ..optim(16, 5e-4, 0.999, 30, 3000)
        },
        dino: DinoHparams {
            out_dim: 1024,
            hidden_dim: 512,
            bottleneck_dim: 128,
            local_crops: 4,
            local_size: 32,
            view_region: Some(TINY_DINO_REGION),
            global_scale: TINY_DINO_GLOBAL,
            local_scale: TINY_DINO_LOCAL,
            student_temp: 0.1,
            teacher_temp: 0.04,
            center_momentum: 0.9,
            teacher_momentum: 0.99,
            norm_last_layer: true,
            use_bn_in_head: true,
            colour_augment: false,
        },
        mae_optim: optim(64, 1.5e-3, 0.95, 40, 800),
        mae: MaeHparams {
            mask_ratio: 0.75,
            decoder_dim: 128,
            decoder_depth: 2,
            decoder_heads: 4,
            norm_pix_loss: true,
            crop_scale: TINY_CROP_SCALE,
        },
        simmim_optim: optim(64, 1e-3, 0.95, 30, 800),
        simmim: SimmimHparams {
            mask_ratio: 0.6,
            mask_patch_size: 16,
            crop_scale: TINY_CROP_SCALE,
        },
    }
}

/// A minute preset for tests: D = 32, 2 blocks, 2 heads, 8-pixel patches at 32 × 32.
pub fn micro() -> Preset {
    let t = tiny();
    Preset {
        name: "micro",
        img_size: 32,
        embed_dim: 32,
        depth: 2,
        num_heads: 2,
        scenes: SyntheticConfig {
            size: 64,
            radius: [6.0, 14.0],
            ..SyntheticConfig::default()
        },
        train_scenes: 16,
        // Crops of a large part of the 64-pixel scenes (a 32-pixel input has few patches to spare).
        supervised_crop_scale: (0.25, 1.0),
        supervised: optim(8, 1e-3, 0.999, 0, 20),
        dino_optim: OptimHparams {
            grad_clip: Some(3.0),
            ..optim(4, 1e-3, 0.999, 0, 20)
        },
        dino: DinoHparams {
            out_dim: 64,
            hidden_dim: 32,
            bottleneck_dim: 16,
            local_crops: 2,
            local_size: 16,
            // A region of half the scene or more (exercises the region path in the end-to-end test).
            view_region: Some((0.5, 1.0)),
            global_scale: (0.4, 1.0),
            local_scale: (0.05, 0.4),
            ..t.dino
        },
        mae_optim: optim(8, 1e-3, 0.95, 0, 20),
        mae: MaeHparams {
            decoder_dim: 16,
            decoder_depth: 1,
            decoder_heads: 2,
            crop_scale: (0.2, 1.0),
            ..t.mae
        },
        simmim_optim: optim(8, 1e-3, 0.95, 0, 20),
        simmim: SimmimHparams {
            crop_scale: (0.67, 1.0),
            ..t.simmim
        },
        ..t
    }
}

impl Preset {
    /// The optimiser settings of `method`.
    pub fn optim(&self, method: Method) -> &OptimHparams {
        match method {
            Method::Supervised => &self.supervised,
            Method::Dino => &self.dino_optim,
            Method::Mae => &self.mae_optim,
            Method::Simmim => &self.simmim_optim,
        }
    }

    /// Number of image-level classes of the supervised objective (background + the scene classes).
    pub fn num_labels(&self) -> usize {
        usize::from(self.scenes.num_classes) + 1
    }

    /// The backbone architecture `method` trains and exports, in the conventions of its family
    /// (what `patchlens_vit::load_backbone(path, method.family(), config, ..)` must be given):
    ///
    /// * supervised (`sup_timm`): learned positions, timm's antialiased resize;
    /// * DINO (`dino`): learned positions, DINO's `+0.1` offset bicubic resize;
    /// * MAE (`mae`): fixed 2-D sin-cos positions (stored, not trained), size-based bicubic resize;
    /// * SimMIM (`simmim`, the official ViT variant): no absolute position, one shared relative
    ///   position bias table, `q_bias`/`v_bias`, LayerScale (init 0.1).
    pub fn vit_config(&self, method: Method) -> VitConfig {
        let (layer_scale, qkv_bias, pos_embed, pos_interp, rel_pos_bias) = match method {
            Method::Supervised => (
                false,
                QkvBias::Full,
                PosEmbedKind::Learned,
                PosInterp::TimmAntialias,
                RelPosBias::None,
            ),
            Method::Dino => (
                false,
                QkvBias::Full,
                PosEmbedKind::Learned,
                PosInterp::DinoOffset,
                RelPosBias::None,
            ),
            Method::Mae => (
                false,
                QkvBias::Full,
                PosEmbedKind::Learned,
                PosInterp::SizeBicubic,
                RelPosBias::None,
            ),
            Method::Simmim => (
                true,
                QkvBias::Qv,
                PosEmbedKind::None,
                PosInterp::None,
                RelPosBias::Shared,
            ),
        };
        VitConfig {
            patch_size: self.patch_size,
            embed_dim: self.embed_dim,
            depth: self.depth,
            num_heads: self.num_heads,
            mlp_ratio: self.mlp_ratio,
            mlp_hidden: (self.embed_dim as f64 * self.mlp_ratio) as usize,
            img_size: self.img_size,
            num_register_tokens: 0,
            ffn: Ffn::Mlp,
            layer_scale,
            qkv_bias,
            ln_eps: 1e-6,
            pos_embed,
            pos_interp,
            interpolate_offset: 0.1,
            interpolate_antialias: false,
            rel_pos_bias,
            rel_pos_interp: RelPosInterp::Bicubic,
            gsd_ratio: 1.0,
            final_norm: true,
            cls_token: true,
        }
    }

    /// Check the preset's internal consistency.
    pub fn validate(&self) -> Result<()> {
        if !self.img_size.is_multiple_of(self.patch_size) {
            return Err(invalid(
                "img_size",
                self.img_size,
                format!("must be a multiple of the patch size {}", self.patch_size),
            ));
        }
        if !self.simmim.mask_patch_size.is_multiple_of(self.patch_size)
            || !self.img_size.is_multiple_of(self.simmim.mask_patch_size)
        {
            return Err(invalid(
                "simmim.mask_patch_size",
                self.simmim.mask_patch_size,
                "must be a multiple of the patch size and divide the image size",
            ));
        }
        if !self.dino.local_size.is_multiple_of(self.patch_size) {
            return Err(invalid(
                "dino.local_size",
                self.dino.local_size,
                "must be a multiple of the patch size",
            ));
        }
        let d = &self.dino;
        for (key, (lo, hi)) in [
            ("supervised_crop_scale", self.supervised_crop_scale),
            ("dino.global_scale", d.global_scale),
            ("dino.local_scale", d.local_scale),
            ("dino.view_region", d.view_region.unwrap_or((1.0, 1.0))),
            ("mae.crop_scale", self.mae.crop_scale),
            ("simmim.crop_scale", self.simmim.crop_scale),
        ] {
            if !(lo > 0.0 && lo <= hi && hi <= 1.0) {
                return Err(invalid(
                    key,
                    format!("({lo}, {hi})"),
                    "need 0 < lo <= hi <= 1 (area fractions)",
                ));
            }
        }
        if self.train_scenes == 0 {
            return Err(invalid("train_scenes", 0, "must be positive"));
        }
        self.scenes.validate()?;
        for m in Method::ALL {
            self.vit_config(m).validated()?;
            if self.optim(m).batch_size == 0 {
                return Err(invalid("batch_size", 0, "must be positive"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_tiny_matches_its_documented_size() {
        for name in PRESETS {
            by_name(name).unwrap().validate().unwrap();
        }
        let t = tiny();
        let c = t.vit_config(Method::Dino).validated().unwrap();
        assert_eq!(
            (c.embed_dim, c.depth, c.num_heads, c.patch_size),
            (192, 5, 3, 8)
        );
        assert_eq!(c.native_grid(), 8);
        assert_eq!(c.mlp_hidden, 768);
        // Training scenes are the 224 benchmark scenes; crop sides of 224·√0.03 ≈ 38.8 to
        // 224·√0.16 = 89.6 pixels bracket the 56-pixel evaluation tiles.
        assert_eq!(t.scenes, SyntheticConfig::default());
        let side = |a: f32| 224.0 * a.sqrt();
        assert!((side(t.supervised_crop_scale.0) - 38.8).abs() < 0.1);
        assert!((side(t.supervised_crop_scale.1) - 89.6).abs() < 0.1);
        assert!(side(t.mae.crop_scale.0) < 56.0 && side(t.mae.crop_scale.1) > 56.0);
        // DINO: regions of 224·√0.1 ≈ 70.8 to 224·√0.2 ≈ 100.2 px; globals of at least √0.35 of it.
        let r = t.dino.view_region.unwrap();
        assert!((side(r.0) - 70.8).abs() < 0.1 && (side(r.1) - 100.2).abs() < 0.1);
        assert!((side(r.0 * t.dino.global_scale.0) - 41.9).abs() < 0.1);
        let mut bad = tiny();
        bad.dino.view_region = Some((0.2, 0.1));
        assert!(bad.validate().is_err());
        bad.dino.view_region = None;
        bad.mae.crop_scale = (0.0, 0.5);
        assert!(bad.validate().is_err());
        assert!(by_name("huge").is_err());
    }
}
