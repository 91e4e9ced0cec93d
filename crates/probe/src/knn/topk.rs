//! Per-query running top-k lists and the score transforms shared by the search paths.
//!
//! A list holds `k` (similarity, gallery index) pairs sorted by *rank*: higher similarity first,
//! and on equal similarity the **lower gallery index first**. This is the crate's deterministic
//! tie-break; it does not depend on block sizes or on the order in which gallery blocks are
//! visited, because every insertion compares full `(similarity, index)` keys.

/// Gallery index used for an empty slot.
pub(crate) const EMPTY: u32 = u32::MAX;

/// `true` when candidate `(s, i)` ranks before `(t, j)`.
#[inline(always)]
pub(crate) fn ranks_before(s: f32, i: u32, t: f32, j: u32) -> bool {
    s > t || (s == t && i < j)
}

/// Resets one list to empty slots (`-inf`, [`EMPTY`]).
pub(crate) fn reset(sims: &mut [f32], idx: &mut [u32]) {
    sims.fill(f32::NEG_INFINITY);
    idx.fill(EMPTY);
}

/// Inserts `(s, i)` into the sorted list `(sims, idx)` if it ranks before the last entry.
#[inline(always)]
pub(crate) fn insert(sims: &mut [f32], idx: &mut [u32], s: f32, i: u32) {
    let k = sims.len();
    if !ranks_before(s, i, sims[k - 1], idx[k - 1]) {
        return;
    }
    let mut p = k - 1;
    while p > 0 && ranks_before(s, i, sims[p - 1], idx[p - 1]) {
        sims[p] = sims[p - 1];
        idx[p] = idx[p - 1];
        p -= 1;
    }
    sims[p] = s;
    idx[p] = i;
}

/// How a raw dot product `q·g` becomes the ranking score for gallery column `j`.
///
/// The per-query factor of cosine and the `|q|²` term of L2 are constant along a query row, so
/// they are applied only once per kept neighbour, in [`Finish`].
#[derive(Clone, Copy)]
pub(crate) enum Rank<'a> {
    /// score = q·g.
    Dot,
    /// score = q·g / |g| (with `inv_norm[j] = 1 / max(|g_j|, ε)`).
    Cosine(&'a [f32]),
    /// score = 2 q·g − |g|² (with `sq_norm[j] = |g_j|²`).
    NegL2(&'a [f32]),
}

/// Scans one row of raw dot products (`raw[j]` belongs to gallery index `offset + j`) into the
/// list `(sims, idx)`.
#[inline]
pub(crate) fn scan_row(
    raw: &[f32],
    offset: usize,
    rank: Rank<'_>,
    sims: &mut [f32],
    idx: &mut [u32],
) {
    let k = sims.len();
    match rank {
        Rank::Dot => scan_with(raw, offset, sims, idx, k, |_, s| s),
        Rank::Cosine(inv) => {
            let inv = &inv[offset..offset + raw.len()];
            scan_with(raw, offset, sims, idx, k, |j, s| s * inv[j])
        }
        Rank::NegL2(sq) => {
            let sq = &sq[offset..offset + raw.len()];
            scan_with(raw, offset, sims, idx, k, |j, s| 2.0 * s - sq[j])
        }
    }
}

#[inline(always)]
fn scan_with(
    raw: &[f32],
    offset: usize,
    sims: &mut [f32],
    idx: &mut [u32],
    k: usize,
    f: impl Fn(usize, f32) -> f32,
) {
    let mut thr = sims[k - 1];
    let mut thr_i = idx[k - 1];
    // Process in chunks of 8: a chunk whose maximum cannot beat the threshold is skipped with
    // one comparison (vectorised max), which is the common case once the list is warm.
    let chunks = raw.len() / 8;
    for c in 0..chunks {
        let base = c * 8;
        let mut m = f32::NEG_INFINITY;
        for t in 0..8 {
            m = m.max(f(base + t, raw[base + t]));
        }
        // `m == thr` may still win on the index tie-break; `m >= thr` keeps those.
        if m < thr {
            continue;
        }
        for t in 0..8 {
            let j = base + t;
            let s = f(j, raw[j]);
            let gi = (offset + j) as u32;
            if ranks_before(s, gi, thr, thr_i) {
                insert(sims, idx, s, gi);
                thr = sims[k - 1];
                thr_i = idx[k - 1];
            }
        }
    }
    for (j, &v) in raw.iter().enumerate().skip(chunks * 8) {
        let s = f(j, v);
        let gi = (offset + j) as u32;
        if ranks_before(s, gi, thr, thr_i) {
            insert(sims, idx, s, gi);
            thr = sims[k - 1];
            thr_i = idx[k - 1];
        }
    }
}

/// Converts kept ranking scores of one query back to the reported similarity.
#[derive(Clone, Copy)]
pub(crate) enum Finish {
    /// Reported = score.
    Dot,
    /// Reported = score / |q| (`inv_q = 1 / max(|q|, ε)`).
    Cosine(f32),
    /// Reported = −sqrt(max(0, |q|² − score)) (`sq_q = |q|²`).
    NegL2(f32),
}

impl Finish {
    #[inline]
    pub(crate) fn apply(self, s: f32) -> f32 {
        match self {
            Finish::Dot => s,
            Finish::Cosine(inv_q) => s * inv_q,
            Finish::NegL2(sq_q) => -((sq_q - s).max(0.0)).sqrt(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_keeps_rank_order_and_index_tie_break() {
        let mut s = [0.0f32; 3];
        let mut i = [0u32; 3];
        reset(&mut s, &mut i);
        for (v, g) in [(1.0, 5), (3.0, 9), (1.0, 2), (3.0, 4), (0.5, 0), (1.0, 1)] {
            insert(&mut s, &mut i, v, g);
        }
        // Hand-worked: 3.0 at 4 and 9 (4 first), then the best 1.0, which is index 1.
        assert_eq!(s, [3.0, 3.0, 1.0]);
        assert_eq!(i, [4, 9, 1]);
    }

    #[test]
    fn scan_matches_insertion_for_any_chunk_alignment() {
        // 19 values: two full chunks of 8 and a tail of 3; duplicates across chunk borders.
        let raw: Vec<f32> = (0..19).map(|j| ((j * 7) % 5) as f32).collect();
        for offset in [0usize, 3] {
            let mut s = [0.0f32; 4];
            let mut i = [0u32; 4];
            reset(&mut s, &mut i);
            scan_row(&raw, offset, Rank::Dot, &mut s, &mut i);
            // Values 4 occur at j = 2, 7, 12, 17 (j*7 % 5 == 4).
            assert_eq!(s, [4.0; 4]);
            let expect: Vec<u32> = [2u32, 7, 12, 17]
                .iter()
                .map(|j| j + offset as u32)
                .collect();
            assert_eq!(i.to_vec(), expect);
        }
    }
}
