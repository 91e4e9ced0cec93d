//! Host path: per (query block × gallery block) tile, either the fused kernel ([`super::fused`],
//! where it applies and `use_fused`) or a direct call to the `gemm` crate followed by the streaming
//! top-k scan. No score matrix larger than one tile per thread exists.

use super::fused;
use super::topk::{self, Finish};
use super::{BlockPlan, HostKernel, Neighbours, Norms};
use crate::error::{ProbeError, Result};
use crate::matrix::MatRef;
use rayon::prelude::*;

/// `tile[r, j] = queries[r] · gallery[j]` for a block of queries and a block of gallery rows,
/// written row-major into `tile` (`q.rows() × g.rows()`).
pub(crate) fn dot_tile(q: MatRef<'_>, g: MatRef<'_>, tile: &mut [f32]) {
    let (m, n, k) = (q.rows(), g.rows(), q.cols());
    debug_assert_eq!(g.cols(), k);
    debug_assert!(tile.len() >= m * n);
    // SAFETY: `tile` holds at least m × n values, written with row stride n and column stride 1.
    // `q` is m × k row-major (row stride k, col stride 1); the right-hand side is gᵀ (k × n), whose
    // element (d, j) = g[j * k + d], i.e. row stride 1 and column stride k. All three buffers
    // are valid for the whole extent addressed by these strides, and `dst` does not alias them.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            tile.as_mut_ptr(),
            1,
            n as isize,
            false,
            q.data().as_ptr(),
            1,
            k as isize,
            g.data().as_ptr(),
            k as isize,
            1,
            0.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Blocked search on the host; [`HostKernel::Fused`] sends the tiles [`fused::applies`] accepts to the fused
/// kernel.
pub(crate) fn search(
    gallery: MatRef<'_>,
    queries: MatRef<'_>,
    k: usize,
    norms: &Norms,
    plan: &BlockPlan,
    kernel: HostKernel,
) -> Result<Neighbours> {
    let nq = queries.rows();
    let ng = gallery.rows();
    let mut sims = vec![0.0f32; nq * k];
    let mut idx = vec![0u32; nq * k];
    let qb = plan.query_block;
    let gb = plan.gallery_block;
    let rank = norms.rank();

    sims.par_chunks_mut(qb * k)
        .zip(idx.par_chunks_mut(qb * k))
        .enumerate()
        .for_each_init(
            // The score tile (gemm path) and the packed queries (fused path), allocated on first use.
            || (Vec::new(), fused::PackedQueries::default()),
            |(tile, packed): &mut (Vec<f32>, fused::PackedQueries), (b, (s_blk, i_blk))| {
                let q0 = b * qb;
                let q1 = (q0 + qb).min(nq);
                let qv = queries.slice_rows(q0, q1);
                let rows = q1 - q0;
                for r in 0..rows {
                    topk::reset(
                        &mut s_blk[r * k..(r + 1) * k],
                        &mut i_blk[r * k..(r + 1) * k],
                    );
                }
                packed.clear();
                let mut g0 = 0;
                while g0 < ng {
                    let g1 = (g0 + gb).min(ng);
                    let cols = g1 - g0;
                    let gv = gallery.slice_rows(g0, g1);
                    if kernel == HostKernel::Fused && fused::applies(rows, cols, qv.cols()) {
                        if packed.is_empty() {
                            packed.pack(qv);
                        }
                        fused::rank_tile(packed, gv, g0, rank, s_blk, i_blk, k);
                        g0 = g1;
                        continue;
                    }
                    if tile.is_empty() {
                        tile.resize(qb * gb, 0.0);
                    }
                    dot_tile(qv, gv, tile);
                    for r in 0..rows {
                        topk::scan_row(
                            &tile[r * cols..(r + 1) * cols],
                            g0,
                            rank,
                            &mut s_blk[r * k..(r + 1) * k],
                            &mut i_blk[r * k..(r + 1) * k],
                        );
                    }
                    g0 = g1;
                }
            },
        );
    finish(&mut sims, &mut idx, k, norms, queries)?;
    Ok(Neighbours {
        n_queries: nq,
        k,
        indices: idx,
        similarities: sims,
    })
}

/// Sorts every list by rank (lists kept as heaps during the scan), turns ranking scores into reported
/// similarities and checks that every slot was filled.
pub(crate) fn finish(
    sims: &mut [f32],
    idx: &mut [u32],
    k: usize,
    norms: &Norms,
    queries: MatRef<'_>,
) -> Result<()> {
    for (q, (s_row, i_row)) in sims.chunks_mut(k).zip(idx.chunks_mut(k)).enumerate() {
        topk::sort_list(s_row, i_row);
        if i_row.contains(&topk::EMPTY) {
            return Err(ProbeError::NonFiniteScore { query: q });
        }
        let f: Finish = norms.finish(queries.row(q));
        for s in s_row.iter_mut() {
            *s = f.apply(*s);
        }
    }
    Ok(())
}
