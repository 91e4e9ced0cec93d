//! The HTML report in a real headless browser: `scripts/check-report.sh` renders it with Debian's
//! chromium and fails on a missing or blank screenshot. Needs chromium (the script installs it with
//! apt-get when it runs as root), so it is opt-in:
//! `cargo test -p patchlens-report --test browser -- --ignored`.

use patchlens_report::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/check-report.sh")
}

fn results() -> Results {
    let mut r = Results::new(RunInfo::collect(".", "cpu", "cpu", 1));
    for (i, zoo) in ["dino_vitb16", "mae_vitb16"].iter().enumerate() {
        let model = ModelInfo {
            zoo_name: (*zoo).into(),
            weights_sha256: None,
            family: zoo.split('_').next().unwrap().into(),
        };
        let mut e = Experiment::new(
            format!("cityscapes/knn/set4_72/{zoo}/layer12"),
            ExperimentKind::Segmentation,
            model,
        );
        e.metrics.insert("miou".into(), 0.3 + 0.1 * i as f64);
        e.protocol.insert("layer".into(), 12.into());
        let x: Vec<f64> = (1..=12).map(f64::from).collect();
        let y: Vec<f64> = x.iter().map(|l| 0.02 * l * (i + 1) as f64).collect();
        e.curves
            .push(Curve::new("mIoU by layer", *zoo, "layer", "mIoU", x, y));
        r.experiments.push(e);
    }
    r
}

#[test]
#[ignore = "needs Debian's chromium; run with --ignored"]
fn report_renders_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_report(dir.path(), &results()).unwrap();
    let png = dir.path().join("report.png");
    let out = Command::new("bash")
        .arg(script())
        .arg(&files.html)
        .arg(&png)
        .env("WINDOW_SIZE", "1000,1200")
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{log}");
    assert!(log.contains("1000x1200"), "{log}");
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");

    // A page with nothing on it is rejected.
    let blank = dir.path().join("blank.html");
    std::fs::write(&blank, "<!DOCTYPE html><html><body></body></html>").unwrap();
    let out = Command::new("bash")
        .arg(script())
        .arg(&blank)
        .arg(dir.path().join("blank.png"))
        .env("WINDOW_SIZE", "400,300")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("looks blank"));
}
