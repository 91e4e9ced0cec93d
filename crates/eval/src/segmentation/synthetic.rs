//! The synthetic benchmark in the shapes the experiments read: segmentation splits of scenes (PNG image +
//! class-id label map per scene) and videos in the DAVIS 2017 layout, materialised once under the run's
//! output folder (`<out>/data/`), rewritten only when missing.
//!
//! Scenes are [`patchlens_data::synthetic::scene`] with the generator defaults (224², 8 classes + background,
//! 3–8 objects): training scenes use the suite seed, test scenes a disjoint seed (`seed + TEST_SEED_OFFSET`).
//! Split `train<N>` = the first N training scenes, `test<N>` the first N test scenes, so `train12 ⊂ train24`
//! and their features are shared in the cache. One scene is one 224 tile ([`TileSpec::synthetic`]).

use std::path::{Path, PathBuf};

use crate::error::{Context, Result, bail};
use crate::tracking::VideoPreset;
use patchlens_data::synthetic::SyntheticConfig;
use patchlens_data::{LabelCheck, NormalizeOrder, Resample, SegEntry, SegmentationSplit, TileSpec};
use patchlens_metrics::{AbsentClassPolicy, LabelSpace};

/// Seed offset of the test scenes.
pub const TEST_SEED_OFFSET: u64 = 1_000_003;

/// A parsed synthetic split name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitName {
    /// Test (true) or train scenes.
    pub test: bool,
    /// Number of scenes.
    pub n: usize,
}

/// Parse `train<N>` / `test<N>`.
pub fn parse_split(s: &str) -> Result<SplitName> {
    let (test, rest) = if let Some(r) = s.strip_prefix("train") {
        (false, r)
    } else if let Some(r) = s.strip_prefix("test") {
        (true, r)
    } else {
        bail!("synthetic split `{s}`: expected train<N> or test<N> (e.g. train24)");
    };
    let n: usize = rest
        .parse()
        .with_context(|| format!("synthetic split `{s}`: `{rest}` is not a count"))?;
    if n == 0 {
        bail!("synthetic split `{s}` has no scenes");
    }
    Ok(SplitName { test, n })
}

/// The scene generator of a split (the benchmark defaults, seeded).
pub fn scene_config(seed: u64, test: bool) -> SyntheticConfig {
    SyntheticConfig {
        seed: if test {
            seed.wrapping_add(TEST_SEED_OFFSET)
        } else {
            seed
        },
        ..SyntheticConfig::default()
    }
}

/// The label space of the synthetic scenes: raw ids 0 (background) … K, every one an evaluation class;
/// absent classes are skipped in the mean (cityscapesScripts convention).
pub fn label_space(cfg: &SyntheticConfig) -> Result<LabelSpace> {
    let names = cfg.class_names();
    let raw = (0..names.len()).map(|i| Some(i as u16)).collect();
    Ok(LabelSpace::new(
        "synthetic",
        raw,
        names,
        vec![],
        AbsentClassPolicy::Nan,
        None,
    )?)
}

/// Tiling of the synthetic scenes for a `patch`-pixel model whose native input is `native` pixels.
///
/// * `native ≥ 224` (the zoo models): one 224 tile per scene ([`TileSpec::synthetic`]), unchanged.
/// * `native < 224` (the tiny pretrained demo models: 64): the scene is cut into `k × k` tiles of
///   `224 / k` pixels, `k` the divisor of 224 whose tile side is nearest to `native` (64 → 4 × 4 tiles
///   of 56), and each `u8` tile is resized to the native input (`INTER_CUBIC`, 56 → 64 is a mild
///   1.14× upscale), then normalised. Objects and textures thus reach the model at nearly the pixel
///   scale of the scene, the scale the tiny models were trained at (crops of 224 scenes of side
///   ~40–90 px, `patchlens_pretrain::presets::tiny`), instead of a 3.5× downscale of the whole scene
///   that leaves objects 1–4 patches wide and aliases their textures away.
///
/// Patch labels are the centre pixels of each (224 / k)-pixel label tile on the model's token grid;
/// predictions go back per tile, so a scene has `k²` tiles of `grid²` patches.
pub fn tile_spec(patch: usize, native: usize) -> Result<TileSpec> {
    let mut s = TileSpec::synthetic(patch)?;
    if native < s.tile && native >= patch && native.is_multiple_of(patch) {
        let scene = s.tile;
        // Divisor k of the scene side whose tile side is nearest to `native` in ratio.
        let k = (1..=scene / patch)
            .filter(|k| scene.is_multiple_of(*k) && scene / k >= patch)
            .min_by(|a, b| {
                let r = |k: usize| ((scene / k) as f64 / native as f64).ln().abs();
                r(*a).total_cmp(&r(*b))
            })
            .unwrap_or(1);
        s.tile = scene / k;
        s.tile_grid = Some([k, k]);
        s.input = native;
        s.grid = native / patch;
        s.tile_resample = Resample::Cubic;
        s.order = NormalizeOrder::ResizeThenNormalize;
    }
    s.validate()?;
    Ok(s)
}

