//! patchlens-pretrain: tiny ViTs pretrained by patchlens itself with the study's four objectives —
//! supervised classification, DINO, MAE and SimMIM — on the synthetic benchmark, with burn autodiff on
//! any device, exported with the **official key names** of each family so the normal loaders
//! (`patchlens_vit::load_backbone`) read them.
//!
//! * [`pretrain`] (`PretrainOptions` → `PretrainReport`): train one method under a [`presets`] entry,
//!   write a `.safetensors` checkpoint and a JSON-lines loss log.
//! * [`objectives`]: the four objectives' modules, mask samplers and losses.
//! * [`encoder`]: the differentiable ViT forward (same maths as `patchlens_vit::Vit`, checked by test).
//! * [`export`]: official key names per family.
//! * [`eval`]: a quick representation check (1-NN patch classification on held-out scenes).
//! * [`tensor`]: reading tensors back to the host.

pub mod data;
pub mod encoder;
pub mod error;
pub mod eval;
pub mod export;
pub mod init;
pub mod method;
pub mod objectives;
pub mod presets;
pub mod tensor;
pub mod train;

pub use error::{PretrainError, Result};
pub use export::ExportDtype;
pub use method::Method;
pub use train::{
    LogRecord, PretrainOptions, PretrainReport, load_pretrained, pretrain, random_backbone,
};
