//! SVG figures drawn with `plotters` (SVG backend, no font library: text is emitted as SVG
//! `<text>` elements and laid out with plotters' built-in size estimate).

use crate::error::ReportError;
use crate::paper::setting_number;
use crate::protocol::TrainingHistory;
use crate::schema::PlotKind;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::element::DashedPathElement;
use plotters::prelude::*;

/// Figure size in pixels (width, height).
pub const FIGURE_SIZE: (u32, u32) = (860, 430);

/// Width in pixels reserved right of the plot for the legend.
pub const LEGEND_WIDTH: u32 = 200;
/// Line series with more points than this are drawn without point markers.
pub const MAX_MARKERS: usize = 60;

/// Series colours (the "tab10" palette).
pub const PALETTE: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// One series of a [`Figure`].
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// `(x, y)` points `[n]`.
    pub points: Vec<(f64, f64)>,
    /// Optional `(lower, upper)` error bar per point `[n]`.
    pub error_bars: Option<Vec<(f64, f64)>>,
    /// Optional per-point annotations `[n]`.
    pub point_labels: Option<Vec<String>>,
    /// Drawn dashed (used for the paper's series).
    pub dashed: bool,
    /// Index into [`PALETTE`] (modulo its length).
    pub color: usize,
}

/// A figure: several series on common axes.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Figure id and title.
    pub title: String,
    /// How it is drawn.
    pub kind: PlotKind,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// The series.
    pub series: Vec<Series>,
}

fn color(i: usize) -> RGBColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

fn finite(p: &(f64, f64)) -> bool {
    p.0.is_finite() && p.1.is_finite()
}

/// Renders `fig` as a standalone SVG document.
pub fn render_svg(fig: &Figure) -> Result<String, ReportError> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, FIGURE_SIZE).into_drawing_area();
        draw_figure(&root, fig).map_err(|reason| ReportError::Plot {
            figure: fig.title.clone(),
            reason,
        })?;
        root.present().map_err(|e| ReportError::Plot {
            figure: fig.title.clone(),
            reason: e.to_string(),
        })?;
    }
    Ok(buf)
}

/// Range of the values with a 5 % pad; a degenerate range is widened.
fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        let d = if lo.abs() > 1e-12 {
            lo.abs() * 0.1
        } else {
            1.0
        };
        return (lo - d, hi + d);
    }
    let pad = (hi - lo) * 0.05;
    (lo - pad, hi + pad)
}

fn draw_figure(root: &DrawingArea<SVGBackend, Shift>, fig: &Figure) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let log_y = fig.kind == PlotKind::LogY;
    let keep = |p: &(f64, f64)| finite(p) && (!log_y || p.1 > 0.0);
    let pts: Vec<(f64, f64)> = fig
        .series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(keep)
        .collect();
    let bars: Vec<(f64, f64)> = fig
        .series
        .iter()
        .flat_map(|s| s.error_bars.iter().flatten().copied())
        .filter(|b| b.0.is_finite() && b.1.is_finite() && (!log_y || b.0 > 0.0))
        .collect();
    if pts.is_empty() {
        root.draw(&Text::new(
            format!("{}: no finite data", fig.title),
            (20, 30),
            ("sans-serif", 16),
        ))
        .map_err(|e| e.to_string())?;
        return Ok(());
    }
    let (mut ylo, mut yhi) = (f64::INFINITY, f64::NEG_INFINITY);
    for &(_, y) in &pts {
        ylo = ylo.min(y);
        yhi = yhi.max(y);
    }
    for &(l, u) in &bars {
        ylo = ylo.min(l);
        yhi = yhi.max(u);
    }
    if fig.kind == PlotKind::Bars {
        ylo = ylo.min(0.0);
    }

    if fig.kind == PlotKind::Bars {
        let mut cats: Vec<f64> = pts.iter().map(|p| p.0).collect();
        cats.sort_by(f64::total_cmp);
        cats.dedup();
        let names: Vec<String> = cats
            .iter()
            .map(|&x| {
                fig.series
                    .iter()
                    .find_map(|s| {
                        let i = s.points.iter().position(|p| p.0 == x)?;
                        s.point_labels.as_ref().map(|l| l[i].clone())
                    })
                    .unwrap_or_else(|| setting_number(x))
            })
            .collect();
        let (lo, hi) = padded(ylo, yhi);
        let xr = -0.5..(cats.len() as f64 - 0.5);
        return draw_chart(
            root,
            fig,
            xr,
            lo.max(if ylo >= 0.0 { 0.0 } else { lo })..hi,
            Some((&cats, &names)),
        );
    }

    let (mut xlo, mut xhi) = (f64::INFINITY, f64::NEG_INFINITY);
    for &(x, _) in &pts {
        xlo = xlo.min(x);
        xhi = xhi.max(x);
    }
    let (xlo, xhi) = padded(xlo, xhi);
    if log_y {
        let (lo, hi) = (ylo / 1.3, yhi * 1.3);
        draw_chart(root, fig, xlo..xhi, (lo..hi).log_scale(), None)
    } else {
        let (lo, hi) = padded(ylo, yhi);
        draw_chart(root, fig, xlo..xhi, lo..hi, None)
    }
}

