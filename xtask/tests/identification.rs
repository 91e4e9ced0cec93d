//! `eval identification` on a tiny FAIR1M tree written here (hand-worked counts with a colour-coding
//! feature extractor), on the synthetic benchmark with a real tiny DINOv2 backbone (checked against a naive
//! recomputation of the protocol), and through the command line with the shared DINOv2-S/14 weights.

#![allow(dead_code)]

#[path = "../src/backend.rs"]
mod backend;
#[path = "../src/eval/common.rs"]
mod common;
#[path = "../src/encode.rs"]
mod encode;
#[path = "../src/eval/identification.rs"]
mod identification;
#[path = "../src/models.rs"]
mod models;

use std::path::Path;

use anyhow::Result;
use identification::{FeatureSource, IdDataset, IdentificationConfig, evaluate, evaluate_with};
use patchlens_data::synthetic::transforms::{TransformBenchConfig, transformed_scene};
use patchlens_data::transforms::{Transform, TransformKind};
use patchlens_image::{IMAGENET_MEAN, IMAGENET_STD, ImageU8, patch_labels, to_chw};
use patchlens_report::ModelInfo;

const R: f64 = 1000.0;

fn t(kind: TransformKind, level: u8) -> Transform {
    Transform::new(kind, level).unwrap()
}

/// Colour of chip pixel (x, y): every 16-px cell of every 224 tile has its own colour; the tile index only
/// moves the red channel (tile (0,0): +0, (0,1): +4, (1,0): +12, (1,1): +28), the cell position sets green
/// and blue (steps of 15). The 32-px margin of the 480-px chip is grey.
fn colour(x: usize, y: usize) -> [u8; 3] {
    let (tr, tc) = (y / 224, x / 224);
    if tr > 1 || tc > 1 {
        return [128, 128, 128];
    }
    let off = [[0u8, 4], [12, 28]][tr][tc];
    let (r, c) = ((y % 224) / 16, (x % 224) / 16);
    [40 + off, 20 + 15 * r as u8, 20 + 15 * c as u8]
}

/// A rectangle covering exactly the patches rows r0..=r1, cols c0..=c1 (16-px grid) of tile (tr, tc), as a
/// DOTA polygon in chip pixels: corners 2 px inside the first cell and 3 px before the end of the last, so
/// each covered patch's centre pixel (16k + 8) is inside and no neighbour's is.
fn rect(tile: (usize, usize), rows: (usize, usize), cols: (usize, usize), class: &str) -> String {
    let (ox, oy) = (tile.1 * 224, tile.0 * 224);
    let (x0, x1) = (ox + 16 * cols.0 + 2, ox + 16 * cols.1 + 13);
    let (y0, y1) = (oy + 16 * rows.0 + 2, oy + 16 * rows.1 + 13);
    format!("{x0} {y0} {x1} {y0} {x1} {y1} {x0} {y1} {class} 0\n")
}

/// One 480×480 chip `c0` (2×2 tiles of 224; tile (1,1) has no object, so the selection is the other three).
fn write_fake_fair1m(root: &Path) {
    std::fs::create_dir_all(root.join("images")).unwrap();
    std::fs::create_dir_all(root.join("labelTxt")).unwrap();
    let mut img = ImageU8 {
        width: 480,
        height: 480,
        channels: 3,
        data: vec![0; 480 * 480 * 3],
    };
    for y in 0..480 {
        for x in 0..480 {
            let i = (y * 480 + x) * 3;
            img.data[i..i + 3].copy_from_slice(&colour(x, y));
        }
    }
    patchlens_image::write_png(&root.join("images/c0.png"), &img).unwrap();
    let mut txt = String::from("imagesource:test\ngsd:1.0\n");
    // tile (0,0): Small Car rows 2-4 × cols 3-6 (12 patches), Tennis Court rows 8-9 × cols 8-12 (10)
    txt += &rect((0, 0), (2, 4), (3, 6), "Small_Car");
    txt += &rect((0, 0), (8, 9), (8, 12), "Tennis_Court");
    // tile (0,1): Van row 3 × cols 3-6 (4), Small Car row 4 × cols 5-6 (2), Boeing747 at (8, 8) (1)
    txt += &rect((0, 1), (3, 3), (3, 6), "Van");
    txt += &rect((0, 1), (4, 4), (5, 6), "Small_Car");
    txt += &rect((0, 1), (8, 8), (8, 8), "Boeing747");
    // tile (1,0): Boeing737 row 2 × cols 3-4 (2) and row 8 × cols 8-9 (2)
    txt += &rect((1, 0), (2, 2), (3, 4), "Boeing737");
    txt += &rect((1, 0), (8, 8), (8, 9), "Boeing737");
    std::fs::write(root.join("labelTxt/c0.txt"), txt).unwrap();
}

