//! Segmentation-family experiments of `reproduce` that the single `eval` commands do not cover as such:
//! multi-layer encoding in one forward pass (prefetching the feature cache for the layer sweep), degraded
//! test images (protocol §5), and the synthetic benchmark as a segmentation dataset (scenes + class masks;
//! the eval commands read the real datasets only). Scoring, probes and back-projection are the eval
//! commands' own functions (`eval::segmentation::features`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use patchlens_data::{SegmentationSplit, TileSpec, cut_tiles, model_input};
use patchlens_image::{Degradation, to_chw};
use patchlens_metrics::LabelSpace;
use patchlens_probe::variance::{
    FeatureTransform, FittedTransform, clamp_sweep, variance_spectrum,
};
use patchlens_report::{
    ConfidenceInterval, Curve, Experiment, ExperimentKind, ModelInfo, PlotKind,
};
use patchlens_store::FeatureStore;

use super::synthetic;
use crate::backend::Backend;
use crate::encode::Encoder;
pub use crate::eval::segmentation::features::SplitFeatures;
use crate::eval::segmentation::features::{
    self, ImageSlot, KnnSettings, Normalize, SegDataset, SegEvaluation,
};
use crate::eval::segmentation::{LinearSettings, ProbeKind};
use crate::eval::variance::{Alternative, key_of, sweep_transforms};
use crate::models::LoadedModel;

/// A segmentation dataset of a run: a real one (read by patchlens-data) or the synthetic scenes.
#[derive(Clone, Debug)]
pub enum SegData {
    /// Cityscapes / ADE20K / CamVid under `root`.
    Real {
        /// Which.
        dataset: SegDataset,
        /// Root folder.
        root: PathBuf,
    },
    /// Synthetic scenes materialised under `root` with scene seed `seed`.
    Synthetic {
        /// Folder the scenes are written to.
        root: PathBuf,
        /// Scene seed.
        seed: u64,
    },
}

impl SegData {
    /// `cityscapes`, `ade20k`, `camvid` or `synthetic`.
    pub fn name(&self) -> &'static str {
        match self {
            SegData::Real { dataset, .. } => dataset.name(),
            SegData::Synthetic { .. } => "synthetic",
        }
    }

    /// Label space.
    pub fn label_space(&self) -> Result<LabelSpace> {
        match self {
            SegData::Real { dataset, .. } => Ok(dataset.label_space()),
            SegData::Synthetic { seed, .. } => {
                synthetic::label_space(&synthetic::scene_config(*seed, false))
            }
        }
    }

    /// Tiling protocol for `model` (real datasets: the study's, by patch size; synthetic: see
    /// [`synthetic::tile_spec`]).
    pub fn tile_spec(&self, model: &LoadedModel) -> Result<TileSpec> {
        let c = model.config();
        match self {
            SegData::Real { dataset, .. } => dataset.tile_spec(c.patch_size),
            SegData::Synthetic { .. } => synthetic::tile_spec(c.patch_size, c.img_size),
        }
    }

    /// Open split `name`; returns it with its feature-cache folder tag (`<dataset>/<folder>`, the same
    /// key `eval segmentation` uses, so the two share cached features).
    pub fn open(&self, name: &str) -> Result<(SegmentationSplit, String)> {
        match self {
            SegData::Real { dataset, root } => {
                let (s, folder) = dataset.open(root, name)?;
                Ok((s, format!("{}/{folder}", dataset.name())))
            }
            SegData::Synthetic { root, seed } => synthetic::open_split(root, *seed, name),
        }
    }

    /// Whether the paper's numbers can apply (the study's datasets).
    pub fn is_cityscapes(&self) -> bool {
        matches!(
            self,
            SegData::Real {
                dataset: SegDataset::Cityscapes,
                ..
            }
        )
    }
}

/// A degradation of the test images with its protocol level.
#[derive(Clone, Copy, Debug)]
pub struct Degrade {
    /// `blur`, `noise` or `freq`.
    pub kind: &'static str,
    /// Level 1–4.
    pub level: u8,
    /// The operation.
    pub op: Degradation,
    /// Noise seed.
    pub seed: u64,
}

