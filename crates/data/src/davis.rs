//! DAVIS 2016 / 2017 video object segmentation (480p).
//!
//! Layout: `JPEGImages/480p/<seq>/<frame>.jpg`, `Annotations/480p/<seq>/<frame>.png` and optionally
//! `ImageSets/`: DAVIS 2016 `ImageSets/480p/<split>.txt` (lines `/JPEGImages/480p/<seq>/<frame>.jpg
//! /Annotations/480p/<seq>/<frame>.png`), DAVIS 2017 `ImageSets/2017/<split>.txt` (one sequence name per
//! line). Without a split every sequence folder under `JPEGImages/480p` is used.
//!
//! Masks: DAVIS 2016 stores a binary 0/255 mask, returned as object id 1 (0 = background); DAVIS 2017
//! stores palette indices, one per object (0 = background), returned as they are: ids 1–254 are objects
//! and 255 is **void** (kept as 255 in the mask, as `davis2017-evaluation` reads it: excluded from every
//! object's mask and never an object itself).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use patchlens_image::ImageU8;
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result, io_err};
use crate::sample::{
    LabelCheck, list_dirs, list_files, read_label, read_rgb, require_dir, stem_without,
};
use crate::select::ClassSet;

/// The colour palette of DAVIS annotation PNGs (the PASCAL VOC colour map: index 0 black, 1 (128, 0, 0),
/// 2 (0, 128, 0), 3 (128, 128, 0), 4 (0, 0, 128), …, 255 (224, 224, 192)), for writing predicted masks as
/// indexed PNGs in the layout `davis2017-evaluation` reads (`<results>/<sequence>/<frame>.png`, pixel =
/// palette index = object id). Entry `i` spreads the bits of `i` over the high bits of R, G, B in turn.
pub fn palette() -> [[u8; 3]; 256] {
    let mut p = [[0u8; 3]; 256];
    for (i, rgb) in p.iter_mut().enumerate() {
        let mut c = i;
        for shift in (0..8).rev() {
            for (ch, v) in rgb.iter_mut().enumerate() {
                *v |= (((c >> ch) & 1) as u8) << shift;
            }
            c >>= 3;
        }
    }
    p
}

/// DAVIS edition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DavisVersion {
    /// DAVIS 2016: single object, masks 0/255.
    Davis2016,
    /// DAVIS 2017: multiple objects, palette-index masks.
    Davis2017,
}

/// Largest valid DAVIS 2017 object id.
pub const MAX_OBJECT_ID_2017: u8 = 254;
/// The DAVIS 2017 void value (object boundaries and ambiguous regions; not an object).
pub const VOID_2017: u8 = 255;

/// One frame's files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DavisFrameEntry {
    /// Frame id (file stem, e.g. `00000`).
    pub frame: String,
    /// JPEG file.
    pub image: PathBuf,
    /// Annotation PNG.
    pub annotation: PathBuf,
}

/// One sequence's frames, sorted by frame id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DavisSequence {
    /// Sequence name (e.g. `blackswan`).
    pub name: String,
    /// Frames in order.
    pub frames: Vec<DavisFrameEntry>,
}

/// A decoded frame.
#[derive(Clone, Debug, PartialEq)]
pub struct DavisFrame {
    /// Sequence name.
    pub sequence: String,
    /// Frame index within the sequence.
    pub index: usize,
    /// Frame id (file stem).
    pub frame: String,
    /// RGB image `[H, W, 3]`.
    pub image: ImageU8,
    /// Object-id mask `[H, W, 1]`: 0 background, 1..N objects.
    pub mask: ImageU8,
    /// Object ids present in this frame (0 and the DAVIS 2017 void value 255 excluded).
    pub objects: Vec<u8>,
    /// Number of void pixels (value [`VOID_2017`], DAVIS 2017 only; they stay 255 in `mask`).
    pub void_pixels: u64,
    /// Out-of-range mask pixels (value → count), only under [`LabelCheck::CountAndReplace`] (they are set to 0).
    pub out_of_range: Vec<(u8, u64)>,
}

