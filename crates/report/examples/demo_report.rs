//! Writes a demonstration report (synthetic "ours" numbers next to the paper's) into a folder:
//! `cargo run -p patchlens-report --example demo_report -- /tmp/patchlens-demo`.
//!
//! The experiments are shaped like the ones `cargo xtask reproduce` writes: the same name patterns
//! (`<dataset>/<probe>/<split>/<model>/layer<l>`, `variance_spectrum/…`, `identification/…`, …), the
//! same metric names and protocols of the same shape (image id lists, a linear probe's record with its
//! per-epoch history, 768-long variance arrays), so the report looks as it does on a real run.

use patchlens_report::*;
use serde_json::json;

fn model(zoo: &str, family: &str) -> ModelInfo {
    ModelInfo {
        zoo_name: zoo.into(),
        weights_sha256: Some(format!("{:064x}", zoo.len() * 7919)),
        family: family.into(),
    }
}

const CLASSES: [&str; 19] = [
    "road",
    "sidewalk",
    "building",
    "wall",
    "fence",
    "pole",
    "traffic light",
    "traffic sign",
    "vegetation",
    "terrain",
    "sky",
    "person",
    "rider",
    "car",
    "truck",
    "bus",
    "train",
    "motorcycle",
    "bicycle",
];

/// A linear probe's record as `patchlens_probe` reports it (config, best epoch, per-epoch history).
fn linear_record(seed: f64, batch_norm: bool) -> serde_json::Value {
    let history: Vec<serde_json::Value> = (1..=20)
        .map(|ep| {
            let t = ep as f64;
            json!({
                "epoch": ep,
                "train_loss": 0.55 + 1.9 * (-t / 4.0).exp() + 0.01 * (t * seed).sin(),
                "selection": {"loss": 0.7 + 1.7 * (-t / 5.0).exp() + 0.004 * (t - 12.0).powi(2) / 10.0,
                              "accuracy": 0.55 + 0.3 * (1.0 - (-t / 5.0).exp()), "n": 4148},
            })
        })
        .collect();
    json!({
        "config": {"n_classes": 34, "lr": 0.001, "epochs": 20, "batch_size": 1024, "seed": 0,
                   "batch_norm": batch_norm, "bn_eps": 1e-6, "bn_momentum": 0.1, "weight_decay": 0.0,
                   "ignore_label": null, "selection": {"HeldOut": {"fraction": 0.1, "seed": 0}},
                   "selection_metric": "Loss"},
        "best_epoch": 14,
        "n_train": 37336,
        "n_selection": 4148,
        "n_ignored": 0,
        "history": history,
        "feature_transform": "none",
    })
}

