//! Which models a `reproduce` run uses and how each is built: zoo checkpoints from the weights root,
//! custom architectures (suite `[model.NAME]` tables), the demo's tiny pretrained checkpoints, and
//! random-weights baselines.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use patchlens_vit::{Device, Family, VitConfig, zoo};

use super::suite::{ModelDef, Suite};
use crate::models::LoadedModel;

/// Where a model's parameters come from (the CLI's shared type).
pub use crate::models::ModelSource as Source;

/// A model ready to be loaded.
#[derive(Clone, Debug)]
pub struct ModelPlan {
    /// Name in results and caches.
    pub name: String,
    /// Key layout / family.
    pub family: Family,
    /// Architecture.
    pub config: VitConfig,
    /// Parameters.
    pub source: Source,
    /// Short description for the report (e.g. "tiny DINO, pretrained by patchlens").
    pub description: String,
}

impl ModelPlan {
    /// True for random weights.
    pub fn is_random(&self) -> bool {
        matches!(self.source, Source::Random { .. })
    }

    /// Load onto `device`.
    pub fn load(&self, device: &Device) -> Result<LoadedModel> {
        crate::models::load_source(
            &self.name,
            self.family,
            self.config.clone(),
            &self.source,
            device,
        )
    }
}

/// The outcome of planning the run's models.
#[derive(Debug, Default)]
pub struct ModelSet {
    /// Models that can run.
    pub models: Vec<ModelPlan>,
    /// One line per model that cannot, saying what is missing and how to get it.
    pub skipped: Vec<String>,
    /// Plain statements for the report (e.g. that the models have random weights).
    pub notes: Vec<String>,
}

/// The checkpoint of zoo model `name` in `root` as `cargo xtask fetch-weights` lays it out:
/// `<root>/<name>.safetensors`, else `<root>/original/<name>.*`, else `<root>/<name>.{pth,pt,bin}`.
pub fn find_weights(root: &Path, name: &str) -> Option<PathBuf> {
    let converted = crate::fetch::converted_path(root, name);
    if converted.is_file() {
        return Some(converted);
    }
    if let Ok(rd) = std::fs::read_dir(root.join("original")) {
        let mut found: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.file_stem().and_then(|s| s.to_str()) == Some(name)
                    && p.extension().and_then(|e| e.to_str()) != Some("part")
            })
            .collect();
        found.sort();
        if let Some(p) = found.into_iter().next() {
            return Some(p);
        }
    }
    ["pth", "pt", "bin"]
        .iter()
        .map(|e| root.join(format!("{name}.{e}")))
        .find(|p| p.is_file())
}

/// `like`'s zoo config with the fields of `over` replaced.
pub fn config_with(base: &VitConfig, over: Option<&toml::Table>) -> Result<VitConfig> {
    let Some(over) = over else {
        return Ok(base.clone());
    };
    let mut t: toml::Table = toml::Table::try_from(base).context("architecture as TOML")?;
    for (k, v) in over {
        t.insert(k.clone(), v.clone());
    }
    let c: VitConfig = toml::Value::Table(t)
        .try_into()
        .context("architecture fields")?;
    Ok(c.validated()?)
}

/// The header metadata (`__metadata__`) of a safetensors file.
pub fn safetensors_metadata(path: &Path) -> Result<HashMap<String, String>> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut n = [0u8; 8];
    f.read_exact(&mut n)
        .with_context(|| format!("{}: not a safetensors file", path.display()))?;
    let n = u64::from_le_bytes(n);
    if n > 100 << 20 {
        bail!("{}: safetensors header of {n} bytes", path.display());
    }
    let mut h = vec![0u8; n as usize];
    f.read_exact(&mut h)
        .with_context(|| format!("{}: truncated safetensors header", path.display()))?;
    let v: serde_json::Value = serde_json::from_slice(&h)
        .with_context(|| format!("{}: safetensors header is not JSON", path.display()))?;
    let mut out = HashMap::new();
    if let Some(m) = v.get("__metadata__").and_then(|m| m.as_object()) {
        for (k, v) in m {
            if let Some(s) = v.as_str() {
                out.insert(k.clone(), s.to_string());
            }
        }
    }
    Ok(out)
}

