//! Shared plumbing of the segmentation-style experiments (`eval segmentation`, `eval variance`):
//! opening a dataset split, encoding all its tiles into one patch-feature matrix with centre-pixel
//! patch labels, running a probe, and scoring the predictions at the label maps' resolution.
//!
//! Mounted as `eval::segmentation::features`. Protocol constants come from the crates:
//! tiling from [`patchlens_data::TileSpec`], label spaces from [`patchlens_metrics::LabelSpace`],
//! back-projection from [`patchlens_metrics::segmap`].

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use patchlens_data::sample::{SegEntry, check_label_range, read_label};
use patchlens_data::{
    LabelCheck, SegmentationSplit, TileSpec, ade20k, camvid, cityscapes, cut_tiles, model_input,
};
use patchlens_image::{ImageU8, to_chw};
use patchlens_metrics::{
    ConfusionMatrix, LabelMap, LabelSpace, NearestExact, TileLayout, grids_to_label_size,
    stitch_tiles_upsampled,
};
use patchlens_probe::knn::{self, Similarity, Vote};
use patchlens_probe::linear::{self, Labelled, LinearProbeConfig};
use patchlens_probe::variance::{FeatureTransform, FittedTransform, Whitening};
use patchlens_probe::{MatRef, Matrix};
use patchlens_vit::Device;
use serde::Serialize;

use crate::backend::Backend;
use crate::encode::Encoder;

/// The segmentation datasets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SegDataset {
    /// Cityscapes gtFine (labelIds 0–33; 19 evaluation classes).
    Cityscapes,
    /// ADEChallengeData2016 (ids 0–150; 0 ignored).
    Ade20k,
    /// CamVid, SegNet layout (ids 0–11; 11 = void, ignored).
    Camvid,
}

