//! `cargo xtask reproduce`: every experiment of a suite for every model, one feature cache, and a report
//! (`<out>/results.json`, `results.csv`, `report.md`, `report.html`, `plots/*.svg`). The work is
//! `patchlens_eval`'s: the suite is planned into units with stable ids (`<out>/plan.json`), each unit's
//! record goes to `<out>/units/`, and the report is merged from the records.
//!
//! * `reproduce [suite options]`: plan, run every unit (resuming from records), merge.
//! * `reproduce [suite options] --plan`: write `<out>/plan.json` and list the units; run nothing.
//! * `reproduce --out DIR --unit ID`: run exactly that unit of `DIR/plan.json` (a unit with a record exits
//!   at once); many can run at once on many machines against one `DIR`.
//! * `reproduce --out DIR --merge [--partial]`: results and report from the records alone (no model
//!   loaded); lists the missing units and fails unless `--partial`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use patchlens_eval::plan::{Plan, PlanOptions};
use patchlens_eval::runner::{self, Event, RunContext};

use crate::backend::DeviceArgs;

/// Which suite, models, data and weights (shared by `reproduce` and `slurm`).
#[derive(Args, Debug, Clone)]
pub struct SuiteArgs {
    /// Shipped suite: `demo` (synthetic benchmark, no files) or `paper` (the study's datasets and models).
    #[arg(long, default_value = "demo")]
    pub suite: String,
    /// A suite file instead of the shipped one (may `extends = "demo"|"paper"` and override parts of it).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Models (zoo names or names defined in the suite or a model file), comma-separated; default: the
    /// suite's.
    #[arg(long, value_delimiter = ',')]
    pub models: Option<Vec<String>>,
    /// Model files (TOML `[model.NAME]` tables) whose names `--models` may use.
    #[arg(long)]
    pub model_file: Vec<PathBuf>,
    /// Only the experiments whose id starts with one of these (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Folder holding the datasets (in the folders named by the suite's `[data]` table); default `data`
    /// (with --unit: the plan's).
    #[arg(long)]
    pub data_root: Option<PathBuf>,
    /// Folder of the checkpoints (default: the `fetch-weights` cache: $PATCHLENS_WEIGHTS_DIR, else
    /// $XDG_CACHE_HOME/patchlens/weights, else ~/.cache/patchlens/weights; with --unit: the plan's).
    #[arg(long)]
    pub weights_root: Option<PathBuf>,
    /// Output folder (default `reproduce-<suite>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl SuiteArgs {
    /// Load the suite, plan it, and write `<out>/plan.json`. Returns the plan and the output folder.
    pub fn plan(&self) -> Result<(Plan, PathBuf)> {
        let suite = patchlens_eval::suite::load(&self.suite, self.config.as_deref())?;
        let out = self.out_dir(&suite.name);
        std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
        let opts = PlanOptions {
            data_root: self.data_root.clone().unwrap_or_else(|| "data".into()),
            weights_root: self
                .weights_root
                .clone()
                .unwrap_or_else(patchlens_eval::weights::default_cache_dir),
            config_dir: self
                .config
                .as_deref()
                .and_then(Path::parent)
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(".")),
            repo_root: Path::new(env!("CARGO_MANIFEST_DIR")).join(".."),
            models: self.models.clone(),
            only: self.only.clone(),
            model_files: self.model_file.clone(),
            out: out.clone(),
        };
        let plan = patchlens_eval::plan::plan(&suite, &opts)?;
        plan.save(&out.join("plan.json"))?;
        Ok((plan, out))
    }

    /// The output folder of suite `name`.
    pub fn out_dir(&self, name: &str) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("reproduce-{name}")))
    }
}

/// Arguments of `reproduce`.
#[derive(Args, Debug)]
pub struct ReproduceArgs {
    /// Suite, models, data, weights, output.
    #[command(flatten)]
    pub suite: SuiteArgs,
    #[command(flatten)]
    pub dev: DeviceArgs,
    /// Tiles per forward pass (default: the suite's).
    #[arg(long)]
    pub device_batch: Option<usize>,
    /// Recompute every unit even if `<out>/units/` records it (features still come from the cache).
    #[arg(long)]
    pub fresh: bool,
    /// Only plan: write `<out>/plan.json` and list the units.
    #[arg(long, conflicts_with_all = ["unit", "merge"])]
    pub plan: bool,
    /// Run exactly this unit of `<out>/plan.json`.
    #[arg(long, conflicts_with = "merge")]
    pub unit: Option<String>,
    /// Build results and report from the records of `<out>/plan.json` alone.
    #[arg(long)]
    pub merge: bool,
    /// With --merge: succeed even when units are missing (the report lists them).
    #[arg(long, requires = "merge")]
    pub partial: bool,
}

