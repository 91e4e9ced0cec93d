//! Criterion benchmark: forward throughput of random-weight ViT-S/16 and ViT-B/16 (zoo configs
//! `dino_vits16`, `dino_vitb16`), batch 8, 224×224, fp32, on the flex (CPU) device.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use patchlens_vit::{Device, Tensor, TensorData, init, zoo};

fn forward(c: &mut Criterion) {
    let device = Device::flex();
    let batch = 8;
    let mut group = c.benchmark_group("vit_forward_b8_224");
    group.sample_size(10);
    group.throughput(Throughput::Elements(batch as u64));
    for name in ["dino_vits16", "dino_vitb16"] {
        let cfg = &zoo::lookup(name).expect("zoo entry").config;
        let vit = init::init_random(cfg, 0, &device);
        let n = batch * 3 * 224 * 224;
        let data: Vec<f32> = (0..n)
            .map(|k| ((k * 7919 % 1000) as f32 / 500.0) - 1.0)
            .collect();
        let x = Tensor::<4>::from_data(TensorData::new(data, [batch, 3, 224, 224]), &device);
        group.bench_function(name, |b| {
            b.iter(|| {
                let out = vit
                    .forward_layers(x.clone(), &[cfg.depth])
                    .expect("forward");
                std::hint::black_box(out.layers[0].patches.clone().into_data())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, forward);
criterion_main!(benches);