impl SegDataset {
    /// Name as used by the crates (`cityscapes`, `ade20k`, `camvid`).
    pub fn name(self) -> &'static str {
        match self {
            SegDataset::Cityscapes => "cityscapes",
            SegDataset::Ade20k => "ade20k",
            SegDataset::Camvid => "camvid",
        }
    }

    /// Default training split / pool: Cityscapes `set4_72`, ADE20K `train-select` (the seeded
    /// 4-per-class selection), CamVid `train`.
    pub fn default_train_split(self) -> &'static str {
        match self {
            SegDataset::Cityscapes => cityscapes::DEFAULT_TRAIN_POOL,
            SegDataset::Ade20k => "train-select",
            SegDataset::Camvid => "train",
        }
    }

    /// Default test split / pool: Cityscapes `val30`, ADE20K `val-select` (2 per class), CamVid `test`.
    pub fn default_test_split(self) -> &'static str {
        match self {
            SegDataset::Cityscapes => cityscapes::VAL_POOL,
            SegDataset::Ade20k => "val-select",
            SegDataset::Camvid => "test",
        }
    }

    /// The evaluation label space (raw ids → evaluation classes, ignore ids, palette).
    pub fn label_space(self) -> LabelSpace {
        match self {
            SegDataset::Cityscapes => LabelSpace::cityscapes(),
            SegDataset::Ade20k => LabelSpace::ade20k(),
            SegDataset::Camvid => LabelSpace::camvid(),
        }
    }

    /// The tiling protocol for a model with patch size `patch`.
    pub fn tile_spec(self, patch: usize) -> Result<TileSpec> {
        TileSpec::for_dataset(self.name(), patch)
            .with_context(|| format!("tiling protocol of {} for patch size {patch}", self.name()))
    }

    /// Open split `name` under `root`, returning it with the name of the dataset folder it lives in
    /// (part of the feature-cache key, so equal images of overlapping pools share features).
    ///
    /// - Cityscapes: a pool of the study (`set2_36`, `set4_72`, `set4prime_72`, `set8_144`, `val30`)
    ///   or a whole split folder (`train`, `val`, `test`).
    /// - ADE20K: `train-select` / `val-select` (the seeded greedy selection, 4 resp. 2 images per class,
    ///   seed [`ade20k::DEFAULT_SEED`]), or a whole folder `training` / `validation`.
    /// - CamVid: `train`, `val`, `test`.
    pub fn open(self, root: &Path, name: &str) -> Result<(SegmentationSplit, String)> {
        let ctx = || {
            format!(
                "opening {} split `{name}` under {}",
                self.name(),
                root.display()
            )
        };
        match self {
            SegDataset::Cityscapes => {
                if cityscapes::POOL_NAMES.contains(&name) {
                    let folder = cityscapes::pool(name).with_context(ctx)?.split.clone();
                    Ok((cityscapes::open_pool(root, name).with_context(ctx)?, folder))
                } else {
                    Ok((
                        cityscapes::open_split(root, name).with_context(ctx)?,
                        name.to_string(),
                    ))
                }
            }
            SegDataset::Ade20k => {
                let (split, folder) = match name {
                    "train-select" => (
                        ade20k::select(root, &ade20k::SelectionSpec::train(ade20k::DEFAULT_SEED)),
                        ade20k::AdeSplit::Training,
                    ),
                    "val-select" => (
                        ade20k::select(root, &ade20k::SelectionSpec::val(ade20k::DEFAULT_SEED)),
                        ade20k::AdeSplit::Validation,
                    ),
                    "training" => (
                        ade20k::open(root, ade20k::AdeSplit::Training),
                        ade20k::AdeSplit::Training,
                    ),
                    "validation" => (
                        ade20k::open(root, ade20k::AdeSplit::Validation),
                        ade20k::AdeSplit::Validation,
                    ),
                    other => bail!(
                        "unknown ADE20K split `{other}` (known: train-select, val-select, training, validation)"
                    ),
                };
                Ok((split.with_context(ctx)?, folder.dir().to_string()))
            }
            SegDataset::Camvid => {
                let s = match name {
                    "train" => camvid::CamVidSplit::Train,
                    "val" => camvid::CamVidSplit::Val,
                    "test" => camvid::CamVidSplit::Test,
                    other => bail!("unknown CamVid split `{other}` (known: train, val, test)"),
                };
                Ok((camvid::open(root, s).with_context(ctx)?, name.to_string()))
            }
        }
    }
}

/// Where one image's patches sit in a [`SplitFeatures`] matrix.
#[derive(Clone, Debug)]
pub struct ImageSlot {
    /// The image's files.
    pub entry: SegEntry,
    /// Original label-map width (the evaluation resolution).
    pub width: usize,
    /// Original label-map height.
    pub height: usize,
    /// Tile grid rows.
    pub tile_rows: usize,
    /// Tile grid columns.
    pub tile_cols: usize,
    /// First row of this image in the feature matrix.
    pub offset: usize,
    /// Number of patches (`tile_rows · tile_cols · grid²`).
    pub n_patches: usize,
}

/// All patches of a split: features `[n, dim]` (tiles in row-major tile order per image, tokens
/// row-major per tile), their centre-pixel labels (raw ids), and where each image's patches are.
#[derive(Clone, Debug)]
pub struct SplitFeatures {
    /// Split name.
    pub split: String,
    /// Feature width D.
    pub dim: usize,
    /// Features `[n, dim]`, row-major.
    pub features: Vec<f32>,
    /// Centre-pixel patch labels (raw label ids), length `n`.
    pub labels: Vec<u32>,
    /// Per image, in split order.
    pub images: Vec<ImageSlot>,
    /// Seconds spent (decoding, tiling, encoding or reading the cache).
    pub seconds: f64,
}

impl SplitFeatures {
    /// Number of patches `n`.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True without patches.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The features as a matrix view `[n, dim]`.
    pub fn view(&self) -> Result<MatRef<'_>> {
        Ok(MatRef::named(
            "features",
            &self.features,
            self.len(),
            self.dim,
        )?)
    }
}

