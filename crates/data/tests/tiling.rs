//! Hand-worked tiling and patch-label examples (protocol §3).

mod common;

use patchlens_data::tiling::{centre_patch_labels, cut_tiles, model_input, tile_image};
use patchlens_data::{NormalizeOrder, TileKey, TileSpec};
use patchlens_image::ImageU8;

/// Centre rows of a 14-grid on a 256 tile: floor((r + 0.5) * 256 / 14), worked by hand.
const CENTRES_256_G14: [usize; 14] = [
    9, 27, 45, 64, 82, 100, 118, 137, 155, 173, 192, 210, 228, 246,
];

#[test]
fn cityscapes_tiles_and_patch_labels_hand_worked() {
    let spec = TileSpec::cityscapes(16).unwrap();
    assert_eq!(
        (spec.tile, spec.input, spec.grid, spec.tile_grid),
        (256, 224, 14, Some([4, 8]))
    );
    // Label = tile index in the high bits would overflow u8; use two maps instead.
    // Map A: value = row within tile (y % 256) -> patch label row r must be CENTRES_256_G14[r].
    let img = common::rgb(2048, 1024);
    let rows = common::label(2048, 1024, |_, y| (y % 256) as u8);
    let tiles = tile_image(&spec, "aachen_000000_000019", &img, Some(&rows)).unwrap();
    assert_eq!(tiles.len(), 32);
    for t in &tiles {
        let pl = t.patch_labels.as_ref().unwrap();
        assert_eq!(pl.len(), 196);
        for r in 0..14 {
            for c in 0..14 {
                assert_eq!(
                    pl[r * 14 + c] as usize,
                    CENTRES_256_G14[r],
                    "tile {:?} patch ({r},{c})",
                    t.key()
                );
            }
        }
        assert_eq!(
            (t.pixels.width, t.pixels.height, t.pixels.channels),
            (224, 224, 3)
        );
    }
    // Map B: value = tile index (row * 8 + col) -> every patch of tile (r, c) has that label.
    let ids = common::label(2048, 1024, |x, y| ((y / 256) * 8 + x / 256) as u8);
    let tiles = tile_image(&spec, "aachen_000000_000019", &img, Some(&ids)).unwrap();
    for (i, t) in tiles.iter().enumerate() {
        assert_eq!((t.row, t.col), (i / 8, i % 8), "row-major order");
        assert!(
            t.patch_labels
                .as_ref()
                .unwrap()
                .iter()
                .all(|&v| v as usize == i)
        );
    }
    assert_eq!(tiles[3].key().name(256), "aachen_000000_000019.256_0_3");
}

#[test]
fn dinov2_grid_is_16_with_centres_every_16px() {
    let spec = TileSpec::cityscapes(14).unwrap();
    assert_eq!(spec.grid, 16);
    // floor((r + 0.5) * 256 / 16) = 16 r + 8.
    let mask = common::label(256, 256, |x, _| x as u8);
    let pl = centre_patch_labels(&mask, 16, 16).unwrap();
    for (c, &v) in pl[..16].iter().enumerate() {
        assert_eq!(v as usize, 16 * c + 8);
    }
    // On a 224 tile with grid 14 the centres are 16 c + 8 as well; with grid 16, floor((c + 0.5) * 14).
    let mask = common::label(224, 224, |x, _| x as u8);
    let pl = centre_patch_labels(&mask, 16, 16).unwrap();
    let expect16 = [
        7, 21, 35, 49, 63, 77, 91, 105, 119, 133, 147, 161, 175, 189, 203, 217,
    ];
    assert_eq!(
        pl[..16].iter().map(|&v| v as usize).collect::<Vec<_>>(),
        expect16
    );
}

#[test]
fn small_hand_worked_mask() {
    // A 4x4 mask on a 2x2 grid: centres at pixel (1, 1), (1, 3), (3, 1), (3, 3) -> floor((r+0.5)*4/2) = 1, 3.
    let m = ImageU8 {
        width: 4,
        height: 4,
        channels: 1,
        data: (0..16).collect(),
    };
    assert_eq!(centre_patch_labels(&m, 2, 2).unwrap(), vec![5, 7, 13, 15]);
    // 3 rows on 4 px: floor((2r+1)*4/6) = 0, 2, 3.
    assert_eq!(centre_patch_labels(&m, 3, 1).unwrap(), vec![2, 10, 14]);
    assert!(centre_patch_labels(&m, 0, 2).is_err());
    assert!(centre_patch_labels(&m, 5, 5).is_err());
}

