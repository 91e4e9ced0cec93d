//! Backbones: a zoo name or a model definition, weights or random parameters → a loaded [`Backbone`].
//!
//! A model is named like a zoo model (`cargo xtask models`) or defined in a **model file** (TOML, also the
//! `[model.NAME]` tables of a suite):
//!
//! ```toml
//! [model.my_dinov2]
//! family = "dinov2"                 # checkpoint layout: one of the zoo families
//! like = "dinov2_vits14"            # architecture start (a zoo name); or a full `config` table
//! config = { pos_interp = "dinov2_size", img_size = 518 }   # VitConfig fields replacing `like`'s
//! mean = [0.485, 0.456, 0.406]      # input normalisation (default: the zoo model's, else ImageNet)
//! std = [0.229, 0.224, 0.225]
//! weights = "dinov2_vits14.safetensors"  # relative to the weights root (or the file, see relative_to_config)
//! ```
//!
//! [`ModelRegistry`] resolves a name against its definitions first and the zoo second; the result
//! ([`ModelSpec`]) is everything but the parameters, which come from a [`ModelSource`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use patchlens_report::ModelInfo;
use patchlens_vit::{Device, Family, LoadReport, Vit, VitConfig, zoo};
use serde::{Deserialize, Serialize};

use crate::error::{Context, EvalError, Result, bail};

/// Per-channel input normalisation `(x / 255 − mean) / std` (RGB, 0–1 scale).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputNorm {
    /// Mean per channel.
    pub mean: [f32; 3],
    /// Standard deviation per channel.
    pub std: [f32; 3],
}

impl Default for InputNorm {
    /// ImageNet's (`torchvision` / `timm` defaults).
    fn default() -> Self {
        InputNorm {
            mean: patchlens_image::IMAGENET_MEAN,
            std: patchlens_image::IMAGENET_STD,
        }
    }
}

impl InputNorm {
    /// `u8` RGB image → normalised float image.
    pub fn apply(&self, img: &patchlens_image::ImageU8) -> patchlens_image::ImageF32 {
        patchlens_image::to_f32_normalized(img, self.mean, self.std)
    }
}

/// A backbone ready to encode, with what identifies it in caches and results.
pub struct Backbone {
    /// Name in results and caches (zoo name or model-file name).
    pub name: String,
    /// Checkpoint family.
    pub family: Family,
    /// The network.
    pub vit: Vit,
    /// Weights file (empty for random weights).
    pub weights: PathBuf,
    /// sha256 of the weights file, or `random-init-seed<seed>-config<hex>` for random weights.
    pub weights_sha256: String,
    /// What the loader used / ignored.
    pub report: LoadReport,
    /// Input normalisation.
    pub norm: InputNorm,
    /// The study's name for this model in its published numbers (`sup_vit`, `dino`, …), if any.
    pub paper_model: Option<String>,
}

impl Backbone {
    /// Architecture.
    pub fn config(&self) -> &VitConfig {
        &self.vit.config
    }

    /// The device the parameters live on.
    pub fn device(&self) -> &Device {
        self.vit.device()
    }

    /// The model as recorded in results.
    pub fn info(&self) -> ModelInfo {
        ModelInfo {
            zoo_name: self.name.clone(),
            weights_sha256: Some(self.weights_sha256.clone()),
            family: self.family.name().to_string(),
        }
    }
}

/// Where a backbone's parameters come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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

/// How to build one model: a `[model.NAME]` table of a model file or a suite. Without any field, a zoo
/// name is looked up in the weights root (`<root>/<name>.safetensors` as `cargo xtask fetch-weights`
/// writes it, else `<root>/original/<name>.*`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelDef {
    /// Checkpoint file; relative paths are relative to the weights root (or to the defining file's
    /// folder when `relative_to_config` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<PathBuf>,
    /// Resolve `weights` against the folder of the defining file instead of the weights root.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub relative_to_config: bool,
    /// Family (key layout), when the name is not a zoo name or to override it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// Architecture start: a zoo name whose config is used (default: the model's own name if in the zoo).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub like: Option<String>,
    /// Architecture fields replacing those of `like` (any `VitConfig` field, e.g. `embed_dim = 64`,
    /// `pos_interp = "dinov2_size"`, `img_size = 518`), or the whole architecture without `like`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<toml::Table>,
    /// Input mean (RGB, 0–1); default: the zoo model's, else ImageNet's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<[f32; 3]>,
    /// Input standard deviation (RGB, 0–1); default as `mean`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std: Option<[f32; 3]>,
    /// Random weights with this seed instead of a checkpoint (a baseline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random_init: Option<u64>,
    /// Backbone part of a training checkpoint (teacher / student).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<String>,
    /// Name of the study model this one stands for in the paper's numbers (`sup_vit`, `dino`, `dinov2`,
    /// `mae`, `simmim`); default: the zoo's (the five ViT-B models of the study), none otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paper_model: Option<String>,
    /// Name to report (and to key caches) instead of the definition's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_as: Option<String>,
}