/// Run `reproduce`.
pub fn run(args: &ReproduceArgs) -> Result<()> {
    if let Some(id) = &args.unit {
        return unit(args, id);
    }
    if args.merge {
        return merge(args);
    }
    let t_run = Instant::now();
    let (plan, out) = args.suite.plan()?;
    println!(
        "patchlens reproduce: suite `{}` → {}",
        plan.suite_name,
        out.display()
    );
    for n in &plan.notes {
        println!("NOTE: {n}");
    }
    for s in &plan.skipped {
        println!("{s}");
    }
    if args.plan {
        println!(
            "{} units → {}",
            plan.units.len(),
            out.join("plan.json").display()
        );
        for u in &plan.units {
            println!(
                "  {}  ({} {}, {}; {} tiles, {:.0} GFLOP, ≈{:.0} s on 1 CPU)",
                u.id,
                u.kind,
                u.dataset,
                u.model,
                u.cost.tiles,
                u.cost.gflop,
                u.cost.seconds(1)
            );
        }
        return Ok(());
    }
    let device = args.dev.device()?;
    let info = args.dev.run_info();
    let mut ctx = RunContext::new(
        &plan,
        &out,
        &plan.data_root,
        None,
        args.device_batch,
        ran_on(&info),
    )?;
    ctx.precision = args.dev.precision;
    let skipped = std::cell::RefCell::new(Vec::<String>::new());
    {
        let mut on = |ev: Event<'_>| print_event(ev, &mut skipped.borrow_mut());
        let mut after_model = || -> patchlens_eval::Result<()> {
            // A report after every model: an interrupted run still leaves one.
            let merged = runner::merge(&plan, &out)?;
            runner::write_outputs(&out, &plan, &merged, &info, &skipped.borrow())?;
            Ok(())
        };
        runner::run_all(&ctx, &device, args.fresh, &mut on, &mut after_model)?;
    }
    let extra_skipped = skipped.into_inner();
    let merged = runner::merge(&plan, &out)?;
    let mut info = info.clone();
    info.extra
        .insert("total_seconds".into(), t_run.elapsed().as_secs_f64().into());
    let (html, found) = runner::write_outputs(&out, &plan, &merged, &info, &extra_skipped)?;
    for f in &found {
        println!("finding: {} — {}", f.claim, f.verdict.label());
    }
    println!(
        "done: {} experiments, {} models, {} skipped, {:.1} s → {}",
        merged.experiments.len(),
        plan.models.len(),
        merged.skipped.len() + extra_skipped.len(),
        t_run.elapsed().as_secs_f64(),
        html.display()
    );
    Ok(())
}

/// The output folder of `--unit` / `--merge` (it must hold `plan.json`).
fn plan_dir(args: &ReproduceArgs) -> Result<(Plan, PathBuf)> {
    let out = args
        .suite
        .out
        .clone()
        .context("--unit and --merge need --out DIR (the folder holding plan.json)")?;
    let plan = Plan::load(&out.join("plan.json"))?;
    Ok((plan, out))
}

/// `--unit ID`.
fn unit(args: &ReproduceArgs, id: &str) -> Result<()> {
    let t0 = Instant::now();
    let (plan, out) = plan_dir(args)?;
    let unit = plan.unit(id)?;
    println!(
        "unit {id}: experiment {} ({}, {}) · model {} · layers {:?} · estimated {:.0} GFLOP",
        unit.experiment, unit.kind, unit.dataset, unit.model, unit.layers, unit.cost.gflop
    );
    let data_root = args
        .suite
        .data_root
        .clone()
        .unwrap_or(plan.data_root.clone());
    let weights_root = args
        .suite
        .weights_root
        .clone()
        .unwrap_or(plan.weights_root.clone());
    let device = args.dev.device()?;
    let info = args.dev.run_info();
    let mut ctx = RunContext::new(
        &plan,
        &out,
        &data_root,
        None,
        args.device_batch,
        ran_on(&info),
    )?;
    ctx.precision = args.dev.precision;
    let (record, found) = runner::run_one(&ctx, unit, &device, Some(&weights_root))?;
    if found {
        println!(
            "unit {id}: done earlier ({:.1} s then); nothing to do",
            record.seconds
        );
        return Ok(());
    }
    for l in &record.lines {
        println!("  {l}");
    }
    println!(
        "unit {id}: done in {:.1} s (experiment {:.1} s, model load and setup {:.1} s) → {}",
        t0.elapsed().as_secs_f64(),
        record.seconds,
        t0.elapsed().as_secs_f64() - record.seconds,
        runner::record_path(&out, id).display()
    );
    Ok(())
}

