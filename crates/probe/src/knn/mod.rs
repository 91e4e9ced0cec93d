//! Exact k-nearest-neighbour search and voting on plain feature matrices.
//!
//! # The study's setting
//! The paper classifies every query patch by the label of its **single nearest gallery patch**
//! under the **raw inner product** of the (unnormalised) final-LayerNorm features
//! (protocol §4 A.1, §12.1–2): [`Similarity::Dot`], `k = 1`, [`Vote::Nearest`]. Cosine, negative
//! L2, larger `k` and the other vote rules are options for sweeps.
//!
//! # Tie-breaking (deterministic)
//! Neighbours are ranked by similarity, descending; **on equal (computed) similarity the lower
//! gallery index ranks first.** The rule compares full `(similarity, index)` keys, so it does not
//! depend on block sizes, thread count or the order in which blocks are visited. It applies to
//! the similarities as computed in `f32`: two analytically equal dot products can differ in the
//! last bit when computed by different kernels, and then the larger one wins. Vote ties are
//! broken in favour of the class whose best neighbour ranks first (see [`Vote`]).
//!
//! # Memory
//! The search never materialises the `n_queries × n_gallery` score matrix. Work is split into
//! tiles of [`BlockPlan::query_block`] queries × [`BlockPlan::gallery_block`] gallery rows whose
//! size follows from [`SearchConfig::memory_budget_bytes`] (see [`plan_host`] and
//! [`plan_device`]). Besides the caller's inputs the search allocates
//! - the output, `n_queries × k × 8` bytes;
//! - for cosine / L2 one `f32` per gallery row (norms), `4 × n_gallery` bytes;
//! - the tiles, at most the budget ([`BlockPlan::working_bytes`]).
//!
//! The gallery is never copied on the host path, so at the study's Cityscapes scale
//! (451,584 × 768 gallery = 1.39 GB, 188,160 queries, k = 1) the extra memory is
//! 1.5 MB (output) + 1.8 MB (norms) + the budget, far below the required
//! `0.5 × gallery bytes + one block`. `tests/memory.rs` checks this with a counting allocator.
//!
//! # Paths
//! - [`search`]: host path, one tile per (query block × gallery block). On x86-64 with AVX-512 the
//!   tile's dot products stay in registers and are ranked there ([`HostKernel::Fused`]); elsewhere,
//!   a direct `gemm` call per tile fused with a streaming top-k ([`HostKernel::Gemm`]). Both give the
//!   same scores bit for bit (fastest on CPU; see `benches/knn.rs` and `benches/knn_vs_faiss.py`).
//! - [`search_on_device`]: the GEMM and the top-k run on a caller-chosen burn
//!   [`Device`](burn::tensor::Device) (e.g. a GPU); only `k` scores and indices per query come back.
//! - [`search_naive`]: the `O(N·M)` reference, one similarity at a time in `f64`; for tests.
//!
//! # Performance (2-core AMD EPYC VM with AVX-512, shared with other builds)
//! 10k queries × 50k gallery × 384-d, top-20, dot product, bench profile (measured with the `gemm`
//! tiles, before the fused kernel existed):
//! - host path ([`search`]): 3.6–3.7 s under load (criterion `benches/knn.rs`), ~1.0 s for the
//!   same tile code in a quiet window; `gemm` is built with its `x86-v4` (AVX-512) kernels,
//!   which are ~3× faster than its AVX2 ones on this CPU;
//! - device path on `Device::flex()` ([`search_on_device`]): 6.2 s (1.7× slower than the host
//!   path, same load), so the host path is the CPU default and the device path is for GPUs;
//! - faiss-cpu 1.15.1 `IndexFlatIP` on the same data in the same run
//!   (`benches/knn_vs_faiss.py`): throughput ratio ours / faiss = 1.8 with 1 thread each, 2.5–2.9
//!   with 2 threads each under load (faiss' OpenMP suffers more from the contention).
//!
//! The fused kernel against the `gemm` tiles + scan, same data, same run (`examples/knn_kernels.rs`,
//! release, 2 threads, the 2-core AVX-512 VM unloaded, 2026-12-06; two cores' FMA peak measured at
//! ≈ 230 GFLOP/s):
//!
//! | gallery × queries × dim, k | fused | gemm + scan | ratio |
//! |---|---|---|---|
//! | 49,152 × 24,576 × 192, 1 (the demo's searches) | 2.13 s (218 GFLOP/s) | 2.47 s (188) | 1.16× |
//! | 49,152 × 24,576 × 384, 1 | 4.32 s (215) | 4.80 s (193) | 1.11× |
//! | 20,000 × 10,000 × 192, 20 | 0.41 s (186) | 0.49 s (156) | 1.20× |
//!
//! Both return the same neighbours and similarities bit for bit (checked by the example on every run,
//! and by `tests/knn.rs`).
//!
//! The workspace `dev` profile keeps debug assertions and overflow checks on for dependencies,
//! which makes `gemm` ~2.8× slower (10.3 s instead of 3.7 s here); turning both off for
//! `[profile.dev.package."*"]` recovers release speed.

