//! Temporal object association accuracy (protocol §8), streaming over frames.
//!
//! This reproduces the authors' loop (`jupyter_notebooks/bbox_get_embeds_compare.ipynb`, cell 7):
//! for each frame gap Δ and each start frame `t` with `t + Δ` in the same video, take the objects whose
//! track id is present in both frames ("common ids"); for each such query object (vector from frame
//! `t`), compute its similarity to **every** object of frame `t + Δ`, then
//!
//! * **same instance** is correct if the similarity to the object with the same id equals the maximum
//!   over all objects of `t + Δ` (so an exact tie with another object still counts as correct, as in
//!   `max_sim == same_sim`);
//! * **same category** is correct if the maximum over all objects equals the maximum over the objects of
//!   `t + Δ` whose category equals the query's category *in frame `t`* (`max_sim == max(same_cat_sim)`);
//!   if there is no such object (the id changed category) it is counted as incorrect (the notebook
//!   would raise on `max([])`).
//!
//! A frame pair with at least one common id contributes its fraction of correct queries; pairs without
//! common ids contribute nothing. The accuracy for Δ is the mean over contributing pairs, pooled over all
//! videos. Pooled per-query counts are reported too (the notebook's commented-out alternative).
//!
//! Similarities are dot products of the flattened RoI vectors (the notebook's `cosine_sim` is in fact a
//! raw dot product), or cosine similarities with [`Similarity::Cosine`] (f32 products in 16 accumulator
//! lanes combined in f64; the frame gaps of a new frame are evaluated in parallel).
//!
//! Only object vectors are held, for the last `max(Δ)` frames of the current video.

use std::collections::{HashMap, VecDeque};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::constants::bdd;
use crate::error::{Result, TrackError, check_finite};
use crate::linalg::dot;

/// Similarity between two object vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Similarity {
    /// Raw dot product (the authors' setting).
    Dot,
    /// Cosine similarity (vectors divided by their L2 norm; a zero vector stays zero, similarity 0).
    Cosine,
}

/// Association settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AssociationConfig {
    /// Frame gaps Δ to evaluate (each > 0, no repeats). Protocol: 1, 3, …, 59.
    pub deltas: Vec<usize>,
    /// Similarity function.
    pub similarity: Similarity,
}

impl Default for AssociationConfig {
    /// Protocol defaults: Δ ∈ {1, 3, …, 59}, dot product.
    fn default() -> Self {
        Self {
            deltas: bdd::deltas(),
            similarity: Similarity::Dot,
        }
    }
}

/// One annotated object in one frame, with its embedding.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackedObject {
    /// Track id (unique within a frame; BDD100K's `id`).
    pub id: String,
    /// Category name (BDD100K's `category`).
    pub category: String,
    /// Object vector (e.g. the flattened `[D, 7, 7]` RoIAlign output); same length for all objects.
    pub vector: Vec<f32>,
}

/// Accuracy for one frame gap.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeltaResult {
    /// The frame gap Δ.
    pub delta: usize,
    /// Mean over frame pairs of the same-instance accuracy (`None` if no pair had a common id).
    pub same_instance: Option<f64>,
    /// Mean over frame pairs of the same-category accuracy (`None` if no pair had a common id).
    pub same_category: Option<f64>,
    /// Frame pairs that had at least one common id (the pairs averaged over).
    pub frame_pairs: usize,
    /// Query objects over all such pairs.
    pub queries: usize,
    /// Queries whose same-instance match was correct.
    pub same_instance_correct: usize,
    /// Queries whose same-category match was correct.
    pub same_category_correct: usize,
}

impl DeltaResult {
    /// Pooled same-instance accuracy, `same_instance_correct / queries` (`None` without queries).
    pub fn same_instance_pooled(&self) -> Option<f64> {
        (self.queries > 0).then(|| self.same_instance_correct as f64 / self.queries as f64)
    }

    /// Pooled same-category accuracy, `same_category_correct / queries` (`None` without queries).
    pub fn same_category_pooled(&self) -> Option<f64> {
        (self.queries > 0).then(|| self.same_category_correct as f64 / self.queries as f64)
    }
}

/// The per-Δ accuracy curves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AssociationResult {
    /// The similarity used.
    pub similarity: Similarity,
    /// Videos evaluated.
    pub videos: usize,
    /// Frames seen over all videos.
    pub frames: usize,
    /// One entry per configured Δ, in configuration order.
    pub deltas: Vec<DeltaResult>,
}