fn draw_chart<YR>(
    root: &DrawingArea<SVGBackend, Shift>,
    fig: &Figure,
    xr: std::ops::Range<f64>,
    yr: YR,
    categories: Option<(&[f64], &[String])>,
) -> Result<(), String>
where
    YR: AsRangedCoord<Value = f64>,
    YR::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
    <YR::CoordDescType as Ranged>::FormatOption:
        plotters::coord::ranged1d::DefaultValueFormatOption,
{
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let mut chart = ChartBuilder::on(root)
        .caption(&fig.title, ("sans-serif", 18))
        .margin(12)
        .margin_right(LEGEND_WIDTH)
        .x_label_area_size(42)
        .y_label_area_size(64)
        .build_cartesian_2d(xr, yr)
        .map_err(|x| e(&x))?;
    let cat_name = |v: &f64| -> String {
        match categories {
            Some((_, names)) => {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < names.len() {
                    names[i as usize].clone()
                } else {
                    String::new()
                }
            }
            None => format_tick(*v),
        }
    };
    let mut mesh = chart.configure_mesh();
    let y_fmt = |v: &f64| format_tick(*v);
    mesh.x_desc(fig.x_label.as_str())
        .y_desc(fig.y_label.as_str())
        .x_label_formatter(&cat_name)
        .y_label_formatter(&y_fmt);
    if let Some((cats, _)) = categories {
        mesh.x_labels(cats.len() + 1).disable_x_mesh();
    }
    mesh.draw().map_err(|x| e(&x))?;

    let n_series = fig.series.len().max(1);
    for (si, s) in fig.series.iter().enumerate() {
        let col = color(s.color);
        let style = ShapeStyle {
            color: col.to_rgba(),
            filled: false,
            stroke_width: 2,
        };
        let pts: Vec<(f64, f64)> = s.points.iter().copied().filter(finite).collect();
        match (fig.kind, categories) {
            (PlotKind::Bars, Some((cats, _))) => {
                let w = 0.8 / n_series as f64;
                let rects: Vec<_> = pts
                    .iter()
                    .filter_map(|&(x, y)| {
                        let c = cats.iter().position(|&v| v == x)? as f64;
                        let x0 = c - 0.4 + si as f64 * w;
                        let fill = if s.dashed {
                            col.mix(0.35).filled()
                        } else {
                            col.filled()
                        };
                        Some(Rectangle::new([(x0, 0.0), (x0 + w * 0.92, y)], fill))
                    })
                    .collect();
                chart.draw_series(rects).map_err(|x| e(&x))?;
            }
            (PlotKind::Scatter, _) => {
                let marker = if s.dashed {
                    col.stroke_width(2)
                } else {
                    col.filled()
                };
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 4, marker)))
                    .map_err(|x| e(&x))?;
            }
            _ => {
                if s.dashed {
                    chart
                        .draw_series(DashedLineSeries::new(pts.clone(), 6, 4, style))
                        .map_err(|x| e(&x))?
                } else {
                    chart
                        .draw_series(LineSeries::new(pts.clone(), style))
                        .map_err(|x| e(&x))?
                };
                if pts.len() <= MAX_MARKERS {
                    let marker = if s.dashed {
                        col.stroke_width(1)
                    } else {
                        col.filled()
                    };
                    chart
                        .draw_series(pts.iter().map(|&p| Circle::new(p, 3, marker)))
                        .map_err(|x| e(&x))?;
                }
            }
        }
        if let Some(eb) = &s.error_bars {
            let segs: Vec<_> = s
                .points
                .iter()
                .zip(eb)
                .filter(|(p, b)| finite(p) && b.0.is_finite() && b.1.is_finite())
                .map(|(p, b)| PathElement::new(vec![(p.0, b.0), (p.0, b.1)], col.stroke_width(1)))
                .collect();
            chart.draw_series(segs).map_err(|x| e(&x))?;
        }
        if let Some(labels) = &s.point_labels
            && fig.kind != PlotKind::Bars
        {
            let texts: Vec<_> = s
                .points
                .iter()
                .zip(labels)
                .filter(|(p, _)| finite(p))
                .map(|(&p, l)| {
                    EmptyElement::at(p)
                        + Text::new(
                            l.clone(),
                            (5, -12),
                            ("sans-serif", 11).into_font().color(&col),
                        )
                })
                .collect();
            chart.draw_series(texts).map_err(|x| e(&x))?;
        }
    }
    draw_legend(root, fig)?;
    Ok(())
}

