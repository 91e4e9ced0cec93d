//! Rendering: the HTML parses and holds the expected tables, inline SVG and images; every SVG is
//! well-formed XML; the comparison table holds the paper's numbers.

use patchlens_report::*;
use quick_xml::events::Event;
use scraper::{Html, Selector};

fn model(zoo: &str, family: &str) -> ModelInfo {
    ModelInfo {
        zoo_name: zoo.into(),
        weights_sha256: None,
        family: family.into(),
    }
}

fn run() -> RunInfo {
    RunInfo {
        git_commit: None,
        date: "2025-01-31T12:00:00Z".into(),
        backend: "cpu".into(),
        device: "cpu <test & co>".into(),
        precision: "f32".into(),
        threads: 2,
        stages: vec![StageTiming {
            name: "embed".into(),
            seconds: 3.25,
        }],
        peak_memory_bytes: Some(100 << 20),
        extra: Default::default(),
    }
}

/// A run with one experiment of each kind.
fn results() -> Results {
    let mut r = Results::new(run());
    // Segmentation, linked to 0.494 (k-NN, set4_72, DINOv2), with a CI and a sample map.
    let mut seg = Experiment::new(
        "cityscapes/knn/set4_72",
        ExperimentKind::Segmentation,
        model("dinov2_vitb14", "dinov2"),
    );
    seg.metrics.insert("miou".into(), 0.5);
    seg.metrics.insert("pixel_acc".into(), 0.8);
    seg.paper.insert(
        "miou".into(),
        PaperKey::new("cityscapes_knn_vs_linear_by_pool", "knn/set4_72", "dinov2")
            .with_note("ours: 1-NN, dot product; paper: 1-NN, dot product"),
    );
    seg.paper.insert(
        "pixel_acc".into(),
        PaperKey::new(
            "cityscapes_knn_vs_linear_by_pool",
            "knn/nonexistent",
            "dinov2",
        ),
    );
    seg.confidence_intervals.insert(
        "miou".into(),
        bootstrap_ci_mean(&[0.4, 0.5, 0.6], 200, 0).unwrap(),
    );
    let png = label_map_png(&[0, 1, 2, 3], 2, 2, &default_palette(4)).unwrap();
    seg.images.push(ImageArtifact {
        title: "prediction <aachen>".into(),
        caption: Some("k-NN".into()),
        source: ImageSource::PngBase64 {
            data: base64_encode(&png),
        },
    });
    seg.images.push(ImageArtifact {
        title: "gt".into(),
        caption: None,
        source: ImageSource::File {
            path: "maps/gt.png".into(),
        },
    });
    r.experiments.push(seg);
    // Layer curves for two models, with paper overlays (12 matching points each).
    for (zoo, fam, y0) in [("dino_vitb16", "dino", 0.1), ("mae_vitb16", "mae", 0.02)] {
        let mut e = Experiment::new(
            format!("cityscapes/layers/{zoo}"),
            ExperimentKind::LayerSweep,
            model(zoo, fam),
        );
        let x: Vec<f64> = (1..=12).map(f64::from).collect();
        let y: Vec<f64> = x.iter().map(|l| y0 + 0.02 * l).collect();
        let mut c = Curve::new("k-NN mIoU by layer", fam, "layer", "mIoU", x, y);
        c.paper = Some(PaperKey::new(
            "cityscapes_knn_layerwise",
            "all/layer{x}",
            fam,
        ));
        e.curves.push(c);
        r.experiments.push(e);
    }
    // Variance spectrum (log y, includes a zero that must be skipped).
    let mut v = Experiment::new(
        "variance/mae",
        ExperimentKind::VarianceSpectrum,
        model("mae_vitb16", "mae"),
    );
    let y: Vec<f64> = (0..768)
        .map(|i| {
            if i == 767 {
                0.0
            } else {
                1000.0 * (-(i as f64) / 50.0).exp()
            }
        })
        .collect();
    v.curves.push(Curve::new(
        "variance spectrum",
        "mae",
        "dimension rank",
        "variance",
        (0..768).map(f64::from).collect(),
        y,
    ));
    r.experiments.push(v);
    // Removal sweep.
    let mut rm = Experiment::new(
        "removal/mae",
        ExperimentKind::VarianceRemoval,
        model("mae_vitb16", "mae"),
    );
    let ks = [0.0, 10.0, 200.0];
    let mut c = Curve::new(
        "removal",
        "k-NN",
        "removed dims",
        "mIoU",
        ks.to_vec(),
        vec![0.06, 0.17, 0.30],
    );
    c.paper = Some(PaperKey::new(
        "cityscapes_mae_high_variance_removal",
        "knn/removed{x}",
        "mae",
    ));
    rm.curves.push(c);
    r.experiments.push(rm);
    // Degradation scatter with point labels.
    let mut d = Experiment::new(
        "degradation/blur",
        ExperimentKind::Degradation,
        model("dino_vitb16", "dino"),
    );
    let mut c = Curve::new(
        "blur",
        "dino",
        "clean mIoU",
        "degraded mIoU",
        vec![0.38, 0.38],
        vec![0.3, 0.2],
    );
    c.point_labels = Some(vec!["2px".into(), "4px <&>".into()]);
    d.curves.push(c);
    r.experiments.push(d);
    // Retrieval bars, two models.
    for (zoo, fam, ys) in [
        ("dino_vitb16", "dino", [2100.0, 500.0]),
        ("mae_vitb16", "mae", [170.0, 30.0]),
    ] {
        let mut e = Experiment::new(
            format!("fair1m/{zoo}"),
            ExperimentKind::Retrieval,
            model(zoo, fam),
        );
        let mut c = Curve::new(
            "same patch under rotation",
            fam,
            "rotation",
            "queries",
            vec![5.0, 10.0],
            ys.to_vec(),
        );
        c.point_labels = Some(vec!["5°".into(), "10°".into()]);
        e.curves.push(c);
        r.experiments.push(e);
    }
    // Tracking per Δ with CI bars.
    let mut t = Experiment::new(
        "bdd/tracking",
        ExperimentKind::Tracking,
        model("dino_vitb16", "dino"),
    );
    let mut c = Curve::new(
        "tracking",
        "dino full",
        "Δ (frames)",
        "accuracy",
        vec![1.0, 5.0, 9.0],
        vec![0.95, 0.76, 0.64],
    );
    c.y_lower = Some(vec![0.93, 0.74, 0.6]);
    c.y_upper = Some(vec![0.97, 0.78, 0.68]);
    c.paper = Some(PaperKey::new(
        "bdd100k_tracking_same_instance",
        "full/delta{x}",
        "dino",
    ));
    t.curves.push(c);
    r.experiments.push(t);
    r
}

