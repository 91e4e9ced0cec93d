//! DAVIS label propagation against a CPU transcription of DINO's `eval_video_segmentation.py`
//! (`fixtures/track/propagation.safetensors`, made by `fixtures/track/gen_propagation_fixtures.py`).

mod common;

use patchlens_track::{
    FeatureMap, LabelMap, PropagationConfig, TrackError, pil_nearest_indices, propagate_video,
};

fn check_case(name: &str) {
    let fx = common::Fixture::load("track/propagation.safetensors");
    let (_, cfg) = fx.i64(&format!("{name}_config"));
    let (_, temp) = fx.f32(&format!("{name}_temperature"));
    let config = PropagationConfig {
        n_last_frames: cfg[0] as usize,
        topk: cfg[1] as usize,
        size_mask_neighborhood: cfg[2] as usize,
        temperature: temp[0],
    };
    let patch = cfg[3] as usize;
    let (fshape, feats) = fx.f32(&format!("{name}_features"));
    let (t, rows, cols, dim) = (fshape[0], fshape[1], fshape[2], fshape[3]);
    let frames: Vec<FeatureMap> = feats
        .chunks_exact(rows * cols * dim)
        .map(|f| FeatureMap::new(rows, cols, dim, f.to_vec()).unwrap())
        .collect();
    assert_eq!(frames.len(), t);
    let (lshape, first) = fx.u8(&format!("{name}_first_labels"));
    let first = LabelMap::from_u8(lshape[1], lshape[0], &first).unwrap();
    let (_, small) = fx.u8(&format!("{name}_small_seg"));
    let (sshape, soft) = fx.f32(&format!("{name}_soft"));
    let (_, labels) = fx.u8(&format!("{name}_labels"));
    let nc = sshape[1];

    let mut p = patchlens_track::LabelPropagator::new(config, &frames[0], &first, patch).unwrap();
    assert_eq!(
        p.small_first_labels().data,
        small.iter().map(|&v| u16::from(v)).collect::<Vec<_>>(),
        "{name}: downsampled first labels"
    );
    assert_eq!(p.n_classes(), nc, "{name}: number of channels");

    let out = propagate_video(config, &frames, &first, patch).unwrap();
    assert_eq!(out.len(), t - 1);
    let per_soft = nc * rows * cols;
    let per_lab = lshape[0] * lshape[1];
    let mut max_err = 0f32;
    for (i, fr) in out.iter().enumerate() {
        let want = &soft[i * per_soft..(i + 1) * per_soft];
        for (j, (g, w)) in fr.soft.iter().zip(want).enumerate() {
            let err = (g - w).abs();
            max_err = max_err.max(err);
            assert!(
                err <= 1e-5,
                "{name} frame {}: soft value {j}: got {g}, DINO {w}",
                i + 1
            );
        }
        assert_eq!((fr.labels.height, fr.labels.width), (lshape[0], lshape[1]));
        let want_lab = &labels[i * per_lab..(i + 1) * per_lab];
        let diff = fr
            .labels
            .data
            .iter()
            .zip(want_lab)
            .filter(|&(&a, &b)| a != u16::from(b))
            .count();
        assert_eq!(
            diff,
            0,
            "{name} frame {}: {diff} label pixels differ from DINO",
            i + 1
        );
    }
    // the step-by-step API gives the same as propagate_video
    for (i, f) in frames[1..].iter().enumerate() {
        assert_eq!(p.step(f).unwrap(), out[i]);
    }
    eprintln!(
        "{name}: {} frames, {nc} channels, max |soft err| = {max_err:e}",
        t
    );
}

#[test]
fn matches_dino_small_window_short_queue() {
    check_case("a");
}

#[test]
fn matches_dino_defaults() {
    check_case("b");
}

#[test]
fn matches_dino_unrestricted_topk3() {
    check_case("c");
}

#[test]
fn pil_nearest_matches_pillow() {
    let fx = common::Fixture::load("track/propagation.safetensors");
    let cases: Vec<(usize, usize)> =
        serde_json::from_str(&fx.metadata("pil_cases").expect("pil_cases")).unwrap();
    assert!(cases.len() >= 10);
    for (i, (src, dst)) in cases.into_iter().enumerate() {
        let (_, want) = fx.i32(&format!("pil_nearest_{i}"));
        let got: Vec<i32> = pil_nearest_indices(src, dst)
            .into_iter()
            .map(|v| v.unwrap() as i32)
            .collect();
        assert_eq!(got, want, "PIL nearest {src} -> {dst}");
    }
}

