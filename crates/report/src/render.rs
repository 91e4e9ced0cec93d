//! Markdown and self-contained HTML reports.
//!
//! Both renderings put first what a reader looks for: a summary per experiment kind (one row per
//! model, one column per experiment family, the kind's headline metric with its confidence interval;
//! see [`crate::summary_tables`]), then the figures, then the "ours | paper | Δ" table, then one
//! section per experiment (headline, metrics, sample images, and the protocol as a short key/value
//! table folded under `<details>`, training histories drawn as loss curves; see
//! [`crate::protocol_rows`]), and the run information last.
//!
//! Every group of curves sharing a [`Curve::figure`] id becomes one plot whose kind comes from the
//! curve's [`Curve::plot`] or its experiment's [`ExperimentKind::default_plot`](crate::ExperimentKind::default_plot), and every
//! metric or curve point linked to a [`PaperKey`] that the paper has appears in the comparison table.

use crate::error::{ReportError, io_err};
use crate::files::write_atomic;
use crate::format::{escape_html, fmt_bytes, fmt_delta, fmt_value, md_cell, slug};
use crate::images::base64_encode;
use crate::paper::{PaperNumbers, paper, setting_number};
use crate::plot::{Figure, Series, history_svg, render_svg};
use crate::protocol::{ProtocolValue, protocol_rows};
use crate::schema::{Curve, Experiment, ImageSource, PaperKey, Results};
use crate::summary::{Headline, SummaryTable, headline, summary_tables};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One line of the side-by-side table.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Experiment name.
    pub experiment: String,
    /// Model zoo name.
    pub model: String,
    /// What is compared (metric name, or curve label and x).
    pub quantity: String,
    /// Our value.
    pub ours: f64,
    /// The paper's value.
    pub paper: f64,
    /// The paper key used.
    pub key: PaperKey,
}

impl Comparison {
    /// `ours - paper`.
    pub fn delta(&self) -> f64 {
        self.ours - self.paper
    }
}

/// A figure ready to embed.
#[derive(Debug, Clone)]
pub struct RenderedFigure {
    /// Figure id (title).
    pub id: String,
    /// File name (`<slug>.svg`) used by [`Report::write`].
    pub file_name: String,
    /// The figure data.
    pub figure: Figure,
    /// The SVG document.
    pub svg: String,
}

/// A report built from [`Results`]: figures, comparisons and the two renderings.
#[derive(Debug, Clone)]
pub struct Report<'a> {
    results: &'a Results,
    base_dir: PathBuf,
    figures: Vec<RenderedFigure>,
    comparisons: Vec<Comparison>,
    unmatched: Vec<(String, PaperKey)>,
    summary: Vec<SummaryTable>,
    /// HTML id of each experiment's section (unique), by experiment index.
    anchors: Vec<String>,
}

/// Files written by [`Report::write`].
#[derive(Debug, Clone)]
pub struct ReportFiles {
    /// `results.json`.
    pub results_json: PathBuf,
    /// `results.csv` ([`Results::to_csv`]).
    pub results_csv: PathBuf,
    /// `report.md`.
    pub markdown: PathBuf,
    /// `report.html`.
    pub html: PathBuf,
    /// `plots/*.svg` (referenced by the Markdown).
    pub plots: Vec<PathBuf>,
}

/// Replaces `{x}` in a curve's paper setting by the x value.
fn curve_setting(template: &str, x: f64) -> String {
    template.replace("{x}", &setting_number(x))
}

/// Compares `results` with the paper numbers `p`: returns the matches and the keys the paper lacks
/// (with the experiment name).
pub fn compare_with(
    results: &Results,
    p: &PaperNumbers,
) -> (Vec<Comparison>, Vec<(String, PaperKey)>) {
    let mut rows = Vec::new();
    let mut missing = Vec::new();
    for e in &results.experiments {
        for (metric, key) in &e.paper {
            let Some(&ours) = e.metrics.get(metric) else {
                missing.push((format!("{} (metric {metric} absent)", e.name), key.clone()));
                continue;
            };
            match p.lookup(&key.experiment, &key.setting, &key.model) {
                Some(v) => rows.push(Comparison {
                    experiment: e.name.clone(),
                    model: e.model.zoo_name.clone(),
                    quantity: metric.clone(),
                    ours,
                    paper: v,
                    key: key.clone(),
                }),
                None => missing.push((e.name.clone(), key.clone())),
            }
        }
        for c in &e.curves {
            let Some(key) = &c.paper else { continue };
            let mut any = false;
            for (&x, &y) in c.x.iter().zip(&c.y) {
                let k = PaperKey {
                    setting: curve_setting(&key.setting, x),
                    ..key.clone()
                };
                if let Some(v) = p.lookup(&k.experiment, &k.setting, &k.model) {
                    any = true;
                    rows.push(Comparison {
                        experiment: e.name.clone(),
                        model: e.model.zoo_name.clone(),
                        quantity: format!("{} @ {} = {}", c.label, c.x_label, setting_number(x)),
                        ours: y,
                        paper: v,
                        key: k,
                    });
                }
            }
            if !any {
                missing.push((e.name.clone(), key.clone()));
            }
        }
    }
    (rows, missing)
}

