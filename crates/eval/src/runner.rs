//! Running a planned suite: one unit (experiment × model) at a time, each recorded atomically in
//! `<out>/units/<unit id>.json`; a merge builds `results.json`, `results.csv`, `report.md`, `report.html`
//! and `plots/*.svg` from those records alone (no model loaded, no checkpoint hashed).
//!
//! * [`run_unit`] runs one unit with a loaded model and returns its [`UnitRecord`]; [`save_record`]
//!   writes it atomically (temp file + rename), so many processes can run units against one output
//!   folder at once: a record is either absent or whole, and two runs of the same unit write the same
//!   record.
//! * [`run_all`] is the single-process `reproduce`: models outer (one model in memory at a time), units
//!   inner, records reused unless `fresh`, a report after every model.
//! * [`merge`] reads the plan's records in plan order and lists the units without one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use patchlens_data::synthetic::transforms::TransformBenchConfig;
use patchlens_report::{Experiment, Report, Results, RunInfo, StageTiming};
use patchlens_store::FeatureStore;
use patchlens_vit::{Device, Precision};
use serde::{Deserialize, Serialize};

use crate::degradation::{self, DegradationConfig};
use crate::encode::{ModelTokens, TokenSource};
use crate::error::{Context, EvalError, Result, bail};
use crate::findings::{self, Finding};
use crate::identification::{self, IdDataset, IdentificationConfig};
use crate::layers::LayerSel;
use crate::model::Backbone;
use crate::plan::{Plan, PlannedModel, PlannedUnit, data_dir};
use crate::propagation::{self, DavisDataset, PropagationEvalConfig};
use crate::reconstruction::{self, MaeModel, ReconstructionConfig};
use crate::segmentation::{
    self, Bootstrap, LinearSettings, ProbeKind, SegSource, SegmentationConfig,
};
use crate::suite::{
    ExperimentDef, ExperimentSpec, IdDatasetName, PropDatasetName, SegDataset, Suite,
    TrackDatasetName,
};
use crate::tracking::{self, TrackingConfig, TrackingDataset};
use crate::variance::{self, VarianceConfig};

/// One finished unit, as recorded in `<out>/units/<id>.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct UnitRecord {
    /// Unit id.
    pub id: String,
    /// Experiment id.
    pub experiment: String,
    /// Model name.
    pub model: String,
    /// Experiments produced.
    pub experiments: Vec<Experiment>,
    /// One line per experiment result (headline figures).
    pub lines: Vec<String>,
    /// Skip lines raised inside the unit.
    pub skipped: Vec<String>,
    /// Seconds.
    pub seconds: f64,
    /// Where it ran: host, backend, device, threads.
    pub ran_on: serde_json::Value,
}

/// The record file of unit `id` under `out`.
pub fn record_path(out: &Path, id: &str) -> PathBuf {
    out.join("units").join(format!("{id}.json"))
}

/// Write a record atomically.
pub fn save_record(out: &Path, r: &UnitRecord) -> Result<()> {
    patchlens_store::write_atomic(
        &record_path(out, &r.id),
        serde_json::to_string(r)?.as_bytes(),
    )?;
    Ok(())
}