/// A model's identity and architecture, without parameters.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelSpec {
    /// Name in results and caches.
    pub name: String,
    /// Checkpoint family.
    pub family: Family,
    /// Architecture.
    pub config: VitConfig,
    /// Input normalisation.
    pub norm: InputNorm,
    /// The study's name for it in the published numbers.
    pub paper_model: Option<String>,
}

impl ModelSpec {
    /// The zoo model `name` as it is.
    pub fn zoo(name: &str) -> Result<ModelSpec> {
        resolve(name, None)
    }

    /// Load the parameters from `source` onto `device`. A random model is identified in caches and
    /// results by `weights_sha256 = "random-init-seed<seed>-config<16 hex of the config's sha256>"`.
    pub fn load(&self, source: &ModelSource, device: &Device) -> Result<Backbone> {
        let (vit, weights, weights_sha256, report) = match source {
            ModelSource::Weights { path, part } => {
                let (vit, report) = patchlens_vit::load_backbone(
                    path,
                    self.family,
                    self.config.clone(),
                    part.as_deref(),
                    device,
                )
                .with_context(|| format!("loading {} from {}", self.name, path.display()))?;
                let sha = patchlens_store::sha256_file(path)?;
                (vit, path.clone(), sha, report)
            }
            ModelSource::Random { seed } => {
                let vit = patchlens_vit::init::init_random(&self.config, *seed, device);
                (
                    vit,
                    PathBuf::new(),
                    random_label(&self.config, *seed)?,
                    LoadReport::default(),
                )
            }
        };
        Ok(Backbone {
            name: self.name.clone(),
            family: self.family,
            vit,
            weights,
            weights_sha256,
            report,
            norm: self.norm,
            paper_model: self.paper_model.clone(),
        })
    }
}

/// The identity of random weights in caches and results:
/// `random-init-seed<seed>-config<16 hex of the config's sha256>`.
pub fn random_label(config: &VitConfig, seed: u64) -> Result<String> {
    let hex = patchlens_store::sha256_hex(serde_json::to_string(config)?.as_bytes());
    Ok(format!("random-init-seed{seed}-config{}", &hex[..16]))
}

/// `base` with the fields of `over` replaced (validated).
pub fn config_with(base: &VitConfig, over: Option<&toml::Table>) -> Result<VitConfig> {
    let Some(over) = over else {
        return Ok(base.clone());
    };
    let mut t: toml::Table = toml::Table::try_from(base)
        .map_err(|e| EvalError::msg(format!("architecture as TOML: {e}")))?;
    for (k, v) in over {
        t.insert(k.clone(), v.clone());
    }
    let c: VitConfig = toml::Value::Table(t)
        .try_into()
        .context("architecture fields")?;
    Ok(c.validated()?)
}

/// Resolve model `name` from its definition `def` (if any) and the zoo.
pub fn resolve(name: &str, def: Option<&ModelDef>) -> Result<ModelSpec> {
    let empty = ModelDef::default();
    let def = def.unwrap_or(&empty);
    let zoo_entry = zoo::lookup(def.like.as_deref().unwrap_or(name)).ok();
    let family = match (&def.family, zoo_entry) {
        (Some(f), _) => Family::parse(f)?,
        (None, Some(z)) => z.family,
        (None, None) => bail!(
            "{}; or define `{name}` with `family` and `like` or `config` (in a model file or the suite's [model.{name}])",
            zoo::lookup(def.like.as_deref().unwrap_or(name))
                .err()
                .map_or_else(|| format!("unknown model `{name}`"), |e| e.to_string())
        ),
    };
    let config = match (zoo_entry, &def.config) {
        (Some(z), over) => config_with(&z.config, over.as_ref())?,
        (None, Some(t)) => {
            let c: VitConfig = toml::Value::Table(t.clone())
                .try_into()
                .with_context(|| format!("model `{name}`: config"))?;
            c.validated()?
        }
        (None, None) => bail!("model `{name}`: give `like = <zoo name>` or a full `config` table"),
    };
    let zoo_norm = zoo_entry.map(|z| InputNorm {
        mean: z.mean.unwrap_or(patchlens_image::IMAGENET_MEAN),
        std: z.std.unwrap_or(patchlens_image::IMAGENET_STD),
    });
    let base = zoo_norm.unwrap_or_default();
    let norm = InputNorm {
        mean: def.mean.unwrap_or(base.mean),
        std: def.std.unwrap_or(base.std),
    };
    if norm.std.iter().any(|s| !(s.is_finite() && *s > 0.0))
        || norm.mean.iter().any(|m| !m.is_finite())
    {
        return Err(EvalError::invalid(
            format!("model `{name}`"),
            "std",
            format!(
                "must be finite and > 0 (mean must be finite); found mean {:?}, std {:?}",
                norm.mean, norm.std
            ),
        ));
    }
    // The paper's name: the definition's, else the zoo's when the architecture is the zoo model itself.
    let paper_model = def.paper_model.clone().or_else(|| {
        (def.like.is_none() && def.config.is_none())
            .then(|| zoo_entry.and_then(|z| z.paper_model.clone()))
            .flatten()
    });
    Ok(ModelSpec {
        name: def.report_as.clone().unwrap_or_else(|| name.to_string()),
        family,
        config,
        norm,
        paper_model,
    })
}

