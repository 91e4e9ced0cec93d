//! Degradations: blur against `cv2.blur` (OpenCV 4.10), noise statistics, band energy.

mod common;

use common::{load, u8_image};
use patchlens_image::{ImageU8, band_noise, box_blur, frequency_noise, gaussian_noise, in_band};

#[test]
fn box_blur_matches_cv2_blur_exactly() {
    let refs = load();
    let mut checked = 0;
    for (key, arr) in refs.iter().filter(|(k, _)| k.starts_with("blur_")) {
        // blur_<src>_k<k>
        let (src, k) = key["blur_".len()..].split_once("_k").expect("key");
        let img = u8_image(&refs[&format!("src_{src}_u8")]);
        let want = u8_image(arr);
        let got = box_blur(&img, k.parse().expect("k")).expect("blur");
        let n = got
            .data
            .iter()
            .zip(&want.data)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(n, 0, "{key}: {n} values differ");
        checked += 1;
    }
    assert_eq!(checked, 30, "expected 5 images x 6 kernel sizes");
}

fn gray(w: usize, h: usize, c: usize, v: u8) -> ImageU8 {
    ImageU8 {
        width: w,
        height: h,
        channels: c,
        data: vec![v; w * h * c],
    }
}

#[test]
fn gaussian_noise_statistics_and_determinism() {
    let img = gray(200, 150, 3, 128);
    for sigma in [10.0f32, 20.0, 30.0, 40.0] {
        let out = gaussian_noise(&img, sigma, 7).expect("noise");
        // Truncation toward zero of 128 + n (positive) is floor: E[floor(128 + n)] = 128 - 0.5.
        // Clipping at 0/255 is > 3 sigma away for sigma <= 40 (prob. < 0.2%), so it barely matters.
        let n = out.data.len() as f64;
        let added: Vec<f64> = out.data.iter().map(|&u| u as f64 + 0.5 - 128.0).collect();
        let mean = added.iter().sum::<f64>() / n;
        let var = added.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n;
        // Flooring adds uniform(-0.5, 0.5) error: variance sigma^2 + 1/12.
        let want_std = ((sigma as f64).powi(2) + 1.0 / 12.0).sqrt();
        assert!(
            mean.abs() < 0.05 * sigma as f64 / 4.0 + 0.05,
            "sigma {sigma}: mean {mean}"
        );
        assert!(
            (var.sqrt() / want_std - 1.0).abs() < 0.02,
            "sigma {sigma}: std {} vs {want_std}",
            var.sqrt()
        );
    }
    let a = gaussian_noise(&img, 20.0, 1).expect("noise");
    assert_eq!(
        a,
        gaussian_noise(&img, 20.0, 1).expect("noise"),
        "same seed, same output"
    );
    assert_ne!(
        a,
        gaussian_noise(&img, 20.0, 2).expect("noise"),
        "different seed, different output"
    );
    // Clipping: a white image only loses intensity, never wraps around.
    let white = gaussian_noise(&gray(50, 50, 1, 255), 40.0, 3).expect("noise");
    assert!(white.data.iter().filter(|&&v| v == 255).count() > 1000);
    assert!(white.data.iter().all(|&v| v > 60));
}

/// Independent (naive) DFT energy per radial frequency of a `[h, w]` real field.
fn band_energy_fractions(field: &[f64], w: usize, h: usize) -> [f64; 5] {
    let mut e = [0.0f64; 5]; // [dc, band1..band4]
    let wrap = |k: usize, n: usize| if 2 * k >= n { k as f64 - n as f64 } else { k as f64 } / n as f64;
    for ky in 0..h {
        for kx in 0..w {
            let (mut re, mut im) = (0.0, 0.0);
            for y in 0..h {
                for x in 0..w {
                    let ang = -std::f64::consts::TAU
                        * (kx as f64 * x as f64 / w as f64 + ky as f64 * y as f64 / h as f64);
                    re += field[y * w + x] * ang.cos();
                    im += field[y * w + x] * ang.sin();
                }
            }
            let p = re * re + im * im;
            let rho = wrap(kx, w).hypot(wrap(ky, h));
            // Octave edges written out independently of the crate's table.
            let b = if rho == 0.0 {
                0
            } else if rho < 0.0625 {
                1
            } else if rho < 0.125 {
                2
            } else if rho < 0.25 {
                3
            } else {
                4
            };
            e[b] += p;
        }
    }
    let total: f64 = e.iter().sum();
    e.map(|v| v / total)
}

#[test]
fn frequency_noise_energy_is_inside_its_band_with_matched_rms() {
    let (w, h) = (40, 36);
    for band in 1..=4u8 {
        let noise = band_noise(w, h, 2, band, 20.0, 11).expect("noise");
        let rms =
            (noise.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / noise.len() as f64).sqrt();
        assert!((rms - 20.0).abs() < 1e-3, "band {band}: rms {rms}");
        let mean = noise.iter().map(|&v| v as f64).sum::<f64>() / noise.len() as f64;
        assert!(
            mean.abs() < 1e-3,
            "band {band}: mean {mean} (DC must be removed)"
        );
        // Channel 0 only.
        let field: Vec<f64> = noise.iter().step_by(2).map(|&v| v as f64).collect();
        let frac = band_energy_fractions(&field, w, h);
        assert!(
            frac[band as usize] > 0.999,
            "band {band}: energy fractions {frac:?}"
        );
    }
    assert!(in_band(0.3, 4) && !in_band(0.3, 3) && !in_band(0.0, 1) && in_band(0.01, 1));
}

#[test]
fn frequency_noise_is_deterministic_and_clipped() {
    let img = gray(64, 48, 3, 128);
    let a = frequency_noise(&img, 2, 20.0, 5).expect("noise");
    assert_eq!(a, frequency_noise(&img, 2, 20.0, 5).expect("noise"));
    assert_ne!(a, frequency_noise(&img, 2, 20.0, 6).expect("noise"));
    assert_ne!(a, frequency_noise(&img, 3, 20.0, 5).expect("noise"));
    // Mid-gray + RMS 20 noise: the std of the output is ~20 (plus 1/12 from truncation).
    let n = a.data.len() as f64;
    let mean = a.data.iter().map(|&v| v as f64).sum::<f64>() / n;
    let std = (a
        .data
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    assert!((std - 20.0).abs() < 0.3, "std {std}");
    assert!(frequency_noise(&img, 0, 20.0, 5).is_err());
    assert!(frequency_noise(&img, 5, 20.0, 5).is_err());
}
