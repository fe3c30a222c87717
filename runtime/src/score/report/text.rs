//! The report as an aligned text table.

use std::fmt;

use super::Report;
use crate::score::Row;

/// A duration in ns as a short human figure: `850ns`, `12.3µs`, `4.56ms`, `1.20s`.
pub(crate) fn human_ns(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.0}ns")
    } else if ns < 1_000_000.0 {
        format!("{:.1}µs", ns / 1e3)
    } else if ns < 1_000_000_000.0 {
        format!("{:.2}ms", ns / 1e6)
    } else {
        format!("{:.2}s", ns / 1e9)
    }
}

fn sub(s: Option<f64>) -> String {
    s.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"))
}

fn cells(row: &Row, label: String) -> [String; 12] {
    [
        format!("{:.1}", row.score),
        label,
        row.calls.to_string(),
        format!("{:.1}%", row.error_rate * 100.0),
        human_ns(row.p50_ns as f64),
        human_ns(row.p95_ns as f64),
        human_ns(row.p99_ns as f64),
        format!("{:.2}", row.cv),
        sub(Some(row.scores.ts)),
        sub(row.scores.ms),
        sub(Some(row.scores.ev)),
        sub(row.scores.be),
    ]
}

impl fmt::Display for Report {
    /// Functions worst first, each function's branches indented under it:
    ///
    /// ```text
    /// score  function       calls  err%   p50     p95     p99    cv    TS    MS    EV    BE    CC
    ///  62.4  fetch            400  5.0%  1.20ms  4.10ms  9.80ms  1.10  0.41     -  0.93  0.88  0.71
    ///  55.0    └─ miss        100  12.0% ...
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HEAD: [&str; 13] =
            ["score", "function", "calls", "err%", "p50", "p95", "p99", "cv", "TS", "MS", "EV", "BE", "CC"];
        let mut rows: Vec<[String; 13]> = Vec::new();
        for func in &self.functions {
            let mut push = |row: &Row, label: String| {
                let c = cells(row, label);
                let mut r: [String; 13] = Default::default();
                r[..12].clone_from_slice(&c);
                r[12] = sub(row.scores.cc);
                rows.push(r);
            };
            push(&func.row, func.row.name.clone());
            for b in &func.branches {
                push(b, format!("  └─ {}", b.branch.as_deref().unwrap_or("")));
            }
        }
        let mut width = HEAD.map(|h| h.chars().count());
        for r in &rows {
            for (w, c) in width.iter_mut().zip(r.iter()) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |f: &mut fmt::Formatter<'_>, cols: &[&str]| -> fmt::Result {
            for (i, c) in cols.iter().enumerate() {
                let pad = width[i].saturating_sub(c.chars().count());
                if i > 0 {
                    f.write_str("  ")?;
                }
                if i == 1 {
                    // Names left-aligned; the last column keeps no trailing spaces.
                    f.write_str(c)?;
                    write!(f, "{:pad$}", "")?;
                } else {
                    write!(f, "{:pad$}{c}", "")?;
                }
            }
            writeln!(f)
        };
        if self.functions.is_empty() {
            return writeln!(f, "no spans to score");
        }
        line(f, &HEAD)?;
        for r in &rows {
            let cols: Vec<&str> = r.iter().map(String::as_str).collect();
            line(f, &cols)?;
        }
        write!(f, "{} spans, {} functions", self.spans, self.functions.len())?;
        if let Some(lag) = &self.runtime_lag {
            write!(
                f,
                "; runtime lag p50 {} p99 {} ({} samples)",
                human_ns(lag.p50_ns as f64),
                human_ns(lag.p99_ns as f64),
                lag.samples
            )?;
        }
        writeln!(f, "; MS/BE/CC shown as - when not measured")
    }
}