/// `--merge [--partial]`.
fn merge(args: &ReproduceArgs) -> Result<()> {
    let (plan, out) = plan_dir(args)?;
    let merged = runner::merge(&plan, &out)?;
    let mut info = args.dev.run_info();
    info.extra.insert("merged".into(), true.into());
    // The units' own precision (all of them, or "mixed"), not the merging command's.
    let precisions: std::collections::BTreeSet<&str> = merged
        .records
        .iter()
        .filter_map(|r| r.ran_on["precision"].as_str())
        .collect();
    if let Some(p) = precisions.first() {
        info.precision = if precisions.len() == 1 {
            p.to_string()
        } else {
            "mixed".into()
        };
    }
    let (html, found) = runner::write_outputs(&out, &plan, &merged, &info, &[])?;
    let mut by_time: Vec<&runner::UnitRecord> = merged.records.iter().collect();
    by_time.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
    println!(
        "{:<60} {:>10} {:>12}",
        "unit (slowest first)", "wall s", "estimate s"
    );
    for r in &by_time {
        let est = plan
            .unit(&r.id)
            .map(|u| u.cost.seconds(1))
            .unwrap_or(f64::NAN);
        println!("{:<60} {:>10.1} {:>12.0}", r.id, r.seconds, est);
    }
    let total: f64 = merged.records.iter().map(|r| r.seconds).sum();
    println!(
        "{} of {} units done, {total:.0} s of unit time; slowest {}",
        merged.records.len(),
        plan.units.len(),
        by_time
            .first()
            .map(|r| format!("{} ({:.0} s)", r.id, r.seconds))
            .unwrap_or_default()
    );
    for f in &found {
        println!("finding: {} — {}", f.claim, f.verdict.label());
    }
    if !merged.missing.is_empty() {
        for u in &merged.missing {
            println!("missing unit {} ({} · {})", u.id, u.experiment, u.model);
        }
        if !args.partial {
            bail!(
                "{} of {} units have no record (listed above); run them (`--unit ID`, or `cargo xtask slurm --resume`) or merge with --partial",
                merged.missing.len(),
                plan.units.len()
            );
        }
    }
    println!("merged → {}", html.display());
    Ok(())
}

/// Where this process runs, as recorded with every unit.
fn ran_on(info: &patchlens_report::RunInfo) -> serde_json::Value {
    serde_json::json!({
        "host": std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|s| s.trim().to_string()),
        "backend": info.backend,
        "device": info.device,
        "precision": info.precision,
        "threads": info.threads,
        "commit": info.git_commit,
        "slurm_job": std::env::var("SLURM_JOB_ID").ok(),
        "slurm_array_task": std::env::var("SLURM_ARRAY_TASK_ID").ok(),
    })
}

/// Print one event of the run on stdout (skip lines are also collected for the report).
fn print_event(ev: Event<'_>, skipped: &mut Vec<String>) {
    match ev {
        Event::ModelStart {
            index,
            total,
            model,
        } => println!(
            "[model {index}/{total}] {}: {}",
            model.name, model.description
        ),
        Event::ModelSkipped(line) | Event::UnitFailed(line) => {
            println!("{line}");
            skipped.push(line.to_string());
        }
        Event::UnitStart {
            model,
            unit,
            planned,
        } => println!(
            "[model {}/{} · experiment {}/{}] {} ({}, {}) · {}",
            model.0,
            model.1,
            unit.0,
            unit.1,
            planned.experiment,
            planned.kind,
            planned.dataset,
            planned.model
        ),
        Event::UnitDone { record, cached } => {
            if cached {
                println!("  (done in an earlier run: unit {})", record.id);
            }
            for l in &record.lines {
                println!("  {l}");
            }
            println!("  ({:.1} s)", record.seconds);
        }
    }
}