/// Canonical preprocessing description (feature-cache key part): the tiling protocol as JSON.
pub fn preprocessing_key(spec: &TileSpec) -> Result<String> {
    Ok(format!("tilespec:{}", serde_json::to_string(spec)?))
}

/// Encode every image of `split` with `encoder` at `layer`, tiled by `spec`.
///
/// Images are decoded one at a time; the (expensive) tile normalisation and the forward pass run only
/// for images whose features are not in the encoder's cache. Progress goes to stderr.
pub fn extract(
    encoder: &Encoder<'_>,
    split: &SegmentationSplit,
    spec: &TileSpec,
    layer: usize,
) -> Result<SplitFeatures> {
    let t0 = Instant::now();
    let dim = encoder.model.config().embed_dim;
    let ppt = spec.patches_per_tile();
    let mut out = SplitFeatures {
        split: split.split.clone(),
        dim,
        features: Vec::new(),
        labels: Vec::new(),
        images: Vec::with_capacity(split.len()),
        seconds: 0.0,
    };
    let n = split.len();
    for (i, entry) in split.entries.iter().enumerate() {
        eprint!("\r[{}/{n}] {} {}            ", i + 1, split.split, entry.id);
        let sample = split
            .load(i)
            .with_context(|| format!("loading {}", entry.id))?;
        let raw = cut_tiles(spec, &sample.id, &sample.image, Some(&sample.label))
            .with_context(|| format!("tiling {}", entry.id))?;
        let feats = encoder.encode_image(&sample.id, spec.input, spec.input, &[layer], || {
            Ok(raw
                .iter()
                .map(|t| to_chw(&model_input(spec, &t.image)))
                .collect())
        })?;
        let f = feats
            .get(&layer)
            .with_context(|| format!("{}: layer {layer} missing", entry.id))?;
        if f.features.len() != raw.len() * ppt * dim {
            bail!(
                "{}: {} feature values for {} tiles of {ppt} patches × {dim} (cache from another model?)",
                entry.id,
                f.features.len(),
                raw.len()
            );
        }
        let offset = out.labels.len();
        for t in &raw {
            let pl = t
                .patch_labels(spec)
                .with_context(|| format!("{}: tile without labels", entry.id))?;
            out.labels.extend(pl.iter().map(|&v| v as u32));
        }
        out.features.extend_from_slice(&f.features);
        let (tile_rows, tile_cols) = spec.tiles_for(sample.image.width, sample.image.height)?;
        out.images.push(ImageSlot {
            entry: entry.clone(),
            width: sample.label.width,
            height: sample.label.height,
            tile_rows,
            tile_cols,
            offset,
            n_patches: out.labels.len() - offset,
        });
    }
    if n > 0 {
        eprintln!();
    }
    if out.is_empty() {
        bail!("split `{}` has no images", split.split);
    }
    out.seconds = t0.elapsed().as_secs_f64();
    Ok(out)
}

/// A feature normalisation applied after the optional top-variance removal.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Normalize {
    /// Unchanged.
    None,
    /// `(x − μ) / sqrt(σ² + 1e-5)` with gallery statistics (BatchNorm1d(affine = False), eval mode).
    Bn,
    /// `(x − μ) / σ` with gallery statistics.
    Standardize,
    /// ZCA whitening of the gallery covariance with regulariser `eps`.
    Whiten {
        /// Added to every eigenvalue.
        eps: f64,
    },
    /// Projection on the top-k principal components of the gallery.
    Pca {
        /// Components kept.
        k: usize,
    },
}

/// Default whitening regulariser.
pub const WHITEN_EPS: f64 = 1e-5;