/// The record of unit `id`, if it exists and reads (a half-written file cannot exist: writes are atomic).
pub fn load_record(out: &Path, id: &str) -> Result<Option<UnitRecord>> {
    let p = record_path(out, id);
    match std::fs::read_to_string(&p) {
        Ok(text) => Ok(Some(
            serde_json::from_str(&text).with_context(|| format!("reading {}", p.display()))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(EvalError::Io { path: p, source: e }),
    }
}

/// What running units needs besides the plan.
pub struct RunContext<'a> {
    /// The plan.
    pub plan: &'a Plan,
    /// The plan's suite.
    pub suite: Suite,
    /// Output folder (records, maps, synthetic data, report).
    pub out: PathBuf,
    /// Dataset root on this machine.
    pub data_root: PathBuf,
    /// Feature cache.
    pub store: FeatureStore,
    /// Tiles per forward pass.
    pub device_batch: usize,
    /// Where this process runs (recorded with every unit).
    pub ran_on: serde_json::Value,
    /// Precision of the backbones' forward passes (default f32; set it after [`RunContext::new`]).
    pub precision: Precision,
}

impl<'a> RunContext<'a> {
    /// A context for `plan` writing into `out`, with the feature cache `cache` (default `<out>/cache`).
    pub fn new(
        plan: &'a Plan,
        out: &Path,
        data_root: &Path,
        cache: Option<&Path>,
        device_batch: Option<usize>,
        ran_on: serde_json::Value,
    ) -> Result<Self> {
        let suite = plan.suite()?;
        let cache = cache
            .map(Path::to_path_buf)
            .unwrap_or_else(|| out.join("cache"));
        let store = FeatureStore::open(&cache)
            .with_context(|| format!("opening feature cache {}", cache.display()))?;
        Ok(Self {
            device_batch: device_batch.unwrap_or(suite.device_batch).max(1),
            suite,
            plan,
            out: out.to_path_buf(),
            data_root: data_root.to_path_buf(),
            store,
            ran_on,
            precision: Precision::F32,
        })
    }

    fn bootstrap(&self, def: &ExperimentDef) -> Bootstrap {
        Bootstrap {
            resamples: def
                .common
                .bootstrap_resamples
                .unwrap_or(self.suite.bootstrap_resamples),
            seed: self.suite.seed,
        }
    }

    fn linear(&self, epochs: Option<usize>) -> LinearSettings {
        let mut l = LinearSettings {
            seed: self.suite.seed,
            ..LinearSettings::default()
        };
        if let Some(e) = epochs {
            l.epochs = e;
        }
        l
    }

    fn knn(&self, k: Option<usize>) -> patchlens_probe::knn::KnnConfig {
        let mut c = patchlens_probe::knn::KnnConfig::default();
        c.search.k = k.unwrap_or(1);
        c
    }

    fn seg_source(
        &self,
        dataset: SegDataset,
        root: &Path,
        protocol: &Option<patchlens_data::folder::FolderProtocol>,
    ) -> Result<SegSource> {
        Ok(match dataset {
            SegDataset::Synthetic => SegSource::Synthetic {
                root: root.join("synthetic-seg"),
                seed: self.suite.seed,
            },
            SegDataset::Folder => SegSource::Folder {
                root: root.to_path_buf(),
                protocol: protocol.clone().unwrap_or_default(),
            },
            d => SegSource::named(d.name(), root)?,
        })
    }
}

/// Events of a run, for the caller to print or log.
#[derive(Debug)]
pub enum Event<'a> {
    /// A model is loaded.
    ModelStart {
        /// 1-based index.
        index: usize,
        /// Number of models.
        total: usize,
        /// The model.
        model: &'a PlannedModel,
    },
    /// A model could not be loaded: the skip line.
    ModelSkipped(&'a str),
    /// A unit starts (or is found done).
    UnitStart {
        /// Model index (1-based), number of models.
        model: (usize, usize),
        /// Unit index within the model (1-based), number of its units.
        unit: (usize, usize),
        /// The unit.
        planned: &'a PlannedUnit,
    },
    /// A unit is done: its record, and whether it was found from an earlier run.
    UnitDone {
        /// The record.
        record: &'a UnitRecord,
        /// Found, not computed.
        cached: bool,
    },
    /// A unit failed: the skip line.
    UnitFailed(&'a str),
}

/// The token source of `model` for this run: batched on its device, through the feature cache when the
/// suite keeps one.
pub fn model_tokens<'m>(ctx: &'m RunContext<'_>, model: &'m Backbone) -> ModelTokens<'m> {
    let store = ctx.suite.feature_cache.then_some(&ctx.store);
    ModelTokens::new(model, store, ctx.device_batch)
}

/// Memory for the in-process reuse of a model's tokens across its units.
pub const MEMO_BUDGET_BYTES: usize = 2 << 30;