pub(crate) mod cpu;
mod device;
mod fused;
pub(crate) mod topk;

use crate::error::{ProbeError, Result};
use crate::matrix::MatRef;
use serde::{Deserialize, Serialize};

pub use device::{DEFAULT_DEVICE_MEMORY_BUDGET, on_host, search_on, search_on_device};

/// DINO's k-NN temperature (Caron et al. 2021, `T = 0.07`), for [`Vote::Softmax`].
pub const DINO_TEMPERATURE: f32 = 0.07;

/// Default working-memory budget for the tiles: 256 MiB.
pub const DEFAULT_MEMORY_BUDGET: usize = 256 << 20;

/// Guard for zero-norm rows under cosine similarity: norms are clamped to at least this value,
/// so a zero row has similarity 0 with everything.
pub const COSINE_EPS: f32 = 1e-12;

/// Similarity between a query `q` and a gallery row `g` (higher = nearer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Similarity {
    /// Raw inner product `q·g` (the study's setting).
    Dot,
    /// Cosine similarity `q·g / (max(|q|, ε) · max(|g|, ε))` with ε = [`COSINE_EPS`].
    Cosine,
    /// Negative Euclidean distance `−|q − g|`.
    NegL2,
}

/// How the labels of the `k` neighbours become one prediction.
///
/// For the rules that score classes, ties between classes go to the class whose best-ranked
/// neighbour ranks first.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Vote {
    /// The label of the first-ranked neighbour; `k` only decides how many neighbours are
    /// stored (the study: `k = 1`).
    Nearest,
    /// Each of the `k` neighbours gives one vote; most votes win.
    Majority,
    /// Each neighbour votes with a weight: its similarity for [`Similarity::Dot`] and
    /// [`Similarity::Cosine`] (negative similarities subtract), and the inverse distance
    /// `1 / max(|q − g|, 1e-6)` for [`Similarity::NegL2`] (scikit-learn's `weights="distance"`).
    Weighted,
    /// Each neighbour votes with `exp(s / T)` (DINO's weighted k-NN; computed as
    /// `exp((s − s₁) / T)`, the same ratios). Use [`DINO_TEMPERATURE`] for `T = 0.07`.
    Softmax {
        /// The temperature `T > 0`.
        temperature: f32,
    },
}

/// Parameters of a k-NN search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchConfig {
    /// Number of neighbours kept per query (`1 ≤ k ≤ n_gallery`).
    pub k: usize,
    /// The similarity.
    pub similarity: Similarity,
    /// Bytes of working memory the tiles may use (all threads together). See the module docs.
    pub memory_budget_bytes: usize,
}

impl Default for SearchConfig {
    /// The study's setting: `k = 1`, dot product, [`DEFAULT_MEMORY_BUDGET`].
    fn default() -> Self {
        Self {
            k: 1,
            similarity: Similarity::Dot,
            memory_budget_bytes: DEFAULT_MEMORY_BUDGET,
        }
    }
}

