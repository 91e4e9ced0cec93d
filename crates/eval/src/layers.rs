//! Layer lists: numbers, `"last"` or `"all"`, resolved against a model's depth.

use serde::{Deserialize, Serialize};

use crate::error::{Result, bail};

/// A layer list entry: a 1-based layer number, `"last"`, or `"all"` (every layer of the model).
/// *Layer l* is the output of block l followed by the model's final norm (the study's definition).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum LayerSel {
    /// 1-based layer.
    Index(usize),
    /// `last` or `all`.
    Word(String),
}

impl LayerSel {
    /// The last layer.
    pub fn last() -> LayerSel {
        LayerSel::Word("last".into())
    }

    /// Every layer.
    pub fn all() -> LayerSel {
        LayerSel::Word("all".into())
    }
}

/// Resolve a layer list for a model of `depth` blocks (deduplicated, sorted; empty = the last). Layers
/// beyond the depth and unknown words are errors naming `what`.
pub fn resolve_layers(sel: &[LayerSel], depth: usize, what: &str) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    let last = [LayerSel::last()];
    let sel = if sel.is_empty() { &last[..] } else { sel };
    for s in sel {
        match s {
            LayerSel::Index(l) if (1..=depth).contains(l) => out.push(*l),
            LayerSel::Index(l) => bail!("{what}: layer {l} is outside 1..={depth}"),
            LayerSel::Word(w) if w == "last" => out.push(depth),
            LayerSel::Word(w) if w == "all" => out.extend(1..=depth),
            LayerSel::Word(w) => {
                bail!("{what}: unknown layer `{w}` (a number, \"last\" or \"all\")")
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_resolve() {
        let l = |v: Vec<LayerSel>| resolve_layers(&v, 4, "t");
        assert_eq!(l(vec![]).unwrap(), vec![4]);
        assert_eq!(l(vec![LayerSel::all()]).unwrap(), vec![1, 2, 3, 4]);
        assert_eq!(
            l(vec![
                LayerSel::Index(2),
                LayerSel::last(),
                LayerSel::Index(2)
            ])
            .unwrap(),
            vec![2, 4]
        );
        let e = l(vec![LayerSel::Index(5)]).unwrap_err().to_string();
        assert_eq!(e, "t: layer 5 is outside 1..=4");
        assert!(l(vec![LayerSel::Word("first".into())]).is_err());
    }
}
