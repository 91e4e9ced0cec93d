//! Geometric transforms: warpAffine against OpenCV 4.10, correspondences against hand-computed maps.

mod common;

use common::{load, u8_image};
use patchlens_image::{
    Correspondence, Geometric, ImageU8, Interpolation, Tile, rotation_matrix, transform_tile,
    warp_affine,
};

#[test]
fn warp_affine_matches_opencv_exactly() {
    let refs = load();
    let mut checked = 0;
    for (key, arr) in refs.iter().filter(|(k, _)| k.starts_with("warp_")) {
        // warp_<src>_a<deg>, M = getRotationMatrix2D((W/2, H/2), deg, 1)
        let (src, deg) = key["warp_".len()..].split_once("_a").expect("key");
        let img = u8_image(&refs[&format!("src_{src}_u8")]);
        let m = rotation_matrix(
            img.width as f64 / 2.0,
            img.height as f64 / 2.0,
            deg.parse().expect("deg"),
            1.0,
        );
        let got =
            warp_affine(&img, &m, img.width, img.height, Interpolation::Linear).expect("warp");
        let want = u8_image(arr);
        let n = got
            .data
            .iter()
            .zip(&want.data)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(n, 0, "{key}: {n} of {} values differ", want.data.len());
        checked += 1;
    }
    assert_eq!(checked, 6);
}

/// A chip whose pixel value encodes its position: value = (x + 7 y) % 251, 1 channel.
fn coded_chip(w: usize, h: usize) -> ImageU8 {
    let data = (0..h)
        .flat_map(|y| (0..w).map(move |x| ((x + 7 * y) % 251) as u8))
        .collect();
    ImageU8 {
        width: w,
        height: h,
        channels: 1,
        data,
    }
}

#[test]
fn rotation_by_90_degrees_hand_worked() {
    // 64x64 chip, centre (31.5, 31.5); tile 32x32 at (16, 16) has the same centre, so the re-cropped
    // window is the same. Grid 4x4, patch 8 px.
    let chip = coded_chip(64, 64);
    let tile = Tile {
        x: 16,
        y: 16,
        size: 32,
    };
    let t = transform_tile(
        &chip,
        Some(&chip),
        tile,
        Geometric::Rotate { degrees: 90.0 },
        4,
    )
    .expect("rotate");
    assert_eq!(t.window, tile);
    // OpenCV's +90 deg maps (x, y) - c to (y - cy, -(x - cx)): the pixel at new (u, v) (tile coords,
    // centre 15.5) comes from original x = 31 - v, y = u (tile coords).
    for v in 0..32 {
        for u in 0..32 {
            let want = chip.at(16 + u, 16 + 31 - v, 0);
            assert_eq!(t.image.at(v, u, 0), want, "image at ({u}, {v})");
            assert_eq!(
                t.labels.as_ref().expect("labels").at(v, u, 0),
                want,
                "labels at ({u}, {v})"
            );
        }
    }
    // New patch (r, c) has centre offset (8c - 12, 8r - 12) from the tile centre; the original
    // offset is (12 - 8r, 8c - 12): original column 3 - r, row c.
    let want: Vec<i32> = (0..4)
        .flat_map(|r| (0..4).map(move |c| c * 4 + 3 - r))
        .collect();
    assert_eq!(
        t.corr,
        Correspondence {
            rows: 4,
            cols: 4,
            map: want
        }
    );
}

#[test]
fn integer_shifts_hand_worked() {
    let chip = coded_chip(80, 80);
    let tile = Tile {
        x: 16,
        y: 16,
        size: 32,
    };
    // 2x2 grid, 16-px patches. Shift by 4 px: centres 7.5 + 4 stay in their patch -> identity.
    let t = transform_tile(&chip, None, tile, Geometric::Shift { dx: 4, dy: 4 }, 2).expect("shift");
    assert_eq!(t.corr, Correspondence::identity(2, 2));
    assert_eq!(t.image.at(0, 0, 0), chip.at(20, 20, 0));
    // Shift by 8 px right: centre 7.5 + 8 = 15.5 -> column floor(16 / 16) = 1; column 1 -> 2 = outside.
    let t = transform_tile(&chip, None, tile, Geometric::Shift { dx: 8, dy: 0 }, 2).expect("shift");
    assert_eq!(t.corr.map, vec![1, -1, 3, -1]);
    assert_eq!(t.corr.valid(), 2);
    // Shift by 9 px up: rows move by one patch boundary for row 0 -> outside (-1), row 1 -> row 0.
    let t =
        transform_tile(&chip, None, tile, Geometric::Shift { dx: 0, dy: -9 }, 2).expect("shift");
    assert_eq!(t.corr.map, vec![-1, -1, 0, 1]);
    assert_eq!(t.image.at(0, 0, 0), chip.at(7, 16, 0));
    assert!(transform_tile(&chip, None, tile, Geometric::Shift { dx: 40, dy: 0 }, 2).is_err());
}

