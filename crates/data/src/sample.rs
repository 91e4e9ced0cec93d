//! Items of segmentation datasets, lazy splits, label-range checking and file-system helpers.
//!
//! A [`SegmentationSplit`] holds only *paths* (one [`SegEntry`] per item); pixels are decoded one item
//! at a time by [`SegmentationSplit::load`] / [`SegmentationSplit::iter`], so a dataset is never held in
//! memory. Cityscapes, ADE20K and CamVid are all served through this type.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use patchlens_image::{ImageU8, decode_label, decode_rgb};
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result, io_err};
use crate::spec::TileSpec;
use crate::tiling::{Tile, tile_image};

/// What to do with label ids outside a dataset's valid range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelCheck {
    /// An out-of-range id is an error ([`DataError::LabelOutOfRange`]). The default.
    #[default]
    Strict,
    /// Out-of-range pixels are counted per value (see [`SegSample::out_of_range`]) and replaced by the
    /// dataset's ignore/void id. Must be asked for explicitly.
    CountAndReplace,
}

/// One item of a segmentation split: where its image and label map live.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegEntry {
    /// Dataset-specific image id (e.g. `krefeld_000000_011655`, `ADE_train_00000001`, `0001TP_008550`).
    pub id: String,
    /// The RGB image file.
    pub image: PathBuf,
    /// The label-map file (1-channel PNG of raw class ids).
    pub label: PathBuf,
}

/// A decoded item: RGB image and its label map.
#[derive(Clone, Debug, PartialEq)]
pub struct SegSample {
    /// The item id (see [`SegEntry::id`]).
    pub id: String,
    /// RGB image `[H, W, 3]`.
    pub image: ImageU8,
    /// Label map `[H, W, 1]` of dataset class ids (same size as `image`).
    pub label: ImageU8,
    /// Out-of-range ids found (value → pixel count). Empty under [`LabelCheck::Strict`], where an
    /// out-of-range id is an error instead.
    pub out_of_range: BTreeMap<u8, u64>,
}

/// A lazily loaded list of segmentation items (paths only) with the dataset's label rules.
#[derive(Clone, Debug)]
pub struct SegmentationSplit {
    /// Dataset name (`cityscapes`, `ade20k`, `camvid`, `folder`).
    pub dataset: &'static str,
    /// Split or pool name (e.g. `set4_72`, `validation`, `train`).
    pub split: String,
    /// The dataset root.
    pub root: PathBuf,
    /// The items, in the split's canonical order.
    pub entries: Vec<SegEntry>,
    /// Largest valid label id (Cityscapes 33, ADE20K 150, CamVid 11, a folder dataset of `K` classes
    /// `K − 1`); `ignore_label` is valid too.
    pub label_max: u8,
    /// The void / ignore id: always a valid label value (also above `label_max`: the folder layout's 255),
    /// and the id out-of-range pixels are replaced with under [`LabelCheck::CountAndReplace`].
    pub ignore_label: u8,
    /// Label-range policy.
    pub check: LabelCheck,
    /// Required image size `(width, height)`, if the dataset fixes one (Cityscapes 2048×1024).
    pub expected_size: Option<(usize, usize)>,
}

impl SegmentationSplit {
    /// Number of items.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if the split has no items.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Return a copy with another label-range policy.
    pub fn with_label_check(mut self, check: LabelCheck) -> Self {
        self.check = check;
        self
    }

    /// Decode item `index` (image + label), checking sizes and label range.
    pub fn load(&self, index: usize) -> Result<SegSample> {
        let entry = self.entries.get(index).ok_or_else(|| {
            crate::error::invalid(
                "index",
                index,
                format!("split has {} items", self.entries.len()),
            )
        })?;
        load_entry(self, entry)
    }

    /// Iterate over decoded items in order; each is decoded when reached.
    pub fn iter(&self) -> impl Iterator<Item = Result<SegSample>> + '_ {
        self.entries.iter().map(move |e| load_entry(self, e))
    }

    /// Iterate over the model tiles of every item (see [`tile_image`]), one item decoded at a time.
    pub fn tiles<'a>(&'a self, spec: &'a TileSpec) -> impl Iterator<Item = Result<Tile>> + 'a {
        self.iter().flat_map(move |s| {
            let tiles = s.and_then(|s| tile_image(spec, &s.id, &s.image, Some(&s.label)));
            match tiles {
                Ok(v) => v.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => vec![Err(e)],
            }
        })
    }
}

fn load_entry(split: &SegmentationSplit, entry: &SegEntry) -> Result<SegSample> {
    let image = read_rgb(&entry.image)?;
    let mut label = read_label(&entry.label)?;
    if (image.width, image.height) != (label.width, label.height) {
        return Err(DataError::SizeMismatch {
            image: entry.image.clone(),
            image_w: image.width,
            image_h: image.height,
            label: entry.label.clone(),
            label_w: label.width,
            label_h: label.height,
        });
    }
    if let Some((w, h)) = split.expected_size
        && (image.width, image.height) != (w, h)
    {
        return Err(DataError::UnexpectedSize {
            path: entry.image.clone(),
            expected_w: w,
            expected_h: h,
            found_w: image.width,
            found_h: image.height,
        });
    }
    let out_of_range = check_label_range(
        split.dataset,
        &entry.label,
        &mut label,
        split.label_max,
        split.ignore_label,
        split.check,
    )?;
    Ok(SegSample {
        id: entry.id.clone(),
        image,
        label,
        out_of_range,
    })
}

/// Decode an RGB image, naming the file on failure.
pub fn read_rgb(path: &Path) -> Result<ImageU8> {
    decode_rgb(path).map_err(|source| DataError::Image {
        what: "image",
        path: path.to_path_buf(),
        source: Box::new(source),
    })
}