fn assert_well_formed_xml(svg: &str) {
    let mut reader = quick_xml::Reader::from_str(svg);
    let mut depth = 0i64;
    let mut elements = 0;
    loop {
        match reader.read_event() {
            Ok(Event::Start(_)) => {
                depth += 1;
                elements += 1;
            }
            Ok(Event::Empty(_)) => elements += 1,
            Ok(Event::End(_)) => depth -= 1,
            Ok(Event::Text(t)) => {
                t.decode().expect("text decodes");
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!(
                "SVG is not well-formed at {}: {e}",
                reader.buffer_position()
            ),
        }
        assert!(depth >= 0, "unbalanced SVG");
    }
    assert_eq!(depth, 0, "unclosed SVG elements");
    assert!(elements > 10, "suspiciously empty SVG");
}

#[test]
fn html_report_structure_and_values() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("maps")).unwrap();
    let gt_png = rgb_png(&[255, 0, 0], 1, 1).unwrap();
    std::fs::write(dir.path().join("maps/gt.png"), &gt_png).unwrap();
    let r = results();
    let files = write_report(dir.path(), &r).unwrap();

    let html = std::fs::read_to_string(&files.html).unwrap();
    let doc = Html::parse_document(&html);
    assert!(doc.errors.is_empty(), "HTML parse errors: {:?}", doc.errors);
    let sel = |s: &str| Selector::parse(s).unwrap();

    // One inline SVG per figure id: layers, spectrum, removal, blur, bars, tracking.
    let svgs: Vec<_> = doc.select(&sel("figure.plot > svg")).collect();
    assert_eq!(svgs.len(), 6);
    assert_eq!(files.plots.len(), 6);
    for p in &files.plots {
        assert_well_formed_xml(&std::fs::read_to_string(p).unwrap());
    }
    // Bars are drawn as rects, lines as polylines, and axis text is SVG text.
    assert!(doc.select(&sel("svg rect")).count() > 8);
    assert!(doc.select(&sel("svg polyline")).count() >= 5);
    assert!(doc.select(&sel("svg text")).count() > 30);

    // Run table and stages.
    let run_cells: Vec<String> = doc
        .select(&sel("table.run td"))
        .map(|td| td.text().collect())
        .collect();
    assert!(
        run_cells.contains(&"cpu <test & co>".to_string()),
        "{run_cells:?}"
    );
    assert!(run_cells.contains(&"100.0 MiB".to_string()));
    assert_eq!(doc.select(&sel("table.stages tr")).count(), 2);

    // Comparison table: 1 metric + 2×12 layers + 3 removal points + 3 tracking points.
    let rows: Vec<Vec<String>> = doc
        .select(&sel("table.comparison tr"))
        .skip(1)
        .map(|tr| {
            tr.select(&sel("td"))
                .map(|td| td.text().collect())
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), 1 + 24 + 3 + 3);
    assert_eq!(
        rows[0],
        [
            "cityscapes/knn/set4_72",
            "dinov2_vitb14",
            "miou",
            "0.5000",
            "0.4940",
            "+0.0060",
            "ours: 1-NN, dot product; paper: 1-NN, dot product"
        ]
    );
    // Layer 12 of DINO: ours 0.1 + 0.24 = 0.34, paper 0.345.
    let l12 = rows
        .iter()
        .find(|r| r[0] == "cityscapes/layers/dino_vitb16" && r[2] == "dino @ layer = 12")
        .unwrap();
    assert_eq!(&l12[3..], ["0.3400", "0.3450", "-0.0050", ""]);
    // Removal of 200 dims: paper 0.295.
    assert!(
        rows.iter()
            .any(|r| r[2] == "k-NN @ removed dims = 200" && r[4] == "0.2950")
    );
    // Tracking Δ = 9: paper 0.645.
    assert!(
        rows.iter()
            .any(|r| r[2] == "dino full @ Δ (frames) = 9" && r[4] == "0.6450")
    );
    // The overview per paper experiment, before the (folded) full table: 1 + 24 + 3 + 3 points.
    let overview: Vec<Vec<String>> = doc
        .select(&sel("table.paper-overview tr"))
        .skip(1)
        .map(|tr| {
            tr.select(&sel("td"))
                .map(|td| td.text().collect())
                .collect()
        })
        .collect();
    let points: Vec<(&str, &str)> = overview
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str()))
        .collect();
    assert_eq!(
        points,
        [
            ("cityscapes_knn_vs_linear_by_pool", "1"),
            ("cityscapes_knn_layerwise", "24"),
            ("cityscapes_mae_high_variance_removal", "3"),
            ("bdd100k_tracking_same_instance", "3")
        ]
    );
    assert_eq!(overview[0][2..], ["+0.0060", "0.0060", "0.0060"]);
    assert_eq!(
        doc.select(&sel("details.comparison > table.comparison"))
            .count(),
        1,
        "31 rows are folded"
    );
    // The unmatched key is listed.
    assert!(html.contains("knn/nonexistent"));

    // Metrics tables: CI shown for miou.
    assert_eq!(doc.select(&sel("table.metrics")).count(), 1);
    let metric_rows: Vec<String> = doc
        .select(&sel("table.metrics tr"))
        .map(|tr| tr.text().collect())
        .collect();
    assert!(
        metric_rows.iter().any(|t| t.starts_with("miou0.5000[")),
        "{metric_rows:?}"
    );

    // Sample images are embedded as PNG data URIs (the file one included).
    let imgs: Vec<_> = doc.select(&sel("img.sample")).collect();
    assert_eq!(imgs.len(), 2);
    for img in &imgs {
        assert!(
            img.value()
                .attr("src")
                .unwrap()
                .starts_with("data:image/png;base64,iVBORw0KGgo")
        );
    }
    assert_eq!(
        imgs[1].value().attr("src").unwrap(),
        format!("data:image/png;base64,{}", base64_encode(&gt_png))
    );
    // Self-contained: no external references.
    assert!(doc.select(&sel("link, script")).next().is_none());

    // Markdown links the same plots and holds the comparison table.
    let md = std::fs::read_to_string(&files.markdown).unwrap();
    for p in &files.plots {
        assert!(md.contains(&format!(
            "(plots/{})",
            p.file_name().unwrap().to_str().unwrap()
        )));
    }
    assert!(
        md.contains(
            "| cityscapes/knn/set4_72 | dinov2_vitb14 | miou | 0.5000 | 0.4940 | +0.0060 |"
        )
    );
    assert!(
        Results::load(&files.results_json).unwrap() == r,
        "results.json round trip"
    );
}

