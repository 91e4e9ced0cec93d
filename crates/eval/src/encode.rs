//! Where patch tokens come from: a [`Backbone`] (batched on its device, cached in the feature store) or
//! features computed elsewhere ([`FeatureDir`]). Every experiment asks a [`TokenSource`] for the tokens
//! of one image at a time.
//!
//! With a backbone ([`ModelTokens`]), one image's tiles (already preprocessed, `[3, H, W]` planar f32
//! each) are encoded in device batches in one pass for all requested layers, and each (image, layer) is
//! stored as one shard `features [tiles·rows·cols, D]` keyed by (model, weights sha256, layer,
//! preprocessing description, dataset, image id). Re-runs read the shards; an interrupted run resumes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use patchlens_report::ModelInfo;
use patchlens_store::{FeatureStore, KeySpec, Shard, ShardKey};
use patchlens_vit::{Device, Family, Tensor, TensorData};

use crate::error::{Context, EvalError, Result, bail, ensure, err};
use crate::model::{Backbone, InputNorm};

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

/// One image of a dataset, as a token source sees it.
#[derive(Clone, Copy, Debug)]
pub struct ImageRequest<'a> {
    /// Dataset / split tag (`camvid/train`, `synthetic/train-seed0`, `davis2017`): a cache-key part and
    /// the folder of precomputed features.
    pub dataset: &'a str,
    /// Canonical description of the preprocessing (a cache-key part; recorded with precomputed features).
    pub preprocessing: &'a str,
    /// Image id, unique within `dataset`.
    pub image_id: &'a str,
    /// Model input height of every tile.
    pub height: usize,
    /// Model input width of every tile.
    pub width: usize,
    /// Whether computed tokens are worth caching (false for inputs read once, e.g. degraded copies).
    pub cache: bool,
}

/// Produces the model input of an image on demand: one `[3, H, W]` planar normalised tile each.
pub type TileFn<'a> = dyn FnMut() -> Result<Vec<Vec<f32>>> + 'a;

/// A source of patch tokens: what every experiment needs to know about "the model".
pub trait TokenSource {
    /// The model as recorded in results.
    fn info(&self) -> ModelInfo;
    /// Name (results, file names).
    fn name(&self) -> &str;
    /// Checkpoint family (decides e.g. the linear probe's BatchNorm for MAE-type models).
    fn family(&self) -> Family;
    /// Patch size in pixels.
    fn patch_size(&self) -> usize;
    /// Number of layers (blocks).
    fn depth(&self) -> usize;
    /// Token width D.
    fn embed_dim(&self) -> usize;
    /// Native input side of the model (its position grid times the patch size).
    fn native_size(&self) -> usize;
    /// Input normalisation the tiles must have.
    fn norm(&self) -> InputNorm;
    /// The study's name for the model in its published numbers, if any.
    fn paper_model(&self) -> Option<&str>;
    /// Device for probes (linear-probe training, device k-NN); `Device::flex()` means the host paths.
    fn device(&self) -> Device;
    /// Tokens of one image at `layers` (`tiles` runs only when they must be computed).
    fn tokens(
        &self,
        image: &ImageRequest<'_>,
        layers: &[usize],
        tiles: &mut TileFn<'_>,
    ) -> Result<BTreeMap<usize, ImageFeatures>>;

    /// Tiles worth encoding together (a backbone's device batch): callers hand [`TokenSource::tokens_batch`]
    /// at least this many tiles at a time when they can.
    fn batch_hint(&self) -> usize {
        1
    }

    /// Tokens of several images of equal tile size at `layers`; `tiles(i)` produces image i's tiles and
    /// runs only when they must be computed. The default asks [`TokenSource::tokens`] image by image; a
    /// backbone fills its device batches with the tiles of many images.
    fn tokens_batch(
        &self,
        images: &[ImageRequest<'_>],
        layers: &[usize],
        tiles: &mut dyn FnMut(usize) -> Result<Vec<Vec<f32>>>,
    ) -> Result<Vec<BTreeMap<usize, ImageFeatures>>> {
        images
            .iter()
            .enumerate()
            .map(|(i, r)| self.tokens(r, layers, &mut || tiles(i)))
            .collect()
    }
}

/// Tokens from a backbone, batched on its device, cached in `store`.
pub struct ModelTokens<'a> {
    /// The model.
    pub model: &'a Backbone,
    /// Tiles per forward pass.
    pub device_batch: usize,
    /// Feature cache (`None`: no caching).
    pub store: Option<&'a FeatureStore>,
}

