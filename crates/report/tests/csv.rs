//! results.csv: exact text on a hand-built run, RFC 4180 quoting, and a read-back with python3's
//! `csv` module.

use patchlens_report::*;

fn model(zoo: &str) -> ModelInfo {
    ModelInfo {
        zoo_name: zoo.into(),
        weights_sha256: None,
        family: "f".into(),
    }
}

fn results() -> Results {
    let mut r = Results::new(RunInfo {
        git_commit: None,
        date: "2025-01-31T12:00:00Z".into(),
        backend: "cpu".into(),
        device: "cpu".into(),
        precision: "f32".into(),
        threads: 1,
        stages: vec![],
        peak_memory_bytes: None,
        extra: Default::default(),
    });
    // A comma in the name, a quote in the model, train_split preferred over split, a CI.
    let mut a = Experiment::new("seg/a,b", ExperimentKind::Segmentation, model("m\"1"));
    a.protocol.insert("layer".into(), 12.into());
    a.protocol.insert("probe".into(), "knn".into());
    a.protocol.insert("train_split".into(), "set4_72".into());
    a.protocol.insert("split".into(), "val".into());
    a.metrics.insert("miou".into(), 0.5);
    a.metrics.insert("per_class_iou/traffic light".into(), 0.1);
    a.confidence_intervals.insert(
        "miou".into(),
        ConfidenceInterval {
            estimate: 0.5,
            lower: 0.25,
            upper: 0.75,
            level: 0.95,
            n_resamples: 10,
            seed: 0,
            method: "m".into(),
        },
    );
    r.experiments.push(a);
    // A line break in the name, `split` as the split, the layer as a string, no probe; metrics in
    // natural order (layer2 before layer10), a tiny value in exponent form, an integer, NaN.
    let mut b = Experiment::new("multi\nline", ExperimentKind::LayerSweep, model("m2"));
    b.protocol.insert("split".into(), "val".into());
    b.protocol.insert("layer".into(), "12".into());
    b.metrics.insert("all/layer10".into(), 1e-7);
    b.metrics.insert("all/layer2".into(), 3.0);
    b.metrics.insert("x".into(), f64::NAN);
    r.experiments.push(b);
    // No metrics: no rows.
    r.experiments
        .push(Experiment::new("empty", ExperimentKind::Other, model("m9")));
    // A non-scalar layer is written as compact JSON (and quoted for its comma).
    let mut c = Experiment::new("e3", ExperimentKind::Other, model("m3"));
    c.protocol.insert("layer".into(), serde_json::json!([1, 2]));
    c.metrics.insert("acc".into(), 1234567.5);
    r.experiments.push(c);
    r
}

const EXPECTED: &str = "model,experiment,layer,probe,split,metric,value,ci_low,ci_high\r\n\
\"m\"\"1\",\"seg/a,b\",12,knn,set4_72,miou,0.5,0.25,0.75\r\n\
\"m\"\"1\",\"seg/a,b\",12,knn,set4_72,per_class_iou/traffic light,0.1,,\r\n\
m2,\"multi\nline\",12,,val,all/layer2,3,,\r\n\
m2,\"multi\nline\",12,,val,all/layer10,1e-7,,\r\n\
m2,\"multi\nline\",12,,val,x,NaN,,\r\n\
m3,e3,\"[1,2]\",,,acc,1234567.5,,\r\n";

#[test]
fn csv_text_is_exact() {
    assert_eq!(CSV_COLUMNS.join(","), EXPECTED.lines().next().unwrap());
    assert_eq!(results().to_csv(), EXPECTED);
}

/// Numbers read back to the same `f64`.
#[test]
fn csv_numbers_round_trip() {
    let mut r = results();
    let vals = [
        0.1 + 0.2,
        1.0 / 3.0,
        2.5e-12,
        6.02e23,
        -0.0,
        17.0,
        1e16,
        9.999e-6,
    ];
    r.experiments.truncate(0);
    let mut e = Experiment::new("n", ExperimentKind::Other, model("m"));
    for (i, v) in vals.iter().enumerate() {
        e.metrics.insert(format!("v{i}"), *v);
    }
    r.experiments.push(e);
    let csv = r.to_csv();
    let back: Vec<f64> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(6).unwrap().parse().unwrap())
        .collect();
    assert_eq!(back.len(), vals.len());
    for (b, v) in back.iter().zip(vals) {
        assert_eq!(b.to_bits(), v.to_bits(), "{v} came back as {b}");
    }
}

/// python3's `csv` module (what pandas' and R's readers agree with) reads 7 rows of 9 fields and
/// the quoted fields come back unquoted.
#[test]
fn python_csv_module_reads_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.csv");
    results().save_csv(&path).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), EXPECTED);
    let script = "import csv, json, sys\n\
                  with open(sys.argv[1], newline='') as f:\n    rows = list(csv.reader(f))\n\
                  print(json.dumps(rows))";
    let out = match std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()
    {
        Ok(o) => o,
        Err(e) => panic!("python3 is needed for this check: {e}"),
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Vec<String>> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), 7);
    assert!(rows.iter().all(|r| r.len() == 9), "{rows:?}");
    assert_eq!(rows[0], CSV_COLUMNS);
    assert_eq!(
        rows[1],
        [
            "m\"1", "seg/a,b", "12", "knn", "set4_72", "miou", "0.5", "0.25", "0.75"
        ]
    );
    assert_eq!(rows[3][1], "multi\nline");
    assert_eq!(rows[6][2], "[1,2]");
}

#[test]
fn report_write_puts_results_csv_next_to_results_json() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = results();
    r.experiments[1].metrics.remove("x"); // NaN does not survive JSON
    let files = write_report(dir.path(), &r).unwrap();
    assert_eq!(files.results_csv, dir.path().join("results.csv"));
    assert_eq!(
        files.results_csv.parent(),
        files.results_json.parent(),
        "next to results.json"
    );
    assert_eq!(
        std::fs::read_to_string(&files.results_csv).unwrap(),
        r.to_csv()
    );
    // Header + 2 + 2 + 1 records; each ends with \r\n (the \n inside "multi\nline" is data).
    assert_eq!(r.to_csv().matches("\r\n").count(), 6);
}
