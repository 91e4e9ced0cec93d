//! The committed demo checkpoints (`fixtures/pretrained/`) load through the official loader with their
//! family and the `tiny` architecture, carry their provenance in the metadata, and give finite tokens.

use burn::tensor::{Device, Tensor};
use patchlens_pretrain::{Method, load_pretrained, presets};

#[test]
fn shipped_checkpoints_load_and_run() {
    let device = Device::flex();
    for method in Method::ALL {
        let path =
            patchlens_testutil::fixture(&format!("pretrained/{}_tiny.safetensors", method.name()));
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size < 5_000_000, "{}: {size} bytes", path.display());
        let bytes = std::fs::read(&path).unwrap();
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let meta = meta.metadata().clone().unwrap();
        assert_eq!(meta["patchlens.method"], method.name());
        assert_eq!(meta["patchlens.family"], method.family().name());
        let vit = load_pretrained(&path, method, "tiny", &device).unwrap();
        assert_eq!(
            vit.config,
            presets::tiny().vit_config(method).validated().unwrap()
        );
        let x = Tensor::<4>::zeros([1, 3, 64, 64], &device);
        let out = vit.forward_layers(x, &[vit.config.depth]).unwrap();
        let v = out.layers[0]
            .patches
            .clone()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(v.len(), 64 * 192);
        assert!(v.iter().all(|x| x.is_finite()));
    }
    // A file read with another family's names is refused (SimMIM's keys are not timm's).
    let simmim = patchlens_testutil::fixture("pretrained/simmim_tiny.safetensors");
    assert!(load_pretrained(&simmim, Method::Supervised, "tiny", &device).is_err());
}
