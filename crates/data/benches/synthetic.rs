//! Synthetic benchmark generation speed: one 224² scene, 1,000 scenes, one video frame, one transformed chip.

use criterion::{Criterion, criterion_group, criterion_main};
use patchlens_data::synthetic::transforms::{TransformBenchConfig, transformed_scene};
use patchlens_data::synthetic::video::{VideoConfig, video};
use patchlens_data::synthetic::{SyntheticConfig, scene};
use patchlens_data::transforms::{TransformKind, transformation_set};

fn bench(c: &mut Criterion) {
    let cfg = SyntheticConfig::default();
    c.bench_function("scene_224", |b| b.iter(|| scene(&cfg, 17).unwrap()));
    let mut g = c.benchmark_group("bulk");
    g.sample_size(10);
    g.bench_function("scenes_1000_224", |b| {
        b.iter(|| {
            (0..1000)
                .map(|i| scene(&cfg, i).unwrap().objects.len())
                .sum::<usize>()
        })
    });
    g.finish();
    let v = video(&VideoConfig::default(), 0).unwrap();
    c.bench_function("video_frame_448x224", |b| b.iter(|| v.frame(5).unwrap()));
    let set = transformation_set(&[
        TransformKind::Rotate,
        TransformKind::Scale,
        TransformKind::Shift,
        TransformKind::Blur,
        TransformKind::Noise,
    ]);
    let tc = TransformBenchConfig::default();
    c.bench_function("transformed_chip_20_transforms", |b| {
        b.iter(|| transformed_scene(&tc, 3, &set, 14).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
