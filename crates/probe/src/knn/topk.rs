//! Per-query running top-k lists and the score transforms shared by the search paths.
//!
//! A list holds `k` (similarity, gallery index) pairs ranked by higher similarity first and, on equal
//! similarity, the **lower gallery index first**. This is the crate's deterministic tie-break; it
//! does not depend on block sizes or on the order in which gallery blocks are visited, because every
//! comparison uses full `(similarity, index)` keys.
//!
//! Short lists (`k ≤ HEAP_MIN_K`) are kept sorted by insertion. Longer ones (e.g. the identification
//! experiment's `k = patches per tile + 1`) are kept as a binary heap with the worst entry at the root
//! (`O(log k)` per accepted candidate instead of `O(k)`) and sorted once by [`sort_list`] at the end;
//! both give the same list, since the order is total.

/// Gallery index used for an empty slot.
pub(crate) const EMPTY: u32 = u32::MAX;

/// `true` when candidate `(s, i)` ranks before `(t, j)`.
#[inline(always)]
pub(crate) fn ranks_before(s: f32, i: u32, t: f32, j: u32) -> bool {
    s > t || (s == t && i < j)
}

/// The crate's order of `(similarity, index)` pairs: [`ranks_before`] first.
pub(crate) fn order(s: f32, i: u32, t: f32, j: u32) -> std::cmp::Ordering {
    if ranks_before(s, i, t, j) {
        std::cmp::Ordering::Less
    } else if ranks_before(t, j, s, i) {
        std::cmp::Ordering::Greater
    } else {
        std::cmp::Ordering::Equal
    }
}

/// Resets one list to empty slots (`-inf`, [`EMPTY`]).
pub(crate) fn reset(sims: &mut [f32], idx: &mut [u32]) {
    sims.fill(f32::NEG_INFINITY);
    idx.fill(EMPTY);
}

/// Lists longer than this are kept as heaps during the scan.
pub(crate) const HEAP_MIN_K: usize = 32;

/// Replaces the worst entry (the root) of the heap `(sims, idx)` by `(s, i)` if it ranks before it,
/// and restores the heap (every parent ranks after its children: the root is the worst).
#[inline(always)]
pub(crate) fn heap_push(sims: &mut [f32], idx: &mut [u32], s: f32, i: u32) {
    if !ranks_before(s, i, sims[0], idx[0]) {
        return;
    }
    let k = sims.len();
    let mut p = 0;
    loop {
        let (l, r) = (2 * p + 1, 2 * p + 2);
        // The worse child moves up if it is worse than the new entry.
        let mut w = p;
        let (mut ws, mut wi) = (s, i);
        if l < k && ranks_before(ws, wi, sims[l], idx[l]) {
            w = l;
            (ws, wi) = (sims[l], idx[l]);
        }
        if r < k && ranks_before(ws, wi, sims[r], idx[r]) {
            w = r;
        }
        if w == p {
            break;
        }
        sims[p] = sims[w];
        idx[p] = idx[w];
        p = w;
    }
    sims[p] = s;
    idx[p] = i;
}

/// The slot of a list a candidate must beat: the last of a sorted list, the root of a heap
/// (lists longer than [`HEAP_MIN_K`]).
#[inline(always)]
pub(crate) fn worst_slot(k: usize) -> usize {
    if k > HEAP_MIN_K { 0 } else { k - 1 }
}

/// Offers `(s, i)` to the list `(sims, idx)`: kept if it ranks before the worst entry, by
/// [`heap_push`] on lists longer than [`HEAP_MIN_K`], else by [`insert`].
#[inline(always)]
pub(crate) fn offer(sims: &mut [f32], idx: &mut [u32], s: f32, i: u32) {
    if sims.len() > HEAP_MIN_K {
        heap_push(sims, idx, s, i);
    } else {
        insert(sims, idx, s, i);
    }
}

/// Sorts one list by rank (best first); a no-op on lists already sorted.
pub(crate) fn sort_list(sims: &mut [f32], idx: &mut [u32]) {
    if sims.len() <= HEAP_MIN_K {
        return;
    }
    let mut pairs: Vec<(f32, u32)> = sims.iter().copied().zip(idx.iter().copied()).collect();
    pairs.sort_unstable_by(|a, b| order(a.0, a.1, b.0, b.1));
    for (j, (s, i)) in pairs.into_iter().enumerate() {
        sims[j] = s;
        idx[j] = i;
    }
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
    let worst = worst_slot(k);
    let mut thr = sims[worst];
    let mut thr_i = idx[worst];
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
                offer(sims, idx, s, gi);
                thr = sims[worst];
                thr_i = idx[worst];
            }
        }
    }
    for (j, &v) in raw.iter().enumerate().skip(chunks * 8) {
        let s = f(j, v);
        let gi = (offset + j) as u32;
        if ranks_before(s, gi, thr, thr_i) {
            offer(sims, idx, s, gi);
            thr = sims[worst];
            thr_i = idx[worst];
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

    /// A heap-kept long list, sorted at the end, equals the insertion-sorted list (ties included).
    #[test]
    fn heap_lists_equal_insertion_lists() {
        let k = 50;
        let mut x = 12345u64;
        let mut vals = Vec::new();
        for g in 0..2000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Few distinct values: many ties.
            vals.push(((x % 37) as f32 * 0.25, g));
        }
        let (mut hs, mut hi) = (vec![0.0f32; k], vec![0u32; k]);
        let (mut ss, mut si) = (vec![0.0f32; k], vec![0u32; k]);
        reset(&mut hs, &mut hi);
        reset(&mut ss, &mut si);
        for &(v, g) in &vals {
            heap_push(&mut hs, &mut hi, v, g);
            insert(&mut ss, &mut si, v, g);
        }
        sort_list(&mut hs, &mut hi);
        assert_eq!(hs, ss);
        assert_eq!(hi, si);
        // And through the scan, chunked as the search does.
        let raw: Vec<f32> = vals.iter().map(|v| v.0).collect();
        reset(&mut hs, &mut hi);
        scan_row(&raw[..1000], 0, Rank::Dot, &mut hs, &mut hi);
        scan_row(&raw[1000..], 1000, Rank::Dot, &mut hs, &mut hi);
        sort_list(&mut hs, &mut hi);
        assert_eq!((hs, hi), (ss, si));
    }

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
