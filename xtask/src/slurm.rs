//! `cargo xtask slurm --out DIR [suite options] [--submit] [--resume] [-- extra sbatch options]`: the
//! suite's units as a Slurm job array.
//!
//! Writes `DIR/slurm/units.txt` (line i = the unit of array task i), `DIR/slurm/array.sbatch` (one task per
//! unit: `--array=0-N%MAX`, per-task CPUs / GPUs / memory / time from the plan's estimates and the options,
//! one log per task under `DIR/slurm/logs/`) and `DIR/slurm/merge.sbatch`; with `--submit` it submits both,
//! the merge with `--dependency=afterany:<array job>`. `--resume` puts only the units without a record in
//! the array. The scripts call the binary that wrote them (absolute path): compute nodes need no cargo,
//! only the same file system paths for the binary, `DIR`, the data and the weights.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::Args;
use patchlens_eval::plan::Plan;

use crate::backend::DeviceArgs;
use crate::reproduce::SuiteArgs;

/// Arguments of `slurm`.
#[derive(Args, Debug)]
pub struct SlurmArgs {
    /// Suite, models, data, weights, output (`--out DIR` is the shared folder every task writes into).
    #[command(flatten)]
    pub suite: SuiteArgs,
    /// Use `DIR/plan.json` as it is instead of planning again.
    #[arg(long)]
    pub use_plan: bool,
    /// Submit the array and the merge (`sbatch`); without it, only write the scripts.
    #[arg(long)]
    pub submit: bool,
    /// Only the units without a record.
    #[arg(long)]
    pub resume: bool,
    /// Array tasks running at once (`--array=…%MAX`).
    #[arg(long, default_value_t = 16)]
    pub max_parallel: usize,
    /// CPUs per task.
    #[arg(long, default_value_t = 4)]
    pub cpus_per_task: usize,
    /// GPUs per task (0: none; with --backend cuda or wgpu).
    #[arg(long, default_value_t = 0)]
    pub gpus_per_task: usize,
    /// Memory per task (`sbatch --mem`, e.g. `16G`); default: from the plan's estimate.
    #[arg(long)]
    pub mem: Option<String>,
    /// Time limit per task (`sbatch --time`, e.g. `4:00:00`); default: 3× the slowest unit's estimate.
    #[arg(long)]
    pub time: Option<String>,
    /// Backend and precision of the tasks.
    #[command(flatten)]
    pub dev: DeviceArgs,
    /// Tiles per forward pass (default: the suite's).
    #[arg(long)]
    pub device_batch: Option<usize>,
    /// Extra `sbatch` options for both scripts (after `--`), e.g. `-- --partition=gpu --account=x`.
    #[arg(last = true)]
    pub sbatch: Vec<String>,
}