/// Features that make the dot product rank by colour distance: per 16-px patch the mean RGB (0–255) of its
/// inner 8×8 pixels, centred (x = rgb − 128), lifted onto the sphere of radius R: `[x, sqrt(R² − |x|²)]`, so
/// `f·g = R² − |x_f − x_g|² / 2`.
fn colour_features(tile: &[f32]) -> Vec<f32> {
    let (s, g, p) = (224usize, 14usize, 16usize);
    let mut out = Vec::with_capacity(g * g * 4);
    for r in 0..g {
        for c in 0..g {
            let mut x = [0f64; 3];
            for (ch, xc) in x.iter_mut().enumerate() {
                let mut sum = 0.0;
                for yy in r * p + 4..r * p + 12 {
                    for xx in c * p + 4..c * p + 12 {
                        sum += tile[ch * s * s + yy * s + xx] as f64;
                    }
                }
                let v = sum / 64.0;
                *xc = (v * IMAGENET_STD[ch] as f64 + IMAGENET_MEAN[ch] as f64) * 255.0 - 128.0;
            }
            let n2: f64 = x.iter().map(|v| v * v).sum();
            out.extend(x.iter().map(|&v| v as f32));
            out.push((R * R - n2).sqrt() as f32);
        }
    }
    out
}

fn colour_model() -> ModelInfo {
    ModelInfo {
        zoo_name: "colour-code".into(),
        weights_sha256: None,
        family: "test".into(),
    }
}

#[test]
fn fair1m_counts_match_the_hand_worked_example() -> Result<()> {
    let dir = tempfile::tempdir()?;
    write_fake_fair1m(dir.path());
    let mut cfg = IdentificationConfig::new(IdDataset::Fair1m {
        root: dir.path().to_path_buf(),
        per_class: 8,
        selection_seed: 1,
    });
    cfg.transforms = vec![
        t(TransformKind::Blur, 1),
        t(TransformKind::Blur, 2),
        t(TransformKind::Shift, 4),
        t(TransformKind::Rotate, 1),
    ];
    cfg.exclude_same_tile = true;
    let mut calls = Vec::new();
    let mut enc =
        |id: &str, tiles: &dyn Fn() -> Result<Vec<Vec<f32>>>| -> Result<(Vec<f32>, usize)> {
            calls.push(id.to_string());
            let tiles = tiles()?;
            Ok((tiles.iter().flat_map(|t| colour_features(t)).collect(), 4))
        };
    let exp = evaluate_with(
        &cfg,
        FeatureSource {
            model: colour_model(),
            patch_size: 16,
            layer: 12,
            encode: &mut enc,
        },
    )?;
    let m = |k: &str| {
        *exp.metrics
            .get(k)
            .unwrap_or_else(|| panic!("metric {k} missing: {:?}", exp.metrics.keys()))
    };

    // 3 selected tiles (tile (1,1) has no object), 14×14 grid, 33 labelled patches (12+10, 4+2+1, 2+2).
    assert_eq!(m("tiles"), 3.0);
    assert_eq!(m("gallery_patches"), 3.0 * 196.0);
    assert_eq!(m("query_positions"), 33.0);
    assert_eq!(
        calls.len(),
        5,
        "one cache chunk for the originals and one per transform: {calls:?}"
    );

    // Blur k = 2, 4 and a 4-px shift leave every patch's inner 8×8 colour unchanged (the shift moves the
    // window by 4 px, so the inner pixels stay in the same cell): every query finds its own patch.
    for l in ["blur1", "blur2", "shift4"] {
        for k in [
            "queries",
            "upper_bound",
            "same_patch",
            "same_fine",
            "same_super",
            "non_background",
            "same_tile",
        ] {
            assert_eq!(m(&format!("{l}/{k}")), 33.0, "{l}/{k}");
        }
        assert_eq!(m(&format!("{l}/same_patch_rate")), 1.0);
        // Own tile excluded: the best patch is the same cell of the tile with the nearest red offset
        // ((0,0)↔(0,1), (1,0)→(0,1)). Worked out cell by cell:
        //   (0,0) → (0,1): car row 3 meets Van (same super) ×4, car row 4 cols 5-6 meets car ×2, Tennis
        //                  Court at (8,8) meets Boeing747 (an object, other super) ×1
        //   (0,1) → (0,0): Van meets car (super) ×4, car meets car ×2, Boeing747 meets Tennis Court ×1
        //   (1,0) → (0,1): Boeing737 at (8,8) meets Boeing747 (super) ×1
        assert_eq!(m(&format!("{l}/retrieval/same_fine")), 4.0, "{l}");
        assert_eq!(m(&format!("{l}/retrieval/same_super")), 13.0, "{l}");
        assert_eq!(m(&format!("{l}/retrieval/non_background")), 15.0, "{l}");
        assert!((m(&format!("{l}/retrieval/same_super_rate")) - 13.0 / 33.0).abs() < 1e-12);
    }
    // Rotation: only the orderings that hold for any features.
    let q = m("rotate1/queries");
    assert_eq!(q, 33.0);
    let (ub, sp, sf, ss, nb) = (
        m("rotate1/upper_bound"),
        m("rotate1/same_patch"),
        m("rotate1/same_fine"),
        m("rotate1/same_super"),
        m("rotate1/non_background"),
    );
    assert!(
        sp <= ub && ub <= q && sf <= ss && ss <= nb && nb <= q,
        "{ub} {sp} {sf} {ss} {nb}"
    );

    // Curves: one identification and one retrieval figure per kind, rates against the level parameter.
    let fig: Vec<_> = exp
        .curves
        .iter()
        .filter(|c| c.figure == "fair1m instance identification: blur")
        .collect();
    assert_eq!(
        fig.len(),
        4,
        "upper bound, same patch, same class, same supercategory"
    );
    assert_eq!(fig[0].x, vec![2.0, 4.0], "blur kernels of levels 1, 2");
    assert!(
        exp.curves
            .iter()
            .any(|c| c.figure == "fair1m object retrieval: shift" && c.x == vec![4.0])
    );
    for c in &exp.curves {
        c.validate()?;
    }
    // The colour-code model is not one of the paper's: no paper links.
    assert!(exp.paper.is_empty());
    Ok(())
}

