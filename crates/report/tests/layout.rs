//! The report's reading order and its parts: headline metrics and families, the summary table, the
//! protocol key/value rows with training histories drawn as loss curves.

use patchlens_report::*;
use quick_xml::events::Event;
use scraper::{Html, Selector};
use serde_json::json;

fn model(zoo: &str) -> ModelInfo {
    ModelInfo {
        zoo_name: zoo.into(),
        weights_sha256: None,
        family: zoo.split('_').next().unwrap().into(),
    }
}

fn ci(lower: f64, upper: f64) -> ConfidenceInterval {
    ConfidenceInterval {
        estimate: (lower + upper) / 2.0,
        lower,
        upper,
        level: 0.95,
        n_resamples: 100,
        seed: 0,
        method: "test".into(),
    }
}

fn exp(name: &str, kind: ExperimentKind, zoo: &str, metrics: &[(&str, f64)]) -> Experiment {
    let mut e = Experiment::new(name, kind, model(zoo));
    for (k, v) in metrics {
        e.metrics.insert((*k).into(), *v);
    }
    e
}

/// A linear probe's record: three epochs, the last without a selection evaluation.
fn linear_record() -> serde_json::Value {
    json!({
        "config": {"lr": 0.001, "selection": {"HeldOut": {"fraction": 0.1, "seed": 0}}},
        "best_epoch": 2,
        "history": [
            {"epoch": 1, "train_loss": 2.0, "selection": {"loss": 1.5, "accuracy": 0.5, "n": 10}},
            {"epoch": 2, "train_loss": 1.0, "selection": {"loss": 1.25, "accuracy": 0.6, "n": 10}},
            {"epoch": 3, "train_loss": 0.5, "selection": null},
        ],
    })
}

fn results() -> Results {
    let mut r = Results::new(RunInfo {
        git_commit: Some("abc".into()),
        date: "2025-01-31T12:00:00Z".into(),
        backend: "cpu".into(),
        device: "cpu".into(),
        precision: "f32".into(),
        threads: 1,
        stages: vec![],
        peak_memory_bytes: None,
        extra: Default::default(),
    });
    use ExperimentKind::*;
    let mut seg = exp(
        "cityscapes/linear/set4_72/dino_vitb16/layer12",
        Segmentation,
        "dino_vitb16",
        &[("miou", 0.4), ("pixel_accuracy", 0.8)],
    );
    seg.confidence_intervals
        .insert("miou".into(), ci(0.35, 0.45));
    seg.protocol.insert("layer".into(), 12.into());
    seg.protocol.insert("probe".into(), "linear".into());
    seg.protocol.insert(
        "train_ids".into(),
        json!((0..72).map(|i| format!("img{i}")).collect::<Vec<_>>()),
    );
    seg.protocol.insert("linear".into(), linear_record());
    let mut c = Curve::new("fig", "dino", "x", "y", vec![1.0, 2.0], vec![0.1, 0.2]);
    c.plot = Some(PlotKind::Line);
    seg.curves.push(c);
    r.experiments.push(seg);
    r.experiments.push(exp(
        "cityscapes/linear/set4_72/mae_vitb16/layer12",
        Segmentation,
        "mae_vitb16",
        &[("miou", 0.1)],
    ));
    // A summary experiment without `miou`: no headline, not in the summary.
    r.experiments.push(exp(
        "c1/summary/dino_vitb16",
        Segmentation,
        "dino_vitb16",
        &[("knn/set4_72", 0.3)],
    ));
    r.experiments.push(exp(
        "layers/knn/dino_vitb16",
        LayerSweep,
        "dino_vitb16",
        &[
            ("all/layer1", 0.2),
            ("all/layer2", 0.5),
            ("all/layer10", 0.3),
            ("easy/layer3", 0.9),
        ],
    ));
    r.experiments.push(exp(
        "identification/fair1m/dino_vitb16/layer12",
        Retrieval,
        "dino_vitb16",
        &[
            ("rotate/5/same_patch_rate", 0.25),
            ("rotate/10/same_patch_rate", 0.5),
            ("rotate/5/retrieval/same_patch_rate", 0.9),
            ("rotate/5/same_patch", 100.0),
        ],
    ));
    r.experiments.push(exp(
        "variance_spectrum/c/set4_72/mae_vitb16/layer12",
        VarianceSpectrum,
        "mae_vitb16",
        &[("variance_share_top10", 0.75), ("variance_total", 10.0)],
    ));
    let mut rm = exp(
        "variance_removal/c/set4_72/mae_vitb16/layer12",
        VarianceRemoval,
        "mae_vitb16",
        &[("knn_miou/remove0", 0.0625), ("knn_miou/remove10", 0.2)],
    );
    rm.confidence_intervals
        .insert("knn_miou/remove0".into(), ci(0.05, 0.07));
    r.experiments.push(rm);
    r.experiments.push(exp(
        "c/degradation/linear/mae_vitb16/layer12",
        Degradation,
        "mae_vitb16",
        &[("clean", 0.375), ("blur/2", 0.25)],
    ));
    r.experiments.push(exp(
        "bdd/tracking/full/dino_vitb16/layer12",
        Tracking,
        "dino_vitb16",
        &[("same_instance_mean", 0.7), ("same_instance.delta1", 0.9)],
    ));
    r.experiments.push(exp(
        "davis/davis2017/propagation/dino_vitb16/layer12",
        Other,
        "dino_vitb16",
        &[("jf_mean", 0.6), ("j_mean", 0.55)],
    ));
    // Another "other" experiment without jf_mean: no headline.
    r.experiments
        .push(exp("findings", Other, "dino_vitb16", &[("claims", 3.0)]));
    r
}

