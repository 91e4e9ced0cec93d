//! Patch-feature maps `[rows, cols, D]` and their assembly from per-tile token grids.
//!
//! The BDD tracking protocol (protocol §8) encodes a 1120×672 frame either as 15 independent 224×224 tiles
//! ("tiled" mode, 3 tiles down × 5 across) whose token grids are stitched into one map, or in one pass
//! ("full" mode). [`stitch_tiles`] does the former exactly as the authors' `inference_model`
//! (`out[h*i:h*(i+1), w*j:w*(j+1)] = tile(i, j)`), [`FeatureMap::from_tokens`] the latter.

use crate::error::{Result, TrackError, check_finite, check_len, check_positive};

/// A dense patch-feature map: `rows × cols` grid positions, `dim` channels each, stored row-major with
/// channels last (`data[(r * cols + c) * dim + d]`), i.e. shape `[rows, cols, D]`, f32.
///
/// Every value is finite (checked on construction).
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureMap {
    rows: usize,
    cols: usize,
    dim: usize,
    data: Vec<f32>,
}

impl FeatureMap {
    /// Wrap `data` (`[rows, cols, dim]` row-major, channels last).
    ///
    /// Errors: a zero dimension, a length other than `rows * cols * dim`, or a non-finite value.
    pub fn new(rows: usize, cols: usize, dim: usize, data: Vec<f32>) -> Result<Self> {
        check_positive("feature map rows", rows)?;
        check_positive("feature map cols", cols)?;
        check_positive("feature map dim", dim)?;
        check_len(
            "feature map",
            &[rows, cols, dim],
            rows * cols * dim,
            data.len(),
        )?;
        check_finite("feature map", &data)?;
        Ok(Self {
            rows,
            cols,
            dim,
            data,
        })
    }

    /// "Full" mode: one token grid for the whole frame, `tokens` = `[rows * cols, dim]` in row-major
    /// patch order (the ViT's patch-token order), copied into a `[rows, cols, dim]` map (same memory order).
    pub fn from_tokens(tokens: &[f32], rows: usize, cols: usize, dim: usize) -> Result<Self> {
        Self::new(rows, cols, dim, tokens.to_vec())
    }

    /// Grid rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Grid columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Channels per grid position (`D`).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The raw values, `[rows, cols, D]` row-major.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// Consume the map, returning its `[rows, cols, D]` values.
    pub fn into_data(self) -> Vec<f32> {
        self.data
    }

    /// The `D` channels at grid position `(r, c)`. Panics if out of range (internal indexing helper).
    pub fn at(&self, r: usize, c: usize) -> &[f32] {
        let start = (r * self.cols + c) * self.dim;
        &self.data[start..start + self.dim]
    }
}

/// How a frame is cut into tiles and how many tokens each tile yields.
///
/// Tiles are numbered row-major: tile `i * tiles_across + j` covers grid rows
/// `i * tile_rows .. (i + 1) * tile_rows` and columns `j * tile_cols .. (j + 1) * tile_cols`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TileLayout {
    /// Tiles per column of the frame (BDD: 3).
    pub tiles_down: usize,
    /// Tiles per row of the frame (BDD: 5).
    pub tiles_across: usize,
    /// Token rows per tile (`tile / patch`: 14 for patch 16, 16 for patch 14).
    pub tile_rows: usize,
    /// Token columns per tile.
    pub tile_cols: usize,
}

impl TileLayout {
    /// The layout for a `frame_height × frame_width` frame cut into square `tile × tile` pixel tiles, each
    /// encoded with `patch × patch` patches. Errors if the frame is not a whole number of tiles or the tile
    /// not a whole number of patches (e.g. 1120×672, tile 224, patch 16 → 3×5 tiles of 14×14 tokens).
    pub fn for_frame(
        frame_height: usize,
        frame_width: usize,
        tile: usize,
        patch: usize,
    ) -> Result<Self> {
        check_positive("tile size", tile)?;
        check_positive("patch size", patch)?;
        check_positive("frame height", frame_height)?;
        check_positive("frame width", frame_width)?;
        for (what, value, divisor) in [
            ("frame height", frame_height, tile),
            ("frame width", frame_width, tile),
            ("tile size", tile, patch),
        ] {
            if value % divisor != 0 {
                return Err(TrackError::NotMultiple {
                    what: what.to_string(),
                    value,
                    divisor,
                });
            }
        }
        Ok(Self {
            tiles_down: frame_height / tile,
            tiles_across: frame_width / tile,
            tile_rows: tile / patch,
            tile_cols: tile / patch,
        })
    }

    /// Number of tiles.
    pub fn num_tiles(&self) -> usize {
        self.tiles_down * self.tiles_across
    }

    /// Rows of the stitched map (`tiles_down * tile_rows`).
    pub fn rows(&self) -> usize {
        self.tiles_down * self.tile_rows
    }

    /// Columns of the stitched map (`tiles_across * tile_cols`).
    pub fn cols(&self) -> usize {
        self.tiles_across * self.tile_cols
    }
}

/// "Tiled" mode: stitch per-tile token grids into one map.
///
/// `tiles[k]` holds tile `k` (row-major tile order, see [`TileLayout`]) as `[tile_rows * tile_cols, dim]`
/// tokens in row-major patch order. Returns the `[layout.rows(), layout.cols(), dim]` map.
///
/// Errors: wrong number of tiles, a tile of the wrong length, a zero dimension, non-finite values.
pub fn stitch_tiles<T: AsRef<[f32]>>(
    tiles: &[T],
    layout: &TileLayout,
    dim: usize,
) -> Result<FeatureMap> {
    check_positive("feature dim", dim)?;
    check_positive("tile rows", layout.tile_rows)?;
    check_positive("tile cols", layout.tile_cols)?;
    if tiles.len() != layout.num_tiles() || tiles.is_empty() {
        return Err(TrackError::TileCount {
            tiles_down: layout.tiles_down,
            tiles_across: layout.tiles_across,
            expected: layout.num_tiles(),
            got: tiles.len(),
        });
    }
    let (rows, cols) = (layout.rows(), layout.cols());
    let mut data = vec![0f32; rows * cols * dim];
    let row_len = layout.tile_cols * dim;
    for (k, tile) in tiles.iter().enumerate() {
        let tile = tile.as_ref();
        check_len(
            &format!("tile {k}"),
            &[layout.tile_rows * layout.tile_cols, dim],
            layout.tile_rows * layout.tile_cols * dim,
            tile.len(),
        )?;
        let (ti, tj) = (k / layout.tiles_across, k % layout.tiles_across);
        for r in 0..layout.tile_rows {
            let dst_row = ti * layout.tile_rows + r;
            let dst = (dst_row * cols + tj * layout.tile_cols) * dim;
            data[dst..dst + row_len].copy_from_slice(&tile[r * row_len..(r + 1) * row_len]);
        }
    }
    FeatureMap::new(rows, cols, dim, data)
}
