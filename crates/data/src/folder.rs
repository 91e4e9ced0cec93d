//! A generic segmentation dataset that needs no code ("bring your own dataset").
//!
//! # Layout
//!
//! ```text
//! ROOT/
//!   classes.txt            one class name a line: line i (from 0) names class i
//!   images/NAME/<stem>.png | .jpg | .jpeg
//!   masks/NAME/<stem>.png  same stem as its image; one class index per pixel, 255 = ignore
//! ```
//!
//! `NAME` is any split name (`train` and `test` are the defaults of the experiments). Masks are
//! single-channel PNGs (8-bit grayscale, or palette PNGs whose *indices* are the classes; 1/2/4/16-bit
//! grayscale too) of the image's size, holding class ids `0..K` (`K` = number of classes, at most
//! [`MAX_CLASSES`]) or [`IGNORE_LABEL`] (255, never a class). Extensions are matched case-insensitively;
//! other files and sub-folders are not part of the split. Items are sorted by stem.
//!
//! [`open`] checks the layout and reports, naming the files: missing folders or `classes.txt`; every image
//! without a mask and every mask without an image (all at once); two files of one split with the same stem
//! (`a.png` and `a.jpg`); empty or repeated class names and more than [`MAX_CLASSES`] classes; masks that
//! are not single-channel. Pixels are checked when an item is loaded ([`SegmentationSplit::load`]): a mask
//! of another size than its image, or a value `>= K` that is not 255 (with the file, the value and the
//! first pixel holding it).
//!
//! # Protocol
//!
//! [`FolderProtocol`] (serialisable, every field optional) sets the tiling; its default is the
//! ADE20K / CamVid protocol ([`TileSpec::camvid`]): resize to 672×448 (bilinear; masks nearest-exact),
//! 2×3 tiles of 224, normalise then keep 224, centre-pixel patch labels. Scoring (the metrics crate's
//! `LabelSpace::folder`) ignores 255 in the ground truth and upsamples predictions nearest-exact.
//!
//! # Example
//!
//! ```no_run
//! use std::path::Path;
//! use patchlens_data::folder::{self, FolderProtocol};
//!
//! # fn main() -> patchlens_data::Result<()> {
//! let train = folder::open(Path::new("/data/my-set"), "train")?;
//! let spec = FolderProtocol::default().tile_spec(16)?; // = TileSpec::camvid(16) but for the name
//! println!("{} classes: {:?}", train.class_names.len(), train.class_names);
//! for tile in train.split.tiles(&spec) {
//!     let tile = tile?; // normalised 224×224 pixels + 14×14 centre-pixel labels (0..K or 255)
//!     # let _ = tile;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! [`write_from_split`] writes any [`SegmentationSplit`] in this layout (e.g. CamVid with void 11 → 255).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use patchlens_image::{IMAGENET_MEAN, IMAGENET_STD, write_png};
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result, invalid, io_err};
use crate::sample::{LabelCheck, SegEntry, SegmentationSplit, first_pixel};
use crate::spec::{NormalizeOrder, Resample, TileSpec};

/// Dataset name in [`SegmentationSplit::dataset`], [`TileSpec::dataset`] and errors.
pub const DATASET: &str = "folder";
/// The class list file under the root.
pub const CLASSES_FILE: &str = "classes.txt";
/// Folder of the images (`images/NAME/`).
pub const IMAGES_DIR: &str = "images";
/// Folder of the masks (`masks/NAME/`).
pub const MASKS_DIR: &str = "masks";
/// Mask value of ignored pixels: never a class, skipped by the score.
pub const IGNORE_LABEL: u8 = 255;
/// Most classes a folder dataset may have (ids 0–254).
pub const MAX_CLASSES: usize = 255;
/// Image extensions (lower case; matched case-insensitively).
pub const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];
/// Mask extension (lower case; matched case-insensitively).
pub const MASK_EXTENSION: &str = "png";
/// Default training split name.
pub const DEFAULT_TRAIN_SPLIT: &str = "train";
/// Default test split name.
pub const DEFAULT_TEST_SPLIT: &str = "test";

/// An opened split of a folder dataset: the lazy [`SegmentationSplit`] and the class names.
#[derive(Clone, Debug)]
pub struct FolderSplit {
    /// The items (`dataset` = `"folder"`, `label_max` = `K − 1`, `ignore_label` = 255, strict checks).
    pub split: SegmentationSplit,
    /// The `K` class names of `classes.txt`, index = class id.
    pub class_names: Vec<String>,
}

impl FolderSplit {
    /// Number of classes `K`.
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }
}

