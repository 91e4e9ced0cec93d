//! Text formatting shared by the renderers and the CSV writer (a leaf module).

/// Formats a value: integers without decimals, otherwise 4 decimals.
pub fn fmt_value(v: f64) -> String {
    if !v.is_finite() {
        format!("{v}")
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.4}")
    }
}

/// Formats a difference with an explicit sign.
pub fn fmt_delta(d: f64) -> String {
    if d.is_finite() && d.fract() == 0.0 && d.abs() < 1e15 {
        format!("{:+}", d as i64)
    } else {
        format!("{d:+.4}")
    }
}

/// Bytes as MiB with one decimal.
pub(crate) fn fmt_bytes(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
}

/// HTML-escapes text (also safe inside attribute values).
pub fn escape_html(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Escapes a Markdown table cell.
pub(crate) fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// A file-name-safe slug of `s` (lowercase ASCII alphanumerics and single `-`; `fallback` when
/// nothing is left).
pub(crate) fn slug(s: &str, fallback: &str) -> String {
    let mut out = String::new();
    for ch in s.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').to_owned();
    if out.is_empty() { fallback.into() } else { out }
}

/// "Natural" order of names: runs of ASCII digits compare as numbers (`layer2` < `layer10`),
/// everything else byte by byte; ties broken by plain string order.
pub(crate) fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (x, y) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < x.len() && j < y.len() {
        if x[i].is_ascii_digit() && y[j].is_ascii_digit() {
            let (si, sj) = (i, j);
            while i < x.len() && x[i].is_ascii_digit() {
                i += 1;
            }
            while j < y.len() && y[j].is_ascii_digit() {
                j += 1;
            }
            let (da, db) = (&a[si..i], &b[sj..j]);
            let (ta, tb) = (da.trim_start_matches('0'), db.trim_start_matches('0'));
            let o = ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb));
            if o != Ordering::Equal {
                return o;
            }
        } else {
            let o = x[i].cmp(&y[j]);
            if o != Ordering::Equal {
                return o;
            }
            i += 1;
            j += 1;
        }
    }
    (x.len() - i).cmp(&(y.len() - j)).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut v = vec![
            "all/layer10",
            "all/layer2",
            "all/layer1",
            "b",
            "a10b",
            "a9c",
            "a09b",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            [
                "a09b",
                "a9c",
                "a10b",
                "all/layer1",
                "all/layer2",
                "all/layer10",
                "b"
            ]
        );
        assert_eq!(
            slug("Cityscapes k-NN / layer 12", "x"),
            "cityscapes-k-nn-layer-12"
        );
        assert_eq!(slug("///", "fallback"), "fallback");
    }
}
