//! Backends and precisions (issue #14):
//!
//! - backend strings (`flex`, `wgpu:N`, `cuda:N`) and their errors: a backend the binary was built without,
//!   or a device index the machine lacks, is one line saying what there is;
//! - half precision on the flex device (the burn path in f16 / bf16) stays near the f32 tokens, and is
//!   not f32 in disguise;
//! - with `--features wgpu` on a Vulkan device (CI: Mesa's lavapipe): every family's fixture through
//!   `wgpu` equals the flex path and the family's reference (≤ 1e-4), the real DINOv2-S/14 equals the
//!   onnxruntime tokens, and f16 / bf16 either run near f32 or are refused with one clear error.

mod common;

#[cfg(feature = "wgpu")]
use common::case_layers;
use common::{config_from_manifest, manifest_cases, max_abs_diff, read_refs};
use patchlens_vit::{
    Backend, BackendKind, Device, Family, Precision, Tensor, TensorData, Vit, load_backbone,
};

/// Token tolerance between two devices at f32, as between our tokens and the references.
#[cfg(feature = "wgpu")]
const TOL: f32 = 1e-4;

fn tokens(vit: &Vit, input: &[f32], shape: [usize; 4], layer: usize) -> Vec<f32> {
    let x = Tensor::<4>::from_data(TensorData::new(input.to_vec(), shape), vit.device());
    let out = vit.forward_layers(x, &[layer]).unwrap();
    out.layers[0]
        .patches
        .clone()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()
}

/// The fixture case `name` loaded on `device`, with its first run's input and shape.
fn fixture_case(name: &str, device: &Device) -> (Vit, Vec<f32>, [usize; 4]) {
    let (dir, cases) = manifest_cases();
    let case = cases.iter().find(|c| c["name"] == name).unwrap();
    let family = Family::parse(case["family"].as_str().unwrap()).unwrap();
    let cfg = config_from_manifest(&case["config"]);
    let ckpt = dir.join(case["checkpoint"].as_str().unwrap());
    let (vit, _) = load_backbone(&ckpt, family, cfg, None, device).unwrap();
    let refs = read_refs(&dir.join(case["reference"].as_str().unwrap()));
    let input = &refs["input_0"];
    let s = &input.shape;
    (vit, input.data.clone(), [s[0], s[1], s[2], s[3]])
}

/// Max |a − b| relative to the largest |b|.
fn rel_err(a: &[f32], b: &[f32]) -> f32 {
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    max_abs_diff(a, b) / scale
}

#[test]
fn backend_strings_and_their_errors() {
    let b: Backend = "wgpu:7".parse().unwrap();
    assert_eq!((b.kind, b.index), (BackendKind::Wgpu, Some(7)));
    let e = b.device().unwrap_err().to_string();
    assert!(!e.contains('\n'), "one line: {e}");
    if BackendKind::Wgpu.compiled() {
        // Either no adapter at all, or fewer than eight, listed by index.
        assert!(
            e.contains("no wgpu device 7; this machine has") || e.contains("has no wgpu device"),
            "{e}"
        );
    } else {
        assert!(e.contains("built without the `wgpu` feature"), "{e}");
    }
    let e = "cuda:1".parse::<Backend>().unwrap().device().unwrap_err();
    let e = e.to_string();
    if !BackendKind::Cuda.compiled() {
        assert!(e.contains("built without the `cuda` feature"), "{e}");
    }
    assert!(e.starts_with("backend `cuda:1`"), "{e}");
}

/// Half precision through the burn path on the CPU: close to f32, and really computed in half (the
/// parameters are stored in the dtype, and the tokens differ from f32's). Bounds: a unit roundoff of
/// 2⁻¹¹ (f16) or 2⁻⁸ (bf16) per operation, grown over 4 blocks; measured 1.5e-3 and 1.2e-2 relative.
#[test]
fn half_precision_on_flex_stays_near_f32() {
    let dev = Device::flex();
    let (mut vit, input, shape) = fixture_case("dinov2_s14_tiny", &dev);
    let f32_tokens = tokens(&vit, &input, shape, 4);
    for (p, bound) in [(Precision::F16, 1e-2), (Precision::Bf16, 6e-2)] {
        vit.set_precision(p).unwrap();
        assert_eq!(vit.precision(), p);
        assert_eq!(
            vit.model.blocks[0].qkv.weight.val().dtype(),
            p.dtype().into(),
            "{p}: parameters stored in the precision"
        );
        let half = tokens(&vit, &input, shape, 4);
        let err = rel_err(&half, &f32_tokens);
        eprintln!("{p} on flex: max relative error {err:.2e} vs f32");
        assert!(err > 0.0, "{p}: identical to f32, so not computed in {p}");
        assert!(err <= bound, "{p}: relative error {err} above {bound}");
    }
    vit.set_precision(Precision::F32).unwrap();
    let back = tokens(&vit, &input, shape, 4);
    assert!(
        rel_err(&back, &f32_tokens) <= 1e-2,
        "back at f32 after a round trip through bf16"
    );
}

