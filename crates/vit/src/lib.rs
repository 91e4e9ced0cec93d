//! patchlens-vit: Vision Transformer backbones of every family in the study (DINO, DINOv2 (+registers,
//! SwiGLU), MAE, SimMIM, supervised torchvision/timm ViT, iBOT, Scale-MAE, BEiT, I-JEPA), loaded from their
//! official checkpoints with strict key/shape/dtype checks, with tokens equal to the reference
//! implementations.
//!
//! One forward API for all families: `[B, 3, H, W]` → patch tokens `[B, rows·cols, D]` for any set of
//! layers in one pass, where layer l = block l followed by the model's final norm (the study's
//! definition), plus CLS and register tokens where the model has them.

pub mod backend;
pub mod checkpoint;
pub mod config;
mod cpu;
pub mod error;
mod forward;
pub mod init;
pub mod load;
pub mod mae;
pub mod model;
pub mod posembed;
pub mod zoo;

use std::path::Path;

pub use backend::{Backend, BackendKind, Precision};
pub use burn::tensor::{Device, Tensor, TensorData};
pub use config::{Family, Ffn, PosEmbedKind, PosInterp, QkvBias, RelPosBias, VitConfig};
pub use error::{Result, VitError};
pub use load::LoadReport;
pub use model::{ForwardOutput, ForwardPath, LayerTokens, Vit};

/// Load a backbone of `family` with architecture `config` from `path` (`.pth` or `.safetensors`).
///
/// `part` selects one backbone of a training checkpoint (`"teacher"`, `"student"`, I-JEPA's `"encoder"`); by
/// default the family's preferred part (I-JEPA: `target_encoder`), else the teacher.
/// Returns the model and a report of what was loaded and ignored.
pub fn load_backbone(
    path: &Path,
    family: Family,
    config: VitConfig,
    part: Option<&str>,
    device: &Device,
) -> Result<(Vit, LoadReport)> {
    let config = config.validated()?;
    let ckpt = checkpoint::Checkpoint::open(path)?;
    let mapped = load::MappedCheckpoint::new(ckpt, family, &config, part)?;
    let mut report = mapped.report.clone();
    report.loaded = mapped.map.len();
    let vit = Vit::from_mapped(config, &mapped, device)?;
    Ok((vit, report))
}