#[test]
fn ade_resizes_then_cuts_2x3() {
    let spec = TileSpec::ade20k(16).unwrap();
    // A 336x224 image (half size): labels = 1 in the left half, 2 in the right half; resized x2 nearest.
    let img = common::rgb(336, 224);
    let lab = common::label(336, 224, |x, _| if x < 168 { 1 } else { 2 });
    let raw = cut_tiles(&spec, "ADE_val_00000001", &img, Some(&lab)).unwrap();
    assert_eq!(raw.len(), 6);
    assert_eq!(
        (raw[5].row, raw[5].col, raw[5].x, raw[5].y),
        (1, 2, 448, 224)
    );
    // Column split at 336 of 672: tile col 0 all 1, col 2 all 2, col 1 (x 224..448) splits at local 112.
    let pl = raw[1].patch_labels(&spec).unwrap();
    for (c, &v) in pl[..14].iter().enumerate() {
        // centre x = 224 + 16c + 8 < 336  <=> c < 7
        assert_eq!(v, if c < 7 { 1 } else { 2 });
    }
    assert!(raw[0].patch_labels(&spec).unwrap().iter().all(|&v| v == 1));
    assert!(raw[2].patch_labels(&spec).unwrap().iter().all(|&v| v == 2));
}

#[test]
fn model_input_normalises_constant_tiles_exactly() {
    let spec = TileSpec::cityscapes(16).unwrap();
    let mut tile = ImageU8::new(256, 256, 3);
    for px in tile.data.chunks_exact_mut(3) {
        px.copy_from_slice(&[255, 0, 128]);
    }
    for order in [
        NormalizeOrder::NormalizeThenResize,
        NormalizeOrder::ResizeThenNormalize,
    ] {
        let s = spec.clone().with_order(order);
        let f = model_input(&s, &tile);
        assert_eq!((f.width, f.height), (224, 224));
        // (1 - 0.485) / 0.229, (0 - 0.456) / 0.224, (128/255 - 0.406) / 0.225
        let want = [2.248_908_3_f32, -2.035_714_3, 0.426_492_6];
        for px in f.data.chunks_exact(3) {
            for c in 0..3 {
                assert!(
                    (px[c] - want[c]).abs() < 1e-4,
                    "{order:?} channel {c}: {} vs {}",
                    px[c],
                    want[c]
                );
            }
        }
    }
}

#[test]
fn normalisation_order_is_an_option_that_matters() {
    let spec = TileSpec::cityscapes(16).unwrap();
    // A hard edge: bicubic overshoots; u8 resize clamps/rounds, float resize does not.
    let mut tile = ImageU8::new(256, 256, 3);
    for y in 0..256 {
        for x in 128..256 {
            let i = (y * 256 + x) * 3;
            tile.data[i..i + 3].copy_from_slice(&[255, 255, 255]);
        }
    }
    let a = model_input(&spec, &tile);
    let b = model_input(
        &spec.clone().with_order(NormalizeOrder::ResizeThenNormalize),
        &tile,
    );
    let max_white = (1.0 - 0.485) / 0.229;
    assert!(
        a.data.iter().step_by(3).any(|&v| v > max_white + 1e-3),
        "float resize overshoots"
    );
    assert!(
        b.data.iter().step_by(3).all(|&v| v <= max_white + 1e-4),
        "u8 resize clamps"
    );
    assert!(
        spec.order == NormalizeOrder::NormalizeThenResize,
        "study order is the default"
    );
}

#[test]
fn bad_tiling_inputs_are_errors() {
    let spec = TileSpec::cityscapes(16).unwrap();
    let small = common::rgb(1000, 1000);
    assert!(cut_tiles(&spec, "x", &small, None).is_err());
    let img = common::rgb(2048, 1024);
    let lab = common::label(2047, 1024, |_, _| 0);
    assert!(cut_tiles(&spec, "x", &img, Some(&lab)).is_err());
    assert!(TileSpec::cityscapes(15).is_err());
    // Unlabelled tiles have no patch labels.
    let t = tile_image(&spec, "x", &img, None).unwrap();
    assert!(t.iter().all(|t| t.patch_labels.is_none()));
}

#[test]
fn tile_spec_round_trips_through_json() {
    for name in [
        "cityscapes",
        "ade20k",
        "fair1m",
        "bdd100k",
        "camvid",
        "synthetic",
    ] {
        let s = TileSpec::for_dataset(name, 14).unwrap();
        s.validate().unwrap();
        let j = serde_json::to_string(&s).unwrap();
        let back: TileSpec = serde_json::from_str(&j).unwrap();
        assert_eq!(s, back);
    }
    let j = serde_json::to_value(TileSpec::cityscapes(16).unwrap()).unwrap();
    assert_eq!(j["order"], "normalize_then_resize");
    assert_eq!(j["tile_resample"], "cubic");
    assert_eq!(
        TileKey {
            image_id: "a".into(),
            row: 1,
            col: 2
        }
        .name(224),
        "a.224_1_2"
    );
}
