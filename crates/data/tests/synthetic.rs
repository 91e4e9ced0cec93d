//! The synthetic benchmark: determinism, mask/geometry consistency, difficulty (mean colour is not
//! enough), videos and the transformation set.

use std::collections::BTreeMap;

use patchlens_data::synthetic::render::{Shape, class_style, inside};
use patchlens_data::synthetic::transforms::{TransformBenchConfig, transformed_scene};
use patchlens_data::synthetic::video::{VideoConfig, video};
use patchlens_data::synthetic::{SyntheticConfig, scene, scenes};
use patchlens_data::transforms::{TransformKind, transformation_set};
use patchlens_data::{TileSpec, tile_image};

#[test]
fn scenes_are_deterministic_and_seed_dependent() {
    let cfg = SyntheticConfig {
        seed: 11,
        ..SyntheticConfig::default()
    };
    let a = scene(&cfg, 7).unwrap();
    let b = scene(&cfg, 7).unwrap();
    assert_eq!(a, b);
    assert_ne!(a.image, scene(&cfg, 8).unwrap().image);
    assert_ne!(
        a.image,
        scene(
            &SyntheticConfig {
                seed: 12,
                ..cfg.clone()
            },
            7
        )
        .unwrap()
        .image
    );
    assert_eq!(a.id, "synthetic_11_7");
    assert_eq!(
        (a.image.width, a.image.height, a.image.channels),
        (224, 224, 3)
    );
    assert!(
        SyntheticConfig {
            num_classes: 0,
            ..cfg.clone()
        }
        .validate()
        .is_err()
    );
    assert!(
        scene(
            &SyntheticConfig {
                min_objects: 5,
                max_objects: 2,
                ..cfg
            },
            0
        )
        .is_err()
    );
}

#[test]
fn masks_agree_with_objects() {
    let cfg = SyntheticConfig {
        seed: 3,
        ..SyntheticConfig::default()
    };
    for s in scenes(&cfg, 0..20) {
        let s = s.unwrap();
        assert!((3..=8).contains(&s.objects.len()));
        let mut count: BTreeMap<u8, u64> = BTreeMap::new();
        for (i, (&inst, &cls)) in s
            .instance_mask
            .data
            .iter()
            .zip(&s.class_mask.data)
            .enumerate()
        {
            if inst == 0 {
                assert_eq!(cls, 0);
                continue;
            }
            let o = &s.objects[inst as usize - 1];
            assert_eq!(o.pose.instance, inst);
            assert_eq!(cls, o.pose.class);
            let [x1, y1, x2, y2] = o.visible_box.unwrap();
            let (x, y) = ((i % 224) as f32, (i / 224) as f32);
            assert!(x >= x1 && x < x2 && y >= y1 && y < y2);
            *count.entry(inst).or_default() += 1;
        }
        for o in &s.objects {
            assert_eq!(
                count.get(&o.pose.instance).copied().unwrap_or(0),
                o.visible_pixels
            );
            assert_eq!(o.visible_box.is_none(), o.visible_pixels == 0);
        }
        // The topmost object is fully visible: its pixel count equals its shape's area at its pose.
        let top = s.objects.last().unwrap();
        let shape = class_style(top.pose.class).shape;
        let (sin, cos) = top.pose.angle.sin_cos();
        let mut area = 0;
        for y in 0..224 {
            for x in 0..224 {
                let (dx, dy) = (
                    (x as f32 + 0.5 - top.pose.centre.0) / top.pose.radius,
                    (y as f32 + 0.5 - top.pose.centre.1) / top.pose.radius,
                );
                if inside(shape, cos * dx + sin * dy, -sin * dx + cos * dy) {
                    area += 1;
                }
            }
        }
        assert_eq!(top.visible_pixels, area);
    }
}

#[test]
fn shapes_hand_worked() {
    assert!(inside(Shape::Ellipse, 0.9, 0.0) && !inside(Shape::Ellipse, 0.0, 0.7));
    assert!(inside(Shape::Ring, 0.75, 0.0) && !inside(Shape::Ring, 0.2, 0.2));
    assert!(inside(Shape::Diamond, 0.5, 0.5) && !inside(Shape::Diamond, 0.6, 0.5));
    assert!(inside(Shape::Cross, 0.9, 0.1) && !inside(Shape::Cross, 0.5, 0.5));
    // Every (shape, texture) pair is distinct for the 64 allowed classes.
    let pairs: std::collections::BTreeSet<String> = (1..=64u8)
        .map(|k| {
            format!(
                "{:?}{:?}{}",
                class_style(k).shape,
                class_style(k).texture,
                class_style(k).frequency
            )
        })
        .collect();
    assert_eq!(pairs.len(), 64);
}

