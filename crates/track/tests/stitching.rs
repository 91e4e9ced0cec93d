//! Hand-worked tile stitching and protocol grids.

use patchlens_track::{
    BddTrackingProtocol, EncodingMode, FeatureMap, TileLayout, TrackError, stitch_tiles,
};

#[test]
fn stitch_two_by_three_tiles() {
    // 2 x 3 tiles of 2 x 2 tokens, dim 2. Token (r, c) of tile k = [100k + 10r + c, -(100k + 10r + c)].
    let layout = TileLayout {
        tiles_down: 2,
        tiles_across: 3,
        tile_rows: 2,
        tile_cols: 2,
    };
    let tiles: Vec<Vec<f32>> = (0..6)
        .map(|k| {
            (0..4)
                .flat_map(|t| {
                    let v = (100 * k + 10 * (t / 2) + t % 2) as f32;
                    [v, -v]
                })
                .collect()
        })
        .collect();
    let map = stitch_tiles(&tiles, &layout, 2).unwrap();
    assert_eq!((map.rows(), map.cols(), map.dim()), (4, 6, 2));
    // Grid (3, 4) lies in tile (1, 2) = k 5, token (1, 0) -> 510.
    assert_eq!(map.at(3, 4), &[510.0, -510.0]);
    // Grid (0, 5): tile (0, 2) = k 2, token (0, 1) -> 201.
    assert_eq!(map.at(0, 5), &[201.0, -201.0]);
    // Grid (2, 1): tile (1, 0) = k 3, token (0, 1) -> 301.
    assert_eq!(map.at(2, 1), &[301.0, -301.0]);
    // Whole first grid row: tiles 0, 1, 2, token row 0.
    let row0: Vec<f32> = (0..6).map(|c| map.at(0, c)[0]).collect();
    assert_eq!(row0, vec![0.0, 1.0, 100.0, 101.0, 200.0, 201.0]);
}

#[test]
fn stitch_errors() {
    let layout = TileLayout {
        tiles_down: 1,
        tiles_across: 2,
        tile_rows: 1,
        tile_cols: 1,
    };
    assert!(matches!(
        stitch_tiles(&[vec![1.0f32]], &layout, 1),
        Err(TrackError::TileCount {
            expected: 2,
            got: 1,
            ..
        })
    ));
    assert!(matches!(
        stitch_tiles(&[vec![1.0f32], vec![1.0, 2.0]], &layout, 1),
        Err(TrackError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        FeatureMap::new(1, 1, 1, vec![f32::INFINITY]),
        Err(TrackError::NonFinite { .. })
    ));
}

#[test]
fn full_mode_keeps_token_order() {
    // [rows*cols, D] tokens in row-major patch order map to (r, c) = (i / cols, i % cols).
    let tokens: Vec<f32> = (0..12).map(|v| v as f32).collect();
    let map = FeatureMap::from_tokens(&tokens, 2, 3, 2).unwrap();
    assert_eq!(map.at(1, 0), &[6.0, 7.0]);
}

#[test]
fn bdd_grids() {
    // protocol §8: 1120x672, 224 tiles -> 3x5 tiles; 42x70 (patch 16), 48x80 (patch 14).
    let p16 = BddTrackingProtocol::new(16, EncodingMode::Tiled).unwrap();
    assert_eq!(
        (
            p16.layout.tiles_down,
            p16.layout.tiles_across,
            p16.layout.tile_rows
        ),
        (3, 5, 14)
    );
    assert_eq!(p16.grid, (42, 70));
    assert!((p16.roi.spatial_scale - 1.0 / 16.0).abs() < 1e-15);
    let p14 = BddTrackingProtocol::new(14, EncodingMode::Tiled).unwrap();
    assert_eq!(p14.grid, (48, 80));
    assert_eq!(p14.layout.num_tiles(), 15);
    let full = BddTrackingProtocol::new(14, EncodingMode::Full).unwrap();
    assert_eq!((full.grid, full.layout.num_tiles()), ((48, 80), 1));
    assert!(matches!(
        TileLayout::for_frame(672, 1120, 224, 15),
        Err(TrackError::NotMultiple { .. })
    ));
}

#[test]
fn davis_frame_size() {
    use patchlens_track::protocol::davis::frame_size;
    // DINO read_frame: 854x480 -> 832x480 (480 * 854 / 480 = 854 -> floor(854 / 64) * 64 = 832).
    assert_eq!(frame_size(480, 854, 480), (480, 832));
    assert_eq!(frame_size(854, 480, 480), (832, 480));
    assert_eq!(frame_size(720, 1280, 480), (480, 832)); // 853.33 -> 832
}

#[test]
fn embed_objects_rescales_boxes() {
    use patchlens_track::{BddObject, BoxXyxy};
    // 1-channel map whose value is the grid column: bilinear sampling of a linear ramp is exact, so each
    // 7x7 bin holds the mean sample x = the bin centre in grid units (samples stay inside the map).
    // Source box x 128..640 -> resized 112..560 -> grid 7..35: bin width 4, bin centres 9, 13, ..., 33.
    let p = BddTrackingProtocol::new(16, EncodingMode::Tiled).unwrap();
    let (rows, cols) = p.grid;
    let data: Vec<f32> = (0..rows * cols).map(|i| (i % cols) as f32).collect();
    let map = FeatureMap::new(rows, cols, 1, data).unwrap();
    let obj = BddObject {
        id: "7".into(),
        category: "car".into(),
        box2d: BoxXyxy::new(128.0, 72.0, 640.0, 360.0),
    };
    let out = p.embed_objects(&map, &[obj]).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(
        (
            out[0].id.as_str(),
            out[0].category.as_str(),
            out[0].vector.len()
        ),
        ("7", "car", 49)
    );
    for (bin, v) in out[0].vector.iter().enumerate() {
        let want = 9.0 + 4.0 * (bin % 7) as f32;
        assert!((v - want).abs() < 1e-4, "bin {bin}: {v} vs {want}");
    }
    // a map of the wrong grid is rejected
    let small = FeatureMap::new(2, 2, 1, vec![0.0; 4]).unwrap();
    assert!(matches!(
        p.embed_objects(&small, &[]),
        Err(TrackError::DimensionMismatch { .. })
    ));
}