#[test]
fn headline_per_kind() {
    let r = results();
    type H = Option<(String, f64, Option<(f64, f64)>, usize)>;
    let h: Vec<H> = r
        .experiments
        .iter()
        .map(|e| headline(e).map(|h| (h.metric, h.value, h.ci, h.averaged)))
        .collect();
    assert_eq!(h[0], Some(("miou".into(), 0.4, Some((0.35, 0.45)), 1)));
    assert_eq!(h[1], Some(("miou".into(), 0.1, None, 1)));
    assert_eq!(h[2], None, "no miou");
    assert_eq!(
        h[3],
        Some(("all/layer2".into(), 0.5, None, 1)),
        "best layer, not easy/"
    );
    // (0.25 + 0.5) / 2; the retrieval/ rate and the raw count are left out.
    assert_eq!(
        h[4],
        Some((
            "mean of */same_patch_rate (not retrieval/)".into(),
            0.375,
            None,
            2
        ))
    );
    assert_eq!(h[5], Some(("variance_share_top10".into(), 0.75, None, 1)));
    assert_eq!(
        h[6],
        Some(("knn_miou/remove0".into(), 0.0625, Some((0.05, 0.07)), 1))
    );
    assert_eq!(h[7], Some(("clean".into(), 0.375, None, 1)));
    assert_eq!(h[8], Some(("same_instance_mean".into(), 0.7, None, 1)));
    assert_eq!(h[9], Some(("jf_mean".into(), 0.6, None, 1)));
    assert_eq!(h[10], None);
    // A non-finite headline metric counts as absent.
    let e = exp(
        "x",
        ExperimentKind::Segmentation,
        "m",
        &[("miou", f64::NAN)],
    );
    assert_eq!(headline(&e), None);
}

#[test]
fn families_drop_the_model_segment() {
    let r = results();
    let fam: Vec<String> = r.experiments.iter().map(experiment_family).collect();
    assert_eq!(fam[0], "cityscapes/linear/set4_72/layer12");
    assert_eq!(fam[1], "cityscapes/linear/set4_72/layer12");
    assert_eq!(fam[3], "layers/knn");
    assert_eq!(fam[10], "findings", "no model segment: the name itself");
    // Only a whole segment is the model: `dino_vitb16x` is not `dino_vitb16`.
    let e = exp(
        "a/dino_vitb16x/b",
        ExperimentKind::Other,
        "dino_vitb16",
        &[],
    );
    assert_eq!(experiment_family(&e), "a/dino_vitb16x/b");
}