/// The `k` nearest gallery rows of each query, ranked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Neighbours {
    /// Number of queries.
    pub n_queries: usize,
    /// Neighbours per query.
    pub k: usize,
    /// Gallery indices, row-major `[n_queries, k]`, best first.
    pub indices: Vec<u32>,
    /// Their similarities (as defined by [`Similarity`]), row-major `[n_queries, k]`,
    /// non-increasing along each row.
    pub similarities: Vec<f32>,
}

impl Neighbours {
    /// Gallery indices of query `q`, best first (length `k`).
    ///
    /// # Panics
    /// When `q >= n_queries`.
    pub fn indices_of(&self, q: usize) -> &[u32] {
        &self.indices[q * self.k..(q + 1) * self.k]
    }

    /// Similarities of query `q`, best first (length `k`).
    ///
    /// # Panics
    /// When `q >= n_queries`.
    pub fn similarities_of(&self, q: usize) -> &[f32] {
        &self.similarities[q * self.k..(q + 1) * self.k]
    }

    /// Keeps only the best `k` neighbours per query (a k-sweep from one search).
    ///
    /// # Errors
    /// [`ProbeError::InvalidParam`] when `k` is 0 or larger than the stored `k`.
    pub fn truncated(&self, k: usize) -> Result<Neighbours> {
        if k == 0 || k > self.k {
            return Err(ProbeError::InvalidParam {
                name: "k",
                value: k.to_string(),
                reason: "must be in 1..=stored k",
            });
        }
        let mut indices = Vec::with_capacity(self.n_queries * k);
        let mut similarities = Vec::with_capacity(self.n_queries * k);
        for q in 0..self.n_queries {
            indices.extend_from_slice(&self.indices_of(q)[..k]);
            similarities.extend_from_slice(&self.similarities_of(q)[..k]);
        }
        Ok(Neighbours {
            n_queries: self.n_queries,
            k,
            indices,
            similarities,
        })
    }
}

/// Tile sizes of a blocked search, derived from the memory budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockPlan {
    /// Queries per tile.
    pub query_block: usize,
    /// Gallery rows per tile.
    pub gallery_block: usize,
    /// Tiles alive at once (threads on the host path; 1 on the device path).
    pub concurrent: usize,
    /// Upper bound on the bytes the tiles (and, on the device path, the uploaded blocks and the
    /// read-back scores) occupy at once; never above the budget.
    pub working_bytes: usize,
}

/// Preferred host tile: 1024 queries × 2048 gallery rows (8 MiB of scores per thread).
/// Measured on the 2-core AVX-512 VM (10k × 50k × 384, top-20): 1024 × 2048 and 512 × 4096 were
/// 5–10 % faster than 256 × 4096; the scan over the tile costs ~10 % of the GEMM.
pub const HOST_QUERY_BLOCK: usize = 1024;
/// See [`HOST_QUERY_BLOCK`].
pub const HOST_GALLERY_BLOCK: usize = 2048;
/// Scratch that `gemm` allocates per call for packing (an upper bound: its packing buffers are
/// sized by the cache sizes; measured ≈ 1 MiB per thread in `tests/memory.rs`). Counted in
/// [`BlockPlan::working_bytes`] per thread. The fused kernel ([`HostKernel::Fused`]) needs no score
/// tile and no gemm scratch; its packed query block (at most [`HOST_QUERY_BLOCK`] × 512 × 4 bytes
/// = 2 MiB, plus one threshold per query) fits in this allowance.
pub const GEMM_SCRATCH_BYTES: usize = 8 << 20;

