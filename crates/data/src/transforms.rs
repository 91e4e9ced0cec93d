//! The FAIR1M-style transformation set (protocol §7): rotation, scale and shift of the whole chip with a
//! tile re-crop and a per-patch correspondence map, and blur / Gaussian noise / frequency noise of the tile
//! (identity correspondence). The pixel work is done by `patchlens-image`
//! ([`patchlens_image::transform_tile`], [`patchlens_image::Degradation`]); this module names the set,
//! makes it serialisable and derives deterministic noise seeds.

use patchlens_image::{Correspondence, Degradation, Geometric, ImageU8, crop, transform_tile};
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result, invalid};
use crate::synthetic::render::splitmix64;

/// A transformation kind of the set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransformKind {
    /// Rotation of the chip about its centre: 5°, 10°, 15°, 20°.
    Rotate,
    /// Rescaling of the chip: ×0.8, ×0.9, ×1.1, ×1.2.
    Scale,
    /// Diagonal shift of the tile window: 1, 2, 3, 4 px.
    Shift,
    /// `cv2.blur` box kernel of the tile: 2, 4, 6, 8 px.
    Blur,
    /// Additive Gaussian noise of the tile: σ = 10, 20, 30, 40.
    Noise,
    /// Band-limited noise of the tile: band 1 (low) … 4 (high).
    Freq,
}

impl TransformKind {
    /// All kinds, in the order of the study's figures.
    pub const ALL: [TransformKind; 6] = [
        TransformKind::Rotate,
        TransformKind::Scale,
        TransformKind::Shift,
        TransformKind::Blur,
        TransformKind::Noise,
        TransformKind::Freq,
    ];

    /// The name used by `patchlens-image` (`rotate`, `scale`, `shift`, `blur`, `noise`, `freq`).
    pub fn name(self) -> &'static str {
        match self {
            TransformKind::Rotate => "rotate",
            TransformKind::Scale => "scale",
            TransformKind::Shift => "shift",
            TransformKind::Blur => "blur",
            TransformKind::Noise => "noise",
            TransformKind::Freq => "freq",
        }
    }

    /// Whether the kind moves pixels (needs the chip and gives a non-identity correspondence).
    pub fn is_geometric(self) -> bool {
        matches!(
            self,
            TransformKind::Rotate | TransformKind::Scale | TransformKind::Shift
        )
    }
}

/// One member of the transformation set: a kind and its level 1–4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Transform {
    /// The kind.
    pub kind: TransformKind,
    /// Level 1–4.
    pub level: u8,
}

impl Transform {
    /// Construct, checking the level.
    pub fn new(kind: TransformKind, level: u8) -> Result<Self> {
        if !(1..=4).contains(&level) {
            return Err(invalid("transform level", level, "must be 1..=4"));
        }
        Ok(Self { kind, level })
    }

    /// Short label, e.g. `rotate2`.
    pub fn label(&self) -> String {
        format!("{}{}", self.kind.name(), self.level)
    }
}

/// The full set: every kind of `kinds` at levels 1–4.
pub fn transformation_set(kinds: &[TransformKind]) -> Vec<Transform> {
    kinds
        .iter()
        .flat_map(|&kind| (1..=4).map(move |level| Transform { kind, level }))
        .collect()
}

/// A transformed tile with its labels and correspondence to the original tile.
#[derive(Clone, Debug)]
pub struct TransformedTile {
    /// The transformation applied.
    pub transform: Transform,
    /// Transformed pixels `[size, size, 3]`.
    pub image: ImageU8,
    /// Transformed label tile `[size, size, 1]` (nearest), if labels were given.
    pub mask: Option<ImageU8>,
    /// Top-left of the re-cropped window in the transformed chip (the original tile's for pixel-wise kinds).
    pub window: (usize, usize),
    /// `grid × grid` map: transformed patch → original patch index, or −1.
    pub correspondence: Correspondence,
}

/// Apply `t` to the tile at `(x, y)` (side `size`) of `chip` (and its label map `labels`), returning the
/// transformed tile and its `grid × grid` correspondence. Noise seeds are
/// `splitmix64(seed ^ splitmix64(x · 2¹⁶ + y ^ level · 2³²))`, so each tile and level gets its own stream.
pub fn apply(
    chip: &ImageU8,
    labels: Option<&ImageU8>,
    (x, y, size): (usize, usize, usize),
    t: Transform,
    grid: usize,
    seed: u64,
    item: &str,
) -> Result<TransformedTile> {
    let op = |source| DataError::ImageOp {
        item: item.to_owned(),
        source: Box::new(source),
    };
    let level = t.level as usize;
    if t.kind.is_geometric() {
        let g = Geometric::level(t.kind.name(), level).map_err(op)?;
        let r = transform_tile(chip, labels, patchlens_image::Tile { x, y, size }, g, grid)
            .map_err(op)?;
        return Ok(TransformedTile {
            transform: t,
            image: r.image,
            mask: r.labels,
            window: (r.window.x, r.window.y),
            correspondence: r.corr,
        });
    }
    let d = Degradation::level(t.kind.name(), level).map_err(op)?;
    let tile = crop(chip, x, y, size, size).map_err(op)?;
    let mask = labels
        .map(|l| crop(l, x, y, size, size))
        .transpose()
        .map_err(op)?;
    let s =
        splitmix64(seed ^ splitmix64((((x as u64) << 16) + y as u64) ^ ((t.level as u64) << 32)));
    Ok(TransformedTile {
        transform: t,
        image: d.apply(&tile, s).map_err(op)?,
        mask,
        window: (x, y),
        correspondence: Correspondence::identity(grid, grid),
    })
}