#[test]
fn fair1m_removal_and_errors() -> Result<()> {
    let dir = tempfile::tempdir()?;
    write_fake_fair1m(dir.path());
    let mut cfg = IdentificationConfig::new(IdDataset::Fair1m {
        root: dir.path().to_path_buf(),
        per_class: 8,
        selection_seed: 1,
    });
    cfg.transforms = vec![t(TransformKind::Blur, 1), t(TransformKind::Rotate, 1)];
    cfg.remove_top_variance = 1;
    let mut enc =
        |_: &str, tiles: &dyn Fn() -> Result<Vec<Vec<f32>>>| -> Result<(Vec<f32>, usize)> {
            Ok((
                tiles()?.iter().flat_map(|t| colour_features(t)).collect(),
                4,
            ))
        };
    let exp = evaluate_with(
        &cfg,
        FeatureSource {
            model: colour_model(),
            patch_size: 16,
            layer: 1,
            encode: &mut enc,
        },
    )?;
    let removed = exp.protocol["removed_dimensions"].as_array().unwrap();
    assert_eq!(removed.len(), 1);
    // Over the gallery, green (cell row) and blue (cell column) both take the 14 values 20 + 15k equally often
    // (variance 225·(14²−1)/12 ≈ 3656), far above red (tile offsets 0, 4, 12) and the lift (≈ R − |x|²/2R).
    let d = removed[0].as_u64().unwrap() as usize;
    assert!(d == 1 || d == 2, "removed dimension {d}");
    assert!(exp.name.ends_with("/minus1"));
    // The same run with that dimension dropped by the extractor itself and no removal gives the same counts.
    let mut cfg3 = cfg.clone();
    cfg3.remove_top_variance = 0;
    let mut enc3 =
        |_: &str, tiles: &dyn Fn() -> Result<Vec<Vec<f32>>>| -> Result<(Vec<f32>, usize)> {
            let f: Vec<f32> = tiles()?.iter().flat_map(|t| colour_features(t)).collect();
            Ok((
                f.chunks(4)
                    .flat_map(|v| (0..4).filter(|&j| j != d).map(|j| v[j]).collect::<Vec<_>>())
                    .collect(),
                3,
            ))
        };
    let exp3 = evaluate_with(
        &cfg3,
        FeatureSource {
            model: colour_model(),
            patch_size: 16,
            layer: 1,
            encode: &mut enc3,
        },
    )?;
    assert_eq!(exp.metrics, exp3.metrics);

    // Removing as many dimensions as there are is refused with the numbers.
    cfg.remove_top_variance = 4;
    let mut enc =
        |_: &str, tiles: &dyn Fn() -> Result<Vec<Vec<f32>>>| -> Result<(Vec<f32>, usize)> {
            Ok((
                tiles()?.iter().flat_map(|t| colour_features(t)).collect(),
                4,
            ))
        };
    let e = evaluate_with(
        &cfg,
        FeatureSource {
            model: colour_model(),
            patch_size: 16,
            layer: 1,
            encode: &mut enc,
        },
    )
    .unwrap_err();
    assert!(
        format!("{e:#}").contains("--remove-top-variance 4"),
        "{e:#}"
    );

    // A missing folder names the path.
    let cfg = IdentificationConfig::new(IdDataset::Fair1m {
        root: dir.path().join("nope"),
        per_class: 8,
        selection_seed: 1,
    });
    let mut enc = |_: &str, _: &dyn Fn() -> Result<Vec<Vec<f32>>>| -> Result<(Vec<f32>, usize)> {
        unreachable!()
    };
    let e = evaluate_with(
        &cfg,
        FeatureSource {
            model: colour_model(),
            patch_size: 16,
            layer: 1,
            encode: &mut enc,
        },
    )
    .unwrap_err();
    assert!(format!("{e:#}").contains("nope"), "{e:#}");

    // Bad transform names and levels are refused.
    assert!(identification::parse_transforms("rotate,warp", &[1]).is_err());
    assert!(identification::parse_transforms("rotate", &[5]).is_err());
    assert_eq!(
        identification::parse_transforms("all", &[1, 2])
            .unwrap()
            .len(),
        12
    );
    Ok(())
}

