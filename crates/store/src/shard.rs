//! A shard: a feature matrix `[N, D]` (f32), optional labels `[N]` and free-form metadata,
//! and its safetensors encoding with a checksum.

use crate::error::{CorruptReason, StoreError};
use crate::hash::finish_hex;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};

/// Prefix of metadata keys reserved for the store.
pub const RESERVED_PREFIX: &str = "patchlens.";
/// Metadata key holding the format tag.
pub const META_FORMAT: &str = "patchlens.format";
/// Metadata key holding the shard key.
pub const META_KEY: &str = "patchlens.key";
/// Metadata key holding the sha256 (hex) of the tensor bytes: `features` bytes then `labels` bytes.
pub const META_SHA256: &str = "patchlens.sha256";
/// The format tag written by this version.
pub const FORMAT: &str = "patchlens-store/shard/v1";

/// Per-row labels of a shard, `[N]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Labels {
    /// 8-bit labels (e.g. class ids < 256).
    U8(Vec<u8>),
    /// 16-bit labels.
    U16(Vec<u16>),
    /// 32-bit signed labels (e.g. instance ids, `-1` for void).
    I32(Vec<i32>),
}

impl Labels {
    /// Number of labels.
    pub fn len(&self) -> usize {
        match self {
            Labels::U8(v) => v.len(),
            Labels::U16(v) => v.len(),
            Labels::I32(v) => v.len(),
        }
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Label `i` widened to `i64`, or `None` when out of range.
    pub fn get(&self, i: usize) -> Option<i64> {
        match self {
            Labels::U8(v) => v.get(i).map(|&x| x as i64),
            Labels::U16(v) => v.get(i).map(|&x| x as i64),
            Labels::I32(v) => v.get(i).map(|&x| x as i64),
        }
    }

    fn dtype(&self) -> Dtype {
        match self {
            Labels::U8(_) => Dtype::U8,
            Labels::U16(_) => Dtype::U16,
            Labels::I32(_) => Dtype::I32,
        }
    }

    fn to_le_bytes(&self) -> Vec<u8> {
        match self {
            Labels::U8(v) => v.clone(),
            Labels::U16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Labels::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }
}

/// One cached unit of features.
///
/// `features` is row-major `[n, dim]` f32 (one row per token/patch), `labels` (optional) is `[n]`.
/// `metadata` is free-form; keys starting with `patchlens.` are reserved for the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Shard {
    features: Vec<f32>,
    n: usize,
    dim: usize,
    labels: Option<Labels>,
    metadata: BTreeMap<String, String>,
}

impl Shard {
    /// Builds a shard from row-major `features` `[n, dim]` and optional `labels` `[n]`.
    ///
    /// Errors if `dim == 0`, if `features.len()` is not a multiple of `dim`, or if the label
    /// count differs from `n = features.len() / dim`.
    pub fn new(
        features: Vec<f32>,
        dim: usize,
        labels: Option<Labels>,
    ) -> Result<Shard, StoreError> {
        if dim == 0 {
            return Err(StoreError::InvalidShard("feature dimension is 0".into()));
        }
        if !features.len().is_multiple_of(dim) {
            return Err(StoreError::InvalidShard(format!(
                "{} feature values are not a multiple of dim {dim}",
                features.len()
            )));
        }
        let n = features.len() / dim;
        if let Some(l) = &labels
            && l.len() != n
        {
            return Err(StoreError::InvalidShard(format!(
                "{} labels for {n} feature rows",
                l.len()
            )));
        }
        Ok(Shard {
            features,
            n,
            dim,
            labels,
            metadata: BTreeMap::new(),
        })
    }