#[test]
fn scale_by_two_hand_worked() {
    // 64x64 chip -> 128x128. Tile 32 at (16, 16): centre 31.5 -> (31.5 + 0.5) * 2 - 0.5 = 63.5;
    // window origin 63.5 - 15.5 = 48. Grid 4 (8-px patches): new centre 8c + 3.5 -> chip' 51.5 + 8c
    // -> original chip (52 + 8c) / 2 - 0.5 = 25.5 + 4c -> tile 9.5 + 4c -> column floor((10 + 4c) / 8)
    // = [1, 1, 2, 2]; rows likewise.
    let chip = coded_chip(64, 64);
    let tile = Tile {
        x: 16,
        y: 16,
        size: 32,
    };
    let t = transform_tile(
        &chip,
        Some(&chip),
        tile,
        Geometric::Scale { factor: 2.0 },
        4,
    )
    .expect("scale");
    assert_eq!(
        t.window,
        Tile {
            x: 48,
            y: 48,
            size: 32
        }
    );
    let idx = [1, 1, 2, 2];
    let want: Vec<i32> = (0..4)
        .flat_map(|r| (0..4).map(move |c| idx[r] * 4 + idx[c]))
        .collect();
    assert_eq!(t.corr.map, want);
    // Nearest-exact 2x upscale of labels: new pixel (48 + u) samples original (48 + u) / 2.
    let l = t.labels.expect("labels");
    assert_eq!(l.at(0, 0, 0), chip.at(24, 24, 0));
    assert_eq!(l.at(3, 5, 0), chip.at(25, 26, 0));
}

#[test]
fn small_rotation_matches_hand_rotated_patch_centres() {
    // 5 degrees, 14x14 grid of a 224 tile at the centre of a 1000 chip (tile centre = chip centre,
    // so the window does not move). Independent computation: OpenCV's +theta rotation maps an
    // offset d from the centre to R d with R = [[cos, sin], [-sin, cos]], so the original offset of a
    // new patch centre offset e is R^T e = (cos ex - sin ey, sin ex + cos ey).
    let chip = coded_chip(1000, 1000);
    let tile = Tile {
        x: 388,
        y: 388,
        size: 224,
    };
    let t =
        transform_tile(&chip, None, tile, Geometric::Rotate { degrees: 5.0 }, 14).expect("rotate");
    assert_eq!(t.window, tile);
    let (s, c) = (5f64.to_radians().sin(), 5f64.to_radians().cos());
    let mut want = Vec::new();
    for r in 0..14 {
        for col in 0..14 {
            let (ex, ey) = (16.0 * col as f64 - 104.0, 16.0 * r as f64 - 104.0); // centre 111.5
            let (ox, oy) = (c * ex - s * ey + 112.0, s * ex + c * ey + 112.0); // +111.5 +0.5
            let (pc, pr) = ((ox / 16.0).floor(), (oy / 16.0).floor());
            let inside = (0.0..14.0).contains(&pc) && (0.0..14.0).contains(&pr);
            want.push(if inside { (pr * 14.0 + pc) as i32 } else { -1 });
        }
    }
    assert_eq!(t.corr.map, want);
    // Sanity on the numbers: the centre maps to itself and the corners leave the tile.
    assert_eq!(t.corr.map[7 * 14 + 7], 7 * 14 + 7);
    assert!(
        t.corr.valid() < 196 && t.corr.valid() > 180,
        "valid {}",
        t.corr.valid()
    );
}