/// The tiny DINOv2 fixture (patch 14, D 32, 4 blocks; `fixtures/vit/manifest.json`).
fn tiny_dinov2() -> models::LoadedModel {
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
    let w = patchlens_testutil::fixture("vit/dinov2_s14_tiny.pth");
    models::load_custom(
        "dinov2_s14_tiny",
        patchlens_vit::Family::Dinov2,
        c,
        &w,
        &patchlens_vit::Device::flex(),
    )
    .unwrap()
}

/// Naive protocol recomputation: top-1 by f64 dot products over every gallery patch, counts by definition.
fn naive_counts(
    gallery: &[f32],
    labels: &[u8],
    trans: &[f32],
    corr: Option<&[i32]>,
    dim: usize,
    p: usize,
    exclude_own: bool,
) -> [u64; 5] {
    let n = labels.len();
    let mut c = [0u64; 5]; // queries, same patch, same class, non-background, upper bound
    for q in (0..n).filter(|&i| labels[i] > 0) {
        let fq = &trans[q * dim..(q + 1) * dim];
        let mut best = (f64::NEG_INFINITY, usize::MAX);
        for g in 0..n {
            if exclude_own && g / p == q / p {
                continue;
            }
            let s: f64 = fq
                .iter()
                .zip(&gallery[g * dim..(g + 1) * dim])
                .map(|(a, b)| *a as f64 * *b as f64)
                .sum();
            if s > best.0 {
                best = (s, g);
            }
        }
        let g = best.1;
        let target = match corr {
            None => Some(q),
            Some(m) => (m[q] >= 0).then(|| (q / p) * p + m[q] as usize),
        };
        c[0] += 1;
        c[1] += (target == Some(g)) as u64;
        c[2] += (labels[g] == labels[q]) as u64;
        c[3] += (labels[g] > 0) as u64;
        c[4] += target.is_some() as u64;
    }
    c
}

