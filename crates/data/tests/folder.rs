//! The generic folder layout: reading, checks, protocol options, conversion, and CamVid-mini through it.

mod common;

use std::path::Path;

use patchlens_data::camvid::{self, CAMVID_CLASSES, CamVidSplit};
use patchlens_data::folder::{self, FolderProtocol, PatchLabelRule};
use patchlens_data::{
    DataError, NormalizeOrder, Resample, SegmentationSplit, TileSpec, cut_tiles, tile_image,
};

const CLASSES: &str = "sky\nroad\ncar\n";

/// Mask value at (x, y) of the tiny tree: classes 0–2 in vertical bands, 255 in the last column.
fn tiny_mask(x: usize, _y: usize) -> u8 {
    if x == 47 { 255 } else { (x / 16) as u8 }
}

/// `ROOT/classes.txt`, `images/train/{a.png, b.jpg}`, `masks/train/{a,b}.png` (48×36).
fn tiny_tree(root: &Path) {
    common::text(&root.join("classes.txt"), CLASSES);
    common::png(&root.join("images/train/a.png"), &common::rgb(48, 36));
    common::jpg(&root.join("images/train/b.jpg"), &common::rgb(48, 36));
    for n in ["a", "b"] {
        common::png(
            &root.join(format!("masks/train/{n}.png")),
            &common::label(48, 36, tiny_mask),
        );
    }
}

fn layout_problems(e: DataError) -> Vec<(std::path::PathBuf, String)> {
    match e {
        DataError::Layout { problems, .. } => problems,
        e => panic!("expected a layout error, got {e}"),
    }
}

fn missing(e: DataError) -> Vec<std::path::PathBuf> {
    match e {
        DataError::MissingFiles { missing, .. } => missing,
        e => panic!("expected missing files, got {e}"),
    }
}

#[test]
fn tiny_tree_opens_sorted_with_classes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    tiny_tree(root);
    let f = folder::open(root, "train").unwrap();
    assert_eq!(f.class_names, vec!["sky", "road", "car"]);
    assert_eq!(f.num_classes(), 3);
    let s = &f.split;
    assert_eq!((s.dataset, s.split.as_str()), ("folder", "train"));
    assert_eq!((s.label_max, s.ignore_label), (2, 255));
    let ids: Vec<&str> = s.entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(s.entries[1].image, root.join("images/train/b.jpg"));
    assert_eq!(s.entries[1].label, root.join("masks/train/b.png"));
    for item in s.iter() {
        let item = item.unwrap();
        assert_eq!((item.image.width, item.image.height), (48, 36));
        assert_eq!(item.label, common::label(48, 36, tiny_mask), "255 is kept");
        assert!(item.out_of_range.is_empty());
    }
    // The PNG image decodes to the written pixels.
    assert_eq!(s.load(0).unwrap().image, common::rgb(48, 36));
    // Upper-case extensions count; other files and sub-folders are not items.
    std::fs::rename(
        root.join("images/train/a.png"),
        root.join("images/train/a.PNG"),
    )
    .unwrap();
    common::text(&root.join("images/train/notes.txt"), "x");
    std::fs::create_dir_all(root.join("masks/train/old.png")).unwrap();
    let again = folder::open(root, "train").unwrap();
    assert_eq!(
        again.split.entries[0].image,
        root.join("images/train/a.PNG")
    );
    assert_eq!(again.split.len(), 2);
}

#[test]
fn palette_masks_are_class_indices() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    tiny_tree(root);
    // Overwrite mask a with an indexed PNG (palette of 256 colours): its indices are the classes.
    let path = root.join("masks/train/a.png");
    let w = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut enc = png::Encoder::new(w, 48, 36);
    enc.set_color(png::ColorType::Indexed);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_palette((0..256 * 3).map(|i| (i % 256) as u8).collect::<Vec<_>>());
    let mut wr = enc.write_header().unwrap();
    wr.write_image_data(&common::label(48, 36, tiny_mask).data)
        .unwrap();
    wr.finish().unwrap();
    let f = folder::open(root, "train").unwrap();
    assert_eq!(
        f.split.load(0).unwrap().label,
        common::label(48, 36, tiny_mask)
    );
}

