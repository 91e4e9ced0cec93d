//! Resolving `--model <zoo name> --weights <file>` into a loaded backbone.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use patchlens_vit::{Device, Family, LoadReport, Vit, VitConfig, zoo};
use sha2::{Digest, Sha256};

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

/// Where a backbone's parameters come from.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelSource {
    /// A checkpoint in the family's official key layout.
    Weights {
        /// The file.
        path: PathBuf,
        /// Part of a training checkpoint (teacher / student), if the file holds several.
        part: Option<String>,
    },
    /// Random parameters ([`patchlens_vit::init::init_random`]), seeded (a baseline).
    Random {
        /// Seed of the draw.
        seed: u64,
    },
}

/// Load a model of `family` with architecture `config` from `source`. A random model is identified in
/// caches and results by `weights_sha256 = "random-init-seed<seed>-config<16 hex of the config's sha256>"`.
pub fn load_source(
    name: &str,
    family: Family,
    config: VitConfig,
    source: &ModelSource,
    device: &Device,
) -> Result<LoadedModel> {
    match source {
        ModelSource::Weights { path, part } => {
            let (vit, report) =
                patchlens_vit::load_backbone(path, family, config, part.as_deref(), device)
                    .with_context(|| format!("loading {name} from {}", path.display()))?;
            Ok(LoadedModel {
                name: name.to_string(),
                family,
                vit,
                weights: path.clone(),
                weights_sha256: patchlens_store::sha256_file(path)?,
                report,
            })
        }
        ModelSource::Random { seed } => {
            let digest = Sha256::digest(serde_json::to_string(&config)?.as_bytes());
            let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
            let vit = patchlens_vit::init::init_random(&config, *seed, device);
            Ok(LoadedModel {
                name: name.to_string(),
                family,
                vit,
                weights: PathBuf::new(),
                weights_sha256: format!("random-init-seed{seed}-config{hex}"),
                report: LoadReport::default(),
            })
        }
    }
}

/// Load zoo model `name` (its family and architecture from the zoo) from `source`.
pub fn load_zoo(name: &str, source: &ModelSource, device: &Device) -> Result<LoadedModel> {
    let entry = zoo::lookup(name)?;
    load_source(name, entry.family, entry.config.clone(), source, device)
}

/// Load zoo model `name` from `weights` onto `device`. `part` picks teacher/student in training checkpoints.
pub fn load(
    name: &str,
    weights: &Path,
    part: Option<&str>,
    device: &Device,
) -> Result<LoadedModel> {
    let source = ModelSource::Weights {
        path: weights.to_path_buf(),
        part: part.map(str::to_string),
    };
    load_zoo(name, &source, device)
}

/// Load with an explicit family and config (e.g. a model that is not in the zoo).
pub fn load_custom(
    name: &str,
    family: Family,
    config: VitConfig,
    weights: &Path,
    device: &Device,
) -> Result<LoadedModel> {
    let source = ModelSource::Weights {
        path: weights.to_path_buf(),
        part: None,
    };
    load_source(name, family, config, &source, device)
}
