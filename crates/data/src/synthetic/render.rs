//! Procedural rendering of synthetic scenes: class appearance tables, object poses, and a renderer that
//! writes RGB pixels, a class mask and an instance mask.
//!
//! Geometry is continuous: an object is a shape in its own local frame `(u, v) ∈ [-1, 1]²`, placed in scene
//! coordinates by a centre, a radius (pixels) and an angle. Textures are evaluated in the local frame, so
//! an object's texture moves, scales and rotates with it (videos), and the background texture lives in
//! scene coordinates.

use serde::{Deserialize, Serialize};

/// Shared colour palette (RGB). Every class draws its colours from it, so colour alone is a weak cue.
pub const PALETTE: [[u8; 3]; 8] = [
    [200, 60, 50],
    [60, 150, 70],
    [50, 90, 190],
    [220, 200, 70],
    [150, 80, 170],
    [70, 180, 190],
    [230, 140, 60],
    [120, 120, 120],
];

/// Number of distinct shapes.
pub const NUM_SHAPES: usize = 8;
/// Number of distinct textures.
pub const NUM_TEXTURES: usize = 8;

/// Shape of a class, in the object's local frame `(u, v) ∈ [-1, 1]²`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// `u² + (v/0.6)² ≤ 1`.
    Ellipse,
    /// `|u| ≤ 1, |v| ≤ 0.55`.
    Rectangle,
    /// Isosceles triangle, apex at `v = −0.9`.
    Triangle,
    /// Annulus `0.5 ≤ r ≤ 1`.
    Ring,
    /// Plus sign with arm half-width 0.3.
    Cross,
    /// `|u| + |v| ≤ 1`.
    Diamond,
    /// Five-pointed star `r ≤ 0.45 + 0.55·|cos(2.5 θ)|`.
    Star,
    /// Unit disc minus a shifted disc.
    Crescent,
}

/// Texture of a class: how the two instance colours are mixed over the object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Texture {
    /// Stripes along `u`.
    Stripes,
    /// Checkerboard.
    Checker,
    /// Dots on a square lattice.
    Dots,
    /// Concentric rings.
    Rings,
    /// Diagonal stripes.
    Diagonal,
    /// Smooth radial gradient.
    Gradient,
    /// Zig-zag bands.
    Zigzag,
    /// Sparse speckles on a solid fill.
    Speckle,
}

const SHAPES: [Shape; NUM_SHAPES] = [
    Shape::Ellipse,
    Shape::Rectangle,
    Shape::Triangle,
    Shape::Ring,
    Shape::Cross,
    Shape::Diamond,
    Shape::Star,
    Shape::Crescent,
];
const TEXTURES: [Texture; NUM_TEXTURES] = [
    Texture::Stripes,
    Texture::Checker,
    Texture::Dots,
    Texture::Rings,
    Texture::Diagonal,
    Texture::Gradient,
    Texture::Zigzag,
    Texture::Speckle,
];

/// Appearance statistics of one object class (class ids start at 1; 0 is background).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassStyle {
    /// Class id (1-based).
    pub class: u8,
    /// Shape.
    pub shape: Shape,
    /// Texture.
    pub texture: Texture,
    /// Texture frequency (cycles over the local frame's `[-1, 1]`).
    pub frequency: f32,
    /// Preferred palette index (used for the first colour with probability [`PREFERRED_COLOUR_PROB`]).
    pub preferred_colour: usize,
}

/// Probability that an instance's first colour is its class's preferred palette colour (otherwise both
/// colours are uniform over the palette).
pub const PREFERRED_COLOUR_PROB: f64 = 0.35;

/// The appearance table of class `class` (1-based). Shapes cycle with the class id, textures cycle with
/// stride 3 and frequencies with period 3, so for up to 64 classes every (shape, texture) pair is unique;
/// colours are shared between classes.
pub fn class_style(class: u8) -> ClassStyle {
    let k = class.max(1) as usize - 1;
    ClassStyle {
        class,
        shape: SHAPES[k % NUM_SHAPES],
        texture: TEXTURES[(k * 3 + k / NUM_SHAPES) % NUM_TEXTURES],
        frequency: 2.0 + 1.5 * (k % 3) as f32,
        preferred_colour: k % PALETTE.len(),
    }
}

