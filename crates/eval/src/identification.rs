//! Instance identification and object retrieval under the transformation
//! set (protocol §7), on FAIR1M chips or on the synthetic transformation benchmark.
//!
//! * **Gallery**: every patch of every original tile (FAIR1M: the seeded "≈ 8 tiles per fine class"
//!   selection of `patchlens_data::fair1m`; synthetic: the centre tile of each scene), tile-major, with its
//!   centre-pixel fine label.
//! * **Queries**: for each transformation (kind × level), the transformed tiles' patches at the positions
//!   where the *original* tile's patch is not background.
//! * **Top-1**: the gallery patch with the largest raw dot product (`patchlens_probe::knn`, exact, ties to the
//!   lower gallery index); with `exclude_same_tile` also the best gallery patch outside the query's own tile
//!   (the object-retrieval variant), taken from the same exact search with `k = patches per tile + 1`.
//! * **Counts**: `patchlens_metrics::retrieval_counts` — same patch (through the correspondence map for
//!   rotate / scale / shift, the identity for blur / noise / freq), same fine class, same supercategory
//!   (FAIR1M only), non-background, upper bound (queries with a valid correspondence).
//!
//! Metrics (`Experiment::metrics`), for each transformation label `<kind><level>` (e.g. `rotate1`):
//! `<t>/queries`, `<t>/upper_bound`, `<t>/same_patch`, `<t>/same_fine`, `<t>/same_super` (FAIR1M),
//! `<t>/non_background`, `<t>/same_tile` (raw counts), the same names with `_rate` (fractions of the queries),
//! and with `exclude_same_tile` `<t>/retrieval/{same_fine,same_super,non_background}[_rate]`. Curves: one bar
//! figure per kind for identification and one for retrieval (rates against the level's parameter).
//!
//! Differences from the study, recorded in the results' `protocol`: the tile selection is our seeded one
//! (the study's notebook is missing); the correspondence of every geometric kind, translation included, is
//! the exact map of `patchlens-image` (the study used the identity for translation and the forward rotation
//! map as if it were the inverse); a −1 correspondence never counts as "same patch"; the fine-class ids and
//! supercategories are those of `patchlens_data::fair1m` (37 official classes).

use std::path::PathBuf;
use std::time::Instant;

use patchlens_data::TileSpec;
use patchlens_data::fair1m;
use patchlens_data::synthetic::transforms::{TransformBenchConfig, transformed_scene};
use patchlens_data::transforms::{Transform, TransformKind, transformation_set};
use patchlens_image::{ImageU8, patch_labels, to_chw};
use patchlens_metrics::{
    MissingCorrespondence, RetrievalCounts, RetrievalInput, non_background_positions,
    retrieval_counts,
};
use patchlens_probe::MatRef;
use patchlens_probe::knn::{Neighbours, SearchConfig, Similarity};
use patchlens_report::{Curve, Experiment, ExperimentKind, ModelInfo, PaperKey, StageTiming};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::encode::{ImageRequest, TokenSource};
use crate::error::{Context, EvalError, Result, ensure};

/// Tiles per cached feature shard (independent of the device batch, so the cache survives a batch change).
pub const CACHE_CHUNK: usize = 32;

/// The paper's experiment id of the rotation counts (`patchlens_report::paper`).
pub const PAPER_EXPERIMENT: &str = "fair1m_instance_identification_rotation";

/// The study's models in its identification numbers (SimMIM was not evaluated there).
pub const PAPER_MODELS: [&str; 4] = ["sup_vit", "dino", "dinov2", "mae"];

/// Number of removed top-variance dimensions of the paper's "MAE-200" model.
pub const PAPER_MAE_REMOVED: usize = 200;

/// Where the tiles come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dataset", rename_all = "lowercase", deny_unknown_fields)]
pub enum IdDataset {
    /// FAIR1M chips under `root`, `per_class` tiles per fine class selected with `selection_seed`.
    Fair1m {
        /// Chip folder.
        root: PathBuf,
        /// Tiles per fine class.
        per_class: usize,
        /// Selection seed.
        selection_seed: u64,
    },
    /// The first `scenes` scenes of the synthetic transformation benchmark (centre tile of each chip).
    Synthetic {
        /// Benchmark parameters (chip and tile size, scene generator and its seed).
        bench: TransformBenchConfig,
        /// Number of scenes.
        scenes: usize,
    },
}

impl IdDataset {
    /// `fair1m` or `synthetic`.
    pub fn name(&self) -> &'static str {
        match self {
            IdDataset::Fair1m { .. } => "fair1m",
            IdDataset::Synthetic { .. } => "synthetic",
        }
    }
}

