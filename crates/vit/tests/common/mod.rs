//! Helpers shared by the integration tests: reading reference safetensors.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;

/// A float32 tensor from a reference file.
pub struct Ref {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Read every tensor of a safetensors file as f32.
pub fn read_refs(path: &Path) -> HashMap<String, Ref> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    st.tensors()
        .into_iter()
        .map(|(name, v)| {
            assert_eq!(
                v.dtype(),
                safetensors::Dtype::F32,
                "{name} in {} is not f32",
                path.display()
            );
            let data = v
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            (
                name,
                Ref {
                    shape: v.shape().to_vec(),
                    data,
                },
            )
        })
        .collect()
}

/// Largest absolute difference; panics on length mismatch.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max)
}

/// The architecture of a `fixtures/vit/manifest.json` case.
pub fn config_from_manifest(c: &serde_json::Value) -> patchlens_vit::VitConfig {
    let mut cfg: patchlens_vit::VitConfig =
        serde_json::from_value(c.clone()).expect("manifest config deserialises");
    if c["qv_bias_separate"].as_bool() == Some(true) {
        cfg.qkv_bias = patchlens_vit::QkvBias::Qv;
    }
    cfg
}

/// The cases of `fixtures/vit/manifest.json` and its folder.
pub fn manifest_cases() -> (std::path::PathBuf, Vec<serde_json::Value>) {
    let dir = patchlens_testutil::fixture("vit");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let cases = manifest["cases"].as_array().unwrap().clone();
    (dir, cases)
}

/// The layers a manifest case checks.
pub fn case_layers(case: &serde_json::Value) -> Vec<usize> {
    case["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_u64().unwrap() as usize)
        .collect()
}