#[derive(Clone, Default)]
struct DeltaAcc {
    sum_instance: f64,
    sum_category: f64,
    pairs: usize,
    queries: usize,
    instance_correct: usize,
    category_correct: usize,
}

/// One frame's objects, stored for later pairing.
struct StoredFrame {
    ids: Vec<String>,
    categories: Vec<String>,
    /// `[n_objects, dim]` (normalised for cosine).
    vectors: Vec<f32>,
    index_of: HashMap<String, usize>,
}

/// Outcome of evaluating one frame pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PairOutcome {
    /// Common ids (queries).
    pub queries: usize,
    /// Correct same-instance matches.
    pub same_instance_correct: usize,
    /// Correct same-category matches.
    pub same_category_correct: usize,
}

/// Streaming evaluator: push the frames of each video in order, call [`Self::end_video`] between
/// videos, then [`Self::finish`].
pub struct AssociationEvaluator {
    config: AssociationConfig,
    max_delta: usize,
    window: VecDeque<StoredFrame>,
    frame_in_video: usize,
    dim: Option<usize>,
    acc: Vec<DeltaAcc>,
    videos: usize,
    frames: usize,
}

impl AssociationEvaluator {
    /// A new evaluator. Errors if `deltas` is empty, contains 0 or repeats a value.
    pub fn new(config: AssociationConfig) -> Result<Self> {
        let bad = |reason: &str| TrackError::InvalidConfig {
            key: "deltas".to_string(),
            value: format!("{:?}", config.deltas),
            reason: reason.to_string(),
        };
        if config.deltas.is_empty() {
            return Err(bad("at least one frame gap is required"));
        }
        if config.deltas.contains(&0) {
            return Err(bad("frame gaps must be positive"));
        }
        let mut sorted = config.deltas.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != config.deltas.len() {
            return Err(bad("frame gaps must not repeat"));
        }
        let max_delta = *sorted.last().unwrap_or(&1);
        Ok(Self {
            acc: vec![DeltaAcc::default(); config.deltas.len()],
            config,
            max_delta,
            window: VecDeque::new(),
            frame_in_video: 0,
            dim: None,
            videos: 0,
            frames: 0,
        })
    }

    /// Add the next frame of the current video. Pairs it with the stored frames `Δ` back for every Δ.
    ///
    /// Errors: a repeated id within the frame, a vector of a different length than earlier ones, an
    /// empty or non-finite vector.
    pub fn push_frame(&mut self, objects: Vec<TrackedObject>) -> Result<()> {
        let frame = self.store(objects)?;
        if self.frame_in_video == 0 {
            self.videos += 1;
        }
        let dim = self.dim.unwrap_or(0);
        // (config index, stored frame Δ back); the window holds the previous frames, newest at the back.
        let jobs: Vec<(usize, &StoredFrame)> = self
            .config
            .deltas
            .iter()
            .enumerate()
            .filter(|&(_, &delta)| delta <= self.frame_in_video)
            .map(|(k, &delta)| (k, &self.window[self.window.len() - delta]))
            .collect();
        let outcomes: Vec<(usize, PairOutcome)> = jobs
            .into_par_iter()
            .map(|(k, earlier)| (k, evaluate_pair(earlier, &frame, dim)))
            .collect();
        for (k, out) in outcomes {
            if out.queries > 0 {
                let a = &mut self.acc[k];
                a.pairs += 1;
                a.queries += out.queries;
                a.instance_correct += out.same_instance_correct;
                a.category_correct += out.same_category_correct;
                a.sum_instance += out.same_instance_correct as f64 / out.queries as f64;
                a.sum_category += out.same_category_correct as f64 / out.queries as f64;
            }
        }
        self.window.push_back(frame);
        if self.window.len() > self.max_delta {
            self.window.pop_front();
        }
        self.frame_in_video += 1;
        self.frames += 1;
        Ok(())
    }

    /// End the current video: later frames are never paired with earlier ones.
    pub fn end_video(&mut self) {
        self.window.clear();
        self.frame_in_video = 0;
    }

