//! Content keys: what a shard of features depends on, hashed into a 64-hex-digit name.

use crate::error::StoreError;
use crate::hash::finish_hex;
use sha2::{Digest, Sha256};

/// Domain-separation tag hashed before the fields (bump when the key layout changes).
const KEY_DOMAIN: &[u8] = b"patchlens-store/key/v1";

/// Everything a feature shard depends on.
///
/// Two shards with equal specs hold the same features; change any field and the key changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    /// Model identifier, e.g. a zoo name such as `"dinov2_vitb14"`.
    pub model_id: String,
    /// sha256 (hex) of the weights file (see [`crate::sha256_file`]).
    pub weights_sha256: String,
    /// Layer the tokens come from (1-based block index, as in the protocol).
    pub layer: u32,
    /// A canonical description of the preprocessing / protocol (tiling, resize kernel, normalisation,
    /// degradation parameters, ...). Any string; it is hashed verbatim.
    pub preprocessing: String,
    /// Dataset name (and split), e.g. `"cityscapes/set4_72"`.
    pub dataset: String,
    /// Ids of the images in this shard, in shard order.
    pub image_ids: Vec<String>,
}

/// A shard key: the lowercase hex sha256 of a [`KeySpec`] (64 characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardKey(String);

impl ShardKey {
    /// Derives the key of `spec`.
    ///
    /// The hashed message is the domain tag `patchlens-store/key/v1` followed by each field as
    /// `u64` little-endian byte length + UTF-8 bytes, in the order model id, weights sha256, layer
    /// (decimal), preprocessing, dataset, then the number of image ids (`u64` LE) and each id
    /// (length-prefixed). Length prefixes make the encoding unambiguous.
    pub fn derive(spec: &KeySpec) -> ShardKey {
        let mut h = Sha256::new();
        h.update(KEY_DOMAIN);
        let mut field = |b: &[u8]| {
            h.update((b.len() as u64).to_le_bytes());
            h.update(b);
        };
        field(spec.model_id.as_bytes());
        field(spec.weights_sha256.as_bytes());
        field(spec.layer.to_string().as_bytes());
        field(spec.preprocessing.as_bytes());
        field(spec.dataset.as_bytes());
        h.update((spec.image_ids.len() as u64).to_le_bytes());
        for id in &spec.image_ids {
            h.update((id.len() as u64).to_le_bytes());
            h.update(id.as_bytes());
        }
        ShardKey(finish_hex(h))
    }

    /// Parses a key from its 64-digit lowercase hex form.
    pub fn from_hex(s: &str) -> Result<ShardKey, StoreError> {
        if is_key(s) {
            Ok(ShardKey(s.to_owned()))
        } else {
            Err(StoreError::InvalidKey(s.to_owned()))
        }
    }

    /// The 64-digit lowercase hex form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ShardKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// True if `s` is 64 lowercase hex digits.
pub(crate) fn is_key(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
