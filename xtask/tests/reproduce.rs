//! `cargo xtask reproduce` end to end:
//! - the demo suite (synthetic benchmark, shrunk further by a config that `extends = "demo"`) runs every
//!   experiment family, writes results.json / report.md / report.html, and a second run resumes from the
//!   records without recomputing;
//! - the paper suite runs on a FAKE tree in the real layouts (Cityscapes, ADE20K, FAIR1M, BDD100K, DAVIS,
//!   written here) with FAKE weights in the official key layouts of the five study families at tiny size
//!   (the committed checkpoints of fixtures/vit, pointed at through the config), skipping a missing model
//!   and a missing dataset with one line each.
//!
//! Values checked against independent arithmetic: patch counts from the tiling protocol (tiles × grid²),
//! layer lists from the model depth, CI bounds around the estimate.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use patchlens_image::{ImageU8, write_png};
use serde_json::Value;

mod cli_support;

/// `xtask reproduce args…`: (success, stdout, stderr).
fn xtask(args: &[&str]) -> (bool, String, String) {
    cli_support::xtask(&[&["reproduce"][..], args].concat())
}

fn results(out: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).expect("results.json"))
        .expect("json")
}

fn experiments(r: &Value) -> &Vec<Value> {
    r["experiments"].as_array().expect("experiments")
}

fn find(r: &Value, pred: impl Fn(&str) -> bool) -> Vec<&Value> {
    experiments(r)
        .iter()
        .filter(|e| pred(e["name"].as_str().unwrap_or("")))
        .collect()
}

