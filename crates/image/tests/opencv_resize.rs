//! `resize_u8` / `resize_f32` against `cv2.resize` (OpenCV 4.10) reference outputs.

mod common;

use common::{f32_image, load, u8_image};
use patchlens_image::{Interpolation, resize_f32, resize_u8};

fn interp(name: &str) -> Interpolation {
    match name {
        "nearest_exact" => Interpolation::NearestExact,
        "linear" => Interpolation::Linear,
        "cubic" => Interpolation::Cubic,
        "area" => Interpolation::Area,
        other => panic!("unknown interpolation {other}"),
    }
}

/// Parse `resize_<src>_<dtype>_<interp>_<W>x<H>`.
fn parse(key: &str) -> (String, String, String, usize, usize) {
    let rest = key.strip_prefix("resize_").expect("resize key");
    let (src, rest) = rest.split_once('_').expect("src");
    let (dtype, rest) = rest.split_once('_').expect("dtype");
    let (interp, size) = rest.rsplit_once('_').expect("interp");
    let (w, h) = size.split_once('x').expect("size");
    (
        src.into(),
        dtype.into(),
        interp.into(),
        w.parse().expect("w"),
        h.parse().expect("h"),
    )
}

/// `u8` nearest/linear/area use OpenCV's own integer code and must match exactly. `u8` cubic is
/// computed by Intel IPP inside opencv-python (closed source); we reproduce it in `f32` and allow
/// rare ±1 differences at near-ties: at most 1 level, at most 1 in 10,000 values overall.
#[test]
fn resize_u8_matches_opencv() {
    let refs = load();
    let mut checked = 0;
    let mut failures = Vec::new();
    let (mut cubic_values, mut cubic_diffs) = (0usize, 0usize);
    for (key, arr) in refs
        .iter()
        .filter(|(k, _)| k.starts_with("resize_") && k.contains("_u8_"))
    {
        let (src, _, iname, w, h) = parse(key);
        let img = u8_image(&refs[&format!("src_{src}_u8")]);
        let want = u8_image(arr);
        let got = resize_u8(&img, w, h, interp(&iname));
        assert_eq!(
            (got.width, got.height, got.channels),
            (want.width, want.height, want.channels),
            "{key}"
        );
        let diffs: Vec<i32> = got
            .data
            .iter()
            .zip(&want.data)
            .map(|(&a, &b)| (a as i32 - b as i32).abs())
            .collect();
        let n = diffs.iter().filter(|&&d| d > 0).count();
        let max = diffs.iter().copied().max().unwrap_or(0);
        if iname == "cubic" {
            cubic_values += diffs.len();
            cubic_diffs += n;
            if max > 1 {
                failures.push(format!("{key}: max diff {max} > 1"));
            }
        } else if n > 0 {
            failures.push(format!("{key}: {n}/{} differ, max {max}", diffs.len()));
        }
        checked += 1;
    }
    assert!(checked >= 100, "only {checked} u8 cases found");
    assert!(
        cubic_values > 10_000,
        "too few cubic values ({cubic_values})"
    );
    assert!(
        cubic_diffs * 10_000 <= cubic_values,
        "cubic: {cubic_diffs} of {cubic_values} values differ by 1 (allowed: 1 in 10,000)"
    );
    assert!(
        failures.is_empty(),
        "{} of {checked} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn resize_f32_matches_opencv_within_1e5() {
    let refs = load();
    let mut checked = 0;
    let mut failures = Vec::new();
    for (key, arr) in refs
        .iter()
        .filter(|(k, _)| k.starts_with("resize_") && k.contains("_f32_"))
    {
        let (src, _, iname, w, h) = parse(key);
        let img = f32_image(&refs[&format!("src_{src}_f32")]);
        let want = f32_image(arr);
        let got = resize_f32(&img, w, h, interp(&iname));
        assert_eq!(
            (got.width, got.height, got.channels),
            (want.width, want.height, want.channels),
            "{key}"
        );
        let max = got
            .data
            .iter()
            .zip(&want.data)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        if max > 1e-5 || got.data.iter().any(|v| !v.is_finite()) {
            failures.push(format!("{key}: max abs diff {max:e}"));
        }
        checked += 1;
    }
    assert!(checked >= 100, "only {checked} f32 cases found");
    assert!(
        failures.is_empty(),
        "{} of {checked} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
