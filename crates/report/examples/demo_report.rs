//! Writes a demonstration report (synthetic "ours" numbers next to the paper's) into a folder:
//! `cargo run -p patchlens-report --example demo_report -- /tmp/patchlens-demo`.

use patchlens_report::*;

fn model(zoo: &str, family: &str) -> ModelInfo {
    ModelInfo {
        zoo_name: zoo.into(),
        weights_sha256: None,
        family: family.into(),
    }
}

fn main() -> Result<(), ReportError> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "patchlens-demo".into());
    let mut timer = StageTimer::new();
    let mut run = RunInfo::collect(".", "demo", "cpu", 2);
    let mut results = Results::new(run.clone());
    let models = [
        ("sup_vit_b16", "sup_vit"),
        ("dino_vitb16", "dino"),
        ("dinov2_vitb14", "dinov2"),
        ("mae_vitb16", "mae"),
        ("simmim_vitb16", "simmim"),
    ];
    timer.time("build", || {
        for (i, (zoo, fam)) in models.iter().enumerate() {
            let wiggle = |x: f64| 0.01 * ((i as f64 + x) * 1.7).sin();
            // Segmentation with a CI.
            let mut seg = Experiment::new(
                format!("cityscapes/knn/set4_72/{zoo}"),
                ExperimentKind::Segmentation,
                model(zoo, fam),
            );
            let p =
                paper_lookup("cityscapes_knn_vs_linear_by_pool", "knn/set4_72", fam).unwrap_or(0.0);
            seg.metrics.insert("miou".into(), p + wiggle(0.0));
            seg.paper.insert(
                "miou".into(),
                PaperKey::new("cityscapes_knn_vs_linear_by_pool", "knn/set4_72", *fam),
            );
            let per_image: Vec<f64> = (0..30)
                .map(|k| p + 0.1 * ((k as f64) * 0.9 + i as f64).sin())
                .collect();
            seg.confidence_intervals.insert(
                "miou".into(),
                bootstrap_ci_mean(&per_image, 1000, 0).unwrap(),
            );
            if i == 2 {
                let (w, h) = (64u32, 32u32);
                let labels: Vec<u16> = (0..w * h)
                    .map(|k| ((k % w) / 8 + (k / w) / 8 * 3) as u16 % 19)
                    .collect();
                let png = label_map_png(&labels, w, h, &default_palette(19)).unwrap();
                seg.images.push(ImageArtifact {
                    title: "synthetic label map".into(),
                    caption: Some("19 classes, default palette".into()),
                    source: ImageSource::PngBase64 {
                        data: base64_encode(&png),
                    },
                });
            }
            results.experiments.push(seg);
            // Layer curve.
            let mut e = Experiment::new(
                format!("cityscapes/layers/{zoo}"),
                ExperimentKind::LayerSweep,
                model(zoo, fam),
            );
            let x: Vec<f64> = (1..=12).map(f64::from).collect();
            let y: Vec<f64> = x
                .iter()
                .map(|&l| {
                    paper_lookup("cityscapes_knn_layerwise", &format!("all/layer{l}"), fam)
                        .unwrap_or(0.0)
                        + wiggle(l)
                })
                .collect();
            let mut c = Curve::new("Cityscapes k-NN mIoU by layer", *fam, "layer", "mIoU", x, y);
            c.paper = Some(PaperKey::new(
                "cityscapes_knn_layerwise",
                "all/layer{x}",
                *fam,
            ));
            e.curves.push(c);
            // Variance spectrum.
            let spec: Vec<f64> = (0..768)
                .map(|d| {
                    (10.0 + 200.0 * i as f64) * (-(d as f64) / (40.0 + 30.0 * i as f64)).exp()
                        + 1e-3
                })
                .collect();
            e.curves.push(Curve {
                plot: Some(PlotKind::LogY),
                ..Curve::new(
                    "variance spectrum (layer 12)",
                    *fam,
                    "dimension (sorted)",
                    "variance",
                    (1..=768).map(f64::from).collect(),
                    spec,
                )
            });
            results.experiments.push(e);
            // Degradation scatter.
            let mut d = Experiment::new(
                format!("cityscapes/blur/{zoo}"),
                ExperimentKind::Degradation,
                model(zoo, fam),
            );
            let clean = paper_lookup("cityscapes_degradation_linear_layer12_approx", "clean", fam)
                .unwrap_or(0.0);
            let ys: Vec<f64> = [2, 4, 6, 8]
                .iter()
                .map(|b| {
                    paper_lookup(
                        "cityscapes_degradation_linear_layer12_approx",
                        &format!("blur/{b}"),
                        fam,
                    )
                    .unwrap_or(0.0)
                })
                .collect();
            let mut c = Curve::new(
                "linear probe under blur",
                *fam,
                "clean mIoU",
                "blurred mIoU",
                vec![clean; 4],
                ys,
            );
            c.point_labels = Some(vec!["2px".into(), "4px".into(), "6px".into(), "8px".into()]);
            d.curves.push(c);
            results.experiments.push(d);
        }
        // Removal sweep.
        let mut rm = Experiment::new(
            "cityscapes/removal/mae",
            ExperimentKind::VarianceRemoval,
            model("mae_vitb16", "mae"),
        );
        let ks = [
            0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 100.0, 200.0, 400.0, 600.0, 750.0,
        ];
        for probe in ["knn", "linear"] {
            let y: Vec<f64> = ks
                .iter()
                .map(|k| {
                    paper_lookup(
                        "cityscapes_mae_high_variance_removal",
                        &format!("{probe}/removed{k}"),
                        "mae",
                    )
                    .unwrap()
                        + 0.005
                })
                .collect();
            let mut c = Curve::new(
                "MAE: removing high-variance dimensions",
                probe,
                "dimensions removed",
                "mIoU",
                ks.to_vec(),
                y,
            );
            c.paper = Some(PaperKey::new(
                "cityscapes_mae_high_variance_removal",
                format!("{probe}/removed{{x}}"),
                "mae",
            ));
            rm.curves.push(c);
        }
        results.experiments.push(rm);
        // Retrieval bars and tracking.
        for fam in ["sup_vit", "dino", "dinov2", "mae", "mae_minus_200"] {
            let mut e = Experiment::new(
                format!("fair1m/rotation/{fam}"),
                ExperimentKind::Retrieval,
                model(fam, fam),
            );
            let deg = [5.0, 10.0, 15.0, 20.0];
            let y: Vec<f64> = deg
                .iter()
                .map(|d| {
                    paper_lookup(
                        "fair1m_instance_identification_rotation",
                        &format!("same_patch/rot{d}"),
                        fam,
                    )
                    .unwrap()
                })
                .collect();
            let mut c = Curve::new(
                "FAIR1M same-patch retrieval under rotation",
                fam,
                "rotation",
                "queries",
                deg.to_vec(),
                y,
            );
            c.point_labels = Some(deg.iter().map(|d| format!("{d}°")).collect());
            e.curves.push(c);
            results.experiments.push(e);
        }
        for fam in ["dino", "dinov2", "mae"] {
            let mut e = Experiment::new(
                format!("bdd/tracking/{fam}"),
                ExperimentKind::Tracking,
                model(fam, fam),
            );
            let deltas: Vec<f64> = (0..15).map(|k| (1 + 4 * k) as f64).collect();
            let y: Vec<f64> = deltas
                .iter()
                .map(|d| {
                    paper_lookup(
                        "bdd100k_tracking_same_instance",
                        &format!("full/delta{d}"),
                        fam,
                    )
                    .unwrap()
                        - 0.01
                })
                .collect();
            let mut c = Curve::new(
                "BDD100K same-instance tracking",
                format!("{fam} full"),
                "Δ (frames)",
                "accuracy",
                deltas,
                y.clone(),
            );
            c.y_lower = Some(y.iter().map(|v| v - 0.02).collect());
            c.y_upper = Some(y.iter().map(|v| v + 0.02).collect());
            c.paper = Some(PaperKey::new(
                "bdd100k_tracking_same_instance",
                "full/delta{x}",
                fam,
            ));
            e.curves.push(c);
            results.experiments.push(e);
        }
    });
    run.stages = timer.into_stages();
    run.update_peak_memory();
    results.run = run;
    let files = write_report(&dir, &results)?;
    println!(
        "wrote {} and {}",
        files.html.display(),
        files.markdown.display()
    );
    Ok(())
}
