//! The model zoo (data: `data/zoo.toml`): zoo name → family, architecture, official download address.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::config::{Family, VitConfig};
use crate::error::{Result, VitError};

/// One zoo entry.
#[derive(Clone, Debug)]
pub struct ZooModel {
    /// Zoo name (e.g. `dinov2_vitb14`).
    pub name: String,
    /// Family (selects the key-remap table).
    pub family: Family,
    /// Architecture.
    pub config: VitConfig,
    /// Official download address.
    pub url: String,
    /// Full sha256 when the publisher states one.
    pub sha256: Option<String>,
    /// sha256 prefix when the publisher encodes one in the file name (torchvision).
    pub sha256_prefix: Option<String>,
    /// Input mean (RGB, 0–1) the model was trained with; `None` = ImageNet's.
    pub mean: Option<[f32; 3]>,
    /// Input standard deviation (RGB, 0–1); `None` = ImageNet's.
    pub std: Option<[f32; 3]>,
    /// The study's name for this model in its published numbers (`sup_vit`, `dino`, `dinov2`, `mae`,
    /// `simmim`): the one table that links zoo models to the paper.
    pub paper_model: Option<String>,
}

#[derive(Deserialize)]
struct RawZoo {
    defaults: toml::Table,
    models: BTreeMap<String, RawModel>,
}

#[derive(Deserialize)]
struct RawModel {
    family: String,
    url: String,
    #[serde(default)]
    sha256: Option<String>,
    #[serde(default)]
    sha256_prefix: Option<String>,
    #[serde(default)]
    mean: Option<[f32; 3]>,
    #[serde(default)]
    std: Option<[f32; 3]>,
    #[serde(default)]
    paper_model: Option<String>,
    config: toml::Table,
}

const ZOO_TOML: &str = include_str!("../data/zoo.toml");

fn parse() -> Result<Vec<ZooModel>> {
    let raw: RawZoo =
        toml::from_str(ZOO_TOML).map_err(|e| VitError::Config(format!("data/zoo.toml: {e}")))?;
    raw.models
        .into_iter()
        .map(|(name, m)| {
            let mut table = raw.defaults.clone();
            table.extend(m.config);
            let config: VitConfig = table
                .try_into()
                .map_err(|e| VitError::Config(format!("data/zoo.toml: model {name}: {e}")))?;
            Ok(ZooModel {
                family: Family::parse(&m.family)?,
                config: config.validated()?,
                url: m.url,
                sha256: m.sha256,
                sha256_prefix: m.sha256_prefix,
                mean: m.mean,
                std: m.std,
                paper_model: m.paper_model,
                name,
            })
        })
        .collect()
}

/// Every zoo model, sorted by name.
pub fn all() -> &'static [ZooModel] {
    static ZOO: OnceLock<Vec<ZooModel>> = OnceLock::new();
    ZOO.get_or_init(|| parse().expect("data/zoo.toml is valid (checked by a unit test)"))
}

/// Look a model up by zoo name.
pub fn lookup(name: &str) -> Result<&'static ZooModel> {
    all()
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| VitError::UnknownModel {
            name: name.to_string(),
            known: all()
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Ffn, PosInterp};

    #[test]
    fn zoo_parses_and_has_the_study_models() {
        parse().unwrap();
        for name in [
            "sup_vitb16_torchvision",
            "dino_vitb16",
            "dinov2_vitb14",
            "mae_vitb16",
            "simmim_vitb16",
        ] {
            let m = lookup(name).unwrap();
            assert_eq!(m.config.embed_dim, 768, "{name}: the study uses ViT-B");
        }
        // Published architecture constants.
        let g = lookup("dinov2_vitg14").unwrap();
        assert_eq!(
            (
                g.config.embed_dim,
                g.config.depth,
                g.config.num_heads,
                g.config.mlp_hidden
            ),
            (1536, 40, 24, 4096)
        );
        assert_eq!(g.config.ffn, Ffn::Swiglu);
        assert_eq!(lookup("dinov2_vitb14").unwrap().config.native_grid(), 37);
        assert_eq!(
            lookup("dinov2_vits14_reg4").unwrap().config.pos_interp,
            PosInterp::Dinov2Size
        );
        assert_eq!(lookup("mae_vith14").unwrap().config.mlp_hidden, 5120);
        // I-JEPA ViT-H/14 (vision_transformer.py vit_huge): no CLS, 16×16 grid at 224.
        let j = lookup("ijepa_vith14").unwrap();
        assert_eq!(j.family, Family::Ijepa);
        assert_eq!(
            (
                j.config.embed_dim,
                j.config.depth,
                j.config.num_heads,
                j.config.mlp_hidden,
                j.config.native_grid(),
                j.config.num_prefix_tokens()
            ),
            (1280, 32, 16, 5120, 16, 0)
        );
        assert_eq!(j.config.ln_eps, 1e-6);
        assert_eq!(j.config.pos_interp, PosInterp::IjepaScale);
        assert!(j.mean.is_none() && j.std.is_none());
        assert!(lookup("nope").is_err());
        // The study's five models, and only they, carry the paper's names.
        let linked: Vec<(&str, &str)> = all()
            .iter()
            .filter_map(|m| Some((m.name.as_str(), m.paper_model.as_deref()?)))
            .collect();
        assert_eq!(
            linked,
            [
                ("dino_vitb16", "dino"),
                ("dinov2_vitb14", "dinov2"),
                ("mae_vitb16", "mae"),
                ("simmim_vitb16", "simmim"),
                ("sup_vitb16_torchvision", "sup_vit"),
            ]
        );
    }
}
