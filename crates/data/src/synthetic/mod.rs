//! The synthetic benchmark: procedurally generated, seeded scenes, transformation sets and videos.
//!
//! No files are needed: everything is a pure function of a [`SyntheticConfig`] (seed included) and an
//! index, so any item can be regenerated independently (lazy, parallel-friendly, bit-reproducible).
//!
//! * [`scene`]: a `size × size` RGB image of `K` object classes on a textured background, with per-pixel
//!   class and instance masks. Classes differ by **shape and texture**; colours come from a shared palette
//!   (a class only *prefers* one colour, with probability 0.35), so a mean-colour classifier is far from
//!   perfect while features that see shape/texture can do well.
//! * [`transforms`]: the FAIR1M-style transformation set (rotation, scale, shift, blur, noise) with
//!   patch correspondence maps.
//! * [`video`]: short videos of moving, scaling, rotating and occluding objects with boxes, track ids and
//!   masks.
//!
//! Class ids: 0 = background, `1..=K` objects. See [`render::class_style`] for the appearance table.

pub mod render;
pub mod transforms;
pub mod video;

use patchlens_image::ImageU8;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Result, invalid};
use render::{
    Background, ObjectPose, PALETTE, PREFERRED_COLOUR_PROB, class_style, render, splitmix64,
    visible_boxes,
};

/// Parameters of the synthetic scene generator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyntheticConfig {
    /// Number of object classes `K` (1–64); class ids `1..=K`, 0 = background.
    pub num_classes: u8,
    /// Scene side in pixels.
    pub size: usize,
    /// Minimum objects per scene.
    pub min_objects: usize,
    /// Maximum objects per scene (≤ 255).
    pub max_objects: usize,
    /// Object radius range in pixels `[min, max]`.
    pub radius: [f32; 2],
    /// Master seed.
    pub seed: u64,
}

impl Default for SyntheticConfig {
    /// 8 classes, 224² scenes, 3–8 objects of radius 20–52 px, seed 0.
    fn default() -> Self {
        Self {
            num_classes: 8,
            size: 224,
            min_objects: 3,
            max_objects: 8,
            radius: [20.0, 52.0],
            seed: 0,
        }
    }
}

impl SyntheticConfig {
    /// Check the parameters.
    pub fn validate(&self) -> Result<()> {
        if !(1..=64).contains(&self.num_classes) {
            return Err(invalid("num_classes", self.num_classes, "must be 1..=64"));
        }
        if self.size < 16 {
            return Err(invalid("size", self.size, "must be at least 16"));
        }
        if self.min_objects > self.max_objects || self.max_objects > 255 {
            return Err(invalid(
                "objects",
                format!("{}..={}", self.min_objects, self.max_objects),
                "need min <= max <= 255",
            ));
        }
        let [a, b] = self.radius;
        if !(a > 0.0 && a <= b && b.is_finite()) {
            return Err(invalid(
                "radius",
                format!("{a}..{b}"),
                "need 0 < min <= max",
            ));
        }
        Ok(())
    }

    /// Class names `["background", "class01", …]`, index = class id.
    pub fn class_names(&self) -> Vec<String> {
        std::iter::once("background".to_owned())
            .chain((1..=self.num_classes).map(|k| format!("class{k:02}")))
            .collect()
    }
}

/// An object of a scene, with its visible extent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SceneObject {
    /// Placement and appearance.
    pub pose: ObjectPose,
    /// Visible box `[x1, y1, x2, y2]` (pixel edges), `None` if fully occluded.
    pub visible_box: Option<[f32; 4]>,
    /// Visible pixel count.
    pub visible_pixels: u64,
}

/// A generated scene.
#[derive(Clone, Debug, PartialEq)]
pub struct Scene {
    /// Scene index.
    pub index: usize,
    /// Id `synthetic_<seed>_<index>`.
    pub id: String,
    /// RGB `[size, size, 3]`.
    pub image: ImageU8,
    /// Class ids `[size, size, 1]` (0 = background).
    pub class_mask: ImageU8,
    /// Instance ids `[size, size, 1]` (0 = background, 1..n in painting order).
    pub instance_mask: ImageU8,
    /// Objects in painting order (instance id = position + 1).
    pub objects: Vec<SceneObject>,
    /// Background appearance.
    pub background: Background,
}