/// Write (if missing) and open split `name` under `root`. Returns the split and its cache folder name
/// (shared by all splits of the same scene stream).
pub fn open_split(root: &Path, seed: u64, name: &str) -> Result<(SegmentationSplit, String)> {
    let s = parse_split(name)?;
    let cfg = scene_config(seed, s.test);
    let folder = format!("{}-seed{}", if s.test { "test" } else { "train" }, cfg.seed);
    let dir = root.join(&folder);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut entries = Vec::with_capacity(s.n);
    for i in 0..s.n {
        let id = format!("synthetic_{}_{i}", cfg.seed);
        let image = dir.join(format!("{id}.png"));
        let label = dir.join(format!("{id}_label.png"));
        if !(image.is_file() && label.is_file()) {
            let sc = patchlens_data::synthetic::scene(&cfg, i)?;
            patchlens_image::write_png(&image, &sc.image)?;
            patchlens_image::write_png(&label, &sc.class_mask)?;
        }
        entries.push(SegEntry { id, image, label });
    }
    let split = SegmentationSplit {
        dataset: "synthetic",
        split: name.to_string(),
        root: root.to_path_buf(),
        entries,
        label_max: cfg.num_classes,
        ignore_label: 255,
        check: LabelCheck::Strict,
        expected_size: Some((cfg.size, cfg.size)),
    };
    Ok((split, format!("synthetic/{folder}")))
}

