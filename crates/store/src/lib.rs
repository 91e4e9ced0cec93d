//! patchlens-store: a content-addressed cache of patch features.
//!
//! Extracting tokens from a ViT is the expensive step of every experiment; this crate stores the
//! tokens once per *(weights hash, layer, preprocessing, dataset + image ids)* so that re-runs skip
//! extraction and a killed run resumes where it stopped.
//!
//! - A [`KeySpec`] describes what a shard depends on; [`ShardKey::derive`] hashes it (sha256).
//! - A [`Shard`] holds `features [N, D]` f32, optional `labels [N]` ([`Labels`]: u8 / u16 / i32)
//!   and free-form string metadata.
//! - [`FeatureStore`] keeps one safetensors file per key, written atomically (temp file in the same
//!   directory, fsync, rename), with the sha256 of the tensor bytes in the file's metadata,
//!   verified on every read. [`FeatureStore::get_or_compute`] returns the cached shard or runs the
//!   closure; corrupt files are reported as [`StoreWarning`]s and recomputed.
//! - [`sha256_file`] hashes weights files (streaming) and [`sha256_hex`] bytes in memory — the
//!   project's sha256-to-hex helpers; [`write_atomic`] is the project's one atomic file write (temp
//!   file, fsync, rename).
//!
//! ```no_run
//! use patchlens_store::{FeatureStore, KeySpec, Labels, Shard, ShardKey};
//! # fn main() -> Result<(), patchlens_store::StoreError> {
//! let store = FeatureStore::open("cache/features")?;
//! let key = ShardKey::derive(&KeySpec {
//!     model_id: "dinov2_vitb14".into(),
//!     weights_sha256: patchlens_store::sha256_file("weights/dinov2_vitb14.safetensors")?,
//!     layer: 12,
//!     preprocessing: "tile224/bicubic/imagenet-norm".into(),
//!     dataset: "cityscapes/set4_72".into(),
//!     image_ids: vec!["aachen_000000_000019".into()],
//! });
//! let fetched = store.get_or_compute(&key, || {
//!     // ... run the model ...
//!     Shard::new(vec![0.0; 2 * 768], 768, Some(Labels::U8(vec![7, 8])))
//! })?;
//! for w in &fetched.warnings {
//!     eprintln!("warning: {w}");
//! }
//! # Ok(()) }
//! ```

mod atomic;
mod error;
mod hash;
mod key;
mod shard;
mod store;

pub use atomic::write_atomic;
pub use error::{CorruptReason, StoreError, StoreWarning};
pub use hash::{sha256_file, sha256_hex};
pub use key::{KeySpec, ShardKey};
pub use shard::{FORMAT, Labels, META_FORMAT, META_KEY, META_SHA256, RESERVED_PREFIX, Shard};
pub use store::{FeatureStore, Fetched, Origin, SHARD_EXT};