/// Plans the host path: `threads` tiles of `query_block × gallery_block` scores plus
/// [`GEMM_SCRATCH_BYTES`] each must fit in `budget` bytes. Starts from the preferred tile and
/// halves the gallery block (down to 64), then the query block (down to 1), until it fits.
///
/// # Errors
/// [`ProbeError::BudgetTooSmall`] when even a 1 × 64 tile does not fit.
pub fn plan_host(
    n_gallery: usize,
    n_queries: usize,
    threads: usize,
    budget: usize,
) -> Result<BlockPlan> {
    let threads = threads.max(1);
    // Enough query blocks for every thread when there are few queries.
    let mut qb = HOST_QUERY_BLOCK
        .min(n_queries.div_ceil(threads).max(1))
        .max(1);
    let mut gb = HOST_GALLERY_BLOCK.min(n_gallery.max(1));
    let cost = |qb: usize, gb: usize| threads * (qb * gb * 4 + GEMM_SCRATCH_BYTES);
    while cost(qb, gb) > budget {
        if gb > 64 {
            gb /= 2;
        } else if qb > 1 {
            qb /= 2;
        } else {
            return Err(ProbeError::BudgetTooSmall {
                budget,
                needed: cost(1, gb),
            });
        }
    }
    Ok(BlockPlan {
        query_block: qb,
        gallery_block: gb,
        concurrent: threads,
        working_bytes: cost(qb, gb),
    })
}

/// Plans the device path. One gallery chunk (`gallery_block × dim`) stays uploaded while all
/// query blocks pass over it; it gets at most half of what the running lists leave. The rest holds one
/// query block (`query_block × dim`), its score tile and ranked copy (`2 · query_block × gallery_block`)
/// and the merge's temporaries (two lists of `2k` per query of the block). The running top-k lists of all
/// queries (`n_queries × k` scores and 64-bit indices) stay on the device throughout:
/// `12·nq·k + 4·(gb·dim + qb·dim + 2·qb·gb) + 48·qb·k ≤ budget`.
///
/// # Errors
/// [`ProbeError::BudgetTooSmall`] when not even one gallery row and one query fit.
pub fn plan_device(
    n_gallery: usize,
    n_queries: usize,
    dim: usize,
    k: usize,
    budget: usize,
) -> Result<BlockPlan> {
    let row = 4 * dim.max(1);
    let lists = 12 * n_queries * k;
    let working =
        |qb: usize, gb: usize| lists + 4 * (gb * dim + qb * dim + 2 * qb * gb) + 48 * qb * k;
    let needed = working(1, 1);
    if budget < needed {
        return Err(ProbeError::BudgetTooSmall { budget, needed });
    }
    let free = budget - lists;
    // At most half of what is free, and no more than leaves room for one query row with its scores.
    let gb = (free / 2 / row)
        .min((free - row - 48 * k) / (row + 8))
        .clamp(1, n_gallery.max(1));
    let rest = free - gb * row;
    let qb = (rest / (row + 8 * gb + 48 * k)).clamp(1, n_queries.max(1));
    let working = working(qb, gb);
    if working > budget {
        return Err(ProbeError::BudgetTooSmall {
            budget,
            needed: working,
        });
    }
    Ok(BlockPlan {
        query_block: qb,
        gallery_block: gb,
        concurrent: 1,
        working_bytes: working,
    })
}

/// Per-gallery-row norms needed by cosine and L2 (none for the dot product).
pub(crate) enum Norms {
    Dot,
    /// `1 / max(|g|, ε)` per gallery row.
    Cosine(Vec<f32>),
    /// `|g|²` per gallery row.
    NegL2(Vec<f32>),
}

impl Norms {
    pub(crate) fn new(gallery: MatRef<'_>, similarity: Similarity) -> Self {
        use rayon::prelude::*;
        let sq = |r: &[f32]| r.iter().map(|v| v * v).sum::<f32>();
        match similarity {
            Similarity::Dot => Norms::Dot,
            Similarity::Cosine => Norms::Cosine(
                gallery
                    .data()
                    .par_chunks(gallery.cols())
                    .map(|r| 1.0 / sq(r).sqrt().max(COSINE_EPS))
                    .collect(),
            ),
            Similarity::NegL2 => {
                Norms::NegL2(gallery.data().par_chunks(gallery.cols()).map(sq).collect())
            }
        }
    }

