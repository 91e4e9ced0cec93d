//! Shared helpers for reading the committed safetensors fixtures.
#![allow(dead_code)]

use safetensors::{Dtype, SafeTensors};

/// A fixture file loaded into memory.
pub struct Fixture {
    bytes: Vec<u8>,
}

impl Fixture {
    pub fn load(rel: &str) -> Self {
        let path = patchlens_testutil::fixture(rel);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        Self { bytes }
    }

    fn tensors(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.bytes).expect("valid safetensors")
    }

    pub fn names(&self) -> Vec<String> {
        self.tensors()
            .names()
            .into_iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn raw(&self, name: &str, dtype: Dtype) -> (Vec<usize>, Vec<u8>) {
        let st = self.tensors();
        let t = st
            .tensor(name)
            .unwrap_or_else(|e| panic!("tensor {name}: {e}"));
        assert_eq!(t.dtype(), dtype, "dtype of {name}");
        (t.shape().to_vec(), t.data().to_vec())
    }

    pub fn f32(&self, name: &str) -> (Vec<usize>, Vec<f32>) {
        let (shape, data) = self.raw(name, Dtype::F32);
        (
            shape,
            data.chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect(),
        )
    }

    pub fn i64(&self, name: &str) -> (Vec<usize>, Vec<i64>) {
        let (shape, data) = self.raw(name, Dtype::I64);
        (
            shape,
            data.chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
                .collect(),
        )
    }

    pub fn i32(&self, name: &str) -> (Vec<usize>, Vec<i32>) {
        let (shape, data) = self.raw(name, Dtype::I32);
        (
            shape,
            data.chunks_exact(4)
                .map(|b| i32::from_le_bytes(b.try_into().unwrap()))
                .collect(),
        )
    }

    pub fn u8(&self, name: &str) -> (Vec<usize>, Vec<u8>) {
        self.raw(name, Dtype::U8)
    }

    pub fn metadata(&self, key: &str) -> Option<String> {
        let (_, meta) = SafeTensors::read_metadata(&self.bytes).ok()?;
        meta.metadata().as_ref()?.get(key).cloned()
    }
}
