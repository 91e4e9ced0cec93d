//! A split's patches as one feature matrix with centre-pixel labels: every image is tiled by the
//! protocol, its tiles are encoded (all requested layers in one pass, through the token source's cache),
//! and each patch gets the centre pixel of its tile's label map.

use std::collections::BTreeMap;
use std::time::Instant;

use patchlens_data::sample::SegEntry;
use patchlens_data::{SegmentationSplit, TileSpec, cut_tiles, model_input};
use patchlens_image::to_chw;
use patchlens_metrics::LabelSpace;
use patchlens_probe::MatRef;
use rayon::prelude::*;

use crate::degradation::Degrade;
use crate::encode::{ImageRequest, TokenSource};
use crate::error::{Context, Result, bail};
use crate::progress::Progress;

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

/// All patches of a split at one layer: features `[n, dim]` (tiles in row-major tile order per image,
/// tokens row-major per tile), their centre-pixel labels (raw ids), and where each image's patches are.
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

    /// The same patches with other features `[n, dim]` (e.g. after a feature transform).
    pub fn with_features(&self, features: Vec<f32>, dim: usize) -> SplitFeatures {
        SplitFeatures {
            split: self.split.clone(),
            dim,
            features,
            labels: self.labels.clone(),
            images: self.images.clone(),
            seconds: self.seconds,
        }
    }
}

/// Canonical preprocessing description (feature-cache key part): the tiling protocol as JSON.
pub fn preprocessing_key(spec: &TileSpec) -> Result<String> {
    Ok(format!("tilespec:{}", serde_json::to_string(spec)?))
}

/// Encode every image of `split` (cache tag `tag`) at all `layers` in one forward pass per image,
/// optionally degrading the tiles (`u8`, before the model-input resize / normalisation). Clean images are
/// cached under the tag; degraded ones (read once) are not cached.
///
/// Patch labels are the label space's canonical raw ids (a folder dataset's ignore value 255 becomes its
/// void id K, so the probes see the same ids as for CamVid's void).
pub fn extract(
    tokens: &dyn TokenSource,
    split: &SegmentationSplit,
    tag: &str,
    spec: &TileSpec,
    space: &LabelSpace,
    layers: &[usize],
    degrade: Option<&Degrade>,
) -> Result<BTreeMap<usize, SplitFeatures>> {
    let t0 = Instant::now();
    let dim = tokens.embed_dim();
    let ppt = spec.patches_per_tile();
    let dataset = match degrade {
        None => tag.to_string(),
        Some(d) => format!("{tag}/{}", d.tag()),
    };
    let preprocessing = preprocessing_key(spec)?;
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
    if n == 0 {
        bail!("split `{}` has no images", split.split);
    }
    let label = match degrade {
        None => format!("encoding {}", split.split),
        Some(d) => format!("encoding {} ({})", split.split, d.tag()),
    };
    let mut progress = Progress::new(label, n);
    // Images are encoded in groups whose tiles fill at least one device batch.
    let mut i = 0;
    while i < n {
        let mut group = Vec::new();
        let mut group_tiles = 0;
        while i < n && (group.is_empty() || group_tiles < tokens.batch_hint()) {
            let entry = &split.entries[i];
            let sample = split
                .load(i)
                .with_context(|| format!("loading {}", entry.id))?;
            let raw = cut_tiles(spec, &sample.id, &sample.image, Some(&sample.label))
                .with_context(|| format!("tiling {}", entry.id))?;
            group_tiles += raw.len();
            group.push((i, sample, raw));
            i += 1;
        }
        let requests: Vec<ImageRequest<'_>> = group
            .iter()
            .map(|(_, sample, _)| ImageRequest {
                dataset: &dataset,
                preprocessing: &preprocessing,
                image_id: &sample.id,
                height: spec.input,
                width: spec.input,
                cache: degrade.is_none(),
            })
            .collect();
        let feats = tokens.tokens_batch(&requests, layers, &mut |g| {
            let (image_index, _, raw) = &group[g];
            // Degradation, resize and normalisation are per tile and independent: in parallel.
            raw.par_iter()
                .enumerate()
                .map(|(t, tile)| -> Result<Vec<f32>> {
                    let input = match degrade {
                        None => model_input(spec, &tile.image),
                        Some(d) => {
                            model_input(spec, &d.apply(&tile.image, *image_index as u64, t as u64)?)
                        }
                    };
                    Ok(to_chw(&input))
                })
                .collect()
        })?;
        for ((index, sample, raw), feats) in group.iter().zip(feats) {
            let entry = &split.entries[*index];
            let mut labels = Vec::with_capacity(raw.len() * ppt);
            for t in raw {
                let pl = t
                    .patch_labels(spec)
                    .with_context(|| format!("{}: tile without labels", entry.id))?;
                labels.extend(pl.iter().map(|&v| space.canonical(v as u32)));
            }
            let (tile_rows, tile_cols) = spec.tiles_for(sample.image.width, sample.image.height)?;
            for (&l, sf) in out.iter_mut() {
                let f = feats
                    .get(&l)
                    .with_context(|| format!("{}: layer {l} missing", entry.id))?;
                if f.features.len() != raw.len() * ppt * dim {
                    bail!(
                        "{}: {} feature values for {} tiles of {ppt} patches × {dim} (a cache or feature file from another model?)",
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
            progress.inc(&entry.id);
        }
    }
    let s = t0.elapsed().as_secs_f64();
    for sf in out.values_mut() {
        sf.seconds = s;
    }
    Ok(out)
}

/// Write the tokens of every image of `split` of `source` at `layers`, tiled exactly as the segmentation
/// protocol tiles it, as one safetensors file per image in the [`crate::FeatureDir`] layout
/// (`<dir>/<dataset tag>/<image id>.safetensors`), with `metadata` in each file's header. Returns the
/// number of images and the dataset tag. This is what `cargo xtask embed --dataset` writes and what
/// precomputed-feature runs read.
pub fn export_split(
    source: &super::SegSource,
    split: &str,
    tokens: &crate::ModelTokens<'_>,
    layers: &[usize],
    dir: &std::path::Path,
    metadata: &BTreeMap<String, String>,
) -> Result<(usize, String)> {
    let spec = source.tile_spec(tokens)?;
    let (s, tag) = source.open(split)?;
    let preprocessing = preprocessing_key(&spec)?;
    let mut progress = Progress::new(format!("exporting {split}"), s.len());
    for i in 0..s.len() {
        let sample = s.load(i)?;
        let tiles = cut_tiles(&spec, &sample.id, &sample.image, Some(&sample.label))
            .with_context(|| format!("tiling {}", sample.id))?;
        let chw: Vec<Vec<f32>> = tiles
            .iter()
            .map(|t| to_chw(&model_input(&spec, &t.image)))
            .collect();
        let feats = tokens.encode_tiles(&chw, spec.input, spec.input, layers)?;
        let request = ImageRequest {
            dataset: &tag,
            preprocessing: &preprocessing,
            image_id: &sample.id,
            height: spec.input,
            width: spec.input,
            cache: false,
        };
        crate::FeatureDir::write(dir, &request, &feats, metadata)?;
        progress.inc(&sample.id);
    }
    Ok((s.len(), tag))
}