/// Model definitions by name (from model files and suites), resolved before the zoo.
#[derive(Clone, Debug, Default)]
pub struct ModelRegistry {
    defs: BTreeMap<String, (ModelDef, PathBuf)>,
}

/// A model file: `[model.NAME]` tables, nothing else.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    #[serde(default)]
    model: BTreeMap<String, ModelDef>,
}

impl ModelRegistry {
    /// An empty registry (zoo names only).
    pub fn new() -> Self {
        Self::default()
    }

    /// Add definitions; relative weights resolve against `base_dir` when `relative_to_config` is set.
    /// A later definition of the same name replaces the earlier one.
    pub fn add(&mut self, defs: &BTreeMap<String, ModelDef>, base_dir: &Path) {
        for (name, d) in defs {
            self.defs
                .insert(name.clone(), (d.clone(), base_dir.to_path_buf()));
        }
    }

    /// Add the `[model.NAME]` tables of model file `path`.
    pub fn add_file(&mut self, path: &Path) -> Result<()> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| EvalError::Io {
                path: path.to_path_buf(),
                source: e,
            })
            .context("reading the model file")?;
        let f: ModelFile =
            toml::from_str(&text).with_context(|| format!("model file {}", path.display()))?;
        if f.model.is_empty() {
            bail!(
                "model file {}: no [model.NAME] table (see `patchlens_eval::model` for the format)",
                path.display()
            );
        }
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        for (name, d) in &f.model {
            resolve(name, Some(d)).with_context(|| format!("model file {}", path.display()))?;
        }
        self.add(&f.model, &base);
        Ok(())
    }

    /// The definition of `name`, if any, with the folder its relative weights resolve against.
    pub fn def(&self, name: &str) -> Option<(&ModelDef, &Path)> {
        self.defs.get(name).map(|(d, p)| (d, p.as_path()))
    }

    /// Resolve `name` (definitions first, then the zoo).
    pub fn spec(&self, name: &str) -> Result<ModelSpec> {
        resolve(name, self.def(name).map(|(d, _)| d))
    }

    /// Where the parameters of `name` come from without an explicit weights file: its definition's
    /// random seed or weights file (resolved against `weights_root` or its file's folder), else the
    /// `fetch-weights` layout in `weights_root`. `Err(line)`: the skip line naming what is missing.
    pub fn source(
        &self,
        name: &str,
        weights_root: &Path,
    ) -> std::result::Result<ModelSource, String> {
        let empty = (ModelDef::default(), PathBuf::new());
        let (def, base) = self
            .defs
            .get(name)
            .map(|(d, b)| (d, b.as_path()))
            .unwrap_or((&empty.0, empty.1.as_path()));
        if let Some(seed) = def.random_init {
            return Ok(ModelSource::Random { seed });
        }
        let path = match &def.weights {
            Some(w) if w.is_absolute() => Some(w.clone()),
            Some(w) if def.relative_to_config => Some(base.join(w)),
            Some(w) => Some(weights_root.join(w)),
            None => crate::weights::find_weights(weights_root, name),
        };
        match path {
            Some(p) if p.is_file() => Ok(ModelSource::Weights {
                path: p,
                part: def.part.clone(),
            }),
            Some(p) => Err(format!(
                "skip model {name}: weights file {} not found (fix [model.{name}] weights, or get the official file with `cargo xtask fetch-weights {name}`)",
                p.display()
            )),
            None => Err(format!(
                "skip model {name}: no weights in {} (get them with `cargo xtask fetch-weights {name} --cache-dir {}`, or pass --weights-root DIR holding {name}.safetensors)",
                weights_root.display(),
                weights_root.display()
            )),
        }
    }
}
