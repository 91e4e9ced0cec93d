//! The host inference path (gemm + fused kernels, `src/cpu.rs`) against the burn-tensor path
//! (`src/model.rs`), two independent implementations of the same forward: every architecture of the
//! fixture manifest (relative position bias shared / per block, SwiGLU, registers, LayerScale, q/v
//! bias, no absolute positions, sin-cos positions) plus a mid-size model whose token count spans
//! several row chunks and whose widths are not multiples of the SIMD width. Random weights with
//! non-trivial biases and norms; max abs difference ≤ 1e-4 on every layer, CLS and register token.

use patchlens_vit::init::{InitSpec, init_random_with};
use patchlens_vit::{Device, ForwardPath, QkvBias, Tensor, TensorData, VitConfig};
use serde_json::Value;

const TOL: f32 = 1e-4;

fn spec() -> InitSpec {
    InitSpec {
        std: 0.1,
        bias_std: 0.1,
        norm_weight_std: 0.2,
        norm_bias_std: 0.1,
        layer_scale: (0.05, 1.0),
    }
}

fn input(b: usize, h: usize, w: usize, seed: u64, device: &Device) -> Tensor<4> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let data: Vec<f32> = (0..b * 3 * h * w)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
        })
        .collect();
    Tensor::from_data(TensorData::new(data, [b, 3, h, w]), device)
}

fn vec3(t: &Tensor<3>) -> Vec<f32> {
    t.clone().into_data().try_to_vec::<f32>().unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max)
}

/// Compare both paths on one config and input size; returns the number of tensors compared.
fn compare(name: &str, cfg: &VitConfig, b: usize, h: usize, w: usize, seed: u64) -> usize {
    let device = Device::flex();
    let mut vit = init_random_with(cfg, &spec(), seed, &device);
    let x = input(b, h, w, seed, &device);
    let layers: Vec<usize> = (1..=cfg.depth).collect();
    let mut n = 0;
    for blocks in [false, true] {
        let run = |vit: &patchlens_vit::Vit| {
            if blocks {
                vit.forward_blocks(x.clone(), &layers).unwrap()
            } else {
                vit.forward_layers(x.clone(), &layers).unwrap()
            }
        };
        vit.set_forward_path(ForwardPath::Host);
        let host = run(&vit);
        vit.set_forward_path(ForwardPath::Burn);
        let burn = run(&vit);
        assert_eq!((host.rows, host.cols), (burn.rows, burn.cols));
        assert_eq!(host.layers.len(), burn.layers.len());
        for (a, bl) in host.layers.iter().zip(&burn.layers) {
            assert_eq!(a.layer, bl.layer);
            assert_eq!(a.patches.dims(), bl.patches.dims());
            let scale = vec3(&bl.patches).iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!(scale > 0.1, "{name}: degenerate tokens");
            let err = max_diff(&vec3(&a.patches), &vec3(&bl.patches));
            assert!(
                err <= TOL,
                "{name} {h}x{w} layer {} (blocks={blocks}): patches max err {err}",
                a.layer
            );
            n += 1;
            if let (Some(ca), Some(cb)) = (&a.cls, &bl.cls) {
                let ca = ca.clone().into_data().try_to_vec::<f32>().unwrap();
                let cb = cb.clone().into_data().try_to_vec::<f32>().unwrap();
                let err = max_diff(&ca, &cb);
                assert!(err <= TOL, "{name} layer {}: cls max err {err}", a.layer);
                n += 1;
            }
            assert_eq!(a.registers.is_some(), bl.registers.is_some());
            if let (Some(ra), Some(rb)) = (&a.registers, &bl.registers) {
                let err = max_diff(&vec3(ra), &vec3(rb));
                assert!(
                    err <= TOL,
                    "{name} layer {}: registers max err {err}",
                    a.layer
                );
                n += 1;
            }
        }
    }
    n
}

#[test]
fn host_path_matches_burn_path_on_every_fixture_architecture() {
    let dir = patchlens_testutil::fixture("vit");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let mut n = 0;
    for (i, case) in manifest["cases"].as_array().unwrap().iter().enumerate() {
        let c = &case["config"];
        let mut cfg: VitConfig = serde_json::from_value(c.clone()).unwrap();
        if c["qv_bias_separate"].as_bool() == Some(true) {
            cfg.qkv_bias = QkvBias::Qv;
        }
        let name = case["name"].as_str().unwrap();
        for run in case["runs"].as_array().unwrap() {
            let (h, w) = (
                run["height"].as_u64().unwrap() as usize,
                run["width"].as_u64().unwrap() as usize,
            );
            n += compare(name, &cfg, 2, h, w, i as u64);
        }
    }
    assert!(n > 200, "only {n} comparisons");
}

#[test]
fn host_path_matches_burn_path_across_row_chunks_and_ragged_widths() {
    // D = 72 (not a multiple of 16), 3 heads of 24, hidden 200, T = 1 + 4 + 8·10 = 85 tokens,
    // batch 3 → 255 rows (an odd count: the last row chunk is ragged), registers and LayerScale.
    let cfg: VitConfig = serde_json::from_value(serde_json::json!({
        "patch_size": 8, "embed_dim": 72, "depth": 3, "num_heads": 3, "mlp_hidden": 200,
        "img_size": 64, "num_register_tokens": 4, "layer_scale": true,
        "pos_interp": "dinov2_offset"
    }))
    .unwrap();
    assert!(compare("mid", &cfg, 3, 64, 80, 7) >= 18);
    let swiglu: VitConfig = serde_json::from_value(serde_json::json!({
        "patch_size": 8, "embed_dim": 72, "depth": 2, "num_heads": 3, "img_size": 64,
        "ffn": "swiglu", "layer_scale": true, "pos_interp": "dinov2_offset"
    }))
    .unwrap();
    assert!(compare("mid_swiglu", &swiglu, 3, 72, 64, 8) >= 8);
}
