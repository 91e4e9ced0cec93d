//! Seeded, deterministic helpers shared by the few-shot selections (ADE20K, FAIR1M): class sets,
//! a stable Fisher–Yates permutation, and the greedy "k per class" selection.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// A set of class ids 0–255 (a 256-bit bitset).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClassSet(pub [u64; 4]);

impl ClassSet {
    /// The empty set.
    pub fn new() -> Self {
        Self([0; 4])
    }

    /// The set of values occurring in `labels`.
    pub fn from_labels(labels: &[u8]) -> Self {
        let mut s = Self::new();
        for &v in labels {
            s.insert(v);
        }
        s
    }

    /// Add `class`.
    pub fn insert(&mut self, class: u8) {
        self.0[(class >> 6) as usize] |= 1u64 << (class & 63);
    }

    /// Whether `class` is in the set.
    pub fn contains(&self, class: u8) -> bool {
        self.0[(class >> 6) as usize] & (1u64 << (class & 63)) != 0
    }

    /// Members in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = u8> + '_ {
        (0..=255u8).filter(move |&c| self.contains(c))
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A seeded permutation of `0..n`: Fisher–Yates driven by ChaCha8 (`seed_from_u64(seed)`), index
/// `j = next_u64() mod (i + 1)` for `i = n−1 … 1`. Written out here (rather than `rand`'s `shuffle`) so the
/// order is stable across `rand` releases; the modulo bias (< n / 2⁶⁴) is irrelevant.
pub fn seeded_permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

/// Greedy "k per class" selection over a fixed candidate order.
///
/// For each class of `classes` in the given order, walk `order` (indices into `presence`) and take the
/// first `per_class` candidates that contain the class and are not selected yet. A class with fewer
/// such candidates gets all of them. Returns the selected candidate indices in selection order.
pub fn greedy_select_in_order(
    presence: &[ClassSet],
    order: &[usize],
    classes: &[u8],
    per_class: usize,
) -> Vec<usize> {
    let mut taken = vec![false; presence.len()];
    let mut out = Vec::new();
    for &class in classes {
        let mut got = 0;
        for &i in order {
            if got == per_class {
                break;
            }
            if !taken[i] && presence[i].contains(class) {
                taken[i] = true;
                out.push(i);
                got += 1;
            }
        }
    }
    out
}

/// [`greedy_select_in_order`] with the candidate order `seeded_permutation(presence.len(), seed)`.
pub fn greedy_select(
    presence: &[ClassSet],
    classes: &[u8],
    per_class: usize,
    seed: u64,
) -> Vec<usize> {
    let order = seeded_permutation(presence.len(), seed);
    greedy_select_in_order(presence, &order, classes, per_class)
}