#[test]
fn synthetic_with_a_tiny_dinov2_matches_a_naive_recomputation_and_caches() -> Result<()> {
    let model = tiny_dinov2();
    let bench = TransformBenchConfig::default();
    let scenes = 3;
    let transforms = vec![t(TransformKind::Blur, 1), t(TransformKind::Rotate, 2)];
    let mut cfg = IdentificationConfig::new(IdDataset::Synthetic {
        bench: bench.clone(),
        scenes,
    });
    cfg.transforms = transforms.clone();
    cfg.exclude_same_tile = true;
    cfg.layer = Some(4);
    let cache = tempfile::tempdir()?;
    let store = patchlens_store::FeatureStore::open(cache.path())?;
    let exp = evaluate(&cfg, &model, Some(&store))?;
    let shards = store.keys()?.len();
    assert_eq!(shards, 3, "originals + 2 transforms, one chunk each");

    // Independent recomputation from the same tiles.
    let (grid, p) = (16, 256);
    let spec = patchlens_data::TileSpec::synthetic(14)?;
    let enc = encode::Encoder {
        model: &model,
        device_batch: 4,
        store: None,
        preprocessing: String::new(),
        dataset: String::new(),
    };
    let made: Vec<_> = (0..scenes)
        .map(|i| transformed_scene(&bench, i, &transforms, grid).unwrap())
        .collect();
    let feats = |imgs: Vec<&ImageU8>| -> Vec<f32> {
        let tiles: Vec<Vec<f32>> = imgs
            .iter()
            .map(|im| to_chw(&patchlens_data::model_input(&spec, im)))
            .collect();
        enc.encode_tiles(&tiles, 224, 224, &[4])
            .unwrap()
            .remove(&4)
            .unwrap()
            .features
    };
    let gallery = feats(made.iter().map(|s| &s.image).collect());
    let labels: Vec<u8> = made
        .iter()
        .flat_map(|s| patch_labels(&s.mask, grid, grid))
        .collect();
    for (ti, tr) in transforms.iter().enumerate() {
        let trans = feats(made.iter().map(|s| &s.transformed[ti].image).collect());
        let corr: Option<Vec<i32>> = tr.kind.is_geometric().then(|| {
            made.iter()
                .flat_map(|s| s.transformed[ti].correspondence.map.clone())
                .collect()
        });
        let l = tr.label();
        let ours = naive_counts(&gallery, &labels, &trans, corr.as_deref(), 32, p, false);
        let got = [
            "queries",
            "same_patch",
            "same_fine",
            "non_background",
            "upper_bound",
        ]
        .map(|k| exp.metrics[&format!("{l}/{k}")] as u64);
        assert_eq!(
            got, ours,
            "{l}: queries, same patch, same class, non-background, upper bound"
        );
        let ex = naive_counts(&gallery, &labels, &trans, corr.as_deref(), 32, p, true);
        assert_eq!(
            exp.metrics[&format!("{l}/retrieval/same_fine")] as u64,
            ex[2],
            "{l} retrieval same class"
        );
        assert_eq!(
            exp.metrics[&format!("{l}/retrieval/non_background")] as u64,
            ex[3],
            "{l} retrieval any object"
        );
        assert!(
            ours[0] > 50,
            "{l}: too few queries ({}) for a meaningful check",
            ours[0]
        );
    }
    // Blur k=2 barely changes a tile: even 4 random-ish tiny blocks identify most patches.
    assert!(
        exp.metrics["blur1/same_patch_rate"] > 0.5,
        "{}",
        exp.metrics["blur1/same_patch_rate"]
    );
    // No supercategories on the synthetic benchmark.
    assert!(!exp.metrics.contains_key("blur1/same_super"));

    // A second run reads every shard from the cache and gives the same numbers.
    let again = evaluate(&cfg, &model, Some(&store))?;
    assert_eq!(store.keys()?.len(), shards);
    assert_eq!(again.metrics, exp.metrics);
    Ok(())
}

#[test]
fn command_line_on_the_shared_dinov2() {
    let Some(w) = patchlens_testutil::shared_asset("weights/dinov2_vits14_imgfocus.safetensors")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("res/results.json");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args([
            "eval",
            "identification",
            "--dataset",
            "synthetic",
            "--scenes",
            "2",
            "--transform",
            "blur",
            "--levels",
            "1",
        ])
        .args([
            "--model",
            "dinov2_vits14",
            "--exclude-same-tile",
            "--weights",
        ])
        .arg(&w)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{}\n{}",
        stdout,
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(stdout.lines().count(), 1, "one summary line: {stdout}");
    assert!(stdout.contains("blur1"), "{stdout}");
    let r = patchlens_report::Results::load(&out).unwrap();
    let e = &r.experiments[0];
    assert_eq!(e.model.zoo_name, "dinov2_vits14");
    assert_eq!(e.model.weights_sha256.as_deref().map(str::len), Some(64));
    assert_eq!(e.protocol["layer"], 12);
    // Measured on the 2-core VM: 0.551 (54 of 98 queries; chance is 1/512). Blur k=2 is mild, but the
    // synthetic textures repeat across patches, so many near-duplicates compete; the floor leaves room for
    // kernel-level numeric differences between backends.
    let rate = e.metrics["blur1/same_patch_rate"];
    assert!(rate > 0.4, "blur1 same-patch rate {rate}");
    assert!(
        dir.path().join("res/cache").is_dir(),
        "default cache next to the output"
    );
}
