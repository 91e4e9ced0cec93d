//! Exact k-NN throughput on a chosen device: random queries against a random gallery, dot product, the
//! search the segmentation experiments run (`patchlens_probe::knn`: on `flex` the host path, elsewhere
//! scores and top-k on the device).
//!
//! ```text
//! cargo run --release -p patchlens-eval --features cuda --example knn_device -- \
//!     --backend cuda:0 --queries 50000 --gallery 200000 --dim 768 --k 1 --seed 0
//! ```
//! Options: `--backend flex|wgpu[:N]|cuda[:N]`, `--queries N`, `--gallery N`, `--dim D`, `--k K`,
//! `--seed S`, `--budget-gb G` (device working memory; default 4). The data are uniform in [−1, 1)
//! from a seeded generator, made on the host before timing; the time covers the upload, the search and the
//! read-back. Last line: `KNN_SECONDS <value>`; a backend that cannot run is one error line on stderr and
//! exit status 2.

use std::time::Instant;

use patchlens_probe::MatRef;
use patchlens_probe::knn::{self, SearchConfig, Similarity};
use patchlens_vit::{Backend, BackendKind};

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(2)
}

/// Uniform [−1, 1) values from SplitMix64 (deterministic, no dependency).
fn data(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

fn main() {
    let (mut nq, mut ng, mut dim, mut k, mut seed) =
        (10_000usize, 50_000usize, 384usize, 1usize, 0u64);
    let mut budget_gb = 4.0f64;
    let mut backend = Backend::FLEX;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let val = args.get(i + 1).cloned().unwrap_or_default();
        let num = || -> usize {
            val.parse()
                .unwrap_or_else(|_| fail(format!("{} expects a number, got `{val}`", args[i])))
        };
        match args[i].as_str() {
            "--backend" => backend = val.parse().unwrap_or_else(|e| fail(e)),
            "--queries" => nq = num(),
            "--gallery" => ng = num(),
            "--dim" => dim = num(),
            "--k" => k = num(),
            "--seed" => seed = num() as u64,
            "--budget-gb" => {
                budget_gb = val
                    .parse()
                    .unwrap_or_else(|_| fail(format!("--budget-gb expects a number, got `{val}`")))
            }
            other => fail(format!("unknown option {other}")),
        }
        i += 2;
    }
    let device = backend.device().unwrap_or_else(|e| fail(e));
    let gallery = data(ng * dim, seed);
    let queries = data(nq * dim, seed + 1);
    let g = MatRef::new(&gallery, ng, dim).unwrap_or_else(|e| fail(e));
    let q = MatRef::new(&queries, nq, dim).unwrap_or_else(|e| fail(e));
    let cfg = SearchConfig {
        k,
        similarity: Similarity::Dot,
        memory_budget_bytes: (budget_gb * (1u64 << 30) as f64) as usize,
    };
    let t = Instant::now();
    let nb = match backend.kind {
        BackendKind::Flex => knn::search(
            g,
            q,
            &SearchConfig {
                memory_budget_bytes: knn::DEFAULT_MEMORY_BUDGET,
                ..cfg
            },
        ),
        _ => knn::search_on_device(&device, g, q, &cfg),
    }
    .unwrap_or_else(|e| fail(e));
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{nq} queries x {ng} gallery x {dim}-d, k = {k}, on {backend}: {secs:.3} s ({:.0} queries/s); first neighbour of query 0: {}",
        nq as f64 / secs,
        nb.indices_of(0)[0]
    );
    println!("KNN_SECONDS {secs:.4}");
}