/// Decode a 1-channel label PNG (raw ids), naming the file on failure.
pub fn read_label(path: &Path) -> Result<ImageU8> {
    decode_label(path).map_err(|source| DataError::Image {
        what: "label",
        path: path.to_path_buf(),
        source: Box::new(source),
    })
}

/// Check every value of `label` against the valid ids `0..=max` and `ignore`.
///
/// `ignore` is always valid, also when it lies above `max` (the folder layout: classes `0..=K−1`, ignore
/// 255). Under [`LabelCheck::Strict`] the smallest invalid value is an error naming the file, the value,
/// its pixel count and the first pixel holding it. Under [`LabelCheck::CountAndReplace`] offending pixels
/// are replaced by `ignore` and the counts per value are returned.
pub fn check_label_range(
    dataset: &'static str,
    path: &Path,
    label: &mut ImageU8,
    max: u8,
    ignore: u8,
    check: LabelCheck,
) -> Result<BTreeMap<u8, u64>> {
    let mut hist = [0u64; 256];
    for &v in &label.data {
        hist[v as usize] += 1;
    }
    let bad: BTreeMap<u8, u64> = hist
        .iter()
        .enumerate()
        .skip(max as usize + 1)
        .filter(|&(v, c)| *c > 0 && v != ignore as usize)
        .map(|(v, c)| (v as u8, *c))
        .collect();
    if bad.is_empty() {
        return Ok(bad);
    }
    match check {
        LabelCheck::Strict => {
            let (&value, &count) = bad.iter().next().expect("non-empty");
            let (x, y) = first_pixel(label, value);
            Err(DataError::LabelOutOfRange {
                dataset,
                path: path.to_path_buf(),
                value,
                count,
                x,
                y,
                valid: if ignore > max {
                    format!("0..={max} and {ignore} (ignore)")
                } else {
                    format!("0..={max}")
                },
            })
        }
        LabelCheck::CountAndReplace => {
            for v in &mut label.data {
                if *v > max {
                    *v = ignore;
                }
            }
            Ok(bad)
        }
    }
}

/// `(x, y)` of the first pixel (row-major) of a 1-channel map holding `value`; `(0, 0)` if none does.
pub(crate) fn first_pixel(label: &ImageU8, value: u8) -> (usize, usize) {
    let i = label.data.iter().position(|&v| v == value).unwrap_or(0) / label.channels.max(1);
    let w = label.width.max(1);
    (i % w, i / w)
}

/// Error listing every path of `paths` that does not exist as a file (nothing if all exist).
pub fn require_files(dataset: &'static str, root: &Path, paths: &[&Path]) -> Result<()> {
    let missing: Vec<PathBuf> = paths
        .iter()
        .filter(|p| !p.is_file())
        .map(|p| p.to_path_buf())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(DataError::MissingFiles {
            dataset,
            root: root.to_path_buf(),
            missing,
        })
    }
}

/// Error naming `dir` (as the single missing path) if it is not a directory.
pub fn require_dir(dataset: &'static str, root: &Path, dir: &Path) -> Result<()> {
    if dir.is_dir() {
        Ok(())
    } else {
        Err(DataError::MissingFiles {
            dataset,
            root: root.to_path_buf(),
            missing: vec![dir.to_path_buf()],
        })
    }
}

/// Files directly in `dir` whose names end with `suffix` (case-sensitive), sorted by file name.
pub fn list_files(dir: &Path, suffix: &str) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let e = e.map_err(io_err(dir))?;
        let p = e.path();
        if p.is_file()
            && p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(suffix))
        {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// Sub-directories of `dir`, sorted by name.
pub fn list_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let e = e.map_err(io_err(dir))?;
        let p = e.path();
        if p.is_dir() {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// The file name of `p` without the given suffix (e.g. `a_leftImg8bit.png` → `a`).
pub(crate) fn stem_without(p: &Path, suffix: &str) -> String {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.strip_suffix(suffix).map(str::to_owned).unwrap_or(name)
}

/// Pair images and labels from two directories by id; every image without a label and every label
/// without an image is reported as missing (the counterpart's expected path), all at once.
pub(crate) fn pair_dirs(
    dataset: &'static str,
    root: &Path,
    image_dir: &Path,
    image_suffix: &str,
    label_dir: &Path,
    label_suffix: &str,
) -> Result<Vec<SegEntry>> {
    let mut missing = Vec::new();
    for d in [image_dir, label_dir] {
        if !d.is_dir() {
            missing.push(d.to_path_buf());
        }
    }
    if !missing.is_empty() {
        return Err(DataError::MissingFiles {
            dataset,
            root: root.to_path_buf(),
            missing,
        });
    }
    let images = list_files(image_dir, image_suffix)?;
    let labels = list_files(label_dir, label_suffix)?;
    let label_ids: BTreeMap<String, PathBuf> = labels
        .into_iter()
        .map(|p| (stem_without(&p, label_suffix), p))
        .collect();
    let mut image_ids = std::collections::BTreeSet::new();
    let mut entries = Vec::new();
    for img in images {
        let id = stem_without(&img, image_suffix);
        image_ids.insert(id.clone());
        match label_ids.get(&id) {
            Some(l) => entries.push(SegEntry {
                id,
                image: img,
                label: l.clone(),
            }),
            None => missing.push(label_dir.join(format!("{id}{label_suffix}"))),
        }
    }
    for id in label_ids.keys() {
        if !image_ids.contains(id) {
            missing.push(image_dir.join(format!("{id}{image_suffix}")));
        }
    }
    if !missing.is_empty() {
        return Err(DataError::MissingFiles {
            dataset,
            root: root.to_path_buf(),
            missing,
        });
    }
    Ok(entries)
}