/// An identification / retrieval experiment at one layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentificationConfig {
    /// The tiles.
    pub dataset: IdDataset,
    /// The transformations, in report order (default: every kind at every level).
    #[serde(default = "all_transforms")]
    pub transforms: Vec<Transform>,
    /// Layer (1-based); `None` = the model's last.
    #[serde(default)]
    pub layer: Option<usize>,
    /// Also compute the object-retrieval variant (own tile excluded).
    #[serde(default)]
    pub exclude_same_tile: bool,
    /// Number of highest-variance dimensions (over the gallery) deleted from gallery and queries.
    #[serde(default)]
    pub remove_top_variance: usize,
    /// Seed of the FAIR1M noise kinds (the synthetic benchmark derives its own from the scene seed).
    #[serde(default = "default_noise_seed")]
    pub noise_seed: u64,
    /// Treatment of −1 correspondences (default strict).
    #[serde(default)]
    pub missing: MissingCorrespondence,
    /// Working-memory budget of the k-NN search in bytes.
    #[serde(default = "default_budget")]
    pub knn_memory_budget: usize,
}

fn all_transforms() -> Vec<Transform> {
    transformation_set(&TransformKind::ALL)
}
fn default_noise_seed() -> u64 {
    fair1m::DEFAULT_SEED
}
fn default_budget() -> usize {
    patchlens_probe::knn::DEFAULT_MEMORY_BUDGET
}

impl IdentificationConfig {
    /// Defaults for `dataset`: every transformation at every level, last layer, no removal, host k-NN.
    pub fn new(dataset: IdDataset) -> Self {
        Self {
            dataset,
            transforms: transformation_set(&TransformKind::ALL),
            layer: None,
            exclude_same_tile: false,
            remove_top_variance: 0,
            noise_seed: fair1m::DEFAULT_SEED,
            missing: MissingCorrespondence::Strict,
            knn_memory_budget: patchlens_probe::knn::DEFAULT_MEMORY_BUDGET,
        }
    }
}

/// Parse `--transform` (`all` or a comma list of kinds) and `--levels` into the transformation list.
pub fn parse_transforms(kinds: &str, levels: &[u8]) -> Result<Vec<Transform>> {
    let mut ks = Vec::new();
    for k in kinds.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if k == "all" {
            ks.extend(TransformKind::ALL);
            continue;
        }
        let kind = TransformKind::ALL
            .into_iter()
            .find(|t| t.name() == k)
            .with_context(|| {
                format!(
                    "unknown transform `{k}` (known: rotate, scale, shift, blur, noise, freq, all)"
                )
            })?;
        ks.push(kind);
    }
    ensure!(!ks.is_empty(), "no transformation given (--transform)");
    ensure!(!levels.is_empty(), "no level given (--levels)");
    let mut out = Vec::new();
    for k in ks {
        for &l in levels {
            let t = Transform::new(k, l).with_context(|| format!("--levels: level {l}"))?;
            if !out.contains(&t) {
                out.push(t);
            }
        }
    }
    Ok(out)
}

/// The parameter of a transformation level (degrees, factor, pixels, kernel, σ, band) and its display text.
pub fn level_parameter(t: Transform) -> (f64, String) {
    let i = (t.level as usize).clamp(1, 4) - 1;
    match t.kind {
        TransformKind::Rotate => {
            let d = patchlens_image::ROTATION_DEGREES[i];
            (d, format!("{d}°"))
        }
        TransformKind::Scale => {
            let f = patchlens_image::SCALE_FACTORS[i];
            (f, format!("×{f}"))
        }
        TransformKind::Shift => {
            let s = patchlens_image::SHIFT_PIXELS[i] as f64;
            (s, format!("{s} px"))
        }
        TransformKind::Blur => {
            let k = patchlens_image::BLUR_KERNELS[i] as f64;
            (k, format!("k={k}"))
        }
        TransformKind::Noise => {
            let s = patchlens_image::NOISE_SIGMAS[i] as f64;
            (s, format!("σ={s}"))
        }
        TransformKind::Freq => (t.level as f64, format!("band {}", t.level)),
    }
}

/// One original tile: name, pixels, centre-pixel patch labels (`grid²`).
struct Original {
    name: String,
    image: ImageU8,
    labels: Vec<u8>,
}

/// One transformed tile: pixels and its `grid²` correspondence to the original.
struct Transformed {
    image: ImageU8,
    corr: Vec<i32>,
}

/// The data side: originals, and transformed tiles per transformation (same order).
enum Source {
    Fair1m {
        data: fair1m::Fair1m,
        selection: fair1m::TileSelection,
        seed: u64,
    },
    /// Everything generated up front (scene rendering dominates; each scene is rendered once).
    Synthetic { transformed: Vec<Vec<Transformed>> },
}

fn hash16(parts: &[&str]) -> String {
    let mut bytes = Vec::new();
    for p in parts {
        bytes.extend_from_slice(p.as_bytes());
        bytes.push(0);
    }
    patchlens_store::sha256_hex(&bytes)[..16].to_string()
}