    /// Adds a metadata entry (builder style). Errors on a reserved `patchlens.` key.
    pub fn with_metadata(
        mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Shard, StoreError> {
        self.insert_metadata(key, value)?;
        Ok(self)
    }

    /// Inserts a metadata entry. Errors on a reserved `patchlens.` key.
    pub fn insert_metadata(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<(), StoreError> {
        let key = key.into();
        if key.starts_with(RESERVED_PREFIX) {
            return Err(StoreError::ReservedMetadataKey(key));
        }
        self.metadata.insert(key, value.into());
        Ok(())
    }

    /// Row-major features `[n, dim]`.
    pub fn features(&self) -> &[f32] {
        &self.features
    }

    /// Consumes the shard, returning `(features [n, dim], labels [n], metadata)`.
    pub fn into_parts(self) -> (Vec<f32>, Option<Labels>, BTreeMap<String, String>) {
        (self.features, self.labels, self.metadata)
    }

    /// Feature row `i` (`[dim]`), or `None` when `i >= n`.
    pub fn row(&self, i: usize) -> Option<&[f32]> {
        (i < self.n).then(|| &self.features[i * self.dim..(i + 1) * self.dim])
    }

    /// Number of rows `N`.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Feature dimension `D`.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Labels `[N]`, if any.
    pub fn labels(&self) -> Option<&Labels> {
        self.labels.as_ref()
    }

    /// Free-form metadata (without the store's reserved entries).
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// Encodes the shard as a safetensors file image for `key`: tensors `features` `[N, D]` F32 and
    /// (if present) `labels` `[N]`; metadata = user entries + format tag, key and checksum.
    pub(crate) fn encode(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        let fbytes: Vec<u8> = self.features.iter().flat_map(|x| x.to_le_bytes()).collect();
        let lbytes = self.labels.as_ref().map(Labels::to_le_bytes);
        let checksum = checksum(&fbytes, lbytes.as_deref());
        let mut meta: HashMap<String, String> = self
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        meta.insert(META_FORMAT.into(), FORMAT.into());
        meta.insert(META_KEY.into(), key.into());
        meta.insert(META_SHA256.into(), checksum);
        let st =
            |e: safetensors::SafeTensorError| StoreError::InvalidShard(format!("safetensors: {e}"));
        let mut views = vec![(
            "features",
            TensorView::new(Dtype::F32, vec![self.n, self.dim], &fbytes).map_err(st)?,
        )];
        if let (Some(l), Some(lb)) = (&self.labels, &lbytes) {
            views.push((
                "labels",
                TensorView::new(l.dtype(), vec![self.n], lb).map_err(st)?,
            ));
        }
        safetensors::serialize(views, Some(meta)).map_err(st)
    }

    /// Decodes and fully validates a safetensors file image written by [`Shard::encode`] for `key`.
    pub(crate) fn decode(bytes: &[u8], key: &str) -> Result<Shard, CorruptReason> {
        let st =
            SafeTensors::deserialize(bytes).map_err(|e| CorruptReason::Container(e.to_string()))?;
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| CorruptReason::Container(e.to_string()))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let format = meta
            .get(META_FORMAT)
            .ok_or(CorruptReason::MissingMetadata(META_FORMAT))?;
        if format != FORMAT {
            return Err(CorruptReason::UnsupportedFormat(format.clone()));
        }
        let found_key = meta
            .get(META_KEY)
            .ok_or(CorruptReason::MissingMetadata(META_KEY))?;
        if found_key != key {
            return Err(CorruptReason::KeyMismatch {
                found: found_key.clone(),
                expected: key.into(),
            });
        }
        let recorded = meta
            .get(META_SHA256)
            .ok_or(CorruptReason::MissingMetadata(META_SHA256))?;

        let f = st
            .tensor("features")
            .map_err(|_| CorruptReason::MissingTensor("features"))?;
        if f.dtype() != Dtype::F32 {
            return Err(CorruptReason::BadDtype {
                tensor: "features",
                found: f.dtype().to_string(),
                expected: "F32",
            });
        }
        let &[n, dim] = f.shape() else {
            return Err(CorruptReason::BadShape {
                tensor: "features",
                found: f.shape().to_vec(),
                expected: "[N, D]".into(),
            });
        };
        if dim == 0 {
            return Err(CorruptReason::BadShape {
                tensor: "features",
                found: vec![n, dim],
                expected: "D > 0".into(),
            });
        }
        let lview = match st.tensor("labels") {
            Ok(l) => {
                if l.shape() != [n] {
                    return Err(CorruptReason::BadShape {
                        tensor: "labels",
                        found: l.shape().to_vec(),
                        expected: format!("[{n}]"),
                    });
                }
                Some(l)
            }
            Err(_) => None,
        };
        let computed = checksum(f.data(), lview.as_ref().map(|l| l.data()));
        if &computed != recorded {
            return Err(CorruptReason::ChecksumMismatch {
                recorded: recorded.clone(),
                computed,
            });
        }
        let features: Vec<f32> = f
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let labels = match lview {
            None => None,
            Some(l) => Some(match l.dtype() {
                Dtype::U8 => Labels::U8(l.data().to_vec()),
                Dtype::U16 => Labels::U16(
                    l.data()
                        .chunks_exact(2)
                        .map(|c| u16::from_le_bytes([c[0], c[1]]))
                        .collect(),
                ),
                Dtype::I32 => Labels::I32(
                    l.data()
                        .chunks_exact(4)
                        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect(),
                ),
                other => {
                    return Err(CorruptReason::BadDtype {
                        tensor: "labels",
                        found: other.to_string(),
                        expected: "U8, U16 or I32",
                    });
                }
            }),
        };
        let metadata = meta
            .into_iter()
            .filter(|(k, _)| !k.starts_with(RESERVED_PREFIX))
            .collect();
        Ok(Shard {
            features,
            n,
            dim,
            labels,
            metadata,
        })
    }
}

/// sha256 (hex) of the features bytes followed by the labels bytes (if any).
pub(crate) fn checksum(features: &[u8], labels: Option<&[u8]>) -> String {
    let mut h = Sha256::new();
    h.update(features);
    if let Some(l) = labels {
        h.update(l);
    }
    finish_hex(h)
}