/// One placed object of a scene or a video frame.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObjectPose {
    /// Instance / track id (1-based, unique in a scene or video).
    pub instance: u8,
    /// Class id (1-based).
    pub class: u8,
    /// Centre `(x, y)` in scene pixels.
    pub centre: (f32, f32),
    /// Radius in pixels (the local frame's unit).
    pub radius: f32,
    /// Rotation in radians.
    pub angle: f32,
    /// The two instance colours (palette indices).
    pub colours: (usize, usize),
    /// Brightness jitter in [-1, 1] (±20 intensity levels).
    pub brightness: f32,
    /// Hue rotation of the two colours in radians (about the grey axis of RGB; 0 = palette colours).
    #[serde(default)]
    pub hue: f32,
}

/// `rgb` rotated by `angle` radians about the grey axis `(1, 1, 1)/√3` (a hue rotation that keeps the
/// mean intensity), as floats.
pub fn rotate_hue(rgb: [u8; 3], angle: f32) -> [f32; 3] {
    let [r, g, b] = rgb.map(|v| v as f32);
    if angle == 0.0 {
        return [r, g, b];
    }
    let (sin, cos) = angle.sin_cos();
    let k = (1.0 - cos) / 3.0;
    let s = sin / 3f32.sqrt();
    // Rodrigues' rotation matrix for the unit axis (1, 1, 1)/√3.
    [
        r * (cos + k) + g * (k - s) + b * (k + s),
        r * (k + s) + g * (cos + k) + b * (k - s),
        r * (k - s) + g * (k + s) + b * (cos + k),
    ]
}

/// Background appearance: a smooth two-colour value-noise field plus grain, in scene coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Background {
    /// The two palette colours mixed by the noise field.
    pub colours: (usize, usize),
    /// Noise lattice cell size in pixels.
    pub cell: f32,
    /// Seed of the lattice values and grain.
    pub seed: u64,
}

/// Output buffers of a render: RGB `[H, W, 3]`, class ids and instance ids `[H, W]` (0 = background).
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// RGB, interleaved.
    pub rgb: Vec<u8>,
    /// Class id per pixel.
    pub class: Vec<u8>,
    /// Instance id per pixel.
    pub instance: Vec<u8>,
}

/// SplitMix64 step (seed derivation and hashing).
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn hash2(seed: u64, x: i64, y: i64) -> u64 {
    splitmix64(
        seed ^ splitmix64((x as u64).wrapping_mul(0x1000_0000_01B3) ^ (y as u64).rotate_left(32)),
    )
}

fn unit(h: u64) -> f32 {
    (h >> 40) as f32 / (1u64 << 24) as f32
}

/// Whether local point `(u, v)` is inside `shape`.
pub fn inside(shape: Shape, u: f32, v: f32) -> bool {
    let r2 = u * u + v * v;
    match shape {
        Shape::Ellipse => u * u + (v / 0.6) * (v / 0.6) <= 1.0,
        Shape::Rectangle => u.abs() <= 1.0 && v.abs() <= 0.55,
        Shape::Triangle => (-0.9..=0.9).contains(&v) && u.abs() <= (v + 0.9) / 1.8,
        Shape::Ring => (0.25..=1.0).contains(&r2),
        Shape::Cross => (u.abs() <= 0.3 && v.abs() <= 1.0) || (v.abs() <= 0.3 && u.abs() <= 1.0),
        Shape::Diamond => u.abs() + v.abs() <= 1.0,
        Shape::Star => {
            let r = r2.sqrt();
            r <= 1.0 && r <= 0.45 + 0.55 * (2.5 * v.atan2(u)).cos().abs()
        }
        Shape::Crescent => r2 <= 1.0 && (u - 0.45) * (u - 0.45) + v * v > 0.36,
    }
}

/// Texture mix weight in [0, 1] at local point `(u, v)` (0 → first colour, 1 → second).
pub fn texture_value(texture: Texture, freq: f32, u: f32, v: f32, seed: u64) -> f32 {
    use std::f32::consts::PI;
    let step = |s: f32| if s >= 0.0 { 1.0 } else { 0.0 };
    match texture {
        Texture::Stripes => step((freq * PI * u).sin()),
        Texture::Checker => step((freq * PI * u).sin() * (freq * PI * v).sin()),
        Texture::Dots => {
            let (a, b) = (
                (u * freq).rem_euclid(1.0) - 0.5,
                (v * freq).rem_euclid(1.0) - 0.5,
            );
            if a * a + b * b < 0.09 { 1.0 } else { 0.0 }
        }
        Texture::Rings => step((freq * PI * (u * u + v * v).sqrt()).sin()),
        Texture::Diagonal => step((freq * PI * (u + v) * 0.7).sin()),
        Texture::Gradient => ((u * u + v * v).sqrt()).min(1.0),
        Texture::Zigzag => step((freq * PI * u + 2.0 * (freq * PI * v).sin()).sin()),
        Texture::Speckle => {
            let h = hash2(
                seed,
                (u * 12.0 * freq).floor() as i64,
                (v * 12.0 * freq).floor() as i64,
            );
            if unit(h) < 0.15 { 1.0 } else { 0.0 }
        }
    }
}