    pub(crate) fn rank(&self) -> topk::Rank<'_> {
        match self {
            Norms::Dot => topk::Rank::Dot,
            Norms::Cosine(v) => topk::Rank::Cosine(v),
            Norms::NegL2(v) => topk::Rank::NegL2(v),
        }
    }

    pub(crate) fn finish(&self, q: &[f32]) -> topk::Finish {
        let sq: f32 = q.iter().map(|v| v * v).sum();
        match self {
            Norms::Dot => topk::Finish::Dot,
            Norms::Cosine(_) => topk::Finish::Cosine(1.0 / sq.sqrt().max(COSINE_EPS)),
            Norms::NegL2(_) => topk::Finish::NegL2(sq),
        }
    }
}

/// Checks shapes, `k` and finiteness shared by all search paths.
fn validate(gallery: MatRef<'_>, queries: MatRef<'_>, k: usize) -> Result<()> {
    gallery.require_non_empty("gallery")?;
    queries.require_non_empty("queries")?;
    if gallery.cols() != queries.cols() {
        return Err(ProbeError::DimMismatch {
            a: "gallery",
            a_cols: gallery.cols(),
            b: "queries",
            b_cols: queries.cols(),
        });
    }
    if k == 0 || k > gallery.rows() {
        return Err(ProbeError::InvalidParam {
            name: "k",
            value: k.to_string(),
            reason: "must be in 1..=n_gallery",
        });
    }
    if gallery.rows() > u32::MAX as usize - 1 {
        return Err(ProbeError::InvalidParam {
            name: "n_gallery",
            value: gallery.rows().to_string(),
            reason: "gallery indices are stored as u32",
        });
    }
    gallery.require_finite("gallery")?;
    queries.require_finite("queries")?;
    Ok(())
}

/// Exact blocked k-NN on the host (the fast CPU path).
///
/// `gallery`: `[n_gallery, dim]`, `queries`: `[n_queries, dim]`, both row-major. Returns the
/// `cfg.k` best gallery rows per query under `cfg.similarity`, ranked, ties to the lower gallery
/// index. Runs on the rayon thread pool, one query block per task.
///
/// # Errors
/// Empty inputs, mismatched dims, `k` outside `1..=n_gallery`, non-finite inputs, a budget below
/// one tile ([`ProbeError::BudgetTooSmall`]), or overflowing similarities.
pub fn search(gallery: MatRef<'_>, queries: MatRef<'_>, cfg: &SearchConfig) -> Result<Neighbours> {
    validate(gallery, queries, cfg.k)?;
    let plan = plan_host(
        gallery.rows(),
        queries.rows(),
        rayon::current_num_threads(),
        cfg.memory_budget_bytes,
    )?;
    search_with_plan(gallery, queries, cfg.k, cfg.similarity, &plan)
}

/// [`search`] with explicit tile sizes (for tests and benchmarks; `plan.concurrent` is ignored,
/// the rayon pool decides).
///
/// # Errors
/// As [`search`], plus [`ProbeError::InvalidParam`] for a zero block size.
pub fn search_with_plan(
    gallery: MatRef<'_>,
    queries: MatRef<'_>,
    k: usize,
    similarity: Similarity,
    plan: &BlockPlan,
) -> Result<Neighbours> {
    search_with_kernel(gallery, queries, k, similarity, plan, HostKernel::Fused)
}

/// Which kernel ranks the tiles of the host path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKernel {
    /// The default: the fused AVX-512 kernel (dot products kept in registers and ranked there, no
    /// score tile in memory) on every tile where it computes `gemm`'s scores bit for bit (x86-64 with
    /// AVX-512F, depth 3 to 512, tiles of more than 256 scores with at least 2 rows and 2 columns);
    /// [`HostKernel::Gemm`] on the others. Same neighbours and similarities as [`HostKernel::Gemm`].
    Fused,
    /// A `gemm` call per tile, then a streaming scan of the score tile (the reference the fused
    /// kernel is checked against, and the path on other CPUs).
    Gemm,
}