#[test]
fn missing_and_unpaired_files_are_all_listed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // Nothing there: both folders and classes.txt.
    let m = missing(folder::open(root, "test").unwrap_err());
    assert_eq!(
        m,
        vec![
            root.join("images/test"),
            root.join("masks/test"),
            root.join("classes.txt")
        ]
    );
    tiny_tree(root);
    let m = missing(folder::open(root, "test").unwrap_err());
    assert_eq!(m, vec![root.join("images/test"), root.join("masks/test")]);
    // Two images without masks and one mask without image, listed together.
    common::png(&root.join("images/train/c.png"), &common::rgb(8, 8));
    common::jpg(&root.join("images/train/e.jpeg"), &common::rgb(8, 8));
    common::png(
        &root.join("masks/train/d.png"),
        &common::label(8, 8, |_, _| 0),
    );
    let e = folder::open(root, "train").unwrap_err();
    let text = e.to_string();
    assert!(text.starts_with("folder: 3 file(s) missing"), "{text}");
    assert_eq!(
        missing(e),
        vec![
            root.join("masks/train/c.png"),
            root.join("masks/train/e.png"),
            root.join("images/train/d.png"),
        ]
    );
    // A split name is a folder name, not a path.
    for bad in ["", "..", "a/b"] {
        let e = folder::open(root, bad).unwrap_err();
        assert!(
            matches!(e, DataError::InvalidArgument { name: "split", .. }),
            "{e}"
        );
    }
}

#[test]
fn duplicate_stems_and_multi_channel_masks() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    tiny_tree(root);
    common::jpg(&root.join("images/train/a.jpg"), &common::rgb(48, 36));
    common::png(&root.join("images/train/b.png"), &common::rgb(48, 36));
    let p = layout_problems(folder::open(root, "train").unwrap_err());
    assert_eq!(p.len(), 2, "{p:?}");
    // Sorted by file name: a.jpg before a.png, b.jpg before b.png; the later one is reported.
    assert_eq!(p[0].0, root.join("images/train/a.png"));
    assert!(p[0].1.contains("same stem \"a\"") && p[0].1.contains("a.jpg"));
    assert_eq!(p[1].0, root.join("images/train/b.png"));
    std::fs::remove_file(root.join("images/train/a.jpg")).unwrap();
    std::fs::remove_file(root.join("images/train/b.png")).unwrap();

    // An RGB mask (e.g. a colour-coded annotation) is rejected at open, naming the file.
    common::png(&root.join("masks/train/b.png"), &common::rgb(48, 36));
    let e = folder::open(root, "train").unwrap_err();
    let text = e.to_string();
    let p = layout_problems(e);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].0, root.join("masks/train/b.png"));
    assert!(
        p[0].1.contains("Rgb") && p[0].1.contains("single-channel"),
        "{p:?}"
    );
    assert!(text.contains("masks/train/b.png"), "{text}");
    // So is a mask that is not a PNG at all.
    common::text(&root.join("masks/train/b.png"), "not a png");
    let p = layout_problems(folder::open(root, "train").unwrap_err());
    assert!(p[0].1.contains("not a readable PNG"), "{p:?}");
}