#[test]
fn summary_tables_group_by_kind_family_and_model() {
    let r = results();
    let t = summary_tables(&r);
    let kinds: Vec<ExperimentKind> = t.iter().map(|t| t.kind).collect();
    use ExperimentKind::*;
    assert_eq!(
        kinds,
        [
            Segmentation,
            LayerSweep,
            Retrieval,
            VarianceSpectrum,
            VarianceRemoval,
            Degradation,
            Tracking,
            Other
        ]
    );
    let seg = &t[0];
    assert_eq!(seg.families, ["cityscapes/linear/set4_72/layer12"]);
    assert_eq!(seg.models, ["dino_vitb16", "mae_vitb16"]);
    assert_eq!(seg.cells[0][0].len(), 1);
    assert_eq!(seg.cells[0][0][0].experiment, 0);
    assert_eq!(seg.cells[1][0][0].experiment, 1);
    assert_eq!(seg.cells[1][0][0].headline.value, 0.1);
    assert_eq!(t[7].models, ["dino_vitb16"], "findings has no headline");
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

fn text(e: scraper::ElementRef<'_>) -> String {
    e.text().collect()
}

#[test]
fn html_puts_summary_and_figures_first() {
    let r = results();
    let report = Report::build(&r, ".").unwrap();
    let html = report.html().unwrap();
    let doc = Html::parse_document(&html);
    assert!(doc.errors.is_empty(), "{:?}", doc.errors);
    // Reading order.
    let pos = |id: &str| {
        html.find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no #{id}"))
    };
    assert!(html.find("<h1>patchlens report</h1>\n").unwrap() < pos("summary"));
    assert!(pos("summary") < pos("figures"));
    assert!(pos("figures") < pos("experiments"));
    assert!(pos("experiments") < pos("run"));

    // One summary table: a kind header row, a family row, one row per model (dino, mae).
    let rows: Vec<_> = doc.select(&sel("table.summary tr")).collect();
    assert_eq!(rows.len(), 4);
    let kinds: Vec<String> = rows[0].select(&sel("th.kind")).map(text).collect();
    assert_eq!(kinds.len(), 8);
    assert_eq!(kinds[0], "segmentationmiou");
    assert_eq!(
        kinds[2],
        "retrievalmean of */same_patch_rate (not retrieval/)"
    );
    let fams: Vec<String> = rows[1].select(&sel("th.family")).map(text).collect();
    assert_eq!(fams[0], "cityscapes/linear/set4_72/layer12");
    let dino: Vec<String> = rows[2].select(&sel("th, td")).map(text).collect();
    assert_eq!(
        dino,
        [
            "dino_vitb16",
            "0.400[0.350, 0.450]",
            "0.500",
            "0.375",
            "–",
            "–",
            "–",
            "0.700",
            "0.600"
        ]
    );
    let mae: Vec<String> = rows[3].select(&sel("th, td")).map(text).collect();
    assert_eq!(
        mae,
        [
            "mae_vitb16",
            "0.100",
            "–",
            "–",
            "0.750",
            "0.062[0.050, 0.070]",
            "0.375",
            "–",
            "–"
        ]
    );
    // Every summary number links to its experiment's section.
    let links: Vec<_> = doc.select(&sel("table.summary a")).collect();
    assert_eq!(links.len(), 9, "5 dino cells + 4 mae cells");
    for a in links {
        let id = a.value().attr("href").unwrap().trim_start_matches('#');
        let section = doc
            .select(&sel(&format!("section.experiment[id=\"{id}\"]")))
            .next()
            .unwrap_or_else(|| panic!("no section #{id}"));
        let name = text(section.select(&sel("h3")).next().unwrap());
        assert!(a.value().attr("title").unwrap().starts_with(&name));
    }
    // Section ids are unique.
    let mut ids: Vec<&str> = doc
        .select(&sel("section.experiment"))
        .map(|s| s.value().attr("id").unwrap())
        .collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n);
}