impl HostKernel {
    /// Whether this CPU has the fused kernel (x86-64 with AVX-512F); without it
    /// [`HostKernel::Fused`] runs the `gemm` path everywhere.
    pub fn fused_available() -> bool {
        fused::available()
    }
}

/// [`search_with_plan`] with the tile kernel chosen (for tests and benchmarks).
///
/// # Errors
/// As [`search_with_plan`].
pub fn search_with_kernel(
    gallery: MatRef<'_>,
    queries: MatRef<'_>,
    k: usize,
    similarity: Similarity,
    plan: &BlockPlan,
    kernel: HostKernel,
) -> Result<Neighbours> {
    validate(gallery, queries, k)?;
    if plan.query_block == 0 || plan.gallery_block == 0 {
        return Err(ProbeError::InvalidParam {
            name: "plan",
            value: format!("{plan:?}"),
            reason: "block sizes must be positive",
        });
    }
    let norms = Norms::new(gallery, similarity);
    cpu::search(gallery, queries, k, &norms, plan, kernel)
}

/// The `O(N·M)` reference: every similarity computed on its own, straight from the definition,
/// accumulated in `f64`, then a full sort per query (similarity descending, index ascending).
/// For tests; allocates `n_gallery` scores per query.
///
/// # Errors
/// As [`search`] (apart from the budget).
pub fn search_naive(
    gallery: MatRef<'_>,
    queries: MatRef<'_>,
    k: usize,
    similarity: Similarity,
) -> Result<Neighbours> {
    validate(gallery, queries, k)?;
    let mut indices = Vec::with_capacity(queries.rows() * k);
    let mut similarities = Vec::with_capacity(queries.rows() * k);
    let mut scores: Vec<(f64, u32)> = Vec::with_capacity(gallery.rows());
    for q in 0..queries.rows() {
        let qr = queries.row(q);
        scores.clear();
        for g in 0..gallery.rows() {
            let gr = gallery.row(g);
            let s = match similarity {
                Similarity::Dot => dot64(qr, gr),
                Similarity::Cosine => {
                    let nq = dot64(qr, qr).sqrt().max(COSINE_EPS as f64);
                    let ng = dot64(gr, gr).sqrt().max(COSINE_EPS as f64);
                    dot64(qr, gr) / (nq * ng)
                }
                Similarity::NegL2 => -qr
                    .iter()
                    .zip(gr)
                    .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
                    .sum::<f64>()
                    .sqrt(),
            };
            scores.push((s, g as u32));
        }
        scores.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(s, g) in &scores[..k] {
            indices.push(g);
            similarities.push(s as f32);
        }
    }
    Ok(Neighbours {
        n_queries: queries.rows(),
        k,
        indices,
        similarities,
    })
}

fn dot64(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
}

/// Checks a label array against its feature rows and `n_classes`.
pub(crate) fn check_labels(
    name: &'static str,
    labels: &[u32],
    rows: usize,
    n_classes: usize,
    ignore: Option<u32>,
) -> Result<()> {
    if labels.len() != rows {
        return Err(ProbeError::LabelCount {
            name,
            labels: labels.len(),
            rows,
        });
    }
    if let Some((row, &label)) = labels
        .iter()
        .enumerate()
        .find(|(_, l)| (**l as usize) >= n_classes && Some(**l) != ignore)
    {
        return Err(ProbeError::LabelRange {
            name,
            row,
            label,
            n_classes,
        });
    }
    Ok(())
}

