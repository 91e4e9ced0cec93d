//! Host path on AVX-512: each tile's dot products are computed in registers and ranked there, so no
//! score tile is written to memory and read back (the `gemm` tile + scan of [`super::cpu`] moves
//! `4 · rows · cols` bytes each way per tile; at the demo's width, 192, that traffic and the scan cost
//! about a fifth of the search).
//!
//! # The same scores, bit for bit
//! `gemm` computes every entry of a tile as one fused-multiply-add chain over the depth, starting
//! from zero, in depth order (its microkernels; `gemm-common`'s `microkernel.rs`), when
//! - the depth is at most 512 (its depth block `kc` is `min(k, ≥ 512)`, so the chain is not split),
//!   and at least 3 (below, `gevv`),
//! - the tile has at least 2 rows and 2 columns (else a matrix-vector kernel), and more than 256
//!   entries (else its "horizontal" kernels, which reduce across the depth in SIMD lanes).
//!
//! This kernel computes exactly that chain per entry (one lane of an `fma` accumulator per
//! (query, gallery row)), and [`applies`] routes only such tiles here; the others keep the `gemm`
//! path. Ranking transforms are the scan's ([`super::topk::scan_row`]): `s`, `s · inv_norm[j]`,
//! `(s + s) − sq_norm[j]` (`2s` is exact either way). With the same scores and the crate's total
//! order on `(score, index)`, the lists are the same whichever path ran (`tests` check both, bit for
//! bit).

use super::topk::{self, Rank};
use crate::matrix::MatRef;

/// 16-lane registers of queries per panel.
const MV: usize = 2;
/// Query lanes per panel.
const LANES: usize = 16 * MV;
/// Gallery rows per microkernel call (2 × 12 accumulators).
const NR: usize = 12;
/// Gallery rows per sub-block, sized so one sub-block (`GALLERY_CHUNK × dim × 4` bytes, 384 KiB at
/// 192-d) stays in a core's L2 while every query panel of the tile passes over it.
const GALLERY_CHUNK: usize = 504;

/// Whether this CPU runs the fused kernel (AVX-512F, detected once at run time).
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether a `rows × cols` tile at depth `dim` goes through the fused kernel: the CPU has it and
/// `gemm` would compute this tile as plain `fma` chains (see the module docs).
pub(crate) fn applies(rows: usize, cols: usize, dim: usize) -> bool {
    (3..=512).contains(&dim) && rows >= 2 && cols >= 2 && rows * cols > 256 && available()
}

/// A query block packed into panels of [`LANES`] queries, depth-major: value `(r, d)` at
/// `(r / LANES) · dim · LANES + d · LANES + r % LANES`; lanes past the last row are zero.
#[derive(Default)]
pub(crate) struct PackedQueries {
    data: Vec<f32>,
    rows: usize,
}

impl PackedQueries {
    /// Packs `q` (`rows × dim`), reusing the buffer.
    pub(crate) fn pack(&mut self, q: MatRef<'_>) {
        let (rows, dim) = (q.rows(), q.cols());
        self.rows = rows;
        self.data.clear();
        self.data.resize(rows.div_ceil(LANES) * dim * LANES, 0.0);
        for r in 0..rows {
            let base = (r / LANES) * dim * LANES + r % LANES;
            for (d, &v) in q.row(r).iter().enumerate() {
                self.data[base + d * LANES] = v;
            }
        }
    }

    /// Forgets the packed block (the next [`Self::pack`] fills it again).
    pub(crate) fn clear(&mut self) {
        self.data.clear();
        self.rows = 0;
    }