#[test]
fn protocol_rows_flatten_summarise_and_find_histories() {
    let mut p = serde_json::Map::new();
    p.insert("layer".into(), 12.into());
    p.insert("kinds".into(), json!(["blur", "noise"]));
    p.insert("empty".into(), json!({}));
    p.insert("notes".into(), "a, b".into());
    p.insert("tile_spec".into(), json!({"tile": 224, "resize": null}));
    p.insert(
        "train_ids".into(),
        json!((0..72).map(|i| format!("img{i}")).collect::<Vec<_>>()),
    );
    p.insert(
        "sorted_variance".into(),
        json!((0..768).map(|i| (768 - i) as f64 / 2.0).collect::<Vec<_>>()),
    );
    p.insert("small_objects".into(), json!([{"a": 1}, {"a": 2}]));
    p.insert(
        "many_objects".into(),
        json!(
            (0..10)
                .map(|i| json!({"n": i, "name": format!("transform number {i}")}))
                .collect::<Vec<_>>()
        ),
    );
    p.insert("linear".into(), linear_record());
    let rows = protocol_rows(&p);
    let text = |v: &ProtocolValue| match v {
        ProtocolValue::Text(t) => t.clone(),
        ProtocolValue::History(h) => format!("HISTORY {}", h.describe()),
    };
    let got: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.key.clone(), text(&r.value)))
        .collect();
    let want: Vec<(&str, &str)> = vec![
        ("empty", "{}"),
        ("kinds", "[blur, noise]"),
        ("layer", "12"),
        ("linear.best_epoch", "2"),
        ("linear.config.lr", "0.001"),
        (
            "linear.config.selection.HeldOut",
            r#"{"fraction":0.1,"seed":0}"#,
        ),
        (
            "linear.history",
            "HISTORY 3 epochs; selection.loss 1.5000 → 1.2500; train_loss 2 → 0.5000; best epoch 2",
        ),
        (
            "many_objects",
            r#"10 items, first: {"n":0,"name":"transform number 0"}"#,
        ),
        ("notes", "a, b"),
        ("small_objects", r#"[{"a":1},{"a":2}]"#),
        (
            "sorted_variance",
            "768 values: 384, 383.5, 383, 382.5, … (min 0.5000, max 384)",
        ),
        ("tile_spec.resize", "null"),
        ("tile_spec.tile", "224"),
        ("train_ids", "72 values: img0, img1, img2, img3, …"),
    ];
    let want: Vec<(String, String)> = want
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(got, want);
    let ProtocolValue::History(h) = &rows[6].value else {
        panic!("not a history")
    };
    assert_eq!(h.records, 3);
    assert_eq!(h.best_epoch, Some(2.0));
    assert_eq!(
        h.series,
        vec![
            ("selection.loss".to_string(), vec![(1.0, 1.5), (2.0, 1.25)]),
            (
                "train_loss".to_string(),
                vec![(1.0, 2.0), (2.0, 1.0), (3.0, 0.5)]
            ),
        ]
    );
    // Not histories: records without an epoch, or without any loss.
    assert!(TrainingHistory::from_value(&json!([{"loss": 1.0}]), None).is_none());
    assert!(TrainingHistory::from_value(&json!([{"epoch": 1, "acc": 0.5}]), None).is_none());
    assert!(TrainingHistory::from_value(&json!([]), None).is_none());
}

/// Attribute `name` of the first element `tag` matching `pred`, from a well-formed SVG.
fn svg_attrs(svg: &str, tag: &str) -> Vec<Vec<(String, String)>> {
    let mut reader = quick_xml::Reader::from_str(svg);
    let mut out = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                if e.name().as_ref() == tag.as_bytes() {
                    out.push(
                        e.attributes()
                            .map(|a| {
                                let a = a.unwrap();
                                (
                                    String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                                    a.unescape_value().unwrap().into_owned(),
                                )
                            })
                            .collect(),
                    );
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("SVG not well-formed: {e}"),
        }
    }
    out
}

