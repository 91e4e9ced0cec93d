//! The suite as units on a real Slurm (a single-node Slurm started on this machine by
//! `scripts/slurm-local.sh`), against a single-process `reproduce` of the same suite:
//!
//! 1. `cargo xtask slurm --submit` runs every unit as an array task and the merge job builds a results.json
//!    whose every metric equals the single-process run's;
//! 2. an array task cancelled while it runs leaves no record (and nothing half-written that a merge would
//!    read): `--merge` names the missing unit and fails; `--resume` runs only it, and the result is again
//!    identical;
//! 3. the same unit run twice at once (a double submission) gives one valid record and the same result.
//!
//! Outside CI the test skips with a printed reason when Slurm cannot start (not root, no packages and no
//! network); under `CI=true` that is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A small suite: the demo's segmentation and identification experiments, shrunk, on two random-weights
/// models (no checkpoints needed).
const SUITE: &str = r#"
extends = "demo"
name = "slurm-mini"
bootstrap_resamples = 30
device_batch = 8

[demo]
pretrained_dir = "/nonexistent/patchlens-pretrained"
fallback_models = ["dino_vitb16", "mae_vitb16"]
fallback_config = { embed_dim = 32, depth = 2, num_heads = 2, mlp_hidden = 0, mlp_ratio = 2.0 }

[experiments.a1_synthetic_pools]
train_splits = ["train2", "train3"]
test_split = "test2"
linear_epochs = 2

[experiments.c1_synthetic_identification]
scenes = 2
kinds = ["rotate", "blur"]
levels = [1]

[experiments.a2_synthetic_layerwise]
enabled = false
[experiments.a3_synthetic_degradation]
enabled = false
[experiments.a4_synthetic_variance]
enabled = false
[experiments.a5_synthetic_spectrum_test]
enabled = false
[experiments.a6_synthetic_mae_reconstruction]
enabled = false
[experiments.d1_synthetic_tracking]
enabled = false
[experiments.e1_synthetic_propagation]
enabled = false
"#;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Start the local Slurm; `None` (after printing why) when it cannot start outside CI.
fn slurm_conf() -> Option<PathBuf> {
    let script = repo().join("scripts/slurm-local.sh");
    let out = Command::new(&script)
        .arg("start")
        .output()
        .expect("run slurm-local.sh");
    let conf = PathBuf::from(
        std::env::var("SLURM_LOCAL_DIR").unwrap_or_else(|_| "/tmp/patchlens-slurm".into()),
    )
    .join("slurm.conf");
    if out.status.success() {
        return Some(conf);
    }
    let why = format!(
        "local Slurm did not start: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    if patchlens_testutil::in_ci() {
        panic!("{why}");
    }
    eprintln!("SKIP slurm: {why}");
    None
}

fn xtask(conf: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env("SLURM_CONF", conf)
        .output()
        .expect("run xtask");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn slurm_cmd(conf: &Path, prog: &str, args: &[&str]) -> String {
    let o = Command::new(prog)
        .args(args)
        .env("SLURM_CONF", conf)
        .output()
        .unwrap_or_else(|e| panic!("{prog}: {e}"));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Wait until job `id` (and its array tasks) has left the queue.
fn wait_for(conf: &Path, id: &str, limit: Duration) {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        let q = slurm_cmd(conf, "squeue", &["-h", "-j", id, "-o", "%i %T"]);
        if q.trim().is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("job {id} still queued after {limit:?}");
}

fn jobs(out: &Path) -> (Option<String>, String) {
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("slurm/jobs.json")).unwrap())
            .unwrap();
    (
        v["array"].as_str().map(str::to_string),
        v["merge"].as_str().unwrap().to_string(),
    )
}

/// Every experiment's metrics and intervals, by name.
fn metrics(out: &Path) -> Vec<(String, Value, Value)> {
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    let mut m: Vec<(String, Value, Value)> = v["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["metrics"].clone(),
                e["confidence_intervals"].clone(),
            )
        })
        .collect();
    m.sort_by(|a, b| a.0.cmp(&b.0));
    m
}

