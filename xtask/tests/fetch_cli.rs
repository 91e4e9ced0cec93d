//! `cargo xtask fetch-weights` on the command line: `--url NAME=URL`, `PATCHLENS_WEIGHTS_URL_<NAME>`, what
//! it prints, and its exit status on errors (the download itself is tested in-process in
//! `crates/eval/tests/weights.rs`, against the same local server).

#[path = "../../crates/eval/tests/support/http_server.rs"]
mod http_server;

use std::collections::BTreeMap;

use http_server::{Server, route};

#[test]
fn command_line_with_url_override_and_environment() {
    let pth = std::fs::read(patchlens_testutil::fixture("vit/dinov2_s14_tiny.pth")).unwrap();
    let srv = Server::start(BTreeMap::from([("/d.pth".into(), route(pth))]));
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], env: &[(&str, String)]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"));
        c.arg("fetch-weights")
            .args(args)
            .arg("--cache-dir")
            .arg(dir.path());
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let o = run(
        &[
            "dinov2_vits14",
            "--url",
            &format!("dinov2_vits14={}", srv.url("/d.pth")),
        ],
        &[],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("first download, sha256 recorded")
            && out.contains("dinov2_vits14.safetensors"),
        "{out}"
    );
    assert!(dir.path().join("dinov2_vits14.safetensors").is_file());
    // Again through the environment variable: cached, matches the record, conversion reused.
    let o = run(
        &["dinov2_vits14"],
        &[("PATCHLENS_WEIGHTS_URL_DINOV2_VITS14", srv.url("/d.pth"))],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && out.contains("cached") && out.contains("(reused)"),
        "{out}"
    );
    // 404 through the environment: non-zero exit, the status and address on stderr.
    let o = run(
        &["dino_vitb16"],
        &[("PATCHLENS_WEIGHTS_URL_DINO_VITB16", srv.url("/nope.pth"))],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("HTTP 404") && err.contains("/nope.pth"),
        "{err}"
    );
    // torchvision's published prefix does not match the served file.
    let o = run(
        &[
            "sup_vitb16_torchvision",
            "--url",
            &format!("sup_vitb16_torchvision={}", srv.url("/d.pth")),
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("checksum mismatch") && err.contains("c867db91"),
        "{err}"
    );
    // Unknown model: refused before any download.
    let before = srv.seen().len();
    let o = run(&["not_a_model"], &[]);
    assert!(
        !o.status.success()
            && String::from_utf8_lossy(&o.stderr).contains("unknown model `not_a_model`")
    );
    assert_eq!(srv.seen().len(), before);
    // A --url for a model that is not being fetched is refused naming it.
    let o = run(
        &[
            "dinov2_vits14",
            "--url",
            &format!("dino_vitb16={}", srv.url("/d.pth")),
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("dino_vitb16"), "{err}");
    assert_eq!(srv.seen().len(), before);
}
