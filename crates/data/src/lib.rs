//! patchlens-data: dataset readers in their standard layouts, the study's splits and class tables,
//! tiling into model tiles with centre-pixel patch labels, and a synthetic benchmark.
//!
//! Every reader is lazy: opening a dataset lists and checks *paths* (all missing files are reported at
//! once), and pixels are decoded one item at a time by iterators. Protocol constants live as data in one
//! place per dataset module; [`spec::TileSpec`] (serialisable) records the tiling protocol in results files.
//!
//! | module | dataset | item |
//! |---|---|---|
//! | [`cityscapes`] | Cityscapes gtFine, the study's pools | RGB 2048×1024 + labelIds 0–33 |
//! | [`ade20k`] | ADEChallengeData2016, seeded greedy selection | RGB + labels 0–150 |
//! | [`fair1m`] | FAIR1M chips with XML / DOTA oriented boxes | RGB chip + filled polygon mask (37 classes) |
//! | [`bdd100k`] | BDD100K MOT 2020 | frames, boxes, track ids, categories |
//! | [`davis`] | DAVIS 2016 / 2017 | frames + object masks |
//! | [`camvid`] | CamVid (SegNet layout) | RGB 480×360 + labels 0–11 |
//! | [`folder`] | any dataset in the generic folder layout (below) | RGB + class ids 0..K, 255 = ignore |
//! | [`synthetic`] | generated scenes, transformation sets, videos | in-memory, seeded |
//!
//! # Bring your own dataset: the folder layout
//!
//! A segmentation dataset needs no code if it is laid out as
//!
//! ```text
//! ROOT/classes.txt                     one class name a line (line i = class i, at most 255)
//! ROOT/images/{train,test}/*.{png,jpg}  RGB images (any split name works; train/test are the defaults)
//! ROOT/masks/{train,test}/*.png         same stem as the image; 1 channel, class index per pixel, 255 = ignore
//! ```
//!
//! [`folder::open`] reads a split (all layout problems reported at once, naming the files),
//! [`folder::FolderProtocol`] sets the tiling (default: the ADE20K / CamVid protocol, resize to 672×448,
//! 2×3 tiles of 224, centre-pixel labels), and [`folder::write_from_split`] converts any split into the
//! layout:
//!
//! ```no_run
//! # fn main() -> patchlens_data::Result<()> {
//! use std::path::Path;
//! use patchlens_data::{camvid, folder};
//!
//! // CamVid in the folder layout: void 11 becomes 255.
//! let src = camvid::open(Path::new("CamVid"), camvid::CamVidSplit::Train)?;
//! folder::write_from_split(&src, &camvid::CAMVID_CLASSES, |v| if v == 11 { 255 } else { v },
//!     Path::new("camvid-folder"))?;
//! let train = folder::open(Path::new("camvid-folder"), "train")?;
//! assert_eq!(train.class_names.len(), 11);
//! let spec = folder::FolderProtocol::default().tile_spec(16)?;
//! let first_tiles = patchlens_data::tile_image(&spec, "x", &train.split.load(0)?.image, None)?;
//! assert_eq!(first_tiles.len(), 6);
//! # Ok(())
//! # }
//! ```

pub mod ade20k;
pub mod bdd100k;
pub mod camvid;
pub mod cityscapes;
pub mod davis;
pub mod error;
pub mod fair1m;
pub mod folder;
pub mod sample;
pub mod select;
pub mod spec;
pub mod synthetic;
pub mod tiling;
pub mod transforms;

pub use error::{DataError, Result};
pub use sample::{LabelCheck, SegEntry, SegSample, SegmentationSplit};
pub use select::ClassSet;
pub use spec::{NormalizeOrder, Resample, TileSpec};
pub use tiling::{RawTile, Tile, TileKey, cut_tiles, model_input, tile_image};
