//! Measures write / verified-read throughput of the feature store:
//! `cargo run -p patchlens-store --example store_throughput -- [dir] [shards] [rows] [dim]`.

use patchlens_store::{FeatureStore, KeySpec, Labels, Shard, ShardKey};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "store-throughput".into());
    let shards: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(8);
    let rows: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(3840); // 15 tiles x 256 patches
    let dim: usize = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(768);
    let store = FeatureStore::open(&dir)?;
    let keys: Vec<ShardKey> = (0..shards)
        .map(|i| {
            ShardKey::derive(&KeySpec {
                model_id: "bench".into(),
                weights_sha256: String::new(),
                layer: 12,
                preprocessing: "bench".into(),
                dataset: "bench".into(),
                image_ids: vec![format!("img{i}")],
            })
        })
        .collect();
    let shard = Shard::new(
        (0..rows * dim).map(|j| (j % 977) as f32 * 0.01).collect(),
        dim,
        Some(Labels::U8((0..rows).map(|j| (j % 19) as u8).collect())),
    )?;
    let mb = (shards * rows * (dim * 4 + 1)) as f64 / 1e6;
    let t = Instant::now();
    for k in &keys {
        store.put(k, &shard)?;
    }
    let w = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for k in &keys {
        let got = store.get(k)?.ok_or("missing shard")?;
        assert_eq!(got.n(), rows);
    }
    let r = t.elapsed().as_secs_f64();
    println!(
        "{shards} shards of [{rows}, {dim}] f32 ({mb:.1} MB): write {:.0} MB/s, verified read {:.0} MB/s",
        mb / w,
        mb / r
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