/// Open split `split` (`images/<split>/`, `masks/<split>/`) of the folder dataset at `root`, with
/// `classes.txt`. See the [module docs](self) for the layout and the checks.
pub fn open(root: &Path, split: &str) -> Result<FolderSplit> {
    check_split_name(split)?;
    let image_dir = root.join(IMAGES_DIR).join(split);
    let mask_dir = root.join(MASKS_DIR).join(split);
    let classes = root.join(CLASSES_FILE);
    let mut missing: Vec<PathBuf> = [&image_dir, &mask_dir]
        .into_iter()
        .filter(|d| !d.is_dir())
        .cloned()
        .collect();
    if !classes.is_file() {
        missing.push(classes.clone());
    }
    if !missing.is_empty() {
        return Err(DataError::MissingFiles {
            dataset: DATASET,
            root: root.to_path_buf(),
            missing,
        });
    }
    let class_names = read_classes(&classes)?;

    let mut problems = Vec::new();
    let images = list_by_stem(&image_dir, &IMAGE_EXTENSIONS, &mut problems)?;
    let masks = list_by_stem(&mask_dir, &[MASK_EXTENSION], &mut problems)?;
    if !problems.is_empty() {
        return Err(layout(root, problems));
    }
    let mut missing = Vec::new();
    let mut entries = Vec::with_capacity(images.len());
    for (stem, image) in &images {
        match masks.get(stem) {
            Some(mask) => entries.push(SegEntry {
                id: stem.clone(),
                image: image.clone(),
                label: mask.clone(),
            }),
            None => missing.push(mask_dir.join(format!("{stem}.{MASK_EXTENSION}"))),
        }
    }
    for stem in masks.keys().filter(|s| !images.contains_key(*s)) {
        missing.push(image_dir.join(format!("{stem}.png")));
    }
    if !missing.is_empty() {
        return Err(DataError::MissingFiles {
            dataset: DATASET,
            root: root.to_path_buf(),
            missing,
        });
    }
    for e in &entries {
        if let Err(why) = mask_header(&e.label) {
            problems.push((e.label.clone(), why));
        }
    }
    if !problems.is_empty() {
        return Err(layout(root, problems));
    }
    Ok(FolderSplit {
        split: SegmentationSplit {
            dataset: DATASET,
            split: split.to_owned(),
            root: root.to_path_buf(),
            entries,
            label_max: (class_names.len() - 1) as u8,
            ignore_label: IGNORE_LABEL,
            check: LabelCheck::Strict,
            expected_size: None,
        },
        class_names,
    })
}

/// Read and check a `classes.txt`: one name a line (surrounding white space trimmed, a UTF-8 BOM and
/// `\r\n` line ends accepted), line i = class i; blank lines only at the end. Errors name the file and
/// line: an empty name, a repeated name, no classes, more than [`MAX_CLASSES`].
pub fn read_classes(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    parse_classes(path, &text)
}

fn parse_classes(path: &Path, text: &str) -> Result<Vec<String>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines: Vec<&str> = text.lines().map(str::trim).collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let parse = |reason: String| DataError::Parse {
        path: path.to_path_buf(),
        reason,
    };
    if lines.is_empty() {
        return Err(parse("no class names (one name a line is expected)".into()));
    }
    if lines.len() > MAX_CLASSES {
        return Err(parse(format!(
            "{} classes; at most {MAX_CLASSES} (ids 0-254, 255 = ignore)",
            lines.len()
        )));
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, name) in lines.iter().enumerate() {
        if name.is_empty() {
            return Err(parse(format!(
                "line {} (class {i}) is empty; every line up to the last names a class",
                i + 1
            )));
        }
        if let Some(first) = seen.insert(name, i) {
            return Err(parse(format!(
                "class name {name:?} on line {} repeats line {}",
                i + 1,
                first + 1
            )));
        }
    }
    Ok(lines.into_iter().map(str::to_owned).collect())
}

fn check_split_name(split: &str) -> Result<()> {
    if split.is_empty()
        || split == "."
        || split == ".."
        || split.contains(['/', '\\'])
        || split.contains(std::path::MAIN_SEPARATOR)
    {
        return Err(invalid(
            "split",
            format!("{split:?}"),
            "must be a folder name under images/ and masks/ (no path separators)",
        ));
    }
    Ok(())
}

fn layout(root: &Path, problems: Vec<(PathBuf, String)>) -> DataError {
    DataError::Layout {
        dataset: DATASET,
        root: root.to_path_buf(),
        problems,
    }
}

