//! `cargo xtask eval …` on the command line: what the thin layer over `patchlens_eval` adds — argument
//! parsing and its errors, the one summary line on stdout, the results.json with its top-level
//! `"metrics"` object, and the default feature cache next to the output. The experiments themselves are
//! tested in-process in `crates/eval/tests/` (segmentation, variance, identification, tracking,
//! propagation); these runs use random weights so they need no shared assets.

mod cli_support;
mod segmentation_support;

use std::path::Path;

use cli_support::{run_ok, xtask};
use patchlens_image::{ImageU8, write_png};
use segmentation_support::{f, read_json, run_xtask, write_tree};

/// A tiny DAVIS 2017 tree: `frames` identical 128×112 frames with two flat rectangles on a textured
/// background, identical two-object annotations (PNG bytes under `.jpg` names; the reader sniffs).
fn fake_davis(root: &Path, frames: usize) {
    let (w, h) = (128usize, 112usize);
    let mut img = ImageU8::new(w, h, 3);
    let mut ann = ImageU8::new(w, h, 1);
    for y in 0..h {
        for x in 0..w {
            let (id, rgb) = if (14..56).contains(&y) && (14..56).contains(&x) {
                (1u8, [220u8, 40, 40])
            } else if (56..98).contains(&y) && (70..112).contains(&x) {
                (2u8, [30, 60, 210])
            } else {
                (
                    0u8,
                    [
                        ((x * 7 + y * 3) % 64 + 80) as u8,
                        ((x * 5 + y * 11) % 48 + 100) as u8,
                        90,
                    ],
                )
            };
            img.data[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&rgb);
            ann.data[y * w + x] = id;
        }
    }
    let jdir = root.join("JPEGImages/480p/squares");
    let adir = root.join("Annotations/480p/squares");
    std::fs::create_dir_all(&jdir).unwrap();
    std::fs::create_dir_all(&adir).unwrap();
    for i in 0..frames {
        write_png(&jdir.join(format!("{i:05}.jpg")), &img).unwrap();
        write_png(&adir.join(format!("{i:05}.png")), &ann).unwrap();
    }
}

/// Propagation through the CLI: results.json (schema 1) with the figures both in the experiment and in
/// the top-level `"metrics"` object, the default cache in `<out dir>/cache`, and `--cache-dir` reading it
/// back to the same figures.
#[test]
fn propagation_writes_results_and_a_default_cache() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("davis");
    fake_davis(&root, 6);
    let out = dir.path().join("res/results.json");
    let args = |out: &Path, extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "eval",
            "propagation",
            "--dataset",
            "davis2017",
            "--data-root",
            root.to_str().unwrap(),
            "--model",
            "dinov2_vits14",
            "--random-init",
            "3",
            "--scale-size",
            "112",
            "--out",
            out.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let a = args(&out, &[]);
    let stdout = run_xtask(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(stdout.lines().count(), 1, "one summary line: {stdout}");
    assert!(
        stdout.starts_with("propagation davis/davis2017/propagation/dinov2_vits14/layer12"),
        "{stdout}"
    );
    let v = read_json(&out);
    assert_eq!(v["schema_version"], 1);
    let e = &v["experiments"][0];
    assert_eq!(e["metrics"]["objects"], 2.0);
    assert_eq!(e["metrics"]["frames"], 6.0);
    assert_eq!(e["protocol"]["input_size_first_sequence"], "112x126");
    assert_eq!(f(&v, "/metrics/j_mean"), f(e, "/metrics/j_mean"));
    assert_eq!(f(&v, "/metrics/jf_mean"), f(e, "/metrics/jf_mean"));
    assert!(f(&v, "/metrics/j_mean") > 0.9, "{}", v["metrics"]);
    let cache = dir.path().join("res/cache");
    assert!(cache.is_dir(), "default cache next to the output");
    let out2 = dir.path().join("res2/results.json");
    let a = args(&out2, &["--cache-dir", cache.to_str().unwrap()]);
    let e2 = run_ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(e["metrics"], e2["metrics"]);
    assert!(
        !dir.path().join("res2/cache").exists(),
        "--cache-dir used instead"
    );
}