fn open_source(
    cfg: &IdentificationConfig,
    spec: &TileSpec,
) -> Result<(Source, Vec<Original>, Value, String)> {
    match &cfg.dataset {
        IdDataset::Fair1m {
            root,
            per_class,
            selection_seed,
        } => {
            let data = fair1m::open(root)
                .with_context(|| format!("opening FAIR1M chips under {}", root.display()))?;
            ensure!(
                !data.chips.is_empty(),
                "no FAIR1M chips under {}",
                root.display()
            );
            let selection = data.select_tiles(spec, *per_class, *selection_seed)?;
            ensure!(
                !selection.tiles.is_empty(),
                "the tile selection under {} is empty (no labelled object in any tile)",
                root.display()
            );
            let mut originals = Vec::with_capacity(selection.tiles.len());
            for t in data.selected_tiles(spec, &selection) {
                let t = t?;
                let labels = t.patch_labels(spec).context("FAIR1M tile without a mask")?;
                originals.push(Original {
                    name: t.key().name(spec.tile),
                    image: t.image,
                    labels,
                });
            }
            ensure!(
                originals.len() == selection.tiles.len(),
                "{} of {} selected tiles could be cut (chips smaller than a tile?)",
                originals.len(),
                selection.tiles.len()
            );
            let root_s = std::fs::canonicalize(root)
                .unwrap_or_else(|_| root.clone())
                .display()
                .to_string();
            let names: Vec<&str> = originals.iter().map(|o| o.name.as_str()).collect();
            let protocol = json!({
                "data_root": root_s,
                "per_class": per_class,
                "selection_seed": selection_seed,
                "chips": data.chips.len(),
                "tiles": names,
                "noise_seed": cfg.noise_seed,
            });
            let tag = format!("fair1m:{root_s}");
            Ok((
                Source::Fair1m {
                    data,
                    selection,
                    seed: cfg.noise_seed,
                },
                originals,
                protocol,
                tag,
            ))
        }
        IdDataset::Synthetic { bench, scenes } => {
            ensure!(*scenes >= 1, "--scenes must be at least 1");
            let grid = spec.grid;
            let made: Vec<_> = (0..*scenes)
                .into_par_iter()
                .map(|i| transformed_scene(bench, i, &cfg.transforms, grid))
                .collect::<std::result::Result<_, _>>()?;
            let mut originals = Vec::with_capacity(made.len());
            let mut transformed: Vec<Vec<Transformed>> =
                cfg.transforms.iter().map(|_| Vec::new()).collect();
            for s in made {
                originals.push(Original {
                    name: s.id.clone(),
                    labels: patch_labels(&s.mask, grid, grid),
                    image: s.image,
                });
                for (slot, t) in transformed.iter_mut().zip(s.transformed) {
                    slot.push(Transformed {
                        image: t.image,
                        corr: t.correspondence.map,
                    });
                }
            }
            let bench_json = serde_json::to_value(bench)?;
            let tag = format!("synthetic:{}", serde_json::to_string(bench)?);
            Ok((
                Source::Synthetic { transformed },
                originals,
                json!({ "scenes": scenes, "bench": bench_json }),
                tag,
            ))
        }
    }
}

impl Source {
    /// The transformed tiles of transformation `index` (= `t`); the synthetic ones are handed over (once).
    fn transformed(
        &mut self,
        spec: &TileSpec,
        index: usize,
        t: Transform,
        originals: &[Original],
    ) -> Result<Vec<Transformed>> {
        let out = match self {
            Source::Fair1m {
                data,
                selection,
                seed,
            } => {
                let mut v = Vec::with_capacity(selection.tiles.len());
                for (i, r) in data
                    .transformed_tiles(spec, selection, t, *seed)
                    .enumerate()
                {
                    let (raw, tr) = r?;
                    let name = raw.key().name(spec.tile);
                    ensure!(
                        originals.get(i).is_some_and(|o| o.name == name),
                        "transformed tile {i} is {name}, expected {}",
                        originals.get(i).map_or("nothing", |o| o.name.as_str())
                    );
                    v.push(Transformed {
                        image: tr.image,
                        corr: tr.correspondence.map,
                    });
                }
                v
            }
            Source::Synthetic { transformed } => std::mem::take(&mut transformed[index]),
        };
        ensure!(
            out.len() == originals.len(),
            "{}: {} transformed tiles for {} originals",
            t.label(),
            out.len(),
            originals.len()
        );
        Ok(out)
    }
}

/// A feature extractor: `encode(id, tiles)` returns `[n · grid², D]` and `D` for the `n` model tiles
/// (`[3, input, input]` planar, normalised) that `tiles()` produces; `id` uniquely names that tile batch
/// (a cache key). `tiles` need not be called when the features are cached.
type EncodeFn<'a> =
    dyn FnMut(&str, &dyn Fn() -> Result<Vec<Vec<f32>>>) -> Result<(Vec<f32>, usize)> + 'a;

