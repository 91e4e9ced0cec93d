//! Forward-pass throughput of a random-weight zoo backbone on a chosen device and precision.
//!
//! ```text
//! cargo run --release -p patchlens-vit --example bench_forward -- --model dino_vits16 --batch 8 --iters 10
//! cargo run --release -p patchlens-vit --features cuda --example bench_forward -- --backend cuda:0 --precision bf16
//! ```
//! Options: `--model NAME` (zoo name), `--batch B`, `--size S` (input S×S), `--iters N` (timed runs),
//! `--warmup N`, `--layers all|last`, `--path auto|burn|host` (forward implementation), `--backend
//! flex|wgpu[:N]|cuda[:N]`, `--precision f32|f16|bf16`. Prints the median time per batch and img/s, and a
//! machine-readable last line `IMG_PER_S <value>`; a backend or precision that cannot run is one error
//! line on stderr and exit status 2 (`benches/gpu_vs_pytorch.sh` records it as unsupported).

use std::time::Instant;

use patchlens_vit::{Backend, ForwardPath, Precision, Tensor, TensorData, init, zoo};

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(2)
}

fn main() {
    let mut model = "dino_vits16".to_string();
    let (mut batch, mut size, mut iters, mut warmup) = (8usize, 224usize, 10usize, 2usize);
    let mut all_layers = false;
    let mut path = ForwardPath::Auto;
    let mut backend = Backend::FLEX;
    let mut precision = Precision::F32;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let val = args.get(i + 1).cloned().unwrap_or_default();
        let num = || -> usize {
            val.parse()
                .unwrap_or_else(|_| panic!("{} expects a number, got `{val}`", args[i]))
        };
        match args[i].as_str() {
            "--model" => model = val.clone(),
            "--batch" => batch = num(),
            "--size" => size = num(),
            "--iters" => iters = num(),
            "--warmup" => warmup = num(),
            "--layers" => all_layers = val == "all",
            "--backend" => backend = val.parse().unwrap_or_else(|e| fail(e)),
            "--precision" => precision = val.parse().unwrap_or_else(|e| fail(e)),
            "--path" => {
                path = match val.as_str() {
                    "auto" => ForwardPath::Auto,
                    "burn" => ForwardPath::Burn,
                    "host" => ForwardPath::Host,
                    other => panic!("--path expects auto|burn|host, got `{other}`"),
                }
            }
            other => panic!("unknown option {other}"),
        }
        i += 2;
    }
    let entry = zoo::lookup(&model).unwrap_or_else(|e| panic!("{e}"));
    let device = backend.device().unwrap_or_else(|e| fail(e));
    let mut vit = init::init_random(&entry.config, 0, &device);
    vit.set_forward_path(path);
    vit.set_precision(precision).unwrap_or_else(|e| fail(e));
    let depth = entry.config.depth;
    let layers: Vec<usize> = if all_layers {
        (1..=depth).collect()
    } else {
        vec![depth]
    };
    let n = batch * 3 * size * size;
    let data: Vec<f32> = (0..n)
        .map(|k| ((k * 7919 % 1000) as f32 / 500.0) - 1.0)
        .collect();
    let x = Tensor::<4>::from_data(TensorData::new(data, [batch, 3, size, size]), &device);
    let run = || {
        let out = vit.forward_layers(x.clone(), &layers).expect("forward");
        // Materialise the result (device sync).
        let v = out.layers[0].patches.clone().into_data();
        std::hint::black_box(v);
    };
    for _ in 0..warmup {
        run();
    }
    let mut times: Vec<f64> = (0..iters.max(1))
        .map(|_| {
            let t = Instant::now();
            run();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(|a, b| a.total_cmp(b));
    let med = times[times.len() / 2];
    let ips = batch as f64 / med;
    println!(
        "{model} on {backend} at {precision}: batch {batch}, {size}x{size}, {} threads: median {:.1} ms/batch (min {:.1}), {ips:.2} img/s",
        rayon::current_num_threads(),
        med * 1e3,
        times[0] * 1e3
    );
    println!("IMG_PER_S {ips:.3}");
}