fn kinds(r: &Value) -> BTreeSet<String> {
    experiments(r)
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Every interval in the file contains its estimate, within [0, 1] for mIoU.
fn check_intervals(r: &Value) {
    for e in experiments(r) {
        if let Some(cis) = e["confidence_intervals"].as_object() {
            for (k, ci) in cis {
                let (lo, est, hi) = (
                    ci["lower"].as_f64().unwrap(),
                    ci["estimate"].as_f64().unwrap(),
                    ci["upper"].as_f64().unwrap(),
                );
                assert!(
                    lo <= est + 1e-12 && est <= hi + 1e-12,
                    "{} {k}: {lo} {est} {hi}",
                    e["name"]
                );
                assert!(
                    (0.0..=1.0).contains(&lo) && (0.0..=1.0).contains(&hi),
                    "{} {k}",
                    e["name"]
                );
            }
        }
    }
}

/// Parse report.html: title, about section (with `about_must` in it), one inline SVG per plot file, sample
/// images as data URIs, metric tables.
fn check_html(out: &Path, about_must: &str) {
    let html = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    let doc = scraper::Html::parse_document(&html);
    let sel = |s: &str| scraper::Selector::parse(s).unwrap();
    let h1: Vec<String> = doc.select(&sel("h1")).map(|e| e.text().collect()).collect();
    assert_eq!(h1, ["patchlens report"]);
    let about: String = doc
        .select(&sel("section#about"))
        .next()
        .expect("about section")
        .text()
        .collect();
    assert!(about.contains(about_must), "about section: {about}");
    let svgs = doc.select(&sel("figure.plot svg")).count();
    let files = std::fs::read_dir(out.join("plots")).unwrap().count();
    assert!(
        svgs >= 5 && svgs == files,
        "{svgs} inline figures, {files} plot files"
    );
    let imgs: Vec<_> = doc.select(&sel("img.sample")).collect();
    assert!(!imgs.is_empty(), "sample segmentation maps");
    assert!(imgs.iter().all(|i| {
        i.value()
            .attr("src")
            .unwrap()
            .starts_with("data:image/png;base64,")
    }));
    assert!(doc.select(&sel("table.metrics tr")).count() > 20);
    assert!(!html.contains("src=\"maps/"), "self-contained");
}

const DEMO_MINI: &str = r#"
extends = "demo"
name = "demo-mini"
bootstrap_resamples = 50
device_batch = 8

[demo]
pretrained_dir = "/nonexistent/patchlens-pretrained"
fallback_models = ["dino_vitb16", "mae_vitb16"]
fallback_config = { embed_dim = 32, depth = 2, num_heads = 2, mlp_hidden = 0, mlp_ratio = 2.0 }

[experiments.a1_synthetic_pools]
train_splits = ["train2", "train3"]
test_split = "test2"
linear_epochs = 3

[experiments.a2_synthetic_layerwise]
train_splits = ["train3"]
test_split = "test2"

[experiments.a3_synthetic_degradation]
train_split = "train3"
test_split = "test2"
levels = [1, 4]
linear_epochs = 3

[experiments.a4_synthetic_variance]
train_split = "train3"
test_split = "test2"
sweep = [0, 4, 8]

[experiments.a5_synthetic_spectrum_test]
train_split = "test2"
test_split = "test2"

[experiments.c1_synthetic_identification]
scenes = 2
kinds = ["rotate", "blur"]
levels = [1]

[experiments.d1_synthetic_tracking]
num_videos = 1
frames = 4

[experiments.e1_synthetic_propagation]
num_videos = 1
frames = 4
"#;

#[test]
fn demo_suite_end_to_end_and_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("mini.toml");
    std::fs::write(&cfg, DEMO_MINI).unwrap();
    let out = tmp.path().join("out");
    let args = [
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    let (ok, stdout, stderr) = xtask(&args);
    assert!(ok, "reproduce failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("NOTE: ALL MODELS HAVE RANDOM WEIGHTS"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("skip "),
        "nothing is missing in the demo: {stdout}"
    );
    let r = results(&out);
    assert_eq!(r["schema_version"], 1);
    let want: BTreeSet<String> = [
        "segmentation",
        "layer_sweep",
        "degradation",
        "variance_spectrum",
        "variance_removal",
        "tracking",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert!(kinds(&r).is_superset(&want), "{:?}", kinds(&r));
    for m in ["dino_vitb16-tiny-random", "mae_vitb16-tiny-random"] {
        // Patch 16 on one 224 tile per scene: 14 × 14 = 196 patches; train3 → 588, test2 → 392.
        let e = find(&r, |n| n == format!("synthetic/knn/train3/{m}/layer2"));
        assert_eq!(e.len(), 1, "{m}");
        assert_eq!(e[0]["protocol"]["gallery_patches"], 3 * 196);
        assert_eq!(e[0]["protocol"]["query_patches"], 2 * 196);
        assert!(
            e[0]["model"]["weights_sha256"]
                .as_str()
                .unwrap()
                .starts_with("random-init-seed0")
        );
        let sweep = find(&r, |n| n == format!("a2_synthetic_layerwise/knn/{m}"));
        assert_eq!(
            sweep[0]["curves"][0]["x"],
            serde_json::json!([1.0, 2.0]),
            "all layers of a depth-2 model"
        );
        let deg = find(&r, |n| {
            n == format!("a3_synthetic_degradation/linear/{m}/layer2")
        });
        let keys: Vec<&String> = deg[0]["metrics"].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "blur/2",
                "blur/8",
                "clean",
                "frequency/high",
                "frequency/low",
                "noise/10",
                "noise/40"
            ]
        );
        let prop = find(&r, |n| n == format!("synthetic/propagation/{m}/layer2"));
        assert!(
            prop[0]["metrics"]["jf_mean"].as_f64().is_some(),
            "propagation for {m}"
        );
        assert!(find(&r, |n| n.contains(m)).len() >= 15);
    }
    let extra = &r["run"]["extra"];
    assert_eq!(extra["suite"], "demo-mini");
    assert_eq!(extra["models"][0]["random_weights"], true);
    assert!(r["run"]["stages"].as_array().unwrap().len() >= 14);
    check_intervals(&r);
    check_html(&out, "ALL MODELS HAVE RANDOM WEIGHTS");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("## About this run") && md.contains("RANDOM"));
    // The study's claims are checked on the run; with random weights only, nothing can be compared.
    assert!(md.contains("## The study's findings at this scale"));
    let found = extra["findings"].as_array().unwrap();
    assert_eq!(found.len(), 11);
    assert!(
        found.iter().all(|x| x["verdict"] == "not_measured"),
        "{found:?}"
    );
    assert!(
        stdout.contains("finding: Pretraining beats random weights at tracking — not measured")
    );

    // Resume: every unit is recorded, nothing is recomputed, the numbers are the same.
    let (ok, stdout2, stderr2) = xtask(&args);
    assert!(ok, "{stdout2}\n{stderr2}");
    assert_eq!(
        stdout2.matches("done in an earlier run").count(),
        16,
        "{stdout2}"
    );
    let r2 = results(&out);
    assert_eq!(r["experiments"], r2["experiments"]);
}

