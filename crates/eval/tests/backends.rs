//! Issue #14, the library on a GPU backend: with `--features wgpu` on a Vulkan device (CI: Mesa's
//! lavapipe, a CPU implementation, so the inputs are small), the segmentation pipeline with the backbone
//! and the k-NN on the device (scores and top-k there, `search_on_device`) gives the flex run's scores:
//! DINOv2-S/14, 1-NN, the first 4 train and 2 test frames of CamVid-mini.

mod support;

#[cfg(feature = "wgpu")]
#[test]
fn camvid_1nn_on_wgpu_gives_the_flex_scores() {
    use patchlens_eval::segmentation::{self, ProbeKind, SegSource, SegmentationConfig};
    use patchlens_eval::{ModelSource, ModelSpec, ModelTokens};
    use patchlens_vit::{Backend, Device};

    let Some(gpu) = patchlens_testutil::required_device("a wgpu (Vulkan) device", || {
        "wgpu".parse::<Backend>().and_then(|b| b.device())
    }) else {
        return;
    };
    let Some(w) = support::dinov2_small() else {
        return;
    };
    let Some(camvid) = patchlens_testutil::shared_asset("data/camvid-mini") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("camvid");
    support::camvid_subset(&camvid, &root, 4, 2);
    let mut runs = Vec::new();
    for device in [Device::flex(), gpu] {
        let model = ModelSpec::zoo("dinov2_vits14")
            .unwrap()
            .load(
                &ModelSource::Weights {
                    path: w.clone(),
                    part: None,
                },
                &device,
            )
            .unwrap();
        let mut cfg = SegmentationConfig::new(SegSource::Camvid { root: root.clone() });
        cfg.probes = vec![ProbeKind::Knn];
        let t = std::time::Instant::now();
        let res = segmentation::run(&cfg, &ModelTokens::new(&model, None, 6)).unwrap();
        let s = res.runs[0].scores.clone();
        eprintln!(
            "{device:?}: 1-NN mIoU {:.6} pixel accuracy {:.6} in {:.1} s",
            s.miou,
            s.pixel_accuracy,
            t.elapsed().as_secs_f64()
        );
        runs.push(s);
    }
    let (cpu, gpu) = (&runs[0], &runs[1]);
    // 4 × 6 × 256 gallery and 2 × 6 × 256 query patches: the scores are equal unless a near-tie of two
    // gallery patches flips under the device's summation order (then one patch of 3,072 moves).
    assert!(
        (cpu.miou - gpu.miou).abs() <= 1e-3
            && (cpu.pixel_accuracy - gpu.pixel_accuracy).abs() <= 1e-3,
        "flex mIoU {} / pixel acc {} vs wgpu {} / {}",
        cpu.miou,
        cpu.pixel_accuracy,
        gpu.miou,
        gpu.pixel_accuracy
    );
    assert!(
        cpu.miou > 0.1,
        "the run measured something: mIoU {}",
        cpu.miou
    );
}
