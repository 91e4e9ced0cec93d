//! Real-data check (issue #4): DINOv2-S/14 on the shared CamVid mini split (37 train frames → 24 test
//! frames; 672×448, 2×3 tiles of 224, 16×16 patch labels), layer 12, with the study's defaults (what
//! `cargo xtask eval segmentation` runs without options).
//!
//! Floors, from the first measurement (2-core x86 VM, flex backend): 1-NN (dot) mIoU 0.3177 (95 % bootstrap
//! CI 0.290–0.341; pixel accuracy 0.711, patch accuracy 0.702), linear probe (defaults: Adam lr 1e-3,
//! 20 epochs, batch 1024, seed 0, held-out 10 % selection on the loss) mIoU 0.4453 (CI 0.414–0.470; pixel
//! accuracy 0.816). The 1-NN numbers were reproduced exactly (mIoU 0.317692, patch accuracy 0.701823) by an
//! independent numpy + OpenCV 1-NN / back-projection / IoU on the same cached features.
//! Chance is 1/11 ≈ 0.09 for 11 classes. The floors (0.25 and 0.35) are about 3× chance and sit below
//! the lower ends of the bootstrap intervals, leaving room for kernel / backend differences (different GEMM
//! summation order can flip 1-NN ties; the probe's Adam trajectory depends on float rounding).

mod support;

use patchlens_eval::ModelTokens;
use patchlens_eval::segmentation::{self, ProbeKind, SegSource, SegmentationConfig};
use patchlens_store::FeatureStore;

const KNN_FLOOR: f64 = 0.25;
const LINEAR_FLOOR: f64 = 0.35;

#[test]
fn dinov2_small_on_camvid_mini_beats_floors() {
    let Some(weights) = support::dinov2_small() else {
        return;
    };
    let Some(data) = patchlens_testutil::shared_asset("data/camvid-mini") else {
        return;
    };
    let model = support::load_dinov2_small(&weights);
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = FeatureStore::open(tmp.path().join("cache")).expect("store");
    let mut mious = Vec::new();
    for probe in [ProbeKind::Knn, ProbeKind::Linear] {
        let mut cfg = SegmentationConfig::new(SegSource::Camvid { root: data.clone() });
        cfg.probes = vec![probe];
        let t = std::time::Instant::now();
        let res =
            segmentation::run(&cfg, &ModelTokens::new(&model, Some(&store), 16)).expect("run");
        assert_eq!(res.runs.len(), 1);
        let s = &res.runs[0].scores;
        let ci = s
            .miou_ci
            .as_ref()
            .expect("bootstrap interval (1000 resamples by default)");
        eprintln!(
            "{}: mIoU {:.4} pixel acc {:.4} patch acc {:.4} CI [{:.4}, {:.4}] in {:.1} s",
            probe.name(),
            s.miou,
            s.pixel_accuracy,
            s.patch_accuracy,
            ci.lower,
            ci.upper,
            t.elapsed().as_secs_f64()
        );
        let e = &res.experiments()[0];
        assert_eq!(e.protocol["train_images"], 37);
        assert_eq!(e.protocol["test_images"], 24);
        assert_eq!(e.protocol["gallery_patches"], 37 * 6 * 256);
        assert_eq!(e.protocol["query_patches"], 24 * 6 * 256);
        assert_eq!(e.metrics["miou"], s.miou);
        assert!(
            ci.lower <= s.miou && s.miou <= ci.upper,
            "CI [{}, {}] around {}",
            ci.lower,
            ci.upper,
            s.miou
        );
        mious.push(s.miou);
    }
    assert_eq!(
        store.keys().expect("keys").len(),
        37 + 24,
        "one shard per image, shared by both probes"
    );
    assert!(
        mious[0] > KNN_FLOOR,
        "1-NN mIoU {} below the floor {KNN_FLOOR}",
        mious[0]
    );
    assert!(
        mious[1] > LINEAR_FLOOR,
        "linear mIoU {} below the floor {LINEAR_FLOOR}",
        mious[1]
    );
}