/// Everything an identification experiment measured.
#[derive(Clone, Debug)]
pub struct IdentificationResult {
    /// The model.
    pub model: ModelInfo,
    /// The study's name for the model (without removal), if any.
    pub paper_model: Option<String>,
    /// The configuration.
    pub config: IdentificationConfig,
    /// Layer.
    pub layer: usize,
    /// The tiling protocol.
    pub spec: TileSpec,
    /// Original tiles.
    pub tiles: usize,
    /// Gallery patches (tiles × grid²).
    pub gallery_patches: usize,
    /// Query positions per transformation (non-background patches of the originals).
    pub query_positions: usize,
    /// Dimensions removed (highest variance over the gallery).
    pub removed: Vec<usize>,
    /// Counts per transformation, in config order.
    pub counts: Vec<TransformCounts>,
    /// What the tiles are (selection, chips, seeds).
    pub data: Value,
    /// Seconds per stage.
    pub stages: Vec<StageTiming>,
}

/// Run the experiment with the tokens of `tokens` at `cfg.layer`.
pub fn run(cfg: &IdentificationConfig, tokens: &dyn TokenSource) -> Result<IdentificationResult> {
    let depth = tokens.depth();
    let layer = cfg.layer.unwrap_or(depth);
    if !(1..=depth).contains(&layer) {
        return Err(EvalError::invalid(
            "identification",
            "layer",
            format!("{layer} is outside 1..={depth} of {}", tokens.name()),
        ));
    }
    let mut spec = TileSpec::for_dataset(cfg.dataset.name(), tokens.patch_size())?;
    let norm = tokens.norm();
    spec.mean = norm.mean;
    spec.std = norm.std;
    let dataset_tag = match &cfg.dataset {
        // Relative to the data root: the same chips under another mount path share features.
        IdDataset::Fair1m { .. } => "fair1m".to_string(),
        IdDataset::Synthetic { bench, .. } => {
            format!("synthetic:{}", serde_json::to_string(bench)?)
        }
    };
    let preprocessing = serde_json::to_string(&spec)?;
    let input = spec.input;
    let mut encode =
        |id: &str, tiles: &dyn Fn() -> Result<Vec<Vec<f32>>>| -> Result<(Vec<f32>, usize)> {
            let request = ImageRequest {
                dataset: &dataset_tag,
                preprocessing: &preprocessing,
                image_id: id,
                height: input,
                width: input,
                cache: true,
            };
            let mut m = tokens.tokens(&request, &[layer], &mut || tiles())?;
            let f = m
                .remove(&layer)
                .context("the token source returned no features for the layer")?;
            Ok((f.features, f.dim))
        };
    evaluate_with(
        cfg,
        tokens.info(),
        tokens.paper_model().map(str::to_string),
        spec,
        layer,
        &mut encode,
        &tokens.device(),
    )
}

/// Encode `images` in cache chunks of [`CACHE_CHUNK`] tiles: `[images.len() · grid², D]` and `D`.
fn encode_tiles(
    spec: &TileSpec,
    encode: &mut EncodeFn<'_>,
    tag: &str,
    names: &[&str],
    images: &[&ImageU8],
) -> Result<(Vec<f32>, usize)> {
    let per_tile = spec.grid * spec.grid;
    let mut all = Vec::new();
    let mut dim = 0;
    for (chunk_names, chunk) in names.chunks(CACHE_CHUNK).zip(images.chunks(CACHE_CHUNK)) {
        let id = format!(
            "{tag}/{}+{}/{}",
            chunk_names[0],
            chunk.len(),
            hash16(chunk_names)
        );
        let make = || -> Result<Vec<Vec<f32>>> {
            Ok(chunk
                .par_iter()
                .map(|img| to_chw(&patchlens_data::model_input(spec, img)))
                .collect())
        };
        let (f, d) = encode(&id, &make)?;
        ensure!(
            d > 0 && f.len() == chunk.len() * per_tile * d,
            "encoder returned {} values for {} tiles of {per_tile} patches × {d}",
            f.len(),
            chunk.len()
        );
        ensure!(
            dim == 0 || d == dim,
            "feature width changed from {dim} to {d}"
        );
        ensure!(
            f.iter().all(|v| v.is_finite()),
            "non-finite features for {id}"
        );
        dim = d;
        all.extend_from_slice(&f);
    }
    Ok((all, dim))
}

/// Counts of one transformation.
#[derive(Clone, Debug)]
pub struct TransformCounts {
    /// The transformation.
    pub transform: Transform,
    /// Identification counts (own tile included).
    pub identification: RetrievalCounts,
    /// Retrieval counts with the own tile excluded (`exclude_same_tile`).
    pub retrieval: Option<RetrievalCounts>,
}

