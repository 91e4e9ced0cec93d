//! I-JEPA (`ijepa_h14_train_ckpt_tiny`): a tiny training checkpoint in the official `save_dict` layout
//! (`encoder`, `predictor`, `target_encoder`, `opt`, … with DDP `module.` keys). The loader must take the EMA
//! target encoder, the model has no CLS token, and the position grid follows I-JEPA's
//! `interpolate_pos_encoding` (16×16 at 224; 12×12 at 168). Reference: a transcription of the official
//! `VisionTransformer.forward` (fixtures/vit/README.md).

mod common;

use common::{case_layers, max_abs_diff, read_refs};
use patchlens_vit::{Device, Family, Tensor, TensorData, Vit, VitConfig, load_backbone};
use serde_json::Value;

/// The tolerance of every parity fixture (`parity_fixtures.rs`).
const TOL: f32 = 1e-4;
const NAME: &str = "ijepa_h14_train_ckpt_tiny";

fn case() -> (std::path::PathBuf, Value) {
    let dir = patchlens_testutil::fixture("vit");
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let c = m["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == NAME)
        .expect("the I-JEPA case is in the manifest")
        .clone();
    (dir, c)
}

/// Largest patch-token error of every (run, layer) against the reference: `(run, layer, error)`.
fn errors(vit: &Vit, dir: &std::path::Path, case: &Value) -> Vec<(u64, usize, f32)> {
    let refs = read_refs(&dir.join(case["reference"].as_str().unwrap()));
    let layers = case_layers(case);
    let mut out = Vec::new();
    for run in case["runs"].as_array().unwrap() {
        let id = run["id"].as_u64().unwrap();
        let input = &refs[&format!("input_{id}")];
        let s = &input.shape;
        let x = Tensor::<4>::from_data(
            TensorData::new(input.data.clone(), [s[0], s[1], s[2], s[3]]),
            &Device::flex(),
        );
        let fwd = vit.forward_layers(x, &layers).unwrap();
        for lt in fwd.layers {
            assert!(
                lt.cls.is_none() && lt.registers.is_none(),
                "no CLS, no registers"
            );
            let got = lt.patches.into_data().try_to_vec::<f32>().unwrap();
            let want = &refs[&format!("layer{}_{id}", lt.layer)];
            out.push((id, lt.layer, max_abs_diff(&got, &want.data)));
        }
    }
    out
}

#[test]
fn target_encoder_matches_the_official_forward_without_cls() {
    let (dir, case) = case();
    let cfg: VitConfig = serde_json::from_value(case["config"].clone()).unwrap();
    assert!(!cfg.cls_token);
    let ckpt = dir.join(case["checkpoint"].as_str().unwrap());
    let (vit, report) =
        load_backbone(&ckpt, Family::Ijepa, cfg.clone(), None, &Device::flex()).unwrap();
    assert_eq!(report.prefix, "target_encoder.module.");
    assert!(report.ignored.is_empty(), "{:?}", report.ignored);
    // the context encoder, the predictor and the optimiser state stay outside the chosen prefix
    assert!(report.outside_prefix > 2 * report.loaded, "{report:?}");

    let refs = read_refs(&dir.join(case["reference"].as_str().unwrap()));
    for run in case["runs"].as_array().unwrap() {
        let id = run["id"].as_u64().unwrap();
        let (rows, cols) = (
            run["grid"][0].as_u64().unwrap() as usize,
            run["grid"][1].as_u64().unwrap() as usize,
        );
        let pos = vit.position_embedding(rows, cols).unwrap().unwrap();
        assert_eq!(pos.dims(), [1, rows * cols, cfg.embed_dim], "no CLS row");
        let pos = pos.into_data().try_to_vec::<f32>().unwrap();
        let err = max_abs_diff(&pos, &refs[&format!("pos_{id}")].data);
        eprintln!("{NAME} run {id} ({rows}x{cols}): position grid max err {err:.2e}");
        assert!(err <= TOL, "run {id}: position grid max err {err}");
    }
    for (id, layer, err) in errors(&vit, &dir, &case) {
        eprintln!("{NAME} run {id} layer {layer}: patch tokens max err {err:.2e}");
        assert!(err <= TOL, "run {id} layer {layer}: max err {err}");
    }
}

#[test]
fn the_context_encoder_is_another_model() {
    let (dir, case) = case();
    let cfg: VitConfig = serde_json::from_value(case["config"].clone()).unwrap();
    let ckpt = dir.join(case["checkpoint"].as_str().unwrap());
    let (vit, report) =
        load_backbone(&ckpt, Family::Ijepa, cfg, Some("encoder"), &Device::flex()).unwrap();
    assert_eq!(report.prefix, "encoder.module.");
    // Loading the wrong encoder is not a rounding matter: every comparison is off by far more than TOL.
    for (id, layer, err) in errors(&vit, &dir, &case) {
        assert!(
            err > 0.1,
            "run {id} layer {layer}: context encoder within {err} of the target's"
        );
    }
}