impl<'a> ModelTokens<'a> {
    /// `model` with `store` and `device_batch` tiles per forward pass.
    pub fn new(model: &'a Backbone, store: Option<&'a FeatureStore>, device_batch: usize) -> Self {
        Self {
            model,
            device_batch: device_batch.max(1),
            store,
        }
    }

    fn key(&self, image: &ImageRequest<'_>, layer: usize) -> ShardKey {
        // Tokens of another precision are other tokens: f16 / bf16 runs cache under `<name>@<precision>`
        // (f32 keeps the plain name, so existing caches stay valid).
        let model_id = match self.model.vit.precision() {
            patchlens_vit::Precision::F32 => self.model.name.clone(),
            p => format!("{}@{p}", self.model.name),
        };
        ShardKey::derive(&KeySpec {
            model_id,
            weights_sha256: self.model.weights_sha256.clone(),
            layer: layer as u32,
            preprocessing: image.preprocessing.to_string(),
            dataset: image.dataset.to_string(),
            image_ids: vec![image.image_id.to_string()],
        })
    }

    /// Encode tiles (each `[3, h, w]`) without caching: per layer `[tiles·rows·cols, D]`.
    pub fn encode_tiles(
        &self,
        tiles: &[Vec<f32>],
        h: usize,
        w: usize,
        layers: &[usize],
    ) -> Result<BTreeMap<usize, ImageFeatures>> {
        let mut enc = BatchEncoder::new(self, h, w, layers);
        for t in tiles {
            enc.push(t)?;
        }
        enc.finish()
    }
}

/// Fills device batches of `device_batch` tiles and keeps one batch in flight: a full batch is launched
/// (on a GPU backend the forward pass is queued and returns at once) and the previous one is read back only
/// after it, so the CPU prepares the next tiles (decode, resize, normalise) while the device computes. On
/// the flex host path every call completes where it is made; the tokens are the same either way.
struct BatchEncoder<'m, 'a> {
    tokens: &'m ModelTokens<'a>,
    h: usize,
    w: usize,
    layers: &'m [usize],
    buffer: Vec<f32>,
    buffered: usize,
    in_flight: Option<patchlens_vit::ForwardOutput>,
    per_layer: BTreeMap<usize, Vec<f32>>,
}

impl<'m, 'a> BatchEncoder<'m, 'a> {
    fn new(tokens: &'m ModelTokens<'a>, h: usize, w: usize, layers: &'m [usize]) -> Self {
        Self {
            tokens,
            h,
            w,
            layers,
            buffer: Vec::new(),
            buffered: 0,
            in_flight: None,
            per_layer: layers.iter().map(|&l| (l, Vec::new())).collect(),
        }
    }

    /// Adds one tile `[3, h, w]`; launches a batch when `device_batch` tiles are buffered.
    fn push(&mut self, tile: &[f32]) -> Result<()> {
        let (h, w) = (self.h, self.w);
        ensure!(
            tile.len() == 3 * h * w,
            "tile has {} values, expected 3x{h}x{w}",
            tile.len()
        );
        self.buffer.extend_from_slice(tile);
        self.buffered += 1;
        if self.buffered >= self.tokens.device_batch.max(1) {
            self.launch()?;
        }
        Ok(())
    }

    /// Queues the buffered tiles' forward pass, then reads back the batch launched before it.
    fn launch(&mut self) -> Result<()> {
        if self.buffered == 0 {
            return Ok(());
        }
        let vit = &self.tokens.model.vit;
        let flat = std::mem::take(&mut self.buffer);
        let x = Tensor::<4>::from_data(
            TensorData::new(flat, [self.buffered, 3, self.h, self.w]),
            vit.device(),
        );
        self.buffered = 0;
        let launched = vit.forward_layers(x, self.layers)?;
        if let Some(done) = self.in_flight.replace(launched) {
            self.collect(done)?;
        }
        Ok(())
    }