#[test]
fn classes_file_rules() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    tiny_tree(root);
    let classes = root.join("classes.txt");
    let parse_err = |text: &str| {
        common::text(&classes, text);
        match folder::open(root, "train").unwrap_err() {
            DataError::Parse { path, reason } => {
                assert_eq!(path, classes);
                reason
            }
            e => panic!("expected a parse error, got {e}"),
        }
    };
    assert!(parse_err("").contains("no class names"));
    assert!(parse_err("\n\n").contains("no class names"));
    let r = parse_err("sky\n\nroad\n");
    assert!(r.contains("line 2 (class 1) is empty"), "{r}");
    let r = parse_err("sky\nroad\n  \ncar");
    assert!(r.contains("line 3 (class 2) is empty"), "{r}");
    let r = parse_err("sky\nroad\nsky\n");
    assert!(r.contains("\"sky\" on line 3 repeats line 1"), "{r}");
    let many: String = (0..256).map(|i| format!("c{i}\n")).collect();
    assert!(parse_err(&many).contains("256 classes"));
    // 255 classes are fine; a BOM, CRLF, surrounding spaces and trailing blank lines too.
    let ok: String = (0..255).map(|i| format!("c{i}\n")).collect();
    common::text(&classes, &ok);
    assert_eq!(folder::open(root, "train").unwrap().split.label_max, 254);
    common::text(&classes, "\u{feff}sky\r\n road \r\ntraffic light\r\n\r\n");
    assert_eq!(
        folder::open(root, "train").unwrap().class_names,
        ["sky", "road", "traffic light"]
    );
    assert_eq!(
        folder::read_classes(&classes).unwrap(),
        ["sky", "road", "traffic light"]
    );
}