fn main() -> Result<(), ReportError> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "patchlens-demo".into());
    let mut timer = StageTimer::new();
    let mut run = RunInfo::collect(".", "demo", "cpu", 2);
    let mut results = Results::new(run.clone());
    let models = [
        ("sup_vitb16_torchvision", "sup_vit"),
        ("dino_vitb16", "dino"),
        ("dinov2_vitb14", "dinov2"),
        ("mae_vitb16", "mae"),
        ("simmim_vitb16", "simmim"),
    ];
    let train_ids: Vec<String> = (0..72)
        .map(|i| format!("aachen_{:06}_000019", i * 3))
        .collect();
    let test_ids: Vec<String> = (0..30)
        .map(|i| format!("frankfurt_{:06}_000294", i * 7))
        .collect();
    let tile_spec = json!({"tile": 224, "stride": 224, "resize": null, "patch": 16});
    timer.time("build", || {
        for (i, (zoo, fam)) in models.iter().enumerate() {
            let wiggle = |x: f64| 0.01 * ((i as f64 + x) * 1.7).sin();
            // Segmentation: k-NN and linear probe, layer 12, with a CI, per-class IoU and a protocol.
            for probe in ["knn", "linear"] {
                let mut seg = Experiment::new(
                    format!("cityscapes/{probe}/set4_72/{zoo}/layer12"),
                    ExperimentKind::Segmentation,
                    model(zoo, fam),
                );
                let p = paper_lookup(
                    "cityscapes_knn_vs_linear_by_pool",
                    &format!("{probe}/set4_72"),
                    fam,
                )
                .unwrap_or(0.0);
                seg.metrics.insert("miou".into(), p + wiggle(0.0));
                seg.metrics.insert("pixel_accuracy".into(), 0.6 + p * 0.5);
                seg.metrics.insert("patch_accuracy".into(), 0.55 + p * 0.5);
                seg.metrics.insert("miou_easy".into(), p + 0.2);
                seg.metrics.insert("miou_hard".into(), p * 0.4);
                for (c, name) in CLASSES.iter().enumerate() {
                    let v = paper_lookup(
                        "cityscapes_per_class_iou_layer12",
                        &format!("{probe}/{name}"),
                        fam,
                    )
                    .unwrap_or(p * (1.0 + 0.5 * (c as f64).sin()).clamp(0.0, 1.0));
                    seg.metrics.insert(format!("per_class_iou/{name}"), v);
                }
                seg.paper.insert(
                    "miou".into(),
                    PaperKey::new(
                        "cityscapes_knn_vs_linear_by_pool",
                        format!("{probe}/set4_72"),
                        *fam,
                    ),
                );
                let per_image: Vec<f64> = (0..30)
                    .map(|k| p + 0.1 * ((k as f64) * 0.9 + i as f64).sin())
                    .collect();
                seg.confidence_intervals.insert(
                    "miou".into(),
                    bootstrap_ci_mean(&per_image, 1000, 0).unwrap(),
                );
                let mut proto = serde_json::Map::new();
                proto.insert("dataset".into(), "cityscapes".into());
                proto.insert("data_root".into(), "/data/cityscapes".into());
                proto.insert("train_split".into(), "set4_72".into());
                proto.insert("test_split".into(), "val30".into());
                proto.insert("train_images".into(), 72.into());
                proto.insert("train_ids".into(), json!(train_ids));
                proto.insert("test_ids".into(), json!(test_ids));
                proto.insert("test_images".into(), 30.into());
                proto.insert("gallery_patches".into(), 41484.into());
                proto.insert("query_patches".into(), 17280.into());
                proto.insert("layer".into(), 12.into());
                proto.insert("feature_dim".into(), 768.into());
                proto.insert("tile_spec".into(), tile_spec.clone());
                proto.insert("label_space".into(), "cityscapes".into());
                proto.insert("probe".into(), probe.into());
                if probe == "linear" {
                    proto.insert(
                        "linear".into(),
                        linear_record(i as f64 + 1.0, *fam == "mae"),
                    );
                } else {
                    proto.insert(
                        "knn".into(),
                        json!({"k": 1, "similarity": "dot", "chunk": 4096}),
                    );
                }
                proto.insert(
                    "timings_s".into(),
                    json!({"encode": 41.2, "probe": 3.7, "eval": 1.1}),
                );
                seg.protocol = proto;
                if i == 2 && probe == "knn" {
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
            }
            // Layer sweep.
            let mut e = Experiment::new(
                format!("cityscapes_layers/knn/{zoo}"),
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
            for (l, v) in x.iter().zip(&y) {
                e.metrics.insert(format!("all/layer{l}"), *v);
            }
            let mut c = Curve::new("Cityscapes k-NN mIoU by layer", *zoo, "layer", "mIoU", x, y);
            c.paper = Some(PaperKey::new(
                "cityscapes_knn_layerwise",
                "all/layer{x}",
                *fam,
            ));
            e.curves.push(c);
            e.protocol.insert("train_split".into(), "set4_72".into());
            e.protocol.insert("test_split".into(), "val30".into());
            e.protocol
                .insert("layers".into(), json!((1..=12).collect::<Vec<_>>()));
            results.experiments.push(e);
            // Variance spectrum.
            let spec: Vec<f64> = (0..768)
                .map(|d| {
                    (10.0 + 200.0 * i as f64) * (-(d as f64) / (40.0 + 30.0 * i as f64)).exp()
                        + 1e-3
                })
                .collect();
            let total: f64 = spec.iter().sum();
            let mut v = Experiment::new(
                format!("variance_spectrum/cityscapes/set4_72/{zoo}/layer12"),
                ExperimentKind::VarianceSpectrum,
                model(zoo, fam),
            );
            v.metrics.insert("variance_max".into(), spec[0]);
            v.metrics.insert("variance_total".into(), total);
            for n in [10usize, 50, 200] {
                v.metrics.insert(
                    format!("variance_share_top{n}"),
                    spec[..n].iter().sum::<f64>() / total,
                );
            }
            v.protocol
                .insert("order".into(), json!((0..768).rev().collect::<Vec<_>>()));
            v.protocol.insert("sorted_variance".into(), json!(spec));
            v.protocol.insert(
                "variance".into(),
                "population variance (ddof = 0) per dimension over all train patches".into(),
            );
            v.protocol.insert("layer".into(), 12.into());
            v.protocol.insert("train_split".into(), "set4_72".into());
            v.curves.push(Curve {
                plot: Some(PlotKind::LogY),
                ..Curve::new(
                    "variance spectrum (layer 12)",
                    *zoo,
                    "dimension (sorted)",
                    "variance",
                    (1..=768).map(f64::from).collect(),
                    spec.clone(),
                )
            });
            results.experiments.push(v);
            // Degradation.
            let mut d = Experiment::new(
                format!("cityscapes_degradation/linear/{zoo}/layer12"),
                ExperimentKind::Degradation,
                model(zoo, fam),
            );
            let clean = paper_lookup("cityscapes_degradation_linear_layer12_approx", "clean", fam)
                .unwrap_or(0.0);
            d.metrics.insert("clean".into(), clean);
            let ys: Vec<f64> = [2, 4, 6, 8]
                .iter()
                .map(|b| {
                    let y = paper_lookup(
                        "cityscapes_degradation_linear_layer12_approx",
                        &format!("blur/{b}"),
                        fam,
                    )
                    .unwrap_or(0.0);
                    d.metrics.insert(format!("blur/{b}"), y);
                    y
                })
                .collect();
            let mut c = Curve::new(
                "linear probe under blur",
                *zoo,
                "clean mIoU",
                "blurred mIoU",
                vec![clean; 4],
                ys,
            );
            c.point_labels = Some(vec!["2px".into(), "4px".into(), "6px".into(), "8px".into()]);
            d.curves.push(c);
            d.protocol.insert("layer".into(), 12.into());
            d.protocol.insert("probe".into(), "linear".into());
            d.protocol.insert("train_split".into(), "set4_72".into());
            d.protocol.insert("kinds".into(), json!(["blur"]));
            d.protocol.insert("levels".into(), json!([1, 2, 3, 4]));
            d.protocol.insert(
                "level_parameters".into(),
                json!({"blur": "cv2.blur k×k, k = 2/4/6/8"}),
            );
            results.experiments.push(d);
        }
        // Removal sweep.
        let mut rm = Experiment::new(
            "variance_removal/cityscapes/set4_72/mae_vitb16/layer12",
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
            for (k, v) in ks.iter().zip(&y) {
                rm.metrics.insert(format!("{probe}_miou/remove{k}"), *v);
            }
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
        rm.protocol.insert("layer".into(), 12.into());
        rm.protocol.insert("train_split".into(), "set4_72".into());
        rm.protocol.insert("sweep".into(), json!(ks));
        rm.protocol
            .insert("knn".into(), json!({"k": 1, "similarity": "dot"}));
        rm.protocol
            .insert("linear".into(), linear_record(9.0, true));
        results.experiments.push(rm);
        // Retrieval bars and tracking.
        for (zoo, fam) in [
            ("sup_vitb16_torchvision", "sup_vit"),
            ("dino_vitb16", "dino"),
            ("dinov2_vitb14", "dinov2"),
            ("mae_vitb16", "mae"),
        ] {
            let mut e = Experiment::new(
                format!("identification/fair1m/{zoo}/layer12"),
                ExperimentKind::Retrieval,
                model(zoo, fam),
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
            for (d, v) in deg.iter().zip(&y) {
                e.metrics.insert(format!("rotate/{d}/same_patch"), *v);
                e.metrics
                    .insert(format!("rotate/{d}/same_patch_rate"), v / 3000.0);
                e.metrics
                    .insert(format!("rotate/{d}/retrieval/same_patch_rate"), v / 2500.0);
                e.metrics.insert(format!("rotate/{d}/queries"), 3000.0);
            }
            let mut c = Curve::new(
                "FAIR1M same-patch retrieval under rotation",
                zoo,
                "rotation",
                "queries",
                deg.to_vec(),
                y,
            );
            c.point_labels = Some(deg.iter().map(|d| format!("{d}°")).collect());
            e.curves.push(c);
            e.protocol.insert("layer".into(), 12.into());
            e.protocol.insert("dataset".into(), "fair1m".into());
            e.protocol.insert(
                "transforms".into(),
                json!(
                    deg.iter()
                        .map(|d| format!("rotate/{d}"))
                        .collect::<Vec<_>>()
                ),
            );
            results.experiments.push(e);
        }
        for (zoo, fam) in [
            ("dino_vitb16", "dino"),
            ("dinov2_vitb14", "dinov2"),
            ("mae_vitb16", "mae"),
        ] {
            let mut e = Experiment::new(
                format!("bdd100k/tracking/full/{zoo}/layer12"),
                ExperimentKind::Tracking,
                model(zoo, fam),
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
            for (d, v) in deltas.iter().zip(&y) {
                e.metrics.insert(format!("same_instance.delta{d}"), *v);
            }
            e.metrics.insert(
                "same_instance_mean".into(),
                y.iter().sum::<f64>() / y.len() as f64,
            );
            let mut c = Curve::new(
                "BDD100K same-instance tracking",
                format!("{zoo} full"),
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
            e.protocol.insert("dataset".into(), "bdd100k".into());
            e.protocol.insert("split".into(), "val".into());
            e.protocol.insert("layer".into(), 12.into());
            e.protocol.insert(
                "videos".into(),
                json!(
                    (0..40)
                        .map(|v| format!("b1c{v:02}-6f4ab1c2"))
                        .collect::<Vec<_>>()
                ),
            );
            results.experiments.push(e);
            let mut p = Experiment::new(
                format!("davis/davis2017/propagation/{zoo}/layer12"),
                ExperimentKind::Other,
                model(zoo, fam),
            );
            let jf = 0.45 + 0.1 * (fam.len() as f64).sin();
            p.metrics.insert("jf_mean".into(), jf);
            p.metrics.insert("j_mean".into(), jf - 0.02);
            p.metrics.insert("f_mean".into(), jf + 0.02);
            p.protocol.insert("dataset".into(), "davis2017".into());
            p.protocol.insert("split".into(), "val".into());
            p.protocol.insert("layer".into(), 12.into());
            p.protocol.insert(
                "propagation".into(),
                json!({"topk": 5, "radius": 12, "context": 7, "temperature": 0.01}),
            );
            results.experiments.push(p);
        }
    });
    run.stages = timer.into_stages();
    run.update_peak_memory();
    results.run = run;
    let files = write_report(&dir, &results)?;
    println!(
        "wrote {}, {} and {}",
        files.html.display(),
        files.markdown.display(),
        files.results_csv.display()
    );
    Ok(())
}