#[test]
fn figures_follow_experiment_kinds_and_paper_overlays() {
    let r = results();
    let figs = build_figures(&r, paper()).unwrap();
    let kinds: Vec<(String, PlotKind, usize)> = figs
        .iter()
        .map(|f| (f.title.clone(), f.kind, f.series.len()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("k-NN mIoU by layer".into(), PlotKind::Line, 4),
            ("variance spectrum".into(), PlotKind::LogY, 1),
            ("removal".into(), PlotKind::Line, 2),
            ("blur".into(), PlotKind::Scatter, 1),
            ("same patch under rotation".into(), PlotKind::Bars, 2),
            ("tracking".into(), PlotKind::Line, 2),
        ]
    );
    let paper_series = &figs[0].series[1];
    assert!(paper_series.dashed && paper_series.label == "dino (paper)");
    assert_eq!(paper_series.points[11], (12.0, 0.345));
    assert_eq!(paper_series.color, figs[0].series[0].color);
}

#[test]
fn svg_escapes_text_and_handles_degenerate_data() {
    let fig = Figure {
        title: "a <b> & \"c\"".into(),
        kind: PlotKind::Line,
        x_label: "x <".into(),
        y_label: "y &".into(),
        series: vec![Series {
            label: "s <&>".into(),
            points: vec![(1.0, 2.0), (1.0, 2.0), (f64::NAN, 1.0)],
            error_bars: None,
            point_labels: Some(vec!["p<".into(), "q&".into(), "r".into()]),
            dashed: false,
            color: 0,
        }],
    };
    for kind in [
        PlotKind::Line,
        PlotKind::LogY,
        PlotKind::Scatter,
        PlotKind::Bars,
    ] {
        let svg = render_svg(&Figure {
            kind,
            ..fig.clone()
        })
        .unwrap();
        assert_well_formed_xml(&svg);
    }
    let empty = Figure {
        series: vec![],
        ..fig
    };
    let svg = render_svg(&empty).unwrap();
    assert!(svg.contains("no finite data"));
}