/// The core: originals → gallery, each transformation → queries → exact top-1 → counts.
fn evaluate_with(
    cfg: &IdentificationConfig,
    model: ModelInfo,
    paper_model: Option<String>,
    spec: TileSpec,
    layer: usize,
    encode: &mut EncodeFn<'_>,
    knn_device: &patchlens_vit::Device,
) -> Result<IdentificationResult> {
    ensure!(!cfg.transforms.is_empty(), "no transformation to evaluate");
    let mut stages: Vec<StageTiming> = Vec::new();
    let mut t0 = Instant::now();
    let mut lap = |name: &str, t0: &mut Instant| {
        stages.push(StageTiming {
            name: name.to_string(),
            seconds: t0.elapsed().as_secs_f64(),
        });
        *t0 = Instant::now();
    };

    let p = spec.patches_per_tile();
    let (mut source, originals, data_protocol, tag) = open_source(cfg, &spec)?;
    lap("load", &mut t0);
    let n_tiles = originals.len();
    let n = n_tiles * p;
    let names: Vec<&str> = originals.iter().map(|o| o.name.as_str()).collect();
    let images: Vec<&ImageU8> = originals.iter().map(|o| &o.image).collect();
    tracing::info!("identification: encoding {n_tiles} original tiles");
    let (mut gallery, mut dim) =
        encode_tiles(&spec, encode, &format!("{tag}/original"), &names, &images)?;
    lap("embed_gallery", &mut t0);
    let labels: Vec<u16> = originals
        .iter()
        .flat_map(|o| o.labels.iter().map(|&l| l as u16))
        .collect();
    ensure!(
        labels.len() == n,
        "patch labels: {} for {n} patches",
        labels.len()
    );
    let queries_pos = non_background_positions(&labels);
    ensure!(
        !queries_pos.is_empty(),
        "no non-background patch in the {n_tiles} original tiles: nothing to query"
    );

    // High-variance removal (variance over the gallery, protocol §6/§7 "MAE-200").
    let removed: Vec<usize> = if cfg.remove_top_variance > 0 {
        ensure!(
            cfg.remove_top_variance < dim,
            "--remove-top-variance {} must be smaller than the feature width {dim}",
            cfg.remove_top_variance
        );
        let g = MatRef::named("gallery", &gallery, n, dim)?;
        let cols = patchlens_probe::variance::variance_spectrum(g)?.top(cfg.remove_top_variance);
        gallery = patchlens_probe::variance::delete_columns(g, &cols)?.into_vec();
        dim -= cols.len();
        cols
    } else {
        Vec::new()
    };

    let supercategory: Vec<u8> = match cfg.dataset {
        IdDataset::Fair1m { .. } => fair1m::supercategory_lut().to_vec(),
        IdDataset::Synthetic { .. } => (0..=255u8).collect(),
    };
    let k = if cfg.exclude_same_tile {
        ensure!(
            n_tiles >= 2,
            "--exclude-same-tile needs at least 2 original tiles, found {n_tiles}"
        );
        (p + 1).min(n)
    } else {
        1
    };
    let search_cfg = SearchConfig {
        k,
        similarity: Similarity::Dot,
        memory_budget_bytes: cfg.knn_memory_budget,
    };
    let gallery_m = MatRef::named("gallery", &gallery, n, dim)?;

    let mut results = Vec::with_capacity(cfg.transforms.len());
    let mut progress = crate::progress::Progress::new("identification", cfg.transforms.len());
    for (ti, &t) in cfg.transforms.iter().enumerate() {
        progress.inc(&t.label());
        let tr = source.transformed(&spec, ti, t, &originals)?;
        let timgs: Vec<&ImageU8> = tr.iter().map(|x| &x.image).collect();
        let seed_tag = match t.kind {
            TransformKind::Noise | TransformKind::Freq => match &source {
                Source::Fair1m { seed, .. } => format!("/seed{seed}"),
                Source::Synthetic { .. } => String::new(),
            },
            _ => String::new(),
        };
        let (feats, d) = encode_tiles(
            &spec,
            encode,
            &format!("{tag}/{}{seed_tag}", t.label()),
            &names,
            &timgs,
        )?;
        let full_dim = d;
        ensure!(
            full_dim == dim + removed.len(),
            "{}: feature width {full_dim}, gallery had {}",
            t.label(),
            dim + removed.len()
        );
        // Queries: the transformed patches at the original's non-background positions.
        let mut q = Vec::with_capacity(queries_pos.len() * full_dim);
        for &i in &queries_pos {
            q.extend_from_slice(&feats[i * full_dim..(i + 1) * full_dim]);
        }
        drop(feats);
        let q = if removed.is_empty() {
            q
        } else {
            patchlens_probe::variance::delete_columns(
                MatRef::named("queries", &q, queries_pos.len(), full_dim)?,
                &removed,
            )?
            .into_vec()
        };
        let qm = MatRef::named("queries", &q, queries_pos.len(), dim)?;
        let nb: Neighbours =
            patchlens_probe::knn::search_on(knn_device, gallery_m, qm, &search_cfg)?;
        let top1: Vec<usize> = (0..queries_pos.len())
            .map(|i| nb.indices_of(i)[0] as usize)
            .collect();
        let corr: Option<Vec<i32>> = t
            .kind
            .is_geometric()
            .then(|| tr.iter().flat_map(|x| x.corr.iter().copied()).collect());
        if let Some(c) = &corr {
            ensure!(
                c.len() == n,
                "{}: correspondence has {} entries for {n} patches",
                t.label(),
                c.len()
            );
        }
        let input = RetrievalInput {
            labels: &labels,
            patches_per_tile: p,
            query_positions: &queries_pos,
            top1: &top1,
            correspondence: corr.as_deref(),
            missing: cfg.missing,
            supercategory: &supercategory,
        };
        let identification = retrieval_counts(&input)?;
        let retrieval = if cfg.exclude_same_tile {
            let mut ex = Vec::with_capacity(queries_pos.len());
            for (i, &pos) in queries_pos.iter().enumerate() {
                let own = pos / p;
                let best = nb
                    .indices_of(i)
                    .iter()
                    .map(|&g| g as usize)
                    .find(|&g| g / p != own);
                ex.push(best.with_context(|| {
                    format!(
                        "{}: no gallery patch outside tile {own} among the top {k}",
                        t.label()
                    )
                })?);
            }
            Some(retrieval_counts(&RetrievalInput { top1: &ex, ..input })?)
        } else {
            None
        };
        results.push(TransformCounts {
            transform: t,
            identification,
            retrieval,
        });
    }
    drop(progress);
    lap("transforms_embed_search", &mut t0);

    Ok(IdentificationResult {
        model,
        paper_model,
        config: cfg.clone(),
        layer,
        spec,
        tiles: n_tiles,
        gallery_patches: n,
        query_positions: queries_pos.len(),
        removed,
        counts: results,
        data: data_protocol,
        stages,
    })
}

