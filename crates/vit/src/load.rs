//! Mapping a checkpoint's official key names to the canonical parameter names, with strict checks:
//! every parameter present with the right shape, every other key either known-and-ignored or an error.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use regex::Regex;
use serde::Deserialize;

use crate::checkpoint::Checkpoint;
use crate::config::{Family, Ffn, PosEmbedKind, QkvBias, RelPosBias, VitConfig};
use crate::error::{Result, VitError};

/// The remap table of one family (parsed from `data/families.toml`).
#[derive(Debug)]
pub struct FamilyTable {
    /// Keys whose presence marks a backbone; the text before them is the prefix.
    pub anchors: Vec<String>,
    /// Ordered regex rewrite rules, official → canonical.
    pub rename: Vec<(Regex, String)>,
    /// Known keys that the backbone does not use.
    pub ignore: Vec<Regex>,
    /// Rewrite rules for keys OUTSIDE the backbone prefix that still belong to it (e.g. the BEiT
    /// pretraining head's top-level `layernorm`, the model's only trained final norm).
    pub outside: Vec<(Regex, String)>,
    /// Prefix segments preferred, in order, when the file holds several backbones and no `part` is
    /// given (I-JEPA: `target_encoder` over `encoder`); after them a `teacher` segment wins.
    pub prefer: Vec<String>,
}

#[derive(Deserialize)]
struct RawTable {
    anchors: Vec<String>,
    rename: Vec<(String, String)>,
    ignore: Vec<String>,
    #[serde(default)]
    outside: Vec<(String, String)>,
    #[serde(default)]
    prefer: Vec<String>,
}

const FAMILIES_TOML: &str = include_str!("../data/families.toml");

/// The remap table of `family`.
pub fn family_table(family: Family) -> &'static FamilyTable {
    static TABLES: OnceLock<BTreeMap<String, FamilyTable>> = OnceLock::new();
    let tables = TABLES.get_or_init(|| {
        let raw: BTreeMap<String, RawTable> = toml::from_str(FAMILIES_TOML)
            .expect("data/families.toml is valid (checked by a unit test)");
        raw.into_iter()
            .map(|(name, t)| {
                let pairs = |v: Vec<(String, String)>| -> Vec<(Regex, String)> {
                    v.into_iter()
                        .map(|(from, to)| {
                            (Regex::new(&from).expect("valid regex in families.toml"), to)
                        })
                        .collect()
                };
                let ignore = t
                    .ignore
                    .iter()
                    .map(|r| Regex::new(r).expect("valid regex in families.toml"))
                    .collect();
                (
                    name,
                    FamilyTable {
                        anchors: t.anchors,
                        rename: pairs(t.rename),
                        ignore,
                        outside: pairs(t.outside),
                        prefer: t.prefer,
                    },
                )
            })
            .collect()
    });
    tables
        .get(family.name())
        .expect("every family has a table in families.toml")
}

/// How the backbone was found in the file and what was left out.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct LoadReport {
    /// Prefix of the backbone keys (`""`, `"model."`, `"teacher.backbone."`, ...).
    pub prefix: String,
    /// Number of tensors loaded into the model.
    pub loaded: usize,
    /// Keys under the prefix that are known and unused (heads, decoders, buffers), original names.
    pub ignored: Vec<String>,
    /// Number of keys outside the prefix (other parts of a training checkpoint).
    pub outside_prefix: usize,
}

/// A checkpoint seen through its family's remap table.
pub struct MappedCheckpoint {
    /// The file.
    pub ckpt: Checkpoint,
    /// canonical name → original key.
    pub map: BTreeMap<String, String>,
    /// What was found and skipped.
    pub report: LoadReport,
}

fn rename(table: &FamilyTable, key: &str) -> String {
    let mut k = key.to_string();
    for (re, to) in &table.rename {
        if re.is_match(&k) {
            k = re.replace(&k, to.as_str()).into_owned();
        }
    }
    k
}