/// Files directly in `dir` with one of `exts` (case-insensitive), keyed by stem. Files of one stem with
/// two extensions and non-UTF-8 names are pushed to `problems`.
fn list_by_stem(
    dir: &Path,
    exts: &[&str],
    problems: &mut Vec<(PathBuf, String)>,
) -> Result<BTreeMap<String, PathBuf>> {
    let mut paths = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let p = e.map_err(io_err(dir))?.path();
        if p.is_file() {
            paths.push(p);
        }
    }
    paths.sort();
    let mut out: BTreeMap<String, PathBuf> = BTreeMap::new();
    for p in paths {
        let Some(ext) = p.extension() else { continue };
        let ext = ext.to_string_lossy().to_ascii_lowercase();
        if !exts.contains(&ext.as_str()) {
            continue;
        }
        let Some(stem) = p.file_stem().and_then(|s| s.to_str()) else {
            problems.push((p.clone(), "file name is not valid UTF-8".into()));
            continue;
        };
        if let Some(first) = out.get(stem) {
            problems.push((
                p.clone(),
                format!(
                    "same stem {stem:?} as {}: one file per stem",
                    first.display()
                ),
            ));
            continue;
        }
        out.insert(stem.to_owned(), p);
    }
    Ok(out)
}

/// Read a mask's PNG header: Ok for single-channel (grayscale or palette), else why not.
fn mask_header(path: &Path) -> std::result::Result<(), String> {
    let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut decoder = png::Decoder::new(BufReader::new(file));
    decoder.set_transformations(png::Transformations::IDENTITY);
    let reader = decoder
        .read_info()
        .map_err(|e| format!("not a readable PNG: {e}"))?;
    let (color, depth) = reader.output_color_type();
    match color {
        png::ColorType::Grayscale | png::ColorType::Indexed => Ok(()),
        other => Err(format!(
            "mask is {other:?} {depth:?}; a single-channel (grayscale or palette) PNG of class ids is required"
        )),
    }
}

/// Write `split` in the folder layout under `dest`: `images/<split.split>/<id>.<ext>`,
/// `masks/<split.split>/<id>.png` and `classes.txt` (`class_names`). Returns the number of items written.
///
/// Each item is loaded with the split's own checks; every mask value `v` becomes `map_label(v)`, which must
/// be a class id `< class_names.len()` or 255 (e.g. CamVid: `|v| if v == 11 { 255 } else { v }`).
/// PNG / JPEG images are copied byte for byte (so both layouts decode to the same pixels), others are
/// written as PNG. The split's two folders must be absent or empty; an existing `classes.txt` must list
/// the same names. Errors name the item, file, value and pixel at fault.
pub fn write_from_split<S: AsRef<str>>(
    split: &SegmentationSplit,
    class_names: &[S],
    map_label: impl Fn(u8) -> u8,
    dest: &Path,
) -> Result<usize> {
    check_split_name(&split.split)?;
    let classes_path = dest.join(CLASSES_FILE);
    let text: String = class_names
        .iter()
        .map(|n| format!("{}\n", n.as_ref()))
        .collect();
    let names = parse_classes(&classes_path, &text)?;
    if names.len() != class_names.len()
        || names.iter().zip(class_names).any(|(a, b)| a != b.as_ref())
    {
        return Err(invalid(
            "class_names",
            format!(
                "{:?}",
                class_names.iter().map(AsRef::as_ref).collect::<Vec<_>>()
            ),
            "names must be single lines without surrounding white space",
        ));
    }
    let k = names.len();
    let image_dir = dest.join(IMAGES_DIR).join(&split.split);
    let mask_dir = dest.join(MASKS_DIR).join(&split.split);
    for d in [&image_dir, &mask_dir] {
        if d.is_dir() && std::fs::read_dir(d).map_err(io_err(d))?.next().is_some() {
            return Err(invalid(
                "dest",
                d.display(),
                "already holds files; write a split into empty folders",
            ));
        }
    }
    let mut ids = BTreeSet::new();
    for e in &split.entries {
        if e.id.is_empty()
            || e.id.starts_with('.')
            || e.id.contains(['/', '\\'])
            || e.id.contains(std::path::MAIN_SEPARATOR)
        {
            return Err(invalid(
                "item id",
                format!("{:?}", e.id),
                "cannot be a file stem",
            ));
        }
        if !ids.insert(e.id.as_str()) {
            return Err(invalid(
                "item id",
                format!("{:?}", e.id),
                format!("appears twice in split {}", split.split),
            ));
        }
    }
    if classes_path.is_file() {
        let existing = read_classes(&classes_path)?;
        if existing != names {
            return Err(DataError::Parse {
                path: classes_path,
                reason: format!("lists {existing:?}, not the split's classes {names:?}"),
            });
        }
    } else {
        std::fs::create_dir_all(dest).map_err(io_err(dest))?;
        std::fs::write(&classes_path, &text).map_err(io_err(&classes_path))?;
    }
    for d in [&image_dir, &mask_dir] {
        std::fs::create_dir_all(d).map_err(io_err(d))?;
    }
    let mut lut = [0u8; 256];
    for (v, m) in lut.iter_mut().enumerate() {
        *m = map_label(v as u8);
    }
    for (i, e) in split.entries.iter().enumerate() {
        let mut sample = split.load(i)?;
        for v in &mut sample.label.data {
            *v = lut[*v as usize];
        }
        if let Some(&bad) = sample
            .label
            .data
            .iter()
            .find(|&&v| v as usize >= k && v != IGNORE_LABEL)
        {
            let (x, y) = first_pixel(&sample.label, bad);
            let src = (0..=255u8).filter(|&v| lut[v as usize] == bad);
            return Err(invalid(
                "map_label",
                bad,
                format!(
                    "{}: pixel x={x}, y={y} (source value(s) {:?}) maps outside the {k} classes and 255",
                    e.label.display(),
                    src.collect::<Vec<_>>()
                ),
            ));
        }
        let ext = e
            .image
            .extension()
            .map(|x| x.to_string_lossy().to_ascii_lowercase())
            .filter(|x| IMAGE_EXTENSIONS.contains(&x.as_str()));
        match ext {
            Some(ext) => {
                let to = image_dir.join(format!("{}.{ext}", e.id));
                std::fs::copy(&e.image, &to).map_err(io_err(&to))?;
            }
            None => write_image(&image_dir.join(format!("{}.png", e.id)), &sample.image)?,
        }
        write_image(&mask_dir.join(format!("{}.png", e.id)), &sample.label)?;
    }
    Ok(split.entries.len())
}

