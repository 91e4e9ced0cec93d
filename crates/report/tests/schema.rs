//! results.json schema: round trips, a hand-written file, version checks, run-info helpers.

use patchlens_report::*;
use std::collections::BTreeMap;

fn sample() -> Results {
    let mut run = RunInfo {
        git_commit: Some("0123abcd".into()),
        date: "2025-01-31T12:00:00Z".into(),
        backend: "burn-flex".into(),
        device: "cpu".into(),
        precision: "f32".into(),
        threads: 2,
        stages: vec![StageTiming {
            name: "embed".into(),
            seconds: 12.5,
        }],
        peak_memory_bytes: Some(1 << 30),
        extra: serde_json::Map::new(),
    };
    run.extra
        .insert("command".into(), "cargo xtask reproduce".into());
    let model = ModelInfo {
        zoo_name: "dino_vitb16".into(),
        weights_sha256: Some("ab".repeat(32)),
        family: "dino".into(),
    };
    let mut e = Experiment::new("cityscapes/layers", ExperimentKind::LayerSweep, model);
    e.protocol.insert("k".into(), 1.into());
    e.protocol.insert("pool".into(), "set4_72".into());
    e.metrics.insert("miou".into(), 0.345);
    let mut c = Curve::new(
        "layers",
        "dino",
        "layer",
        "mIoU",
        vec![1.0, 2.0],
        vec![0.1, 0.2],
    );
    c.y_lower = Some(vec![0.05, 0.15]);
    c.y_upper = Some(vec![0.15, 0.25]);
    c.plot = Some(PlotKind::Line);
    c.paper = Some(PaperKey::new(
        "cityscapes_knn_layerwise",
        "all/layer{x}",
        "dino",
    ));
    e.curves.push(c);
    e.confidence_intervals.insert(
        "miou".into(),
        ConfidenceInterval {
            estimate: 0.345,
            lower: 0.3,
            upper: 0.39,
            level: 0.95,
            n_resamples: 1000,
            seed: 1,
            method: "percentile".into(),
        },
    );
    e.images.push(ImageArtifact {
        title: "pred".into(),
        caption: None,
        source: ImageSource::File {
            path: "maps/a.png".into(),
        },
    });
    let mut r = Results::new(run);
    r.experiments.push(e);
    r
}

#[test]
fn round_trip_through_json_and_file() {
    let r = sample();
    let text = r.to_json().unwrap();
    let back: Results = serde_json::from_str(&text).unwrap();
    assert_eq!(back, r);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("results.json");
    r.save(&p).unwrap();
    assert_eq!(Results::load(&p).unwrap(), r);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temp file left"
    );
}

/// A file written by hand against the documented field names.
#[test]
fn hand_written_file_parses() {
    let text = r#"{
      "schema_version": 1,
      "run": {"git_commit": null, "date": "2025-02-01T00:00:00Z", "backend": "cpu", "device": "cpu",
              "threads": 4, "stages": [{"name": "knn", "seconds": 1.5}], "peak_memory_bytes": null},
      "experiments": [{
        "name": "fair1m/rotation", "kind": "retrieval",
        "protocol": {"rotations": [5, 10]},
        "model": {"zoo_name": "mae_vitb16", "weights_sha256": null, "family": "mae"},
        "metrics": {"same_patch_rot5": 174},
        "paper": {"same_patch_rot5": {"experiment": "fair1m_instance_identification_rotation", "setting": "same_patch/rot5", "model": "mae"}},
        "images": [{"title": "t", "source": {"type": "png_base64", "data": "AAAA"}}]
      }]
    }"#;
    let r: Results = serde_json::from_str(text).unwrap();
    assert_eq!(r.run.threads, 4);
    assert_eq!(r.run.stages[0].seconds, 1.5);
    let e = &r.experiments[0];
    assert_eq!(e.kind, ExperimentKind::Retrieval);
    assert_eq!(e.kind.default_plot(), PlotKind::Bars);
    assert_eq!(
        e.metrics,
        BTreeMap::from([("same_patch_rot5".to_string(), 174.0)])
    );
    assert_eq!(e.paper["same_patch_rot5"].model, "mae");
    assert_eq!(
        e.images[0].source,
        ImageSource::PngBase64 {
            data: "AAAA".into()
        }
    );
    assert!(e.curves.is_empty() && e.confidence_intervals.is_empty());
}

