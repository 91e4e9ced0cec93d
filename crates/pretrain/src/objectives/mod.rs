//! The four pretraining objectives: their extra modules (heads, decoders, mask tokens), their mask
//! samplers and their losses, each usable on its own.

pub mod dino;
pub mod mae;
pub mod simmim;
pub mod supervised;
