//! BDD100K temporal association accuracy per frame gap Δ (protocol §8), following the authors' notebook:
//! for a frame pair (t, t+Δ) and each object id present in both frames, the similarity to **every** object
//! of frame t+Δ is computed; "same instance" is correct if the maximum similarity equals the similarity to the
//! same id (ties count as correct), "same category" if the maximum equals the maximum over objects of the
//! query's category. The accuracy of a pair is the fraction of its common objects that are correct; pairs
//! without a common object are skipped; the accuracy per Δ is the mean over pairs (all videos pooled).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::error::{MetricsError, Result, same_len};

/// The objects of one frame: ids (unique within the frame) and category per object.
#[derive(Debug, Clone, Copy)]
pub struct FrameObjects<'a> {
    /// Track id per object.
    pub ids: &'a [i64],
    /// Category id per object.
    pub categories: &'a [i64],
}

/// The outcome of one frame pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FramePairOutcome {
    /// Frame gap Δ.
    pub delta: usize,
    /// Objects present in both frames.
    pub common: usize,
    /// Of those, how many have the same id as their most similar object.
    pub instance_correct: usize,
    /// Of those, how many have the most similar object in their category.
    pub category_correct: usize,
}

/// Accuracy for one Δ.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DeltaAccuracy {
    /// Frame gap Δ.
    pub delta: usize,
    /// Same-instance accuracy, mean over frame pairs.
    pub instance: f64,
    /// Same-category accuracy, mean over frame pairs.
    pub category: f64,
    /// Number of frame pairs averaged (pairs with at least one common object).
    pub pairs: usize,
    /// Number of queries (common objects) over those pairs.
    pub queries: usize,
}

fn index_of(frame: &FrameObjects<'_>, what: &str) -> Result<HashMap<i64, usize>> {
    same_len(
        "object ids",
        frame.ids.len(),
        "object categories",
        frame.categories.len(),
    )?;
    let mut m = HashMap::with_capacity(frame.ids.len());
    for (i, &id) in frame.ids.iter().enumerate() {
        if m.insert(id, i).is_some() {
            return Err(MetricsError::DuplicateId {
                what: what.to_string(),
                id,
            });
        }
    }
    Ok(m)
}

/// Score one frame pair. `sim` is the `n_a × n_b` row-major similarity matrix between the objects of frame
/// `a` (= t) and frame `b` (= t+Δ). Returns `None` when no id is present in both frames (the pair is skipped).
pub fn score_frame_pair(
    delta: usize,
    a: &FrameObjects<'_>,
    b: &FrameObjects<'_>,
    sim: &[f32],
) -> Result<Option<FramePairOutcome>> {
    let _ = index_of(a, "frame t")?;
    let ib = index_of(b, "frame t+Δ")?;
    let nb = b.ids.len();
    same_len(
        "similarity matrix",
        sim.len(),
        "n_t × n_{t+Δ}",
        a.ids.len() * nb,
    )?;
    let mut out = FramePairOutcome {
        delta,
        common: 0,
        instance_correct: 0,
        category_correct: 0,
    };
    for (i, id) in a.ids.iter().enumerate() {
        let Some(&j) = ib.get(id) else { continue };
        let row = &sim[i * nb..(i + 1) * nb];
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let max_cat = row
            .iter()
            .zip(b.categories)
            .filter(|(_, c)| **c == a.categories[i])
            .map(|(s, _)| *s)
            .fold(f32::NEG_INFINITY, f32::max);
        out.common += 1;
        out.instance_correct += (row[j] == max) as usize;
        out.category_correct += (max_cat == max) as usize;
    }
    Ok((out.common > 0).then_some(out))
}

/// Mean-over-pairs accuracy per Δ (sorted by Δ).
pub fn accuracy_by_delta(outcomes: &[FramePairOutcome]) -> Vec<DeltaAccuracy> {
    let mut by: BTreeMap<usize, (f64, f64, usize, usize)> = BTreeMap::new();
    for o in outcomes.iter().filter(|o| o.common > 0) {
        let e = by.entry(o.delta).or_default();
        e.0 += o.instance_correct as f64 / o.common as f64;
        e.1 += o.category_correct as f64 / o.common as f64;
        e.2 += 1;
        e.3 += o.common;
    }
    by.into_iter()
        .map(|(delta, (i, c, n, q))| DeltaAccuracy {
            delta,
            instance: i / n as f64,
            category: c / n as f64,
            pairs: n,
            queries: q,
        })
        .collect()
}