impl Normalize {
    /// The probe crate's transform (`None` for [`Normalize::None`]).
    pub fn transform(self) -> Option<FeatureTransform> {
        match self {
            Normalize::None => None,
            Normalize::Bn => Some(FeatureTransform::BatchNorm {
                eps: patchlens_probe::variance::BATCH_NORM_EPS,
            }),
            Normalize::Standardize => Some(FeatureTransform::Standardize),
            Normalize::Whiten { eps } => Some(FeatureTransform::Whiten {
                kind: Whitening::Zca,
                eps,
            }),
            Normalize::Pca { k } => Some(FeatureTransform::Pca { k }),
        }
    }

    /// Short label (`none`, `bn`, `standardize`, `whiten`, `pca:K`).
    pub fn label(self) -> String {
        match self {
            Normalize::None => "none".into(),
            Normalize::Bn => "bn".into(),
            Normalize::Standardize => "standardize".into(),
            Normalize::Whiten { eps } if eps == WHITEN_EPS => "whiten".into(),
            Normalize::Whiten { eps } => format!("whiten:{eps}"),
            Normalize::Pca { k } => format!("pca:{k}"),
        }
    }
}

/// Parse `none|bn|standardize|whiten[:EPS]|pca:K`.
pub fn parse_normalize(s: &str) -> std::result::Result<Normalize, String> {
    let (head, arg) = match s.split_once(':') {
        Some((h, a)) => (h, Some(a)),
        None => (s, None),
    };
    match (head, arg) {
        ("none", None) => Ok(Normalize::None),
        ("bn" | "batchnorm", None) => Ok(Normalize::Bn),
        ("standardize" | "standardise", None) => Ok(Normalize::Standardize),
        ("whiten", None) => Ok(Normalize::Whiten { eps: WHITEN_EPS }),
        ("whiten", Some(e)) => match e.parse::<f64>() {
            Ok(eps) if eps.is_finite() && eps > 0.0 => Ok(Normalize::Whiten { eps }),
            _ => Err(format!("bad whitening eps `{e}` in `{s}` (a number > 0)")),
        },
        ("pca", Some(k)) => match k.parse::<usize>() {
            Ok(k) if k > 0 => Ok(Normalize::Pca { k }),
            _ => Err(format!("bad PCA dimension `{k}` in `{s}` (an integer > 0)")),
        },
        ("pca", None) => Err("pca needs the number of components: pca:K".into()),
        _ => Err(format!(
            "unknown normalisation `{s}` (none, bn, standardize, whiten[:EPS], pca:K)"
        )),
    }
}

/// Gallery and queries after [`transform_features`]; `None` when no transform was asked for (use the
/// original matrices, no copy is made).
pub type Transformed = Option<(Matrix, Matrix)>;

/// Fit the removal (`remove_top`, indices from the gallery variance) and then `normalize` on the gallery,
/// and apply both to gallery and queries. Returns the transformed pair (`None` if nothing was asked for)
/// and a description for results.
pub fn transform_features(
    gallery: MatRef<'_>,
    queries: MatRef<'_>,
    remove_top: usize,
    normalize: Normalize,
) -> Result<(Transformed, serde_json::Value)> {
    let d = gallery.cols();
    if remove_top >= d {
        bail!(
            "--remove-top-variance {remove_top} would delete every one of the {d} feature dimensions"
        );
    }
    let mut desc = serde_json::Map::new();
    desc.insert("remove_top_variance".into(), remove_top.into());
    desc.insert("normalize".into(), normalize.label().into());
    let mut cur: Transformed = None;
    if remove_top > 0 {
        let fitted = FeatureTransform::RemoveTopVariance { n: remove_top }.fit(gallery)?;
        desc.insert(
            "removed_columns".into(),
            serde_json::to_value(fitted.removed_columns())?,
        );
        cur = Some((fitted.apply(gallery)?, fitted.apply(queries)?));
    }
    if let Some(t) = normalize.transform() {
        let (g, q) = match &cur {
            Some((g, q)) => (g.view(), q.view()),
            None => (gallery, queries),
        };
        let fitted: FittedTransform = t.fit(g)?;
        cur = Some((fitted.apply(g)?, fitted.apply(q)?));
    }
    let dim_after = cur.as_ref().map_or(d, |(g, _)| g.cols());
    desc.insert("dim_after".into(), dim_after.into());
    Ok((cur, serde_json::Value::Object(desc)))
}