/// Patch-level features of scenes: (mean RGB of each 16x16 patch, centre-pixel label).
fn patch_means(cfg: &SyntheticConfig, range: std::ops::Range<usize>) -> Vec<([f32; 3], u8)> {
    let spec = TileSpec::synthetic(16).unwrap();
    let mut out = Vec::new();
    for s in scenes(cfg, range) {
        let s = s.unwrap();
        let t = tile_image(&spec, &s.id, &s.image, Some(&s.class_mask)).unwrap();
        let labels = t[0].patch_labels.as_ref().unwrap();
        for (p, &lab) in labels.iter().enumerate() {
            let (r, c) = (p / 14, p % 14);
            let mut m = [0f32; 3];
            for y in r * 16..r * 16 + 16 {
                for x in c * 16..c * 16 + 16 {
                    for (ch, v) in m.iter_mut().enumerate() {
                        *v += s.image.data[(y * 224 + x) * 3 + ch] as f32 / 256.0;
                    }
                }
            }
            out.push((m, lab));
        }
    }
    out
}

#[test]
fn mean_colour_classifier_is_far_from_perfect() {
    // Nearest-centroid on per-patch mean colour, trained on 150 scenes, tested on 50 others,
    // over object patches (labels 1..=8). With 8 classes chance is 12.5%.
    let cfg = SyntheticConfig {
        seed: 5,
        ..SyntheticConfig::default()
    };
    let train = patch_means(&cfg, 0..150);
    let test = patch_means(&cfg, 150..200);
    let mut sums = [[0f64; 4]; 9];
    for (m, l) in &train {
        for c in 0..3 {
            sums[*l as usize][c] += m[c] as f64;
        }
        sums[*l as usize][3] += 1.0;
    }
    let cents: Vec<[f64; 3]> = sums
        .iter()
        .map(|s| {
            [
                s[0] / s[3].max(1.0),
                s[1] / s[3].max(1.0),
                s[2] / s[3].max(1.0),
            ]
        })
        .collect();
    let (mut right, mut n) = (0, 0);
    for (m, l) in test.iter().filter(|(_, l)| *l > 0) {
        let best = (1..=8)
            .min_by(|&a, &b| {
                let d = |k: usize| {
                    (0..3)
                        .map(|c| (m[c] as f64 - cents[k][c]).powi(2))
                        .sum::<f64>()
                };
                d(a).partial_cmp(&d(b)).unwrap()
            })
            .unwrap();
        right += (best == *l as usize) as usize;
        n += 1;
    }
    let acc = right as f64 / n as f64;
    eprintln!("mean-colour nearest-centroid accuracy on object patches: {acc:.3} over {n} patches");
    assert!(n > 1000);
    assert!(
        acc < 0.5,
        "colour alone must not solve the benchmark (accuracy {acc})"
    );
}

#[test]
fn videos_track_moving_occluding_objects() {
    let cfg = VideoConfig {
        frames: 12,
        ..VideoConfig::default()
    };
    let mut occluded = 0;
    let mut moved = 0;
    for i in 0..4 {
        let v = video(&cfg, i).unwrap();
        assert_eq!(v, video(&cfg, i).unwrap());
        let frames: Vec<_> = v.iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(frames.len(), 12);
        for f in &frames {
            for o in &f.objects {
                let track = &v.tracks[o.track_id as usize - 1];
                assert_eq!(track.start.class, o.class, "class constant along a track");
                let [x1, y1, x2, y2] = o.bbox;
                assert!(x1 >= 0.0 && y1 >= 0.0 && x2 <= 448.0 && y2 <= 224.0 && x1 < x2 && y1 < y2);
                let n = f
                    .instance_mask
                    .data
                    .iter()
                    .filter(|&&t| t == o.track_id)
                    .count() as u64;
                assert_eq!(n, o.visible_pixels);
                assert!(o.visible_fraction > 0.0 && o.visible_fraction <= 1.0 + 1e-6);
                occluded += (o.visible_fraction < 0.95) as usize;
            }
        }
        let p0 = v.poses(0);
        let p11 = v.poses(11);
        moved += p0
            .iter()
            .zip(&p11)
            .filter(|(a, b)| a.centre != b.centre)
            .count();
        assert!(v.frame(12).is_err());
    }
    assert!(occluded > 0, "some objects occlude others");
    assert!(moved > 0);
}