impl Degrade {
    /// Protocol level `level` of `kind` (see [`Degradation::level`]).
    pub fn new(kind: &str, level: u8, seed: u64) -> Result<Self> {
        let kind: &'static str = match kind {
            "blur" => "blur",
            "noise" => "noise",
            "freq" => "freq",
            other => bail!("unknown degradation `{other}`"),
        };
        Ok(Self {
            kind,
            level,
            op: Degradation::level(kind, level as usize)?,
            seed,
        })
    }

    /// The paper's setting name: `blur/<px>`, `noise/<σ>`, `frequency/<high|2|3|low>`.
    pub fn paper_setting(&self) -> String {
        let i = self.level as usize - 1;
        match self.kind {
            "blur" => format!("blur/{}", patchlens_image::BLUR_KERNELS[i]),
            "noise" => format!("noise/{}", patchlens_image::NOISE_SIGMAS[i]),
            // Band 4 is the figure's "high", band 1 its "low".
            _ => format!("frequency/{}", ["low", "2", "3", "high"][i]),
        }
    }

    /// Cache / name tag.
    pub fn tag(&self) -> String {
        format!("{}{}-seed{}", self.kind, self.level, self.seed)
    }
}

/// Encode every image of `split` at all `layers` in one forward pass per image, optionally degrading the
/// tiles (u8, before the model-input resize/normalisation). Features go through the cache of `store`
/// under the same keys as `eval segmentation` for clean images.
#[allow(clippy::too_many_arguments)]
pub fn extract_layers(
    model: &LoadedModel,
    store: Option<&FeatureStore>,
    device_batch: usize,
    split: &SegmentationSplit,
    folder_tag: &str,
    spec: &TileSpec,
    layers: &[usize],
    degrade: Option<Degrade>,
) -> Result<BTreeMap<usize, SplitFeatures>> {
    let t0 = Instant::now();
    let dim = model.config().embed_dim;
    let ppt = spec.patches_per_tile();
    let dataset = match degrade {
        None => folder_tag.to_string(),
        Some(d) => format!("{folder_tag}/{}", d.tag()),
    };
    let enc = Encoder {
        model,
        device_batch: device_batch.max(1),
        store,
        preprocessing: features::preprocessing_key(spec)?,
        dataset,
    };
    let mut out: BTreeMap<usize, SplitFeatures> = layers
        .iter()
        .map(|&l| {
            (
                l,
                SplitFeatures {
                    split: split.split.clone(),
                    dim,
                    features: Vec::new(),
                    labels: Vec::new(),
                    images: Vec::new(),
                    seconds: 0.0,
                },
            )
        })
        .collect();
    let n = split.len();
    for (i, entry) in split.entries.iter().enumerate() {
        eprint!(
            "\r  [{}/{n}] encoding {} {}            ",
            i + 1,
            split.split,
            entry.id
        );
        let sample = split
            .load(i)
            .with_context(|| format!("loading {}", entry.id))?;
        let raw = cut_tiles(spec, &sample.id, &sample.image, Some(&sample.label))
            .with_context(|| format!("tiling {}", entry.id))?;
        let feats = enc.encode_image(&sample.id, spec.input, spec.input, layers, || {
            raw.iter()
                .enumerate()
                .map(|(t, tile)| -> Result<Vec<f32>> {
                    let img = match degrade {
                        None => tile.image.clone(),
                        Some(d) => d.op.apply(&tile.image, mix(d.seed, i as u64, t as u64))?,
                    };
                    Ok(to_chw(&model_input(spec, &img)))
                })
                .collect()
        })?;
        let mut labels = Vec::with_capacity(raw.len() * ppt);
        for t in &raw {
            let pl = t
                .patch_labels(spec)
                .with_context(|| format!("{}: tile without labels", entry.id))?;
            labels.extend(pl.iter().map(|&v| v as u32));
        }
        let (tile_rows, tile_cols) = spec.tiles_for(sample.image.width, sample.image.height)?;
        for (&l, sf) in out.iter_mut() {
            let f = feats
                .get(&l)
                .with_context(|| format!("{}: layer {l} missing", entry.id))?;
            if f.features.len() != raw.len() * ppt * dim {
                bail!(
                    "{}: {} feature values for {} tiles of {ppt} patches × {dim}",
                    entry.id,
                    f.features.len(),
                    raw.len()
                );
            }
            let offset = sf.labels.len();
            sf.labels.extend_from_slice(&labels);
            sf.features.extend_from_slice(&f.features);
            sf.images.push(ImageSlot {
                entry: entry.clone(),
                width: sample.label.width,
                height: sample.label.height,
                tile_rows,
                tile_cols,
                offset,
                n_patches: labels.len(),
            });
        }
    }
    if n > 0 {
        eprintln!();
    } else {
        bail!("split `{}` has no images", split.split);
    }
    let s = t0.elapsed().as_secs_f64();
    for sf in out.values_mut() {
        sf.seconds = s;
    }
    Ok(out)
}