/// k-NN classifier settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct KnnSettings {
    /// Neighbours.
    pub k: usize,
    /// Similarity.
    pub similarity: Similarity,
    /// Vote rule.
    pub vote: Vote,
}

impl Default for KnnSettings {
    /// The study's: 1-NN, raw dot product.
    fn default() -> Self {
        Self {
            k: 1,
            similarity: Similarity::Dot,
            vote: Vote::Nearest,
        }
    }
}

/// k-NN predictions (raw label ids) of `queries` from `gallery` with labels `gallery_labels < n_classes`.
/// The GEMM runs on the host for [`Backend::Flex`] and on `device` otherwise.
pub fn knn_predict(
    gallery: MatRef<'_>,
    gallery_labels: &[u32],
    queries: MatRef<'_>,
    n_classes: usize,
    s: &KnnSettings,
    backend: Backend,
    device: &Device,
) -> Result<Vec<u32>> {
    let search = knn::SearchConfig {
        k: s.k,
        similarity: s.similarity,
        ..Default::default()
    };
    let nb = match backend {
        Backend::Flex => knn::search(gallery, queries, &search)?,
        _ => knn::search_on_device(device, gallery, queries, &search)?,
    };
    Ok(knn::vote(
        &nb,
        gallery_labels,
        n_classes,
        s.vote,
        s.similarity,
    )?)
}

/// Train the linear probe on gallery `[n, D]` with its labels; the queries `[m, D]` and their labels are
/// the reported set (used only by the reported-val-set selection).
fn train_linear(
    gallery: MatRef<'_>,
    gallery_labels: &[u32],
    queries: MatRef<'_>,
    query_labels: &[u32],
    cfg: &LinearProbeConfig,
    device: &Device,
) -> Result<linear::LinearProbe> {
    Ok(linear::train(
        device,
        Labelled {
            x: gallery,
            labels: gallery_labels,
        },
        Some(Labelled {
            x: queries,
            labels: query_labels,
        }),
        cfg,
    )?)
}

/// Train a linear probe on `gallery` (+ labels) and predict `queries`. `val` (the test patches and
/// labels) is passed for the study's [`linear::Selection::ReportedValSet`]. Returns the predictions and
/// a record of the training (config, best epoch, sample counts, per-epoch history).
pub fn linear_predict(
    gallery: MatRef<'_>,
    gallery_labels: &[u32],
    queries: MatRef<'_>,
    query_labels: &[u32],
    cfg: &LinearProbeConfig,
    device: &Device,
) -> Result<(Vec<u32>, serde_json::Value)> {
    let probe = train_linear(gallery, gallery_labels, queries, query_labels, cfg, device)?;
    let preds = probe.head.predict(queries)?;
    let rec = serde_json::json!({
        "config": probe.config,
        "best_epoch": probe.best_epoch,
        "n_train": probe.n_train,
        "n_selection": probe.n_selection,
        "n_ignored": probe.n_ignored,
        "history": probe.history,
    });
    Ok((preds, rec))
}

