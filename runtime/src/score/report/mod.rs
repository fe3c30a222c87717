//! The report: what [`Scorer::finish`](super::Scorer::finish) returns, one [`FunctionReport`]
//! per function with its [`Row`]s, histogram and timeline, and the slowest traces. Each output
//! format is a file of its own: the aligned table ([`Display`](std::fmt::Display)) in `text.rs`,
//! the HTML page ([`Report::to_html`]) in `html.rs`; JSON is `serde`'s ([`Report::to_json`]).

mod html;
mod text;

use serde::Serialize;

use super::stats::{Row, ScoreConfig};

/// A function's row, its branches, latency histogram and error timeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FunctionReport {
    /// The function over all its spans.
    #[serde(flatten)]
    pub row: Row,
    /// One row per branch, worst first; empty for a function without branches.
    pub branches: Vec<Row>,
    /// Wall-time histogram, log-spaced bins from the fastest to the slowest call.
    pub histogram: Vec<HistogramBin>,
    /// `[calls, errors]` per bin of [`Report::timeline`].
    pub timeline: Vec<[u32; 2]>,
}

/// One bin of a latency histogram.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct HistogramBin {
    /// Lower bound, ns.
    pub low_ns: u64,
    /// Upper bound, ns.
    pub high_ns: u64,
    /// Calls in the bin.
    pub count: u64,
}

/// The time axis of the per-function timelines.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Timeline {
    /// Start of the first bin (the start of the first span read), ns since the Unix epoch.
    pub start_unix_nano: u64,
    /// Width of a bin, ns.
    pub bin_ns: u64,
    /// End of the last span read.
    pub end_unix_nano: u64,
}

/// Scheduling lag measured by [`monitor_runtime`](crate::monitor_runtime).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RuntimeLag {
    /// Samples.
    pub samples: u64,
    /// Median lag, ns.
    pub p50_ns: u64,
    /// 95th percentile, ns.
    pub p95_ns: u64,
    /// 99th percentile, ns.
    pub p99_ns: u64,
    /// Largest lag, ns.
    pub max_ns: u64,
}

/// One of the slowest traces, for the waterfall.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TraceReport {
    /// Trace id, hex.
    pub trace_id: String,
    /// The root span's name.
    pub root: String,
    /// The root span's wall time, ns.
    pub duration_ns: u64,
    /// Its spans by start time (at most 64).
    pub spans: Vec<WaterfallSpan>,
}

/// A span in a waterfall.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WaterfallSpan {
    /// Name.
    pub name: String,
    /// Branch.
    pub branch: Option<String>,
    /// Start relative to the trace's first span, ns.
    pub offset_ns: u64,
    /// Wall time, ns.
    pub duration_ns: u64,
    /// Nesting depth (0 for the root).
    pub depth: u32,
    /// Whether it ended in error.
    pub error: bool,
}

/// The stability report: one entry per function, worst first.
///
/// Prints as an aligned table (`Display`), serializes to JSON, renders to HTML with
/// [`Report::to_html`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// Spans read (including runtime-lag samples).
    pub spans: u64,
    /// How the score was computed.
    pub config: ScoreConfig,
    /// Functions, lowest score first.
    pub functions: Vec<FunctionReport>,
    /// Scheduling lag, when the runtime was monitored.
    pub runtime_lag: Option<RuntimeLag>,
    /// The time axis of [`FunctionReport::timeline`].
    pub timeline: Timeline,
    /// The slowest traces (by root wall time), slowest first.
    pub slowest_traces: Vec<TraceReport>,
}

impl Report {
    /// The functions (and branches) scoring below `min`, as `(name, branch, score)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let report = tracewell::score::report(&[]);
    /// assert!(report.below(90.0).is_empty());
    /// ```
    pub fn below(&self, min: f64) -> Vec<(&str, Option<&str>, f64)> {
        let mut out = Vec::new();
        for f in &self.functions {
            if f.row.score < min {
                out.push((f.row.name.as_str(), None, f.row.score));
            }
            for b in &f.branches {
                if b.score < min {
                    out.push((b.name.as_str(), b.branch.as_deref(), b.score));
                }
            }
        }
        out
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}