fn units(out: &Path) -> Vec<String> {
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("plan.json")).unwrap()).unwrap();
    v["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn suite_on_a_slurm_array_equals_the_single_process_run() {
    let Some(conf) = slurm_conf() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("suite.toml");
    std::fs::write(&cfg, SUITE).unwrap();
    let cfg = cfg.to_str().unwrap();
    let minutes = Duration::from_secs(300);

    // The reference: one process.
    let single = tmp.path().join("single");
    let (ok, so, se) = xtask(
        &conf,
        &[
            "reproduce",
            "--config",
            cfg,
            "--out",
            single.to_str().unwrap(),
        ],
    );
    assert!(ok, "{so}\n{se}");
    let want = metrics(&single);
    assert_eq!(units(&single).len(), 4, "2 experiments × 2 models");

    // 1. The array and the merge job.
    let a = tmp.path().join("array");
    let (ok, so, se) = xtask(
        &conf,
        &[
            "slurm",
            "--config",
            cfg,
            "--out",
            a.to_str().unwrap(),
            "--submit",
            "--cpus-per-task",
            "1",
        ],
    );
    assert!(ok, "{so}\n{se}");
    let (array, merge) = jobs(&a);
    wait_for(&conf, array.as_deref().unwrap(), minutes);
    wait_for(&conf, &merge, minutes);
    assert_eq!(metrics(&a), want, "Slurm run = single process");
    let logs = std::fs::read_dir(a.join("slurm/logs")).unwrap().count();
    assert_eq!(logs, 5, "one log per array task and one for the merge");

    // 2. Cancel a task while it runs; merge names the missing unit; resume.
    let c = tmp.path().join("cancel");
    let (ok, so, se) = xtask(
        &conf,
        &[
            "slurm",
            "--config",
            cfg,
            "--out",
            c.to_str().unwrap(),
            "--submit",
            "--max-parallel",
            "1",
            "--cpus-per-task",
            "1",
        ],
    );
    assert!(ok, "{so}\n{se}");
    let (array, merge) = jobs(&c);
    let array = array.unwrap();
    let task = format!("{array}_0");
    let t0 = Instant::now();
    loop {
        let state = slurm_cmd(&conf, "squeue", &["-h", "-j", &task, "-o", "%T"]);
        if state.trim() == "RUNNING" {
            break;
        }
        assert!(
            t0.elapsed() < minutes && !state.trim().is_empty(),
            "task {task} never ran (state {state:?})"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    slurm_cmd(&conf, "scancel", &[&task]);
    wait_for(&conf, &array, minutes);
    wait_for(&conf, &merge, minutes);
    let ids = units(&c);
    let cancelled = &ids[0];
    assert!(
        !c.join(format!("units/{cancelled}.json")).exists(),
        "a cancelled task leaves no record"
    );
    for f in std::fs::read_dir(c.join("units")).unwrap() {
        let p = f.unwrap().path();
        if p.extension().and_then(|e| e.to_str()) == Some("json") {
            let text = std::fs::read_to_string(&p).unwrap();
            serde_json::from_str::<Value>(&text)
                .unwrap_or_else(|e| panic!("{}: half-written record: {e}", p.display()));
        }
    }
    let (ok, so, _) = xtask(
        &conf,
        &["reproduce", "--out", c.to_str().unwrap(), "--merge"],
    );
    assert!(!ok, "merge must fail with a missing unit: {so}");
    assert!(so.contains(&format!("missing unit {cancelled}")), "{so}");
    let (ok, so, se) = xtask(
        &conf,
        &[
            "slurm",
            "--out",
            c.to_str().unwrap(),
            "--use-plan",
            "--resume",
            "--submit",
            "--cpus-per-task",
            "1",
        ],
    );
    assert!(ok, "{so}\n{se}");
    assert!(so.contains("slurm: 1 units (4 planned)"), "{so}");
    let (array, merge) = jobs(&c);
    wait_for(&conf, array.as_deref().unwrap(), minutes);
    wait_for(&conf, &merge, minutes);
    assert_eq!(metrics(&c), want, "resumed Slurm run = single process");

    // 3. The same unit twice at once.
    let d = tmp.path().join("double");
    let (ok, so, se) = xtask(
        &conf,
        &[
            "reproduce",
            "--config",
            cfg,
            "--out",
            d.to_str().unwrap(),
            "--plan",
        ],
    );
    assert!(ok, "{so}\n{se}");
    let ids = units(&d);
    let run = |id: &str| {
        Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["reproduce", "--out", d.to_str().unwrap(), "--unit", id])
            .spawn()
            .unwrap()
    };
    for id in &ids {
        let (mut p, mut q) = (run(id), run(id));
        assert!(
            p.wait().unwrap().success() && q.wait().unwrap().success(),
            "{id}"
        );
    }
    let records = std::fs::read_dir(d.join("units"))
        .unwrap()
        .filter(|f| {
            f.as_ref()
                .unwrap()
                .path()
                .extension()
                .and_then(|e| e.to_str())
                == Some("json")
        })
        .count();
    assert_eq!(records, ids.len(), "one record per unit");
    let (ok, so, se) = xtask(
        &conf,
        &["reproduce", "--out", d.to_str().unwrap(), "--merge"],
    );
    assert!(ok, "{so}\n{se}");
    assert_eq!(metrics(&d), want, "double-run units = single process");
}
