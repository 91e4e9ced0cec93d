//! Resolving `--model <zoo name> --weights <file>` into a loaded backbone.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use patchlens_vit::{Device, Family, LoadReport, Vit, VitConfig, zoo};

/// A backbone ready to encode, with what identifies it in caches and results.
pub struct LoadedModel {
    /// Zoo name (or `custom`).
    pub name: String,
    /// Family.
    pub family: Family,
    /// The model.
    pub vit: Vit,
    /// Weights file.
    pub weights: PathBuf,
    /// sha256 of the weights file (cache keys, results).
    pub weights_sha256: String,
    /// What the loader used/ignored.
    pub report: LoadReport,
}

impl LoadedModel {
    /// Architecture.
    pub fn config(&self) -> &VitConfig {
        &self.vit.config
    }
}

/// Load zoo model `name` from `weights` onto `device`. `part` picks teacher/student in training checkpoints.
pub fn load(
    name: &str,
    weights: &Path,
    part: Option<&str>,
    device: &Device,
) -> Result<LoadedModel> {
    let entry = zoo::lookup(name)?;
    let (vit, report) =
        patchlens_vit::load_backbone(weights, entry.family, entry.config.clone(), part, device)
            .with_context(|| format!("loading {name} from {}", weights.display()))?;
    let weights_sha256 = patchlens_store::sha256_file(weights)?;
    Ok(LoadedModel {
        name: name.to_string(),
        family: entry.family,
        vit,
        weights: weights.to_path_buf(),
        weights_sha256,
        report,
    })
}

/// Load with an explicit family and config (e.g. a model that is not in the zoo).
pub fn load_custom(
    name: &str,
    family: Family,
    config: VitConfig,
    weights: &Path,
    device: &Device,
) -> Result<LoadedModel> {
    let (vit, report) = patchlens_vit::load_backbone(weights, family, config, None, device)
        .with_context(|| format!("loading {name} from {}", weights.display()))?;
    let weights_sha256 = patchlens_store::sha256_file(weights)?;
    Ok(LoadedModel {
        name: name.to_string(),
        family,
        vit,
        weights: weights.to_path_buf(),
        weights_sha256,
        report,
    })
}