impl IdentificationResult {
    /// The experiment: counts and rates per transformation (see the module docs), bar figures per kind,
    /// and the study's rotation counts where they apply.
    pub fn experiment(&self) -> Experiment {
        let cfg = &self.config;
        let layer = self.layer;
        let fine_only = matches!(cfg.dataset, IdDataset::Synthetic { .. });
        let mut exp = Experiment::new(
            self.experiment_name(),
            ExperimentKind::Retrieval,
            self.model.clone(),
        );
        fill_metrics(&mut exp, &self.counts, fine_only);
        fill_curves(&mut exp, &self.counts, cfg, fine_only);
        if let IdDataset::Fair1m { .. } = cfg.dataset
            && let Some(pm) = paper_model(self.paper_model.as_deref(), cfg.remove_top_variance)
        {
            link_paper(&mut exp, &self.counts, pm);
        }
        exp.metrics.insert("tiles".into(), self.tiles as f64);
        exp.metrics
            .insert("gallery_patches".into(), self.gallery_patches as f64);
        exp.metrics
            .insert("query_positions".into(), self.query_positions as f64);

        let mut proto = serde_json::Map::new();
        proto.insert("dataset".into(), json!(cfg.dataset.name()));
        proto.insert("data".into(), self.data.clone());
        proto.insert(
            "tile_spec".into(),
            serde_json::to_value(&self.spec).unwrap_or_default(),
        );
        proto.insert("grid".into(), json!(self.spec.grid));
        proto.insert("layer".into(), json!(layer));
        proto.insert(
            "transforms".into(),
            json!(cfg.transforms.iter().map(|t| t.label()).collect::<Vec<_>>()),
        );
        proto.insert("similarity".into(), json!("dot"));
        proto.insert(
            "neighbours".into(),
            json!("exact top-1 (ties to the lower gallery index)"),
        );
        proto.insert("exclude_same_tile".into(), json!(cfg.exclude_same_tile));
        proto.insert("remove_top_variance".into(), json!(cfg.remove_top_variance));
        proto.insert(keys::REMOVED_DIMENSIONS.into(), json!(self.removed));
        proto.insert(
            "missing_correspondence".into(),
            json!(format!("{:?}", cfg.missing)),
        );
        proto.insert(
            "correspondence".into(),
            json!("patchlens-image geometric map for rotate/scale/shift (transformed patch centre → original patch), identity for blur/noise/freq"),
        );
        proto.insert(
            "labels".into(),
            json!(if fine_only {
                "synthetic class ids (no supercategories)"
            } else {
                "patchlens-data FAIR1M fine ids 1..=37, supercategories airplane/ship/vehicle/court/road"
            }),
        );
        proto.insert("gallery_patches".into(), json!(self.gallery_patches));
        proto.insert("queries_per_transform".into(), json!(self.query_positions));
        exp.protocol = proto;
        exp
    }
}