/// A DAVIS dataset: the list of sequences and frames (paths only; frames are decoded on demand).
#[derive(Clone, Debug)]
pub struct Davis {
    /// Dataset root.
    pub root: PathBuf,
    /// Edition.
    pub version: DavisVersion,
    /// Sequences, sorted by name (or in the ImageSets order).
    pub sequences: Vec<DavisSequence>,
    /// Mask-value policy.
    pub check: LabelCheck,
}

fn dataset_name(v: DavisVersion) -> &'static str {
    match v {
        DavisVersion::Davis2016 => "davis2016",
        DavisVersion::Davis2017 => "davis2017",
    }
}

/// Sequence names of a split from `ImageSets` (see the module docs).
pub fn split_sequences(root: &Path, version: DavisVersion, split: &str) -> Result<Vec<String>> {
    let file = match version {
        DavisVersion::Davis2016 => root
            .join("ImageSets")
            .join("480p")
            .join(format!("{split}.txt")),
        DavisVersion::Davis2017 => root
            .join("ImageSets")
            .join("2017")
            .join(format!("{split}.txt")),
    };
    if !file.is_file() {
        return Err(DataError::MissingFiles {
            dataset: dataset_name(version),
            root: root.to_path_buf(),
            missing: vec![file],
        });
    }
    let text = std::fs::read_to_string(&file).map_err(io_err(&file))?;
    let mut out: Vec<String> = Vec::new();
    let mut seen = BTreeSet::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let seq = match version {
            DavisVersion::Davis2017 => line.to_owned(),
            DavisVersion::Davis2016 => {
                let first = line.split_whitespace().next().unwrap_or("");
                let parts: Vec<&str> = first.trim_start_matches('/').split('/').collect();
                if parts.len() != 4 || parts[0] != "JPEGImages" {
                    return Err(DataError::Parse {
                        path: file.clone(),
                        reason: format!(
                            "line {}: expected /JPEGImages/480p/<seq>/<frame>.jpg, found {first:?}",
                            n + 1
                        ),
                    });
                }
                parts[2].to_owned()
            }
        };
        if seen.insert(seq.clone()) {
            out.push(seq);
        }
    }
    Ok(out)
}

/// Open DAVIS under `root`. With `split` (e.g. `val`), sequences come from `ImageSets`; without, every
/// folder of `JPEGImages/480p`. Every frame without an annotation (and vice versa) and every missing
/// sequence folder is listed in one error.
pub fn open(root: &Path, version: DavisVersion, split: Option<&str>) -> Result<Davis> {
    let name = dataset_name(version);
    let img_root = root.join("JPEGImages").join("480p");
    let ann_root = root.join("Annotations").join("480p");
    require_dir(name, root, &img_root)?;
    let seqs: Vec<String> = match split {
        Some(s) => split_sequences(root, version, s)?,
        None => list_dirs(&img_root)?
            .iter()
            .map(|p| stem_without(p, ""))
            .collect(),
    };
    let mut missing = Vec::new();
    let mut sequences = Vec::new();
    for seq in seqs {
        let (idir, adir) = (img_root.join(&seq), ann_root.join(&seq));
        let mut absent = false;
        for d in [&idir, &adir] {
            if !d.is_dir() {
                missing.push(d.clone());
                absent = true;
            }
        }
        if absent {
            continue;
        }
        let images = list_files(&idir, ".jpg")?;
        let anns: BTreeSet<String> = list_files(&adir, ".png")?
            .iter()
            .map(|p| stem_without(p, ".png"))
            .collect();
        let img_ids: BTreeSet<String> = images.iter().map(|p| stem_without(p, ".jpg")).collect();
        let mut frames = Vec::new();
        for img in images {
            let frame = stem_without(&img, ".jpg");
            let ann = adir.join(format!("{frame}.png"));
            if anns.contains(&frame) {
                frames.push(DavisFrameEntry {
                    frame,
                    image: img,
                    annotation: ann,
                });
            } else {
                missing.push(ann);
            }
        }
        for a in anns.difference(&img_ids) {
            missing.push(idir.join(format!("{a}.jpg")));
        }
        sequences.push(DavisSequence { name: seq, frames });
    }
    if !missing.is_empty() {
        return Err(DataError::MissingFiles {
            dataset: name,
            root: root.to_path_buf(),
            missing,
        });
    }
    Ok(Davis {
        root: root.to_path_buf(),
        version,
        sequences,
        check: LabelCheck::Strict,
    })
}