/// Expected canonical parameters of `config`: `(name, shape)`. For attention projections stored split
/// (`q/k/v`), the fused name is listed; [`MappedCheckpoint::qkv_weight_keys`] resolves either form.
pub fn expected_params(config: &VitConfig) -> Vec<(String, Vec<usize>)> {
    let d = config.embed_dim;
    let p = config.patch_size;
    let g = config.native_grid();
    let h = config.mlp_hidden;
    let heads = config.num_heads;
    let rel_len = (2 * g - 1) * (2 * g - 1) + 3;
    let mut v: Vec<(String, Vec<usize>)> = Vec::new();
    if config.cls_token {
        v.push(("cls_token".into(), vec![1, 1, d]));
    }
    if config.num_register_tokens > 0 {
        v.push((
            "register_tokens".into(),
            vec![1, config.num_register_tokens, d],
        ));
    }
    if config.pos_embed == PosEmbedKind::Learned {
        v.push((
            "pos_embed".into(),
            vec![1, usize::from(config.cls_token) + g * g, d],
        ));
    }
    v.push(("patch_embed.proj.weight".into(), vec![d, 3, p, p]));
    v.push(("patch_embed.proj.bias".into(), vec![d]));
    if config.rel_pos_bias == RelPosBias::Shared {
        v.push(("rel_pos_table".into(), vec![rel_len, heads]));
    }
    for i in 0..config.depth {
        let b = format!("blocks.{i}.");
        for n in ["norm1", "norm2"] {
            v.push((format!("{b}{n}.weight"), vec![d]));
            v.push((format!("{b}{n}.bias"), vec![d]));
        }
        v.push((format!("{b}attn.qkv.weight"), vec![3 * d, d]));
        match config.qkv_bias {
            QkvBias::Full => v.push((format!("{b}attn.qkv.bias"), vec![3 * d])),
            QkvBias::Qv => {
                v.push((format!("{b}attn.q_bias"), vec![d]));
                v.push((format!("{b}attn.v_bias"), vec![d]));
            }
            QkvBias::None => {}
        }
        v.push((format!("{b}attn.proj.weight"), vec![d, d]));
        v.push((format!("{b}attn.proj.bias"), vec![d]));
        if config.rel_pos_bias == RelPosBias::PerBlock {
            v.push((format!("{b}attn.rel_pos_table"), vec![rel_len, heads]));
        }
        if config.layer_scale {
            v.push((format!("{b}ls1"), vec![d]));
            v.push((format!("{b}ls2"), vec![d]));
        }
        match config.ffn {
            Ffn::Mlp => {
                v.push((format!("{b}mlp.fc1.weight"), vec![h, d]));
                v.push((format!("{b}mlp.fc1.bias"), vec![h]));
                v.push((format!("{b}mlp.fc2.weight"), vec![d, h]));
                v.push((format!("{b}mlp.fc2.bias"), vec![d]));
            }
            Ffn::Swiglu => {
                v.push((format!("{b}mlp.w12.weight"), vec![2 * h, d]));
                v.push((format!("{b}mlp.w12.bias"), vec![2 * h]));
                v.push((format!("{b}mlp.w3.weight"), vec![d, h]));
                v.push((format!("{b}mlp.w3.bias"), vec![d]));
            }
        }
    }
    if config.final_norm {
        v.push(("norm.weight".into(), vec![d]));
        v.push(("norm.bias".into(), vec![d]));
    }
    v
}

/// Shapes agree up to leading singleton dimensions (`[1, 1, D]` ≡ `[D]`).
fn same_shape(a: &[usize], b: &[usize]) -> bool {
    let strip = |s: &[usize]| -> Vec<usize> {
        let first = s.iter().position(|&x| x != 1).unwrap_or(s.len());
        s[first..].to_vec()
    };
    strip(a) == strip(b)
}

