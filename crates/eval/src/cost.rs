//! Rough cost estimates of units, for sizing cluster jobs: the tiles a unit encodes, the floating-point work
//! of its forward passes and k-NN searches, and the memory its feature matrices take.
//!
//! The estimate counts the work of the study's protocols from the plan alone (split sizes from the dataset
//! readers' file lists, tile counts from the tiling protocols, ViT FLOPs from the architecture); it does not
//! run anything. Seconds are that work at [`REFERENCE_GFLOPS_PER_CPU`] per CPU — a measured order of
//! magnitude for this project's CPU path (ViT-S/16 at ≈ 15 images/s ≈ 70 GFLOP/s on 2 cores of an AVX-512
//! VM), not a promise: `cargo xtask reproduce --merge` prints the measured wall time of every unit.

use std::path::Path;

use patchlens_vit::VitConfig;
use serde::{Deserialize, Serialize};

use crate::segmentation::SegSource;
use crate::suite::{ExperimentDef, ExperimentSpec, IdDatasetName, PropDatasetName, Suite};

/// Floating-point throughput assumed per CPU core for the seconds estimate.
pub const REFERENCE_GFLOPS_PER_CPU: f64 = 35.0;

/// The estimated work of one unit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UnitCost {
    /// Tiles encoded (forward passes of one tile).
    pub tiles: u64,
    /// Floating-point work (forward passes + k-NN searches), GFLOP.
    pub gflop: f64,
    /// Peak bytes of the feature matrices held at once (gallery + queries at one layer, all layers kept).
    pub memory_bytes: u64,
}

impl UnitCost {
    /// Seconds at [`REFERENCE_GFLOPS_PER_CPU`] × `cpus`.
    pub fn seconds(&self, cpus: usize) -> f64 {
        self.gflop / (REFERENCE_GFLOPS_PER_CPU * cpus.max(1) as f64)
    }
}

/// GFLOP of one forward pass of a `side`×`side` tile (all blocks; multiply-adds count 2).
pub fn forward_gflop(c: &VitConfig, height: usize, width: usize) -> f64 {
    let p = c.patch_size.max(1);
    let n = ((height / p) * (width / p) + 1) as f64;
    let d = c.embed_dim as f64;
    let h = c.mlp_hidden as f64;
    let per_block = 2.0 * n * (4.0 * d * d + 2.0 * d * h) + 4.0 * n * n * d;
    let embed = 2.0 * n * d * (3 * p * p) as f64;
    (c.depth as f64 * per_block + embed) / 1e9
}

/// GFLOP of an exact k-NN by GEMM: `gallery × queries × dim` multiply-adds.
pub fn knn_gflop(gallery: u64, queries: u64, dim: usize) -> f64 {
    2.0 * gallery as f64 * queries as f64 * dim as f64 / 1e9
}

/// Images of split `name` of `source` (opening its file list; `None` when it cannot be opened).
fn split_size(source: &SegSource, name: &str) -> Option<u64> {
    if let SegSource::Synthetic { .. } = source {
        let n: String = name.chars().filter(|c| c.is_ascii_digit()).collect();
        return n.parse().ok();
    }
    source.open(name).ok().map(|(s, _)| s.len() as u64)
}

