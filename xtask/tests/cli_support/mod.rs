//! Running the built `xtask` binary from integration tests and reading back its results.json.

#![allow(dead_code)]

use std::process::Command;

use serde_json::Value;

/// Run `xtask args…`: (success, stdout, stderr).
pub fn xtask(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .expect("run xtask");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Run `xtask args…`, which must succeed (panics with its output otherwise); returns its stdout.
pub fn stdout_ok(args: &[&str]) -> String {
    let (ok, stdout, stderr) = xtask(args);
    assert!(
        ok,
        "xtask {args:?} failed\nstdout: {stdout}\nstderr: {stderr}"
    );
    stdout
}

/// Run `xtask args…`, which must succeed, and return the first experiment of the results.json
/// named by its `--out` argument.
pub fn run_ok(args: &[&str]) -> Value {
    stdout_ok(args);
    let out = args
        .iter()
        .position(|a| *a == "--out")
        .map(|i| args[i + 1])
        .expect("--out");
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(out).expect("results.json")).expect("json");
    v["experiments"][0].clone()
}