/// Turns neighbour lists into one predicted label per query.
///
/// `gallery_labels[g]` is the label of gallery row `g` (`< n_classes`); `similarity` must be the
/// one used for the search (it decides the [`Vote::Weighted`] weights). Returns `n_queries`
/// labels.
///
/// # Errors
/// Label count / range errors, a non-positive or non-finite softmax temperature, or a neighbour
/// index outside the label array.
pub fn vote(
    neighbours: &Neighbours,
    gallery_labels: &[u32],
    n_classes: usize,
    rule: Vote,
    similarity: Similarity,
) -> Result<Vec<u32>> {
    if n_classes == 0 {
        return Err(ProbeError::InvalidParam {
            name: "n_classes",
            value: "0".into(),
            reason: "must be positive",
        });
    }
    check_labels(
        "gallery_labels",
        gallery_labels,
        gallery_labels.len(),
        n_classes,
        None,
    )?;
    if let Vote::Softmax { temperature } = rule
        && !(temperature.is_finite() && temperature > 0.0)
    {
        return Err(ProbeError::InvalidParam {
            name: "temperature",
            value: temperature.to_string(),
            reason: "must be finite and > 0",
        });
    }
    if let Some(&bad) = neighbours
        .indices
        .iter()
        .find(|&&i| i as usize >= gallery_labels.len())
    {
        return Err(ProbeError::InvalidParam {
            name: "neighbours",
            value: bad.to_string(),
            reason: "neighbour index outside gallery_labels",
        });
    }
    let mut score = vec![0.0f64; n_classes];
    let mut first_rank = vec![usize::MAX; n_classes];
    let mut out = Vec::with_capacity(neighbours.n_queries);
    for q in 0..neighbours.n_queries {
        let idx = neighbours.indices_of(q);
        let sims = neighbours.similarities_of(q);
        if rule == Vote::Nearest {
            out.push(gallery_labels[idx[0] as usize]);
            continue;
        }
        let s1 = sims[0] as f64;
        for (r, (&g, &s)) in idx.iter().zip(sims).enumerate() {
            let c = gallery_labels[g as usize] as usize;
            let w = match rule {
                Vote::Nearest | Vote::Majority => 1.0,
                Vote::Weighted => match similarity {
                    Similarity::Dot | Similarity::Cosine => s as f64,
                    Similarity::NegL2 => 1.0 / (-(s as f64)).max(1e-6),
                },
                Vote::Softmax { temperature } => ((s as f64 - s1) / temperature as f64).exp(),
            };
            score[c] += w;
            first_rank[c] = first_rank[c].min(r);
        }
        // Best class: highest score, then earliest best neighbour.
        let mut best = gallery_labels[idx[0] as usize] as usize;
        for &g in idx {
            let c = gallery_labels[g as usize] as usize;
            if score[c] > score[best]
                || (score[c] == score[best] && first_rank[c] < first_rank[best])
            {
                best = c;
            }
        }
        out.push(best as u32);
        for &g in idx {
            let c = gallery_labels[g as usize] as usize;
            score[c] = 0.0;
            first_rank[c] = usize::MAX;
        }
    }
    Ok(out)
}

/// Parameters of [`classify`]: a search plus a vote.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KnnConfig {
    /// The search.
    pub search: SearchConfig,
    /// The vote rule.
    pub vote: Vote,
}

impl Default for KnnConfig {
    /// The study's classifier: 1-NN, dot product.
    fn default() -> Self {
        Self {
            search: SearchConfig::default(),
            vote: Vote::Nearest,
        }
    }
}

/// Searches on the host and votes: one predicted label per query (`n_queries`).
///
/// # Errors
/// Those of [`search`] and [`vote`]; labels are checked before the search starts.
pub fn classify(
    gallery: MatRef<'_>,
    gallery_labels: &[u32],
    queries: MatRef<'_>,
    n_classes: usize,
    cfg: &KnnConfig,
) -> Result<Vec<u32>> {
    check_labels(
        "gallery_labels",
        gallery_labels,
        gallery.rows(),
        n_classes,
        None,
    )?;
    let nb = search(gallery, queries, &cfg.search)?;
    vote(
        &nb,
        gallery_labels,
        n_classes,
        cfg.vote,
        cfg.search.similarity,
    )
}