#[test]
fn wrong_schema_version_and_garbage_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("r.json");
    let mut v: serde_json::Value = serde_json::from_str(&sample().to_json().unwrap()).unwrap();
    v["schema_version"] = 99.into();
    std::fs::write(&p, v.to_string()).unwrap();
    assert!(matches!(
        Results::load(&p),
        Err(ReportError::SchemaVersion {
            found: 99,
            supported: 1,
            ..
        })
    ));
    std::fs::write(&p, "{not json").unwrap();
    assert!(matches!(Results::load(&p), Err(ReportError::Parse { .. })));
    assert!(matches!(
        Results::load(dir.path().join("missing.json")),
        Err(ReportError::Io { .. })
    ));
}

#[test]
fn curve_validation() {
    let mut c = Curve::new("f", "s", "x", "y", vec![1.0, 2.0], vec![1.0]);
    assert!(matches!(c.validate(), Err(ReportError::BadCurve { .. })));
    c.y.push(2.0);
    c.validate().unwrap();
    c.point_labels = Some(vec!["a".into()]);
    assert!(c.validate().is_err());
}

#[test]
fn run_info_helpers() {
    assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
    // Values from `date -u -d @N`.
    assert_eq!(format_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(format_rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    assert_eq!(format_rfc3339(-86_400), "1969-12-31T00:00:00Z");
    let status = "Name:\tx\nVmPeak:\t  5000 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1000 kB\n";
    assert_eq!(parse_vmhwm(status), Some(2048 * 1024));
    assert_eq!(parse_vmhwm("Name: x\n"), None);
    if cfg!(target_os = "linux") {
        assert!(peak_memory_bytes().unwrap() > 1 << 20);
    }
    let now = utc_now_rfc3339();
    assert_eq!(now.len(), 20);
    assert!(now.ends_with('Z') && now.as_bytes()[10] == b'T');
    let mut t = StageTimer::new();
    t.time("sleep", || {
        std::thread::sleep(std::time::Duration::from_millis(20))
    });
    assert!(t.stages()[0].seconds >= 0.02);
}

/// A missing point (NaN) is written as JSON `null` and read back as NaN, so a record with one is readable.
#[test]
fn nan_points_survive_a_json_round_trip() {
    let mut c = Curve::new("f", "m", "x", "y", vec![1.0, 2.0], vec![0.5, f64::NAN]);
    c.y_lower = Some(vec![f64::NAN, 0.4]);
    let text = serde_json::to_string(&c).unwrap();
    assert!(text.contains("\"y\":[0.5,null]"), "{text}");
    let back: Curve = serde_json::from_str(&text).unwrap();
    assert_eq!(back.y[0], 0.5);
    assert!(back.y[1].is_nan());
    assert!(back.y_lower.as_ref().unwrap()[0].is_nan());
    assert_eq!(back.y_upper, None);
}

/// Issue #14: the forward pass's precision is part of the run; files written before the field existed
/// were f32 runs and read back as such.
#[test]
fn run_precision_round_trips_and_defaults_to_f32() {
    let mut run = sample().run;
    run.precision = "bf16".into();
    let back: RunInfo = serde_json::from_str(&serde_json::to_string(&run).unwrap()).unwrap();
    assert_eq!(back.precision, "bf16");
    let mut old = serde_json::to_value(&run).unwrap();
    old.as_object_mut().unwrap().remove("precision");
    let back: RunInfo = serde_json::from_value(old).unwrap();
    assert_eq!(back.precision, "f32");
}