/// Write (if missing) `videos` synthetic videos of `frames` frames (seed `seed`, setting `preset`) in the
/// DAVIS 2017 layout under `root`: `JPEGImages/480p/<video>/<frame>.jpg` (lossless PNG bytes under the
/// `.jpg` name the layout prescribes; the decoder sniffs the format), `Annotations/480p/<video>/<frame>.png`
/// (track ids, 0 = background) and `ImageSets/2017/val.txt`. Video names are
/// `synthvideo<index>` for the default setting with seed 0 and `synthvideo<index>_s<seed>[_<preset>]`
/// otherwise: the names key the feature cache, so other frames get other names. Returns the DAVIS root.
pub fn write_davis_tree(
    root: &Path,
    videos: usize,
    frames: usize,
    seed: u64,
    preset: VideoPreset,
) -> Result<PathBuf> {
    let vc = crate::tracking::synthetic_video_config(preset, Some(frames), seed);
    let droot = root.join(format!(
        "davis-seed{seed}-v{videos}-f{frames}-{}",
        preset.name()
    ));
    let list = droot.join("ImageSets/2017/val.txt");
    if list.is_file() {
        return Ok(droot);
    }
    let mut names = Vec::new();
    for i in 0..videos {
        let v = patchlens_data::synthetic::video::video(&vc, i)?;
        let name = match (seed, preset) {
            (0, VideoPreset::Default) => format!("synthvideo{i:03}"),
            (_, VideoPreset::Default) => format!("synthvideo{i:03}_s{seed}"),
            (_, p) => format!("synthvideo{i:03}_s{seed}_{}", p.name()),
        };
        let idir = droot.join("JPEGImages/480p").join(&name);
        let adir = droot.join("Annotations/480p").join(&name);
        std::fs::create_dir_all(&idir).with_context(|| format!("creating {}", idir.display()))?;
        std::fs::create_dir_all(&adir).with_context(|| format!("creating {}", adir.display()))?;
        for t in 0..v.frames {
            let f = v.frame(t)?;
            patchlens_image::write_png(&idir.join(format!("{t:05}.jpg")), &f.image)?;
            patchlens_image::write_png(&adir.join(format!("{t:05}.png")), &f.instance_mask)?;
        }
        names.push(name);
    }
    patchlens_store::write_atomic(&list, (names.join("\n") + "\n").as_bytes())?;
    Ok(droot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_resolution_tiling() {
        // 224 = 4 × 56: 56-pixel tiles (nearest divisor side to 64) resized up to the native 64 input.
        let t = tile_spec(8, 64).unwrap();
        assert_eq!(
            (t.tile, t.tile_grid, t.input, t.grid),
            (56, Some([4, 4]), 64, 8)
        );
        assert_eq!(t.tile_resample, Resample::Cubic);
        assert_eq!(t.order, NormalizeOrder::ResizeThenNormalize);
        assert_eq!(t.tiles_for(224, 224).unwrap(), (4, 4));
        // A 224 scene gives 16 tiles of 8 × 8 patches; patch (r, c) of tile (i, j) is labelled by the
        // scene pixel at (56 i + floor((r + 0.5) · 7), 56 j + floor((c + 0.5) · 7)).
        let mut img = patchlens_image::ImageU8 {
            width: 224,
            height: 224,
            channels: 3,
            data: vec![0; 224 * 224 * 3],
        };
        let mut lab = patchlens_image::ImageU8 {
            width: 224,
            height: 224,
            channels: 1,
            data: vec![0; 224 * 224],
        };
        // Pixel (y 56 + 3, x 112 + 10) is the centre of patch (0, 1) of tile (1, 2).
        lab.data[(56 + 3) * 224 + 112 + 10] = 7;
        img.data[0] = 1;
        let tiles = patchlens_data::tiling::cut_tiles(&t, "s", &img, Some(&lab)).unwrap();
        assert_eq!(tiles.len(), 16);
        let pl = tiles[4 + 2].patch_labels(&t).unwrap();
        assert_eq!(pl.len(), 64);
        assert_eq!(pl.iter().position(|&v| v == 7), Some(1));
        assert_eq!(pl.iter().filter(|&&v| v != 0).count(), 1);
        // 32-pixel natives tile 7 × 7; 112 → 2 × 2.
        assert_eq!(tile_spec(8, 32).unwrap().tile_grid, Some([7, 7]));
        assert_eq!(tile_spec(16, 112).unwrap().tile, 112);
        let z = tile_spec(16, 224).unwrap();
        assert_eq!((z.tile, z.input, z.grid), (224, 224, 14));
        assert_eq!(
            tile_spec(14, 518).unwrap().grid,
            16,
            "larger native sizes keep the 224 input"
        );
    }

    #[test]
    fn split_names() {
        assert_eq!(
            parse_split("train24").unwrap(),
            SplitName { test: false, n: 24 }
        );
        assert_eq!(
            parse_split("test3").unwrap(),
            SplitName { test: true, n: 3 }
        );
        assert!(parse_split("train0").is_err());
        assert!(parse_split("val4").is_err());
        assert!(parse_split("trainx").is_err());
    }

    #[test]
    fn splits_are_written_once_and_nested() {
        let d = tempfile::tempdir().unwrap();
        let (a, fa) = open_split(d.path(), 5, "train2").unwrap();
        let (b, fb) = open_split(d.path(), 5, "train3").unwrap();
        let (t, ft) = open_split(d.path(), 5, "test2").unwrap();
        assert_eq!(fa, fb);
        assert_ne!(fa, ft);
        assert_eq!(a.entries[..], b.entries[..2]);
        assert_ne!(
            a.entries[0].id, t.entries[0].id,
            "test scenes come from another seed"
        );
        let s = a.load(1).unwrap();
        let want = patchlens_data::synthetic::scene(&scene_config(5, false), 1).unwrap();
        assert_eq!(s.image, want.image);
        assert_eq!(s.label, want.class_mask);
        let space = label_space(&scene_config(5, false)).unwrap();
        assert_eq!(space.num_raw(), 9);
        assert_eq!(space.class_names[0], "background");
    }

    #[test]
    fn davis_tree_opens_with_the_davis_reader() {
        let d = tempfile::tempdir().unwrap();
        let root = write_davis_tree(d.path(), 1, 3, 0, VideoPreset::Default).unwrap();
        let dv = patchlens_data::davis::open(
            &root,
            patchlens_data::davis::DavisVersion::Davis2017,
            Some("val"),
        )
        .unwrap();
        assert_eq!(dv.sequences.len(), 1);
        assert_eq!(dv.num_frames(), 3);
        let seq = dv.sequence("synthvideo000").unwrap();
        let f = dv.load_frame(seq, 0).unwrap();
        let vc = crate::tracking::synthetic_video_config(VideoPreset::Default, Some(3), 0);
        let want = patchlens_data::synthetic::video::video(&vc, 0)
            .unwrap()
            .frame(0)
            .unwrap();
        assert_eq!(
            f.mask.data, want.instance_mask.data,
            "track ids as DAVIS 2017 object ids"
        );
    }
}