/// `H:MM:SS` of `seconds` (at least 10 minutes).
fn slurm_time(seconds: f64) -> String {
    let s = seconds.max(600.0).ceil() as u64;
    format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// Quote `s` for a shell script.
fn sh(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn abs(p: &Path) -> Result<PathBuf> {
    Ok(if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    })
}

/// Run `slurm`.
pub fn run(args: &SlurmArgs) -> Result<()> {
    let (plan, out) = if args.use_plan {
        let out = args
            .suite
            .out
            .clone()
            .context("--use-plan needs --out DIR")?;
        (Plan::load(&out.join("plan.json"))?, out)
    } else {
        args.suite.plan()?
    };
    let out = abs(&out)?;
    let units: Vec<_> = plan
        .units
        .iter()
        .filter(|u| !args.resume || !patchlens_eval::runner::record_path(&out, &u.id).is_file())
        .collect();
    let dir = out.join("slurm");
    std::fs::create_dir_all(dir.join("logs"))
        .with_context(|| format!("creating {}", dir.join("logs").display()))?;
    let units_file = dir.join("units.txt");
    let list: String = units.iter().map(|u| format!("{}\n", u.id)).collect();
    patchlens_store::write_atomic(&units_file, list.as_bytes())
        .map_err(|(p, e)| anyhow::Error::new(e).context(format!("writing {}", p.display())))?;
    let exe = std::env::current_exe().context("the path of this binary")?;
    let data_root = abs(&args
        .suite
        .data_root
        .clone()
        .unwrap_or(plan.data_root.clone()))?;
    let weights_root = abs(&args
        .suite
        .weights_root
        .clone()
        .unwrap_or(plan.weights_root.clone()))?;
    let slowest = units
        .iter()
        .map(|u| u.cost.seconds(args.cpus_per_task))
        .fold(0.0, f64::max);
    let mem_gb = units.iter().map(|u| u.cost.memory_bytes).max().unwrap_or(0) as f64 / 1e9;
    let mem = args
        .mem
        .clone()
        .unwrap_or_else(|| format!("{}G", (2.0 * mem_gb + 4.0).ceil() as u64));
    let time = args
        .time
        .clone()
        .unwrap_or_else(|| slurm_time(3.0 * slowest));
    let extra: String = args
        .sbatch
        .iter()
        .map(|o| format!("#SBATCH {o}\n"))
        .collect();
    let name = format!("patchlens-{}", plan.suite_name);
    let mut unit_cmd = format!(
        "{} reproduce --out {} --unit \"$UNIT\" --data-root {} --weights-root {} --backend {} --precision {}",
        sh(&exe.display().to_string()),
        sh(&out.display().to_string()),
        sh(&data_root.display().to_string()),
        sh(&weights_root.display().to_string()),
        args.dev.backend,
        args.dev.precision
    );
    if let Some(b) = args.device_batch {
        let _ = write!(unit_cmd, " --device-batch {b}");
    }
    let gpus = if args.gpus_per_task > 0 {
        format!("#SBATCH --gpus-per-task={}\n", args.gpus_per_task)
    } else {
        String::new()
    };
    let array = format!(
        "#!/bin/bash\n\
         # {n} units of suite `{suite}` (plan {plan}), one per array task; written by `cargo xtask slurm`.\n\
         #SBATCH --job-name={name}\n\
         #SBATCH --array=0-{last}%{max}\n\
         #SBATCH --cpus-per-task={cpus}\n\
         #SBATCH --mem={mem}\n\
         #SBATCH --time={time}\n\
         #SBATCH --output={logs}/unit-%A_%a.log\n\
         {gpus}{extra}\
         set -euo pipefail\n\
         UNIT=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" {units})\n\
         export RAYON_NUM_THREADS=${{SLURM_CPUS_PER_TASK:-{cpus}}}\n\
         exec {unit_cmd}\n",
        n = units.len(),
        suite = plan.suite_name,
        plan = out.join("plan.json").display(),
        last = units.len().saturating_sub(1),
        max = args.max_parallel.max(1),
        cpus = args.cpus_per_task,
        logs = dir.join("logs").display(),
        units = sh(&units_file.display().to_string()),
    );
    let merge = format!(
        "#!/bin/bash\n\
         # Merges the records of {plan} into results.json and the report; fails when a unit is missing.\n\
         #SBATCH --job-name={name}-merge\n\
         #SBATCH --cpus-per-task=1\n\
         #SBATCH --mem=4G\n\
         #SBATCH --time=1:00:00\n\
         #SBATCH --output={logs}/merge-%j.log\n\
         {extra}\
         set -euo pipefail\n\
         exec {exe} reproduce --out {out} --merge\n",
        plan = out.join("plan.json").display(),
        logs = dir.join("logs").display(),
        exe = sh(&exe.display().to_string()),
        out = sh(&out.display().to_string()),
    );
    let array_path = dir.join("array.sbatch");
    let merge_path = dir.join("merge.sbatch");
    for (p, text) in [(&array_path, &array), (&merge_path, &merge)] {
        patchlens_store::write_atomic(p, text.as_bytes())
            .map_err(|(p, e)| anyhow::Error::new(e).context(format!("writing {}", p.display())))?;
    }
    println!(
        "slurm: {} units ({} planned) → {} and {}",
        units.len(),
        plan.units.len(),
        array_path.display(),
        merge_path.display()
    );
    if !args.submit {
        return Ok(());
    }
    if units.is_empty() {
        println!("slurm: every unit has a record; submitting only the merge");
    }
    let array_job = if units.is_empty() {
        None
    } else {
        Some(sbatch(&array_path, None)?)
    };
    let merge_job = sbatch(&merge_path, array_job.as_deref())?;
    println!(
        "slurm: submitted array job {} and merge job {merge_job}",
        array_job.as_deref().unwrap_or("(none)")
    );
    let jobs = serde_json::json!({"array": array_job, "merge": merge_job, "units": units.len()});
    patchlens_store::write_atomic(&dir.join("jobs.json"), jobs.to_string().as_bytes())
        .map_err(|(p, e)| anyhow::Error::new(e).context(format!("writing {}", p.display())))?;
    Ok(())
}

/// `sbatch --parsable [--dependency=afterany:<after>] script` → the job id.
fn sbatch(script: &Path, after: Option<&str>) -> Result<String> {
    let mut cmd = Command::new("sbatch");
    cmd.arg("--parsable");
    if let Some(a) = after {
        cmd.arg(format!("--dependency=afterany:{a}"));
    }
    cmd.arg(script);
    let o = cmd
        .output()
        .with_context(|| format!("running sbatch {} (is Slurm installed?)", script.display()))?;
    if !o.status.success() {
        bail!(
            "sbatch {} failed: {}",
            script.display(),
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    let id = String::from_utf8_lossy(&o.stdout).trim().to_string();
    // `--parsable` prints `jobid[;cluster]`.
    Ok(id.split(';').next().unwrap_or_default().to_string())
}
