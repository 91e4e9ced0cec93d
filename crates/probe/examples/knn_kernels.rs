//! The host k-NN's two tile kernels in one run, on the same data: the fused AVX-512 kernel
//! ([`HostKernel::Fused`]) against `gemm` tiles + scan ([`HostKernel::Gemm`]), with a check that both
//! return the same neighbours and similarities bit for bit.
//!
//! ```text
//! cargo run --release -p patchlens-probe --example knn_kernels -- [N_GALLERY N_QUERIES DIM K REPEATS]
//! ```
//! Default: the demo's searches (49,152 gallery × 24,576 query patches × 192, k = 1, dot product),
//! 3 repeats, seeded values in [-1, 1). Prints one JSON line with the best time of each kernel, their
//! ratio and the GFLOP/s of the dot products (`2 · N_GALLERY · N_QUERIES · DIM` per search).

use patchlens_probe::MatRef;
use patchlens_probe::knn::{HostKernel, Similarity, plan_host, search_with_kernel};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.parse())
        .collect::<Result<_, _>>()?;
    let [ng, nq, d, k, reps] = match a.as_slice() {
        [] => [49_152, 24_576, 192, 1, 3],
        &[ng, nq, d, k, reps] => [ng, nq, d, k, reps],
        _ => return Err("usage: knn_kernels [N_GALLERY N_QUERIES DIM K REPEATS]".into()),
    };
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut values =
        |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect() };
    let (g, q) = (values(ng * d), values(nq * d));
    let (gm, qm) = (MatRef::new(&g, ng, d)?, MatRef::new(&q, nq, d)?);
    let plan = plan_host(ng, nq, rayon::current_num_threads(), 256 << 20)?;
    let mut best = [f64::INFINITY; 2];
    let mut out = [None, None];
    for _ in 0..reps.max(1) {
        for (i, kernel) in [HostKernel::Fused, HostKernel::Gemm]
            .into_iter()
            .enumerate()
        {
            let t = Instant::now();
            let nb = search_with_kernel(gm, qm, k, Similarity::Dot, &plan, kernel)?;
            best[i] = best[i].min(t.elapsed().as_secs_f64());
            out[i] = Some(nb);
        }
    }
    let (fused, gemm) = (
        out[0].take().ok_or("no run")?,
        out[1].take().ok_or("no run")?,
    );
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let same =
        fused.indices == gemm.indices && bits(&fused.similarities) == bits(&gemm.similarities);
    let gflop = 2.0 * ng as f64 * nq as f64 * d as f64 / 1e9;
    println!(
        "{{\"gallery\": {ng}, \"queries\": {nq}, \"dim\": {d}, \"k\": {k}, \"threads\": {}, \
         \"fused_available\": {}, \"fused_s\": {:.3}, \"gemm_s\": {:.3}, \"gemm_over_fused\": {:.3}, \
         \"fused_gflops\": {:.1}, \"gemm_gflops\": {:.1}, \"same_bits\": {same}}}",
        rayon::current_num_threads(),
        HostKernel::fused_available(),
        best[0],
        best[1],
        best[1] / best[0],
        gflop / best[0],
        gflop / best[1],
    );
    if !same {
        return Err("the two kernels disagree".into());
    }
    Ok(())
}
