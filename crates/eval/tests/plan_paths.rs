//! Unit ids and cache keys depend on the work, never on where the data is mounted: the same suite planned
//! under two data roots that hold the same data (two links to one CamVid tree) names the same units, and a
//! unit done under one root is found done under the other (its record is reused; no unit runs again).

mod support;

use std::path::Path;

use patchlens_eval::plan::{self, PlanOptions};
use patchlens_eval::runner::{self, Event, RunContext};

#[test]
fn the_same_data_under_another_root_gives_the_same_units_and_reuses_their_records() {
    let Some(camvid) = patchlens_testutil::shared_asset("data/camvid-mini") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data-one/camvid");
    support::camvid_subset(&camvid, &data, 2, 2);
    let other = tmp.path().join("mnt/elsewhere");
    std::fs::create_dir_all(&other).unwrap();
    std::os::unix::fs::symlink(tmp.path().join("data-one"), other.join("data")).unwrap();
    let cfg = tmp.path().join("suite.toml");
    std::fs::write(
        &cfg,
        r#"name = "paths"
models = ["small"]
bootstrap_resamples = 20

[model.small]
like = "dino_vits16"
config = { embed_dim = 32, depth = 2, num_heads = 2, mlp_hidden = 64 }
random_init = 0

[experiments.s1]
kind = "segmentation"
dataset = "camvid"
"#,
    )
    .unwrap();
    let suite = patchlens_eval::suite::load("demo", Some(&cfg)).unwrap();
    let out = tmp.path().join("out");
    let opts = |root: &Path| PlanOptions {
        data_root: root.to_path_buf(),
        weights_root: tmp.path().join("weights"),
        config_dir: tmp.path().to_path_buf(),
        out: out.clone(),
        ..PlanOptions::default()
    };
    let a = plan::plan(&suite, &opts(&tmp.path().join("data-one"))).unwrap();
    let b = plan::plan(&suite, &opts(&other.join("data"))).unwrap();
    assert!(
        a.skipped.is_empty() && b.skipped.is_empty(),
        "{:?}",
        a.skipped
    );
    let ids = |p: &plan::Plan| p.units.iter().map(|u| u.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&a).len(), 1);
    assert_eq!(ids(&a), ids(&b), "ids do not depend on the data root");

    let device = patchlens_vit::Device::flex();
    let run = |p: &plan::Plan, root: &Path, fresh: bool| -> (usize, usize) {
        let ctx = RunContext::new(p, &out, root, None, None, serde_json::json!({})).unwrap();
        let (mut ran, mut found) = (0, 0);
        runner::run_all(
            &ctx,
            &device,
            fresh,
            &mut |ev| match ev {
                Event::UnitDone { cached: true, .. } => found += 1,
                Event::UnitDone { cached: false, .. } => ran += 1,
                Event::UnitFailed(l) | Event::ModelSkipped(l) => panic!("{l}"),
                _ => {}
            },
            &mut || Ok(()),
        )
        .unwrap();
        (ran, found)
    };
    assert_eq!(run(&a, &tmp.path().join("data-one"), false), (1, 0));
    assert_eq!(
        run(&b, &other.join("data"), false),
        (0, 1),
        "the unit done under the first root is not redone under the second"
    );
    // The features were cached under keys without the root: the unit run again (fresh) under the second
    // root reads them and writes no new shard.
    let shards = || std::fs::read_dir(out.join("cache")).unwrap().count();
    let before = shards();
    assert!(before > 0);
    assert_eq!(run(&b, &other.join("data"), true), (1, 0));
    assert_eq!(shards(), before, "no feature computed again");
    let merged = runner::merge(&b, &out).unwrap();
    assert!(merged.missing.is_empty());
    let miou = merged
        .experiments
        .iter()
        .find(|e| e.name == "camvid/knn/train/small/layer2")
        .and_then(|e| e.metrics.get("miou").copied())
        .expect("the unit's experiment");
    assert!((0.0..=1.0).contains(&miou));
}