#[test]
fn bad_curve_and_missing_image_are_errors() {
    let mut r = results();
    r.experiments[1].curves[0].y.pop();
    assert!(matches!(
        Report::build(&r, "."),
        Err(ReportError::BadCurve { .. })
    ));
    let r = results();
    let dir = tempfile::tempdir().unwrap();
    let report = Report::build(&r, dir.path()).unwrap();
    assert!(
        matches!(report.html(), Err(ReportError::Io { .. })),
        "maps/gt.png is missing"
    );
}

/// A failed load names the file once and exposes the I/O or JSON error as its cause (each cause printed
/// once along the chain).
#[test]
fn load_errors_print_each_cause_once() {
    let d = tempfile::tempdir().unwrap();
    let missing = d.path().join("absent/results.json");
    let e = patchlens_report::Results::load(&missing).unwrap_err();
    patchlens_testutil::assert_each_cause_once(&e, 2);
    let chain = patchlens_testutil::error_chain(&e);
    assert!(chain[0].contains("absent/results.json"), "{chain:?}");
    let bad = d.path().join("bad.json");
    std::fs::write(&bad, "{ not json").unwrap();
    let e = patchlens_report::Results::load(&bad).unwrap_err();
    patchlens_testutil::assert_each_cause_once(&e, 2);
    assert_eq!(
        patchlens_testutil::error_chain(&e)[0],
        format!("cannot parse results file {}", bad.display())
    );
}