/// The unit's MAE with its decoder (see [`crate::suite::ReconstructionSpec`]).
fn reconstruction_model(
    ctx: &RunContext<'_>,
    unit: &PlannedUnit,
    s: &crate::suite::ReconstructionSpec,
    device: &Device,
) -> Result<MaeModel> {
    let planned = ctx.plan.model(&unit.model)?;
    let (encoder, decoder) = reconstruction::resolve_files(
        &unit.model,
        &planned.source,
        s.checkpoint.get(&unit.model).map(PathBuf::as_path),
        &ctx.plan.weights_root,
    )
    .map_err(EvalError::Msg)?;
    MaeModel::load(
        &unit.model,
        planned.config.clone(),
        planned.norm,
        &encoder,
        Some(&decoder),
        s.decoder.clone(),
        device,
    )
}

/// Run one unit with `tokens` (the unit's model). Errors inside the experiment are errors; the caller
/// decides whether to skip.
pub fn run_unit(
    ctx: &RunContext<'_>,
    unit: &PlannedUnit,
    tokens: &dyn TokenSource,
) -> Result<UnitRecord> {
    let t0 = Instant::now();
    let def = ctx
        .suite
        .experiments
        .get(&unit.experiment)
        .with_context(|| {
            format!(
                "unit {}: no experiment `{}` in the suite",
                unit.id, unit.experiment
            )
        })?;
    let root = data_dir(
        &ctx.suite,
        &ctx.data_root,
        &ctx.out,
        &unit.experiment,
        def.spec.dataset(),
    )
    .map_err(EvalError::Msg)?;
    let layers: Vec<LayerSel> = unit.layers.iter().map(|&l| LayerSel::Index(l)).collect();
    let id = &unit.experiment;
    let mut experiments = Vec::new();
    let mut lines = Vec::new();
    match &def.spec {
        ExperimentSpec::Segmentation(s) | ExperimentSpec::LayerSweep(s) => {
            let cfg = SegmentationConfig {
                source: ctx.seg_source(s.dataset, &root, &s.protocol)?,
                probes: if s.probes.is_empty() {
                    vec![ProbeKind::Knn]
                } else {
                    s.probes.clone()
                },
                train_splits: s.train_splits.clone(),
                test_split: s.test_split.clone(),
                layers,
                knn: ctx.knn(s.k),
                linear: ctx.linear(s.linear_epochs),
                remove_top_variance: 0,
                normalize: segmentation::Normalize::None,
                bootstrap: ctx.bootstrap(def),
                id: Some(id.clone()),
                maps_dir: Some(ctx.out.join("maps")),
            };
            let r = segmentation::run(&cfg, tokens)?;
            lines.extend(r.summary_lines());
            experiments.extend(r.experiments());
        }
        ExperimentSpec::Degradation(s) => {
            let mut cfg = DegradationConfig::new(ctx.seg_source(s.dataset, &root, &s.protocol)?);
            if !s.probes.is_empty() {
                cfg.probes = s.probes.clone();
            }
            cfg.train_split = s.train_split.clone();
            cfg.test_split = s.test_split.clone();
            cfg.layers = layers;
            if !s.kinds.is_empty() {
                cfg.kinds = s.kinds.clone();
            }
            if !s.levels.is_empty() {
                cfg.levels = s.levels.clone();
            }
            cfg.seed = ctx.suite.seed;
            cfg.knn = ctx.knn(s.k);
            cfg.linear = ctx.linear(s.linear_epochs);
            cfg.bootstrap = ctx.bootstrap(def);
            cfg.id = Some(id.clone());
            let r = degradation::run(&cfg, tokens)?;
            lines.extend(r.summary_lines());
            experiments.extend(r.experiments());
        }
        ExperimentSpec::Variance(s) => {
            let mut cfg = VarianceConfig::new(ctx.seg_source(s.dataset, &root, &s.protocol)?);
            cfg.train_split = s.train_split.clone();
            cfg.test_split = s.test_split.clone();
            cfg.layers = layers;
            cfg.knn = ctx.knn(s.k);
            if !s.sweep.is_empty() {
                cfg.sweep = s.sweep.clone();
            }
            if !s.alternatives.is_empty() {
                cfg.alternatives = s.alternatives.clone();
            }
            if s.spectrum_only {
                cfg.sweep.clear();
                cfg.alternatives.clear();
            }
            if !s.pca_k.is_empty() {
                cfg.pca_ks = Some(s.pca_k.clone());
            }
            cfg.linear = ctx.linear(s.linear_epochs);
            cfg.retrain_linear = s.linear;
            cfg.bootstrap = ctx.bootstrap(def);
            let r = variance::run(&cfg, tokens)?;
            lines.extend(r.summary_lines());
            experiments.extend(r.experiments());
        }
        ExperimentSpec::Identification(s) => {
            let dataset = match s.dataset {
                IdDatasetName::Fair1m => IdDataset::Fair1m {
                    root: root.clone(),
                    per_class: s
                        .per_class
                        .unwrap_or(patchlens_data::fair1m::TILES_PER_CLASS),
                    selection_seed: patchlens_data::fair1m::DEFAULT_SEED,
                },
                IdDatasetName::Synthetic => {
                    let mut bench = TransformBenchConfig::default();
                    bench.scene.seed = ctx.suite.seed;
                    IdDataset::Synthetic {
                        bench,
                        scenes: s.scenes.unwrap_or(32),
                    }
                }
            };
            let kinds = if s.kinds.is_empty() {
                "all".to_string()
            } else {
                s.kinds.join(",")
            };
            let levels = if s.levels.is_empty() {
                vec![1, 2, 3, 4]
            } else {
                s.levels.clone()
            };
            let mut cfg = IdentificationConfig::new(dataset);
            cfg.transforms = identification::parse_transforms(&kinds, &levels)?;
            cfg.exclude_same_tile = s.retrieval;
            let removals: Vec<usize> = std::iter::once(0)
                .chain(s.remove_top_variance.get(&unit.model).copied())
                .collect();
            for &layer in &unit.layers {
                for &n in &removals {
                    let mut c = cfg.clone();
                    c.layer = Some(layer);
                    c.remove_top_variance = n;
                    let r = identification::run(&c, tokens)?;
                    lines.push(r.summary_line());
                    experiments.push(r.experiment());
                }
            }
        }
        ExperimentSpec::Tracking(s) => {
            let modes = if s.modes.is_empty() {
                vec![patchlens_track::EncodingMode::Tiled]
            } else {
                s.modes.clone()
            };
            for &layer in &unit.layers {
                for &mode in &modes {
                    let cfg = TrackingConfig {
                        dataset: match s.dataset {
                            TrackDatasetName::Bdd100k => TrackingDataset::Bdd100k,
                            TrackDatasetName::Synthetic => TrackingDataset::Synthetic,
                        },
                        data_root: (s.dataset == TrackDatasetName::Bdd100k).then(|| root.clone()),
                        split: s.split.clone().unwrap_or_else(|| "val".into()),
                        layer: Some(layer),
                        mode,
                        videos: Vec::new(),
                        num_videos: s.num_videos.unwrap_or(4),
                        frames: s.frames,
                        seed: ctx.suite.seed,
                        video_preset: s.video_preset.unwrap_or_default(),
                        deltas: s.deltas.clone(),
                        similarity: patchlens_track::Similarity::Dot,
                    };
                    let r = tracking::run(&cfg, tokens)?;
                    lines.push(r.summary_line());
                    experiments.push(r.experiment());
                }
            }
        }
        ExperimentSpec::Reconstruction(s) => {
            let mut cfg =
                ReconstructionConfig::new(ctx.seg_source(s.dataset, &root, &s.protocol)?);
            cfg.stats_split = s.stats_split.clone();
            cfg.split = s.split.clone();
            if let Some(t) = s.tiles {
                cfg.tiles = t;
            }
            if !s.sweep.is_empty() {
                cfg.sweep = s.sweep.clone();
            }
            if !s.modes.is_empty() {
                cfg.modes = s.modes.clone();
            }
            if let Some(r) = s.mask_ratio {
                cfg.mask_ratio = r;
            }
            if let Some(t) = s.figure_tiles {
                cfg.figure_tiles = t;
            }
            cfg.figure_n = s.figure_n;
            cfg.seed = ctx.suite.seed;
            cfg.batch = ctx.device_batch;
            cfg.id = Some(id.clone());
            cfg.images_dir = Some(ctx.out.join("maps"));
            let model = reconstruction_model(ctx, unit, s, &tokens.device())?;
            // The unit's own weights: the statistics come through its token source (and cache).
            let own = matches!(&ctx.plan.model(&unit.model)?.source,
                crate::model::ModelSource::Weights { path, .. } if *path == model.encoder_path);
            let r = reconstruction::run(&cfg, &model, own.then_some(tokens))?;
            lines.extend(r.summary_lines());
            experiments.extend(r.experiments());
        }
        ExperimentSpec::Propagation(s) => {
            let (dataset, data_root, split) = match s.dataset {
                PropDatasetName::Davis2016 => {
                    (DavisDataset::Davis2016, root.clone(), s.split.clone())
                }
                PropDatasetName::Davis2017 => {
                    (DavisDataset::Davis2017, root.clone(), s.split.clone())
                }
                PropDatasetName::Synthetic => (
                    DavisDataset::Davis2017,
                    segmentation::synthetic::write_davis_tree(
                        &root,
                        s.num_videos.unwrap_or(2),
                        s.frames.unwrap_or(12),
                        ctx.suite.seed,
                        s.video_preset.unwrap_or_default(),
                    )?,
                    Some("val".to_string()),
                ),
            };
            for &layer in &unit.layers {
                let mut cfg = PropagationEvalConfig::new(dataset, data_root.clone());
                cfg.split = split.clone();
                cfg.max_frames = s.frames;
                cfg.layer = Some(layer);
                cfg.scale_size = s
                    .scale_size
                    .unwrap_or(patchlens_track::protocol::davis::SCALE_SIZE);
                let r = propagation::run(&cfg, tokens)?;
                lines.push(r.summary_line());
                let mut e = r.experiment();
                if s.dataset == PropDatasetName::Synthetic {
                    e.name = format!("synthetic/propagation/{}/layer{layer}", tokens.name());
                    e.protocol.insert(
                        "synthetic_videos".into(),
                        serde_json::json!({"videos": s.num_videos.unwrap_or(2), "frames": s.frames.unwrap_or(12), "seed": ctx.suite.seed,
                            "layout": "DAVIS 2017 tree written by reproduce (track ids as object ids)"}),
                    );
                }
                experiments.push(e);
            }
        }
    }
    // Sample maps are written into `<out>/maps/`; the report resolves image paths against `<out>`.
    for e in &mut experiments {
        for img in &mut e.images {
            if let patchlens_report::ImageSource::File { path } = &mut img.source
                && Path::new(path.as_str()).is_relative()
                && !path.starts_with("maps/")
            {
                *path = format!("maps/{path}");
            }
        }
    }
    Ok(UnitRecord {
        id: unit.id.clone(),
        experiment: unit.experiment.clone(),
        model: unit.model.clone(),
        experiments,
        lines,
        skipped: Vec::new(),
        seconds: t0.elapsed().as_secs_f64(),
        ran_on: ctx.ran_on.clone(),
    })
}

