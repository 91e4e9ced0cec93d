//! MAE reconstruction parity: the decoder of a tiny random-weight MAE in the `mae_visualize_vit_base.pth`
//! layout against a transcription of facebookresearch/mae `models_mae.py` (forward_encoder with an explicit
//! mask, forward_decoder, forward_loss with and without norm_pix_loss; fixtures/vit/gen_mae_recon_fixture.py).

mod common;

use common::{max_abs_diff, read_refs};
use patchlens_vit::mae::{Mae, MaeDecoderConfig, MaeMask, patchify};
use patchlens_vit::{Device, Tensor, TensorData, VitConfig, VitError};

const TOL: f32 = 1e-4;

fn vit_config(patch: usize, depth: usize, img: usize) -> VitConfig {
    serde_json::from_value(serde_json::json!({
        "patch_size": patch, "embed_dim": 32, "depth": depth, "num_heads": 2, "mlp_hidden": 128,
        "img_size": img, "pos_interp": "size_bicubic",
    }))
    .unwrap()
}

fn encoder_config() -> VitConfig {
    vit_config(8, 2, 32)
}

fn decoder_config(norm_pix_loss: bool) -> MaeDecoderConfig {
    MaeDecoderConfig {
        dim: 24,
        depth: 2,
        heads: 3,
        mlp_ratio: 4.0,
        norm_pix_loss,
    }
}

fn to_vec<const N: usize>(t: Tensor<N>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn decoder_prediction_and_loss_match_the_transcription() {
    let dir = patchlens_testutil::fixture("vit");
    let ckpt = dir.join("mae_recon_tiny.pth");
    let refs = read_refs(&dir.join("mae_recon_tiny.ref.safetensors"));
    let dev = Device::flex();
    let input = &refs["input"];
    let x = Tensor::<4>::from_data(TensorData::new(input.data.clone(), [2, 3, 32, 32]), &dev);
    let keep = &refs["keep"];
    let [b, k] = [keep.shape[0], keep.shape[1]];
    let masks: Vec<MaeMask> = (0..b)
        .map(|i| {
            let kept: Vec<usize> = keep.data[i * k..(i + 1) * k]
                .iter()
                .map(|&v| v as usize)
                .collect();
            MaeMask::from_keep(&kept, 16).unwrap()
        })
        .collect();
    let mask_ref: Vec<f32> = masks
        .iter()
        .flat_map(|m| m.mask.iter().map(|&x| f32::from(u8::from(x))))
        .collect();
    assert_eq!(mask_ref, refs["mask"].data, "binary mask");

    for norm_pix in [true, false] {
        let mae = Mae::load(
            &ckpt,
            None,
            encoder_config(),
            decoder_config(norm_pix),
            &dev,
        )
        .unwrap_or_else(|e| panic!("load: {e}"));
        let latent = mae.encode(x.clone(), &masks).unwrap();
        assert_eq!(latent.dims(), [2, 1 + 4, 32]);
        let e = max_abs_diff(&to_vec(latent.clone()), &refs["latent"].data);
        assert!(e <= TOL, "latent: max |Δ| = {e}");
        let pred = mae.decode(latent, &masks).unwrap();
        assert_eq!(pred.dims(), [2, 16, 192]);
        let e = max_abs_diff(&to_vec(pred.clone()), &refs["pred"].data);
        println!("pred max |Δ| = {e:.3e}");
        assert!(e <= TOL, "pred: max |Δ| = {e}");
        let target = patchify(x.clone(), 8);
        assert_eq!(max_abs_diff(&to_vec(target), &refs["target"].data), 0.0);
        let loss = mae.loss(pred, x.clone(), &masks).unwrap();
        let want = refs[if norm_pix {
            "loss_norm_pix"
        } else {
            "loss_pixels"
        }]
        .data[0];
        println!("loss (norm_pix {norm_pix}) {loss} vs {want}");
        assert!((loss - want).abs() <= TOL, "loss {loss} vs {want}");
    }
}

#[test]
fn decoder_errors_name_the_file_and_key() {
    let dir = patchlens_testutil::fixture("vit");
    let dev = Device::flex();
    let ckpt = dir.join("mae_recon_tiny.pth");
    // Wrong width: the first decoder tensor read names its key and both shapes.
    let mut cfg = decoder_config(true);
    cfg.dim = 48;
    cfg.heads = 4;
    let err = Mae::load(&ckpt, None, encoder_config(), cfg, &dev).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, VitError::Shape { .. }), "{msg}");
    assert!(
        msg.contains("mae_recon_tiny.pth") && msg.contains("model.decoder_blocks.0.norm1.weight"),
        "{msg}"
    );
    assert!(msg.contains("[48]") && msg.contains("[24]"), "{msg}");
    // Wrong depth: too shallow is an unexpected block, too deep a missing key.
    let mut cfg = decoder_config(true);
    cfg.depth = 1;
    let msg = Mae::load(&ckpt, None, encoder_config(), cfg, &dev)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("model.decoder_blocks.1.norm1.weight"), "{msg}");
    let mut cfg = decoder_config(true);
    cfg.depth = 3;
    let msg = Mae::load(&ckpt, None, encoder_config(), cfg, &dev)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("missing") && msg.contains("model.decoder_blocks.2."),
        "{msg}"
    );
    // An encoder-only checkpoint has no decoder.
    let enc_only = dir.join("mae_b16_tiny.pth");
    let enc_cfg = vit_config(16, 3, 64);
    let msg = Mae::load(&enc_only, None, enc_cfg, decoder_config(true), &dev)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("mae_b16_tiny.pth") && msg.contains("decoder_embed.weight"),
        "{msg}"
    );
    // The wrong input size is refused (decoder positions exist for the native grid only).
    let mae = Mae::load(&ckpt, None, encoder_config(), decoder_config(true), &dev).unwrap();
    let x = Tensor::<4>::zeros([1, 3, 48, 48], &dev);
    let m = vec![MaeMask::random(36, 0.75, 0).unwrap()];
    assert!(mae.encode(x, &m).unwrap_err().to_string().contains("32x32"));
}