// ---------------------------------------------------------------------------------------------------------
// The paper suite on a fake tree.

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(rel)
}

/// A seeded RGB pattern with a different colour per label region (so features can separate classes).
fn picture(w: usize, h: usize, label: &ImageU8, seed: u64) -> ImageU8 {
    let mut img = ImageU8::new(w, h, 3);
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for y in 0..h {
        for x in 0..w {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            let r = (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 58) as u8; // 0..63
            let l = label.data[(y * w + x) * label.channels] as usize;
            for c in 0..3 {
                img.data[(y * w + x) * 3 + c] = ((l * 37 + c * 71) % 192) as u8 + r;
            }
        }
    }
    img
}

fn label(w: usize, h: usize, f: impl Fn(usize, usize) -> u8) -> ImageU8 {
    let mut img = ImageU8::new(w, h, 1);
    for y in 0..h {
        for x in 0..w {
            img.data[y * w + x] = f(x, y);
        }
    }
    img
}

fn pair(image: &Path, lab_path: &Path, lab: &ImageU8, seed: u64) {
    for p in [image, lab_path] {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    }
    write_png(image, &picture(lab.width, lab.height, lab, seed)).unwrap();
    write_png(lab_path, lab).unwrap();
}

fn write_cityscapes(root: &Path) {
    use patchlens_data::cityscapes::{image_path, label_path};
    // Sky / building / road / car / vegetation bands and a void corner (labelIds 23, 11, 7, 26, 21, 0).
    let lab = |k: usize| {
        label(2048, 1024, move |x, y| {
            if x < 128 && y < 128 {
                0
            } else if y < 256 {
                23
            } else if y < 512 {
                if (x / 512 + k).is_multiple_of(2) {
                    11
                } else {
                    21
                }
            } else if y < 768 && (x / 256 + k).is_multiple_of(3) {
                26
            } else {
                7
            }
        })
    };
    for (i, (split, id)) in [
        ("train", "aachen_000000_000019"),
        ("train", "bremen_000001_000019"),
        ("val", "lindau_000000_000019"),
        ("val", "munster_000002_000019"),
    ]
    .into_iter()
    .enumerate()
    {
        pair(
            &image_path(root, split, id),
            &label_path(root, split, id),
            &lab(i),
            i as u64 + 1,
        );
    }
}

fn write_ade20k(root: &Path) {
    let d = root.join("ADEChallengeData2016");
    for (split, prefix) in [("training", "ADE_train"), ("validation", "ADE_val")] {
        for i in 1..=3usize {
            let lab = label(96, 64, move |x, y| {
                if y < 32 {
                    (i % 3 + 1) as u8
                } else if x < 48 {
                    5
                } else {
                    0
                }
            });
            let name = format!("{prefix}_{i:08}");
            pair(
                &d.join("images").join(split).join(format!("{name}.jpg")),
                &d.join("annotations")
                    .join(split)
                    .join(format!("{name}.png")),
                &lab,
                i as u64,
            );
        }
    }
}

fn write_fair1m(root: &Path) {
    std::fs::create_dir_all(root.join("labelTxt")).unwrap();
    let lab = label(480, 480, |x, y| ((x / 224) * 2 + (y / 224) + 1) as u8);
    std::fs::create_dir_all(root.join("images")).unwrap();
    write_png(&root.join("images/c0.png"), &picture(480, 480, &lab, 7)).unwrap();
    let rect = |x0: usize, y0: usize, x1: usize, y1: usize, c: &str| {
        format!("{x0} {y0} {x1} {y0} {x1} {y1} {x0} {y1} {c} 0\n")
    };
    let mut txt = String::from("imagesource:test\ngsd:1.0\n");
    txt += &rect(34, 50, 110, 90, "Small_Car");
    txt += &rect(130, 140, 200, 170, "Tennis_Court");
    txt += &rect(260, 40, 330, 60, "Van");
    txt += &rect(40, 260, 80, 300, "Boeing737");
    std::fs::write(root.join("labelTxt/c0.txt"), txt).unwrap();
}

