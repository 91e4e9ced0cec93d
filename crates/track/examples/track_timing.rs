//! Rough timings at protocol scale with synthetic data (not a test):
//! `cargo run -p patchlens-track --example track_timing`.

use std::time::Instant;

use patchlens_track::{
    AssociationConfig, AssociationEvaluator, BoxXyxy, FeatureMap, LabelMap, LabelPropagator,
    PropagationConfig, RoiAlignConfig, TrackedObject, roi_align,
};

/// Deterministic pseudo-random values in [-1, 1) (xorshift).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn main() {
    // BDD: 42x70x768 map, 20 boxes per frame.
    let (rows, cols, dim) = (42, 70, 768);
    let map = FeatureMap::new(rows, cols, dim, values(rows * cols * dim, 1)).unwrap();
    let cfg = RoiAlignConfig::protocol(16);
    let boxes: Vec<BoxXyxy> = (0..20)
        .map(|i| {
            let x = 50.0 * i as f64;
            BoxXyxy::new(x, 200.0, x + 40.0 + 10.0 * i as f64, 260.0 + 5.0 * i as f64)
        })
        .collect();
    let t = Instant::now();
    let vecs: Vec<Vec<f32>> = boxes
        .iter()
        .map(|b| roi_align(&map, b, &cfg).unwrap())
        .collect();
    println!(
        "RoIAlign: 20 boxes on 42x70x768: {:.2} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    // Association: 200 frames x 20 objects, vectors 7*7*768, 30 gaps.
    let mut ev = AssociationEvaluator::new(AssociationConfig::default()).unwrap();
    let t = Instant::now();
    for f in 0..200 {
        let objs = vecs
            .iter()
            .enumerate()
            .map(|(i, v)| TrackedObject {
                id: format!("{i}"),
                category: "car".into(),
                vector: v.iter().map(|x| x * (1.0 + 0.001 * f as f32)).collect(),
            })
            .collect();
        ev.push_frame(objs).unwrap();
    }
    println!(
        "Association: 200 frames x 20 objects (D 37632), 30 gaps: {:.2} s",
        t.elapsed().as_secs_f64()
    );

    // DAVIS: 30x52 grid (832x480, patch 16), ViT-S dim 384, 8 frames of context.
    let (rows, cols, dim) = (30, 52, 384);
    let frames: Vec<FeatureMap> = (0..10)
        .map(|i| FeatureMap::new(rows, cols, dim, values(rows * cols * dim, 10 + i)).unwrap())
        .collect();
    let labels = LabelMap::new(
        854,
        480,
        (0..480 * 854).map(|i| ((i / 854) / 100) as u16).collect(),
    )
    .unwrap();
    let mut p =
        LabelPropagator::new(PropagationConfig::default(), &frames[0], &labels, 16).unwrap();
    for (i, f) in frames[1..].iter().enumerate() {
        let t = Instant::now();
        p.step(f).unwrap();
        if i == 0 || i == 8 {
            println!(
                "Propagation step {} (contexts {}): {:.2} s",
                i + 1,
                (i + 1).min(8),
                t.elapsed().as_secs_f64()
            );
        }
    }
}