    /// The per-Δ results so far.
    pub fn result(&self) -> AssociationResult {
        let deltas = self
            .config
            .deltas
            .iter()
            .zip(&self.acc)
            .map(|(&delta, a)| DeltaResult {
                delta,
                same_instance: (a.pairs > 0).then(|| a.sum_instance / a.pairs as f64),
                same_category: (a.pairs > 0).then(|| a.sum_category / a.pairs as f64),
                frame_pairs: a.pairs,
                queries: a.queries,
                same_instance_correct: a.instance_correct,
                same_category_correct: a.category_correct,
            })
            .collect();
        AssociationResult {
            similarity: self.config.similarity,
            videos: self.videos,
            frames: self.frames,
            deltas,
        }
    }

    /// Finish and return the per-Δ results.
    pub fn finish(self) -> AssociationResult {
        self.result()
    }

    fn store(&mut self, objects: Vec<TrackedObject>) -> Result<StoredFrame> {
        let mut index_of = HashMap::with_capacity(objects.len());
        let mut ids = Vec::with_capacity(objects.len());
        let mut categories = Vec::with_capacity(objects.len());
        let mut vectors = Vec::new();
        for (i, obj) in objects.into_iter().enumerate() {
            let what = format!(
                "vector of object {:?} in frame {}",
                obj.id, self.frame_in_video
            );
            if obj.vector.is_empty() {
                return Err(TrackError::ZeroDimension { what });
            }
            match self.dim {
                None => self.dim = Some(obj.vector.len()),
                Some(d) if d != obj.vector.len() => {
                    return Err(TrackError::DimensionMismatch {
                        what: format!("{what}: length vs earlier vectors"),
                        left: obj.vector.len(),
                        right: d,
                    });
                }
                Some(_) => {}
            }
            check_finite(&what, &obj.vector)?;
            if index_of.insert(obj.id.clone(), i).is_some() {
                return Err(TrackError::DuplicateId {
                    frame: self.frame_in_video,
                    id: obj.id,
                });
            }
            match self.config.similarity {
                Similarity::Dot => vectors.extend_from_slice(&obj.vector),
                Similarity::Cosine => {
                    let norm = obj
                        .vector
                        .iter()
                        .map(|&v| f64::from(v) * f64::from(v))
                        .sum::<f64>()
                        .sqrt();
                    if norm > 0.0 {
                        vectors.extend(obj.vector.iter().map(|&v| (f64::from(v) / norm) as f32));
                    } else {
                        vectors.extend_from_slice(&obj.vector);
                    }
                }
            }
            ids.push(obj.id);
            categories.push(obj.category);
        }
        Ok(StoredFrame {
            ids,
            categories,
            vectors,
            index_of,
        })
    }
}

/// Evaluate queries of `first` (frame t) against all objects of `second` (frame t + Δ).
fn evaluate_pair(first: &StoredFrame, second: &StoredFrame, dim: usize) -> PairOutcome {
    let mut out = PairOutcome {
        queries: 0,
        same_instance_correct: 0,
        same_category_correct: 0,
    };
    if dim == 0 {
        return out;
    }
    for (qi, id) in first.ids.iter().enumerate() {
        let Some(&same_j) = second.index_of.get(id) else {
            continue;
        };
        out.queries += 1;
        let q = &first.vectors[qi * dim..(qi + 1) * dim];
        let category = &first.categories[qi];
        let mut max_all = f64::NEG_INFINITY;
        let mut max_cat = f64::NEG_INFINITY;
        let mut same_sim = f64::NEG_INFINITY;
        for j in 0..second.ids.len() {
            let s = dot(q, &second.vectors[j * dim..(j + 1) * dim]);
            if j == same_j {
                same_sim = s;
            }
            if s > max_all {
                max_all = s;
            }
            if &second.categories[j] == category && s > max_cat {
                max_cat = s;
            }
        }
        if same_sim == max_all {
            out.same_instance_correct += 1;
        }
        if max_cat == max_all {
            out.same_category_correct += 1;
        }
    }
    out
}

/// Evaluate one frame pair directly (frame `t` objects, frame `t + Δ` objects), with the same rules as
/// [`AssociationEvaluator`]. Useful for inspection and tests.
pub fn evaluate_frame_pair(
    first: Vec<TrackedObject>,
    second: Vec<TrackedObject>,
    similarity: Similarity,
) -> Result<PairOutcome> {
    let mut ev = AssociationEvaluator::new(AssociationConfig {
        deltas: vec![1],
        similarity,
    })?;
    let a = ev.store(first)?;
    ev.frame_in_video = 1;
    let b = ev.store(second)?;
    Ok(evaluate_pair(&a, &b, ev.dim.unwrap_or(0)))
}
