//! Object association across frames (`patchlens_eval::tracking`) on the synthetic videos: the tiled
//! pipeline checked against a direct re-computation, bad inputs named in the errors, and, with the shared
//! weights, DINOv2-S/14 against a random backbone on the hard videos.

mod support;

use patchlens_data::synthetic::video::{VideoConfig, video};
use patchlens_eval::tracking::{self, TrackingConfig, TrackingDataset, VideoPreset};
use patchlens_eval::{ModelSpec, ModelTokens};
use patchlens_image::{IMAGENET_MEAN, IMAGENET_STD};
use patchlens_report::Experiment;
use patchlens_track::{BoxXyxy, EncodingMode, FeatureMap, RoiAlignConfig, roi_align};
use patchlens_vit::{Device, Tensor, TensorData};

fn metric(exp: &Experiment, key: &str) -> f64 {
    *exp.metrics
        .get(key)
        .unwrap_or_else(|| panic!("metric {key} missing in {:?}", exp.metrics))
}

/// Re-derive the tiled pipeline by hand for one short synthetic video and a random ViT-S: two 224 tiles
/// encoded separately, the 16×32 map assembled by explicit index arithmetic, RoIAlign per visible box,
/// and the same-instance rule (the query's own id has the maximum dot product among all objects of
/// frame t+Δ) averaged per frame pair, then over pairs.
#[test]
fn tiled_synthetic_matches_a_direct_computation() {
    let frames = 5usize;
    let model = support::random_dinov2_small(7);
    let mut cfg = TrackingConfig::new(TrackingDataset::Synthetic);
    cfg.num_videos = 1;
    cfg.frames = Some(frames);
    cfg.deltas = vec![1, 2, 4];
    let res = tracking::run(&cfg, &ModelTokens::new(&model, None, 16)).unwrap();
    assert_eq!(res.layer, 12);
    assert_eq!(res.geometry.grid, (16, 32));
    let exp = res.experiment();
    assert_eq!(metric(&exp, "frames"), frames as f64);
    assert_eq!(
        exp.protocol["geometry"]["grid"],
        serde_json::json!([16, 32])
    );

    let device = Device::flex();
    let arch = patchlens_vit::zoo::lookup("dinov2_vits14")
        .unwrap()
        .config
        .clone();
    let vit = patchlens_vit::init::init_random(&arch, 7, &device);
    let v = video(
        &VideoConfig {
            frames,
            ..VideoConfig::default()
        },
        0,
    )
    .unwrap();
    let roi = RoiAlignConfig::protocol(14);
    let d = 384usize;
    // Per frame: (track id, class, vector).
    let mut per_frame: Vec<Vec<(u8, u8, Vec<f32>)>> = Vec::new();
    for t in 0..frames {
        let f = v.frame(t).unwrap();
        let mut input = Vec::new();
        for tile in 0..2 {
            let crop = patchlens_image::crop(&f.image, tile * 224, 0, 224, 224).unwrap();
            input.extend(patchlens_image::to_chw(
                &patchlens_image::to_f32_normalized(&crop, IMAGENET_MEAN, IMAGENET_STD),
            ));
        }
        let x = Tensor::<4>::from_data(TensorData::new(input, [2, 3, 224, 224]), &device);
        let out = vit.forward_layers(x, &[12]).unwrap();
        let tok: Vec<f32> = out.layers[0]
            .patches
            .clone()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap(); // [2, 256, D]
        let mut map = vec![0f32; 16 * 32 * d];
        for r in 0..16 {
            for c in 0..32 {
                let (tile, cc) = (c / 16, c % 16);
                let src = (tile * 256 + r * 16 + cc) * d;
                map[(r * 32 + c) * d..(r * 32 + c + 1) * d].copy_from_slice(&tok[src..src + d]);
            }
        }
        let fm = FeatureMap::new(16, 32, d, map).unwrap();
        per_frame.push(
            f.objects
                .iter()
                .map(|o| {
                    let [x1, y1, x2, y2] = o.bbox;
                    let b = BoxXyxy::new(x1.into(), y1.into(), x2.into(), y2.into());
                    (o.track_id, o.class, roi_align(&fm, &b, &roi).unwrap())
                })
                .collect(),
        );
    }
    let dot = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum::<f64>()
    };
    for delta in [1usize, 2, 4] {
        let mut accs = Vec::new();
        for t in 0..frames - delta {
            let (a, b) = (&per_frame[t], &per_frame[t + delta]);
            let mut n = 0usize;
            let mut correct = 0usize;
            for q in a {
                let Some(same) = b.iter().find(|o| o.0 == q.0) else {
                    continue;
                };
                n += 1;
                let s_same = dot(&q.2, &same.2);
                let best = b
                    .iter()
                    .map(|o| dot(&q.2, &o.2))
                    .fold(f64::NEG_INFINITY, f64::max);
                correct += usize::from(s_same >= best);
            }
            if n > 0 {
                accs.push(correct as f64 / n as f64);
            }
        }
        let expected = accs.iter().sum::<f64>() / accs.len() as f64;
        let got = metric(&exp, &format!("same_instance.delta{delta}"));
        assert!(
            (got - expected).abs() < 1e-9,
            "Δ={delta}: library {got} vs direct {expected}"
        );
        assert_eq!(
            metric(&exp, &format!("frame_pairs.delta{delta}")),
            accs.len() as f64
        );
    }
}

