//! `cargo xtask pretrain` end to end on the seconds-long `micro` preset: checkpoint, loss log and report
//! agree with each other, the checkpoint loads with its family's official-key loader, and bad input is
//! a clear error.

use std::path::Path;

use patchlens_pretrain::{Method, load_pretrained};
use patchlens_vit::Device;
use serde_json::Value;

mod cli_support;

#[test]
fn micro_mae_run_writes_a_loadable_checkpoint_log_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mae_micro.safetensors");
    let (ok, stdout, stderr) = cli_support::xtask(&[
        "pretrain",
        "--method",
        "mae",
        "--preset",
        "micro",
        "--steps",
        "3",
        "--seed",
        "7",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "pretrain failed\nstdout: {stdout}\nstderr: {stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("report JSON on stdout");
    let saved: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("mae_micro.report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report, saved, "stdout and report file agree");
    assert_eq!(report["steps"], 3);
    assert_eq!(report["seed"], 7);
    assert_eq!(report["preset"], "micro");
    // The loss log has one finite record per step; the report's first loss is the log's step 0 and its
    // final loss the mean of the (≤ 20) last steps.
    let log = std::fs::read_to_string(dir.path().join("mae_micro.loss.jsonl")).unwrap();
    let losses: Vec<f64> = log
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["loss"]
                .as_f64()
                .unwrap()
        })
        .collect();
    assert_eq!(losses.len(), 3);
    assert!(losses.iter().all(|l| l.is_finite() && *l > 0.0));
    let first = report["first_loss"].as_f64().unwrap();
    let last = report["final_loss"].as_f64().unwrap();
    assert!((first - losses[0]).abs() < 1e-9);
    assert!((last - losses.iter().sum::<f64>() / 3.0).abs() < 1e-9);
    // The checkpoint is read back by the MAE loader (official key names).
    let vit = load_pretrained(Path::new(&out), Method::Mae, "micro", &Device::flex()).unwrap();
    assert_eq!(
        vit.config.embed_dim as u64,
        report["config"]["embed_dim"].as_u64().unwrap()
    );
}

#[test]
fn bad_arguments_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.safetensors");
    let (ok, _, stderr) = cli_support::xtask(&[
        "pretrain",
        "--method",
        "byol",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(stderr.contains("byol"), "{stderr}");
    let (ok, _, stderr) = cli_support::xtask(&[
        "pretrain",
        "--method",
        "dino",
        "--preset",
        "huge",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(stderr.contains("huge"), "{stderr}");
    assert!(!out.exists());
}