/// Draws the legend in the strip of width [`LEGEND_WIDTH`] right of the plot.
fn draw_legend(root: &DrawingArea<SVGBackend, Shift>, fig: &Figure) -> Result<(), String> {
    let e = |x: DrawingAreaErrorKind<std::io::Error>| x.to_string();
    let x0 = FIGURE_SIZE.0 as i32 - LEGEND_WIDTH as i32 + 8;
    for (i, s) in fig.series.iter().enumerate() {
        let y = 48 + 18 * i as i32;
        let col = color(s.color);
        let style = ShapeStyle {
            color: col.to_rgba(),
            filled: false,
            stroke_width: 2,
        };
        match (fig.kind, s.dashed) {
            (PlotKind::Bars, dashed) => {
                let fill = if dashed {
                    col.mix(0.35).filled()
                } else {
                    col.filled()
                };
                root.draw(&Rectangle::new([(x0, y - 5), (x0 + 18, y + 5)], fill))
                    .map_err(e)?;
            }
            (PlotKind::Scatter, dashed) => {
                let marker = if dashed {
                    col.stroke_width(2)
                } else {
                    col.filled()
                };
                root.draw(&Circle::new((x0 + 9, y), 4, marker)).map_err(e)?;
            }
            (_, true) => root
                .draw(&DashedPathElement::new(
                    vec![(x0, y), (x0 + 22, y)],
                    5,
                    3,
                    style,
                ))
                .map_err(e)?,
            (_, false) => root
                .draw(&PathElement::new(vec![(x0, y), (x0 + 22, y)], style))
                .map_err(e)?,
        }
        let label: String = if s.label.chars().count() > 26 {
            s.label
                .chars()
                .take(25)
                .chain(std::iter::once('…'))
                .collect()
        } else {
            s.label.clone()
        };
        root.draw(&Text::new(label, (x0 + 28, y - 6), ("sans-serif", 12)))
            .map_err(e)?;
    }
    Ok(())
}

/// Size in pixels (width, height) of a training-history plot ([`history_svg`]).
pub const HISTORY_SIZE: (u32, u32) = (440, 180);