/// Render a background plus objects (painted in order, later ones occlude earlier ones) into a
/// `width × height` canvas. `view` maps an output pixel centre `(x + 0.5, y + 0.5)` to scene coordinates
/// `(a·x' + b·y' + c, d·x' + e·y' + f)` given as `[a, b, c, d, e, f]` (identity: `[1, 0, 0, 0, 1, 0]`).
pub fn render(
    width: usize,
    height: usize,
    background: &Background,
    objects: &[ObjectPose],
    view: [f32; 6],
) -> Rendered {
    let n = width * height;
    let mut out = Rendered {
        width,
        height,
        rgb: vec![0; n * 3],
        class: vec![0; n],
        instance: vec![0; n],
    };
    let map = |x: usize, y: usize| {
        let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
        (
            view[0] * px + view[1] * py + view[2],
            view[3] * px + view[4] * py + view[5],
        )
    };
    let (ca, cb) = (
        PALETTE[background.colours.0 % PALETTE.len()],
        PALETTE[background.colours.1 % PALETTE.len()],
    );
    // Lattice values of the smooth noise over the scene-coordinate extent of the canvas, computed once.
    let corners = [
        map(0, 0),
        map(width.max(1) - 1, 0),
        map(0, height.max(1) - 1),
        map(width.max(1) - 1, height.max(1) - 1),
    ];
    let cell = background.cell;
    let lx0 = (corners.iter().map(|c| c.0).fold(f32::INFINITY, f32::min) / cell).floor() as i64 - 1;
    let ly0 = (corners.iter().map(|c| c.1).fold(f32::INFINITY, f32::min) / cell).floor() as i64 - 1;
    let lx1 = (corners
        .iter()
        .map(|c| c.0)
        .fold(f32::NEG_INFINITY, f32::max)
        / cell)
        .floor() as i64
        + 2;
    let ly1 = (corners
        .iter()
        .map(|c| c.1)
        .fold(f32::NEG_INFINITY, f32::max)
        / cell)
        .floor() as i64
        + 2;
    let lw = (lx1 - lx0 + 1) as usize;
    let lattice: Vec<f32> = (ly0..=ly1)
        .flat_map(|iy| (lx0..=lx1).map(move |ix| unit(hash2(background.seed, ix, iy))))
        .collect();
    let grain_seed = splitmix64(background.seed ^ 0xA5A5);
    for y in 0..height {
        for x in 0..width {
            let (sx, sy) = map(x, y);
            let (fx, fy) = (sx / cell, sy / cell);
            let (x0, y0) = (fx.floor(), fy.floor());
            let (tx, ty) = (fx - x0, fy - y0);
            let (tx, ty) = (tx * tx * (3.0 - 2.0 * tx), ty * ty * (3.0 - 2.0 * ty));
            let (ix, iy) = (((x0 as i64) - lx0) as usize, ((y0 as i64) - ly0) as usize);
            let at = |dx: usize, dy: usize| lattice[(iy + dy) * lw + ix + dx];
            let a = at(0, 0) + (at(1, 0) - at(0, 0)) * tx;
            let b = at(0, 1) + (at(1, 1) - at(0, 1)) * tx;
            let t = ((a + (b - a) * ty) * 1.6 - 0.3).clamp(0.0, 1.0);
            let gh = splitmix64(
                grain_seed
                    ^ ((sx.floor() as i64 as u64) << 32)
                    ^ (sy.floor() as i64 as u64 & 0xFFFF_FFFF),
            );
            let g = (unit(gh) - 0.5) * 24.0;
            let i = (y * width + x) * 3;
            for c in 0..3 {
                let v = ca[c] as f32 * (1.0 - t) + cb[c] as f32 * t + g;
                out.rgb[i + c] = v.clamp(0.0, 255.0) as u8;
            }
        }
    }
    for o in objects {
        let style = class_style(o.class);
        let (x0, x1, y0, y1) = pixel_rect(o, view, width, height);
        let (sin, cos) = o.angle.sin_cos();
        let (c1, c2) = (
            rotate_hue(PALETTE[o.colours.0 % PALETTE.len()], o.hue),
            rotate_hue(PALETTE[o.colours.1 % PALETTE.len()], o.hue),
        );
        let tex_seed = splitmix64(o.instance as u64 ^ ((o.class as u64) << 8));
        for y in y0..y1 {
            for x in x0..x1 {
                let (sx, sy) = map(x, y);
                let (dx, dy) = ((sx - o.centre.0) / o.radius, (sy - o.centre.1) / o.radius);
                let (u, v) = (cos * dx + sin * dy, -sin * dx + cos * dy);
                if !inside(style.shape, u, v) {
                    continue;
                }
                let t = texture_value(style.texture, style.frequency, u, v, tex_seed);
                let g = (unit(hash2(tex_seed, (u * 40.0) as i64, (v * 40.0) as i64)) - 0.5) * 16.0;
                let p = y * width + x;
                for c in 0..3 {
                    let val = c1[c] * (1.0 - t) + c2[c] * t + o.brightness * 20.0 + g;
                    out.rgb[p * 3 + c] = val.clamp(0.0, 255.0) as u8;
                }
                out.class[p] = o.class;
                out.instance[p] = o.instance;
            }
        }
    }
    out
}

