//! `cargo xtask embed` end to end: the real DINOv2-S/14 on the shared reference input reproduces the
//! onnxruntime final-norm tokens (on flex, and with `--features wgpu` on the machine's Vulkan device too);
//! an image file goes through the exact normalisation; bad arguments, backends and devices are clear
//! errors.

use std::path::Path;
use std::process::Command;

fn read_all(path: &Path) -> std::collections::HashMap<String, (Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(k, v)| {
            let d = v
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            (k, (v.shape().to_vec(), d))
        })
        .collect()
}

fn write_input(path: &Path, data: &[f32], h: usize, w: usize) {
    let bytes: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![3, h, w], &bytes)
        .unwrap();
    std::fs::write(
        path,
        safetensors::serialize(vec![("input", view)], None).unwrap(),
    )
    .unwrap();
}

fn embed(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("embed")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "embed failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn embed_input_reproduces_the_onnxruntime_reference() {
    let Some(w) = patchlens_testutil::shared_asset("weights/dinov2_vits14_imgfocus.safetensors")
    else {
        return;
    };
    let Some(r) =
        patchlens_testutil::shared_asset("reference/dinov2_vits14_imgfocus/chelsea.safetensors")
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let refs = read_all(&r);
    let input = tmp.path().join("input.safetensors");
    write_input(&input, &refs["input"].1, 224, 224);
    let mut backends = vec!["flex"];
    if cfg!(feature = "wgpu")
        && patchlens_testutil::required_device("a wgpu (Vulkan) device", || {
            "wgpu"
                .parse::<patchlens_vit::Backend>()
                .and_then(|b| b.device())
        })
        .is_some()
    {
        backends.push("wgpu");
    }
    for backend in backends {
        embed_matches_onnxruntime(&w, &input, &refs, backend, tmp.path());
    }
}

fn embed_matches_onnxruntime(
    w: &Path,
    input: &Path,
    refs: &std::collections::HashMap<String, (Vec<usize>, Vec<f32>)>,
    backend: &str,
    tmp: &Path,
) {
    let out = tmp.join(format!("tokens-{backend}.safetensors"));
    embed(&[
        "--backend",
        backend,
        "--model",
        "dinov2_vits14",
        "--weights",
        w.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--layers",
        "6,12",
        "--pos-interp",
        "dinov2_size",
        "--out",
        out.to_str().unwrap(),
    ]);
    let got = read_all(&out);
    assert_eq!(got["layer12"].0, vec![256, 384]);
    assert_eq!(got["layer6"].0, vec![256, 384]);
    let want = &refs["final_norm"].1; // [257, 384], CLS first
    let err_cls = got["cls"]
        .1
        .iter()
        .zip(&want[..384])
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    let err = got["layer12"]
        .1
        .iter()
        .zip(&want[384..])
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    eprintln!("embed on {backend}: max |Δ| patches {err:.2e}, cls {err_cls:.2e} vs onnxruntime");
    assert!(
        err <= 1e-4 && err_cls <= 1e-4,
        "{backend}: max err patches {err}, cls {err_cls}"
    );
}

#[test]
fn embed_image_applies_imagenet_normalisation_exactly() {
    let Some(w) = patchlens_testutil::shared_asset("weights/dinov2_vits14_imgfocus.safetensors")
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // A 224x224 RGB pattern (no resize needed at --size 224x224).
    let (h, wd) = (224usize, 224usize);
    let mut img = image::RgbImage::new(wd as u32, h as u32);
    for (x, y, p) in img.enumerate_pixels_mut() {
        *p = image::Rgb([
            (x * 7 % 256) as u8,
            (y * 3 % 256) as u8,
            ((x + y) % 256) as u8,
        ]);
    }
    let png = tmp.path().join("pattern.png");
    img.save(&png).unwrap();
    // The same input normalised by hand: (v / 255 - mean) / std, planar [3, H, W].
    let mean = [0.485f32, 0.456, 0.406];
    let std = [0.229f32, 0.224, 0.225];
    let mut chw = vec![0f32; 3 * h * wd];
    for (x, y, p) in img.enumerate_pixels() {
        for c in 0..3 {
            chw[c * h * wd + y as usize * wd + x as usize] =
                (p[c] as f32 / 255.0 - mean[c]) / std[c];
        }
    }
    let input = tmp.path().join("input.safetensors");
    write_input(&input, &chw, h, wd);
    let (a, b) = (
        tmp.path().join("a.safetensors"),
        tmp.path().join("b.safetensors"),
    );
    let ws = w.to_str().unwrap();
    embed(&[
        "--model",
        "dinov2_vits14",
        "--weights",
        ws,
        "--image",
        png.to_str().unwrap(),
        "--size",
        "224x224",
        "--out",
        a.to_str().unwrap(),
    ]);
    embed(&[
        "--model",
        "dinov2_vits14",
        "--weights",
        ws,
        "--input",
        input.to_str().unwrap(),
        "--out",
        b.to_str().unwrap(),
    ]);
    let (a, b) = (read_all(&a), read_all(&b));
    let err = a["layer12"]
        .1
        .iter()
        .zip(&b["layer12"].1)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(
        err <= 1e-4,
        "image path and hand-normalised input differ by {err}"
    );
}

#[test]
fn bad_arguments_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args([
            "embed",
            "--model",
            "no_such_model",
            "--weights",
            "/nonexistent.pth",
            "--image",
            "x.png",
            "--out",
        ])
        .arg(tmp.path().join("o.safetensors"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown model `no_such_model`") && err.contains("dinov2_vits14"),
        "{err}"
    );
    // A device index past the machine's devices, or a backend not built in: one line naming it.
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args([
            "embed",
            "--backend",
            "wgpu:9",
            "--model",
            "dinov2_vits14",
            "--random-init",
            "0",
        ])
        .args(["--image", "x.png", "--out"])
        .arg(tmp.path().join("o.safetensors"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("backend `wgpu:9`"), "{err}");
    assert!(
        err.contains("built without the `wgpu` feature")
            || err.contains("no wgpu device 9")
            || err.contains("has no wgpu device"),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["embed", "--precision", "fp8", "--model", "dinov2_vits14"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("unknown precision `fp8`: expected f32, f16 or bf16"),
        "{err}"
    );
}