/// A tiny pretrained checkpoint written by `cargo xtask pretrain` (metadata `patchlens.method`,
/// `patchlens.family`, `patchlens.config`).
#[derive(Clone, Debug)]
pub struct PretrainedCheckpoint {
    /// Objective (`supervised`, `dino`, `mae`, `simmim`).
    pub method: String,
    /// The file.
    pub path: PathBuf,
    /// Family.
    pub family: Family,
    /// Architecture.
    pub config: VitConfig,
}

/// Every `*.safetensors` in `dir` that carries the pretraining metadata, in the study's method order.
pub fn pretrained_checkpoints(dir: &Path) -> Result<Vec<PretrainedCheckpoint>> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    for p in files {
        if p.extension().and_then(|e| e.to_str()) != Some("safetensors") {
            continue;
        }
        let meta = safetensors_metadata(&p)?;
        let (Some(method), Some(family), Some(config)) = (
            meta.get("patchlens.method"),
            meta.get("patchlens.family"),
            meta.get("patchlens.config"),
        ) else {
            continue;
        };
        let config: VitConfig = serde_json::from_str(config)
            .with_context(|| format!("{}: patchlens.config metadata", p.display()))?;
        out.push(PretrainedCheckpoint {
            method: method.clone(),
            path: p.clone(),
            family: Family::parse(family)
                .with_context(|| format!("{}: patchlens.family", p.display()))?,
            config: config.validated()?,
        });
    }
    let rank = |m: &str| {
        ["supervised", "dino", "mae", "simmim"]
            .iter()
            .position(|x| *x == m)
            .unwrap_or(9)
    };
    out.sort_by_key(|c| (rank(&c.method), c.method.clone()));
    out.dedup_by(|a, b| a.method == b.method);
    Ok(out)
}