impl Davis {
    /// Return a copy with another mask-value policy.
    pub fn with_label_check(mut self, check: LabelCheck) -> Self {
        self.check = check;
        self
    }

    /// The sequence called `name`.
    pub fn sequence(&self, name: &str) -> Result<&DavisSequence> {
        self.sequences
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| DataError::UnknownSplit {
                dataset: dataset_name(self.version),
                name: name.to_owned(),
                known: self
                    .sequences
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Total number of frames over all sequences.
    pub fn num_frames(&self) -> usize {
        self.sequences.iter().map(|s| s.frames.len()).sum()
    }

    /// Decode frame `index` of `seq` (image + object mask).
    pub fn load_frame(&self, seq: &DavisSequence, index: usize) -> Result<DavisFrame> {
        let e = seq.frames.get(index).ok_or_else(|| {
            crate::error::invalid(
                "frame index",
                index,
                format!("sequence {} has {} frames", seq.name, seq.frames.len()),
            )
        })?;
        let image = read_rgb(&e.image)?;
        let mut mask = read_label(&e.annotation)?;
        if (image.width, image.height) != (mask.width, mask.height) {
            return Err(DataError::SizeMismatch {
                image: e.image.clone(),
                image_w: image.width,
                image_h: image.height,
                label: e.annotation.clone(),
                label_w: mask.width,
                label_h: mask.height,
            });
        }
        let mut hist = [0u64; 256];
        for &v in &mask.data {
            hist[v as usize] += 1;
        }
        let valid = |v: usize| match self.version {
            DavisVersion::Davis2016 => v == 0 || v == 255,
            DavisVersion::Davis2017 => v <= MAX_OBJECT_ID_2017 as usize || v == VOID_2017 as usize,
        };
        let bad: Vec<(u8, u64)> = (0..256)
            .filter(|&v| hist[v] > 0 && !valid(v))
            .map(|v| (v as u8, hist[v]))
            .collect();
        if let Some(&(value, count)) = bad.first()
            && self.check == LabelCheck::Strict
        {
            let (x, y) = crate::sample::first_pixel(&mask, value);
            return Err(DataError::LabelOutOfRange {
                dataset: dataset_name(self.version),
                path: e.annotation.clone(),
                value,
                count,
                x,
                y,
                valid: match self.version {
                    DavisVersion::Davis2016 => "{0, 255}".to_owned(),
                    DavisVersion::Davis2017 => {
                        format!("0..={MAX_OBJECT_ID_2017} or {VOID_2017} (void)")
                    }
                },
            });
        }
        for v in &mut mask.data {
            *v = match (self.version, *v) {
                (DavisVersion::Davis2016, 255) => 1,
                (_, x) if valid(x as usize) => x,
                _ => 0,
            };
        }
        let void_pixels = match self.version {
            DavisVersion::Davis2016 => 0,
            DavisVersion::Davis2017 => hist[VOID_2017 as usize],
        };
        let objects: Vec<u8> = ClassSet::from_labels(&mask.data)
            .iter()
            .filter(|&o| o != 0 && !(self.version == DavisVersion::Davis2017 && o == VOID_2017))
            .collect();
        Ok(DavisFrame {
            sequence: seq.name.clone(),
            index,
            frame: e.frame.clone(),
            image,
            mask,
            objects,
            void_pixels,
            out_of_range: bad,
        })
    }

    /// Iterate over a sequence's decoded frames in order.
    pub fn frames<'a>(
        &'a self,
        seq: &'a DavisSequence,
    ) -> impl Iterator<Item = Result<DavisFrame>> + 'a {
        (0..seq.frames.len()).map(move |i| self.load_frame(seq, i))
    }
}