/// Load a planned model onto `device` in `precision` (its weights hash checked against the plan's). When
/// the plan's weights file is not there (another machine mounts the weights elsewhere), the file of the
/// same name is looked up in `weights_root`.
pub fn load_model(
    m: &PlannedModel,
    device: &Device,
    precision: Precision,
    weights_root: Option<&Path>,
) -> Result<Backbone> {
    let mut source = m.source.clone();
    if let (crate::model::ModelSource::Weights { path, .. }, Some(root)) =
        (&mut source, weights_root)
        && !path.is_file()
    {
        let by_name = path.file_name().map(|f| root.join(f));
        match by_name
            .filter(|p| p.is_file())
            .or_else(|| crate::weights::find_weights(root, &m.name))
        {
            Some(p) => *path = p,
            None => bail!(
                "model {}: weights {} not found, nor under {}",
                m.name,
                path.display(),
                root.display()
            ),
        }
    }
    let mut b = m.spec().load(&source, device)?;
    b.vit
        .set_precision(precision)
        .with_context(|| format!("model {}", m.name))?;
    if b.weights_sha256 != m.weights_sha256 {
        bail!(
            "model {}: the weights changed since the plan was made (sha256 {} now, {} in the plan); plan again",
            m.name,
            b.weights_sha256,
            m.weights_sha256
        );
    }
    Ok(b)
}