fn write_bdd(root: &Path) {
    let video = "b1c66a42-6f7d68ca";
    let mut frames = Vec::new();
    for t in 0..4usize {
        let (cx, px) = (300 + 20 * t, 900 - 15 * t);
        let lab = label(1280, 720, move |x, y| {
            if (cx..cx + 160).contains(&x) && (300..420).contains(&y) {
                1
            } else if (px..px + 60).contains(&x) && (250..450).contains(&y) {
                2
            } else {
                0
            }
        });
        let name = format!("{video}-{:07}.jpg", t + 1);
        let p = root.join("images/track/val").join(video).join(&name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        write_png(&p, &picture(1280, 720, &lab, t as u64)).unwrap();
        frames.push(serde_json::json!({"name": name, "videoName": video, "frameIndex": t, "labels": [
            {"id": "1", "category": "car", "attributes": {"occluded": false, "truncated": false, "crowd": false},
             "box2d": {"x1": cx, "y1": 300, "x2": cx + 160, "y2": 420}},
            {"id": "2", "category": "pedestrian", "attributes": {"occluded": false, "truncated": false, "crowd": false},
             "box2d": {"x1": px, "y1": 250, "x2": px + 60, "y2": 450}}]}));
    }
    let lp = patchlens_data::bdd100k::label_path(root, "val", video);
    std::fs::create_dir_all(lp.parent().unwrap()).unwrap();
    std::fs::write(lp, serde_json::to_string(&frames).unwrap()).unwrap();
}

fn write_davis(root: &Path) {
    for t in 0..3usize {
        let lab = label(128, 112, move |x, y| {
            if (14 + 4 * t..56 + 4 * t).contains(&x) && (14..56).contains(&y) {
                1
            } else if (70..112).contains(&x) && (56..98).contains(&y) {
                2
            } else {
                0
            }
        });
        let f = format!("{t:05}");
        pair(
            &root.join(format!("JPEGImages/480p/squares/{f}.jpg")),
            &root.join(format!("Annotations/480p/squares/{f}.png")),
            &lab,
            t as u64,
        );
    }
    std::fs::create_dir_all(root.join("ImageSets/2017")).unwrap();
    std::fs::write(root.join("ImageSets/2017/val.txt"), "squares\n").unwrap();
}

/// `[model.<zoo name>]` tables pointing the study's five models at the tiny fixture checkpoints, with the
/// architectures the fixture manifest records.
fn fake_models_toml() -> String {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("vit/manifest.json")).unwrap())
            .unwrap();
    let cases = manifest["cases"].as_array().unwrap();
    let mut s = String::new();
    for (zoo, case) in [
        ("sup_vitb16_torchvision", "sup_torchvision_b16_tiny"),
        ("dino_vitb16", "dino_s16_tiny"),
        ("dinov2_vitb14", "dinov2_s14_tiny"),
        ("mae_vitb16", "mae_b16_tiny"),
        ("simmim_vitb16", "simmim_b16_tiny"),
        ("ibot_vitb16", "ibot_b16_teacher_tiny"),
        ("ijepa_vith14", "ijepa_h14_train_ckpt_tiny"),
    ] {
        let c = cases
            .iter()
            .find(|c| c["name"] == case)
            .unwrap_or_else(|| panic!("fixture case {case}"));
        let mut cfg = toml::Table::new();
        for (k, v) in c["config"].as_object().unwrap() {
            let tv = match v {
                Value::Bool(b) => toml::Value::Boolean(*b),
                Value::Number(n) if n.is_i64() => toml::Value::Integer(n.as_i64().unwrap()),
                Value::Number(n) => toml::Value::Float(n.as_f64().unwrap()),
                Value::String(x) => toml::Value::String(x.clone()),
                _ => continue,
            };
            cfg.insert(k.clone(), tv);
        }
        // The manifest's flag for SimMIM/BEiT's separate q/v biases (as the vit parity tests read it).
        if c["config"]["qv_bias_separate"].as_bool() == Some(true) {
            cfg.insert("qkv_bias".into(), toml::Value::String("qv".into()));
        }
        let weights = fixture(&format!("vit/{}", c["checkpoint"].as_str().unwrap()));
        s += &format!(
            "[model.{zoo}]\nfamily = {:?}\nweights = {:?}\nconfig = {}\n\n",
            c["family"].as_str().unwrap(),
            weights.display().to_string(),
            toml::Value::Table(cfg)
        );
    }
    s
}

