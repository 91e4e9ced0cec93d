//! "The study's findings at this scale": the paper's qualitative claims (protocol §1, §6, §9.6, §9.7)
//! checked against the numbers of one `reproduce` run, whatever the models and data are.
//!
//! Models are grouped by their checkpoint family: **contrastive** (DINO, DINOv2, iBOT), **masked-image**
//! (MAE, SimMIM, Scale-MAE, BEiT, I-JEPA), **supervised** (torchvision / timm ViT), and the **random-weights**
//! baselines of the run (whatever their family). Each claim is checked only when the run has the
//! experiments and the groups it needs; otherwise it says what was missing. Per-model figures are means
//! over the run's experiments of that kind (all splits, layers, transformations, Δ), so a claim is judged
//! on the whole run, not on one picked point. A variant of a model (identification with its top-variance
//! dimensions removed, the study's "MAE-200") is listed as a model of its own, `<model> −N dims`, and takes
//! no part in any group's verdict: a verdict is about the models as released. The DINO vs DINOv2
//! identification claim is the study's rotation result (§9.6), so it is judged on rotations only.
//!
//! The groups follow the pretraining objective. The study contrasts view-invariance objectives (DINO-type
//! self-distillation across augmented views; iBOT adds a masked loss to DINO's and stays with them) with
//! masked prediction. I-JEPA trains on one view with no augmentation invariance and predicts masked
//! blocks from a visible context, so it counts as masked-image although its targets are EMA-encoder
//! features rather than pixels or tokens; its own paper groups it with MAE and data2vec as a method
//! "without view data augmentations".

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use patchlens_report::Experiment;

use crate::identification::keys as id_keys;
use crate::segmentation::ProbeKind;
use crate::segmentation::keys as seg_keys;
use crate::variance::keys as var_keys;

/// Group of a model for the claims.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    /// DINO, DINOv2, iBOT.
    Contrastive,
    /// MAE, SimMIM, Scale-MAE, BEiT, I-JEPA (masked prediction, in pixels, tokens or features).
    Masked,
    /// Supervised ViTs.
    Supervised,
    /// Random weights (a baseline), any family.
    Random,
    /// Anything else.
    Other,
}

impl Group {
    /// Group of a checkpoint family name (`patchlens_vit::Family::name`).
    pub fn of_family(family: &str) -> Group {
        match family {
            "dino" | "dinov2" | "ibot" => Group::Contrastive,
            "mae" | "simmim" | "scalemae" | "beit" | "ijepa" => Group::Masked,
            f if f.starts_with("sup") => Group::Supervised,
            _ => Group::Other,
        }
    }
}

/// Outcome of checking one claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The run shows it, by more than the claim's margin.
    Appears,
    /// The run shows the opposite, by more than the margin.
    Reversed,
    /// The difference (or effect) is within the margin: no clear difference at this scale.
    NoClearDifference,
    /// The run lacks the experiments or models to tell.
    NotMeasured,
}

impl Verdict {
    /// Short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Appears => "appears",
            Verdict::Reversed => "reversed",
            Verdict::NoClearDifference => "no clear difference",
            Verdict::NotMeasured => "not measured",
        }
    }

    /// `x` against `y` with a dead band of `margin`.
    fn of(x: f64, y: f64, margin: f64) -> Verdict {
        if x > y + margin {
            Verdict::Appears
        } else if y > x + margin {
            Verdict::Reversed
        } else {
            Verdict::NoClearDifference
        }
    }
}

/// Dead band for mIoU / rate / accuracy comparisons (absolute): differences up to this are "no clear
/// difference" (the demo's bootstrap CIs of one model's mIoU are about ±0.02 wide).
pub const MARGIN: f64 = 0.01;
/// Dead band for the top-10 variance share.
pub const SHARE_MARGIN: f64 = 0.02;

/// One claim with its verdict and the figures behind it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Finding {
    /// The study's claim, in words.
    pub claim: &'static str,
    /// What this run shows.
    pub verdict: Verdict,
    /// The figures (per model, or what is missing).
    pub evidence: String,
}

