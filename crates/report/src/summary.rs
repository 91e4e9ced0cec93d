//! The report's summary: one headline number per experiment, experiments grouped into families, and
//! per experiment kind a table with one row per model and one column per family.

use crate::schema::{Experiment, ExperimentKind, Results};
use std::fmt;

/// How the headline number of an experiment kind is taken from its metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadlineRule {
    /// The metric of this name.
    Metric(&'static str),
    /// The mean of the metrics whose name ends with `suffix` and does not contain `exclude`.
    MeanOf {
        /// Name suffix, e.g. `"/same_patch_rate"`.
        suffix: &'static str,
        /// Names containing this are left out, e.g. `"retrieval/"`.
        exclude: &'static str,
    },
    /// The largest of the metrics whose name starts with `prefix` (which one is reported).
    BestOf {
        /// Name prefix, e.g. `"all/layer"`.
        prefix: &'static str,
    },
}

impl fmt::Display for HeadlineRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeadlineRule::Metric(m) => write!(f, "{m}"),
            HeadlineRule::MeanOf { suffix, exclude } => {
                write!(f, "mean of *{suffix} (not {exclude})")
            }
            HeadlineRule::BestOf { prefix } => write!(f, "best {prefix}*"),
        }
    }
}

impl ExperimentKind {
    /// The headline metric of this kind, the one number the summary shows per experiment:
    ///
    /// | kind | headline |
    /// |---|---|
    /// | segmentation | `miou` |
    /// | layer sweep | the best `all/layer<l>` |
    /// | variance spectrum | `variance_share_top10` |
    /// | variance removal | `knn_miou/remove0` |
    /// | degradation | `clean` (mIoU on clean test images) |
    /// | retrieval | mean of the `<transform>/same_patch_rate` metrics (not the `retrieval/` ones) |
    /// | tracking | `same_instance_mean` |
    /// | other (mask propagation) | `jf_mean` |
    pub fn headline_rule(self) -> HeadlineRule {
        match self {
            ExperimentKind::Segmentation => HeadlineRule::Metric("miou"),
            ExperimentKind::LayerSweep => HeadlineRule::BestOf {
                prefix: "all/layer",
            },
            ExperimentKind::VarianceSpectrum => HeadlineRule::Metric("variance_share_top10"),
            ExperimentKind::VarianceRemoval => HeadlineRule::Metric("knn_miou/remove0"),
            ExperimentKind::Degradation => HeadlineRule::Metric("clean"),
            ExperimentKind::Retrieval => HeadlineRule::MeanOf {
                suffix: "/same_patch_rate",
                exclude: "retrieval/",
            },
            ExperimentKind::Tracking => HeadlineRule::Metric("same_instance_mean"),
            ExperimentKind::Reconstruction => HeadlineRule::Metric("mae_loss/plain"),
            ExperimentKind::Other => HeadlineRule::Metric("jf_mean"),
        }
    }
}

/// An experiment's headline number ([`ExperimentKind::headline_rule`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Headline {
    /// The metric it is (for [`HeadlineRule::MeanOf`]: the rule's description).
    pub metric: String,
    /// The value.
    pub value: f64,
    /// Lower and upper bound of the metric's confidence interval, when the experiment has one.
    pub ci: Option<(f64, f64)>,
    /// How many metrics were averaged ([`HeadlineRule::MeanOf`]; 1 otherwise).
    pub averaged: usize,
}

/// The headline number of `e`, if its metrics have it (non-finite values count as absent).
pub fn headline(e: &Experiment) -> Option<Headline> {
    let rule = e.kind.headline_rule();
    let single = |name: &str| {
        let value = *e.metrics.get(name).filter(|v| v.is_finite())?;
        Some(Headline {
            metric: name.to_owned(),
            value,
            ci: e.confidence_intervals.get(name).map(|c| (c.lower, c.upper)),
            averaged: 1,
        })
    };
    match rule {
        HeadlineRule::Metric(m) => single(m),
        HeadlineRule::BestOf { prefix } => {
            let (name, _) = e
                .metrics
                .iter()
                .filter(|(k, v)| k.starts_with(prefix) && v.is_finite())
                .max_by(|a, b| a.1.total_cmp(b.1))?;
            single(name)
        }
        HeadlineRule::MeanOf { suffix, exclude } => {
            let vals: Vec<f64> = e
                .metrics
                .iter()
                .filter(|(k, v)| k.ends_with(suffix) && !k.contains(exclude) && v.is_finite())
                .map(|(_, v)| *v)
                .collect();
            (!vals.is_empty()).then(|| Headline {
                metric: rule.to_string(),
                value: vals.iter().sum::<f64>() / vals.len() as f64,
                ci: None,
                averaged: vals.len(),
            })
        }
    }
}

/// The family of an experiment: its name without the path segment that is the model's zoo name
/// (`cityscapes/knn/set4_72/dino_vitb16/layer12` → `cityscapes/knn/set4_72/layer12`), so the same
/// protocol run on several models is one family. A name without that segment is its own family.
pub fn experiment_family(e: &Experiment) -> String {
    let parts: Vec<&str> = e.name.split('/').collect();
    if parts.len() > 1 && parts.contains(&e.model.zoo_name.as_str()) {
        parts
            .into_iter()
            .filter(|p| *p != e.model.zoo_name)
            .collect::<Vec<_>>()
            .join("/")
    } else {
        e.name.clone()
    }
}

/// One cell of a [`SummaryTable`]: an experiment and its headline.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryCell {
    /// Index of the experiment in [`Results::experiments`].
    pub experiment: usize,
    /// Its headline.
    pub headline: Headline,
}

/// The summary of one experiment kind: rows = models, columns = families.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryTable {
    /// The kind.
    pub kind: ExperimentKind,
    /// Its headline rule.
    pub rule: HeadlineRule,
    /// Column names (families), in order of first appearance.
    pub families: Vec<String>,
    /// Row names (model zoo names), in order of first appearance.
    pub models: Vec<String>,
    /// `cells[model][family]`: the experiments of that model and family (usually one; empty when
    /// the model did not run it).
    pub cells: Vec<Vec<Vec<SummaryCell>>>,
}

/// The summary tables of `results`: one per experiment kind (in order of first appearance) that has
/// an experiment with a headline number; experiments without one are left out.
pub fn summary_tables(results: &Results) -> Vec<SummaryTable> {
    let mut tables: Vec<SummaryTable> = Vec::new();
    for (i, e) in results.experiments.iter().enumerate() {
        let Some(h) = headline(e) else { continue };
        let t = match tables.iter().position(|t| t.kind == e.kind) {
            Some(t) => &mut tables[t],
            None => {
                tables.push(SummaryTable {
                    kind: e.kind,
                    rule: e.kind.headline_rule(),
                    families: Vec::new(),
                    models: Vec::new(),
                    cells: Vec::new(),
                });
                tables.last_mut().expect("just pushed")
            }
        };
        let fam = experiment_family(e);
        let f = match t.families.iter().position(|x| *x == fam) {
            Some(f) => f,
            None => {
                t.families.push(fam);
                for row in &mut t.cells {
                    row.push(Vec::new());
                }
                t.families.len() - 1
            }
        };
        let m = match t.models.iter().position(|x| *x == e.model.zoo_name) {
            Some(m) => m,
            None => {
                t.models.push(e.model.zoo_name.clone());
                t.cells.push(vec![Vec::new(); t.families.len()]);
                t.models.len() - 1
            }
        };
        t.cells[m][f].push(SummaryCell {
            experiment: i,
            headline: h,
        });
    }
    tables
}
