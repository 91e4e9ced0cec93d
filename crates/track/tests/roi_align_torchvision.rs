//! RoIAlign against torchvision (`fixtures/track/roi_align.safetensors`, made by
//! `fixtures/track/gen_roi_fixtures.py` with torchvision's CPU kernel).

mod common;

use patchlens_track::{BoxXyxy, FeatureMap, RoiAlignConfig, roi_align};

fn check_case(name: &str) {
    let fx = common::Fixture::load("track/roi_align.safetensors");
    let (_, meta) = fx.i64(&format!("{name}_meta"));
    let (patch, rows, cols) = (meta[0] as usize, meta[1] as usize, meta[2] as usize);
    let (fshape, feats) = fx.f32(&format!("{name}_features"));
    assert_eq!(fshape[..2], [rows, cols]);
    let dim = fshape[2];
    let map = FeatureMap::new(rows, cols, dim, feats).unwrap();
    let (bshape, boxes) = fx.f32(&format!("{name}_boxes"));
    let (eshape, expected) = fx.f32(&format!("{name}_expected"));
    assert_eq!(eshape, vec![bshape[0], dim, 7, 7]);
    let cfg = RoiAlignConfig::protocol(patch);
    let per_box = dim * 49;
    let mut max_err = 0f32;
    for (k, b) in boxes.chunks_exact(4).enumerate() {
        let bx = BoxXyxy::new(b[0].into(), b[1].into(), b[2].into(), b[3].into());
        let got = roi_align(&map, &bx, &cfg).unwrap();
        assert_eq!(got.len(), per_box);
        let want = &expected[k * per_box..(k + 1) * per_box];
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            let err = (g - w).abs();
            max_err = max_err.max(err);
            assert!(
                err <= 1e-5,
                "{name} box {k} {b:?} value {i}: got {g}, torchvision {w}"
            );
        }
    }
    eprintln!("{name}: {} boxes, max |err| = {max_err:e}", boxes.len() / 4);
}

#[test]
fn matches_torchvision_patch16() {
    check_case("p16");
}

#[test]
fn matches_torchvision_patch14() {
    check_case("p14");
}

#[test]
fn fully_outside_box_is_zero_and_whole_map_box_averages() {
    // Hand-worked: a constant map gives the constant for any box that overlaps it with every sample in
    // range; a box far outside gives exactly 0.
    let map = FeatureMap::new(4, 6, 2, [1.5f32, -2.0].repeat(24)).unwrap();
    let cfg = RoiAlignConfig::protocol(16);
    let inside = roi_align(&map, &BoxXyxy::new(8.0, 8.0, 80.0, 56.0), &cfg).unwrap();
    assert!(inside[..49].iter().all(|&v| (v - 1.5).abs() < 1e-6));
    assert!(inside[49..].iter().all(|&v| (v + 2.0).abs() < 1e-6));
    let outside = roi_align(&map, &BoxXyxy::new(500.0, 500.0, 600.0, 600.0), &cfg).unwrap();
    assert!(outside.iter().all(|&v| v == 0.0));
}

#[test]
fn bilinear_sample_hand_worked() {
    // 1 channel, 2x2 map [[0, 1], [2, 3]], patch 1 (spatial_scale 1), 1x1 output, box (0,0)-(1,1):
    // roi 1x1 cells, one sample at (0.5, 0.5) -> bilinear = (0 + 1 + 2 + 3) / 4 = 1.5.
    let map = FeatureMap::new(2, 2, 1, vec![0.0, 1.0, 2.0, 3.0]).unwrap();
    let cfg = RoiAlignConfig {
        pooled_height: 1,
        pooled_width: 1,
        spatial_scale: 1.0,
        sampling_ratio: -1,
        aligned: false,
    };
    let v = roi_align(&map, &BoxXyxy::new(0.0, 0.0, 1.0, 1.0), &cfg).unwrap();
    assert_eq!(v, vec![1.5]);
    // Box (0,0)-(2,2): roi 2x2, grid ceil(2/1)=2 per side, samples at 0.5 and 1.5 on each axis.
    // Samples at 1.5 are past the last index (y_low = 1 >= height-1) and read row/column 1.
    // (0.5,0.5)=1.5, (0.5,1.5)->x clamped to 1: 0.5*1 + 0.5*3 = 2.0, (1.5,0.5)->y=1: 2.5, (1.5,1.5)=3.
    let v = roi_align(&map, &BoxXyxy::new(0.0, 0.0, 2.0, 2.0), &cfg).unwrap();
    assert_eq!(v, vec![(1.5 + 2.0 + 2.5 + 3.0) / 4.0]);
}

#[test]
fn box_rescaling_bdd() {
    // 1280x720 -> 1120x672: x * 0.875, y * 0.9333...
    let b = BoxXyxy::new(128.0, 72.0, 640.0, 360.0).rescaled(1280, 720, 1120, 672);
    assert_eq!(b, BoxXyxy::new(112.0, 72.0 * (672.0 / 720.0), 560.0, 336.0));
    assert!((b.y1 - 67.2).abs() < 1e-12);
}

#[test]
fn non_finite_box_is_an_error() {
    let map = FeatureMap::new(2, 2, 1, vec![0.0; 4]).unwrap();
    let err = roi_align(
        &map,
        &BoxXyxy::new(0.0, f64::NAN, 1.0, 1.0),
        &RoiAlignConfig::protocol(16),
    );
    assert!(matches!(
        err,
        Err(patchlens_track::TrackError::NonFinite { index: 1, .. })
    ));
}
