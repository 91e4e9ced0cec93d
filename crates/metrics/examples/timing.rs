//! Rough timings of the hot paths on synthetic data: `cargo run -p patchlens-metrics --example timing`.

use std::time::Instant;

use patchlens_metrics::*;

fn main() -> Result<()> {
    // Cityscapes: 30 images, 4×8 tiles with a 14×14 grid → 1024×2048, accumulated over the 34 labelIds.
    let space = LabelSpace::cityscapes();
    let layout = TileLayout {
        tile_rows: 4,
        tile_cols: 8,
        grid: 14,
    };
    let mut state = 12345u64;
    let mut rnd = move |m: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) % m) as u16
    };
    let preds: Vec<Vec<u16>> = (0..30)
        .map(|_| (0..layout.num_patches()).map(|_| rnd(34)).collect())
        .collect();
    let gts: Vec<LabelMap> = (0..30)
        .map(|_| {
            let p: Vec<u16> = (0..layout.num_patches()).map(|_| rnd(34)).collect();
            stitch_tiles_upsampled(&p, layout, 256, NearestExact::OpenCv4)
        })
        .collect::<Result<_>>()?;
    let t = Instant::now();
    let maps: Vec<LabelMap> = preds
        .iter()
        .map(|p| stitch_tiles_upsampled(p, layout, 256, NearestExact::OpenCv4))
        .collect::<Result<_>>()?;
    let t_stitch = t.elapsed();
    let t = Instant::now();
    let mut cm = ConfusionMatrix::new(&space);
    for (p, g) in maps.iter().zip(&gts) {
        cm.accumulate_maps(p, g)?;
    }
    let s = cm.scores();
    let t_cm = t.elapsed();
    println!(
        "cityscapes 30×1024×2048: stitch {:.3}s, confusion+scores {:.3}s (mIoU {:.4})",
        t_stitch.as_secs_f64(),
        t_cm.as_secs_f64(),
        s.miou
    );

    // DAVIS: 50 frames of 480×854, J and F.
    let (w, h) = (854usize, 480usize);
    let frames: Vec<(Vec<u8>, Vec<u8>)> = (0..50)
        .map(|f| {
            let c = |dx: f64| -> Vec<u8> {
                (0..w * h)
                    .map(|i| {
                        let (x, y) = ((i % w) as f64, (i / w) as f64);
                        let (cx, cy) = (400.0 + f as f64 + dx, 240.0);
                        (((x - cx).powi(2) / 200f64.powi(2) + (y - cy).powi(2) / 120f64.powi(2))
                            < 1.0) as u8
                    })
                    .collect()
            };
            (c(0.0), c(9.0))
        })
        .collect();
    let t = Instant::now();
    let gm: Vec<davis::Mask<'_>> = frames
        .iter()
        .map(|(g, _)| davis::Mask {
            width: w,
            height: h,
            data: g,
        })
        .collect();
    let pm: Vec<davis::Mask<'_>> = frames
        .iter()
        .map(|(_, p)| davis::Mask {
            width: w,
            height: h,
            data: p,
        })
        .collect();
    let o = ObjectScores::from_masks("ellipse", &gm, &pm, None, DEFAULT_BOUND_TH)?;
    println!(
        "davis 50×480×854: J&F {:.3}s (J {:.4}, F {:.4})",
        t.elapsed().as_secs_f64(),
        o.j_stats.mean,
        o.f_stats.mean
    );
    Ok(())
}
