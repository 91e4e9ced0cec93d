//! Parity gate (b): every family's tiny random-weight checkpoint, in its official key layout and file
//! format, against reference tokens computed by an independent implementation (timm / torchvision /
//! HF transformers / transcriptions of the official code — see fixtures/vit/README.md).

mod common;

use common::{case_layers, config_from_manifest, manifest_cases, max_abs_diff, read_refs};
use patchlens_vit::{Device, Family, Tensor, TensorData, load_backbone};

const TOL: f32 = 1e-4;

fn to_vec(t: Tensor<3>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn every_family_matches_its_reference() {
    let (dir, cases) = manifest_cases();
    let device = Device::flex();
    let mut checked = 0;
    let mut families = std::collections::BTreeSet::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let family = Family::parse(case["family"].as_str().unwrap()).unwrap();
        families.insert(family.name());
        let cfg = config_from_manifest(&case["config"]);
        let ckpt = dir.join(case["checkpoint"].as_str().unwrap());
        let (vit, report) = load_backbone(&ckpt, family, cfg.clone(), None, &device)
            .unwrap_or_else(|e| panic!("{name}: load failed: {e}"));
        let refs = read_refs(&dir.join(case["reference"].as_str().unwrap()));
        let layers = case_layers(case);
        for run in case["runs"].as_array().unwrap() {
            let id = run["id"].as_u64().unwrap();
            let input = &refs[&format!("input_{id}")];
            let x = Tensor::<4>::from_data(
                TensorData::new(
                    input.data.clone(),
                    [
                        input.shape[0],
                        input.shape[1],
                        input.shape[2],
                        input.shape[3],
                    ],
                ),
                &device,
            );
            let out = vit
                .forward_layers(x, &layers)
                .unwrap_or_else(|e| panic!("{name} run {id}: {e}"));
            assert_eq!(
                [out.rows, out.cols],
                [
                    run["grid"][0].as_u64().unwrap() as usize,
                    run["grid"][1].as_u64().unwrap() as usize
                ]
            );
            if let Some(pos) = refs.get(&format!("pos_{id}")) {
                let ours = vit
                    .position_embedding(out.rows, out.cols)
                    .unwrap()
                    .expect("model has positions");
                let ours = to_vec(ours);
                let prefix = usize::from(cfg.cls_token);
                let err = max_abs_diff(&ours[prefix * cfg.embed_dim..], &pos.data);
                assert!(err <= TOL, "{name} run {id}: position grid max err {err}");
            }
            for lt in &out.layers {
                let want = &refs[&format!("layer{}_{id}", lt.layer)];
                let got = to_vec(lt.patches.clone());
                let err = max_abs_diff(&got, &want.data);
                assert!(
                    err <= TOL,
                    "{name} run {id} layer {}: patch tokens max err {err}",
                    lt.layer
                );
                if let Some(cls) = &lt.cls {
                    let want = &refs[&format!("cls{}_{id}", lt.layer)];
                    let got = cls.clone().into_data().try_to_vec::<f32>().unwrap();
                    let err = max_abs_diff(&got, &want.data);
                    assert!(
                        err <= TOL,
                        "{name} run {id} layer {}: cls max err {err}",
                        lt.layer
                    );
                }
                if let Some(reg) = &lt.registers {
                    let want = &refs[&format!("reg{}_{id}", lt.layer)];
                    let err = max_abs_diff(&to_vec(reg.clone()), &want.data);
                    assert!(
                        err <= TOL,
                        "{name} run {id} layer {}: registers max err {err}",
                        lt.layer
                    );
                }
                checked += 1;
            }
        }
        // Every ignored key the manifest names must have been recognised as ignored (not silently used).
        for k in case["ignored_keys_example"].as_array().unwrap() {
            let k = k.as_str().unwrap();
            let stored_with_wrapper = match case["wrapper"].as_str().unwrap() {
                "none" => k.to_string(),
                w => format!("{w}.{k}"),
            };
            assert!(
                report.ignored.iter().any(|i| i == &stored_with_wrapper)
                    || report.outside_prefix > 0,
                "{name}: {stored_with_wrapper} not reported as ignored ({:?})",
                report.ignored
            );
        }
        eprintln!(
            "{name}: ok (prefix {:?}, {} loaded, {} ignored)",
            report.prefix,
            report.loaded,
            report.ignored.len()
        );
    }
    assert_eq!(
        families.len(),
        Family::ALL.len(),
        "a family has no fixture: {families:?}"
    );
    assert!(checked > 60, "only {checked} layer comparisons");
}