fn attr<'a>(a: &'a [(String, String)], k: &str) -> &'a str {
    &a.iter().find(|(n, _)| n == k).unwrap().1
}

/// Hand-worked layout: plot x from 54 to 310 px, y from 146 (bottom) to 10 (top) px. Epochs 1..3,
/// losses 2 → 1 padded by 5 % to [0.95, 2.05]: epoch 1 → x 54, epoch 3 → x 310, epoch 2 → x 182;
/// loss 2 → y 146 − 1.05/1.1·136 = 16.2, loss 1 → y 146 − 0.05/1.1·136 = 139.8.
#[test]
fn history_svg_coordinates() {
    let h = TrainingHistory {
        records: 2,
        series: vec![("train_loss".into(), vec![(1.0, 2.0), (3.0, 1.0)])],
        best_epoch: Some(2.0),
    };
    let svg = history_svg(&h);
    let lines = svg_attrs(&svg, "polyline");
    assert_eq!(lines.len(), 1);
    assert_eq!(attr(&lines[0], "points"), "54.0,16.2 310.0,139.8");
    let best: Vec<_> = svg_attrs(&svg, "line")
        .into_iter()
        .filter(|l| l.iter().any(|(k, _)| k == "stroke-dasharray"))
        .collect();
    assert_eq!(best.len(), 1);
    assert_eq!(attr(&best[0], "x1"), "182.0");
    let root = &svg_attrs(&svg, "svg")[0];
    assert_eq!(attr(root, "width"), HISTORY_SIZE.0.to_string());
    assert!(svg.contains(">train_loss</text>"));
    assert!(svg.contains(">best 2</text>"));
    // No finite point: a message instead of a plot.
    let empty = TrainingHistory {
        records: 1,
        series: vec![("loss".into(), vec![(1.0, f64::NAN)])],
        best_epoch: None,
    };
    assert!(history_svg(&empty).contains("no finite loss values"));
}

#[test]
fn protocol_is_folded_and_history_drawn_not_printed() {
    let r = results();
    let report = Report::build(&r, ".").unwrap();
    let html = report.html().unwrap();
    let doc = Html::parse_document(&html);
    let sec = doc.select(&sel("section.experiment")).next().unwrap();
    let rows: Vec<Vec<String>> = sec
        .select(&sel("details.protocol > table.protocol tr"))
        .map(|tr| tr.select(&sel("td")).map(text).collect())
        .collect();
    let keys: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        keys,
        [
            "layer",
            "linear.best_epoch",
            "linear.config.lr",
            "linear.config.selection.HeldOut",
            "linear.history",
            "probe",
            "train_ids"
        ]
    );
    assert_eq!(
        text(
            sec.select(&sel("details.protocol > summary"))
                .next()
                .unwrap()
        ),
        "Protocol (7 entries)"
    );
    assert_eq!(rows[6][1], "72 values: img0, img1, img2, img3, …");
    assert_eq!(
        sec.select(&sel("table.protocol svg.history polyline"))
            .count(),
        2
    );
    // No raw JSON of the history or the id list anywhere on the page.
    assert!(!html.contains("\"train_loss\""), "history printed as JSON");
    assert!(!html.contains("img71"), "id list printed in full");
    // The markdown summarises the same protocol in a folded table.
    let md = report.markdown();
    assert!(md.contains("<details><summary>Protocol (7 entries)</summary>"));
    assert!(md.contains(
        "| linear.history | training history: 3 epochs; selection.loss 1.5000 → 1.2500; train_loss 2 → 0.5000; best epoch 2 |"
    ));
    assert!(!md.contains("img71"));
    // And its summary table per kind.
    assert!(md.contains(
        "### segmentation: `miou`\n\n| model | cityscapes/linear/set4_72/layer12 |\n|---|---:|\n| dino_vitb16 | 0.400 [0.350, 0.450] |\n| mae_vitb16 | 0.100 |\n"
    ));
    let i = |s: &str| md.find(s).unwrap();
    assert!(i("## Summary") < i("## Figures"));
    assert!(i("## Figures") < i("## Experiments"));
    assert!(i("## Experiments") < i("## Run"));
}

