//! Every position-grid / relative-table resize kernel against PyTorch's `F.interpolate`
//! (fixtures/vit/interp_ref.safetensors, written by fixtures/vit/gen_vit_fixtures.py).

mod common;

use common::{max_abs_diff, read_refs};
use patchlens_vit::posembed::{AxisMap, bicubic, bicubic_antialias, bilinear};
use serde_json::Value;

#[test]
fn kernels_match_torch_interpolate() {
    let dir = patchlens_testutil::fixture("vit");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let refs = read_refs(&dir.join(manifest["interp"]["file"].as_str().unwrap()));
    let mut n = 0;
    for case in manifest["interp"]["cases"].as_array().unwrap() {
        let src = &refs[case["input"].as_str().unwrap()];
        let (c, h, w) = (src.shape[0], src.shape[1], src.shape[2]);
        let out_h = case["out_size"][0].as_u64().unwrap() as usize;
        let out_w = case["out_size"][1].as_u64().unwrap() as usize;
        let mode = case["mode"].as_str().unwrap();
        let aa = case["antialias"].as_bool().unwrap();
        let ac = case["align_corners"].as_bool().unwrap();
        let scale = case
            .get("scale_factor")
            .map(|s| (s[0].as_f64().unwrap(), s[1].as_f64().unwrap()));
        let got = match (mode, aa, ac, scale) {
            ("bilinear", false, false, None) => bilinear(&src.data, c, h, w, out_h, out_w),
            ("bicubic", true, false, sc) => bicubic_antialias(&src.data, c, h, w, out_h, out_w, sc),
            ("bicubic", false, true, None) => bicubic(
                &src.data,
                c,
                h,
                w,
                out_h,
                out_w,
                AxisMap::AlignCorners,
                AxisMap::AlignCorners,
            ),
            ("bicubic", false, false, None) => bicubic(
                &src.data,
                c,
                h,
                w,
                out_h,
                out_w,
                AxisMap::HalfPixelSize,
                AxisMap::HalfPixelSize,
            ),
            ("bicubic", false, false, Some((sy, sx))) => bicubic(
                &src.data,
                c,
                h,
                w,
                out_h,
                out_w,
                AxisMap::HalfPixelScale(sy),
                AxisMap::HalfPixelScale(sx),
            ),
            other => panic!("case not covered: {other:?}"),
        };
        let want = &refs[case["output"].as_str().unwrap()];
        let err = max_abs_diff(&got, &want.data);
        assert!(err <= 1e-5, "{}: max err {err}", case["output"]);
        n += 1;
    }
    assert_eq!(n, 14);
}
