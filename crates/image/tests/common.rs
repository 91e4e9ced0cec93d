//! Shared loader for the OpenCV reference fixtures (`fixtures/image/opencv_ref.safetensors`).
#![allow(dead_code)]

use std::collections::BTreeMap;

use patchlens_image::{Image, ImageF32, ImageU8};
use safetensors::{Dtype, SafeTensors};

/// One stored array: shape and raw values.
pub enum Arr {
    U8(Vec<usize>, Vec<u8>),
    F32(Vec<usize>, Vec<f32>),
}

/// All arrays of the OpenCV reference file, by key.
pub fn load() -> BTreeMap<String, Arr> {
    let path = patchlens_testutil::fixture("image/opencv_ref.safetensors");
    let bytes = std::fs::read(&path).expect("read fixture");
    let st = SafeTensors::deserialize(&bytes).expect("parse fixture");
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let shape = view.shape().to_vec();
        let arr = match view.dtype() {
            Dtype::U8 => Arr::U8(shape, view.data().to_vec()),
            Dtype::F32 => Arr::F32(
                shape,
                view.data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
            ),
            d => panic!("unexpected dtype {d:?} for {name}"),
        };
        out.insert(name, arr);
    }
    out
}

/// `[H, W, C]` u8 array as an image.
pub fn u8_image(a: &Arr) -> ImageU8 {
    match a {
        Arr::U8(s, d) => Image {
            height: s[0],
            width: s[1],
            channels: s[2],
            data: d.clone(),
        },
        _ => panic!("expected u8"),
    }
}

/// `[H, W, C]` f32 array as an image.
pub fn f32_image(a: &Arr) -> ImageF32 {
    match a {
        Arr::F32(s, d) => Image {
            height: s[0],
            width: s[1],
            channels: s[2],
            data: d.clone(),
        },
        _ => panic!("expected f32"),
    }
}