/// Draws a training history as a small standalone SVG: one line per loss series against the epoch
/// (colours as [`PALETTE`]), a dashed vertical line at the selected epoch, min / max ticks and a
/// legend. Non-finite points are skipped.
pub fn history_svg(h: &TrainingHistory) -> String {
    use std::fmt::Write as _;
    let (w, ht) = (HISTORY_SIZE.0 as f64, HISTORY_SIZE.1 as f64);
    let (left, right, top, bottom) = (54.0, w - 130.0, 10.0, ht - 34.0);
    let pts = || {
        h.series
            .iter()
            .flat_map(|s| s.1.iter())
            .filter(|p| finite(p))
    };
    let (mut xlo, mut xhi, mut ylo, mut yhi) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for &(x, y) in pts() {
        xlo = xlo.min(x);
        xhi = xhi.max(x);
        ylo = ylo.min(y);
        yhi = yhi.max(y);
    }
    let esc = crate::format::escape_html;
    let mut o = String::new();
    let _ = write!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"history\" width=\"{w}\" height=\"{ht}\" viewBox=\"0 0 {w} {ht}\" font-family=\"sans-serif\" font-size=\"11\">\n<title>{}</title>\n<rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{ht}\" fill=\"#ffffff\"/>\n",
        esc(&h.describe())
    );
    if !xlo.is_finite() {
        let _ = write!(
            o,
            "<text x=\"10\" y=\"20\">no finite loss values</text>\n</svg>\n"
        );
        return o;
    }
    if xhi - xlo < 1e-12 {
        xlo -= 1.0;
        xhi += 1.0;
    }
    let (ylo, yhi) = padded(ylo, yhi);
    let px = |x: f64| left + (x - xlo) / (xhi - xlo) * (right - left);
    let py = |y: f64| bottom - (y - ylo) / (yhi - ylo) * (bottom - top);
    let _ = writeln!(
        o,
        "<rect x=\"{left}\" y=\"{top}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#bbbbbb\"/>",
        right - left,
        bottom - top
    );
    for (i, y) in [ylo, (ylo + yhi) / 2.0, yhi].into_iter().enumerate() {
        let yy = py(y);
        if i == 1 {
            let _ = writeln!(
                o,
                "<line x1=\"{left}\" y1=\"{yy:.1}\" x2=\"{right}\" y2=\"{yy:.1}\" stroke=\"#eeeeee\"/>"
            );
        }
        let _ = writeln!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left - 4.0,
            yy + 4.0,
            esc(&format_tick(y))
        );
    }
    for x in [xlo, xhi] {
        let _ = writeln!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            px(x),
            bottom + 14.0,
            esc(&format_tick(x))
        );
    }
    let _ = writeln!(
        o,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#555555\">epoch</text>",
        (left + right) / 2.0,
        ht - 4.0
    );
    let _ = writeln!(
        o,
        "<text x=\"12\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#555555\" transform=\"rotate(-90 12 {:.1})\">loss</text>",
        (top + bottom) / 2.0,
        (top + bottom) / 2.0
    );
    if let Some(b) = h.best_epoch.filter(|b| (xlo..=xhi).contains(b)) {
        let bx = px(b);
        let _ = writeln!(
            o,
            "<line x1=\"{bx:.1}\" y1=\"{top}\" x2=\"{bx:.1}\" y2=\"{bottom}\" stroke=\"#666666\" stroke-dasharray=\"4 3\"/>\n<text x=\"{bx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#444444\">best {}</text>",
            bottom + 14.0,
            esc(&format_tick(b))
        );
    }
    for (i, (name, series)) in h.series.iter().enumerate() {
        let (r, g, b) = PALETTE[i % PALETTE.len()];
        let col = format!("#{r:02x}{g:02x}{b:02x}");
        let points: Vec<String> = series
            .iter()
            .filter(|p| finite(p))
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        let _ = writeln!(
            o,
            "<polyline fill=\"none\" stroke=\"{col}\" stroke-width=\"1.8\" points=\"{}\"/>",
            points.join(" ")
        );
        if points.len() <= 40 {
            for p in &points {
                let (x, y) = p.split_once(',').expect("x,y");
                let _ = writeln!(o, "<circle cx=\"{x}\" cy=\"{y}\" r=\"2\" fill=\"{col}\"/>");
            }
        }
        let ly = top + 10.0 + 16.0 * i as f64;
        let _ = writeln!(
            o,
            "<line x1=\"{:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{col}\" stroke-width=\"2\"/>\n<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            right + 8.0,
            right + 24.0,
            right + 28.0,
            ly + 4.0,
            esc(name)
        );
    }
    o.push_str("</svg>\n");
    o
}

/// Tick label: up to 4 significant digits, no trailing zeros.
fn format_tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    let s = if (1e-3..1e5).contains(&a) {
        let decimals = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
        let s = format!("{v:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        }
    } else {
        format!("{v:.2e}")
    };
    if s == "-0" { "0".into() } else { s }
}

#[cfg(test)]
mod tests {
    use super::format_tick;

    #[test]
    fn tick_formatting() {
        assert_eq!(format_tick(0.25), "0.25");
        assert_eq!(format_tick(12.0), "12");
        assert_eq!(format_tick(0.3333333), "0.3333");
        assert_eq!(format_tick(1e-6), "1.00e-6");
        assert_eq!(format_tick(-0.0000001), "-1.00e-7");
    }
}