/// A per-(image, tile) noise seed.
fn mix(seed: u64, image: u64, tile: u64) -> u64 {
    let mut z =
        seed ^ image.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ tile.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What a probe run needs besides the features.
pub struct ProbeRun<'a> {
    /// Label space of the dataset.
    pub space: &'a LabelSpace,
    /// Tiling (for back-projection).
    pub spec: &'a TileSpec,
    /// The test split (label maps are re-read for scoring).
    pub test_split: &'a SegmentationSplit,
    /// Model (family decides the linear probe's BatchNorm; device).
    pub model: &'a LoadedModel,
    /// k-NN settings.
    pub knn: KnnSettings,
    /// Linear-probe settings.
    pub linear: LinearSettings,
    /// Backend of the k-NN GEMM.
    pub backend: Backend,
    /// Bootstrap resamples and seed.
    pub bootstrap: (usize, u64),
}

/// Scores of one probe run.
pub struct Scored {
    /// The evaluation (confusion matrices, first map).
    pub eval: SegEvaluation,
    /// 95 % interval of the mIoU over test images.
    pub ci: ConfidenceInterval,
    /// Probe record (settings, training history).
    pub record: serde_json::Value,
}

impl ProbeRun<'_> {
    /// Probe `test` with `train` (after removing `remove_top` top-variance dims and `normalize`).
    pub fn run(
        &self,
        probe: ProbeKind,
        train: &SplitFeatures,
        test: &SplitFeatures,
        remove_top: usize,
        normalize: Normalize,
    ) -> Result<Scored> {
        let n_classes = self.space.num_raw();
        let device = self.model.vit.device().clone();
        let (tr, desc) =
            features::transform_features(train.view()?, test.view()?, remove_top, normalize)?;
        let (g, q) = match &tr {
            Some((g, q)) => (g.view(), q.view()),
            None => (train.view()?, test.view()?),
        };
        let (preds, mut record) = match probe {
            ProbeKind::Knn => {
                let p = features::knn_predict(
                    g,
                    &train.labels,
                    q,
                    n_classes,
                    &self.knn,
                    self.backend,
                    &device,
                )?;
                (p, serde_json::to_value(self.knn)?)
            }
            ProbeKind::Linear => {
                let lc = self.linear.probe_config(n_classes, self.model.family);
                features::linear_predict(g, &train.labels, q, &test.labels, &lc, &device)?
            }
        };
        if let Some(o) = record.as_object_mut() {
            o.insert("feature_transform".into(), desc);
        }
        let eval =
            features::evaluate_predictions(self.space, self.spec, self.test_split, test, &preds)?;
        let ci = features::miou_ci(&eval, self.bootstrap.0.max(2), self.bootstrap.1)?;
        Ok(Scored { eval, ci, record })
    }
}

/// Model information for results.
pub fn model_info(model: &LoadedModel) -> ModelInfo {
    ModelInfo {
        zoo_name: model.name.clone(),
        weights_sha256: Some(model.weights_sha256.clone()),
        family: model.family.name().to_string(),
    }
}

/// A segmentation experiment from a scored run (metrics as `eval segmentation` names them).
pub fn seg_experiment(
    name: String,
    model: &LoadedModel,
    data: &SegData,
    s: &Scored,
    protocol: serde_json::Map<String, serde_json::Value>,
) -> Result<Experiment> {
    let mut e = Experiment::new(name, ExperimentKind::Segmentation, model_info(model));
    let scores = s.eval.total.scores();
    e.metrics.insert("miou".into(), scores.miou);
    e.metrics
        .insert("pixel_accuracy".into(), scores.pixel_accuracy);
    e.metrics
        .insert("patch_accuracy".into(), s.eval.patch_accuracy);
    for (c, iou) in scores.class_names.iter().zip(&scores.iou) {
        if iou.is_finite() {
            e.metrics.insert(format!("per_class_iou/{c}"), *iou);
        }
    }
    if data.is_cityscapes() {
        use patchlens_metrics::labels::{CITYSCAPES_EASY, CITYSCAPES_HARD};
        e.metrics
            .insert("miou_easy".into(), s.eval.total.miou_of(&CITYSCAPES_EASY)?);
        e.metrics
            .insert("miou_hard".into(), s.eval.total.miou_of(&CITYSCAPES_HARD)?);
    }
    e.metrics.retain(|_, v| v.is_finite());
    e.confidence_intervals.insert("miou".into(), s.ci.clone());
    e.protocol = protocol;
    Ok(e)
}