/// Plan one named model from its definition (or as a zoo name looked up in `weights_root`).
fn plan_one(
    name: &str,
    def: Option<&ModelDef>,
    weights_root: &Path,
    config_dir: &Path,
    seed: u64,
) -> Result<Result<ModelPlan, String>> {
    let empty = ModelDef::default();
    let def = def.unwrap_or(&empty);
    let zoo_entry = zoo::lookup(def.like.as_deref().unwrap_or(name)).ok();
    let family = match (&def.family, zoo_entry) {
        (Some(f), _) => Family::parse(f)?,
        (None, Some(z)) => z.family,
        (None, None) => bail!(
            "model `{name}` is neither a zoo name (`cargo xtask models` lists them) nor defined with `family` and `like`/`config` in the suite"
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
    let shown = def.report_as.clone().unwrap_or_else(|| name.to_string());
    if let Some(s) = def.random_init {
        return Ok(Ok(ModelPlan {
            name: shown,
            family,
            config,
            source: Source::Random { seed: s },
            description: format!(
                "RANDOM weights (seed {s}) of the {} architecture",
                family.name()
            ),
        }));
    }
    let _ = seed;
    let path = match &def.weights {
        Some(w) if w.is_absolute() => Some(w.clone()),
        Some(w) if def.relative_to_config => Some(config_dir.join(w)),
        Some(w) => Some(weights_root.join(w)),
        None => find_weights(weights_root, name),
    };
    match path {
        Some(p) if p.is_file() => Ok(Ok(ModelPlan {
            name: shown,
            family,
            config,
            source: Source::Weights {
                path: p.clone(),
                part: def.part.clone(),
            },
            description: format!("{} checkpoint {}", family.name(), p.display()),
        })),
        Some(p) => Ok(Err(format!(
            "skip model {name}: weights file {} not found (fix [model.{name}] weights, or get the official file with `cargo xtask fetch-weights {name}`)",
            p.display()
        ))),
        None => Ok(Err(format!(
            "skip model {name}: no weights in {} (get them with `cargo xtask fetch-weights {name} --cache-dir {}`, or pass --weights-root DIR holding {name}.safetensors)",
            weights_root.display(),
            weights_root.display()
        ))),
    }
}

/// Plan the run's models: `--models` (or the suite's list, or the demo policy).
pub fn plan(
    suite: &Suite,
    cli_models: Option<&[String]>,
    weights_root: &Path,
    config_dir: &Path,
    repo_root: &Path,
) -> Result<ModelSet> {
    let mut set = ModelSet::default();
    let names: Vec<String> = match cli_models {
        Some(m) => m.to_vec(),
        None => suite.models.clone(),
    };
    if names.is_empty()
        && let Some(demo) = &suite.demo
    {
        let dir = if demo.pretrained_dir.is_absolute() {
            demo.pretrained_dir.clone()
        } else {
            repo_root.join(&demo.pretrained_dir)
        };
        let ckpts = pretrained_checkpoints(&dir)?;
        if !ckpts.is_empty() {
            for c in &ckpts {
                set.models.push(ModelPlan {
                    name: format!("tiny_{}", c.method),
                    family: c.family,
                    config: c.config.clone(),
                    source: Source::Weights { path: c.path.clone(), part: None },
                    description: format!(
                        "tiny ViT (D {}, depth {}, patch {}) pretrained by patchlens with the {} objective on synthetic scenes",
                        c.config.embed_dim, c.config.depth, c.config.patch_size, c.method
                    ),
                });
            }
            let like = ckpts
                .iter()
                .find(|c| c.method == demo.random_baseline_like)
                .unwrap_or(&ckpts[0]);
            set.models.push(ModelPlan {
                name: "tiny_random".into(),
                family: like.family,
                config: like.config.clone(),
                source: Source::Random { seed: suite.seed },
                description: format!(
                    "random-weights baseline: the {} architecture with RANDOM weights (seed {})",
                    like.method, suite.seed
                ),
            });
            set.notes.push(format!(
                "These are TINY models (D {}, depth {}) pretrained by patchlens itself on SYNTHETIC scenes ({}), plus a random-weights baseline; they are not the study's ViT-B checkpoints, and their numbers are not comparable with the paper's.",
                like.config.embed_dim,
                like.config.depth,
                dir.display()
            ));
            missing_methods(&ckpts, &dir, &mut set.notes);
        } else {
            for z in &demo.fallback_models {
                let entry = zoo::lookup(z)?;
                let config = config_with(&entry.config, Some(&demo.fallback_config))?;
                set.models.push(ModelPlan {
                    name: format!("{z}-tiny-random"),
                    family: entry.family,
                    config: config.clone(),
                    source: Source::Random { seed: suite.seed },
                    description: format!(
                        "the {z} architecture shrunk to D {}, depth {} with RANDOM weights (seed {})",
                        config.embed_dim, config.depth, suite.seed
                    ),
                });
            }
            set.notes.push(format!(
                "ALL MODELS HAVE RANDOM WEIGHTS: no tiny pretrained checkpoints were found in {} (they come with the repository once `cargo xtask pretrain` has produced them), so this demo runs the zoo architectures of the study shrunk to a tiny size with random parameters. The numbers exercise the pipeline; they say nothing about what self-supervised pretraining learns.",
                dir.display()
            ));
        }
        return Ok(set);
    }
    if names.is_empty() {
        bail!("no models: give --models a,b or list `models` in the suite");
    }
    for n in &names {
        match plan_one(n, suite.model.get(n), weights_root, config_dir, suite.seed)? {
            Ok(p) => set.models.push(p),
            Err(line) => set.skipped.push(line),
        }
    }
    if set.models.iter().any(|m| m.is_random()) {
        let r: Vec<&str> = set
            .models
            .iter()
            .filter(|m| m.is_random())
            .map(|m| m.name.as_str())
            .collect();
        set.notes
            .push(format!("RANDOM WEIGHTS (baselines): {}", r.join(", ")));
    }
    Ok(set)
}

fn missing_methods(ckpts: &[PretrainedCheckpoint], dir: &Path, notes: &mut Vec<String>) {
    let missing: Vec<&str> = ["supervised", "dino", "mae", "simmim"]
        .into_iter()
        .filter(|m| !ckpts.iter().any(|c| c.method == *m))
        .collect();
    if !missing.is_empty() {
        notes.push(format!(
            "No tiny pretrained checkpoint for: {} (expected in {}; make them with `cargo xtask pretrain --method <m> --preset tiny`).",
            missing.join(", "),
            dir.display()
        ));
    }
}

/// The study's model name (`sup_vit`, `dino`, …) for a zoo name, if it is one of the five ViT-B models.
pub fn paper_model(zoo_name: &str) -> Option<&'static str> {
    crate::eval::segmentation::features::paper_model(zoo_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_layout_is_found() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(find_weights(d.path(), "dino_vitb16"), None);
        std::fs::create_dir_all(d.path().join("original")).unwrap();
        std::fs::write(d.path().join("original/dino_vitb16.pth.part"), b"x").unwrap();
        assert_eq!(
            find_weights(d.path(), "dino_vitb16"),
            None,
            "a partial download is not weights"
        );
        std::fs::write(d.path().join("original/dino_vitb16.pth"), b"x").unwrap();
        assert_eq!(
            find_weights(d.path(), "dino_vitb16"),
            Some(d.path().join("original/dino_vitb16.pth"))
        );
        std::fs::write(d.path().join("dino_vitb16.safetensors"), b"x").unwrap();
        assert_eq!(
            find_weights(d.path(), "dino_vitb16"),
            Some(d.path().join("dino_vitb16.safetensors"))
        );
    }

    #[test]
    fn pretrained_checkpoints_are_read_from_their_metadata() {
        let d = tempfile::tempdir().unwrap();
        let cfg = zoo::lookup("dino_vits16").unwrap().config.clone();
        let data = vec![0u8; 4];
        let view =
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1], &data).unwrap();
        let meta = |m: &str, f: &str| {
            let mut h = HashMap::new();
            h.insert("patchlens.method".to_string(), m.to_string());
            h.insert("patchlens.family".to_string(), f.to_string());
            h.insert(
                "patchlens.config".to_string(),
                serde_json::to_string(&cfg).unwrap(),
            );
            Some(h)
        };
        for (file, m, f) in [
            ("b.safetensors", "mae", "mae"),
            ("a.safetensors", "dino", "dino"),
        ] {
            safetensors::serialize_to_file(
                vec![("x", view.clone())],
                meta(m, f),
                &d.path().join(file),
            )
            .unwrap();
        }
        // Without the metadata a file is not a pretrained demo checkpoint.
        safetensors::serialize_to_file(
            vec![("x", view.clone())],
            None,
            &d.path().join("c.safetensors"),
        )
        .unwrap();
        let got = pretrained_checkpoints(d.path()).unwrap();
        let methods: Vec<&str> = got.iter().map(|c| c.method.as_str()).collect();
        assert_eq!(
            methods,
            ["dino", "mae"],
            "study order: supervised, dino, mae, simmim"
        );
        assert_eq!(got[1].family, Family::Mae);
        assert_eq!(got[0].config, cfg);
        assert!(
            pretrained_checkpoints(&d.path().join("absent"))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn config_override_replaces_fields() {
        let z = zoo::lookup("dino_vitb16").unwrap();
        let mut t = toml::Table::new();
        t.insert("embed_dim".into(), toml::Value::Integer(96));
        t.insert("depth".into(), toml::Value::Integer(4));
        t.insert("num_heads".into(), toml::Value::Integer(3));
        t.insert("mlp_hidden".into(), toml::Value::Integer(0));
        let c = config_with(&z.config, Some(&t)).unwrap();
        assert_eq!(
            (c.embed_dim, c.depth, c.num_heads, c.mlp_hidden),
            (96, 4, 3, 384)
        );
        assert_eq!(c.patch_size, 16, "kept");
    }

    #[test]
    fn missing_weights_skip_with_the_fetch_command() {
        let d = tempfile::tempdir().unwrap();
        let r = plan_one("mae_vitb16", None, d.path(), d.path(), 0).unwrap();
        let line = r.unwrap_err();
        assert!(
            line.contains("cargo xtask fetch-weights mae_vitb16"),
            "{line}"
        );
        assert!(plan_one("not_a_model", None, d.path(), d.path(), 0).is_err());
    }
}