impl MappedCheckpoint {
    /// Find the backbone of `family` in `ckpt`, map its keys, and check names and shapes against `config`.
    ///
    /// `part` chooses among several backbones (e.g. `"teacher"` / `"student"` in a DINO training
    /// checkpoint, `"encoder"` for I-JEPA's context encoder); by default a prefix with one of the family's
    /// `prefer` segments wins (in their order), then one with a `teacher` segment.
    pub fn new(
        ckpt: Checkpoint,
        family: Family,
        config: &VitConfig,
        part: Option<&str>,
    ) -> Result<Self> {
        let table = family_table(family);
        let mut prefixes: BTreeSet<String> = BTreeSet::new();
        for k in ckpt.tensors.keys() {
            for a in &table.anchors {
                if let Some(pre) = k.strip_suffix(a.as_str())
                    && (pre.is_empty() || pre.ends_with('.'))
                {
                    prefixes.insert(pre.to_string());
                }
            }
        }
        let prefix = choose_prefix(&ckpt, family, table, prefixes, part)?;

        let mut map = BTreeMap::new();
        let mut report = LoadReport {
            prefix: prefix.clone(),
            ..Default::default()
        };
        let expected = expected_params(config);
        let expected_names: BTreeSet<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
        let mut unexpected = Vec::new();
        let mut outside_candidates = Vec::new();
        for k in ckpt.tensors.keys() {
            let Some(rest) = k.strip_prefix(prefix.as_str()) else {
                if let Some((re, to)) = table.outside.iter().find(|(re, _)| re.is_match(k)) {
                    let canon = re.replace(k, to.as_str()).into_owned();
                    if expected_names.contains(canon.as_str()) {
                        outside_candidates.push((canon, k.clone()));
                        continue;
                    }
                }
                report.outside_prefix += 1;
                continue;
            };
            let canon = rename(table, rest);
            let is_split_qkv = canon.contains(".attn.q.weight")
                || canon.contains(".attn.k.weight")
                || canon.contains(".attn.v.weight");
            if expected_names.contains(canon.as_str()) || is_split_qkv {
                map.insert(canon, k.clone());
            } else if table.ignore.iter().any(|re| re.is_match(rest)) {
                report.ignored.push(k.clone());
            } else {
                unexpected.push(k.clone());
            }
        }
        // Outside keys only fill parameters the prefix itself does not provide.
        for (canon, k) in outside_candidates {
            if let std::collections::btree_map::Entry::Vacant(e) = map.entry(canon) {
                e.insert(k);
            } else {
                report.outside_prefix += 1;
            }
        }
        if !unexpected.is_empty() {
            return Err(VitError::UnexpectedKeys {
                path: ckpt.path.clone(),
                family: family.name().into(),
                keys: unexpected,
            });
        }
        let mapped = MappedCheckpoint { ckpt, map, report };
        // Missing keys (all of them) and shapes.
        let mut missing = Vec::new();
        for (name, shape) in &expected {
            if name.ends_with("attn.qkv.weight") {
                match mapped.qkv_weight_keys(name) {
                    Some(keys) => {
                        let want = if keys.len() == 1 {
                            shape.clone()
                        } else {
                            vec![shape[0] / 3, shape[1]]
                        };
                        for k in keys {
                            mapped.check_shape(&k, &want)?;
                        }
                    }
                    None => missing.push(name.clone()),
                }
                continue;
            }
            match mapped.map.get(name) {
                Some(orig) => mapped.check_shape(orig, shape)?,
                None => missing.push(name.clone()),
            }
        }
        if !missing.is_empty() {
            return Err(VitError::MissingKeys {
                path: mapped.ckpt.path.clone(),
                family: family.name().into(),
                keys: missing,
            });
        }
        Ok(mapped)
    }

    fn check_shape(&self, orig: &str, want: &[usize]) -> Result<()> {
        let t = &self.ckpt.tensors[orig];
        if !same_shape(&t.shape, want) {
            return Err(VitError::Shape {
                path: self.ckpt.path.clone(),
                key: orig.to_string(),
                expected: want.to_vec(),
                found: t.shape.clone(),
            });
        }
        Ok(())
    }