fn write_image(path: &Path, img: &patchlens_image::ImageU8) -> Result<()> {
    write_png(path, img).map_err(|source| DataError::Image {
        what: "output",
        path: path.to_path_buf(),
        source: Box::new(source),
    })
}

/// How a tile's patch labels are taken from its label tile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatchLabelRule {
    /// The label of the pixel at the centre of each patch of the tile-resolution label tile
    /// (protocol §3, [`crate::tiling::centre_patch_labels`]): `label[r][c] =
    /// mask[floor((r + 0.5)·T/grid)][floor((c + 0.5)·T/grid)]`. The only rule of the study, the default.
    #[default]
    CentrePixel,
}

/// The tiling protocol of a folder dataset, every field optional (defaults = the ADE20K / CamVid
/// protocol, [`TileSpec::camvid`]). Build the [`TileSpec`] with [`FolderProtocol::tile_spec`].
///
/// In JSON: `{"resize": [640, 480], "tile_grid": null}` resizes to 640×480 and cuts as many 224 tiles
/// as fit; `{"resize": null}` keeps the images' own size. Unknown keys are errors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FolderProtocol {
    /// Whole-image resize `[width, height]` before tiling, or `None` (the image's own size). Default
    /// `[672, 448]`. Masks are always resized nearest-exact.
    pub resize: Option<[usize; 2]>,
    /// Kernel of the whole-image resize of pixels. Default bilinear.
    pub image_resample: Resample,
    /// Tile side in (resized) image pixels. Default 224.
    pub tile: usize,
    /// Tiles `[rows, cols]` from the top-left corner, or `None` = as many whole tiles as fit. Default `[2, 3]`.
    pub tile_grid: Option<[usize; 2]>,
    /// Model input side in pixels (a multiple of the patch size; the model must accept it). Default 224.
    pub input: usize,
    /// Kernel of the tile → model-input resize (only used when `tile != input`). Default bicubic.
    pub tile_resample: Resample,
    /// Order of normalisation and the tile → input resize. Default the study's normalise-then-resize.
    pub order: NormalizeOrder,
    /// Patch label rule. Default (and only) centre pixel.
    pub label_rule: PatchLabelRule,
}

impl Default for FolderProtocol {
    fn default() -> Self {
        Self {
            resize: Some([672, 448]),
            image_resample: Resample::Linear,
            tile: 224,
            tile_grid: Some([2, 3]),
            input: crate::spec::MODEL_INPUT,
            tile_resample: Resample::Cubic,
            order: NormalizeOrder::NormalizeThenResize,
            label_rule: PatchLabelRule::CentrePixel,
        }
    }
}