#[test]
fn paper_suite_on_a_fake_tree_with_fake_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_cityscapes(&data.join("cityscapes"));
    write_ade20k(&data);
    write_fair1m(&data.join("fair1m/val1000"));
    write_bdd(&data.join("bdd100k"));
    write_davis(&data.join("DAVIS"));
    let cfg = format!(
        r#"
extends = "paper"
bootstrap_resamples = 30
device_batch = 16
models = ["sup_vitb16_torchvision", "dino_vitb16", "dinov2_vitb14", "mae_vitb16", "simmim_vitb16", "dinov2_vitl14"]
# Two of the secondary models (fixture weights): they run only the experiments naming them.
extra_models = ["ibot_vitb16", "ijepa_vith14"]

{models}
# The fake tree holds whole `train` / `val` folders of two images each instead of the study's pools.
[experiments.a1_cityscapes_pools]
train_splits = ["train"]
test_split = "val"
linear_epochs = 2
[experiments.a2_cityscapes_layerwise]
train_splits = ["train"]
test_split = "val"
[experiments.a3_cityscapes_degradation]
train_split = "train"
test_split = "val"
levels = [2]
layers = ["last"]
linear_epochs = 2
[experiments.a4_cityscapes_variance]
train_split = "train"
test_split = "val"
sweep = [0, 4, 8, 16]
extra_layers = {{ simmim_vitb16 = [2] }}
linear = false
[experiments.a5_cityscapes_variance_ibot]
train_split = "train"
test_split = "val"
sweep = [0, 4, 8]
[experiments.a6_cityscapes_variance_scalemae]
train_split = "train"
test_split = "val"
[experiments.a7_cityscapes_spectra]
train_split = "train"
test_split = "val"
[experiments.b1_ade20k_fewshot]
[experiments.c1_fair1m_identification]
levels = [1]
remove_top_variance = {{ mae_vitb16 = 8 }}
[experiments.d1_bdd_tracking]
num_videos = 1
[experiments.e1_davis_propagation]
scale_size = 112
[experiments.z_camvid]
kind = "segmentation"
dataset = "camvid"
"#,
        models = fake_models_toml()
    );
    let cfg_path = tmp.path().join("paper-fake.toml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let out = tmp.path().join("out");
    let weights = tmp.path().join("no-weights");
    let (ok, stdout, stderr) = xtask(&[
        "--suite",
        "paper",
        "--config",
        cfg_path.to_str().unwrap(),
        "--data-root",
        data.to_str().unwrap(),
        "--weights-root",
        weights.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "reproduce failed:\n{stdout}\n{stderr}");
    // Exactly two skips: the model without weights and the dataset that is not there.
    let skips: Vec<&str> = stdout.lines().filter(|l| l.starts_with("skip ")).collect();
    assert_eq!(skips.len(), 2, "{stdout}");
    assert!(
        skips
            .iter()
            .any(|l| l.starts_with("skip model dinov2_vitl14")
                && l.contains("cargo xtask fetch-weights dinov2_vitl14")),
        "{skips:?}"
    );
    assert!(
        skips
            .iter()
            .any(|l| l.starts_with("skip z_camvid: dataset camvid not found")
                && l.contains("trainannot")),
        "{skips:?}"
    );
    let r = results(&out);
    let ks = kinds(&r);
    for k in [
        "segmentation",
        "layer_sweep",
        "degradation",
        "variance_spectrum",
        "variance_removal",
        "tracking",
    ] {
        assert!(ks.contains(k), "{k} in {ks:?}");
    }
    // (model, token grid at 224, depth of the fixture checkpoint per fixtures/vit/manifest.json)
    for (m, grid, depth) in [
        ("sup_vitb16_torchvision", 14usize, 3usize),
        ("dino_vitb16", 14, 4),
        ("dinov2_vitb14", 16, 4),
        ("mae_vitb16", 14, 3),
        ("simmim_vitb16", 14, 3),
    ] {
        let mine = find(&r, |n| n.contains(m));
        // Cityscapes: 2 images × 32 tiles (4 × 8 of 256) × grid² patches (16² for patch 14).
        let seg = find(&r, |n| {
            n == format!("cityscapes/knn/train/{m}/layer{depth}")
        });
        assert_eq!(
            seg.len(),
            1,
            "{m}: {:?}",
            mine.iter()
                .map(|e| e["name"].as_str().unwrap())
                .collect::<Vec<_>>()
        );
        assert_eq!(seg[0]["protocol"]["gallery_patches"], 2 * 32 * grid * grid);
        assert_eq!(seg[0]["model"]["zoo_name"], m);
        let sw = find(&r, |n| n == format!("a2_cityscapes_layerwise/knn/{m}"));
        assert_eq!(
            sw[0]["curves"].as_array().unwrap().len(),
            3,
            "all / easy / hard"
        );
        let layers: Vec<f64> = (1..=depth).map(|l| l as f64).collect();
        assert_eq!(sw[0]["curves"][0]["x"], serde_json::json!(layers));
        assert!(
            !find(&r, |n| n.starts_with("ade20k/knn/train-select")
                && n.contains(m))
            .is_empty(),
            "{m} ade20k"
        );
        assert!(
            !find(&r, |n| n
                .starts_with(&format!("a3_cityscapes_degradation/linear/{m}")))
            .is_empty(),
            "{m} degradation"
        );
        assert!(
            !find(&r, |n| n.contains("variance_removal/cityscapes")
                && n.contains(m))
            .is_empty(),
            "{m} variance"
        );
        assert!(
            mine.iter()
                .any(|e| e["kind"] == "tracking" && e["name"].as_str().unwrap().contains("full")),
            "{m} tracking full"
        );
        assert!(
            mine.iter()
                .any(|e| e["kind"] == "tracking" && e["name"].as_str().unwrap().contains("tiled")),
            "{m} tracking tiled"
        );
        assert!(
            mine.iter()
                .any(|e| e["name"].as_str().unwrap().contains("fair1m")),
            "{m} fair1m"
        );
        assert!(
            mine.iter()
                .any(|e| e["name"].as_str().unwrap().contains("davis")),
            "{m} davis"
        );
    }
    // The study's linear recipe beside ours, and the paper suite's degradations on their probes.
    let summary = find(&r, |n| n == "a1_cityscapes_pools/summary/dino_vitb16");
    assert!(
        summary[0]["metrics"]["linear_study/train"].is_number()
            && summary[0]["metrics"]["linear/train"].is_number(),
        "{}",
        summary[0]["metrics"]
    );
    assert!(
        !find(&r, |n| n
            .starts_with("a3_cityscapes_degradation/linear_study/"))
        .is_empty()
    );
    // The extra models ran only where named: iBOT's removal sweep, I-JEPA's spectrum.
    let names_of = |m: &str| -> Vec<String> {
        find(&r, |n| n.contains(m))
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_string())
            .collect()
    };
    let ibot = names_of("ibot_vitb16");
    assert_eq!(
        ibot,
        [
            "variance_spectrum/cityscapes/train/ibot_vitb16/layer3",
            "variance_removal/cityscapes/train/ibot_vitb16/layer3"
        ],
        "{ibot:?}"
    );
    let ijepa = names_of("ijepa_vith14");
    assert_eq!(
        ijepa,
        ["variance_spectrum/cityscapes/train/ijepa_vith14/layer2"],
        "{ijepa:?}"
    );
    // The dataset overlap of MAE's top-variance dimensions: Cityscapes (a4), ADE20K (a8), FAIR1M (c1).
    let ov = find(&r, |n| n.starts_with("variance_overlap/mae_vitb16/"));
    assert_eq!(ov.len(), 1, "{:?}", names_of("variance_overlap"));
    let sets: Vec<&str> = ov[0]["protocol"]["sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["set"].as_str().unwrap())
        .collect();
    assert_eq!(
        sets,
        [
            "cityscapes/train",
            "ade20k/train-select",
            "fair1m/original tiles"
        ],
        "{sets:?}"
    );
    // 8 of the fixture MAE's 32 dimensions (200/768 of the width; c1 removes 8).
    assert_eq!(ov[0]["metrics"]["top_n"], 8.0);
    let shared = ov[0]["metrics"]["overlap/cityscapes/train & ade20k/train-select"]
        .as_f64()
        .unwrap();
    assert!((0.0..=8.0).contains(&shared), "{shared}");
    // SimMIM's extra variance layer and MAE's second identification run (top-variance removal).
    assert!(
        !find(&r, |n| n.contains("variance_removal/cityscapes")
            && n.contains("simmim_vitb16/layer2"))
        .is_empty()
    );
    let mae_id: Vec<_> = find(&r, |n| n.contains("fair1m") && n.contains("mae_vitb16"));
    assert_eq!(
        mae_id.len(),
        2,
        "{:?}",
        mae_id.iter().map(|e| &e["name"]).collect::<Vec<_>>()
    );
    check_intervals(&r);
    check_html(&out, "dinov2_vitl14");
}
