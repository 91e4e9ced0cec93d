//! Markdown and self-contained HTML reports.
//!
//! Rendering is generic: every experiment gets a metrics table (with confidence intervals), every
//! group of curves sharing a [`Curve::figure`] id becomes one plot whose kind comes from the
//! curve's [`Curve::plot`] or its experiment's [`ExperimentKind::default_plot`], and every metric or
//! curve point linked to a [`PaperKey`] that the paper has appears in an "ours | paper | Δ" table.

use crate::error::{ReportError, io_err};
use crate::files::write_atomic;
use crate::format::{escape_html, fmt_bytes, fmt_delta, fmt_value, md_cell, slug};
use crate::images::base64_encode;
use crate::paper::{PaperNumbers, paper, setting_number};
use crate::plot::{Figure, Series, render_svg};
use crate::schema::{Curve, Experiment, ImageSource, PaperKey, Results};
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
}

/// Files written by [`Report::write`].
#[derive(Debug, Clone)]
pub struct ReportFiles {
    /// `results.json`.
    pub results_json: PathBuf,
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

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\
h1,h2,h3{font-weight:600}table{border-collapse:collapse;margin:0.8em 0}th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}\
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}td.pos{color:#1a7f37}td.neg{color:#b3261e}\
figure{margin:1em 0}figcaption{font-size:0.9em;color:#555}code{background:#f6f6f6;padding:1px 3px}\
img.sample{max-width:100%;image-rendering:pixelated;border:1px solid #ddd}.note{color:#555;font-size:0.9em}";

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
        Ok(Report {
            results,
            base_dir: base_dir.into(),
            figures,
            comparisons,
            unmatched,
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

    /// The Markdown report; figures are linked as `plots/<file_name>` (written by [`Report::write`]).
    pub fn markdown(&self) -> String {
        let r = &self.results.run;
        let mut m = String::new();
        let _ = writeln!(m, "# patchlens report\n");
        let _ = writeln!(m, "## Run\n\n| | |\n|---|---|");
        let _ = writeln!(
            m,
            "| git commit | {} |",
            md_cell(r.git_commit.as_deref().unwrap_or("unknown"))
        );
        let _ = writeln!(m, "| date | {} |", md_cell(&r.date));
        let _ = writeln!(m, "| backend | {} |", md_cell(&r.backend));
        let _ = writeln!(m, "| device | {} |", md_cell(&r.device));
        let _ = writeln!(m, "| threads | {} |", r.threads);
        let _ = writeln!(
            m,
            "| peak memory | {} |",
            r.peak_memory_bytes
                .map(fmt_bytes)
                .unwrap_or_else(|| "unknown".into())
        );
        let _ = writeln!(m, "| schema version | {} |", self.results.schema_version);
        if !r.stages.is_empty() {
            let _ = writeln!(m, "\n### Stage timings\n\n| stage | seconds |\n|---|---:|");
            for s in &r.stages {
                let _ = writeln!(m, "| {} | {:.2} |", md_cell(&s.name), s.seconds);
            }
        }
        if !self.comparisons.is_empty() {
            let _ = writeln!(
                m,
                "\n## Ours vs paper\n\n| experiment | model | quantity | ours | paper | Δ |\n|---|---|---|---:|---:|---:|"
            );
            for c in &self.comparisons {
                let _ = writeln!(
                    m,
                    "| {} | {} | {} | {} | {} | {} |",
                    md_cell(&c.experiment),
                    md_cell(&c.model),
                    md_cell(&c.quantity),
                    fmt_value(c.ours),
                    fmt_value(c.paper),
                    fmt_delta(c.delta())
                );
            }
            let _ = writeln!(m, "\nPaper numbers: {}", md_cell(paper().source()));
        }
        if !self.unmatched.is_empty() {
            let _ = writeln!(m, "\nNo paper number for:");
            for (e, k) in &self.unmatched {
                let _ = writeln!(
                    m,
                    "- {e}: `{}` / `{}` / `{}`",
                    k.experiment, k.setting, k.model
                );
            }
        }
        let _ = writeln!(m, "\n## Experiments");
        for e in &self.results.experiments {
            let _ = writeln!(m, "\n### {}\n", e.name);
            let _ = writeln!(
                m,
                "Kind: {}. Model: `{}` (family {}{}).\n",
                e.kind.label(),
                e.model.zoo_name,
                e.model.family,
                e.model
                    .weights_sha256
                    .as_deref()
                    .map(|h| format!(", weights sha256 `{h}`"))
                    .unwrap_or_default()
            );
            if !e.protocol.is_empty() {
                let _ = writeln!(
                    m,
                    "Protocol: `{}`\n",
                    serde_json::Value::Object(e.protocol.clone())
                );
            }
            if !e.metrics.is_empty() {
                let _ = writeln!(m, "| metric | value | 95% CI |\n|---|---:|---|");
                for (k, v) in &e.metrics {
                    let ci = e
                        .confidence_intervals
                        .get(k)
                        .map(|c| format!("[{}, {}]", fmt_value(c.lower), fmt_value(c.upper)));
                    let _ = writeln!(
                        m,
                        "| {} | {} | {} |",
                        md_cell(k),
                        fmt_value(*v),
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
        }
        if !self.figures.is_empty() {
            let _ = writeln!(m, "\n## Figures");
            for f in &self.figures {
                let _ = writeln!(
                    m,
                    "\n![{}](plots/{})",
                    f.id.replace(['[', ']'], ""),
                    f.file_name
                );
            }
        }
        m
    }

    /// The self-contained HTML report: inline CSS, inline SVG figures, images as data URIs.
    pub fn html(&self) -> Result<String, ReportError> {
        let r = &self.results.run;
        let esc = escape_html;
        let mut h = String::new();
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>patchlens report</title>\n<style>{CSS}</style>\n</head>\n<body>\n<h1>patchlens report</h1>\n"
        );
        let _ = writeln!(h, "<h2 id=\"run\">Run</h2>\n<table class=\"run\">");
        let rows = [
            (
                "git commit",
                r.git_commit.clone().unwrap_or_else(|| "unknown".into()),
            ),
            ("date", r.date.clone()),
            ("backend", r.backend.clone()),
            ("device", r.device.clone()),
            ("threads", r.threads.to_string()),
            (
                "peak memory",
                r.peak_memory_bytes
                    .map(fmt_bytes)
                    .unwrap_or_else(|| "unknown".into()),
            ),
            ("schema version", self.results.schema_version.to_string()),
        ];
        for (k, v) in rows {
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
        if !self.comparisons.is_empty() {
            let _ = writeln!(
                h,
                "<h2 id=\"paper\">Ours vs paper</h2>\n<table class=\"comparison\">\n<tr><th>experiment</th><th>model</th><th>quantity</th><th>ours</th><th>paper</th><th>Δ</th></tr>"
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
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"{cls}\">{}</td></tr>",
                    esc(&c.experiment),
                    esc(&c.model),
                    esc(&c.quantity),
                    fmt_value(c.ours),
                    fmt_value(c.paper),
                    fmt_delta(d)
                );
            }
            let _ = writeln!(
                h,
                "</table>\n<p class=\"note\">Paper numbers: {}</p>",
                esc(paper().source())
            );
        }
        if !self.unmatched.is_empty() {
            let _ = writeln!(
                h,
                "<p class=\"note\">No paper number for:</p>\n<ul class=\"note\">"
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
            let _ = writeln!(h, "</ul>");
        }
        let _ = writeln!(h, "<h2 id=\"experiments\">Experiments</h2>");
        for e in &self.results.experiments {
            let _ = writeln!(
                h,
                "<section class=\"experiment\">\n<h3>{}</h3>",
                esc(&e.name)
            );
            let _ = writeln!(
                h,
                "<p>Kind: {}. Model: <code>{}</code> (family {}{}).</p>",
                e.kind.label(),
                esc(&e.model.zoo_name),
                esc(&e.model.family),
                e.model
                    .weights_sha256
                    .as_deref()
                    .map(|s| format!(", weights sha256 <code>{}</code>", esc(s)))
                    .unwrap_or_default()
            );
            if !e.protocol.is_empty() {
                let _ = writeln!(
                    h,
                    "<p>Protocol: <code>{}</code></p>",
                    esc(&serde_json::Value::Object(e.protocol.clone()).to_string())
                );
            }
            if !e.metrics.is_empty() {
                let _ = writeln!(
                    h,
                    "<table class=\"metrics\">\n<tr><th>metric</th><th>value</th><th>95% CI</th></tr>"
                );
                for (k, v) in &e.metrics {
                    let ci = e
                        .confidence_intervals
                        .get(k)
                        .map(|c| format!("[{}, {}]", fmt_value(c.lower), fmt_value(c.upper)))
                        .unwrap_or_default();
                    let _ = writeln!(
                        h,
                        "<tr><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                        esc(k),
                        fmt_value(*v),
                        esc(&ci)
                    );
                }
                let _ = writeln!(h, "</table>");
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
            let _ = writeln!(h, "</section>");
        }
        if !self.figures.is_empty() {
            let _ = writeln!(h, "<h2 id=\"figures\">Figures</h2>");
            for f in &self.figures {
                let svg = f.svg.trim_start();
                let svg = svg
                    .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
                    .unwrap_or(svg)
                    .trim_start();
                let _ = writeln!(
                    h,
                    "<figure class=\"plot\">\n{svg}\n<figcaption>{}</figcaption>\n</figure>",
                    esc(&f.id)
                );
            }
        }
        let _ = writeln!(h, "</body>\n</html>");
        Ok(h)
    }

    /// Writes `results.json`, `report.md`, `report.html` and `plots/*.svg` into `dir`.
    pub fn write(&self, dir: impl AsRef<Path>) -> Result<ReportFiles, ReportError> {
        let dir = dir.as_ref();
        let plots_dir = dir.join("plots");
        std::fs::create_dir_all(&plots_dir).map_err(io_err(&plots_dir))?;
        let results_json = dir.join("results.json");
        self.results.save(&results_json)?;
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
