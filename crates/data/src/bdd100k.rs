//! BDD100K MOT 2020 (`box_track_20`) tracking annotations (protocol §8).
//!
//! Layout: `images/track/<split>/<video>/<frame name>.jpg` and `labels/box_track_20/<split>/<video>.json`.
//! A label file is a JSON list of frames `{name, videoName, frameIndex, labels: [{id, category,
//! attributes: {occluded, truncated, crowd}, box2d: {x1, y1, x2, y2}}]}`. Frames are 1280×720.
//! Annotations of one video are small and parsed eagerly; frame images are decoded on demand.

use std::path::{Path, PathBuf};

use patchlens_image::ImageU8;
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result, io_err};
use crate::sample::{list_files, read_rgb, require_dir, stem_without};

/// BDD100K MOT categories: the 8 evaluated ones (ids 0–7) then the 3 ignored ones (8–10).
pub const BDD_CATEGORIES: [&str; 11] = [
    "pedestrian",
    "rider",
    "car",
    "truck",
    "bus",
    "train",
    "motorcycle",
    "bicycle",
    "other person",
    "other vehicle",
    "trailer",
];
/// Number of evaluated categories (the first ones of [`BDD_CATEGORIES`]).
pub const NUM_EVAL_CATEGORIES: usize = 8;
/// Frame size (width, height).
pub const FRAME_SIZE: (usize, usize) = (1280, 720);
/// The study's videos: the first 4 label files of `val` in sorted order (protocol §8, inferred).
pub const STUDY_VIDEOS: [&str; 4] = [
    "b1c66a42-6f7d68ca",
    "b1c81faa-3df17267",
    "b1c81faa-c80764c5",
    "b1c9c847-3bda4659",
];
/// Frame gaps of the tracking protocol: Δ = 1, 3, 5, …, 59.
pub fn frame_gaps() -> Vec<usize> {
    (1..=59).step_by(2).collect()
}

/// Index of a category name in [`BDD_CATEGORIES`].
pub fn category_id(name: &str) -> Option<u8> {
    BDD_CATEGORIES
        .iter()
        .position(|c| *c == name)
        .map(|i| i as u8)
}

/// One ground-truth box of a tracked object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackBox {
    /// Track id (unique within a video).
    pub track_id: String,
    /// Category name.
    pub category: String,
    /// Index into [`BDD_CATEGORIES`].
    pub category_id: u8,
    /// Box `[x1, y1, x2, y2]` in frame pixels.
    pub bbox: [f32; 4],
    /// Occluded flag.
    pub occluded: bool,
    /// Truncated flag.
    pub truncated: bool,
    /// Crowd flag.
    pub crowd: bool,
}

/// The annotations of one frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackFrame {
    /// Image file name (e.g. `b1c66a42-6f7d68ca-0000001.jpg`).
    pub name: String,
    /// Frame index within the video (0-based).
    pub frame_index: usize,
    /// Boxes.
    pub boxes: Vec<TrackBox>,
}

/// One video: frame annotations and where its images live.
#[derive(Clone, Debug, PartialEq)]
pub struct BddVideo {
    /// Video name.
    pub name: String,
    /// Its image folder.
    pub image_dir: PathBuf,
    /// Frames sorted by `frame_index`.
    pub frames: Vec<TrackFrame>,
}

#[derive(Deserialize)]
struct RawBox2d {
    x1: f32,
    y1: f32,
    x2: f32,
    y2: f32,
}

#[derive(Deserialize, Default)]
struct RawAttributes {
    #[serde(default)]
    occluded: bool,
    #[serde(default)]
    truncated: bool,
    #[serde(default)]
    crowd: bool,
}

#[derive(Deserialize)]
struct RawLabel {
    id: serde_json::Value,
    category: String,
    #[serde(default)]
    attributes: Option<RawAttributes>,
    box2d: Option<RawBox2d>,
}

#[derive(Deserialize)]
struct RawFrame {
    name: String,
    #[serde(rename = "videoName")]
    video_name: Option<String>,
    #[serde(rename = "frameIndex")]
    frame_index: usize,
    #[serde(default)]
    labels: Option<Vec<RawLabel>>,
}

/// Label-file path of a video.
pub fn label_path(root: &Path, split: &str, video: &str) -> PathBuf {
    root.join("labels")
        .join("box_track_20")
        .join(split)
        .join(format!("{video}.json"))
}