/// The output-pixel rectangle `(x0, x1, y0, y1)` (exclusive ends) that can contain object `o`.
fn pixel_rect(
    o: &ObjectPose,
    view: [f32; 6],
    width: usize,
    height: usize,
) -> (usize, usize, usize, usize) {
    let det = view[0] * view[4] - view[1] * view[3];
    if det.abs() <= 1e-12 {
        return (0, width, 0, height);
    }
    let reach = o.radius * std::f32::consts::SQRT_2 + 1.0;
    let inv = |sx: f32, sy: f32| {
        let (dx, dy) = (sx - view[2], sy - view[5]);
        (
            (view[4] * dx - view[1] * dy) / det,
            (-view[3] * dx + view[0] * dy) / det,
        )
    };
    let corners = [
        (-reach, -reach),
        (reach, -reach),
        (-reach, reach),
        (reach, reach),
    ]
    .map(|(a, b)| inv(o.centre.0 + a, o.centre.1 + b));
    let lo = |v: [f32; 4]| {
        v.iter()
            .copied()
            .fold(f32::INFINITY, f32::min)
            .floor()
            .max(0.0) as usize
    };
    let hi = |v: [f32; 4], m: usize| {
        (v.iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max)
            .ceil()
            .max(0.0) as usize)
            .min(m)
    };
    let (xs, ys) = (corners.map(|c| c.0), corners.map(|c| c.1));
    (
        lo(xs).min(width),
        hi(xs, width),
        lo(ys).min(height),
        hi(ys, height),
    )
}

/// Number of output pixels covered by object `o` alone (no occlusion), under `view` (see [`render`]).
pub fn object_area(width: usize, height: usize, o: &ObjectPose, view: [f32; 6]) -> u64 {
    let shape = class_style(o.class).shape;
    let (x0, x1, y0, y1) = pixel_rect(o, view, width, height);
    let (sin, cos) = o.angle.sin_cos();
    let mut n = 0;
    for y in y0..y1 {
        for x in x0..x1 {
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            let (sx, sy) = (
                view[0] * px + view[1] * py + view[2],
                view[3] * px + view[4] * py + view[5],
            );
            let (dx, dy) = ((sx - o.centre.0) / o.radius, (sy - o.centre.1) / o.radius);
            if inside(shape, cos * dx + sin * dy, -sin * dx + cos * dy) {
                n += 1;
            }
        }
    }
    n
}

/// Visible bounding box `[x1, y1, x2, y2]` (pixel edges, exclusive max) and pixel count of each instance
/// id `1..=max_instance` in an instance mask; `None` for instances with no visible pixel.
pub fn visible_boxes(
    instance: &[u8],
    width: usize,
    max_instance: u8,
) -> Vec<Option<([f32; 4], u64)>> {
    /// (x0, y0, x1, y1, count)
    type Extent = (usize, usize, usize, usize, u64);
    let mut acc: Vec<Option<Extent>> = vec![None; max_instance as usize + 1];
    for (i, &id) in instance.iter().enumerate() {
        if id == 0 || id > max_instance {
            continue;
        }
        let (x, y) = (i % width, i / width);
        let e = acc[id as usize].get_or_insert((x, y, x, y, 0));
        e.0 = e.0.min(x);
        e.1 = e.1.min(y);
        e.2 = e.2.max(x);
        e.3 = e.3.max(y);
        e.4 += 1;
    }
    acc.into_iter()
        .skip(1)
        .map(|a| {
            a.map(|(x0, y0, x1, y1, n)| {
                ([x0 as f32, y0 as f32, x1 as f32 + 1.0, y1 as f32 + 1.0], n)
            })
        })
        .collect()
}
