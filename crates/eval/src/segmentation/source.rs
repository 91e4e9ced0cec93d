//! Where a segmentation experiment's images and labels come from: the study's datasets (Cityscapes,
//! ADE20K, CamVid, read by `patchlens-data`), a generic folder layout, or the synthetic scenes of the
//! benchmark (written once as PNG files, then read like any other dataset). Every source gives the same
//! three things: splits of (image, label map) files, the tiling protocol, and the label space.

use std::path::{Path, PathBuf};

use patchlens_data::folder::{self, FolderProtocol};
use patchlens_data::{SegmentationSplit, TileSpec, ade20k, camvid, cityscapes};
use patchlens_metrics::LabelSpace;
use serde::{Deserialize, Serialize};

use crate::encode::TokenSource;
use crate::error::{Context, Result, bail};

/// A segmentation dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dataset", rename_all = "lowercase", deny_unknown_fields)]
pub enum SegSource {
    /// Cityscapes gtFine (labelIds 0–33; 19 evaluation classes): `leftImg8bit/` and `gtFine/` under `root`.
    Cityscapes {
        /// Dataset root.
        root: PathBuf,
    },
    /// ADEChallengeData2016 (ids 0–150; 0 ignored).
    Ade20k {
        /// Dataset root.
        root: PathBuf,
    },
    /// CamVid, SegNet layout (ids 0–11; 11 = void, ignored).
    Camvid {
        /// Dataset root.
        root: PathBuf,
    },
    /// A dataset in the generic folder layout (`images/{train,test}/*.{png,jpg}`, `masks/{train,test}/*.png`
    /// with one class index per pixel and 255 = ignore, `classes.txt`), see [`patchlens_data::folder`];
    /// tiled by `protocol` (default: the ADE20K / CamVid protocol).
    Folder {
        /// Dataset root.
        root: PathBuf,
        /// Tiling protocol.
        #[serde(default)]
        protocol: FolderProtocol,
    },
    /// The synthetic scenes of `patchlens-data` (224², 8 classes + background), written under `root`.
    Synthetic {
        /// Folder the scenes are written to.
        root: PathBuf,
        /// Scene seed (test scenes use `seed + TEST_SEED_OFFSET`).
        seed: u64,
    },
}

impl SegSource {
    /// A study dataset by name (`cityscapes`, `ade20k`, `camvid`) under `root`.
    pub fn named(name: &str, root: impl Into<PathBuf>) -> Result<SegSource> {
        let root = root.into();
        Ok(match name {
            "cityscapes" => SegSource::Cityscapes { root },
            "ade20k" => SegSource::Ade20k { root },
            "camvid" => SegSource::Camvid { root },
            "folder" => SegSource::Folder {
                root,
                protocol: FolderProtocol::default(),
            },
            other => bail!(
                "unknown segmentation dataset `{other}` (cityscapes, ade20k, camvid, folder, synthetic)"
            ),
        })
    }