fn rate(x: u64, of: u64) -> f64 {
    if of == 0 { 0.0 } else { x as f64 / of as f64 }
}

impl IdentificationResult {
    /// One line: tiles, queries and the same-patch / same-class rates per transformation.
    pub fn summary_line(&self) -> String {
        let parts: Vec<String> = self
            .counts
            .iter()
            .map(|r| {
                let c = &r.identification;
                format!(
                    "{} {:.1}/{:.1}%",
                    r.transform.label(),
                    100.0 * rate(c.same_patch, c.queries),
                    100.0 * rate(c.same_fine, c.queries)
                )
            })
            .collect();
        format!(
            "{}: {} tiles, {} queries; same patch/same class: {}",
            self.experiment_name(),
            self.tiles,
            self.query_positions,
            parts.join(", ")
        )
    }

    /// The experiment's name.
    pub fn experiment_name(&self) -> String {
        let cfg = &self.config;
        format!(
            "identification/{}/{}/layer{}{}",
            cfg.dataset.name(),
            self.model.zoo_name,
            self.layer,
            if cfg.remove_top_variance > 0 {
                format!("/minus{}", cfg.remove_top_variance)
            } else {
                String::new()
            }
        )
    }
}

/// Names of identification results: the one place they are made and read.
pub mod keys {
    /// A count of transformation `label` (e.g. `rotate1`): `<label>/<what>` (`what` may be
    /// `retrieval/same_fine`).
    pub fn count(label: &str, what: &str) -> String {
        format!("{label}/{what}")
    }

    /// Protocol entry listing the top-variance dimensions removed before the search (empty when none).
    pub const REMOVED_DIMENSIONS: &str = "removed_dimensions";

    /// The rate of a count: `<label>/<what>_rate`.
    pub fn rate(label: &str, what: &str) -> String {
        format!("{label}/{what}_rate")
    }

    /// `(transformation label, what, retrieval)` of a rate metric (`rotate1/same_patch_rate` →
    /// `("rotate1", "same_patch", false)`; `rotate1/retrieval/same_fine_rate` →
    /// `("rotate1", "same_fine", true)`).
    pub fn parse_rate(key: &str) -> Option<(&str, &str, bool)> {
        let key = key.strip_suffix("_rate")?;
        let (label, what) = key.split_once('/')?;
        match what.strip_prefix("retrieval/") {
            Some(w) => Some((label, w, true)),
            None => (!what.contains('/')).then_some((label, what, false)),
        }
    }
}

fn fill_metrics(exp: &mut Experiment, results: &[TransformCounts], fine_only: bool) {
    for r in results {
        let l = r.transform.label();
        let c = &r.identification;
        exp.metrics
            .insert(keys::count(&l, "queries"), c.queries as f64);
        let mut put = |name: &str, v: u64, of: u64| {
            exp.metrics.insert(keys::count(&l, name), v as f64);
            exp.metrics.insert(keys::rate(&l, name), rate(v, of));
        };
        put("upper_bound", c.upper_bound, c.queries);
        put("same_patch", c.same_patch, c.queries);
        put("same_fine", c.same_fine, c.queries);
        if !fine_only {
            put("same_super", c.same_super, c.queries);
        }
        put("non_background", c.non_background, c.queries);
        put("same_tile", c.same_tile, c.queries);
        if let Some(x) = &r.retrieval {
            put("retrieval/same_fine", x.same_fine, x.queries);
            if !fine_only {
                put("retrieval/same_super", x.same_super, x.queries);
            }
            put("retrieval/non_background", x.non_background, x.queries);
        }
    }
}

