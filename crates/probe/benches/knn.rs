//! k-NN throughput: 10k queries × 50k gallery × 384-d, top-20 (dot product).
//!
//! `cargo bench -p patchlens-probe --bench knn`. The faiss comparison on the same shapes is
//! `benches/knn_vs_faiss.py` at the workspace root.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use patchlens_probe::MatRef;
use patchlens_probe::knn::{BlockPlan, SearchConfig, Similarity, search, search_with_plan};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use std::time::Duration;

const NG: usize = 50_000;
const NQ: usize = 10_000;
const D: usize = 384;
const K: usize = 20;

fn data(rows: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..rows * D)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect()
}

fn bench(c: &mut Criterion) {
    let g = data(NG, 1);
    let q = data(NQ, 2);
    let gm = MatRef::new(&g, NG, D).unwrap();
    let qm = MatRef::new(&q, NQ, D).unwrap();
    let mut group = c.benchmark_group("knn_10k_x_50k_384d_top20");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(40));
    group.throughput(Throughput::Elements(NQ as u64));
    group.bench_function("host_default_plan", |b| {
        let cfg = SearchConfig {
            k: K,
            similarity: Similarity::Dot,
            ..SearchConfig::default()
        };
        b.iter(|| black_box(search(gm, qm, &cfg).unwrap()))
    });
    if std::env::var_os("KNN_BENCH_TILES").is_some() {
        for (qb, gb) in [
            (128, 2048),
            (256, 2048),
            (512, 4096),
            (256, 8192),
            (1024, 1024),
        ] {
            let plan = BlockPlan {
                query_block: qb,
                gallery_block: gb,
                concurrent: 0,
                working_bytes: 0,
            };
            group.bench_function(format!("host_tile_{qb}x{gb}"), |b| {
                b.iter(|| black_box(search_with_plan(gm, qm, K, Similarity::Dot, &plan).unwrap()))
            });
        }
    }
    group.bench_function("device_flex", |b| {
        let cfg = SearchConfig {
            k: K,
            similarity: Similarity::Dot,
            ..SearchConfig::default()
        };
        let dev = burn::tensor::Device::flex();
        b.iter(|| black_box(patchlens_probe::knn::search_on_device(&dev, gm, qm, &cfg).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