/// Long metric lists are folded, short ones are not; metrics are listed in natural order.
#[test]
fn metrics_tables_fold_and_sort_naturally() {
    let r = results();
    let report = Report::build(&r, ".").unwrap();
    let doc = Html::parse_document(&report.html().unwrap());
    assert_eq!(doc.select(&sel("details.metrics")).count(), 0);
    let sweep = doc.select(&sel("section.experiment")).nth(3).unwrap();
    let names: Vec<String> = sweep
        .select(&sel("table.metrics tr td:first-child"))
        .map(text)
        .collect();
    assert_eq!(
        names,
        ["all/layer1", "all/layer2", "all/layer10", "easy/layer3"]
    );

    let mut r = results();
    for i in 0..=MAX_OPEN_METRICS {
        r.experiments[0].metrics.insert(format!("m{i}"), i as f64);
    }
    let report = Report::build(&r, ".").unwrap();
    let doc = Html::parse_document(&report.html().unwrap());
    let folded: Vec<_> = doc.select(&sel("details.metrics")).collect();
    assert_eq!(folded.len(), 1);
    assert_eq!(
        text(folded[0].select(&sel("summary")).next().unwrap()),
        format!("All {} metrics", MAX_OPEN_METRICS + 3)
    );
}

/// More families than fit one table: the kind continues in the next table, whose header says so;
/// a model appears only in the tables where it has a number.
#[test]
fn wide_summaries_continue_in_further_tables() {
    let mut r = results();
    r.experiments.clear();
    for zoo in ["dino_vitb16", "mae_vitb16"] {
        for layer in 1..=MAX_SUMMARY_COLUMNS + 2 {
            r.experiments.push(exp(
                &format!("c/knn/{zoo}/layer{layer}"),
                ExperimentKind::Segmentation,
                zoo,
                &[("miou", layer as f64 / 100.0)],
            ));
        }
    }
    r.experiments.push(exp(
        "bdd/tracking/simmim_vitb16",
        ExperimentKind::Tracking,
        "simmim_vitb16",
        &[("same_instance_mean", 0.5)],
    ));
    let report = Report::build(&r, ".").unwrap();
    let doc = Html::parse_document(&report.html().unwrap());
    let tables: Vec<_> = doc.select(&sel("table.summary")).collect();
    assert_eq!(tables.len(), 2);
    let heads = |t: &scraper::ElementRef<'_>| -> Vec<String> {
        t.select(&sel("th.kind")).map(text).collect()
    };
    assert_eq!(heads(&tables[0]), ["segmentationmiou"]);
    assert_eq!(
        heads(&tables[1]),
        ["segmentation (continued)miou", "trackingsame_instance_mean"]
    );
    let fams = |t: &scraper::ElementRef<'_>| t.select(&sel("th.family")).count();
    assert_eq!(
        (fams(&tables[0]), fams(&tables[1])),
        (MAX_SUMMARY_COLUMNS, 3)
    );
    let models = |t: &scraper::ElementRef<'_>| -> Vec<String> {
        t.select(&sel("tr > th.model")).skip(1).map(text).collect()
    };
    assert_eq!(models(&tables[0]), ["dino_vitb16", "mae_vitb16"]);
    assert_eq!(
        models(&tables[1]),
        ["dino_vitb16", "mae_vitb16", "simmim_vitb16"]
    );
    let last: Vec<String> = tables[1]
        .select(&sel("tr"))
        .nth(4)
        .unwrap()
        .select(&sel("th, td"))
        .map(text)
        .collect();
    assert_eq!(last, ["simmim_vitb16", "–", "–", "0.500"]);
    let second: Vec<String> = tables[1]
        .select(&sel("tr"))
        .nth(2)
        .unwrap()
        .select(&sel("td"))
        .map(text)
        .collect();
    assert_eq!(second, ["0.100", "0.110", "–"]);
}