    fn collect(&mut self, out: patchlens_vit::ForwardOutput) -> Result<()> {
        for lt in out.layers {
            let v = lt
                .patches
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| err!("reading layer {} tokens: {e:?}", lt.layer))?;
            self.per_layer
                .get_mut(&lt.layer)
                .context("the backbone returned a layer that was not requested")?
                .extend(v);
        }
        Ok(())
    }

    /// Launches what is buffered, reads everything back: per layer `[tiles·rows·cols, D]`.
    fn finish(mut self) -> Result<BTreeMap<usize, ImageFeatures>> {
        self.launch()?;
        if let Some(done) = self.in_flight.take() {
            self.collect(done)?;
        }
        let p = self.tokens.model.vit.config.patch_size;
        let (rows, cols, dim) = (
            self.h / p,
            self.w / p,
            self.tokens.model.vit.config.embed_dim,
        );
        Ok(self
            .per_layer
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

impl TokenSource for ModelTokens<'_> {
    fn info(&self) -> ModelInfo {
        self.model.info()
    }
    fn name(&self) -> &str {
        &self.model.name
    }
    fn family(&self) -> Family {
        self.model.family
    }
    fn patch_size(&self) -> usize {
        self.model.config().patch_size
    }
    fn depth(&self) -> usize {
        self.model.config().depth
    }
    fn embed_dim(&self) -> usize {
        self.model.config().embed_dim
    }
    fn native_size(&self) -> usize {
        self.model.config().img_size
    }
    fn norm(&self) -> InputNorm {
        self.model.norm
    }
    fn paper_model(&self) -> Option<&str> {
        self.model.paper_model.as_deref()
    }
    fn device(&self) -> Device {
        self.model.device().clone()
    }
    fn batch_hint(&self) -> usize {
        self.device_batch
    }

    fn tokens(
        &self,
        image: &ImageRequest<'_>,
        layers: &[usize],
        tiles: &mut TileFn<'_>,
    ) -> Result<BTreeMap<usize, ImageFeatures>> {
        let mut out = self.tokens_batch(std::slice::from_ref(image), layers, &mut |_| tiles())?;
        Ok(out.pop().unwrap_or_default())
    }

    fn tokens_batch(
        &self,
        images: &[ImageRequest<'_>],
        layers: &[usize],
        tiles: &mut dyn FnMut(usize) -> Result<Vec<Vec<f32>>>,
    ) -> Result<Vec<BTreeMap<usize, ImageFeatures>>> {
        let p = self.patch_size();
        let dim = self.embed_dim();
        // Cached layers first; per image, the layers still to compute.
        let mut out: Vec<BTreeMap<usize, ImageFeatures>> = Vec::with_capacity(images.len());
        let mut missing: Vec<Vec<usize>> = Vec::with_capacity(images.len());
        for image in images {
            let (rows, cols) = (image.height / p, image.width / p);
            let mut found = BTreeMap::new();
            let mut todo = Vec::new();
            for &l in layers {
                match self.store.map(|s| s.get(&self.key(image, l))).transpose()? {
                    Some(Some(shard)) if shard.dim() == dim => {
                        let (features, _, _) = shard.into_parts();
                        found.insert(
                            l,
                            ImageFeatures {
                                rows,
                                cols,
                                dim,
                                features,
                            },
                        );
                    }
                    _ => todo.push(l),
                }
            }
            out.push(found);
            missing.push(todo);
        }
        // Images with missing layers are encoded together, filling device batches across images (runs of
        // consecutive images of one tile size).
        let todo: Vec<usize> = (0..images.len())
            .filter(|&i| !missing[i].is_empty())
            .collect();
        for group in todo.chunk_by(|&a, &b| {
            (images[a].height, images[a].width) == (images[b].height, images[b].width)
        }) {
            let (h, w) = (images[group[0]].height, images[group[0]].width);
            let mut all_layers: Vec<usize> = group
                .iter()
                .flat_map(|&i| missing[i].iter().copied())
                .collect();
            all_layers.sort_unstable();
            all_layers.dedup();
            // Tiles are made image by image while the previous batch runs on the device.
            let mut enc = BatchEncoder::new(self, h, w, &all_layers);
            let mut counts = Vec::with_capacity(group.len());
            for &i in group {
                let t = tiles(i)?;
                counts.push(t.len());
                for tile in &t {
                    enc.push(tile)?;
                }
            }
            let computed = enc.finish()?;
            let per_tile = (h / p) * (w / p) * dim;
            let mut start = 0;
            for (&i, &n) in group.iter().zip(&counts) {
                let image = &images[i];
                for &l in &missing[i] {
                    let f = &computed[&l];
                    let feats = ImageFeatures {
                        rows: f.rows,
                        cols: f.cols,
                        dim,
                        features: f.features[start * per_tile..(start + n) * per_tile].to_vec(),
                    };
                    if let Some(store) = self.store.filter(|_| image.cache) {
                        let shard = Shard::new(feats.features.clone(), dim, None)?
                            .with_metadata("image_id", image.image_id)?
                            .with_metadata("layer", l.to_string())?;
                        store.put(&self.key(image, l), &shard)?;
                    }
                    out[i].insert(l, feats);
                }
                start += n;
            }
        }
        Ok(out)
    }
}

/// A token source that keeps every cacheable image's tokens in memory (up to `budget_bytes`) so that
/// later experiments of the same model reuse them without the disk cache: the suite runner wraps each
/// model's source in one for all of that model's units.
pub struct Memo<'a> {
    inner: &'a dyn TokenSource,
    budget_bytes: usize,
    used: std::cell::Cell<usize>,
    map: std::cell::RefCell<std::collections::HashMap<(String, usize), ImageFeatures>>,
}

impl<'a> Memo<'a> {
    /// Memoise `inner`'s tokens up to `budget_bytes` of features.
    pub fn new(inner: &'a dyn TokenSource, budget_bytes: usize) -> Self {
        Self {
            inner,
            budget_bytes,
            used: std::cell::Cell::new(0),
            map: Default::default(),
        }
    }

    fn key(image: &ImageRequest<'_>) -> String {
        format!(
            "{}\u{0}{}\u{0}{}\u{0}{}x{}",
            image.dataset, image.preprocessing, image.image_id, image.height, image.width
        )
    }
}

/// The [`TokenSource`] methods that describe the model, forwarded to the field `$inner` (a wrapper that
/// changes only how tokens are produced: [`Memo`], or a recorder around any source).
#[macro_export]
macro_rules! forward_token_source_description {
    ($inner:ident) => {
        fn info(&self) -> $crate::__macro_support::ModelInfo {
            self.$inner.info()
        }
        fn name(&self) -> &str {
            self.$inner.name()
        }
        fn family(&self) -> $crate::__macro_support::Family {
            self.$inner.family()
        }
        fn patch_size(&self) -> usize {
            self.$inner.patch_size()
        }
        fn depth(&self) -> usize {
            self.$inner.depth()
        }
        fn embed_dim(&self) -> usize {
            self.$inner.embed_dim()
        }
        fn native_size(&self) -> usize {
            self.$inner.native_size()
        }
        fn norm(&self) -> $crate::InputNorm {
            self.$inner.norm()
        }
        fn paper_model(&self) -> Option<&str> {
            self.$inner.paper_model()
        }
        fn device(&self) -> $crate::__macro_support::Device {
            self.$inner.device()
        }
        fn batch_hint(&self) -> usize {
            self.$inner.batch_hint()
        }
    };
}

impl TokenSource for Memo<'_> {
    forward_token_source_description!(inner);

    fn tokens(
        &self,
        image: &ImageRequest<'_>,
        layers: &[usize],
        tiles: &mut TileFn<'_>,
    ) -> Result<BTreeMap<usize, ImageFeatures>> {
        let mut out = self.tokens_batch(std::slice::from_ref(image), layers, &mut |_| tiles())?;
        Ok(out.pop().unwrap_or_default())
    }

    fn tokens_batch(
        &self,
        images: &[ImageRequest<'_>],
        layers: &[usize],
        tiles: &mut dyn FnMut(usize) -> Result<Vec<Vec<f32>>>,
    ) -> Result<Vec<BTreeMap<usize, ImageFeatures>>> {
        let keys: Vec<String> = images.iter().map(Self::key).collect();
        let mut out: Vec<BTreeMap<usize, ImageFeatures>> = vec![BTreeMap::new(); images.len()];
        let mut todo = Vec::new();
        {
            let map = self.map.borrow();
            for (i, image) in images.iter().enumerate() {
                let hit: Option<BTreeMap<usize, ImageFeatures>> = image
                    .cache
                    .then(|| {
                        layers
                            .iter()
                            .map(|&l| map.get(&(keys[i].clone(), l)).map(|f| (l, f.clone())))
                            .collect()
                    })
                    .flatten();
                match hit {
                    Some(h) => out[i] = h,
                    None => todo.push(i),
                }
            }
        }
        if todo.is_empty() {
            return Ok(out);
        }
        let sub: Vec<ImageRequest<'_>> = todo.iter().map(|&i| images[i]).collect();
        let computed = self
            .inner
            .tokens_batch(&sub, layers, &mut |j| tiles(todo[j]))?;
        let mut map = self.map.borrow_mut();
        for (&i, feats) in todo.iter().zip(computed) {
            if images[i].cache {
                for (&l, f) in &feats {
                    let bytes = f.features.len() * 4;
                    if self.used.get() + bytes <= self.budget_bytes {
                        self.used.set(self.used.get() + bytes);
                        map.insert((keys[i].clone(), l), f.clone());
                    }
                }
            }
            out[i] = feats;
        }
        Ok(out)
    }
}

/// The normalisation part of a preprocessing description: `imagenet-norm` for ImageNet's (so cache keys
/// made before per-model normalisation stay valid), else the values.
pub fn norm_tag(norm: &InputNorm) -> String {
    if *norm == InputNorm::default() {
        "imagenet-norm".into()
    } else {
        format!("norm(mean={:?},std={:?})", norm.mean, norm.std)
    }
}

/// Metadata key of precomputed feature files: the preprocessing description they were made with.
pub const META_PREPROCESSING: &str = "preprocessing";

/// Features computed elsewhere (timm, Hugging Face, JAX, or `cargo xtask embed --dataset`), one
/// safetensors file per image: `<dir>/<dataset tag>/<image id>.safetensors` (the dataset tag of a split,
/// e.g. `camvid/train`; image ids as the dataset reader names them), holding
///
/// * `layer{l}`: float32 `[tiles, rows·cols, D]` (or `[rows·cols, D]` for one tile): the final-norm patch
///   tokens of layer l (block l followed by the final norm), tiles in the protocol's row-major tile order,
///   tokens row-major within a tile;
/// * metadata `preprocessing` (optional): the preprocessing description, checked against the run's.
///
/// Its fields state the architecture (patch size, depth, width) the files come from.
#[derive(Clone, Debug)]
pub struct FeatureDir {
    /// The folder.
    pub dir: PathBuf,
    /// Name in results.
    pub name: String,
    /// Family (linear-probe BatchNorm rule; `dino` when unknown).
    pub family: Family,
    /// Patch size the tokens were made with.
    pub patch_size: usize,
    /// Layers the files hold at most (1-based; `layer` requests above it are errors).
    pub depth: usize,
    /// Token width D.
    pub embed_dim: usize,
    /// Native input side (for protocols that scale to it).
    pub native_size: usize,
    /// The study's name for the model, if any.
    pub paper_model: Option<String>,
}

impl FeatureDir {
    /// The file of `image` in this folder.
    pub fn path(&self, image: &ImageRequest<'_>) -> PathBuf {
        self.dir
            .join(image.dataset)
            .join(format!("{}.safetensors", image.image_id))
    }

    /// Write the features of one image (every layer of `feats`) in this layout, atomically.
    pub fn write(
        dir: &Path,
        image: &ImageRequest<'_>,
        feats: &BTreeMap<usize, ImageFeatures>,
        metadata: &BTreeMap<String, String>,
    ) -> Result<PathBuf> {
        let path = dir
            .join(image.dataset)
            .join(format!("{}.safetensors", image.image_id));
        let mut tensors = BTreeMap::new();
        for (l, f) in feats {
            let per_tile = f.rows * f.cols;
            ensure!(
                per_tile > 0 && f.features.len() % (per_tile * f.dim) == 0,
                "layer {l}: {} values are not whole tiles of {per_tile} tokens x {}",
                f.features.len(),
                f.dim
            );
            let tiles = f.features.len() / (per_tile * f.dim);
            tensors.insert(
                format!("layer{l}"),
                (vec![tiles, per_tile, f.dim], f.features.clone()),
            );
        }
        let mut meta = metadata.clone();
        meta.insert(META_PREPROCESSING.into(), image.preprocessing.to_string());
        crate::safetensors_io::write_f32(&path, &tensors, meta)?;
        Ok(path)
    }
}

impl TokenSource for FeatureDir {
    fn info(&self) -> ModelInfo {
        ModelInfo {
            zoo_name: self.name.clone(),
            weights_sha256: None,
            family: self.family.name().to_string(),
        }
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn family(&self) -> Family {
        self.family
    }
    fn patch_size(&self) -> usize {
        self.patch_size
    }
    fn depth(&self) -> usize {
        self.depth
    }
    fn embed_dim(&self) -> usize {
        self.embed_dim
    }
    fn native_size(&self) -> usize {
        self.native_size
    }
    fn norm(&self) -> InputNorm {
        InputNorm::default()
    }
    fn paper_model(&self) -> Option<&str> {
        self.paper_model.as_deref()
    }
    fn device(&self) -> Device {
        Device::flex()
    }

    fn tokens(
        &self,
        image: &ImageRequest<'_>,
        layers: &[usize],
        _tiles: &mut TileFn<'_>,
    ) -> Result<BTreeMap<usize, ImageFeatures>> {
        let path = self.path(image);
        let bytes = std::fs::read(&path).map_err(|e| {
            EvalError::Io {
                path: path.clone(),
                source: e,
            }
            .context(format!(
                "precomputed features of image `{}` ({}) not found in {}",
                image.image_id,
                image.dataset,
                self.dir.display()
            ))
        })?;
        let what = || format!("{}", path.display());
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).with_context(what)?;
        if let Some(p) = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get(META_PREPROCESSING))
            && p != image.preprocessing
        {
            bail!(
                "{}: features were made with preprocessing `{p}`, this run needs `{}`",
                path.display(),
                image.preprocessing
            );
        }
        let st = safetensors::SafeTensors::deserialize(&bytes).with_context(what)?;
        let (rows, cols) = (
            image.height / self.patch_size,
            image.width / self.patch_size,
        );
        let mut out = BTreeMap::new();
        for &l in layers {
            let name = format!("layer{l}");
            let t = st.tensor(&name).map_err(|_| {
                err!(
                    "{}: no tensor `{name}` (has: {})",
                    path.display(),
                    st.names().join(", ")
                )
            })?;
            let shape = t.shape().to_vec();
            let ok_shape = match shape.as_slice() {
                [n, d] => *n == rows * cols && *d == self.embed_dim,
                [_, n, d] => *n == rows * cols && *d == self.embed_dim,
                _ => false,
            };
            if t.dtype() != safetensors::Dtype::F32 || !ok_shape {
                bail!(
                    "{}: `{name}` must be float32 [tiles, {}, {}] ({rows}x{cols} tokens of width {}), found {:?} {shape:?}",
                    path.display(),
                    rows * cols,
                    self.embed_dim,
                    self.embed_dim,
                    t.dtype()
                );
            }
            let features: Vec<f32> = t
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            out.insert(
                l,
                ImageFeatures {
                    rows,
                    cols,
                    dim: self.embed_dim,
                    features,
                },
            );
        }
        Ok(out)
    }
}
