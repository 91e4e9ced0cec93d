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
//! | [`synthetic`] | generated scenes, transformation sets, videos | in-memory, seeded |

pub mod ade20k;
pub mod bdd100k;
pub mod camvid;
pub mod cityscapes;
pub mod davis;
pub mod error;
pub mod fair1m;
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
