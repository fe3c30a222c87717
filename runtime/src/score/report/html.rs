//! The report as one self-contained HTML page: inline CSS and SVG, no script, no network fetch.

use std::fmt::Write as _;

use super::text::human_ns;
use super::{FunctionReport, Report, TraceReport};
use crate::score::Row;

/// Escapes text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn color(score: f64) -> &'static str {
    if score >= 80.0 {
        "#2e9d57"
    } else if score >= 50.0 {
        "#d99a1e"
    } else {
        "#d1453b"
    }
}

fn sub(s: Option<f64>) -> String {
    s.map_or_else(|| "<span class=\"nm\" title=\"not measured\">–</span>".to_owned(), |v| format!("{v:.2}"))
}

const CSS: &str = r#"
:root{--fg:#1d2330;--mut:#6b7385;--line:#e3e6ec;--bg:#fff;--card:#f7f8fa}
*{box-sizing:border-box}
body{margin:0;padding:24px 32px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}h3{font-size:14px;margin:0 0 6px}
.meta{color:var(--mut);margin-bottom:16px}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
th{font-weight:600;color:var(--mut);font-size:12px;text-transform:uppercase;letter-spacing:.03em}
td.name,th.name{text-align:left}
tr.branch td{color:#39404f;font-size:13px}
tr.branch td.name{padding-left:28px}
tr.branch td.name:before{content:"└ ";color:var(--mut)}
td.bar{width:190px}
.bar svg{display:block}
.nm{color:var(--mut)}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:14px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px}
.card .sub{color:var(--mut);font-size:12px;margin-bottom:6px}
.legend{color:var(--mut);font-size:12px}
.legend i{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px;vertical-align:-1px}
svg text{font:11px system-ui,"DejaVu Sans",sans-serif;fill:#39404f}
"#;

fn bar(score: f64) -> String {
    let w = (score.clamp(0.0, 100.0) * 1.3).round();
    format!(
        "<svg width=\"170\" height=\"14\" role=\"img\" aria-label=\"score {score:.1}\"><rect width=\"130\" height=\"14\" rx=\"3\" fill=\"#eceef2\"/><rect width=\"{w}\" height=\"14\" rx=\"3\" fill=\"{}\"/><text x=\"136\" y=\"11\">{score:.1}</text></svg>",
        color(score)
    )
}

fn row(out: &mut String, r: &Row, branch: bool) {
    let class = if branch { "branch" } else { "fn" };
    let label = if branch { r.branch.as_deref().unwrap_or("") } else { &r.name };
    let _ = writeln!(
        out,
        "<tr class=\"{class}\" data-name=\"{}\" data-score=\"{:.1}\"><td class=\"name\">{}</td><td class=\"bar\">{}</td><td>{}</td><td>{:.1}%</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{}</td><td>{:.2}</td><td>{}</td><td>{}</td></tr>",
        esc(&r.name),
        r.score,
        esc(label),
        bar(r.score),
        r.calls,
        r.error_rate * 100.0,
        human_ns(r.p50_ns as f64),
        human_ns(r.p95_ns as f64),
        human_ns(r.p99_ns as f64),
        r.cv,
        r.scores.ts,
        sub(r.scores.ms),
        r.scores.ev,
        sub(r.scores.be),
        sub(r.scores.cc),
    );
}

fn histogram(out: &mut String, f: &FunctionReport) {
    let (w, h, pad) = (320.0, 110.0, 18.0);
    let max = f.histogram.iter().map(|b| b.count).max().unwrap_or(0).max(1) as f64;
    let n = f.histogram.len().max(1) as f64;
    let bw = w / n;
    let _ = write!(
        out,
        "<svg class=\"hist\" width=\"{w}\" height=\"{}\" role=\"img\" aria-label=\"latency histogram of {}\">",
        h + pad,
        esc(&f.row.name)
    );
    for (i, b) in f.histogram.iter().enumerate() {
        let bh = (b.count as f64 / max * (h - 4.0)).max(if b.count > 0 { 1.0 } else { 0.0 });
        let _ = write!(
            out,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"#5b7fd6\"><title>{}–{}: {}</title></rect>",
            i as f64 * bw + 0.5,
            h - bh,
            (bw - 1.0).max(0.5),
            human_ns(b.low_ns as f64),
            human_ns(b.high_ns as f64),
            b.count
        );
    }
    let _ = write!(
        out,
        "<line x1=\"0\" y1=\"{h}\" x2=\"{w}\" y2=\"{h}\" stroke=\"#9aa1b0\"/><text x=\"0\" y=\"{}\">{}</text><text x=\"{w}\" y=\"{}\" text-anchor=\"end\">{}</text></svg>",
        h + 13.0,
        human_ns(f.row.min_ns as f64),
        h + 13.0,
        human_ns(f.row.max_ns as f64)
    );
}

fn timeline(out: &mut String, f: &FunctionReport, used_bins: usize) {
    let (w, h) = (320.0, 46.0);
    let bins = &f.timeline[..used_bins.clamp(1, f.timeline.len())];
    let max = bins.iter().map(|b| b[0]).max().unwrap_or(0).max(1) as f64;
    let bw = w / bins.len() as f64;
    let _ = write!(
        out,
        "<svg class=\"timeline\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"error timeline of {}\">",
        esc(&f.row.name)
    );
    for (i, b) in bins.iter().enumerate() {
        let x = i as f64 * bw;
        let ch = f64::from(b[0]) / max * (h - 2.0);
        let eh = f64::from(b[1]) / max * (h - 2.0);
        let _ = write!(
            out,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{ch:.1}\" fill=\"#c9cfdb\"/>",
            h - ch,
            (bw - 0.6).max(0.4)
        );
        if b[1] > 0 {
            let _ = write!(
                out,
                "<rect class=\"err\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#d1453b\"><title>{} errors of {} calls</title></rect>",
                h - eh.max(1.5),
                (bw - 0.6).max(0.4),
                eh.max(1.5),
                b[1],
                b[0]
            );
        }
    }
    out.push_str("</svg>");
}

fn waterfall(out: &mut String, t: &TraceReport) {
    let (w, label_w, row_h) = (900.0, 220.0, 18.0);
    let total = t.spans.iter().map(|s| s.offset_ns + s.duration_ns).max().unwrap_or(0).max(t.duration_ns).max(1) as f64;
    let scale = (w - label_w - 70.0) / total;
    let h = row_h * t.spans.len() as f64 + 4.0;
    let _ = write!(
        out,
        "<div class=\"card\"><h3>{} <span class=\"legend\">{} · trace {}</span></h3><svg class=\"waterfall\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"waterfall of trace {}\">",
        esc(&t.root),
        human_ns(t.duration_ns as f64),
        esc(&t.trace_id),
        esc(&t.trace_id)
    );
    for (i, s) in t.spans.iter().enumerate() {
        let y = i as f64 * row_h + 2.0;
        let x = label_w + s.offset_ns as f64 * scale;
        let bw = (s.duration_ns as f64 * scale).max(1.0);
        let name = match &s.branch {
            Some(b) => format!("{} [{}]", s.name, b),
            None => s.name.clone(),
        };
        let fill = if s.error { "#d1453b" } else { "#5b7fd6" };
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\">{}</text><rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"{:.1}\" rx=\"2\" fill=\"{fill}\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            4.0 + f64::from(s.depth.min(12)) * 12.0,
            y + 12.0,
            esc(&name),
            y + 2.0,
            row_h - 5.0,
            x + bw + 4.0,
            y + 12.0,
            human_ns(s.duration_ns as f64)
        );
    }
    out.push_str("</svg></div>\n");
}

impl Report {
    /// Renders the report as a self-contained HTML page (inline CSS and SVG, no script and no
    /// network fetch): score bars per function and branch, a latency histogram and an error
    /// timeline per function, and a waterfall of the slowest traces.
    ///
    /// # Examples
    ///
    /// ```
    /// let _g = tracewell::builder().install().unwrap();
    /// tracewell::in_span("step", || ());
    /// let html = tracewell::score::report(&tracewell::collected()).to_html();
    /// assert!(html.starts_with("<!DOCTYPE html>"));
    /// assert!(html.contains("data-name=\"step\""));
    /// assert!(!html.contains("http://") && !html.contains("https://"));
    /// ```
    pub fn to_html(&self) -> String {
        let mut out = String::with_capacity(16 * 1024 + self.functions.len() * 8 * 1024);
        out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>tracewell stability report</title><style>");
        out.push_str(CSS);
        out.push_str("</style></head><body>\n<h1>tracewell stability report</h1>\n");
        let span_s = self.timeline.end_unix_nano.saturating_sub(self.timeline.start_unix_nano) as f64;
        let _ = write!(
            out,
            "<div class=\"meta\">{} spans · {} functions · over {}",
            self.spans,
            self.functions.len(),
            human_ns(span_s)
        );
        if let Some(l) = &self.runtime_lag {
            let _ = write!(
                out,
                " · runtime lag p50 {} / p99 {} ({} samples)",
                human_ns(l.p50_ns as f64),
                human_ns(l.p99_ns as f64),
                l.samples
            );
        }
        let w = &self.config.weights;
        let _ = writeln!(
            out,
            " · weights TS {:.2} MS {:.2} EV {:.2} BE {:.2} CC {:.2}</div>",
            w.ts, w.ms, w.ev, w.be, w.cc
        );
        out.push_str("<h2>Scores, worst first</h2>\n<table id=\"scores\"><thead><tr><th class=\"name\">function / branch</th><th class=\"name\">score</th><th>calls</th><th>err%</th><th>p50</th><th>p95</th><th>p99</th><th>cv</th><th title=\"timing stability\">TS</th><th title=\"memory stability\">MS</th><th title=\"error volatility\">EV</th><th title=\"branching entropy\">BE</th><th title=\"concurrency chaos\">CC</th></tr></thead><tbody>\n");
        for f in &self.functions {
            row(&mut out, &f.row, false);
            for b in &f.branches {
                row(&mut out, b, true);
            }
        }
        out.push_str("</tbody></table>\n<p class=\"legend\">– not measured (MS needs the tracking allocator, CC async spans, BE several branches).</p>\n");
        let used_bins =
            if self.timeline.bin_ns == 0 { 1 } else { (span_s / self.timeline.bin_ns as f64).ceil().max(1.0) as usize };
        out.push_str("<h2>Latency and errors per function</h2>\n<p class=\"legend\">Histogram of wall time (log-spaced bins, fastest to slowest call); below it calls over time<i style=\"background:#c9cfdb\"></i>calls<i style=\"background:#d1453b\"></i>errors</p>\n<div class=\"grid\">\n");
        for f in &self.functions {
            let _ = write!(
                out,
                "<div class=\"card fn-card\" data-name=\"{}\"><h3>{}</h3><div class=\"sub\">score {:.1} · p50 {} · p99 {} · {} errors</div>",
                esc(&f.row.name),
                esc(&f.row.name),
                f.row.score,
                human_ns(f.row.p50_ns as f64),
                human_ns(f.row.p99_ns as f64),
                f.row.errors
            );
            histogram(&mut out, f);
            timeline(&mut out, f, used_bins);
            out.push_str("</div>\n");
        }
        out.push_str("</div>\n<h2>Slowest traces</h2>\n");
        if self.slowest_traces.is_empty() {
            out.push_str("<p class=\"legend\">No complete trace (no root span) was read.</p>\n");
        }
        for t in &self.slowest_traces {
            waterfall(&mut out, t);
        }
        out.push_str("</body></html>\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn names_are_escaped() {
        assert_eq!(esc("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