#[test]
fn first_frame_one_hot_and_identity_propagation() {
    // Hand-worked: identical features in both frames, radius 0 (whole frame), topk 1: every target patch's
    // best match is itself (cosine 1) so the labels are copied; with patch 1 and equal sizes the output is
    // the input annotation.
    let (rows, cols, dim) = (3, 4, 12);
    let mut data = vec![0f32; rows * cols * dim];
    for p in 0..rows * cols {
        data[p * dim + p] = 1.0 + p as f32; // orthogonal, distinct norms (normalisation removes them)
    }
    let f = FeatureMap::new(rows, cols, dim, data).unwrap();
    let labels = LabelMap::new(cols, rows, vec![0, 0, 1, 1, 0, 2, 2, 1, 0, 0, 0, 3]).unwrap();
    let cfg = PropagationConfig {
        n_last_frames: 2,
        topk: 1,
        size_mask_neighborhood: 0,
        temperature: 0.1,
    };
    let out = propagate_video(cfg, &[f.clone(), f.clone(), f], &labels, 1).unwrap();
    assert_eq!(out.len(), 2);
    for fr in &out {
        assert_eq!(fr.labels, labels);
        // soft = one-hot (4 channels)
        for (p, &l) in labels.data.iter().enumerate() {
            for c in 0..4 {
                let want = if c == usize::from(l) { 1.0 } else { 0.0 };
                assert_eq!(fr.soft[c * rows * cols + p], want);
            }
        }
    }
}

#[test]
fn mismatched_frame_is_an_error() {
    let f = FeatureMap::new(2, 3, 4, vec![1.0; 24]).unwrap();
    let g = FeatureMap::new(2, 3, 5, vec![1.0; 30]).unwrap();
    let labels = LabelMap::new(3, 2, vec![0, 1, 0, 1, 0, 1]).unwrap();
    let cfg = PropagationConfig {
        topk: 2,
        ..PropagationConfig::default()
    };
    let mut p = patchlens_track::LabelPropagator::new(cfg, &f, &labels, 1).unwrap();
    assert!(p.step(&g).is_err());
    // topk larger than the grid is rejected up front
    let bad = PropagationConfig { topk: 7, ..cfg };
    assert!(patchlens_track::LabelPropagator::new(bad, &f, &labels, 1).is_err());
}

#[test]
fn upsample_and_norm_mask_hand_worked() {
    use patchlens_track::propagation::{norm_mask_argmax, upsample_bilinear};
    // [0, 1] upsampled x2 (align_corners=False): sources -0.25 (clamped 0), 0.25, 0.75, 1.25 (last column)
    // -> 0, 0.25, 0.75, 1 on both output rows (torch gives the same).
    let up = upsample_bilinear(&[0.0, 1.0], 1, 1, 2, 2).unwrap();
    assert_eq!(up, vec![0.0, 0.25, 0.75, 1.0, 0.0, 0.25, 0.75, 1.0]);
    // norm_mask: channel 0 [.2, .4] -> [0, 1]; channel 1 constant .5 -> 0/0 = NaN, which wins the argmax
    // (torch.max semantics); channel 2 all zero is left alone.
    let mut m = vec![0.2, 0.4, 0.5, 0.5, 0.0, 0.0];
    assert_eq!(norm_mask_argmax(&mut m, 3), vec![1, 1]);
    assert_eq!(&m[..2], &[0.0, 1.0]);
    assert!(m[2].is_nan() && m[3].is_nan());
    // ties: first channel wins
    let mut t = vec![0.0, 1.0, 0.0, 1.0];
    assert_eq!(norm_mask_argmax(&mut t, 2), vec![0, 0]);
}

#[test]
fn label_maps_are_the_metrics_type_and_are_checked() {
    // One type across the crates: a propagated map goes to the DAVIS metrics as it is.
    let labels: patchlens_metrics::LabelMap = LabelMap::new(3, 2, vec![0, 1, 0, 1, 0, 1]).unwrap();
    let f = FeatureMap::new(2, 3, 4, vec![1.0; 24]).unwrap();
    let cfg = PropagationConfig {
        topk: 2,
        ..PropagationConfig::default()
    };
    let out = propagate_video(cfg, &[f.clone(), f.clone()], &labels, 1).unwrap();
    let same = patchlens_metrics::resize_nearest_exact(
        &out[0].labels,
        3,
        2,
        patchlens_metrics::NearestExact::OpenCv4,
    )
    .unwrap();
    assert_eq!(same, out[0].labels);
    assert_eq!((same.width, same.height), (3, 2));

    // Object ids are palette indices: 256 is rejected up front, naming the value.
    let big = LabelMap::new(3, 2, vec![0, 256, 0, 1, 0, 1]).unwrap();
    match patchlens_track::LabelPropagator::new(cfg, &f, &big, 1) {
        Err(TrackError::LabelOutOfRange { value, max, .. }) => assert_eq!((value, max), (256, 255)),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("label 256 accepted"),
    }
    // An empty annotation is an error, not an empty result.
    let empty = LabelMap::new(0, 0, vec![]).unwrap();
    assert!(matches!(
        patchlens_track::LabelPropagator::new(cfg, &f, &empty, 1),
        Err(TrackError::ZeroDimension { .. })
    ));
}

