//! Shared by the experiment tests of `patchlens-eval`: loading the models they use (the committed tiny
//! DINOv2 fixture, the shared DINOv2-S/14 weights, random ViT-S/14), a tiny CamVid tree in the SegNet
//! layout with hand-derivable scores, and reading an error's cause chain.

#![allow(dead_code)]

pub mod http_server;

use std::path::{Path, PathBuf};

use patchlens_eval::{Backbone, InputNorm, ModelSource, ModelSpec};
use patchlens_image::{ImageU8, write_png};
use patchlens_vit::Device;

/// The DINOv2-S/14 weights of the shared assets (None = skip outside CI).
pub fn dinov2_small() -> Option<PathBuf> {
    patchlens_testutil::shared_asset("weights/dinov2_vits14_imgfocus.safetensors")
}

/// The zoo's DINOv2-S/14 with the weights at `path`, on the host.
pub fn load_dinov2_small(path: &Path) -> Backbone {
    ModelSpec::zoo("dinov2_vits14")
        .expect("zoo entry")
        .load(
            &ModelSource::Weights {
                path: path.to_path_buf(),
                part: None,
            },
            &Device::flex(),
        )
        .expect("load DINOv2-S/14")
}

/// The zoo's DINOv2-S/14 architecture with random parameters drawn with `seed`, on the host.
pub fn random_dinov2_small(seed: u64) -> Backbone {
    ModelSpec::zoo("dinov2_vits14")
        .expect("zoo entry")
        .load(&ModelSource::Random { seed }, &Device::flex())
        .expect("random DINOv2-S/14")
}

/// The tiny DINOv2 fixture (patch 14, D 32, 4 blocks, 2 heads; `fixtures/vit/manifest.json`).
pub fn tiny_dinov2() -> Backbone {
    let mut c = patchlens_vit::zoo::lookup("dinov2_vits14")
        .unwrap()
        .config
        .clone();
    c.embed_dim = 32;
    c.depth = 4;
    c.num_heads = 2;
    c.mlp_hidden = 128;
    c.img_size = 70;
    c.pos_interp = patchlens_vit::PosInterp::Dinov2Offset;
    c.interpolate_offset = 0.1;
    let spec = ModelSpec {
        name: "dinov2_s14_tiny".into(),
        family: patchlens_vit::Family::Dinov2,
        config: c,
        norm: InputNorm::default(),
        paper_model: None,
    };
    spec.load(
        &ModelSource::Weights {
            path: patchlens_testutil::fixture("vit/dinov2_s14_tiny.pth"),
            part: None,
        },
        &Device::flex(),
    )
    .expect("load the tiny DINOv2 fixture")
}

/// An error with its whole cause chain (`outer: inner: …`), as the command line prints it.
pub fn chain(e: &patchlens_eval::EvalError) -> String {
    patchlens_eval::error::chain(e)
}

/// CamVid frame width.
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

/// Write a tiny CamVid tree (SegNet layout) under `root`:
/// - `train/A.png` noise(1) with [`quadrants`] labels; `train/B.png` noise(2) labelled left half 8 (Car),
///   right half 11 (void);
/// - `test/C.png` = the pixels of A, labelled left half 0 (Sky), right half 1 (Building).
pub fn write_camvid_tree(root: &Path) {
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

/// A CamVid tree with the first `train` and `test` frames of `src` (symbolic links).
pub fn camvid_subset(src: &Path, dest: &Path, train: usize, test: usize) {
    for (dir, n) in [("train", train), ("test", test)] {
        for d in [dir.to_string(), format!("{dir}annot")] {
            std::fs::create_dir_all(dest.join(&d)).unwrap();
            let mut files: Vec<_> = std::fs::read_dir(src.join(&d))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            for f in files.into_iter().take(n) {
                std::os::unix::fs::symlink(&f, dest.join(&d).join(f.file_name().unwrap())).unwrap();
            }
        }
    }
}
