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