/// DINO's top-k (`tk_val_min = min(topk(aff)); aff[aff < tk_val_min] = 0`) keeps every source tied with the
/// k-th largest affinity, so a target can draw on more than k sources. Hand-worked: one 1×4 context frame,
/// sources 0 and 1 have the same feature (labels 1 and 2), sources 2 and 3 are orthogonal (label 0); the
/// target patch 0 equals sources 0 and 1. With topk 1 both tied sources are kept and weigh e^10 each, so
/// its soft mask is (0, ½, ½), not the one-hot of whichever index a strict top-1 would pick.
#[test]
fn topk_keeps_ties_at_the_threshold_like_dino() {
    let first = FeatureMap::new(1, 4, 2, vec![1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0]).unwrap();
    let target = FeatureMap::new(1, 4, 2, vec![1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0]).unwrap();
    let labels = LabelMap::new(4, 1, vec![1, 2, 0, 0]).unwrap();
    let cfg = PropagationConfig {
        n_last_frames: 0,
        topk: 1,
        size_mask_neighborhood: 0,
        temperature: 0.1,
    };
    let out = propagate_video(cfg, &[first, target], &labels, 1).unwrap();
    let hw = 4;
    let soft = &out[0].soft;
    assert_eq!(
        [soft[0], soft[hw], soft[2 * hw]],
        [0.0, 0.5, 0.5],
        "target 0"
    );
    // Targets 1..3 match sources 2 and 3 (both label 0), tied as well: background only.
    for q in 1..hw {
        assert_eq!([soft[q], soft[hw + q], soft[2 * hw + q]], [1.0, 0.0, 0.0]);
    }
    // With topk 2 nothing changes (the two tied sources are the top 2).
    let two = propagate_video(
        PropagationConfig { topk: 2, ..cfg },
        &[
            FeatureMap::new(1, 4, 2, vec![1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0]).unwrap(),
            FeatureMap::new(1, 4, 2, vec![1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0]).unwrap(),
        ],
        &labels,
        1,
    )
    .unwrap();
    assert_eq!(&two[0].soft, soft);
}

/// DAVIS 2016 masks are 0/255: DINO's `read_seg` one-hot encodes them as they are (256 channels, 254 empty)
/// while patchlens' reader turns 255 into object 1 (2 channels). Empty channels stay 0 through `norm_mask`
/// and never beat the background in the argmax, so the label maps agree (255 ↔ 1) frame by frame.
#[test]
fn davis2016_0_255_seed_propagates_like_0_1() {
    let (rows, cols, dim, patch) = (5, 6, 8, 2);
    // Deterministic pseudo-random features, 4 frames (xorshift).
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let frames: Vec<FeatureMap> = (0..4)
        .map(|_| {
            FeatureMap::new(
                rows,
                cols,
                dim,
                (0..rows * cols * dim).map(|_| next()).collect(),
            )
            .unwrap()
        })
        .collect();
    let (h, w) = (rows * patch, cols * patch);
    let binary: Vec<u16> = (0..h * w)
        .map(|i| u16::from((2..7).contains(&(i / w)) && (3..9).contains(&(i % w))))
        .collect();
    let raw: Vec<u16> = binary.iter().map(|&v| v * 255).collect();
    let cfg = PropagationConfig {
        n_last_frames: 2,
        topk: 3,
        size_mask_neighborhood: 2,
        temperature: 0.1,
    };
    let a = propagate_video(cfg, &frames, &LabelMap::new(w, h, binary).unwrap(), patch).unwrap();
    let b = propagate_video(cfg, &frames, &LabelMap::new(w, h, raw).unwrap(), patch).unwrap();
    for (fa, fb) in a.iter().zip(&b) {
        let mapped: Vec<u16> = fb
            .labels
            .data
            .iter()
            .map(|&v| if v == 255 { 1 } else { v })
            .collect();
        assert!(fb.labels.data.iter().all(|&v| v == 0 || v == 255));
        assert_eq!(mapped, fa.labels.data);
        assert!(fa.labels.data.contains(&1));
    }
}