/// Video names of a split (label files sorted by name).
pub fn list_videos(root: &Path, split: &str) -> Result<Vec<String>> {
    let dir = root.join("labels").join("box_track_20").join(split);
    require_dir("bdd100k", root, &dir)?;
    Ok(list_files(&dir, ".json")?
        .iter()
        .map(|p| stem_without(p, ".json"))
        .collect())
}

/// Parse a `box_track_20` label file for `video` (annotations only).
pub fn parse_labels(path: &Path, video: &str) -> Result<Vec<TrackFrame>> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    let raw: Vec<RawFrame> = serde_json::from_str(&text).map_err(|e| DataError::Parse {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let perr = |reason: String| DataError::Parse {
        path: path.to_path_buf(),
        reason,
    };
    let mut frames = Vec::with_capacity(raw.len());
    for f in raw {
        if let Some(v) = &f.video_name
            && v != video
        {
            return Err(perr(format!(
                "frame {} has videoName {v:?}, expected {video:?}",
                f.name
            )));
        }
        let mut boxes = Vec::new();
        for l in f.labels.unwrap_or_default() {
            let track_id = match &l.id {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                other => {
                    return Err(perr(format!(
                        "frame {}: label id {other} is not a string or number",
                        f.name
                    )));
                }
            };
            let category_id = category_id(&l.category).ok_or_else(|| {
                perr(format!(
                    "frame {}: unknown category {:?} (track {track_id})",
                    f.name, l.category
                ))
            })?;
            let b = l
                .box2d
                .ok_or_else(|| perr(format!("frame {}: track {track_id} has no box2d", f.name)))?;
            let ok = [b.x1, b.y1, b.x2, b.y2].iter().all(|v| v.is_finite())
                && b.x2 >= b.x1
                && b.y2 >= b.y1;
            if !ok {
                return Err(perr(format!(
                    "frame {}: track {track_id} has an invalid box ({}, {}, {}, {})",
                    f.name, b.x1, b.y1, b.x2, b.y2
                )));
            }
            let a = l.attributes.unwrap_or_default();
            boxes.push(TrackBox {
                track_id,
                category: l.category,
                category_id,
                bbox: [b.x1, b.y1, b.x2, b.y2],
                occluded: a.occluded,
                truncated: a.truncated,
                crowd: a.crowd,
            });
        }
        frames.push(TrackFrame {
            name: f.name,
            frame_index: f.frame_index,
            boxes,
        });
    }
    frames.sort_by_key(|f| f.frame_index);
    Ok(frames)
}

/// Open one video of `split`: parse its labels and check that every frame image exists (all missing
/// images are listed in one error).
pub fn open_video(root: &Path, split: &str, video: &str) -> Result<BddVideo> {
    let lp = label_path(root, split, video);
    if !lp.is_file() {
        return Err(DataError::MissingFiles {
            dataset: "bdd100k",
            root: root.to_path_buf(),
            missing: vec![lp],
        });
    }
    let frames = parse_labels(&lp, video)?;
    let image_dir = root.join("images").join("track").join(split).join(video);
    let missing: Vec<PathBuf> = frames
        .iter()
        .map(|f| image_dir.join(&f.name))
        .filter(|p| !p.is_file())
        .collect();
    if !missing.is_empty() {
        return Err(DataError::MissingFiles {
            dataset: "bdd100k",
            root: root.to_path_buf(),
            missing,
        });
    }
    Ok(BddVideo {
        name: video.to_owned(),
        image_dir,
        frames,
    })
}

impl BddVideo {
    /// Image path of frame `i` (index into `frames`).
    pub fn image_path(&self, i: usize) -> Option<PathBuf> {
        self.frames.get(i).map(|f| self.image_dir.join(&f.name))
    }

    /// Decode frame `i` as RGB `[720, 1280, 3]`.
    pub fn load_image(&self, i: usize) -> Result<ImageU8> {
        let p = self.image_path(i).ok_or_else(|| {
            crate::error::invalid(
                "frame",
                i,
                format!("video {} has {} frames", self.name, self.frames.len()),
            )
        })?;
        read_rgb(&p)
    }

    /// Iterate over `(annotations, decoded image)` in frame order.
    pub fn iter(&self) -> impl Iterator<Item = Result<(&TrackFrame, ImageU8)>> + '_ {
        self.frames
            .iter()
            .enumerate()
            .map(move |(i, f)| self.load_image(i).map(|img| (f, img)))
    }
}