/// DINOv2-S/14 against the same architecture with random parameters (`--random-init 0`) on the synthetic
/// videos of the **hard** setting (`--video-preset hard`: one colour pair per video, hue and brightness
/// drifting per object; 8 videos × 16 frames, full frame, Δ ∈ {1, 3, …, 15}).
///
/// On the default videos instances differ by their random colours, which a random patch projection matches
/// as well as learned features (issue #5: 4×24 frames, DINOv2 0.800 vs random 0.854). In the hard setting
/// colour no longer identifies an instance and the learned features must carry shape and texture.
/// Measured on the 2-core VM: same-instance mean over Δ DINOv2 0.753 vs random 0.634 (per Δ: 0.96/0.98,
/// 0.85/0.83, 0.81/0.69, 0.78/0.57, 0.69/0.49, 0.68/0.54, 0.66/0.51, 0.60/0.45). Asserted: the real
/// model is better by at least 0.06 on the mean (half the measured gap), both track at Δ = 1 (≥ 0.9; a
/// broken RoI/stitching geometry gives far less), and the real model wins at Δ ≥ 5.
/// DINOv2-S/14 against the same architecture with random parameters (seed 0) on the synthetic videos of
/// the **hard** setting (one colour pair per video, hue and brightness drifting per object; 8 videos × 16
/// frames, full frame, Δ ∈ {1, 3, …, 15}).
///
/// On the default videos instances differ by their random colours, which a random patch projection matches
/// as well as learned features (issue #5: 4×24 frames, DINOv2 0.800 vs random 0.854). In the hard setting
/// colour no longer identifies an instance and the learned features must carry shape and texture.
/// Measured on the 2-core VM: same-instance mean over Δ DINOv2 0.753 vs random 0.634 (per Δ: 0.96/0.98,
/// 0.85/0.83, 0.81/0.69, 0.78/0.57, 0.69/0.49, 0.68/0.54, 0.66/0.51, 0.60/0.45). Asserted: the real
/// model is better by at least 0.06 on the mean (half the measured gap), both track at Δ = 1 (≥ 0.9; a
/// broken RoI/stitching geometry gives far less), and the real model wins at Δ ≥ 5.
#[test]
fn dinov2_beats_random_init_on_hard_synthetic_videos() {
    let Some(w) = support::dinov2_small() else {
        return;
    };
    let mut cfg = TrackingConfig::new(TrackingDataset::Synthetic);
    cfg.video_preset = VideoPreset::Hard;
    cfg.mode = EncodingMode::Full;
    cfg.num_videos = 8;
    cfg.frames = Some(16);
    let run = |model: &patchlens_eval::Backbone| {
        tracking::run(&cfg, &ModelTokens::new(model, None, 16))
            .unwrap()
            .experiment()
    };
    let real = run(&support::load_dinov2_small(&w));
    let rand = run(&support::random_dinov2_small(0));
    let deltas = [1, 3, 5, 7, 9, 11, 13, 15];
    for d in deltas {
        eprintln!(
            "Δ={d}: instance dinov2 {:.4} random {:.4}",
            metric(&real, &format!("same_instance.delta{d}")),
            metric(&rand, &format!("same_instance.delta{d}")),
        );
    }
    let (mr, mx) = (
        metric(&real, "same_instance_mean"),
        metric(&rand, "same_instance_mean"),
    );
    eprintln!("mean: dinov2 {mr:.4} random {mx:.4}");
    for e in [&real, &rand] {
        assert!(metric(e, "same_instance.delta1") >= 0.9, "{:?}", e.metrics);
    }
    assert!(
        mr >= mx + 0.06,
        "DINOv2 {mr:.4} must beat random init {mx:.4} by 0.06 on the hard videos"
    );
    for d in [5, 7, 9, 11, 13, 15] {
        let k = format!("same_instance.delta{d}");
        assert!(
            metric(&real, &k) > metric(&rand, &k),
            "Δ={d}: DINOv2 must beat random init"
        );
    }
}

#[test]
fn bad_inputs_are_clear_errors() {
    let model = support::random_dinov2_small(0);
    let tokens = ModelTokens::new(&model, None, 16);
    // BDD100K without a root: the error names the missing setting and the dataset.
    let e = tracking::run(&TrackingConfig::new(TrackingDataset::Bdd100k), &tokens).unwrap_err();
    let msg = support::chain(&e);
    assert!(
        msg.contains("data-root") && msg.contains("bdd100k"),
        "{msg}"
    );
    // An unknown model name is refused naming it.
    let e = ModelSpec::zoo("no_such_model").unwrap_err();
    assert!(
        support::chain(&e).contains("no_such_model"),
        "{}",
        support::chain(&e)
    );
    // Δ = 0 is refused.
    let mut cfg = TrackingConfig::new(TrackingDataset::Synthetic);
    cfg.deltas = vec![0];
    cfg.frames = Some(3);
    cfg.num_videos = 1;
    let e = tracking::run(&cfg, &tokens).unwrap_err();
    let msg = support::chain(&e);
    assert!(
        msg.to_lowercase().contains("delta") || msg.contains('Δ'),
        "{msg}"
    );
    // A layer the model does not have.
    let mut cfg = TrackingConfig::new(TrackingDataset::Synthetic);
    cfg.layer = Some(0);
    cfg.frames = Some(3);
    cfg.num_videos = 1;
    let e = tracking::run(&cfg, &tokens).unwrap_err();
    let msg = support::chain(&e);
    assert!(msg.contains("layer") && msg.contains("1..=12"), "{msg}");
}
