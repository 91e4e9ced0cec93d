//! Times the hot operations on a Cityscapes-sized frame: `cargo run -p patchlens-image --example resize_timing`.

use std::time::Instant;

use patchlens_image::{
    ImageU8, Interpolation, box_blur, frequency_noise, resize_f32, resize_u8, to_f32_normalized,
};

fn time<T>(label: &str, reps: usize, mut f: impl FnMut() -> T) {
    let _ = f();
    let t = Instant::now();
    for _ in 0..reps {
        std::hint::black_box(f());
    }
    println!(
        "{label}: {:.2} ms",
        t.elapsed().as_secs_f64() * 1e3 / reps as f64
    );
}

fn main() {
    let (w, h) = (2048, 1024);
    let data = (0..w * h * 3)
        .map(|i| ((i * 2654435761usize) >> 13) as u8)
        .collect();
    let img = ImageU8 {
        width: w,
        height: h,
        channels: 3,
        data,
    };
    let f = to_f32_normalized(
        &img,
        patchlens_image::IMAGENET_MEAN,
        patchlens_image::IMAGENET_STD,
    );
    println!("threads: {}", rayon::current_num_threads());
    time("u8 cubic 2048x1024 -> 1120x672", 5, || {
        resize_u8(&img, 1120, 672, Interpolation::Cubic)
    });
    time("u8 cubic 2048x1024 -> 4096x2048", 3, || {
        resize_u8(&img, 4096, 2048, Interpolation::Cubic)
    });
    time("u8 linear 2048x1024 -> 1120x672", 5, || {
        resize_u8(&img, 1120, 672, Interpolation::Linear)
    });
    time("u8 area 2048x1024 -> 1120x672", 5, || {
        resize_u8(&img, 1120, 672, Interpolation::Area)
    });
    time("f32 cubic 2048x1024 -> 1120x672", 5, || {
        resize_f32(&f, 1120, 672, Interpolation::Cubic)
    });
    let tile = resize_f32(&f, 256, 256, Interpolation::Area);
    time("f32 cubic tile 256 -> 224", 50, || {
        resize_f32(&tile, 224, 224, Interpolation::Cubic)
    });
    let t8 = resize_u8(&img, 256, 256, Interpolation::Area);
    time("box blur k=8 on 256x256x3", 20, || box_blur(&t8, 8));
    time("frequency noise on 256x256x3", 20, || {
        frequency_noise(&t8, 2, 20.0, 1)
    });
}