    /// Original keys of a fused qkv weight: one fused key, or the three split q/k/v keys.
    pub fn qkv_weight_keys(&self, fused: &str) -> Option<Vec<String>> {
        if let Some(k) = self.map.get(fused) {
            return Some(vec![k.clone()]);
        }
        let base = fused.strip_suffix("qkv.weight")?;
        let parts: Option<Vec<String>> = ["q", "k", "v"]
            .iter()
            .map(|p| self.map.get(&format!("{base}{p}.weight")).cloned())
            .collect();
        parts
    }

    /// Read a canonical parameter as f32 (checked for dtype and finiteness).
    pub fn read(&self, canonical: &str) -> Result<Vec<f32>> {
        if canonical.ends_with("attn.qkv.weight") {
            let keys = self
                .qkv_weight_keys(canonical)
                .ok_or_else(|| VitError::MissingKeys {
                    path: self.ckpt.path.clone(),
                    family: String::new(),
                    keys: vec![canonical.to_string()],
                })?;
            let mut out = Vec::new();
            for k in keys {
                out.extend(self.ckpt.read_f32(&k)?);
            }
            return Ok(out);
        }
        let orig = self
            .map
            .get(canonical)
            .ok_or_else(|| VitError::MissingKeys {
                path: self.ckpt.path.clone(),
                family: String::new(),
                keys: vec![canonical.to_string()],
            })?;
        self.ckpt.read_f32(orig)
    }
}

fn choose_prefix(
    ckpt: &Checkpoint,
    family: Family,
    table: &FamilyTable,
    prefixes: BTreeSet<String>,
    part: Option<&str>,
) -> Result<String> {
    let mut cands: Vec<String> = prefixes.into_iter().collect();
    if cands.is_empty() {
        return Err(VitError::NoBackbone {
            path: ckpt.path.clone(),
            family: family.name().into(),
            anchors: table.anchors.clone(),
            sample: ckpt.tensors.keys().take(8).cloned().collect(),
        });
    }
    if let Some(part) = part {
        cands.retain(|c| c.split('.').any(|seg| seg == part));
        return match cands.len() {
            1 => Ok(cands.remove(0)),
            _ => Err(VitError::AmbiguousBackbone {
                path: ckpt.path.clone(),
                prefixes: cands,
            }),
        };
    }
    if cands.len() == 1 {
        return Ok(cands.remove(0));
    }
    for wanted in table.prefer.iter().map(String::as_str).chain(["teacher"]) {
        let hits: Vec<&String> = cands
            .iter()
            .filter(|c| c.split('.').any(|s| s == wanted))
            .collect();
        if hits.len() == 1 {
            return Ok(hits[0].clone());
        }
    }
    Err(VitError::AmbiguousBackbone {
        path: ckpt.path.clone(),
        prefixes: cands,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_table_parses() {
        for f in Family::ALL {
            let t = family_table(f);
            assert!(!t.anchors.is_empty(), "{f:?}");
        }
    }

    #[test]
    fn renames_official_names() {
        let t = family_table(Family::Dinov2);
        assert_eq!(rename(t, "blocks.1.7.ls1.gamma"), "blocks.7.ls1");
        assert_eq!(
            rename(t, "blocks.3.attn.qkv.weight"),
            "blocks.3.attn.qkv.weight"
        );
        let t = family_table(Family::SupTorchvision);
        assert_eq!(
            rename(
                t,
                "encoder.layers.encoder_layer_11.self_attention.in_proj_weight"
            ),
            "blocks.11.attn.qkv.weight"
        );
        assert_eq!(
            rename(t, "encoder.layers.encoder_layer_0.mlp.3.bias"),
            "blocks.0.mlp.fc2.bias"
        );
        let t = family_table(Family::Beit);
        assert_eq!(
            rename(t, "encoder.layer.2.attention.attention.query.bias"),
            "blocks.2.attn.q_bias"
        );
        assert_eq!(rename(t, "encoder.layer.2.lambda_1"), "blocks.2.ls1");
    }

    #[test]
    fn leading_singletons_are_equivalent() {
        assert!(same_shape(&[1, 1, 8], &[8]));
        assert!(same_shape(&[1, 5, 8], &[5, 8]));
        assert!(!same_shape(&[2, 8], &[8]));
    }
}