#[test]
fn load_checks_sizes_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    tiny_tree(root);
    // Class 3 does not exist (3 classes): named with its file, value and first pixel.
    common::png(
        &root.join("masks/train/a.png"),
        &common::label(48, 36, |x, y| if (x, y) >= (5, 2) && x < 7 { 3 } else { 0 }),
    );
    // A mask of another size than its image.
    common::png(
        &root.join("masks/train/b.png"),
        &common::label(48, 35, |_, _| 0),
    );
    let f = folder::open(root, "train").unwrap();
    let e = f.split.load(0).unwrap_err();
    let text = e.to_string();
    match e {
        DataError::LabelOutOfRange {
            value,
            count,
            x,
            y,
            path,
            valid,
            ..
        } => {
            // (x, y) >= (5, 2) lexicographically with x < 7: column 5 from row 2 on (34 pixels) and
            // all of column 6 (36): 70; the first in row-major order is (6, 0).
            assert_eq!((value, count, x, y), (3, 70, 6, 0));
            assert_eq!(path, root.join("masks/train/a.png"));
            assert_eq!(valid, "0..=2 and 255 (ignore)");
        }
        other => panic!("unexpected {other}"),
    }
    assert!(
        text.contains("masks/train/a.png") && text.contains("id 3") && text.contains("x=6, y=0"),
        "{text}"
    );
    match f.split.load(1).unwrap_err() {
        DataError::SizeMismatch {
            image,
            label,
            label_h,
            ..
        } => {
            assert_eq!(image, root.join("images/train/b.jpg"));
            assert_eq!(label, root.join("masks/train/b.png"));
            assert_eq!(label_h, 35);
        }
        other => panic!("unexpected {other}"),
    }
    // 254 is not the ignore value either.
    common::png(
        &root.join("masks/train/a.png"),
        &common::label(48, 36, |x, y| if (x, y) == (40, 30) { 254 } else { 255 }),
    );
    match f.split.load(0).unwrap_err() {
        DataError::LabelOutOfRange { value, x, y, .. } => assert_eq!((value, x, y), (254, 40, 30)),
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn protocol_defaults_are_the_camvid_protocol() {
    let p = FolderProtocol::default();
    assert_eq!(p.label_rule, PatchLabelRule::CentrePixel);
    for patch in [8, 14, 16] {
        let spec = p.tile_spec(patch).unwrap();
        assert_eq!(spec.dataset, "folder");
        let as_camvid = TileSpec {
            dataset: "camvid".into(),
            ..spec.clone()
        };
        assert_eq!(as_camvid, TileSpec::for_dataset("camvid", patch).unwrap());
        let as_ade = TileSpec {
            dataset: "ade20k".into(),
            ..spec
        };
        assert_eq!(as_ade, TileSpec::ade20k(patch).unwrap());
    }
    // Spelled out, independently of TileSpec::camvid.
    let s = p.tile_spec(16).unwrap();
    assert_eq!(s.resize, Some([672, 448]));
    assert_eq!(
        (s.tile, s.tile_grid, s.input, s.grid),
        (224, Some([2, 3]), 224, 14)
    );
    assert_eq!(
        (s.image_resample, s.tile_resample),
        (Resample::Linear, Resample::Cubic)
    );
    assert_eq!(s.order, NormalizeOrder::NormalizeThenResize);
    assert_eq!(s.tiles_for(480, 360).unwrap(), (2, 3));
}

#[test]
fn protocol_options_serde_and_validation() {
    // Every key optional; unknown keys rejected.
    let p: FolderProtocol = serde_json::from_str("{}").unwrap();
    assert_eq!(p, FolderProtocol::default());
    let e = serde_json::from_str::<FolderProtocol>(r#"{"tile_size": 256}"#).unwrap_err();
    assert!(e.to_string().contains("unknown field `tile_size`"), "{e}");
    let p: FolderProtocol = serde_json::from_str(
        r#"{"resize": null, "tile": 256, "tile_grid": null, "tile_resample": "linear",
            "order": "resize_then_normalize", "label_rule": "centre_pixel"}"#,
    )
    .unwrap();
    let s = p.tile_spec(16).unwrap();
    assert_eq!((s.resize, s.tile, s.tile_grid), (None, 256, None));
    assert_eq!(
        (s.tile_resample, s.order),
        (Resample::Linear, NormalizeOrder::ResizeThenNormalize)
    );
    // As many 256 tiles as fit in a 1000×600 image, not resized: 2 rows × 3 cols.
    assert_eq!(s.tiles_for(1000, 600).unwrap(), (2, 3));
    let back: FolderProtocol = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(back, p);

    // Text options, as for command-line flags.
    let mut q = FolderProtocol::default();
    q.set("resize", "640x480").unwrap();
    q.set("tile_grid", "fit").unwrap();
    q.set("input", "448").unwrap();
    q.set("image_resample", "area").unwrap();
    let s = q.tile_spec(14).unwrap();
    assert_eq!(
        (s.resize, s.tile_grid, s.input, s.grid),
        (Some([640, 480]), None, 448, 32)
    );
    assert_eq!(s.image_resample, Resample::Area);
    assert_eq!(
        s.tiles_for(1, 1).unwrap(),
        (2, 2),
        "480/224 rows, 640/224 cols"
    );
    q.set("resize", "none").unwrap();
    q.set("tile_grid", "3x4").unwrap();
    assert_eq!((q.resize, q.tile_grid), (None, Some([3, 4])));
    let err = |r: patchlens_data::Result<()>| r.unwrap_err().to_string();
    let e = err(q.set("resize", "640"));
    assert!(e.contains("resize") && e.contains("\"640\""), "{e}");
    let e = err(q.set("tile", "big"));
    assert!(e.contains("tile") && e.contains("\"big\""), "{e}");
    let e = err(q.set("order", "sideways"));
    assert!(e.contains("order") && e.contains("sideways"), "{e}");
    let e = err(q.set("grid", "2x3"));
    assert!(e.contains("protocol key") && e.contains("grid"), "{e}");

    // Validation names the option.
    let bad = |f: fn(&mut FolderProtocol), patch: usize| {
        let mut p = FolderProtocol::default();
        f(&mut p);
        p.tile_spec(patch).unwrap_err()
    };
    let e = bad(|p| p.tile_grid = Some([3, 3]), 16);
    assert!(
        matches!(
            e,
            DataError::InvalidArgument {
                name: "tile_grid",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("672x448"), "{e}");
    let e = bad(|p| p.input = 230, 16);
    assert!(
        matches!(e, DataError::InvalidArgument { name: "input", .. }),
        "{e}"
    );
    let e = bad(|p| p.tile = 0, 16);
    assert!(
        matches!(e, DataError::InvalidArgument { name: "tile", .. }),
        "{e}"
    );
    let e = bad(|p| p.resize = Some([0, 448]), 16);
    assert!(
        matches!(e, DataError::InvalidArgument { name: "resize", .. }),
        "{e}"
    );
    let e = bad(|p| p.tile_grid = Some([0, 3]), 16);
    assert!(
        matches!(
            e,
            DataError::InvalidArgument {
                name: "tile_grid",
                ..
            }
        ),
        "{e}"
    );
    let e = bad(|p| p.resize = Some([200, 448]), 16);
    assert!(
        e.to_string().contains("tile_grid"),
        "grid 2x3 does not fit: {e}"
    );
    let e = bad(|_| {}, 0);
    assert!(
        matches!(e, DataError::InvalidArgument { name: "patch", .. }),
        "{e}"
    );
}

/// A CamVid-layout tree with labels 0–11 (11 = void), 64×48.
fn camvid_tree(root: &Path) {
    for (i, n) in ["b", "a"].iter().enumerate() {
        common::png(
            &root.join("train").join(format!("{n}.png")),
            &common::rgb(64 + i, 48),
        );
        common::png(
            &root.join("trainannot").join(format!("{n}.png")),
            &common::label(64 + i, 48, |x, y| ((x + y + i) % 12) as u8),
        );
    }
}

#[test]
fn write_from_split_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("camvid");
    camvid_tree(&src);
    let dest = dir.path().join("folder");
    let cv = camvid::open(&src, CamVidSplit::Train).unwrap();
    let void = |v: u8| if v == 11 { 255 } else { v };
    assert_eq!(
        folder::write_from_split(&cv, &CAMVID_CLASSES, void, &dest).unwrap(),
        2
    );
    assert_eq!(
        std::fs::read_to_string(dest.join("classes.txt")).unwrap(),
        CAMVID_CLASSES.map(|c| format!("{c}\n")).concat()
    );
    // PNG images are copied byte for byte.
    assert_eq!(
        std::fs::read(dest.join("images/train/a.png")).unwrap(),
        std::fs::read(src.join("train/a.png")).unwrap()
    );
    let f = folder::open(&dest, "train").unwrap();
    assert_eq!(f.class_names, CAMVID_CLASSES);
    assert_eq!(f.split.label_max, 10);
    for i in 0..2 {
        let (a, b) = (cv.load(i).unwrap(), f.split.load(i).unwrap());
        assert_eq!(
            (a.id.as_str(), b.id.as_str()),
            (["a", "b"][i], ["a", "b"][i])
        );
        assert_eq!(a.image, b.image);
        let w = a.label.width;
        // Independently: the written mask is (x + y + i) % 12 with 11 replaced by 255.
        let k = 1 - i; // "a" was written second (i = 1 in camvid_tree)
        let expected = common::label(w, 48, |x, y| match (x + y + k) % 12 {
            11 => 255,
            v => v as u8,
        });
        assert_eq!(b.label, expected);
    }

    // The split's folders must be empty; an existing classes.txt must agree.
    let e = folder::write_from_split(&cv, &CAMVID_CLASSES, void, &dest).unwrap_err();
    assert!(e.to_string().contains("already holds files"), "{e}");
    let mut test_split = cv.clone();
    test_split.split = "test".into();
    let e = folder::write_from_split(&test_split, &["sky"], |_| 0, &dest).unwrap_err();
    assert!(
        matches!(&e, DataError::Parse { path, .. } if path == &dest.join("classes.txt")),
        "{e}"
    );
    // A mapping that leaves void 11 in place is outside the 11 classes: named with file, value, pixel.
    let e = folder::write_from_split(&test_split, &CAMVID_CLASSES, |v| v, &dest).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("trainannot/a.png") && text.contains("= 11") && text.contains("x=10, y=0"),
        "{text}"
    );
    // Class names are checked like classes.txt.
    let e = folder::write_from_split(&test_split, &["a", "a"], |v| v, &dest).unwrap_err();
    assert!(e.to_string().contains("repeats line 1"), "{e}");
    let e = folder::write_from_split(&test_split, &["a\nb"], |v| v, &dest).unwrap_err();
    assert!(
        matches!(
            e,
            DataError::InvalidArgument {
                name: "class_names",
                ..
            }
        ),
        "{e}"
    );
}

/// Map CamVid void 11 to the folder ignore value.
fn void_to_255(v: u8) -> u8 {
    if v == camvid::VOID_LABEL { 255 } else { v }
}

/// Both layouts of one split: CamVid's reader and the folder reader on the converted copy.
fn convert(root: &Path, split: CamVidSplit, dest: &Path) -> (SegmentationSplit, SegmentationSplit) {
    let cv = camvid::open(root, split).unwrap();
    let n = folder::write_from_split(&cv, &CAMVID_CLASSES, void_to_255, dest).unwrap();
    assert_eq!(n, cv.len());
    let f = folder::open(dest, split.dir()).unwrap();
    assert_eq!(f.class_names, CAMVID_CLASSES);
    (cv, f.split)
}

#[test]
fn shared_camvid_mini_through_the_folder_layout() {
    let Some(root) = patchlens_testutil::shared_asset("data/camvid-mini") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let camvid_spec = TileSpec::camvid(16).unwrap();
    let folder_spec = FolderProtocol::default().tile_spec(16).unwrap();
    let mut tiles = 0;
    let mut void_patches = 0;
    for (split, n) in [(CamVidSplit::Train, 37), (CamVidSplit::Test, 24)] {
        let (cv, fo) = convert(&root, split, dir.path());
        assert_eq!((cv.len(), fo.len()), (n, n));
        for (a, b) in cv.iter().zip(fo.iter()) {
            let (a, b) = (a.unwrap(), b.unwrap());
            assert_eq!(a.id, b.id);
            assert_eq!(a.image, b.image, "{}", a.id);
            let mapped: Vec<u8> = a.label.data.iter().map(|&v| void_to_255(v)).collect();
            assert_eq!(mapped, b.label.data, "{}", a.id);
            // Tiles at tile resolution, then model inputs and centre-pixel labels.
            let ra = cut_tiles(&camvid_spec, &a.id, &a.image, Some(&a.label)).unwrap();
            let rb = cut_tiles(&folder_spec, &b.id, &b.image, Some(&b.label)).unwrap();
            assert_eq!(ra.len(), 6);
            assert_eq!(ra.len(), rb.len());
            for (ta, tb) in ra.iter().zip(&rb) {
                assert_eq!((ta.row, ta.col, ta.x, ta.y), (tb.row, tb.col, tb.x, tb.y));
                assert_eq!(ta.image, tb.image);
                let (ma, mb) = (ta.mask.as_ref().unwrap(), tb.mask.as_ref().unwrap());
                assert_eq!(
                    ma.data.iter().map(|&v| void_to_255(v)).collect::<Vec<_>>(),
                    mb.data
                );
                let (la, lb) = (
                    ta.patch_labels(&camvid_spec).unwrap(),
                    tb.patch_labels(&folder_spec).unwrap(),
                );
                assert_eq!(la.len(), 196);
                assert_eq!(la.iter().map(|&v| void_to_255(v)).collect::<Vec<_>>(), lb);
                assert!(lb.iter().all(|&v| v < 11 || v == 255));
                void_patches += la.iter().filter(|&&v| v == 11).count();
                tiles += 1;
            }
            let (fa, fb) = (
                tile_image(&camvid_spec, &a.id, &a.image, Some(&a.label)).unwrap(),
                tile_image(&folder_spec, &b.id, &b.image, Some(&b.label)).unwrap(),
            );
            for (ta, tb) in fa.iter().zip(&fb) {
                assert_eq!(ta.pixels, tb.pixels, "{} tile {},{}", a.id, ta.row, ta.col);
            }
        }
    }
    assert_eq!(tiles, (37 + 24) * 6);
    assert!(void_patches > 0, "the comparison covers void patches");
}

/// Mean normalised colour of each patch of a tile: a 3-d stand-in for a ViT patch token.
fn patch_colours(t: &patchlens_data::Tile, grid: usize) -> Vec<[f32; 3]> {
    let px = t.pixels.width / grid;
    let mut out = vec![[0f32; 3]; grid * grid];
    for y in 0..t.pixels.height {
        for x in 0..t.pixels.width {
            let o = &mut out[(y / px) * grid + x / px];
            for (c, v) in o.iter_mut().enumerate() {
                *v += t.pixels.data[(y * t.pixels.width + x) * 3 + c];
            }
        }
    }
    out
}

/// A 1-NN "probe" on patch colours, back-projected nearest-exact and scored in `space` — the eval
/// pipeline in miniature (gallery labels through `LabelSpace::canonical`, ground truth as stored).
fn mini_eval(
    train: &SegmentationSplit,
    test: &SegmentationSplit,
    spec: &TileSpec,
    space: &patchlens_metrics::LabelSpace,
) -> (patchlens_metrics::ConfusionMatrix, Vec<u32>) {
    use patchlens_metrics::{ConfusionMatrix, NearestExact, TileLayout, grids_to_label_size};
    let (mut gallery, mut labels) = (vec![], vec![]);
    for s in train.iter().take(4) {
        let s = s.unwrap();
        for t in tile_image(spec, &s.id, &s.image, Some(&s.label)).unwrap() {
            gallery.extend(patch_colours(&t, spec.grid));
            labels.extend(
                t.patch_labels
                    .unwrap()
                    .iter()
                    .map(|&v| space.canonical(v as u32)),
            );
        }
    }
    assert!(labels.iter().all(|&l| (l as usize) < space.num_raw()));
    let mut cm = ConfusionMatrix::new(space);
    for s in test.iter().take(3) {
        let s = s.unwrap();
        let mut preds = vec![];
        for t in tile_image(spec, &s.id, &s.image, Some(&s.label)).unwrap() {
            for q in patch_colours(&t, spec.grid) {
                let d = |g: &[f32; 3]| (0..3).map(|c| (g[c] - q[c]).powi(2)).sum::<f32>();
                let best = (0..gallery.len())
                    .min_by(|&i, &j| d(&gallery[i]).total_cmp(&d(&gallery[j])).then(i.cmp(&j)))
                    .unwrap();
                preds.push(labels[best] as u16);
            }
        }
        let layout = TileLayout {
            tile_rows: 2,
            tile_cols: 3,
            grid: spec.grid,
        };
        let map = grids_to_label_size(
            &preds,
            layout,
            s.label.width,
            s.label.height,
            NearestExact::OpenCv4,
        )
        .unwrap();
        cm.accumulate(&map.data, &s.label.data).unwrap();
    }
    (cm, labels)
}

#[test]
fn shared_camvid_mini_scores_the_same_in_both_layouts() {
    let Some(root) = patchlens_testutil::shared_asset("data/camvid-mini") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (cv_train, fo_train) = convert(&root, CamVidSplit::Train, dir.path());
    let (cv_test, fo_test) = convert(&root, CamVidSplit::Test, dir.path());
    let camvid_space = patchlens_metrics::LabelSpace::camvid();
    let folder_space = patchlens_metrics::LabelSpace::folder(&CAMVID_CLASSES).unwrap();
    let (a, la) = mini_eval(
        &cv_train,
        &cv_test,
        &TileSpec::camvid(16).unwrap(),
        &camvid_space,
    );
    let (b, lb) = mini_eval(
        &fo_train,
        &fo_test,
        &FolderProtocol::default().tile_spec(16).unwrap(),
        &folder_space,
    );
    // The probe sees the same raw ids 0..=11 (void 11 ↔ 255 → 11) ...
    assert_eq!(la, lb);
    assert!(la.contains(&11));
    // ... and the scores agree exactly (255 in the folder ground truth ignored like CamVid's 11).
    assert_eq!(a.counts(), b.counts());
    assert!(a.total() > 0 && a.miou().is_finite());
    assert_eq!(a.miou().to_bits(), b.miou().to_bits());
    assert_eq!(a.pixel_accuracy().to_bits(), b.pixel_accuracy().to_bits());
    let void_gt: usize = (0..3)
        .map(|i| {
            let s = cv_test.load(i).unwrap();
            s.label.data.iter().filter(|&&v| v == 11).count()
        })
        .sum();
    let all: usize = (0..3)
        .map(|i| cv_test.load(i).unwrap().label.data.len())
        .sum();
    assert_eq!(
        b.total() as usize,
        all - void_gt,
        "void / 255 pixels are not scored"
    );
}
