//! Tiles → patch features per layer, batched on the device, cached in the feature store.
//!
//! Every experiment goes through [`Encoder::encode_image`]: one image's tiles (already preprocessed, `[3, H, W]`
//! planar f32 each) are encoded in device batches in one pass for all requested layers, and each
//! (image, layer) is stored as one shard `features [tiles·rows·cols, D]` keyed by (model, weights sha256, layer,
//! preprocessing description, dataset, image id). Re-runs read the shards; an interrupted run resumes.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use patchlens_store::{FeatureStore, KeySpec, Shard, ShardKey};
use patchlens_vit::{Tensor, TensorData};

use crate::models::LoadedModel;

/// Features of one image for one layer.
#[derive(Clone, Debug)]
pub struct ImageFeatures {
    /// Token grid rows per tile.
    pub rows: usize,
    /// Token grid columns per tile.
    pub cols: usize,
    /// Width D.
    pub dim: usize,
    /// `[tiles · rows · cols, D]`, tiles in the given order, tokens row-major within a tile.
    pub features: Vec<f32>,
}

/// Batched, cached encoding with one model.
pub struct Encoder<'a> {
    /// The model.
    pub model: &'a LoadedModel,
    /// Tiles per forward pass.
    pub device_batch: usize,
    /// Feature cache (None = no caching).
    pub store: Option<&'a FeatureStore>,
    /// Canonical description of the preprocessing (part of the cache key).
    pub preprocessing: String,
    /// Dataset / split name (part of the cache key).
    pub dataset: String,
}

impl Encoder<'_> {
    fn key(&self, layer: usize, image_id: &str) -> ShardKey {
        ShardKey::derive(&KeySpec {
            model_id: self.model.name.clone(),
            weights_sha256: self.model.weights_sha256.clone(),
            layer: layer as u32,
            preprocessing: self.preprocessing.clone(),
            dataset: self.dataset.clone(),
            image_ids: vec![image_id.to_string()],
        })
    }

    /// Encode one image given as `tiles` (each `[3, h, w]` planar) for every layer in `layers`.
    /// `tiles` is only called when some layer is not cached.
    pub fn encode_image(
        &self,
        image_id: &str,
        h: usize,
        w: usize,
        layers: &[usize],
        tiles: impl FnOnce() -> Result<Vec<Vec<f32>>>,
    ) -> Result<BTreeMap<usize, ImageFeatures>> {
        let p = self.model.config().patch_size;
        let (rows, cols, dim) = (h / p, w / p, self.model.config().embed_dim);
        let mut out = BTreeMap::new();
        let mut missing = Vec::new();
        for &l in layers {
            match self
                .store
                .map(|s| s.get(&self.key(l, image_id)))
                .transpose()?
            {
                Some(Some(shard)) if shard.dim() == dim => {
                    let (features, _, _) = shard.into_parts();
                    out.insert(
                        l,
                        ImageFeatures {
                            rows,
                            cols,
                            dim,
                            features,
                        },
                    );
                }
                _ => missing.push(l),
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let tiles = tiles()?;
        let computed = self.encode_tiles(&tiles, h, w, &missing)?;
        for (l, feats) in computed {
            if let Some(store) = self.store {
                let shard = Shard::new(feats.features.clone(), dim, None)?
                    .with_metadata("image_id", image_id)?
                    .with_metadata("layer", l.to_string())?;
                store.put(&self.key(l, image_id), &shard)?;
            }
            out.insert(l, feats);
        }
        Ok(out)
    }

    /// Encode tiles (each `[3, h, w]`) without caching: per layer `[tiles·rows·cols, D]`.
    pub fn encode_tiles(
        &self,
        tiles: &[Vec<f32>],
        h: usize,
        w: usize,
        layers: &[usize],
    ) -> Result<BTreeMap<usize, ImageFeatures>> {
        let vit = &self.model.vit;
        let p = vit.config.patch_size;
        let (rows, cols, dim) = (h / p, w / p, vit.config.embed_dim);
        let mut per_layer: BTreeMap<usize, Vec<f32>> =
            layers.iter().map(|&l| (l, Vec::new())).collect();
        for chunk in tiles.chunks(self.device_batch.max(1)) {
            let b = chunk.len();
            let mut flat = Vec::with_capacity(b * 3 * h * w);
            for t in chunk {
                if t.len() != 3 * h * w {
                    bail!("tile has {} values, expected 3x{h}x{w}", t.len());
                }
                flat.extend_from_slice(t);
            }
            let x = Tensor::<4>::from_data(TensorData::new(flat, [b, 3, h, w]), vit.device());
            let fo = vit.forward_layers(x, layers)?;
            for lt in fo.layers {
                let v = lt
                    .patches
                    .into_data()
                    .try_to_vec::<f32>()
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
                per_layer
                    .get_mut(&lt.layer)
                    .expect("requested layer")
                    .extend(v);
            }
        }
        Ok(per_layer
            .into_iter()
            .map(|(l, features)| {
                (
                    l,
                    ImageFeatures {
                        rows,
                        cols,
                        dim,
                        features,
                    },
                )
            })
            .collect())
    }
}