/// Per-model means of the figures the claims use.
#[derive(Clone, Debug, Default)]
struct ModelFigures {
    family: String,
    knn: Vec<f64>,
    linear: Vec<f64>,
    gap: Vec<f64>,
    top10_share: Vec<f64>,
    removal_gain: Vec<f64>,
    same_patch: Vec<f64>,
    same_patch_rotation: Vec<f64>,
    same_instance: Vec<f64>,
    /// A variant of a released model (not in any group).
    variant: bool,
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn collect(experiments: &[Experiment]) -> BTreeMap<String, ModelFigures> {
    let mut by: BTreeMap<String, ModelFigures> = BTreeMap::new();
    for e in experiments {
        let removed = e
            .protocol
            .get(id_keys::REMOVED_DIMENSIONS)
            .and_then(|v| v.as_array())
            .map_or(0, Vec::len);
        let key = if removed > 0 {
            format!("{} −{removed} dims", e.model.zoo_name)
        } else {
            e.model.zoo_name.clone()
        };
        let f = by.entry(key).or_default();
        f.family = e.model.family.clone();
        f.variant = removed > 0;
        let m = &e.metrics;
        if seg_keys::is_summary_experiment(&e.name) {
            // Summary rows of the k-NN vs linear experiments: `knn/<split>` and `linear/<split>`.
            for (k, &v) in m {
                match seg_keys::parse_summary(k) {
                    Some((ProbeKind::Knn, split)) => {
                        f.knn.push(v);
                        if let Some(&l) = m.get(&seg_keys::summary(ProbeKind::Linear, split)) {
                            f.gap.push(l - v);
                        }
                    }
                    Some((ProbeKind::Linear, _)) => f.linear.push(v),
                    // The study's recipe selects on the reported set: claims use our clean selection.
                    Some((ProbeKind::LinearStudy, _)) | None => {}
                }
            }
        }
        if let Some(&s) = m.get(&var_keys::share_top(10)) {
            f.top10_share.push(s);
        }
        if let Some(&base) = m.get(&var_keys::point("knn", "remove0")) {
            let best = m
                .iter()
                .filter(|(k, _)| var_keys::parse_knn_removal(k).is_some_and(|n| n > 0))
                .map(|(_, &v)| v)
                .fold(f64::NEG_INFINITY, f64::max);
            if best.is_finite() {
                f.removal_gain.push(best - base);
            }
        }
        let same_patch = |rotation_only: bool| {
            let v: Vec<f64> = m
                .iter()
                .filter(|(k, _)| {
                    id_keys::parse_rate(k).is_some_and(|(label, what, retrieval)| {
                        what == "same_patch"
                            && !retrieval
                            && (!rotation_only
                                || label.starts_with(
                                    patchlens_data::transforms::TransformKind::Rotate.name(),
                                ))
                    })
                })
                .map(|(_, &v)| v)
                .collect();
            mean(&v)
        };
        if let Some(x) = same_patch(false) {
            f.same_patch.push(x);
        }
        if let Some(x) = same_patch(true) {
            f.same_patch_rotation.push(x);
        }
        if let Some(&x) = m.get(crate::tracking::keys::SAME_INSTANCE_MEAN) {
            f.same_instance.push(x);
        }
    }
    by
}

/// `name value` pairs of the models that have the figure, e.g. `tiny_mae 0.121, tiny_dino 0.105`.
fn listing(
    figs: &BTreeMap<String, ModelFigures>,
    pick: impl Fn(&ModelFigures) -> Option<f64>,
) -> String {
    let mut s = String::new();
    for (name, f) in figs {
        if let Some(v) = pick(f) {
            if !s.is_empty() {
                s.push_str(", ");
            }
            let _ = write!(s, "{name} {v:.3}");
        }
    }
    s
}

/// Mean of `pick` over the models of `group` (None if no model of the group has it).
fn group_mean(
    figs: &BTreeMap<String, ModelFigures>,
    groups: &BTreeMap<String, Group>,
    group: Group,
    pick: &impl Fn(&ModelFigures) -> Option<f64>,
) -> Option<f64> {
    let v: Vec<f64> = figs
        .iter()
        .filter(|(n, _)| groups.get(*n) == Some(&group))
        .filter_map(|(_, f)| pick(f))
        .collect();
    mean(&v)
}

/// Compare group means `a > b` (+ `margin`) for one claim.
#[allow(clippy::too_many_arguments)]
fn compare(
    claim: &'static str,
    figs: &BTreeMap<String, ModelFigures>,
    groups: &BTreeMap<String, Group>,
    a: Group,
    b: &[Group],
    what: &str,
    margin: f64,
    pick: impl Fn(&ModelFigures) -> Option<f64>,
) -> Finding {
    let ma = group_mean(figs, groups, a, &pick);
    let bs: Vec<f64> = b
        .iter()
        .filter_map(|&g| group_mean(figs, groups, g, &pick))
        .collect();
    let list = listing(figs, &pick);
    match (ma, bs.iter().copied().reduce(f64::max)) {
        (Some(x), Some(y)) => Finding {
            claim,
            verdict: Verdict::of(x, y, margin),
            evidence: format!(
                "{what}: {a:?} mean {x:.3} vs best of {b:?} {y:.3}, margin {margin} (per model: {list})"
            ),
        },
        _ => Finding {
            claim,
            verdict: Verdict::NotMeasured,
            evidence: format!(
                "needs {what} for {a:?} and {b:?} models{}",
                if list.is_empty() {
                    String::new()
                } else {
                    format!(" (have: {list})")
                }
            ),
        },
    }
}

/// Check the study's claims on the run's experiments. `random`: zoo names of the random-weights models.
pub fn findings(experiments: &[Experiment], random: &BTreeSet<String>) -> Vec<Finding> {
    let figs = collect(experiments);
    let groups: BTreeMap<String, Group> = figs
        .iter()
        .map(|(n, f)| {
            let g = if f.variant {
                Group::Other
            } else if random.contains(n) {
                Group::Random
            } else {
                Group::of_family(&f.family)
            };
            (n.clone(), g)
        })
        .collect();
    let learned = [Group::Contrastive, Group::Masked, Group::Supervised];
    let mut out = vec![
        compare(
            "Contrastive models (DINO-type) give patch features usable without tuning: higher k-NN mIoU than masked-image models",
            &figs,
            &groups,
            Group::Contrastive,
            &[Group::Masked],
            "k-NN mIoU",
            MARGIN,
            |f| mean(&f.knn),
        ),
        compare(
            "Masked-image models need a trained probe: their linear-probe minus k-NN gap is larger than that of contrastive and supervised models",
            &figs,
            &groups,
            Group::Masked,
            &[Group::Contrastive, Group::Supervised],
            "linear − k-NN mIoU",
            MARGIN,
            |f| mean(&f.gap),
        ),
        compare(
            "Masked-image (MAE-type) features have a few dominant high-variance dimensions",
            &figs,
            &groups,
            Group::Masked,
            &[Group::Contrastive, Group::Supervised],
            "share of the total variance in the top-10 dimensions",
            SHARE_MARGIN,
            |f| mean(&f.top10_share),
        ),
    ];
    // Removal helps the masked-image models (an absolute effect, not a comparison).
    let gain = |f: &ModelFigures| mean(&f.removal_gain);
    let list = listing(&figs, gain);
    out.push(match group_mean(&figs, &groups, Group::Masked, &gain) {
        Some(g) => Finding {
            claim: "Removing the top high-variance dimensions improves k-NN for masked-image models",
            verdict: Verdict::of(g, 0.0, MARGIN),
            evidence: format!(
                "best k-NN mIoU gain over N = 0: masked-image mean {g:+.3}, margin {MARGIN} (per model: {list})"
            ),
        },
        None => Finding {
            claim: "Removing the top high-variance dimensions improves k-NN for masked-image models",
            verdict: Verdict::NotMeasured,
            evidence: "needs a variance-removal sweep of a masked-image model".into(),
        },
    });
    out.push(compare(
        "Instance identification (same patch after a transformation, raw dot product): contrastive models beat masked-image models, which collapse",
        &figs,
        &groups,
        Group::Contrastive,
        &[Group::Masked],
        "same-patch rate",
        MARGIN,
        |f| mean(&f.same_patch),
    ));
    // DINO > DINOv2 at identification under rotation (§9.6), when both are present.
    let fam_mean = |fam: &str| {
        let v: Vec<f64> = figs
            .iter()
            .filter(|(n, f)| f.family == fam && groups.get(*n) == Some(&Group::Contrastive))
            .filter_map(|(_, f)| mean(&f.same_patch_rotation))
            .collect();
        mean(&v)
    };
    let claim = "DINOv2 does worse than DINO at instance identification under rotation";
    out.push(match (fam_mean("dino"), fam_mean("dinov2")) {
        (Some(a), Some(b)) => Finding {
            claim,
            verdict: Verdict::of(a, b, MARGIN),
            evidence: format!(
                "same-patch rate over rotations: DINO {a:.3}, DINOv2 {b:.3}, margin {MARGIN}"
            ),
        },
        _ => Finding {
            claim,
            verdict: Verdict::NotMeasured,
            evidence: "needs rotation identification results of both a DINO and a DINOv2 model"
                .into(),
        },
    });
    out.push(compare(
        "Tracking (same-instance association across frames): contrastive models beat masked-image models",
        &figs,
        &groups,
        Group::Contrastive,
        &[Group::Masked],
        "same-instance accuracy (mean over Δ)",
        MARGIN,
        |f| mean(&f.same_instance),
    ));
    // Learned vs random, per task: does any pretraining objective beat random weights?
    for (claim, what, pick) in [
        (
            "Pretraining beats random weights at k-NN segmentation",
            "k-NN mIoU",
            (|f: &ModelFigures| mean(&f.knn)) as fn(&ModelFigures) -> Option<f64>,
        ),
        (
            "Pretraining beats random weights at linear-probe segmentation",
            "linear mIoU",
            |f: &ModelFigures| mean(&f.linear),
        ),
        (
            "Pretraining beats random weights at instance identification",
            "same-patch rate",
            |f: &ModelFigures| mean(&f.same_patch),
        ),
        (
            "Pretraining beats random weights at tracking",
            "same-instance accuracy",
            |f: &ModelFigures| mean(&f.same_instance),
        ),
    ] {
        let r = group_mean(&figs, &groups, Group::Random, &pick);
        let best = figs
            .iter()
            .filter(|(n, _)| groups.get(*n).is_some_and(|g| learned.contains(g)))
            .filter_map(|(n, f)| pick(f).map(|v| (n.clone(), v)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        out.push(match (r, best) {
            (Some(r), Some((n, b))) => Finding {
                claim,
                verdict: Verdict::of(b, r, MARGIN),
                evidence: format!(
                    "{what}: best pretrained {n} {b:.3} vs random {r:.3}, margin {MARGIN} (per model: {})",
                    listing(&figs, pick)
                ),
            },
            _ => Finding {
                claim,
                verdict: Verdict::NotMeasured,
                evidence: format!("needs {what} of a pretrained and a random-weights model"),
            },
        });
    }
    out
}

/// The findings as a markdown section.
pub fn markdown(f: &[Finding], scale_note: &str) -> String {
    let mut m = String::from("\n## The study's findings at this scale\n\n");
    if !scale_note.is_empty() {
        let _ = writeln!(m, "{scale_note}\n");
    }
    m.push_str("| claim (arXiv 2401.00463) | this run | figures |\n|---|---|---|\n");
    for x in f {
        let _ = writeln!(
            m,
            "| {} | **{}** | {} |",
            x.claim.replace('|', "\\|"),
            x.verdict.label(),
            x.evidence.replace('|', "\\|")
        );
    }
    m
}

/// The findings as an HTML section.
pub fn html(f: &[Finding], scale_note: &str) -> String {
    let esc = patchlens_report::escape_html;
    let mut h =
        String::from("<section id=\"findings\">\n<h2>The study's findings at this scale</h2>\n");
    if !scale_note.is_empty() {
        let _ = writeln!(h, "<p>{}</p>", esc(scale_note));
    }
    h.push_str("<table class=\"findings\">\n<tr><th>claim (arXiv 2401.00463)</th><th>this run</th><th>figures</th></tr>\n");
    for x in f {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td><strong>{}</strong></td><td>{}</td></tr>",
            esc(x.claim),
            x.verdict.label(),
            esc(&x.evidence)
        );
    }
    h.push_str("</table>\n</section>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use patchlens_report::{ExperimentKind, ModelInfo};

    fn exp(name: &str, model: &str, family: &str, metrics: &[(&str, f64)]) -> Experiment {
        let mut e = Experiment::new(
            name,
            ExperimentKind::Other,
            ModelInfo {
                zoo_name: model.into(),
                weights_sha256: None,
                family: family.into(),
            },
        );
        for (k, v) in metrics {
            e.metrics.insert((*k).into(), *v);
        }
        e
    }

    /// Hand-made figures shaped like the study's (MAE: low k-NN, big gap, dominant dimensions, gain from
    /// removal, identification collapse) and a random baseline: every claim appears; swapping the
    /// MAE and DINO numbers turns the comparisons around.
    #[test]
    fn study_shaped_numbers_show_every_claim() {
        let run = |mae: [f64; 6], dino: [f64; 6]| {
            let mut v = Vec::new();
            for (m, f, x) in [("mae", "mae", mae), ("dino", "dino", dino)] {
                v.push(exp(
                    &format!("a1/summary/{m}"),
                    m,
                    f,
                    &[("knn/s", x[0]), ("linear/s", x[1])],
                ));
                v.push(exp("spec", m, f, &[("variance_share_top10", x[2])]));
                v.push(exp(
                    "rm",
                    m,
                    f,
                    &[
                        ("knn_miou/remove0", x[0]),
                        ("knn_miou/remove10", x[0] + x[3]),
                        ("knn_miou/bn", 0.9),
                    ],
                ));
                v.push(exp(
                    "id",
                    m,
                    f,
                    &[
                        ("rotate1/same_patch_rate", x[4]),
                        ("rotate1/retrieval/same_patch_rate", 0.99),
                    ],
                ));
                v.push(exp("tr", m, f, &[("same_instance_mean", x[5])]));
            }
            v.push(exp(
                "a1/summary/rnd",
                "rnd",
                "dino",
                &[("knn/s", 0.05), ("linear/s", 0.05)],
            ));
            v.push(exp(
                "id",
                "rnd",
                "dino",
                &[("rotate1/same_patch_rate", 0.01)],
            ));
            v.push(exp("tr", "rnd", "dino", &[("same_instance_mean", 0.2)]));
            findings(&v, &BTreeSet::from(["rnd".to_string()]))
        };
        let f = run(
            [0.06, 0.37, 0.4, 0.2, 0.03, 0.6],
            [0.34, 0.38, 0.1, -0.01, 0.37, 0.8],
        );
        let verdicts: Vec<Verdict> = f.iter().map(|x| x.verdict).collect();
        assert_eq!(
            verdicts,
            [
                Verdict::Appears,     // k-NN: DINO 0.34 > MAE 0.06
                Verdict::Appears,     // gap: MAE 0.31 > DINO 0.04
                Verdict::Appears,     // top-10 share 0.4 > 0.1
                Verdict::Appears,     // removal gain +0.2
                Verdict::Appears,     // identification 0.37 > 0.03
                Verdict::NotMeasured, // no DINOv2
                Verdict::Appears,     // tracking 0.8 > 0.6
                Verdict::Appears,     // k-NN vs random 0.34 > 0.05
                Verdict::Appears,
                Verdict::Appears,
                Verdict::Appears,
            ]
        );
        assert!(
            f[1].evidence.contains("Masked mean 0.310"),
            "{}",
            f[1].evidence
        );
        assert!(f[3].evidence.contains("+0.200"), "{}", f[3].evidence);
        assert!(
            f[7].evidence
                .contains("best pretrained dino 0.340 vs random 0.050")
        );
        let g = run(
            [0.34, 0.38, 0.1, -0.01, 0.37, 0.8],
            [0.06, 0.37, 0.4, 0.2, 0.03, 0.6],
        );
        for i in [0, 1, 2, 3, 4, 6] {
            assert_eq!(g[i].verdict, Verdict::Reversed, "{}", g[i].claim);
        }
        // Differences within the margin are not findings either way.
        let h = run(
            [0.300, 0.35, 0.2, 0.005, 0.30, 0.700],
            [0.305, 0.35, 0.2, 0.0, 0.295, 0.705],
        );
        for i in [0, 1, 2, 3, 4, 6] {
            assert_eq!(h[i].verdict, Verdict::NoClearDifference, "{}", h[i].claim);
        }
        let md = markdown(&f, "tiny models");
        assert!(md.contains("| Removing the top high-variance dimensions improves k-NN for masked-image models | **appears** |"));
        assert!(html(&f, "").contains("<td><strong>not measured</strong></td>"));
    }

    fn with_removed(mut e: Experiment, n: usize) -> Experiment {
        e.protocol.insert(
            "removed_dimensions".into(),
            serde_json::json!((0..n).collect::<Vec<_>>()),
        );
        e
    }

    /// A variant with removed dimensions is its own row and joins no group: MAE's raw rate 0.045 against
    /// DINO's 0.05 is "no clear difference"; pooled with an "MAE −200" of 0.40 it would read as reversed.
    #[test]
    fn variants_do_not_pool_with_their_model() {
        let rates = |v: f64| [("rotate1/same_patch_rate", v)];
        let f = findings(
            &[
                exp("id", "mae", "mae", &rates(0.045)),
                with_removed(exp("id-200", "mae", "mae", &rates(0.40)), 200),
                exp("id", "dino", "dino", &rates(0.05)),
            ],
            &BTreeSet::new(),
        );
        let id = f
            .iter()
            .find(|x| x.claim.starts_with("Instance identification"))
            .unwrap();
        assert_eq!(id.verdict, Verdict::NoClearDifference, "{}", id.evidence);
        assert!(id.evidence.contains("[Masked] 0.045"), "{}", id.evidence);
        assert!(
            id.evidence.contains("mae −200 dims 0.400"),
            "{}",
            id.evidence
        );
    }

    /// The DINO vs DINOv2 claim reads the rotations only: DINOv2 better on blur, worse under rotation.
    #[test]
    fn dino_versus_dinov2_is_judged_on_rotation() {
        let f = findings(
            &[
                exp(
                    "id",
                    "dino",
                    "dino",
                    &[
                        ("rotate1/same_patch_rate", 0.40),
                        ("blur1/same_patch_rate", 0.50),
                    ],
                ),
                exp(
                    "id",
                    "dinov2",
                    "dinov2",
                    &[
                        ("rotate1/same_patch_rate", 0.30),
                        ("blur1/same_patch_rate", 0.90),
                    ],
                ),
            ],
            &BTreeSet::new(),
        );
        let c = f.iter().find(|x| x.claim.starts_with("DINOv2")).unwrap();
        assert_eq!(c.verdict, Verdict::Appears, "{}", c.evidence);
        assert!(
            c.evidence.contains("DINO 0.400, DINOv2 0.300"),
            "{}",
            c.evidence
        );
    }

    #[test]
    fn families_group_as_the_study_does() {
        assert_eq!(Group::of_family("dinov2"), Group::Contrastive);
        assert_eq!(Group::of_family("scalemae"), Group::Masked);
        assert_eq!(Group::of_family("ijepa"), Group::Masked);
        // every backbone family has a group (a new family must be placed deliberately)
        for f in patchlens_vit::Family::ALL {
            assert_ne!(Group::of_family(f.name()), Group::Other, "{}", f.name());
        }
        assert_eq!(Group::of_family("sup_torchvision"), Group::Supervised);
        assert_eq!(Group::of_family("other"), Group::Other);
        let none = findings(&[], &BTreeSet::new());
        assert!(none.iter().all(|f| f.verdict == Verdict::NotMeasured));
    }
}