/// Estimate unit (experiment `def`, model `config`, data in `root`).
pub fn estimate(
    suite: &Suite,
    def: &ExperimentDef,
    config: &VitConfig,
    layers: usize,
    root: &Path,
) -> UnitCost {
    let d = config.embed_dim;
    let patch = config.patch_size;
    let seg = |dataset: crate::suite::SegDataset| -> Option<SegSource> {
        Some(match dataset {
            crate::suite::SegDataset::Synthetic => SegSource::Synthetic {
                root: root.join("synthetic-seg"),
                seed: suite.seed,
            },
            crate::suite::SegDataset::Folder => SegSource::Folder {
                root: root.to_path_buf(),
                protocol: Default::default(),
            },
            other => SegSource::named(other.name(), root).ok()?,
        })
    };
    // Tiles per image and the tile's model input side under a segmentation protocol.
    let tiling = |source: &SegSource| -> (u64, usize) {
        let spec = match source {
            SegSource::Synthetic { .. } => {
                crate::segmentation::synthetic::tile_spec(patch, config.img_size).ok()
            }
            SegSource::Folder { protocol, .. } => protocol.tile_spec(patch).ok(),
            other => patchlens_data::TileSpec::for_dataset(other.name(), patch).ok(),
        };
        match spec {
            Some(s) => {
                let per = match (s.tile_grid, s.resize) {
                    (Some([r, c]), _) => r * c,
                    (None, Some([w, h])) => (w / s.tile) * (h / s.tile),
                    (None, None) => 1,
                };
                (per as u64, s.input)
            }
            None => (1, 224),
        }
    };
    let mut cost = UnitCost::default();
    let mut add_seg = |source: &SegSource,
                       trains: &[String],
                       test: Option<&String>,
                       test_sets: u64,
                       knn_runs_per_layer: u64| {
        let (per_image, side) = tiling(source);
        let ppt = ((side / patch) * (side / patch)) as u64;
        let test_name = test
            .cloned()
            .unwrap_or_else(|| source.default_test_split().to_string());
        let q_images = split_size(source, &test_name).unwrap_or(30);
        let trains: Vec<String> = if trains.is_empty() {
            vec![source.default_train_split().to_string()]
        } else {
            trains.to_vec()
        };
        let fwd = forward_gflop(config, side, side);
        let q = q_images * per_image * ppt;
        for t in &trains {
            let g_images = split_size(source, t).unwrap_or(72);
            let g = g_images * per_image * ppt;
            cost.tiles += g_images * per_image;
            cost.gflop += knn_gflop(g, q, d) * (knn_runs_per_layer * layers as u64) as f64;
            cost.memory_bytes = cost
                .memory_bytes
                .max((g + q * test_sets) * (d * 4 * layers) as u64);
        }
        cost.tiles += q_images * per_image * test_sets;
        cost.gflop += fwd * cost.tiles as f64;
    };
    match &def.spec {
        ExperimentSpec::Segmentation(s) | ExperimentSpec::LayerSweep(s) => {
            if let Some(src) = seg(s.dataset) {
                let probes = s.probes.len().max(1) as u64;
                add_seg(&src, &s.train_splits, s.test_split.as_ref(), 1, probes);
            }
        }
        ExperimentSpec::Degradation(s) => {
            if let Some(src) = seg(s.dataset) {
                let settings = (s.kinds.len().max(3) * s.levels.len().max(4)) as u64;
                let trains: Vec<String> = s.train_split.iter().cloned().collect();
                add_seg(
                    &src,
                    &trains,
                    s.test_split.as_ref(),
                    1 + settings,
                    (1 + settings) * s.probes.len().max(1) as u64,
                );
            }
        }
        ExperimentSpec::Variance(s) => {
            if let Some(src) = seg(s.dataset) {
                let sweep = if s.sweep.is_empty() {
                    11
                } else {
                    s.sweep.len()
                };
                let alternatives = if s.alternatives.is_empty() {
                    5
                } else {
                    s.alternatives.len()
                };
                let points = (sweep + alternatives + sweep) as u64;
                let trains: Vec<String> = s.train_split.iter().cloned().collect();
                add_seg(
                    &src,
                    &trains,
                    s.test_split.as_ref(),
                    1,
                    points * if s.linear { 2 } else { 1 },
                );
            }
        }
        ExperimentSpec::Identification(s) => {
            let tiles = match s.dataset {
                IdDatasetName::Synthetic => s.scenes.unwrap_or(32) as u64,
                IdDatasetName::Fair1m => {
                    (s.per_class
                        .unwrap_or(patchlens_data::fair1m::TILES_PER_CLASS)
                        * 37) as u64
                }
            };
            let kinds = if s.kinds.is_empty() || s.kinds.iter().any(|k| k == "all") {
                6
            } else {
                s.kinds.len()
            };
            let transforms = (kinds * s.levels.len().max(4)) as u64;
            let runs = 1 + s.remove_top_variance.len().min(1) as u64;
            let ppt = ((224 / patch) * (224 / patch)) as u64;
            cost.tiles = tiles * (1 + transforms) * layers as u64;
            cost.gflop = forward_gflop(config, 224, 224) * cost.tiles as f64
                + knn_gflop(tiles * ppt, tiles * ppt, d) * (transforms * runs) as f64;
            cost.memory_bytes = 2 * tiles * ppt * (d * 4) as u64;
        }
        ExperimentSpec::Reconstruction(s) => {
            if let Some(src) = seg(s.dataset) {
                let (per_image, side) = tiling(&src);
                let stats = s
                    .stats_split
                    .clone()
                    .unwrap_or_else(|| src.default_train_split().to_string());
                let stats_tiles = split_size(&src, &stats).unwrap_or(72) * per_image;
                let tiles = s.tiles.unwrap_or(64) as u64;
                let sweep = if s.sweep.is_empty() {
                    11
                } else {
                    s.sweep.len()
                } as u64;
                let modes = s.modes.len().max(3) as u64;
                // Statistics: whole forwards; then per tile one masked encoder pass (a quarter of the
                // tokens) and 1 + modes × sweep decoder passes (about a third of a forward each).
                let fwd = forward_gflop(config, side, side);
                cost.tiles = stats_tiles + tiles;
                cost.gflop = fwd * stats_tiles as f64
                    + fwd * tiles as f64 * (0.25 + (1 + modes * sweep) as f64 / 3.0);
                let ppt = ((side / patch) * (side / patch)) as u64;
                cost.memory_bytes = stats_tiles * ppt * (d * 4) as u64;
            }
        }
        ExperimentSpec::Tracking(s) => {
            let videos = s.num_videos.unwrap_or(4) as u64;
            let frames = s.frames.unwrap_or(200) as u64;
            let modes = s.modes.len().max(1) as u64;
            cost.tiles = videos * frames * 15 * modes * layers as u64;
            cost.gflop = forward_gflop(config, 224, 224) * cost.tiles as f64;
            cost.memory_bytes = (70 * 42 * d * 4 * 60) as u64;
        }
        ExperimentSpec::Propagation(s) => {
            let frames = match s.dataset {
                PropDatasetName::Synthetic => {
                    (s.num_videos.unwrap_or(2) * s.frames.unwrap_or(12)) as u64
                }
                _ => 30 * s.frames.unwrap_or(70) as u64,
            };
            let side = s.scale_size.unwrap_or(480);
            cost.tiles = frames * layers as u64;
            cost.gflop = forward_gflop(config, side, side * 16 / 9) * cost.tiles as f64;
            cost.memory_bytes = ((side / patch) * (side * 16 / 9 / patch) * d * 4 * 8) as u64;
        }
    }
    cost
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vit_b16_forward_is_about_35_gflop() {
        // ViT-B/16 at 224²: the commonly quoted 17.6 GMACs = 35.1 GFLOP.
        let c = patchlens_vit::zoo::lookup("dino_vitb16")
            .unwrap()
            .config
            .clone();
        let g = forward_gflop(&c, 224, 224);
        assert!((g - 35.1).abs() < 0.5, "{g}");
        assert_eq!(knn_gflop(1000, 500, 768), 0.768);
    }
}
