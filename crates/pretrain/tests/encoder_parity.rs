//! The differentiable training forward equals the inference engine `patchlens_vit::Vit` (whose tokens
//! are parity-tested against the official PyTorch implementations) for every family configuration,
//! at the native grid and — for the families with resizable positions — at another grid.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use patchlens_pretrain::encoder::encode;
use patchlens_pretrain::init::{Init, init_vit_model};
use patchlens_pretrain::{Method, presets};
use patchlens_vit::Vit;

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn training_forward_equals_vit_forward_for_every_family() {
    let device = Device::flex();
    let preset = presets::micro();
    for method in Method::ALL {
        let cfg = preset.vit_config(method).validated().unwrap();
        let model = init_vit_model(&cfg, method == Method::Mae, 5, &device).unwrap();
        // Learned LayerScale / norms differ from their init values after training: perturb them so the
        // test covers every parameter, not just the initial constants.
        let mut init = Init::new(11);
        let model = perturb(model, &mut init);
        let vit = Vit::new(model.clone(), cfg.clone(), device.clone());
        let sides: &[usize] = if method == Method::Simmim {
            &[32]
        } else {
            &[32, 48, 16]
        };
        for &side in sides {
            let x = Tensor::<4>::from_data(
                TensorData::new(init.uniform(2 * 3 * side * side, 2.0), [2, 3, side, side]),
                &device,
            );
            let ours = encode(&model, &cfg, x.clone()).unwrap();
            let [b, t, d] = ours.dims();
            let reference = vit.forward_layers(x, &[cfg.depth]).unwrap();
            let l = &reference.layers[0];
            let ref_cls = l.cls.clone().unwrap().reshape([b, 1, d]);
            let ref_all = Tensor::cat(vec![ref_cls, l.patches.clone()], 1);
            assert_eq!(ref_all.dims(), [b, t, d]);
            let a = ours.into_data().try_to_vec::<f32>().unwrap();
            let r = ref_all.into_data().try_to_vec::<f32>().unwrap();
            let diff = max_abs_diff(&a, &r);
            assert!(diff < 2e-5, "{method} at {side}px: max |diff| = {diff}");
        }
    }
}

/// Add noise to every float parameter.
fn perturb(
    model: patchlens_vit::model::VitModel,
    init: &mut Init,
) -> patchlens_vit::model::VitModel {
    struct Noise<'a>(&'a mut Init);
    impl burn::module::ModuleMapper for Noise<'_> {
        fn map_float<const D: usize>(
            &mut self,
            param: burn::module::Param<Tensor<D>>,
        ) -> burn::module::Param<Tensor<D>> {
            let noise = &mut *self.0;
            param.map(|t| {
                let shape = t.shape();
                let n = shape.num_elements();
                let e = Tensor::<1>::from_data(
                    TensorData::new(noise.uniform(n, 0.05), [n]),
                    &t.device(),
                );
                t + e.reshape(shape)
            })
        }
    }
    model.map(&mut Noise(init))
}