#[test]
fn hard_videos_share_colours_and_change_appearance() {
    let cfg = VideoConfig {
        frames: 10,
        ..VideoConfig::hard()
    };
    for i in 0..6 {
        let v = video(&cfg, i).unwrap();
        assert!((4..=6).contains(&v.tracks.len()));
        let c0 = v.tracks[0].start.colours;
        let mut classes: Vec<u8> = v.tracks.iter().map(|m| m.start.class).collect();
        assert!(
            v.tracks.iter().all(|m| m.start.colours == c0),
            "one colour pair"
        );
        classes.sort();
        classes.dedup();
        assert_eq!(classes.len(), v.tracks.len(), "distinct classes (8 >= 6)");
        for m in &v.tracks {
            assert!(m.spin.abs() <= 0.03 && m.scale_rate.abs() <= 0.03);
            assert!(m.brightness_rate.abs() <= 0.15 && m.hue_rate.abs() <= 0.5);
        }
        // Brightness follows the rate and stays within [-1, 1] (it bounces at the ends).
        let (p0, p9) = (v.poses(0), v.poses(9));
        for ((a, b), m) in p0.iter().zip(&p9).zip(&v.tracks) {
            assert!((-1.0..=1.0).contains(&b.brightness));
            let free = a.brightness + 9.0 * m.brightness_rate;
            if (-1.0..=1.0).contains(&free) {
                assert!((b.brightness - free).abs() < 1e-5);
            }
            assert!((b.angle - a.angle - 9.0 * m.spin).abs() < 1e-4);
            assert!((b.hue - a.hue - 9.0 * m.hue_rate).abs() < 1e-4);
        }
    }
    // The default setting is unchanged by the new options: constant brightness and colours.
    let v = video(&VideoConfig::default(), 0).unwrap();
    assert!(
        v.tracks
            .iter()
            .all(|m| m.brightness_rate == 0.0 && m.hue_rate == 0.0)
    );
    let bad = VideoConfig {
        max_spin: f32::NAN,
        ..VideoConfig::default()
    };
    assert!(video(&bad, 0).unwrap_err().to_string().contains("max_spin"));
}

#[test]
fn hue_rotation_hand_worked() {
    use patchlens_data::synthetic::render::rotate_hue;
    // A third of a turn about the grey axis permutes the channels (r, g, b) -> (b, r, g); grey is fixed.
    let [r, g, b] = rotate_hue([200, 60, 50], 2.0 * std::f32::consts::PI / 3.0);
    assert!((r - 50.0).abs() < 1e-3 && (g - 200.0).abs() < 1e-3 && (b - 60.0).abs() < 1e-3);
    let grey = rotate_hue([90, 90, 90], 1.0);
    assert!(grey.iter().all(|v| (v - 90.0).abs() < 1e-3));
    assert_eq!(rotate_hue([1, 2, 3], 0.0), [1.0, 2.0, 3.0]);
}

#[test]
fn transformation_set_with_exact_correspondences() {
    let cfg = TransformBenchConfig::default();
    let set = transformation_set(&TransformKind::ALL);
    assert_eq!(set.len(), 24);
    let ts = transformed_scene(&cfg, 2, &set, 14).unwrap();
    assert_eq!((ts.image.width, ts.mask.width), (224, 224));
    let orig_labels = patchlens_image::patch_labels(&ts.mask, 14, 14);
    for tr in &ts.transformed {
        let corr = &tr.correspondence;
        let labels = patchlens_image::patch_labels(tr.mask.as_ref().unwrap(), 14, 14);
        match tr.transform.kind {
            TransformKind::Blur | TransformKind::Noise | TransformKind::Freq => {
                assert_eq!(corr.valid(), 196);
                assert_ne!(tr.image, ts.image, "{}", tr.transform.label());
            }
            TransformKind::Shift => assert!(
                corr.map.iter().enumerate().all(|(i, &m)| m == i as i32),
                "sub-patch shifts keep identity"
            ),
            _ => {}
        }
        // The label under each transformed patch centre mostly equals the label of its corresponding
        // original patch (exact up to nearest sampling at object borders).
        let (mut same, mut n) = (0, 0);
        for (p, &m) in corr.map.iter().enumerate() {
            if m >= 0 {
                n += 1;
                same += (labels[p] == orig_labels[m as usize]) as usize;
            }
        }
        assert!(
            n > 100 && same as f64 / n as f64 > 0.85,
            "{}: {same}/{n}",
            tr.transform.label()
        );
    }
    // Rotation by 20 degrees loses some correspondences at the tile corners.
    let rot4 = ts
        .transformed
        .iter()
        .find(|t| t.transform.label() == "rotate4")
        .unwrap();
    assert!(rot4.correspondence.valid() < 196);
}