/// The study's §6.3 "BatchNorm instead of removal": train a linear probe **with** BatchNorm1d(affine = False)
/// on the gallery (`cfg` with `batch_norm` forced on; `queries` are used only by the reported-val-set
/// selection) and return its running-statistics normalisation `(x − running_mean) / sqrt(running_var + ε)`
/// as a fitted transform for gallery `[n, D]` and queries `[m, D]`, plus a record of the probe.
pub fn probe_batch_norm(
    gallery: MatRef<'_>,
    gallery_labels: &[u32],
    queries: MatRef<'_>,
    query_labels: &[u32],
    cfg: &LinearProbeConfig,
    device: &Device,
) -> Result<(FittedTransform, serde_json::Value)> {
    let mut c = cfg.clone();
    c.batch_norm = true;
    let probe = train_linear(gallery, gallery_labels, queries, query_labels, &c, device)?;
    let bn = probe
        .head
        .bn
        .as_ref()
        .context("the BatchNorm linear probe returned no BatchNorm statistics")?;
    let t = FittedTransform::batch_norm_from_stats(&bn.mean, &bn.var, bn.eps)?;
    let rec = serde_json::json!({
        "source": "running statistics of a trained linear probe with BatchNorm1d(affine=False) (protocol 6.3)",
        "config": probe.config,
        "best_epoch": probe.best_epoch,
        "n_train": probe.n_train,
    });
    Ok((t, rec))
}

/// Scores of predictions on a test split.
pub struct SegEvaluation {
    /// Confusion matrix over all test images.
    pub total: ConfusionMatrix,
    /// One confusion matrix per test image (for the bootstrap), in split order.
    pub per_image: Vec<ConfusionMatrix>,
    /// Patch accuracy over all query patches (void included).
    pub patch_accuracy: f64,
    /// Predicted label map of the first test image at label resolution.
    pub first_map: Option<LabelMap>,
}

/// Back-project one image's patch predictions to its label resolution.
///
/// Without a whole-image resize (Cityscapes) each tile grid is upsampled nearest-exact to the tile size
/// and the tiles are stitched (must cover the label map exactly); with a resize (ADE20K, CamVid) the
/// tiles' grids are placed on the image's patch grid, which is resized nearest-exact to the label size.
/// OpenCV 4's `INTER_NEAREST_EXACT` throughout.
pub fn back_project(spec: &TileSpec, slot: &ImageSlot, preds: &[u16]) -> Result<LabelMap> {
    let layout = TileLayout {
        tile_rows: slot.tile_rows,
        tile_cols: slot.tile_cols,
        grid: spec.grid,
    };
    match spec.resize {
        None => {
            let m = stitch_tiles_upsampled(preds, layout, spec.tile, NearestExact::OpenCv4)?;
            if (m.width, m.height) != (slot.width, slot.height) {
                bail!(
                    "{}: the tiles cover {}x{} pixels but the label map is {}x{}",
                    slot.entry.id,
                    m.width,
                    m.height,
                    slot.width,
                    slot.height
                );
            }
            Ok(m)
        }
        Some(_) => Ok(grids_to_label_size(
            preds,
            layout,
            slot.width,
            slot.height,
            NearestExact::OpenCv4,
        )?),
    }
}

/// Read an image's label map again (checked against the split's label range).
pub fn read_gt(split: &SegmentationSplit, entry: &SegEntry) -> Result<ImageU8> {
    let mut label = read_label(&entry.label)?;
    check_label_range(
        split.dataset,
        &entry.label,
        &mut label,
        split.label_max,
        split.ignore_label,
        LabelCheck::Strict,
    )?;
    Ok(label)
}

/// Score `preds` (raw ids, one per query patch of `test`) at full label resolution.
pub fn evaluate_predictions(
    space: &LabelSpace,
    spec: &TileSpec,
    split: &SegmentationSplit,
    test: &SplitFeatures,
    preds: &[u32],
) -> Result<SegEvaluation> {
    if preds.len() != test.len() {
        bail!(
            "{} predictions for {} query patches",
            preds.len(),
            test.len()
        );
    }
    let mut total = ConfusionMatrix::new(space);
    let mut per_image = Vec::with_capacity(test.images.len());
    let mut first_map = None;
    for slot in &test.images {
        let p: Vec<u16> = preds[slot.offset..slot.offset + slot.n_patches]
            .iter()
            .map(|&v| v as u16)
            .collect();
        let map = back_project(spec, slot, &p)?;
        let gt = read_gt(split, &slot.entry)?;
        if (gt.width, gt.height) != (map.width, map.height) {
            bail!(
                "{}: label map changed size since it was encoded",
                slot.entry.label.display()
            );
        }
        let mut cm = ConfusionMatrix::new(space);
        cm.accumulate(&map.data, &gt.data)
            .with_context(|| format!("scoring {}", slot.entry.id))?;
        total.merge(&cm)?;
        per_image.push(cm);
        if first_map.is_none() {
            first_map = Some(map);
        }
    }
    let patch_accuracy = patchlens_metrics::patch_accuracy(preds, &test.labels)?;
    Ok(SegEvaluation {
        total,
        per_image,
        patch_accuracy,
        first_map,
    })
}

