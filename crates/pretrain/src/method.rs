//! The four pretraining objectives of the study and the checkpoint family each one exports to.

use patchlens_vit::Family;
use serde::{Deserialize, Serialize};

use crate::error::{Result, invalid};

/// A pretraining objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Supervised classification (cross-entropy on image-level labels); exported with timm key names.
    Supervised,
    /// DINO self-distillation (EMA teacher, centering + sharpening, multi-crop); exported as the
    /// teacher backbone with DINO's key names.
    Dino,
    /// MAE masked autoencoding (75 % random masking, light decoder, normalised pixel loss).
    Mae,
    /// SimMIM masked image modelling (mask token, block-wise masking, linear head, L1 loss).
    Simmim,
}

impl Method {
    /// All methods, in the order the study lists them.
    pub const ALL: [Method; 4] = [
        Method::Supervised,
        Method::Dino,
        Method::Mae,
        Method::Simmim,
    ];

    /// Lower-case name (`supervised`, `dino`, `mae`, `simmim`).
    pub fn name(self) -> &'static str {
        match self {
            Method::Supervised => "supervised",
            Method::Dino => "dino",
            Method::Mae => "mae",
            Method::Simmim => "simmim",
        }
    }

    /// Parse a method name (as [`Method::name`]).
    pub fn parse(s: &str) -> Result<Method> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| invalid("method", s, "expected supervised, dino, mae or simmim"))
    }

    /// The checkpoint family whose official key names the exported file uses (and which
    /// `patchlens_vit::load_backbone` must be given to read it).
    pub fn family(self) -> Family {
        match self {
            Method::Supervised => Family::SupTimm,
            Method::Dino => Family::Dino,
            Method::Mae => Family::Mae,
            Method::Simmim => Family::Simmim,
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_families_are_the_official_ones() {
        for m in Method::ALL {
            assert_eq!(Method::parse(m.name()).unwrap(), m);
        }
        assert_eq!(Method::Supervised.family().name(), "sup_timm");
        assert_eq!(Method::Dino.family().name(), "dino");
        assert_eq!(Method::Mae.family().name(), "mae");
        assert_eq!(Method::Simmim.family().name(), "simmim");
        let err = Method::parse("byol").unwrap_err().to_string();
        assert!(err.contains("byol"), "{err}");
    }
}
