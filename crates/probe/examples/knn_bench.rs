//! Times the host k-NN on raw `f32` files; used by `benches/knn_vs_faiss.py`.
//!
//! ```text
//! knn_bench GALLERY.f32 QUERIES.f32 N_GALLERY N_QUERIES DIM K REPEATS OUT_INDICES.u32
//! ```
//! Files are little-endian row-major `f32`. Prints one JSON line with the best wall time over
//! `REPEATS` runs and writes the neighbour indices (`u32`, `[N_QUERIES, K]`) of the last run.

use patchlens_probe::MatRef;
use patchlens_probe::knn::{SearchConfig, Similarity, search};
use std::time::Instant;

fn read_f32(path: &str, n: usize) -> Result<Vec<f32>, Box<dyn std::error::Error>> {
    let bytes = std::fs::read(path)?;
    if bytes.len() != n * 4 {
        return Err(format!("{path}: {} bytes, expected {}", bytes.len(), n * 4).into());
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 9 {
        return Err("usage: knn_bench GALLERY QUERIES NG NQ DIM K REPEATS OUT".into());
    }
    let (ng, nq, d, k, reps): (usize, usize, usize, usize, usize) = (
        a[3].parse()?,
        a[4].parse()?,
        a[5].parse()?,
        a[6].parse()?,
        a[7].parse()?,
    );
    let g = read_f32(&a[1], ng * d)?;
    let q = read_f32(&a[2], nq * d)?;
    let gm = MatRef::new(&g, ng, d)?;
    let qm = MatRef::new(&q, nq, d)?;
    let cfg = SearchConfig {
        k,
        similarity: Similarity::Dot,
        ..SearchConfig::default()
    };
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        let nb = search(gm, qm, &cfg)?;
        best = best.min(t.elapsed().as_secs_f64());
        last = Some(nb);
    }
    let nb = last.ok_or("no run")?;
    let out: Vec<u8> = nb.indices.iter().flat_map(|i| i.to_le_bytes()).collect();
    std::fs::write(&a[8], out)?;
    println!(
        "{{\"seconds\": {best:.6}, \"queries_per_second\": {:.1}, \"threads\": {}}}",
        nq as f64 / best,
        rayon::current_num_threads()
    );
    Ok(())
}