/// 95 % percentile-bootstrap interval of the mIoU over test images (`n_resamples` resamples, `seed`).
///
/// Spaces scored like cityscapesScripts (absent classes skipped) use
/// [`patchlens_report::bootstrap_ci_miou`] on the per-image confusion matrices; ADE20K's
/// CSAILVision convention (mean over all classes, ε in the denominator) resamples the same per-class
/// sums with that formula, so the interval is around the reported mIoU in both cases.
pub fn miou_ci(
    eval: &SegEvaluation,
    n_resamples: usize,
    seed: u64,
) -> Result<patchlens_report::ConfidenceInterval> {
    let space = eval.total.space();
    let k = space.num_classes();
    match space.absent {
        patchlens_metrics::AbsentClassPolicy::Nan => {
            let mats = eval
                .per_image
                .iter()
                .map(|m| patchlens_report::ConfusionMatrix::new(k, k + 1, m.counts().to_vec()))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok(patchlens_report::bootstrap_ci_miou(
                &mats,
                n_resamples,
                seed,
            )?)
        }
        patchlens_metrics::AbsentClassPolicy::Epsilon(eps) => {
            // Per image and class: (tp, ground-truth pixels, predicted pixels among evaluated rows).
            let sums: Vec<Vec<[u64; 3]>> = eval
                .per_image
                .iter()
                .map(|m| {
                    let mut s = vec![[0u64; 3]; k];
                    for g in 0..k {
                        for p in 0..=k {
                            let c = m.get(g, p);
                            s[g][1] += c;
                            if p < k {
                                s[p][2] += c;
                            }
                            if p == g {
                                s[g][0] += c;
                            }
                        }
                    }
                    s
                })
                .collect();
            let stat = |idx: &mut dyn Iterator<Item = usize>| {
                let mut acc = vec![[0u64; 3]; k];
                for i in idx {
                    for (a, s) in acc.iter_mut().zip(&sums[i]) {
                        a[0] += s[0];
                        a[1] += s[1];
                        a[2] += s[2];
                    }
                }
                let total: f64 = acc
                    .iter()
                    .map(|a| a[0] as f64 / (eps + (a[1] + a[2] - a[0]) as f64))
                    .sum();
                Some(total / k as f64)
            };
            Ok(patchlens_report::bootstrap_ci_with(
                eval.per_image.len(),
                n_resamples,
                seed,
                patchlens_report::DEFAULT_LEVEL,
                eval.total.miou(),
                "percentile bootstrap over images (summed per-class counts, CSAILVision IoU)",
                |idx| stat(&mut idx.iter().copied()),
            )?)
        }
    }
}

/// `<zoo name>` → the study's model name in the paper's reference numbers, for the five ViT-B models.
pub fn paper_model(zoo_name: &str) -> Option<&'static str> {
    match zoo_name {
        "sup_vitb16_torchvision" => Some("sup_vit"),
        "dino_vitb16" => Some("dino"),
        "dinov2_vitb14" => Some("dinov2"),
        "mae_vitb16" => Some("mae"),
        "simmim_vitb16" => Some("simmim"),
        _ => None,
    }
}

/// A file-name-safe version of `s` (alphanumerics, `-`, `_`, `.`; everything else `_`).
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The results directory of results file `out`.
pub fn out_dir(out: &Path) -> PathBuf {
    out.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}