impl FolderProtocol {
    /// Check the options for a `patch`-pixel model: non-zero sizes, `input` a multiple of `patch`, and,
    /// with a resize, at least the tile grid (or one tile) fits in the resized image.
    pub fn validate(&self, patch: usize) -> Result<()> {
        if self.tile == 0 {
            return Err(invalid("tile", self.tile, "must be > 0"));
        }
        if patch == 0 {
            return Err(invalid("patch", patch, "must be > 0"));
        }
        if self.input == 0 || !self.input.is_multiple_of(patch) {
            return Err(invalid(
                "input",
                self.input,
                format!("must be a positive multiple of the patch size {patch}"),
            ));
        }
        if let Some([r, c]) = self.tile_grid
            && (r == 0 || c == 0)
        {
            return Err(invalid("tile_grid", format!("{r}x{c}"), "must be non-zero"));
        }
        if let Some([w, h]) = self.resize {
            if w == 0 || h == 0 {
                return Err(invalid("resize", format!("{w}x{h}"), "must be non-zero"));
            }
            let [r, c] = self.tile_grid.unwrap_or([1, 1]);
            if r * self.tile > h || c * self.tile > w {
                return Err(invalid(
                    "tile_grid",
                    format!("{r}x{c}"),
                    format!(
                        "{r} rows x {c} columns of {} px tiles need {}x{} px but resize is {w}x{h}",
                        self.tile,
                        c * self.tile,
                        r * self.tile
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The [`TileSpec`] (dataset `"folder"`) of this protocol for a `patch`-pixel ViT (token grid
    /// `input / patch`). With the default options it equals [`TileSpec::camvid`] except for the name.
    pub fn tile_spec(&self, patch: usize) -> Result<TileSpec> {
        self.validate(patch)?;
        let spec = TileSpec {
            dataset: DATASET.to_owned(),
            resize: self.resize,
            image_resample: self.image_resample,
            tile: self.tile,
            tile_grid: self.tile_grid,
            input: self.input,
            tile_resample: self.tile_resample,
            order: self.order,
            patch,
            grid: self.input / patch,
            mean: IMAGENET_MEAN,
            std: IMAGENET_STD,
        };
        spec.validate()?;
        Ok(spec)
    }

    /// Set one option from text, e.g. for `--protocol key=value` flags: `resize` (`WxH` or `none`),
    /// `image_resample` / `tile_resample` (`nearest_exact`, `linear`, `cubic`, `area`), `tile` / `input`
    /// (pixels), `tile_grid` (`ROWSxCOLS` or `fit`), `order` (`normalize_then_resize`,
    /// `resize_then_normalize`), `label_rule` (`centre_pixel`). Errors name the key and value.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let v = value.trim();
        match key {
            "resize" => self.resize = parse_pair("resize", v, "none")?,
            "tile_grid" => self.tile_grid = parse_pair("tile_grid", v, "fit")?,
            "tile" => self.tile = parse_usize("tile", v)?,
            "input" => self.input = parse_usize("input", v)?,
            "image_resample" => self.image_resample = parse_name("image_resample", v)?,
            "tile_resample" => self.tile_resample = parse_name("tile_resample", v)?,
            "order" => self.order = parse_name("order", v)?,
            "label_rule" => self.label_rule = parse_name("label_rule", v)?,
            other => {
                return Err(invalid(
                    "protocol key",
                    other,
                    "known: resize, image_resample, tile, tile_grid, input, tile_resample, order, label_rule",
                ));
            }
        }
        Ok(())
    }
}

fn parse_usize(name: &'static str, v: &str) -> Result<usize> {
    v.parse()
        .map_err(|_| invalid(name, format!("{v:?}"), "expected a whole number of pixels"))
}

/// `AxB` (also `A×B`) → `Some([A, B])`; `none_word` → `None`.
fn parse_pair(name: &'static str, v: &str, none_word: &str) -> Result<Option<[usize; 2]>> {
    if v.eq_ignore_ascii_case(none_word) {
        return Ok(None);
    }
    let bad = || {
        invalid(
            name,
            format!("{v:?}"),
            format!("expected AxB (two whole numbers) or `{none_word}`"),
        )
    };
    let (a, b) = v.split_once(['x', 'X', '×']).ok_or_else(bad)?;
    let a = a.trim().parse().map_err(|_| bad())?;
    let b = b.trim().parse().map_err(|_| bad())?;
    Ok(Some([a, b]))
}

fn parse_name<T: serde::de::DeserializeOwned>(name: &'static str, v: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(v.to_owned()))
        .map_err(|e| invalid(name, format!("{v:?}"), e))
}