    /// `cityscapes`, `ade20k`, `camvid`, `folder` or `synthetic`.
    pub fn name(&self) -> &'static str {
        match self {
            SegSource::Cityscapes { .. } => "cityscapes",
            SegSource::Ade20k { .. } => "ade20k",
            SegSource::Camvid { .. } => "camvid",
            SegSource::Folder { .. } => folder::DATASET,
            SegSource::Synthetic { .. } => "synthetic",
        }
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        match self {
            SegSource::Cityscapes { root }
            | SegSource::Ade20k { root }
            | SegSource::Camvid { root }
            | SegSource::Folder { root, .. }
            | SegSource::Synthetic { root, .. } => root,
        }
    }

    /// Whether this is Cityscapes (the study's easy / hard class groups and published numbers apply).
    pub fn is_cityscapes(&self) -> bool {
        matches!(self, SegSource::Cityscapes { .. })
    }

    /// Default training split / pool: Cityscapes `set4_72`, ADE20K `train-select` (the seeded
    /// 4-per-class selection), CamVid `train`, synthetic `train24`.
    pub fn default_train_split(&self) -> &'static str {
        match self {
            SegSource::Cityscapes { .. } => cityscapes::DEFAULT_TRAIN_POOL,
            SegSource::Ade20k { .. } => "train-select",
            SegSource::Camvid { .. } => "train",
            SegSource::Folder { .. } => folder::DEFAULT_TRAIN_SPLIT,
            SegSource::Synthetic { .. } => "train24",
        }
    }

    /// Default test split / pool: Cityscapes `val30`, ADE20K `val-select` (2 per class), CamVid `test`,
    /// synthetic `test12`.
    pub fn default_test_split(&self) -> &'static str {
        match self {
            SegSource::Cityscapes { .. } => cityscapes::VAL_POOL,
            SegSource::Ade20k { .. } => "val-select",
            SegSource::Camvid { .. } => "test",
            SegSource::Folder { .. } => folder::DEFAULT_TEST_SPLIT,
            SegSource::Synthetic { .. } => "test12",
        }
    }

    /// The evaluation label space (raw ids → evaluation classes, ignore ids, palette).
    pub fn label_space(&self) -> Result<LabelSpace> {
        Ok(match self {
            SegSource::Cityscapes { .. } => LabelSpace::cityscapes(),
            SegSource::Ade20k { .. } => LabelSpace::ade20k(),
            SegSource::Camvid { .. } => LabelSpace::camvid(),
            SegSource::Folder { root, .. } => {
                let names = folder::read_classes(&root.join(folder::CLASSES_FILE))?;
                LabelSpace::folder(&names)?
            }
            SegSource::Synthetic { seed, .. } => {
                super::synthetic::label_space(&super::synthetic::scene_config(*seed, false))?
            }
        })
    }

    /// The tiling protocol for `model` (the study's per dataset, by patch size; synthetic: see
    /// [`super::synthetic::tile_spec`]), with the model's input normalisation.
    pub fn tile_spec(&self, model: &dyn TokenSource) -> Result<TileSpec> {
        self.tile_spec_for(model.patch_size(), model.native_size(), model.norm())
    }

    /// [`SegSource::tile_spec`] for a model of patch size `patch`, native input side `native` and input
    /// normalisation `norm`.
    pub fn tile_spec_for(
        &self,
        patch: usize,
        native: usize,
        norm: crate::model::InputNorm,
    ) -> Result<TileSpec> {
        let mut spec = match self {
            SegSource::Synthetic { .. } => super::synthetic::tile_spec(patch, native)?,
            SegSource::Folder { protocol, .. } => protocol.tile_spec(patch).with_context(|| {
                format!("tiling protocol of the folder dataset for patch size {patch}")
            })?,
            other => TileSpec::for_dataset(other.name(), patch).with_context(|| {
                format!("tiling protocol of {} for patch size {patch}", other.name())
            })?,
        };
        spec.mean = norm.mean;
        spec.std = norm.std;
        Ok(spec)
    }

    /// Open split `name`; returns it with its feature-cache tag (`<dataset>/<folder>`: equal images of
    /// overlapping pools share features; relative to the root, so the tag does not depend on where the
    /// data is mounted).
    ///
    /// - Cityscapes: a pool of the study (`set2_36`, `set4_72`, `set4prime_72`, `set8_144`, `val30`)
    ///   or a whole split folder (`train`, `val`, `test`).
    /// - ADE20K: `train-select` / `val-select` (the seeded greedy selection, 4 resp. 2 images per class,
    ///   seed [`ade20k::DEFAULT_SEED`]), or a whole folder `training` / `validation`.
    /// - CamVid: `train`, `val`, `test`.
    /// - Folder: any split folder `images/<name>` (tag `folder/<root folder name>/<name>`).
    /// - Synthetic: `train<N>` / `test<N>` (the first N scenes of the train / test stream).
    pub fn open(&self, name: &str) -> Result<(SegmentationSplit, String)> {
        let root = self.root();
        let ctx = || {
            format!(
                "opening {} split `{name}` under {}",
                self.name(),
                root.display()
            )
        };
        let (split, folder) = match self {
            SegSource::Cityscapes { .. } => {
                if cityscapes::POOL_NAMES.contains(&name) {
                    let folder = cityscapes::pool(name).with_context(ctx)?.split.clone();
                    (cityscapes::open_pool(root, name).with_context(ctx)?, folder)
                } else {
                    (
                        cityscapes::open_split(root, name).with_context(ctx)?,
                        name.to_string(),
                    )
                }
            }
            SegSource::Ade20k { .. } => {
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
                (split.with_context(ctx)?, folder.dir().to_string())
            }
            SegSource::Camvid { .. } => {
                let s = match name {
                    "train" => camvid::CamVidSplit::Train,
                    "val" => camvid::CamVidSplit::Val,
                    "test" => camvid::CamVidSplit::Test,
                    other => bail!("unknown CamVid split `{other}` (known: train, val, test)"),
                };
                (camvid::open(root, s).with_context(ctx)?, name.to_string())
            }
            SegSource::Folder { .. } => {
                let f = folder::open(root, name).with_context(ctx)?;
                let dir = root
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (f.split, format!("{dir}/{name}"))
            }
            SegSource::Synthetic { seed, .. } => {
                return super::synthetic::open_split(root, *seed, name);
            }
        };
        Ok((split, format!("{}/{folder}", self.name())))
    }
}