/// The wgpu device of this machine (CI: lavapipe), or a skip line outside CI.
#[cfg(feature = "wgpu")]
fn wgpu() -> Option<Device> {
    patchlens_testutil::required_device("a wgpu (Vulkan) device", || {
        "wgpu".parse::<Backend>().and_then(|b| b.device())
    })
}

#[cfg(feature = "wgpu")]
#[test]
fn every_family_on_wgpu_matches_flex_and_its_reference() {
    let Some(gpu) = wgpu() else { return };
    let (dir, cases) = manifest_cases();
    let mut families = std::collections::BTreeSet::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let family = Family::parse(case["family"].as_str().unwrap()).unwrap();
        families.insert(family.name());
        let cfg = config_from_manifest(&case["config"]);
        let ckpt = dir.join(case["checkpoint"].as_str().unwrap());
        let refs = read_refs(&dir.join(case["reference"].as_str().unwrap()));
        let layers = case_layers(case);
        let (on_cpu, _) = load_backbone(&ckpt, family, cfg.clone(), None, &Device::flex()).unwrap();
        let (on_gpu, _) = load_backbone(&ckpt, family, cfg, None, &gpu).unwrap();
        let mut worst = 0f32;
        for run in case["runs"].as_array().unwrap() {
            let id = run["id"].as_u64().unwrap();
            let input = &refs[&format!("input_{id}")];
            let s = &input.shape;
            let shape = [s[0], s[1], s[2], s[3]];
            for &l in &layers {
                let a = tokens(&on_gpu, &input.data, shape, l);
                let b = tokens(&on_cpu, &input.data, shape, l);
                let err = max_abs_diff(&a, &b);
                assert!(err <= TOL, "{name} run {id} layer {l}: wgpu vs flex {err}");
                let want = &refs[&format!("layer{l}_{id}")].data;
                let err_ref = max_abs_diff(&a, want);
                assert!(
                    err_ref <= TOL,
                    "{name} run {id} layer {l}: wgpu vs reference {err_ref}"
                );
                worst = worst.max(err);
            }
        }
        eprintln!("{name}: wgpu vs flex max |Δ| {worst:.2e}");
    }
    assert_eq!(
        families.len(),
        Family::ALL.len(),
        "every family ran on wgpu"
    );
}

#[cfg(feature = "wgpu")]
#[test]
fn shared_dinov2_on_wgpu_matches_onnxruntime() {
    let Some(gpu) = wgpu() else { return };
    let Some(w) = patchlens_testutil::shared_asset("weights/dinov2_vits14_imgfocus.safetensors")
    else {
        return;
    };
    let Some(r) =
        patchlens_testutil::shared_asset("reference/dinov2_vits14_imgfocus/chelsea.safetensors")
    else {
        return;
    };
    let mut cfg = patchlens_vit::zoo::lookup("dinov2_vits14")
        .unwrap()
        .config
        .clone();
    cfg.pos_interp = patchlens_vit::PosInterp::Dinov2Size;
    let (mut vit, _) = load_backbone(&w, Family::Dinov2, cfg, None, &gpu).unwrap();
    let refs = read_refs(&r);
    let input = &refs["input"].data;
    let got = tokens(&vit, input, [1, 3, 224, 224], 12);
    let want = &refs["final_norm"].data[384..];
    let err = max_abs_diff(&got, want);
    eprintln!("DINOv2-S/14 on wgpu vs onnxruntime: max |Δ| {err:.2e}");
    assert!(err <= TOL, "max |Δ| {err}");
    // Half precision on this device: near f32 where supported, else one clear error.
    for (p, bound) in [(Precision::F16, 2e-2), (Precision::Bf16, 8e-2)] {
        match vit.set_precision(p) {
            Ok(()) => {
                let half = tokens(&vit, input, [1, 3, 224, 224], 12);
                let err = rel_err(&half, want);
                eprintln!(
                    "DINOv2-S/14 on wgpu at {p}: max relative error {err:.2e} vs onnxruntime f32"
                );
                assert!(err > 0.0 && err <= bound, "{p}: {err}");
            }
            Err(e) => {
                let e = e.to_string();
                eprintln!("{p} on wgpu: {e}");
                assert!(!p.supported_on(&gpu), "{p} supported but refused: {e}");
                assert!(
                    e.contains(&format!("precision {p} is not supported")),
                    "{e}"
                );
            }
        }
    }
}