/// The RNG of item `index` of stream `stream` under `seed` (independent streams per item).
pub(crate) fn item_rng(seed: u64, stream: u64, index: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(splitmix64(seed ^ splitmix64(stream ^ splitmix64(index))))
}

pub(crate) fn random_background<R: Rng>(rng: &mut R) -> Background {
    let a = rng.random_range(0..PALETTE.len());
    let mut b = rng.random_range(0..PALETTE.len() - 1);
    if b >= a {
        b += 1;
    }
    Background {
        colours: (a, b),
        cell: rng.random_range(24.0..64.0),
        seed: rng.random(),
    }
}

pub(crate) fn random_object<R: Rng>(
    rng: &mut R,
    cfg: &SyntheticConfig,
    instance: u8,
    extent: f32,
) -> ObjectPose {
    let class = rng.random_range(1..=cfg.num_classes);
    let style = class_style(class);
    let first = if rng.random_bool(PREFERRED_COLOUR_PROB) {
        style.preferred_colour
    } else {
        rng.random_range(0..PALETTE.len())
    };
    let mut second = rng.random_range(0..PALETTE.len() - 1);
    if second >= first {
        second += 1;
    }
    let radius = rng.random_range(cfg.radius[0]..=cfg.radius[1]);
    let margin = radius * 0.5;
    ObjectPose {
        instance,
        class,
        centre: (
            rng.random_range(margin..extent - margin),
            rng.random_range(margin..extent - margin),
        ),
        radius,
        angle: rng.random_range(0.0..std::f32::consts::TAU),
        colours: (first, second),
        brightness: rng.random_range(-1.0..1.0),
        hue: 0.0,
    }
}

/// The layout (background + object poses) of scene `index`, without rendering.
pub fn scene_layout(cfg: &SyntheticConfig, index: usize) -> Result<(Background, Vec<ObjectPose>)> {
    cfg.validate()?;
    let mut rng = item_rng(cfg.seed, 1, index as u64);
    let background = random_background(&mut rng);
    let n = rng.random_range(cfg.min_objects..=cfg.max_objects);
    let size = cfg.size as f32;
    let objects = (0..n)
        .map(|i| random_object(&mut rng, cfg, i as u8 + 1, size))
        .collect();
    Ok((background, objects))
}

/// Generate scene `index` (a pure function of `cfg` and `index`).
pub fn scene(cfg: &SyntheticConfig, index: usize) -> Result<Scene> {
    let (background, poses) = scene_layout(cfg, index)?;
    let s = cfg.size;
    let r = render(s, s, &background, &poses, [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    let vis = visible_boxes(&r.instance, s, poses.len() as u8);
    let objects = poses
        .into_iter()
        .zip(vis)
        .map(|(pose, v)| SceneObject {
            pose,
            visible_box: v.map(|b| b.0),
            visible_pixels: v.map_or(0, |b| b.1),
        })
        .collect();
    Ok(Scene {
        index,
        id: format!("synthetic_{}_{index}", cfg.seed),
        image: ImageU8 {
            width: s,
            height: s,
            channels: 3,
            data: r.rgb,
        },
        class_mask: ImageU8 {
            width: s,
            height: s,
            channels: 1,
            data: r.class,
        },
        instance_mask: ImageU8 {
            width: s,
            height: s,
            channels: 1,
            data: r.instance,
        },
        objects,
        background,
    })
}

/// Iterate over scenes `range` lazily.
pub fn scenes(
    cfg: &SyntheticConfig,
    range: std::ops::Range<usize>,
) -> impl Iterator<Item = Result<Scene>> + '_ {
    range.map(move |i| scene(cfg, i))
}

/// Split names of the synthetic segmentation benchmark and their index ranges (train 0..n_train, val after).
pub fn split_range(split: &str, n_train: usize, n_val: usize) -> Result<std::ops::Range<usize>> {
    match split {
        "train" => Ok(0..n_train),
        "val" => Ok(n_train..n_train + n_val),
        other => Err(crate::error::DataError::UnknownSplit {
            dataset: "synthetic",
            name: other.to_owned(),
            known: "train, val".into(),
        }),
    }
}
