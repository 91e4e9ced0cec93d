//! FAIR1M instance identification and object retrieval counts (protocol §7, §9.6), on plain arrays.
//!
//! The gallery is every patch of every original tile, tile-major: gallery index `i` belongs to tile
//! `i / patches_per_tile` and sits at patch `i % patches_per_tile` of it, and has the fine-grained label
//! `labels[i]` (0 = background, then fine classes; the supercategory table says which). A query is a patch of a transformed tile; it is
//! identified by the gallery index of the *same position in the original tile* (`query_positions`), whose
//! label is the query's label. For each query the caller supplies its top-1 gallery index (raw dot-product
//! argmax; for the object-retrieval variant, with the query's own tile excluded).

use serde::Serialize;

use crate::error::{MetricsError, Result, same_len};

/// The **study's** FAIR1M label space (protocol §7: fine ids 1..=38) → supercategory (0 background,
/// 1 airplane: 1–12, 2 ship: 13–21, 3 vehicle: 22–31, 4 court: 32–35, 5 road: 36–38), for label files written
/// by the study's code. Its 38-entry category list is not published (the official FAIR1M list has 37, with 11
/// airplane types). Masks made by `patchlens-data` use the official 37-class numbering instead; use
/// `patchlens_data::fair1m::supercategory_lut()` with those (the `eval identification` command does).
pub const FAIR1M_STUDY_SUPERCATEGORY: [u8; 39] = {
    let mut t = [0u8; 39];
    let mut i = 1;
    while i <= 38 {
        t[i] = if i <= 12 {
            1
        } else if i <= 21 {
            2
        } else if i <= 31 {
            3
        } else if i <= 35 {
            4
        } else {
            5
        };
        i += 1;
    }
    t
};

/// FAIR1M supercategory names, indexed like the values of [`FAIR1M_STUDY_SUPERCATEGORY`].
pub const FAIR1M_SUPERCATEGORY_NAMES: [&str; 6] =
    ["background", "airplane", "ship", "vehicle", "court", "road"];

/// How a correspondence entry of −1 ("the patch centre left the tile") is treated for the "same patch" count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
pub enum MissingCorrespondence {
    /// The query has no corresponding patch: it never counts as "same patch".
    #[default]
    Strict,
    /// The authors' notebook quirk (protocol §7): −1 plus the tile offset points at the previous tile's last
    /// patch (gallery index `tile * P − 1`; nothing for tile 0), which counts if it is the top-1.
    AuthorsQuirk,
}

/// The inputs of [`retrieval_counts`].
#[derive(Debug, Clone, Copy)]
pub struct RetrievalInput<'a> {
    /// Fine-grained label per gallery patch (length `N`).
    pub labels: &'a [u16],
    /// Patches per tile `P` (196 for a 14×14 grid, 256 for 16×16); `N` must be a multiple of it.
    pub patches_per_tile: usize,
    /// Per query: the gallery index of the same position in the original tile.
    pub query_positions: &'a [usize],
    /// Per query: its top-1 gallery index.
    pub top1: &'a [usize],
    /// Per gallery index (length `N`): the tile-local patch index of the original patch that corresponds to
    /// the transformed patch at this position, −1 if none. `None` = identity (blur, noise, translation).
    pub correspondence: Option<&'a [i32]>,
    /// Treatment of −1 correspondences.
    pub missing: MissingCorrespondence,
    /// Fine label → supercategory table (e.g. [`FAIR1M_STUDY_SUPERCATEGORY`]); every label must be a valid index.
    pub supercategory: &'a [u8],
}

/// Counts over the queries (protocol §7 "Metrics (counts over query patches)").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct RetrievalCounts {
    /// Number of queries.
    pub queries: u64,
    /// Top-1 is the corresponding patch of the original tile (instance identification).
    pub same_patch: u64,
    /// Top-1 has the query's fine-grained label.
    pub same_fine: u64,
    /// Top-1 has the query's supercategory.
    pub same_super: u64,
    /// Top-1 is not background (its supercategory is > 0; "any object category").
    pub non_background: u64,
    /// Queries with a valid correspondence (the "same patch" upper bound).
    pub upper_bound: u64,
    /// Top-1 lies in the query's own tile (a diagnostic; 0 when that tile was excluded from the search).
    pub same_tile: u64,
}

/// The gallery indices of all non-background patches, in order: the protocol's queries (one per original
/// non-background position, for each transformed tile set).
pub fn non_background_positions(labels: &[u16]) -> Vec<usize> {
    labels
        .iter()
        .enumerate()
        .filter(|(_, l)| **l > 0)
        .map(|(i, _)| i)
        .collect()
}

/// Count same patch / same fine / same supercategory / non-background / upper bound over the queries.
/// Errors on mismatched lengths, indices outside the gallery, or labels outside the supercategory table.
pub fn retrieval_counts(input: &RetrievalInput<'_>) -> Result<RetrievalCounts> {
    let n = input.labels.len();
    let p = input.patches_per_tile;
    if p == 0 || !n.is_multiple_of(p) {
        return Err(MetricsError::InvalidArgument {
            what: "patches_per_tile",
            detail: format!("{p} does not divide the gallery size {n}"),
        });
    }
    same_len(
        "query positions",
        input.query_positions.len(),
        "top-1 indices",
        input.top1.len(),
    )?;
    if let Some(c) = input.correspondence {
        same_len("correspondence", c.len(), "gallery labels", n)?;
    }
    let sup = |l: u16| -> Result<u8> {
        input
            .supercategory
            .get(l as usize)
            .copied()
            .ok_or(MetricsError::IndexOutOfRange {
                what: "supercategory table (label)",
                index: l as i64,
                len: input.supercategory.len(),
            })
    };
    let mut c = RetrievalCounts {
        queries: input.top1.len() as u64,
        ..Default::default()
    };
    for (&q, &t) in input.query_positions.iter().zip(input.top1) {
        for (what, i) in [("query position", q), ("top-1 index", t)] {
            if i >= n {
                return Err(MetricsError::IndexOutOfRange {
                    what,
                    index: i as i64,
                    len: n,
                });
            }
        }
        let tile = q / p;
        let target: Option<usize> = match input.correspondence {
            None => Some(q),
            Some(corr) => {
                let local = corr[q];
                if local >= 0 {
                    if local as usize >= p {
                        return Err(MetricsError::IndexOutOfRange {
                            what: "correspondence (tile-local patch)",
                            index: local as i64,
                            len: p,
                        });
                    }
                    Some(tile * p + local as usize)
                } else if input.missing == MissingCorrespondence::AuthorsQuirk && tile > 0 {
                    Some(tile * p - 1)
                } else {
                    None
                }
            }
        };
        let valid = input.correspondence.is_none_or(|corr| corr[q] >= 0);
        c.upper_bound += valid as u64;
        c.same_patch += (target == Some(t)) as u64;
        let (lq, lt) = (input.labels[q], input.labels[t]);
        let (sq, st) = (sup(lq)?, sup(lt)?);
        c.same_fine += (lq == lt) as u64;
        c.same_super += (sq == st) as u64;
        c.non_background += (st > 0) as u64;
        c.same_tile += (t / p == tile) as u64;
    }
    Ok(c)
}
