//! Shared by the segmentation / variance CLI tests: a tiny CamVid tree in the SegNet layout and helpers
//! to run the `xtask` binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use patchlens_image::{ImageU8, write_png};

/// CamVid frame size (width, height).
pub const W: usize = 480;
/// CamVid frame height.
pub const H: usize = 360;

/// A seeded noise RGB frame (xorshift64*), with a different mean per quadrant.
pub fn noise_frame(seed: u64) -> ImageU8 {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut img = ImageU8::new(W, H, 3);
    for y in 0..H {
        for x in 0..W {
            let q = (y >= H / 2) as usize * 2 + (x >= W / 2) as usize;
            for c in 0..3 {
                s ^= s >> 12;
                s ^= s << 25;
                s ^= s >> 27;
                let r = (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as usize; // 0..255
                let base = [40usize, 90, 140, 190][(q + c) % 4];
                img.data[(y * W + x) * 3 + c] = ((base + r / 2) % 256) as u8;
            }
        }
    }
    img
}

/// A label map from a function of (x, y).
pub fn label_map(f: impl Fn(usize, usize) -> u8) -> ImageU8 {
    let mut img = ImageU8::new(W, H, 1);
    for y in 0..H {
        for x in 0..W {
            img.data[y * W + x] = f(x, y);
        }
    }
    img
}

/// Quadrant labels: top-left 0 (Sky), top-right 1 (Building), bottom-left 2 (Pole), bottom-right 3 (Road),
/// split at x = 240, y = 180.
pub fn quadrants() -> ImageU8 {
    label_map(|x, y| match (x >= W / 2, y >= H / 2) {
        (false, false) => 0,
        (true, false) => 1,
        (false, true) => 2,
        (true, true) => 3,
    })
}

/// Write the tree under `root`:
/// - `train/A.png` noise(1) with [`quadrants`] labels; `train/B.png` noise(2) labelled left half 8 (Car),
///   right half 11 (void);
/// - `test/C.png` = the pixels of A, labelled left half 0 (Sky), right half 1 (Building).
pub fn write_tree(root: &Path) {
    for d in ["train", "trainannot", "test", "testannot"] {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    let a = noise_frame(1);
    write_png(&root.join("train/A.png"), &a).expect("write A");
    write_png(&root.join("trainannot/A.png"), &quadrants()).expect("write A labels");
    write_png(&root.join("train/B.png"), &noise_frame(2)).expect("write B");
    write_png(
        &root.join("trainannot/B.png"),
        &label_map(|x, _| if x < W / 2 { 8 } else { 11 }),
    )
    .expect("write B labels");
    write_png(&root.join("test/C.png"), &a).expect("write C");
    write_png(
        &root.join("testannot/C.png"),
        &label_map(|x, _| if x < W / 2 { 0 } else { 1 }),
    )
    .expect("write C labels");
}

/// Run `xtask <args>`; panics with its output if it fails. Returns stdout.
pub use crate::cli_support::stdout_ok as run_xtask;

/// Parse a results.json.
pub fn read_json(path: &Path) -> serde_json::Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// The DINOv2-S/14 weights of the shared assets (None = skip outside CI).
pub fn dinov2_small() -> Option<PathBuf> {
    patchlens_testutil::shared_asset("weights/dinov2_vits14_imgfocus.safetensors")
}

/// A value at a JSON pointer as f64 (panics with the pointer if absent).
pub fn f(v: &serde_json::Value, pointer: &str) -> f64 {
    v.pointer(pointer)
        .and_then(serde_json::Value::as_f64)
        .unwrap_or_else(|| panic!("{pointer} missing in results"))
}