    /// Whether no block is packed.
    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// Ranks one tile: the packed queries against gallery rows `gallery` (whose first row is gallery
/// index `offset`), updating the lists `(sims, idx)` (`k` per query, as in [`super::cpu::search`]).
///
/// The caller checks [`applies`] for this tile first.
pub(crate) fn rank_tile(
    queries: &PackedQueries,
    gallery: MatRef<'_>,
    offset: usize,
    rank: Rank<'_>,
    sims: &mut [f32],
    idx: &mut [u32],
    k: usize,
) {
    let rows = queries.rows;
    assert!(applies(rows, gallery.rows(), gallery.cols()));
    assert!(queries.data.len() == rows.div_ceil(LANES) * gallery.cols() * LANES);
    assert!(sims.len() >= rows * k && idx.len() >= rows * k);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `applies` checked that the CPU has AVX-512F; the asserts above give the buffer extents
    // the kernel reads and writes.
    unsafe {
        avx512::rank_tile(queries, gallery, offset, rank, sims, idx, k);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::*;
    use std::arch::x86_64::*;

    /// `acc[n][m]` = the `fma` chain over `d` of `panel[d][16m..16m+16] × g[n][d]` (`g`: [`NR`] gallery
    /// rows).
    #[inline(always)]
    unsafe fn microkernel(
        panel: *const f32,
        g: &[*const f32; NR],
        dim: usize,
    ) -> [[__m512; MV]; NR] {
        // SAFETY (whole body): the caller passes a panel of `dim × LANES` values and `NR` rows of `dim`
        // values.
        unsafe {
            let mut acc = [[_mm512_setzero_ps(); MV]; NR];
            let mut a = panel;
            for d in 0..dim {
                let av: [__m512; MV] = std::array::from_fn(|m| _mm512_loadu_ps(a.add(16 * m)));
                for (acc_n, g_n) in acc.iter_mut().zip(g) {
                    let bn = _mm512_set1_ps(*g_n.add(d));
                    for m in 0..MV {
                        acc_n[m] = _mm512_fmadd_ps(av[m], bn, acc_n[m]);
                    }
                }
                a = a.add(LANES);
            }
            acc
        }
    }

    /// [`super::rank_tile`] on a CPU with AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn rank_tile(
        queries: &PackedQueries,
        gallery: MatRef<'_>,
        offset: usize,
        rank: Rank<'_>,
        sims: &mut [f32],
        idx: &mut [u32],
        k: usize,
    ) {
        let (packed, rows) = (&queries.data, queries.rows);
        let (cols, dim) = (gallery.rows(), gallery.cols());
        let w = topk::worst_slot(k);
        let panels = rows.div_ceil(LANES);
        // Per query lane: the score a candidate must reach (+inf on padding lanes: never reached).
        let mut thr = vec![f32::INFINITY; panels * LANES];
        for r in 0..rows {
            thr[r] = sims[r * k + w];
        }
        let gdata = gallery.data();
        let mut c0 = 0;
        while c0 < cols {
            let c1 = (c0 + GALLERY_CHUNK).min(cols);
            for p in 0..panels {
                let panel = packed[p * dim * LANES..(p + 1) * dim * LANES].as_ptr();
                let mut j0 = c0;
                while j0 < c1 {
                    let valid = (c1 - j0).min(NR);
                    // Past the chunk's end, the last row again (its results are skipped).
                    let g: [*const f32; NR] =
                        std::array::from_fn(|n| gdata[(j0 + n.min(valid - 1)) * dim..].as_ptr());
                    // SAFETY: `panel` holds `dim × LANES` values, every `g[n]` a whole gallery row.
                    let acc = unsafe { microkernel(panel, &g, dim) };
                    for (n, acc_n) in acc.iter().enumerate().take(valid) {
                        let j = j0 + n;
                        let gi = (offset + j) as u32;
                        for (m, &raw) in acc_n.iter().enumerate() {
                            let s = match rank {
                                Rank::Dot => raw,
                                Rank::Cosine(inv) => {
                                    _mm512_mul_ps(raw, _mm512_set1_ps(inv[offset + j]))
                                }
                                Rank::NegL2(sq) => _mm512_sub_ps(
                                    _mm512_add_ps(raw, raw),
                                    _mm512_set1_ps(sq[offset + j]),
                                ),
                            };
                            let lane0 = p * LANES + m * 16;
                            // SAFETY: `thr` has `panels × LANES` entries.
                            let t = unsafe { _mm512_loadu_ps(thr.as_ptr().add(lane0)) };
                            let mut hit = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(s, t);
                            if hit == 0 {
                                continue;
                            }
                            let mut lanes = [0.0f32; 16];
                            // SAFETY: `lanes` holds 16 values.
                            unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), s) };
                            while hit != 0 {
                                let l = hit.trailing_zeros() as usize;
                                hit &= hit - 1;
                                let r = lane0 + l;
                                if r >= rows {
                                    continue;
                                }
                                let (ls, li) =
                                    (&mut sims[r * k..(r + 1) * k], &mut idx[r * k..(r + 1) * k]);
                                topk::offer(ls, li, lanes[l], gi);
                                thr[r] = ls[w];
                            }
                        }
                    }
                    j0 += NR;
                }
            }
            c0 = c1;
        }
    }
}