fn fill_curves(
    exp: &mut Experiment,
    results: &[TransformCounts],
    cfg: &IdentificationConfig,
    fine_only: bool,
) {
    let ds = cfg.dataset.name();
    let who = if cfg.remove_top_variance > 0 {
        format!("{} −{}", exp.model.zoo_name, cfg.remove_top_variance)
    } else {
        exp.model.zoo_name.clone()
    };
    for kind in TransformKind::ALL {
        let rs: Vec<&TransformCounts> = results
            .iter()
            .filter(|r| r.transform.kind == kind)
            .collect();
        if rs.is_empty() {
            continue;
        }
        let params: Vec<(f64, String)> = rs.iter().map(|r| level_parameter(r.transform)).collect();
        let x: Vec<f64> = params.iter().map(|p| p.0).collect();
        let labels: Vec<String> = params.iter().map(|p| p.1.clone()).collect();
        let mut add =
            |figure: String, series: &str, f: &dyn Fn(&TransformCounts) -> Option<f64>| {
                let y: Option<Vec<f64>> = rs.iter().map(|r| f(r)).collect();
                if let Some(y) = y {
                    let mut c = Curve::new(
                        figure,
                        format!("{who}: {series}"),
                        kind.name(),
                        "fraction of queries",
                        x.clone(),
                        y,
                    );
                    c.point_labels = Some(labels.clone());
                    exp.curves.push(c);
                }
            };
        let fig = format!("{ds} instance identification: {}", kind.name());
        add(fig.clone(), "upper bound", &|r| {
            Some(rate(r.identification.upper_bound, r.identification.queries))
        });
        add(fig.clone(), "same patch", &|r| {
            Some(rate(r.identification.same_patch, r.identification.queries))
        });
        add(fig.clone(), "same class", &|r| {
            Some(rate(r.identification.same_fine, r.identification.queries))
        });
        if !fine_only {
            add(fig.clone(), "same supercategory", &|r| {
                Some(rate(r.identification.same_super, r.identification.queries))
            });
        }
        if cfg.exclude_same_tile {
            let fig = format!("{ds} object retrieval: {}", kind.name());
            add(fig.clone(), "same class", &|r| {
                r.retrieval.map(|x| rate(x.same_fine, x.queries))
            });
            if !fine_only {
                add(fig.clone(), "same supercategory", &|r| {
                    r.retrieval.map(|x| rate(x.same_super, x.queries))
                });
            }
            add(fig, "any object", &|r| {
                r.retrieval.map(|x| rate(x.non_background, x.queries))
            });
        }
    }
}

/// The paper's model name in the identification numbers for a model the study calls `paper_model`, with
/// `removed` top-variance dimensions deleted, if the study has it.
pub fn paper_model(paper_model: Option<&str>, removed: usize) -> Option<&'static str> {
    let m = *PAPER_MODELS.iter().find(|m| Some(**m) == paper_model)?;
    match (m, removed) {
        (m, 0) => Some(m),
        ("mae", PAPER_MAE_REMOVED) => Some("mae_minus_200"),
        _ => None,
    }
}

fn link_paper(exp: &mut Experiment, results: &[TransformCounts], pm: &str) {
    for r in results
        .iter()
        .filter(|r| r.transform.kind == TransformKind::Rotate)
    {
        let deg = patchlens_report::setting_number(level_parameter(r.transform).0);
        let c = &r.identification;
        let paper_total = patchlens_report::fair1m_paper_queries(pm);
        for (m, ours) in [
            ("same_patch", c.same_patch),
            ("same_fine", c.same_fine),
            ("same_super", c.same_super),
        ] {
            // Rates side by side: the paper's counts are over its own query total, ours over ours.
            let paper_count =
                patchlens_report::paper_lookup(PAPER_EXPERIMENT, &format!("{m}/rot{deg}"), pm);
            let note = format!(
                "rate = count ÷ queries: ours {ours} of {}; paper {} of {paper_total}",
                c.queries,
                paper_count.map_or("?".into(), patchlens_report::setting_number),
            );
            exp.paper.insert(
                keys::rate(&r.transform.label(), m),
                PaperKey::new(PAPER_EXPERIMENT, format!("{m}_rate/rot{deg}"), pm).with_note(note),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use patchlens_metrics::RetrievalCounts;
    use patchlens_report::ModelInfo;

    /// Rotation rates are compared with the paper's count over the paper's own total (DINOv2: 1,527 of
    /// 7,623 at 5°), and both totals are printed beside them.
    #[test]
    fn identification_is_compared_as_rates_with_both_totals() {
        let counts = RetrievalCounts {
            queries: 800,
            same_patch: 200,
            same_fine: 500,
            same_super: 600,
            non_background: 700,
            upper_bound: 780,
            same_tile: 0,
        };
        let results = [TransformCounts {
            transform: Transform {
                kind: TransformKind::Rotate,
                level: 1,
            },
            identification: counts,
            retrieval: None,
        }];
        let mut exp = Experiment::new(
            "id",
            ExperimentKind::Retrieval,
            ModelInfo {
                zoo_name: "dinov2_vitb14".into(),
                weights_sha256: None,
                family: "dinov2".into(),
            },
        );
        link_paper(&mut exp, &results, "dinov2");
        let key = &exp.paper["rotate1/same_patch_rate"];
        assert_eq!(key.setting, "same_patch_rate/rot5");
        assert_eq!(
            key.note.as_deref(),
            Some("rate = count ÷ queries: ours 200 of 800; paper 1527 of 7623")
        );
        let paper = patchlens_report::paper_lookup(PAPER_EXPERIMENT, &key.setting, "dinov2");
        assert!((paper.unwrap() - 1527.0 / 7623.0).abs() < 1e-12);
        assert_eq!(exp.paper.len(), 3, "same patch, class and supercategory");
    }
}
