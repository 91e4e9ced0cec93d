//! Times the symmetric eigen-decomposition of covariance matrices (as PCA, whitening and the
//! variance analysis use it) with the crate's solver ([`patchlens_probe::eigen::sym_eigen`], `faer`)
//! and with the hand-written JAMA `tred2`/`tql2` transcription the crate used before (`jama.rs`),
//! in the same run, and checks that the two agree.
//!
//! ```text
//! cargo run -p patchlens-probe --example eigen_bench [DIMS] [REPEATS]
//! ```
//! (the workspace's dev profile is built with `opt-level = 3`). `DIMS` is a comma-separated list
//! (default `768,1536`), `REPEATS` the runs per solver and size
//! (default 3; the best wall time is reported). Set `RAYON_NUM_THREADS=1` to time `faer` on one
//! thread. The matrices are covariances (ddof = 0) of `4·D` seeded samples whose per-dimension
//! scales fall off like a feature spectrum, with a few dominant dimensions.

mod jama;

use patchlens_probe::MatRef;
use patchlens_probe::eigen::sym_eigen;
use patchlens_probe::variance::covariance;
use rand::{Rng, SeedableRng};
use std::time::Instant;

/// Covariance `[d, d]` of `4·d` samples: column `j` has scale `1 / (1 + j/8)`, columns 0..4 are
/// scaled ×20 (a few high-variance dimensions), plus a shared component mixing the columns.
fn test_covariance(d: usize, seed: u64) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
    let n = 4 * d;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let scale: Vec<f32> = (0..d)
        .map(|j| {
            let s = 1.0 / (1.0 + j as f32 / 8.0);
            if j < 4 { 20.0 * s } else { s }
        })
        .collect();
    let mix: Vec<f32> = (0..d).map(|_| rng.random_range(-1.0..1.0)).collect();
    let mut x = vec![0.0f32; n * d];
    for row in x.chunks_mut(d) {
        let shared: f32 = rng.random_range(-1.0..1.0);
        for (j, v) in row.iter_mut().enumerate() {
            *v = scale[j] * rng.random_range(-1.0f32..1.0) + shared * mix[j];
        }
    }
    Ok(covariance(MatRef::new(&x, n, d)?)?)
}

fn best_of<T>(repeats: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        let out = f();
        best = best.min(t.elapsed().as_secs_f64());
        last = Some(out);
    }
    (best, last.expect("at least one run"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dims: Vec<usize> = match args.get(1) {
        Some(s) => s
            .split(',')
            .map(|v| v.trim().parse())
            .collect::<Result<_, _>>()?,
        None => vec![768, 1536],
    };
    let repeats: usize = match args.get(2) {
        Some(s) => s.parse()?,
        None => 3,
    };
    println!(
        "symmetric eigen-decomposition of covariance matrices; best of {repeats}; faer on {} rayon thread(s), hand-written on 1",
        rayon::current_num_threads()
    );
    for d in dims {
        let cov = test_covariance(d, 17)?;
        let (t_faer, ours) = best_of(repeats, || sym_eigen(&cov, d));
        let ours = ours?;
        let (t_jama, old) = best_of(repeats, || jama::sym_eigen(&cov, d));
        let old = old?;
        // Agreement: eigenvalues relative to the largest; the top 16 eigenvectors (well separated
        // here, so both sign conventions give the same vector).
        let lmax = ours.values[0].abs().max(f64::MIN_POSITIVE);
        let dval = ours
            .values
            .iter()
            .zip(&old.values)
            .map(|(a, b)| (a - b).abs() / lmax)
            .fold(0.0f64, f64::max);
        let top = 16.min(d);
        let dvec = ours.vectors[..top * d]
            .iter()
            .zip(&old.vectors[..top * d])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f64, f64::max);
        println!(
            "D = {d:>4}: hand-written (JAMA tred2/tql2) {t_jama:8.3} s | faer {t_faer:8.3} s | ratio hand-written / faer = {:6.2}x | max |Δλ|/λmax = {dval:.1e}, max |Δv| (top {top}) = {dvec:.1e}",
            t_jama / t_faer
        );
    }
    Ok(())
}