/// Run unit `unit` unless its record exists: load its model, run, save the record. Returns the record
/// and whether it was found.
pub fn run_one(
    ctx: &RunContext<'_>,
    unit: &PlannedUnit,
    device: &Device,
    weights_root: Option<&Path>,
) -> Result<(UnitRecord, bool)> {
    if let Some(r) = load_record(&ctx.out, &unit.id)? {
        return Ok((r, true));
    }
    let model = load_model(
        ctx.plan.model(&unit.model)?,
        device,
        ctx.precision,
        weights_root,
    )?;
    let r = run_unit(ctx, unit, &model_tokens(ctx, &model))
        .with_context(|| format!("unit {}", unit.id))?;
    save_record(&ctx.out, &r)?;
    Ok((r, false))
}

/// The single-process run: every unit of the plan, models outer; a unit whose record exists is reused
/// unless `fresh`; a unit that fails becomes a skip line (recorded, so a re-run retries it: the record
/// of a failed unit is not saved). After every model `after_model` runs (e.g. to write a partial report).
pub fn run_all(
    ctx: &RunContext<'_>,
    device: &Device,
    fresh: bool,
    on: &mut dyn FnMut(Event<'_>),
    after_model: &mut dyn FnMut() -> Result<()>,
) -> Result<()> {
    let plan = ctx.plan;
    let n_models = plan.models.len();
    for (mi, m) in plan.models.iter().enumerate() {
        let units: Vec<&PlannedUnit> = plan.units.iter().filter(|u| u.model == m.name).collect();
        on(Event::ModelStart {
            index: mi + 1,
            total: n_models,
            model: m,
        });
        let todo: Vec<&PlannedUnit> = units
            .iter()
            .copied()
            .filter(|u| fresh || !record_path(&ctx.out, &u.id).is_file())
            .collect();
        let model = if todo.is_empty() {
            None
        } else {
            match load_model(m, device, ctx.precision, None) {
                Ok(b) => Some(b),
                Err(e) => {
                    let line = format!(
                        "skip model {}: cannot load it: {}",
                        m.name,
                        crate::error::chain(&e)
                    );
                    on(Event::ModelSkipped(&line));
                    continue;
                }
            }
        };
        let tokens = model.as_ref().map(|b| model_tokens(ctx, b));
        let memo = tokens
            .as_ref()
            .map(|t| crate::encode::Memo::new(t, MEMO_BUDGET_BYTES));
        for (ui, u) in units.iter().enumerate() {
            on(Event::UnitStart {
                model: (mi + 1, n_models),
                unit: (ui + 1, units.len()),
                planned: u,
            });
            let found = if fresh {
                None
            } else {
                load_record(&ctx.out, &u.id)?
            };
            if let Some(r) = found {
                on(Event::UnitDone {
                    record: &r,
                    cached: true,
                });
                continue;
            }
            let memo = memo.as_ref().context("model loaded for the units to do")?;
            match run_unit(ctx, u, memo) {
                Ok(r) => {
                    save_record(&ctx.out, &r)?;
                    on(Event::UnitDone {
                        record: &r,
                        cached: false,
                    });
                }
                Err(e) => {
                    let line = format!(
                        "skip {} for {}: {}",
                        u.experiment,
                        u.model,
                        crate::error::chain(&e)
                    );
                    on(Event::UnitFailed(&line));
                }
            }
        }
        after_model()?;
    }
    Ok(())
}

/// The records of a plan, merged.
#[derive(Clone, Debug, Default)]
pub struct Merged {
    /// Experiments, in plan order (first of each name).
    pub experiments: Vec<Experiment>,
    /// Records found, in plan order.
    pub records: Vec<UnitRecord>,
    /// Units without a record.
    pub missing: Vec<PlannedUnit>,
    /// Skip lines (the plan's and the units').
    pub skipped: Vec<String>,
}

/// Read every record of `plan` under `out`.
pub fn merge(plan: &Plan, out: &Path) -> Result<Merged> {
    let mut m = Merged {
        skipped: plan.skipped.clone(),
        ..Merged::default()
    };
    let mut names = BTreeSet::new();
    for u in &plan.units {
        match load_record(out, &u.id)? {
            Some(r) => {
                for e in &r.experiments {
                    if names.insert(e.name.clone()) {
                        m.experiments.push(e.clone());
                    }
                }
                for s in &r.skipped {
                    if !m.skipped.contains(s) {
                        m.skipped.push(s.clone());
                    }
                }
                m.records.push(r);
            }
            None => m.missing.push(u.clone()),
        }
    }
    // Tables across experiments of a model, derived from the records alone.
    m.experiments
        .extend(crate::variance::dimension_overlap(&m.experiments));
    Ok(m)
}

/// Write `results.json`, `results.csv`, `report.md`, `report.html` and `plots/*.svg` into `out` from
/// merged records. `run` is the run metadata of the writing process; `extra_skipped` adds skip lines of
/// this process (failed units, models that could not load). Returns the HTML path and the findings.
pub fn write_outputs(
    out: &Path,
    plan: &Plan,
    merged: &Merged,
    run: &RunInfo,
    extra_skipped: &[String],
) -> Result<(PathBuf, Vec<Finding>)> {
    let suite = plan.suite()?;
    let mut skipped = merged.skipped.clone();
    for s in extra_skipped {
        if !skipped.contains(s) {
            skipped.push(s.clone());
        }
    }
    let mut run = run.clone();
    run.update_peak_memory();
    for r in &merged.records {
        run.stages.push(StageTiming {
            name: format!("{} · {}", r.experiment, r.model),
            seconds: r.seconds,
        });
    }
    let x = &mut run.extra;
    x.insert("suite".into(), suite.name.clone().into());
    x.insert("suite_definition".into(), serde_json::to_value(&suite)?);
    x.insert("seed".into(), suite.seed.into());
    x.insert(
        "bootstrap_resamples".into(),
        suite.bootstrap_resamples.into(),
    );
    x.insert(
        "models".into(),
        serde_json::Value::Array(
            plan.models
                .iter()
                .map(|m| {
                    serde_json::json!({"name": m.name, "family": m.family.name(), "config": m.config, "random_weights": m.is_random(),
                        "description": m.description,
                        "weights": match &m.source { crate::model::ModelSource::Weights { path, .. } => path.display().to_string(), crate::model::ModelSource::Random { seed } => format!("random seed {seed}") }})
                })
                .collect(),
        ),
    );
    x.insert("notes".into(), serde_json::to_value(&plan.notes)?);
    x.insert("skipped".into(), serde_json::to_value(&skipped)?);
    x.insert(
        "units".into(),
        serde_json::json!({
            "planned": plan.units.len(),
            "done": merged.records.len(),
            "missing": merged.missing.iter().map(|u| u.id.clone()).collect::<Vec<_>>(),
        }),
    );
    let random: BTreeSet<String> = plan
        .models
        .iter()
        .filter(|p| p.is_random())
        .map(|p| p.name.clone())
        .collect();
    let found = findings::findings(&merged.experiments, &random);
    x.insert("findings".into(), serde_json::to_value(&found)?);
    let mut results = Results::new(run);
    results.experiments = merged.experiments.clone();
    let report = Report::build(&results, out)?;
    let about = About {
        suite: &suite,
        plan,
        skipped: &skipped,
        missing: &merged.missing,
    };
    let scale_note = if suite.synthetic {
        "The study's claims, checked on THIS run: tiny models on synthetic scenes. A verdict says what these numbers show at this scale, not whether the study is right about its ViT-B models. Linear probes of MAE-family models use BatchNorm (the MAE recipe, as in the study) and the others do not; the recipe alone moves a random network's linear mIoU on these scenes by about +0.03, so linear-probe comparisons across families mix features and recipe."
    } else {
        "The study's claims, checked on this run's numbers (means over all splits, layers, transformations and Δ of each model)."
    };
    let md = inject(
        &report.markdown(),
        "# patchlens report\n",
        &(about.markdown() + &findings::markdown(&found, scale_note)),
    );
    let html = inject(
        &report.html()?,
        "<h1>patchlens report</h1>\n",
        &(about.html() + &findings::html(&found, scale_note)),
    );
    let plots = out.join("plots");
    for f in report.figures() {
        patchlens_store::write_atomic(&plots.join(&f.file_name), f.svg.as_bytes())?;
    }
    results.save(out.join("results.json"))?;
    results.save_csv(out.join("results.csv"))?;
    patchlens_store::write_atomic(&out.join("report.md"), md.as_bytes())?;
    let html_path = out.join("report.html");
    patchlens_store::write_atomic(&html_path, html.as_bytes())?;
    Ok((html_path, found))
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

/// The report's "About this run" section: suite, models, plain notes, what was skipped or is missing.
struct About<'a> {
    suite: &'a Suite,
    plan: &'a Plan,
    skipped: &'a [String],
    missing: &'a [PlannedUnit],
}

impl About<'_> {
    fn markdown(&self) -> String {
        let mut m = format!(
            "\n## About this run\n\nSuite `{}`: {}\n\n",
            self.suite.name, self.suite.description
        );
        for n in &self.plan.notes {
            m.push_str(&format!("> **{n}**\n\n"));
        }
        m.push_str(
            "| model | weights | family | D | depth | patch |\n|---|---|---|---:|---:|---:|\n",
        );
        for p in &self.plan.models {
            m.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                p.name,
                if p.is_random() {
                    "RANDOM"
                } else {
                    "pretrained"
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
        if !self.missing.is_empty() {
            m.push_str("\n### Missing units (not run yet)\n\n");
            for u in self.missing {
                m.push_str(&format!("- `{}` ({} · {})\n", u.id, u.experiment, u.model));
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
        for n in &self.plan.notes {
            h.push_str(&format!(
                "<p class=\"notice\"><strong>{}</strong></p>\n",
                esc(n)
            ));
        }
        h.push_str("<table class=\"models\">\n<tr><th>model</th><th>weights</th><th>family</th><th>D</th><th>depth</th><th>patch</th></tr>\n");
        for p in &self.plan.models {
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
        if !self.missing.is_empty() {
            h.push_str("<h3>Missing units (not run yet)</h3>\n<ul class=\"skipped\">\n");
            for u in self.missing {
                h.push_str(&format!(
                    "<li><code>{}</code> ({} · {})</li>\n",
                    esc(&u.id),
                    esc(&u.experiment),
                    esc(&u.model)
                ));
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
        let suite = crate::suite::load("paper", None).unwrap();
        let line = data_dir(
            &suite,
            &d.path().join("nowhere"),
            d.path(),
            "a1",
            "cityscapes",
        )
        .unwrap_err();
        assert!(
            line.starts_with("skip a1: dataset cityscapes not found at"),
            "{line}"
        );
        assert!(
            line.contains("gtFine") && line.contains("--data-root"),
            "{line}"
        );
        assert_eq!(
            data_dir(&suite, d.path(), d.path(), "x", "synthetic").unwrap(),
            d.path().join("data")
        );
    }
}