/// Groups all curves by figure id (first-appearance order) and builds the figures, adding a dashed
/// "(paper)" series for every curve with a matching [`Curve::paper`].
pub fn build_figures(results: &Results, p: &PaperNumbers) -> Result<Vec<Figure>, ReportError> {
    let mut order: Vec<String> = Vec::new();
    let mut groups: HashMap<String, Vec<(&Experiment, &Curve)>> = HashMap::new();
    for e in &results.experiments {
        for c in &e.curves {
            c.validate()?;
            if !groups.contains_key(&c.figure) {
                order.push(c.figure.clone());
            }
            groups.entry(c.figure.clone()).or_default().push((e, c));
        }
    }
    let mut figs = Vec::new();
    for id in order {
        let members = &groups[&id];
        let (e0, c0) = members[0];
        let kind = c0.plot.unwrap_or_else(|| e0.kind.default_plot());
        let mut colors: Vec<String> = Vec::new();
        let mut series = Vec::new();
        for &(_, c) in members {
            let color = match colors.iter().position(|l| *l == c.label) {
                Some(i) => i,
                None => {
                    colors.push(c.label.clone());
                    colors.len() - 1
                }
            };
            let error_bars = match (&c.y_lower, &c.y_upper) {
                (Some(l), Some(u)) => Some(l.iter().copied().zip(u.iter().copied()).collect()),
                _ => None,
            };
            series.push(Series {
                label: c.label.clone(),
                points: c.x.iter().copied().zip(c.y.iter().copied()).collect(),
                error_bars,
                point_labels: c.point_labels.clone(),
                dashed: false,
                color,
            });
            if let Some(key) = &c.paper {
                let pts: Vec<(f64, f64)> =
                    c.x.iter()
                        .filter_map(|&x| {
                            p.lookup(&key.experiment, &curve_setting(&key.setting, x), &key.model)
                                .map(|v| (x, v))
                        })
                        .collect();
                if !pts.is_empty() {
                    series.push(Series {
                        label: format!("{} (paper)", c.label),
                        points: pts,
                        error_bars: None,
                        point_labels: None,
                        dashed: true,
                        color,
                    });
                }
            }
        }
        figs.push(Figure {
            title: id.clone(),
            kind,
            x_label: c0.x_label.clone(),
            y_label: c0.y_label.clone(),
            series,
        });
    }
    Ok(figs)
}

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1280px;margin:1.5em auto;padding:0 1em;color:#222;line-height:1.4}\
h1,h2,h3{font-weight:600}h2{border-bottom:1px solid #ddd;padding-bottom:0.2em;margin-top:1.6em}h3{margin:1.2em 0 0.4em}\
table{border-collapse:collapse;margin:0.6em 0}th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}td.pos{color:#1a7f37}td.neg{color:#b3261e}\
figure{margin:1em 0}figcaption{font-size:0.9em;color:#555}code{background:#f6f6f6;padding:1px 3px}\
img.sample{max-width:100%;image-rendering:pixelated;border:1px solid #ddd}.note{color:#555;font-size:0.9em}\
nav.toc{margin:0.5em 0 1em;font-size:0.95em}nav.toc a{margin-right:1.2em}\
div.scroll{overflow-x:auto;max-width:100%}\
table.summary th{font-size:0.85em;font-weight:600}table.summary th.family{min-width:5.5em;max-width:10em;font-weight:normal}\
table.summary th.kind{text-align:center;background:#e8eef5}table.summary .first{border-left:2px solid #8a9bb0}\
table.summary th.model{white-space:nowrap;position:sticky;left:0;z-index:1}table.summary td{white-space:nowrap}\
table.summary a{color:inherit;text-decoration:none}table.summary a:hover{text-decoration:underline}\
td.empty{color:#bbb;text-align:center}span.ci{display:block;font-size:0.78em;color:#666}span.more{display:block;font-size:0.78em;color:#666}\
figure.plot svg{max-width:100%;height:auto;border:1px solid #eee}ol.figindex{columns:2;font-size:0.9em}\
section.experiment{border-top:1px solid #eee;margin-top:1em}p.meta{margin:0.2em 0 0.5em}\
details{margin:0.4em 0}details>summary{cursor:pointer;color:#1f5f99}\
table.protocol td:first-child{white-space:nowrap;font-family:ui-monospace,monospace;font-size:0.88em}\
table.protocol td{overflow-wrap:anywhere;max-width:760px}svg.history{display:block;margin:2px 0}";

/// Most family columns in one HTML summary table; more are continued in another table.
pub const MAX_SUMMARY_COLUMNS: usize = 9;

/// Metrics tables with more rows than this are folded under `<details>`.
pub const MAX_OPEN_METRICS: usize = 12;

/// Summary-table number: integers without decimals, large values with one decimal, else 3.
fn fmt_short(v: f64) -> String {
    if !v.is_finite() {
        format!("{v}")
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// Text of a confidence interval: `[lower, upper]`.
fn fmt_ci(lo: f64, hi: f64, f: fn(f64) -> String) -> String {
    format!("[{}, {}]", f(lo), f(hi))
}

/// HTML of a family name with break opportunities after each `/` and `_`.
fn breakable(s: &str) -> String {
    escape_html(s).replace('/', "/<wbr>").replace('_', "_<wbr>")
}

/// Per paper experiment id: (number of compared points, mean Δ, mean |Δ|, max |Δ|), in order of
/// first appearance.
fn paper_overview(rows: &[Comparison]) -> Vec<(String, usize, f64, f64, f64)> {
    let mut out: Vec<(String, usize, f64, f64, f64)> = Vec::new();
    for c in rows {
        let d = c.delta();
        let i = match out.iter().position(|o| o.0 == c.key.experiment) {
            Some(i) => i,
            None => {
                out.push((c.key.experiment.clone(), 0, 0.0, 0.0, 0.0));
                out.len() - 1
            }
        };
        let o = &mut out[i];
        o.1 += 1;
        o.2 += d;
        o.3 += d.abs();
        o.4 = o.4.max(d.abs());
    }
    for o in &mut out {
        o.2 /= o.1 as f64;
        o.3 /= o.1 as f64;
    }
    out
}

/// Comparison tables with more rows than this are folded under `<details>` (after the overview).
pub const MAX_OPEN_COMPARISONS: usize = 20;

/// Headline as text: `miou 0.5000 [0.4500, 0.5500]` (plus how many were averaged).
fn headline_text(h: &Headline) -> String {
    let mut s = format!("{} {}", h.metric, fmt_value(h.value));
    if h.averaged > 1 {
        s.push_str(&format!(" (over {})", h.averaged));
    }
    if let Some((lo, hi)) = h.ci {
        s.push(' ');
        s.push_str(&fmt_ci(lo, hi, fmt_value));
    }
    s
}

impl<'a> Report<'a> {
    /// Builds the report of `results` against the embedded paper numbers. Relative image paths are
    /// resolved against `base_dir` (the results directory).
    pub fn build(
        results: &'a Results,
        base_dir: impl Into<PathBuf>,
    ) -> Result<Report<'a>, ReportError> {
        Report::build_with(results, base_dir, paper())
    }

    /// Like [`Report::build`] with explicit paper numbers.
    pub fn build_with(
        results: &'a Results,
        base_dir: impl Into<PathBuf>,
        p: &PaperNumbers,
    ) -> Result<Report<'a>, ReportError> {
        let mut used: HashMap<String, usize> = HashMap::new();
        let mut figures = Vec::new();
        for figure in build_figures(results, p)? {
            let base = slug(&figure.title, "figure");
            let n = used.entry(base.clone()).or_insert(0);
            *n += 1;
            let file_name = if *n == 1 {
                format!("{base}.svg")
            } else {
                format!("{base}-{n}.svg")
            };
            let svg = render_svg(&figure)?;
            figures.push(RenderedFigure {
                id: figure.title.clone(),
                file_name,
                figure,
                svg,
            });
        }
        let (comparisons, unmatched) = compare_with(results, p);
        let mut used: HashMap<String, usize> = HashMap::new();
        let anchors = results
            .experiments
            .iter()
            .map(|e| {
                let base = format!("exp-{}", slug(&e.name, "experiment"));
                let n = used.entry(base.clone()).or_insert(0);
                *n += 1;
                if *n == 1 { base } else { format!("{base}-{n}") }
            })
            .collect();
        Ok(Report {
            results,
            base_dir: base_dir.into(),
            figures,
            comparisons,
            unmatched,
            summary: summary_tables(results),
            anchors,
        })
    }

    /// The figures.
    pub fn figures(&self) -> &[RenderedFigure] {
        &self.figures
    }

    /// The side-by-side rows.
    pub fn comparisons(&self) -> &[Comparison] {
        &self.comparisons
    }

    /// Paper keys for which the paper has no number (experiment name, key).
    pub fn unmatched(&self) -> &[(String, PaperKey)] {
        &self.unmatched
    }

    /// The summary tables (one per experiment kind with a headline metric).
    pub fn summary(&self) -> &[SummaryTable] {
        &self.summary
    }

    fn image_uri(&self, src: &ImageSource) -> Result<String, ReportError> {
        Ok(match src {
            ImageSource::PngBase64 { data } => format!("data:image/png;base64,{data}"),
            ImageSource::File { path } => {
                let p = Path::new(path);
                let full = if p.is_absolute() {
                    p.to_path_buf()
                } else {
                    self.base_dir.join(p)
                };
                let bytes = std::fs::read(&full).map_err(io_err(&full))?;
                format!("data:image/png;base64,{}", base64_encode(&bytes))
            }
        })
    }

    fn run_rows(&self) -> Vec<(&'static str, String)> {
        let r = &self.results.run;
        vec![
            (
                "git commit",
                r.git_commit.clone().unwrap_or_else(|| "unknown".into()),
            ),
            ("date", r.date.clone()),
            ("backend", r.backend.clone()),
            ("device", r.device.clone()),
            ("precision", r.precision.clone()),
            ("threads", r.threads.to_string()),
            (
                "peak memory",
                r.peak_memory_bytes
                    .map(fmt_bytes)
                    .unwrap_or_else(|| "unknown".into()),
            ),
            ("schema version", self.results.schema_version.to_string()),
        ]
    }

    /// The Markdown report; figures are linked as `plots/<file_name>` (written by [`Report::write`]).
    /// Order: summary tables, figures, ours vs paper, experiments (protocols folded under
    /// `<details>`, histories summarised in one line), run information.
    pub fn markdown(&self) -> String {
        let mut m = String::new();
        let _ = writeln!(m, "# patchlens report\n");
        let exps = &self.results.experiments;
        if !self.summary.is_empty() {
            let _ = writeln!(
                m,
                "## Summary\n\nOne row per model, one column per experiment family (the experiment name without the model); each cell is the kind's headline metric with its 95% confidence interval where one was computed.\n"
            );
            for t in &self.summary {
                let _ = writeln!(m, "### {}: `{}`\n", t.kind.label(), t.rule);
                let _ = write!(m, "| model |");
                for f in &t.families {
                    let _ = write!(m, " {} |", md_cell(f));
                }
                let _ = write!(m, "\n|---|");
                for _ in &t.families {
                    let _ = write!(m, "---:|");
                }
                let _ = writeln!(m);
                for (model, row) in t.models.iter().zip(&t.cells) {
                    let _ = write!(m, "| {} |", md_cell(model));
                    for cell in row {
                        let texts: Vec<String> = cell
                            .iter()
                            .map(|c| {
                                let h = &c.headline;
                                match h.ci {
                                    Some((lo, hi)) => format!(
                                        "{} {}",
                                        fmt_short(h.value),
                                        fmt_ci(lo, hi, fmt_short)
                                    ),
                                    None => fmt_short(h.value),
                                }
                            })
                            .collect();
                        let _ = write!(m, " {} |", texts.join("; "));
                    }
                    let _ = writeln!(m);
                }
                let _ = writeln!(m);
            }
        }
        if !self.figures.is_empty() {
            let _ = writeln!(m, "## Figures");
            for f in &self.figures {
                let _ = writeln!(
                    m,
                    "\n![{}](plots/{})",
                    f.id.replace(['[', ']'], ""),
                    f.file_name
                );
            }
            let _ = writeln!(m);
        }
        if !self.comparisons.is_empty() {
            let _ = writeln!(
                m,
                "## Ours vs paper\n\n| paper experiment | points | mean Δ | mean \\|Δ\\| | max \\|Δ\\| |\n|---|---:|---:|---:|---:|"
            );
            for (id, n, mean, mean_abs, max_abs) in paper_overview(&self.comparisons) {
                let _ = writeln!(
                    m,
                    "| `{}` | {n} | {} | {} | {} |",
                    md_cell(&id),
                    fmt_delta(mean),
                    fmt_value(mean_abs),
                    fmt_value(max_abs)
                );
            }
            let _ = writeln!(
                m,
                "\n| experiment | model | quantity | ours | paper | Δ | recipe / totals |\n|---|---|---|---:|---:|---:|---|"
            );
            for c in &self.comparisons {
                let _ = writeln!(
                    m,
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    md_cell(&c.experiment),
                    md_cell(&c.model),
                    md_cell(&c.quantity),
                    fmt_value(c.ours),
                    fmt_value(c.paper),
                    fmt_delta(c.delta()),
                    md_cell(c.key.note.as_deref().unwrap_or(""))
                );
            }
            let _ = writeln!(m, "\nPaper numbers: {}\n", md_cell(paper().source()));
        }
        if !self.unmatched.is_empty() {
            let _ = writeln!(m, "No paper number for:");
            for (e, k) in &self.unmatched {
                let _ = writeln!(
                    m,
                    "- {e}: `{}` / `{}` / `{}`",
                    k.experiment, k.setting, k.model
                );
            }
            let _ = writeln!(m);
        }
        if !exps.is_empty() {
            let _ = writeln!(m, "## Experiments");
        }
        for e in exps {
            let _ = writeln!(m, "\n### {}\n", e.name);
            let _ = writeln!(
                m,
                "Kind: {}. Model: `{}` (family {}{}).{}\n",
                e.kind.label(),
                e.model.zoo_name,
                e.model.family,
                e.model
                    .weights_sha256
                    .as_deref()
                    .map(|h| format!(", weights sha256 `{h}`"))
                    .unwrap_or_default(),
                headline(e)
                    .map(|h| format!(" Headline: **{}**.", md_cell(&headline_text(&h))))
                    .unwrap_or_default()
            );
            if !e.metrics.is_empty() {
                let _ = writeln!(m, "| metric | value | 95% CI |\n|---|---:|---|");
                for (k, v) in e.metrics_natural_order() {
                    let ci = e
                        .confidence_intervals
                        .get(k)
                        .map(|c| fmt_ci(c.lower, c.upper, fmt_value));
                    let _ = writeln!(
                        m,
                        "| {} | {} | {} |",
                        md_cell(k),
                        fmt_value(v),
                        ci.unwrap_or_default()
                    );
                }
            }
            for img in &e.images {
                let uri = match &img.source {
                    ImageSource::File { path } => path.clone(),
                    ImageSource::PngBase64 { data } => format!("data:image/png;base64,{data}"),
                };
                let _ = writeln!(m, "\n![{}]({})", img.title.replace(['[', ']'], ""), uri);
                if let Some(c) = &img.caption {
                    let _ = writeln!(m, "\n*{c}*");
                }
            }
            let rows = protocol_rows(&e.protocol);
            if !rows.is_empty() {
                let _ = writeln!(
                    m,
                    "\n<details><summary>Protocol ({} entries)</summary>\n\n| parameter | value |\n|---|---|",
                    rows.len()
                );
                for r in rows {
                    let v = match r.value {
                        ProtocolValue::Text(t) => t,
                        ProtocolValue::History(h) => format!("training history: {}", h.describe()),
                    };
                    let _ = writeln!(m, "| {} | {} |", md_cell(&r.key), md_cell(&v));
                }
                let _ = writeln!(m, "\n</details>");
            }
        }
        let r = &self.results.run;
        let _ = writeln!(m, "\n## Run\n\n| | |\n|---|---|");
        for (k, v) in self.run_rows() {
            let _ = writeln!(m, "| {k} | {} |", md_cell(&v));
        }
        if !r.stages.is_empty() {
            let _ = writeln!(m, "\n### Stage timings\n\n| stage | seconds |\n|---|---:|");
            for s in &r.stages {
                let _ = writeln!(m, "| {} | {:.2} |", md_cell(&s.name), s.seconds);
            }
        }
        m
    }

    /// The summary: a row per model, a column per experiment family, columns grouped by kind under a
    /// header naming the kind's headline metric. Columns are packed into tables of at most
    /// [`MAX_SUMMARY_COLUMNS`] families (a kind with more is split, its header repeated), so the
    /// page never needs to scroll sideways to see a kind.
    fn html_summary(&self, h: &mut String) {
        let exps = &self.results.experiments;
        let _ = writeln!(
            h,
            "<h2 id=\"summary\">Summary</h2>\n<p class=\"note\">One row per model, one column per experiment family (the experiment name without the model), grouped by kind; each cell is the kind's headline metric (named in the group header), with its 95% confidence interval below where one was computed. Click a number for its experiment.</p>"
        );
        let mut models: Vec<&String> = Vec::new();
        for t in &self.summary {
            for m in &t.models {
                if !models.contains(&m) {
                    models.push(m);
                }
            }
        }
        // (summary table, families, continued?) chunks, packed into HTML tables.
        let mut chunks = Vec::new();
        for (ti, t) in self.summary.iter().enumerate() {
            for start in (0..t.families.len()).step_by(MAX_SUMMARY_COLUMNS) {
                let end = (start + MAX_SUMMARY_COLUMNS).min(t.families.len());
                chunks.push((ti, start..end, start > 0));
            }
        }
        let mut tables: Vec<Vec<(usize, std::ops::Range<usize>, bool)>> = Vec::new();
        let mut width = 0;
        for c in chunks {
            if tables.is_empty() || width + c.1.len() > MAX_SUMMARY_COLUMNS {
                tables.push(Vec::new());
                width = 0;
            }
            width += c.1.len();
            tables.last_mut().expect("pushed").push(c);
        }
        for groups in tables {
            let _ = writeln!(h, "<div class=\"scroll\">\n<table class=\"summary\">");
            let _ = write!(h, "<tr><th class=\"model\" rowspan=\"2\">model</th>");
            for (ti, fams, cont) in &groups {
                let t = &self.summary[*ti];
                let _ = write!(
                    h,
                    "<th class=\"kind\" colspan=\"{}\">{}{}<br><code>{}</code></th>",
                    fams.len(),
                    escape_html(t.kind.label()),
                    if *cont { " (continued)" } else { "" },
                    escape_html(&t.rule.to_string())
                );
            }
            let _ = write!(h, "</tr>\n<tr>");
            for (ti, fams, _) in &groups {
                let t = &self.summary[*ti];
                for f in fams.clone() {
                    let fam = &t.families[f];
                    let _ = write!(
                        h,
                        "<th class=\"family{}\" title=\"{}\">{}</th>",
                        if f == fams.start { " first" } else { "" },
                        escape_html(fam),
                        breakable(fam)
                    );
                }
            }
            let _ = writeln!(h, "</tr>");
            for model in &models {
                let rows: Vec<Option<usize>> = groups
                    .iter()
                    .map(|(ti, _, _)| self.summary[*ti].models.iter().position(|m| m == *model))
                    .collect();
                let present = groups.iter().zip(&rows).any(|((ti, fams, _), r)| {
                    r.is_some_and(|r| {
                        fams.clone()
                            .any(|f| !self.summary[*ti].cells[r][f].is_empty())
                    })
                });
                if !present {
                    continue;
                }
                let _ = write!(h, "<tr><th class=\"model\">{}</th>", escape_html(model));
                for ((ti, fams, _), row) in groups.iter().zip(&rows) {
                    let t = &self.summary[*ti];
                    for f in fams.clone() {
                        let cell = row.map(|r| t.cells[r][f].as_slice()).unwrap_or_default();
                        let _ = write!(
                            h,
                            "<td class=\"num{}{}\">{}",
                            if f == fams.start { " first" } else { "" },
                            if cell.is_empty() { " empty" } else { "" },
                            if cell.is_empty() { "–" } else { "" }
                        );
                        for (i, c) in cell.iter().enumerate() {
                            let hl = &c.headline;
                            let title =
                                format!("{}: {}", exps[c.experiment].name, headline_text(hl));
                            let _ = write!(
                                h,
                                "{}<a href=\"#{}\" title=\"{}\">{}</a>",
                                if i > 0 { "<span class=\"more\">" } else { "" },
                                self.anchors[c.experiment],
                                escape_html(&title),
                                fmt_short(hl.value)
                            );
                            if let Some((lo, hi)) = hl.ci {
                                let _ = write!(
                                    h,
                                    "<span class=\"ci\">{}</span>",
                                    fmt_ci(lo, hi, fmt_short)
                                );
                            }
                            if i > 0 {
                                let _ = write!(h, "</span>");
                            }
                        }
                        let _ = write!(h, "</td>");
                    }
                }
                let _ = writeln!(h, "</tr>");
            }
            let _ = writeln!(h, "</table>\n</div>");
        }
    }

    /// The self-contained HTML report: inline CSS, inline SVG figures, images as data URIs. Order:
    /// contents, summary tables, figures, ours vs paper, experiments, run information.
    pub fn html(&self) -> Result<String, ReportError> {
        let r = &self.results.run;
        let esc = escape_html;
        let exps = &self.results.experiments;
        let mut h = String::new();
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>patchlens report</title>\n<style>{CSS}</style>\n</head>\n<body>\n<h1>patchlens report</h1>\n"
        );
        let mut toc = Vec::new();
        if !self.summary.is_empty() {
            toc.push(("summary", "Summary".to_string()));
        }
        if !self.figures.is_empty() {
            toc.push(("figures", format!("Figures ({})", self.figures.len())));
        }
        if !self.comparisons.is_empty() {
            toc.push((
                "paper",
                format!("Ours vs paper ({})", self.comparisons.len()),
            ));
        }
        if !exps.is_empty() {
            toc.push(("experiments", format!("Experiments ({})", exps.len())));
        }
        toc.push(("run", "Run".to_string()));
        let _ = write!(h, "<nav class=\"toc\">");
        for (id, label) in &toc {
            let _ = write!(h, "<a href=\"#{id}\">{}</a>", esc(label));
        }
        let _ = writeln!(h, "</nav>");
        if !self.summary.is_empty() {
            self.html_summary(&mut h);
        }
        if !self.figures.is_empty() {
            let _ = writeln!(h, "<h2 id=\"figures\">Figures</h2>");
            let fig_ids: Vec<String> = self
                .figures
                .iter()
                .map(|f| format!("fig-{}", f.file_name.trim_end_matches(".svg")))
                .collect();
            if self.figures.len() > 3 {
                let _ = writeln!(h, "<ol class=\"figindex\">");
                for (f, id) in self.figures.iter().zip(&fig_ids) {
                    let _ = writeln!(h, "<li><a href=\"#{id}\">{}</a></li>", esc(&f.id));
                }
                let _ = writeln!(h, "</ol>");
            }
            for (f, id) in self.figures.iter().zip(&fig_ids) {
                let svg = f.svg.trim_start();
                let svg = svg
                    .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
                    .unwrap_or(svg)
                    .trim_start();
                let _ = writeln!(
                    h,
                    "<figure class=\"plot\" id=\"{id}\">\n{svg}\n<figcaption>{}</figcaption>\n</figure>",
                    esc(&f.id)
                );
            }
        }
        if !self.comparisons.is_empty() {
            let _ = writeln!(
                h,
                "<h2 id=\"paper\">Ours vs paper</h2>\n<table class=\"paper-overview\">\n<tr><th>paper experiment</th><th>points</th><th>mean Δ</th><th>mean |Δ|</th><th>max |Δ|</th></tr>"
            );
            for (id, n, mean, mean_abs, max_abs) in paper_overview(&self.comparisons) {
                let _ = writeln!(
                    h,
                    "<tr><td><code>{}</code></td><td class=\"num\">{n}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                    esc(&id),
                    fmt_delta(mean),
                    fmt_value(mean_abs),
                    fmt_value(max_abs)
                );
            }
            let _ = writeln!(h, "</table>");
            let folded = self.comparisons.len() > MAX_OPEN_COMPARISONS;
            if folded {
                let _ = writeln!(
                    h,
                    "<details class=\"comparison\"><summary>All {} compared numbers</summary>",
                    self.comparisons.len()
                );
            }
            let _ = writeln!(
                h,
                "<table class=\"comparison\">\n<tr><th>experiment</th><th>model</th><th>quantity</th><th>ours</th><th>paper</th><th>Δ</th><th>recipe / totals</th></tr>"
            );
            for c in &self.comparisons {
                let d = c.delta();
                let cls = if d > 0.0 {
                    "num pos"
                } else if d < 0.0 {
                    "num neg"
                } else {
                    "num"
                };
                let _ = writeln!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"{cls}\">{}</td><td class=\"note\">{}</td></tr>",
                    esc(&c.experiment),
                    esc(&c.model),
                    esc(&c.quantity),
                    fmt_value(c.ours),
                    fmt_value(c.paper),
                    fmt_delta(d),
                    esc(c.key.note.as_deref().unwrap_or(""))
                );
            }
            let _ = writeln!(h, "</table>");
            if folded {
                let _ = writeln!(h, "</details>");
            }
            let _ = writeln!(
                h,
                "<p class=\"note\">Δ = ours − paper. Paper numbers: {}</p>",
                esc(paper().source())
            );
        }
        if !self.unmatched.is_empty() {
            let _ = writeln!(
                h,
                "<details class=\"unmatched note\"><summary>No paper number for {} key{}</summary>\n<ul>",
                self.unmatched.len(),
                if self.unmatched.len() == 1 { "" } else { "s" }
            );
            for (e, k) in &self.unmatched {
                let _ = writeln!(
                    h,
                    "<li>{}: <code>{}</code> / <code>{}</code> / <code>{}</code></li>",
                    esc(e),
                    esc(&k.experiment),
                    esc(&k.setting),
                    esc(&k.model)
                );
            }
            let _ = writeln!(h, "</ul>\n</details>");
        }
        if !exps.is_empty() {
            let _ = writeln!(h, "<h2 id=\"experiments\">Experiments</h2>");
        }
        for (e, anchor) in exps.iter().zip(&self.anchors) {
            let _ = writeln!(
                h,
                "<section class=\"experiment\" id=\"{anchor}\">\n<h3>{}</h3>",
                esc(&e.name)
            );
            let _ = writeln!(
                h,
                "<p class=\"meta\">Kind: {}. Model: <code>{}</code> (family {}{}).{}</p>",
                e.kind.label(),
                esc(&e.model.zoo_name),
                esc(&e.model.family),
                e.model
                    .weights_sha256
                    .as_deref()
                    .map(|s| format!(", weights sha256 <code>{}</code>", esc(s)))
                    .unwrap_or_default(),
                headline(e)
                    .map(|hl| format!(" Headline: <strong>{}</strong>.", esc(&headline_text(&hl))))
                    .unwrap_or_default()
            );
            if !e.metrics.is_empty() {
                let folded = e.metrics.len() > MAX_OPEN_METRICS;
                if folded {
                    let _ = writeln!(
                        h,
                        "<details class=\"metrics\"><summary>All {} metrics</summary>",
                        e.metrics.len()
                    );
                }
                let _ = writeln!(
                    h,
                    "<table class=\"metrics\">\n<tr><th>metric</th><th>value</th><th>95% CI</th></tr>"
                );
                for (k, v) in e.metrics_natural_order() {
                    let ci = e
                        .confidence_intervals
                        .get(k)
                        .map(|c| fmt_ci(c.lower, c.upper, fmt_value))
                        .unwrap_or_default();
                    let _ = writeln!(
                        h,
                        "<tr><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                        esc(k),
                        fmt_value(v),
                        esc(&ci)
                    );
                }
                let _ = writeln!(h, "</table>");
                if folded {
                    let _ = writeln!(h, "</details>");
                }
            }
            for img in &e.images {
                let _ = writeln!(
                    h,
                    "<figure class=\"sample\"><img class=\"sample\" alt=\"{}\" src=\"{}\"><figcaption>{}{}</figcaption></figure>",
                    esc(&img.title),
                    self.image_uri(&img.source)?,
                    esc(&img.title),
                    img.caption
                        .as_deref()
                        .map(|c| format!(": {}", esc(c)))
                        .unwrap_or_default()
                );
            }
            let rows = protocol_rows(&e.protocol);
            if !rows.is_empty() {
                let _ = writeln!(
                    h,
                    "<details class=\"protocol\"><summary>Protocol ({} entries)</summary>\n<table class=\"protocol\">",
                    rows.len()
                );
                for r in rows {
                    let v = match &r.value {
                        ProtocolValue::Text(t) => esc(t),
                        ProtocolValue::History(hist) => format!(
                            "{}<span class=\"note\">{}</span>",
                            history_svg(hist),
                            esc(&hist.describe())
                        ),
                    };
                    let _ = writeln!(h, "<tr><td>{}</td><td>{v}</td></tr>", esc(&r.key));
                }
                let _ = writeln!(h, "</table>\n</details>");
            }
            let _ = writeln!(h, "</section>");
        }
        let _ = writeln!(h, "<h2 id=\"run\">Run</h2>\n<table class=\"run\">");
        for (k, v) in self.run_rows() {
            let _ = writeln!(h, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v));
        }
        let _ = writeln!(h, "</table>");
        if !r.stages.is_empty() {
            let _ = writeln!(
                h,
                "<h3>Stage timings</h3>\n<table class=\"stages\">\n<tr><th>stage</th><th>seconds</th></tr>"
            );
            for s in &r.stages {
                let _ = writeln!(
                    h,
                    "<tr><td>{}</td><td class=\"num\">{:.2}</td></tr>",
                    esc(&s.name),
                    s.seconds
                );
            }
            let _ = writeln!(h, "</table>");
        }
        let _ = writeln!(h, "</body>\n</html>");
        Ok(h)
    }

    /// Writes `results.json`, `results.csv`, `report.md`, `report.html` and `plots/*.svg` into
    /// `dir` (each file atomically).
    pub fn write(&self, dir: impl AsRef<Path>) -> Result<ReportFiles, ReportError> {
        let dir = dir.as_ref();
        let plots_dir = dir.join("plots");
        std::fs::create_dir_all(&plots_dir).map_err(io_err(&plots_dir))?;
        let results_json = dir.join("results.json");
        self.results.save(&results_json)?;
        let results_csv = dir.join("results.csv");
        self.results.save_csv(&results_csv)?;
        let mut plots = Vec::new();
        for f in &self.figures {
            let p = plots_dir.join(&f.file_name);
            write_atomic(&p, f.svg.as_bytes())?;
            plots.push(p);
        }
        let markdown = dir.join("report.md");
        write_atomic(&markdown, self.markdown().as_bytes())?;
        let html = dir.join("report.html");
        write_atomic(&html, self.html()?.as_bytes())?;
        Ok(ReportFiles {
            results_json,
            results_csv,
            markdown,
            html,
            plots,
        })
    }
}

/// Builds the report of `results` and writes it into `dir` (see [`Report::write`]); relative
/// image paths are resolved against `dir`.
pub fn write_report(dir: impl AsRef<Path>, results: &Results) -> Result<ReportFiles, ReportError> {
    let dir = dir.as_ref();
    Report::build(results, dir)?.write(dir)
}
