//! Synthetic videos: objects of the scene classes moving (bouncing off the borders), scaling and rotating
//! over a static textured background. Painting order is fixed, so objects that cross occlude each other.
//! Each frame has RGB pixels, class and instance (= track id) masks, and per visible object its track id,
//! class and visible box.

use patchlens_image::ImageU8;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::render::{Background, ObjectPose, object_area, render, visible_boxes};
use super::{SyntheticConfig, item_rng, random_background, random_object};
use crate::error::{Result, invalid};

/// Parameters of the video generator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VideoConfig {
    /// Class table, object radius range and master seed (its `size` and object counts are not used).
    pub scene: SyntheticConfig,
    /// Frame width.
    pub width: usize,
    /// Frame height.
    pub height: usize,
    /// Frames per video.
    pub frames: usize,
    /// Objects per video `[min, max]`.
    pub objects: [usize; 2],
    /// Maximum speed in pixels per frame.
    pub max_speed: f32,
}

impl Default for VideoConfig {
    /// 448×224 frames (2 tiles), 24 frames, 3–5 objects, speed ≤ 4 px/frame.
    fn default() -> Self {
        Self {
            scene: SyntheticConfig::default(),
            width: 448,
            height: 224,
            frames: 24,
            objects: [3, 5],
            max_speed: 4.0,
        }
    }
}

/// Motion of one object: pose at frame 0 plus constant rates.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Motion {
    /// Pose at frame 0 (`instance` is the track id).
    pub start: ObjectPose,
    /// Velocity `(vx, vy)` in pixels per frame (positions bounce off the frame borders).
    pub velocity: (f32, f32),
    /// Log-scale rate per frame (radius(t) = radius₀·exp(rate·t)).
    pub scale_rate: f32,
    /// Angular velocity in radians per frame.
    pub spin: f32,
}

/// An object visible in a frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackedObject {
    /// Track id (constant over the video).
    pub track_id: u8,
    /// Class id.
    pub class: u8,
    /// Visible box `[x1, y1, x2, y2]` in pixels (edges; from the instance mask).
    pub bbox: [f32; 4],
    /// Visible pixel count.
    pub visible_pixels: u64,
    /// Fraction of the object's unoccluded in-frame area that is visible (1 = no occlusion).
    pub visible_fraction: f32,
}

/// One rendered frame.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoFrame {
    /// Frame index.
    pub index: usize,
    /// RGB `[H, W, 3]`.
    pub image: ImageU8,
    /// Class ids `[H, W, 1]`.
    pub class_mask: ImageU8,
    /// Track ids `[H, W, 1]` (0 = background).
    pub instance_mask: ImageU8,
    /// Visible objects, by track id.
    pub objects: Vec<TrackedObject>,
}

/// A synthetic video (layout only; frames are rendered on demand).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyntheticVideo {
    /// Id `synthvideo_<seed>_<index>`.
    pub id: String,
    /// Frame width.
    pub width: usize,
    /// Frame height.
    pub height: usize,
    /// Number of frames.
    pub frames: usize,
    /// Background.
    pub background: Background,
    /// Object motions in painting order (track id = position + 1).
    pub tracks: Vec<Motion>,
}

fn fold(x: f32, lo: f32, hi: f32) -> f32 {
    if hi <= lo {
        return lo;
    }
    let period = 2.0 * (hi - lo);
    let y = (x - lo).rem_euclid(period);
    lo + if y > hi - lo { period - y } else { y }
}

/// Generate the layout of video `index`.
pub fn video(cfg: &VideoConfig, index: usize) -> Result<SyntheticVideo> {
    cfg.scene.validate()?;
    if cfg.width < 16 || cfg.height < 16 || cfg.frames == 0 {
        return Err(invalid(
            "video size",
            format!("{}x{}x{}", cfg.width, cfg.height, cfg.frames),
            "need >= 16x16 and >= 1 frame",
        ));
    }
    let [lo, hi] = cfg.objects;
    if lo > hi || hi > 255 || cfg.max_speed.is_nan() || cfg.max_speed < 0.0 {
        return Err(invalid(
            "objects/max_speed",
            format!("{lo}..={hi}, {}", cfg.max_speed),
            "need min <= max <= 255, speed >= 0",
        ));
    }
    let mut rng = item_rng(cfg.scene.seed, 2, index as u64);
    let background = random_background(&mut rng);
    let n = rng.random_range(lo..=hi);
    let extent = cfg.width.min(cfg.height) as f32;
    let tracks = (0..n)
        .map(|i| {
            let mut start = random_object(&mut rng, &cfg.scene, i as u8 + 1, extent);
            start.centre = (
                rng.random_range(0.0..cfg.width as f32),
                rng.random_range(0.0..cfg.height as f32),
            );
            let speed = rng.random_range(0.0..=cfg.max_speed);
            let dir = rng.random_range(0.0..std::f32::consts::TAU);
            Motion {
                start,
                velocity: (speed * dir.cos(), speed * dir.sin()),
                scale_rate: rng.random_range(-0.02..0.02),
                spin: rng.random_range(-0.04..0.04),
            }
        })
        .collect();
    Ok(SyntheticVideo {
        id: format!("synthvideo_{}_{index}", cfg.scene.seed),
        width: cfg.width,
        height: cfg.height,
        frames: cfg.frames,
        background,
        tracks,
    })
}

impl SyntheticVideo {
    /// Object poses at frame `t`.
    pub fn poses(&self, t: usize) -> Vec<ObjectPose> {
        let tf = t as f32;
        self.tracks
            .iter()
            .map(|m| {
                let mut p = m.start;
                p.centre = (
                    fold(m.start.centre.0 + m.velocity.0 * tf, 0.0, self.width as f32),
                    fold(
                        m.start.centre.1 + m.velocity.1 * tf,
                        0.0,
                        self.height as f32,
                    ),
                );
                p.radius = m.start.radius * (m.scale_rate * tf).exp();
                p.angle = m.start.angle + m.spin * tf;
                p
            })
            .collect()
    }

    /// Render frame `t` (errors if `t >= frames`).
    pub fn frame(&self, t: usize) -> Result<VideoFrame> {
        if t >= self.frames {
            return Err(invalid(
                "frame",
                t,
                format!("video {} has {} frames", self.id, self.frames),
            ));
        }
        let poses = self.poses(t);
        let (w, h) = (self.width, self.height);
        let id = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0];
        let r = render(w, h, &self.background, &poses, id);
        let vis = visible_boxes(&r.instance, w, poses.len() as u8);
        let mut objects = Vec::new();
        for (p, v) in poses.iter().zip(vis) {
            let Some((bbox, visible_pixels)) = v else {
                continue;
            };
            let full = object_area(w, h, p, id).max(1) as f32;
            objects.push(TrackedObject {
                track_id: p.instance,
                class: p.class,
                bbox,
                visible_pixels,
                visible_fraction: visible_pixels as f32 / full,
            });
        }
        Ok(VideoFrame {
            index: t,
            image: ImageU8 {
                width: w,
                height: h,
                channels: 3,
                data: r.rgb,
            },
            class_mask: ImageU8 {
                width: w,
                height: h,
                channels: 1,
                data: r.class,
            },
            instance_mask: ImageU8 {
                width: w,
                height: h,
                channels: 1,
                data: r.instance,
            },
            objects,
        })
    }

    /// Iterate over all frames in order.
    pub fn iter(&self) -> impl Iterator<Item = Result<VideoFrame>> + '_ {
        (0..self.frames).map(move |t| self.frame(t))
    }
}