/// Write the predicted and ground-truth colour maps of the first test image into `dir`; returns the two
/// image artifacts (paths relative to `dir`).
pub fn sample_maps(
    dir: &Path,
    stem: &str,
    space: &LabelSpace,
    test_split: &SegmentationSplit,
    test: &SplitFeatures,
    s: &Scored,
) -> Result<Vec<patchlens_report::ImageArtifact>> {
    let (Some(map), Some(slot)) = (&s.eval.first_map, test.images.first()) else {
        return Ok(Vec::new());
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let stem = features::sanitize(stem);
    let pred = format!("{stem}_pred.png");
    patchlens_metrics::write_color_png(&dir.join(&pred), map, &space.palette)?;
    let gt = features::read_gt(test_split, &slot.entry)?;
    let gt_map = patchlens_metrics::LabelMap::from_u8(gt.width, gt.height, &gt.data)?;
    let gtf = format!("{stem}_gt.png");
    patchlens_metrics::write_color_png(&dir.join(&gtf), &gt_map, &space.palette)?;
    Ok(vec![
        patchlens_report::ImageArtifact {
            title: format!("prediction: {}", slot.entry.id),
            caption: Some(format!("{stem}; {} colours", space.name)),
            source: patchlens_report::ImageSource::File { path: pred },
        },
        patchlens_report::ImageArtifact {
            title: format!("ground truth: {}", slot.entry.id),
            caption: None,
            source: patchlens_report::ImageSource::File { path: gtf },
        },
    ])
}

/// The variance analysis on already encoded splits (used for the synthetic scenes, which `eval variance`
/// does not read): spectrum experiment + sweep experiment (k-NN mIoU per transform), named and plotted like
/// `eval variance`'s.
pub fn variance_on(
    run: &ProbeRun<'_>,
    train: &SplitFeatures,
    test: &SplitFeatures,
    base: &str,
    sweep: &[usize],
    alternatives: &[String],
) -> Result<Vec<Experiment>> {
    let d = train.dim;
    let spectrum = variance_spectrum(train.view()?)?;
    let info = model_info(run.model);
    let name = &run.model.name;
    let mut spec_e = Experiment::new(
        format!("variance_spectrum/{base}"),
        ExperimentKind::VarianceSpectrum,
        info.clone(),
    );
    let total: f64 = spectrum.sorted.iter().sum();
    spec_e
        .metrics
        .insert("variance_max".into(), spectrum.sorted[0]);
    spec_e
        .metrics
        .insert("variance_min".into(), spectrum.sorted[d - 1]);
    spec_e.metrics.insert("variance_total".into(), total);
    for n in [10usize, 50] {
        if n < d {
            spec_e.metrics.insert(
                format!("variance_share_top{n}"),
                spectrum.sorted[..n].iter().sum::<f64>() / total,
            );
        }
    }
    spec_e.metrics.retain(|_, v| v.is_finite());
    spec_e.curves.push(Curve::new(
        format!(
            "Feature variance spectrum ({base_ds})",
            base_ds = base.split('/').next().unwrap_or(base)
        ),
        name.clone(),
        "dimension rank (by variance)",
        "variance",
        (1..=d).map(|r| r as f64).collect(),
        spectrum.sorted.clone(),
    ));
    spec_e.protocol.insert(
        "variance".into(),
        "population variance (ddof = 0) per dimension over all train patches".into(),
    );
    spec_e.protocol.insert("patches".into(), train.len().into());
    spec_e.protocol.insert("feature_dim".into(), d.into());

    let removals = clamp_sweep(sweep, d - 1);
    let alts: Vec<Alternative> = alternatives
        .iter()
        .map(|a| Alternative::from_suite(a))
        .collect::<Result<_>>()?;
    let transforms = sweep_transforms(&removals, &alts, d, None)?;
    let mut sw = Experiment::new(
        format!("variance_removal/{base}"),
        ExperimentKind::VarianceRemoval,
        info,
    );
    let fig = format!(
        "k-NN mIoU without the top-N variance dimensions ({})",
        base.split('/').next().unwrap_or(base)
    );
    let x_max = removals.last().copied().unwrap_or(0) as f64;
    // label → (x, y, lower, upper)
    let mut series: BTreeMap<String, [Vec<f64>; 4]> = BTreeMap::new();
    let mut fits: Vec<(String, FittedTransform)> = transforms
        .iter()
        .map(|t| Ok((key_of(t), t.fit(train.view()?)?)))
        .collect::<Result<_>>()?;
    if alts.contains(&Alternative::BnProbe) {
        let lc = run
            .linear
            .probe_config(run.space.num_raw(), run.model.family);
        let (fitted, _) = features::probe_batch_norm(
            train.view()?,
            &train.labels,
            test.view()?,
            &test.labels,
            &lc,
            run.model.vit.device(),
        )?;
        fits.push(("bn_probe".into(), fitted));
    }
    let n_points = fits.len();
    for (i, (key, fitted)) in fits.iter().enumerate() {
        eprintln!("  [{}/{n_points}] {key}", i + 1);
        let t = &fitted.transform();
        let g = fitted.apply(train.view()?)?;
        let q = fitted.apply(test.view()?)?;
        let gs = SplitFeatures {
            dim: g.cols(),
            features: g.into_vec(),
            ..train.clone_meta()
        };
        let qs = SplitFeatures {
            dim: q.cols(),
            features: q.into_vec(),
            ..test.clone_meta()
        };
        let s = run.run(ProbeKind::Knn, &gs, &qs, 0, Normalize::None)?;
        let m = s.eval.total.miou();
        let key = format!("knn_miou/{key}");
        if m.is_finite() {
            sw.metrics.insert(key.clone(), m);
        }
        sw.confidence_intervals.insert(key, s.ci.clone());
        let mut push = |label: String, x: f64| {
            let e = series.entry(label).or_default();
            e[0].push(x);
            e[1].push(m);
            e[2].push(s.ci.lower);
            e[3].push(s.ci.upper);
        };
        match t {
            FeatureTransform::RemoveTopVariance { n } => {
                push(format!("{name}: remove top-N"), *n as f64)
            }
            FeatureTransform::Pca { k } => {
                push(format!("{name}: PCA-k (N = D − k)"), (d - k) as f64)
            }
            _ => {
                let k = fits[i].0.clone();
                push(format!("{name}: {k}"), 0.0);
                push(format!("{name}: {k}"), x_max);
            }
        }
    }
    for (label, [x, y, lo, hi]) in series {
        let mut c = Curve::new(
            fig.clone(),
            label,
            "top-variance dimensions removed (N)",
            "mIoU",
            x,
            y,
        );
        c.plot = Some(PlotKind::Line);
        c.y_lower = Some(lo);
        c.y_upper = Some(hi);
        sw.curves.push(c);
    }
    sw.protocol
        .insert("sweep".into(), serde_json::to_value(&removals)?);
    sw.protocol
        .insert("alternatives".into(), serde_json::to_value(alternatives)?);
    sw.protocol
        .insert("knn".into(), serde_json::to_value(run.knn)?);
    sw.protocol.insert("feature_dim".into(), d.into());
    Ok(vec![spec_e, sw])
}

/// Metadata of a [`SplitFeatures`] without its features (for re-wrapping transformed matrices).
trait CloneMeta {
    fn clone_meta(&self) -> SplitFeatures;
}

impl CloneMeta for SplitFeatures {
    fn clone_meta(&self) -> SplitFeatures {
        SplitFeatures {
            split: self.split.clone(),
            dim: self.dim,
            features: Vec::new(),
            labels: self.labels.clone(),
            images: self.images.clone(),
            seconds: self.seconds,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_settings_of_degradations() {
        let s = |k: &str, l: u8| Degrade::new(k, l, 0).unwrap().paper_setting();
        assert_eq!(s("blur", 1), "blur/2");
        assert_eq!(s("blur", 4), "blur/8");
        assert_eq!(s("noise", 3), "noise/30");
        assert_eq!(s("freq", 4), "frequency/high");
        assert_eq!(s("freq", 1), "frequency/low");
        assert!(Degrade::new("rotate", 1, 0).is_err());
        assert!(Degrade::new("blur", 5, 0).is_err());
    }

    #[test]
    fn noise_seeds_differ_per_tile() {
        assert_ne!(mix(0, 0, 1), mix(0, 1, 0));
        assert_eq!(mix(3, 4, 5), mix(3, 4, 5));
    }
}
