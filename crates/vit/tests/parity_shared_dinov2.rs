//! Parity gate (a): the real pretrained DINOv2 ViT-S/14 from `shared/weights` against onnxruntime
//! activations of the original graph (`shared/reference/dinov2_vits14_imgfocus`): block 1, 6, 12 outputs,
//! the resized 16×16 position grid and the final-norm tokens, max abs error ≤ 1e-4 on all four pictures.
//!
//! That reference resized the 37×37 grid with the size form (bicubic, a = −0.75, half-pixel, no
//! antialias), so this test configures `pos_interp = dinov2_size`; the study's hub default (offset 0.1)
//! is covered by the `dinov2_s14_tiny` fixture.

mod common;

use common::{max_abs_diff, read_refs};
use patchlens_vit::{Device, Family, PosInterp, Tensor, TensorData, load_backbone, zoo};

const TOL: f32 = 1e-4;

#[test]
fn dinov2_vits14_matches_onnxruntime_on_four_pictures() {
    let Some(weights) =
        patchlens_testutil::shared_asset("weights/dinov2_vits14_imgfocus.safetensors")
    else {
        return;
    };
    let Some(refdir) = patchlens_testutil::shared_asset("reference/dinov2_vits14_imgfocus") else {
        return;
    };
    let device = Device::flex();
    let mut cfg = zoo::lookup("dinov2_vits14").unwrap().config.clone();
    cfg.pos_interp = PosInterp::Dinov2Size;
    let (vit, report) = load_backbone(&weights, Family::Dinov2, cfg, None, &device).unwrap();
    // cls, pos, patch w/b; per block norm1, qkv, proj, ls1, ls2, norm2, fc1, fc2; final norm.
    assert_eq!(report.loaded, 4 + 12 * 14 + 2);
    assert!(
        report.ignored.is_empty() && report.outside_prefix == 0,
        "every tensor of the file is used"
    );
    let mut pictures = 0;
    for name in ["astronaut", "chelsea", "coffee", "rocket"] {
        let refs = read_refs(&refdir.join(format!("{name}.safetensors")));
        let input = &refs["input"];
        assert_eq!(input.shape, vec![3, 224, 224]);
        let x = Tensor::<4>::from_data(
            TensorData::new(input.data.clone(), [1, 3, 224, 224]),
            &device,
        );

        // Position grid [384, 16, 16] (channel-first) vs ours [1, 1 + 256, 384].
        let pos = vit
            .position_embedding(16, 16)
            .unwrap()
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let want = &refs["pos_embed_16x16"].data;
        let mut ours_chw = vec![0f32; 384 * 256];
        for t in 0..256 {
            for c in 0..384 {
                ours_chw[c * 256 + t] = pos[(1 + t) * 384 + c];
            }
        }
        let err = max_abs_diff(&ours_chw, want);
        assert!(err <= TOL, "{name}: position grid max err {err}");

        // Raw block outputs (CLS first, then patches).
        let raw = vit.forward_blocks(x.clone(), &[1, 6, 12]).unwrap();
        for lt in &raw.layers {
            let want = &refs[&format!("block{}", lt.layer)].data;
            let cls = lt
                .cls
                .clone()
                .unwrap()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            let patches = lt.patches.clone().into_data().try_to_vec::<f32>().unwrap();
            let got: Vec<f32> = cls.into_iter().chain(patches).collect();
            let err = max_abs_diff(&got, want);
            assert!(err <= TOL, "{name}: block {} max err {err}", lt.layer);
        }
        // Final-norm tokens = the study's layer 12.
        let out = vit.forward_layers(x, &[12]).unwrap();
        let lt = &out.layers[0];
        let cls = lt
            .cls
            .clone()
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let patches = lt.patches.clone().into_data().try_to_vec::<f32>().unwrap();
        let got: Vec<f32> = cls.into_iter().chain(patches).collect();
        let err = max_abs_diff(&got, &refs["final_norm"].data);
        assert!(err <= TOL, "{name}: final norm max err {err}");
        pictures += 1;
    }
    assert_eq!(pictures, 4);
}