/// Segmentation through the CLI on the tiny CamVid tree: cosine 1-NN finds every query patch's exact copy
/// whatever the weights, so the hand-derived scores of `crates/eval/tests/segmentation.rs` hold with
/// random weights too (mIoU 0.25, pixel and patch accuracy 0.5, per-class IoU Sky ½, Building ½, Pole 0,
/// Road 0), here read from results.json's nested `"metrics"` object.
#[test]
fn segmentation_summary_line_and_nested_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("camvid");
    write_tree(&root);
    let out = tmp.path().join("run/results.json");
    let stdout = run_xtask(&[
        "eval",
        "segmentation",
        "--dataset",
        "camvid",
        "--data-root",
        root.to_str().unwrap(),
        "--model",
        "dinov2_vits14",
        "--random-init",
        "0",
        "--probe",
        "knn",
        "--similarity",
        "cosine",
        "--bootstrap",
        "0",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(stdout.lines().count(), 1, "one summary line: {stdout}");
    assert!(
        stdout.starts_with("segmentation camvid/knn/train/dinov2_vits14/layer12"),
        "{stdout}"
    );
    let v = read_json(&out);
    assert!((f(&v, "/metrics/miou") - 0.25).abs() < 1e-12);
    assert!((f(&v, "/metrics/pixel_accuracy") - 0.5).abs() < 1e-12);
    assert!((f(&v, "/metrics/patch_accuracy") - 0.5).abs() < 1e-12);
    let pc = v
        .pointer("/metrics/per_class_iou")
        .and_then(|p| p.as_object())
        .expect("per_class_iou");
    assert_eq!(pc.len(), 4, "{pc:?}");
    for (name, iou) in [
        ("Sky", 0.5),
        ("Building", 0.5),
        ("Pole", 0.0),
        ("Road", 0.0),
    ] {
        assert!((pc[name].as_f64().unwrap() - iou).abs() < 1e-12, "{name}");
    }
    // Sample maps next to the results file.
    let e = &v["experiments"][0];
    let pred = out
        .parent()
        .unwrap()
        .join(e["images"][0]["source"]["path"].as_str().unwrap());
    assert!(pred.is_file(), "{}", pred.display());
    assert!(tmp.path().join("run/cache").is_dir());
}

/// Identification through the CLI: one summary line naming the transformation, the default cache.
#[test]
fn identification_summary_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("res/results.json");
    let stdout = run_xtask(&[
        "eval",
        "identification",
        "--dataset",
        "synthetic",
        "--scenes",
        "2",
        "--transform",
        "blur",
        "--levels",
        "1",
        "--model",
        "dinov2_vits14",
        "--random-init",
        "0",
        "--exclude-same-tile",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(stdout.lines().count(), 1, "one summary line: {stdout}");
    assert!(stdout.contains("blur1"), "{stdout}");
    let v = read_json(&out);
    assert_eq!(v["experiments"][0]["protocol"]["layer"], 12);
    assert!(
        v["metrics"]["blur1"]["same_patch_rate"].is_number(),
        "{}",
        v["metrics"]
    );
    assert!(
        dir.path().join("res/cache").is_dir(),
        "default cache next to the output"
    );
}

#[test]
fn bad_arguments_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r.json");
    let out = out.to_str().unwrap();
    // Segmentation: a PCA with no component is refused while parsing, naming the value.
    let missing_root = tmp.path().join("nope");
    let missing_weights = tmp.path().join("missing.safetensors");
    let (ok, _, err) = xtask(&[
        "eval",
        "segmentation",
        "--dataset",
        "camvid",
        "--data-root",
        missing_root.to_str().unwrap(),
        "--model",
        "dinov2_vits14",
        "--weights",
        missing_weights.to_str().unwrap(),
        "--probe",
        "knn",
        "--normalize",
        "pca:0",
        "--out",
        out,
    ]);
    assert!(!ok);
    assert!(err.contains("pca:0"), "{err}");

    // Propagation: an unknown sequence, a missing root, topk 0.
    let root = tmp.path().join("davis");
    fake_davis(&root, 3);
    let prop = |extra: &[&str], data_root: &str| {
        let mut a = vec![
            "eval",
            "propagation",
            "--dataset",
            "davis2017",
            "--data-root",
            data_root,
            "--model",
            "dinov2_vits14",
            "--random-init",
            "0",
            "--scale-size",
            "112",
            "--out",
            out,
        ];
        a.extend_from_slice(extra);
        xtask(&a)
    };
    let (ok, _, err) = prop(&["--sequences", "nosuchseq"], root.to_str().unwrap());
    assert!(!ok && err.contains("nosuchseq"), "{err}");
    let (ok, _, err) = prop(&[], tmp.path().join("missing").to_str().unwrap());
    assert!(!ok && err.contains("missing"), "{err}");
    let (ok, _, err) = prop(&["--topk", "0"], root.to_str().unwrap());
    assert!(!ok && err.contains("topk"), "{err}");

    // Tracking: BDD100K without a root, an unknown model, Δ = 0.
    let track = |extra: &[&str]| {
        let mut a = vec!["eval", "tracking", "--random-init", "0", "--out", out];
        a.extend_from_slice(extra);
        xtask(&a)
    };
    let (ok, _, err) = track(&["--dataset", "bdd100k", "--model", "dinov2_vits14"]);
    assert!(!ok && err.contains("--data-root"), "{err}");
    let (ok, _, err) = track(&["--dataset", "synthetic", "--model", "no_such_model"]);
    assert!(!ok && err.contains("no_such_model"), "{err}");
    let (ok, _, err) = track(&[
        "--dataset",
        "synthetic",
        "--model",
        "dinov2_vits14",
        "--deltas",
        "0",
        "--frames",
        "3",
        "--num-videos",
        "1",
    ]);
    assert!(
        !ok && (err.to_lowercase().contains("delta") || err.contains('Δ')),
        "{err}"
    );
}

/// `eval reconstruction` on the shipped tiny MAE and its decoder (found beside it): the documented
/// metric keys in results.json, the figure's PNGs next to it, and the decoder options' errors.
#[test]
fn reconstruction_on_the_tiny_mae() {
    let dir = tempfile::tempdir().unwrap();
    let model_file = dir.path().join("models.toml");
    std::fs::write(
        &model_file,
        "[model.tiny_mae]\nfamily = \"mae\"\nconfig = { patch_size = 8, embed_dim = 192, depth = 5, \
         num_heads = 3, mlp_hidden = 768, img_size = 64, pos_interp = \"size_bicubic\" }\n",
    )
    .unwrap();
    let weights = patchlens_testutil::fixture("pretrained/mae_tiny.safetensors");
    let out = dir.path().join("rec/results.json");
    let data = dir.path().join("data");
    let base = [
        "eval",
        "reconstruction",
        "--model",
        "tiny_mae",
        "--model-file",
        model_file.to_str().unwrap(),
        "--weights",
        weights.to_str().unwrap(),
        "--dataset",
        "synthetic",
        "--data-root",
        data.to_str().unwrap(),
        "--train-split",
        "train1",
        "--test-split",
        "test1",
        "--tiles",
        "4",
        "--sweep",
        "0,20",
        "--out",
        out.to_str().unwrap(),
    ];
    let e = run_ok(&base);
    let m = e["metrics"].as_object().unwrap();
    for k in [
        "mae_loss/plain",
        "pixel_mse/plain",
        "mae_loss/mean/n20",
        "pixel_mse/random_zero/n20",
    ] {
        assert!(m[k].as_f64().unwrap() > 0.0, "{k}: {m:?}");
    }
    assert_eq!(
        e["protocol"]["decoder"]["norm_pix_loss"], true,
        "from the decoder file's metadata"
    );
    let png = e["images"][0]["source"]["path"].as_str().unwrap();
    assert!(out.parent().unwrap().join(png).exists(), "{png}");
    let mut bad = base.to_vec();
    bad.extend(["--decoder-arch", "128x2"]);
    let (ok, _, stderr) = xtask(&bad);
    assert!(!ok && stderr.contains("DIMxDEPTHxHEADS"), "{stderr}");
}
