//! The stability score per function and per (function, branch), and its reports.
//!
//! A [`Scorer`] reads finished spans one at a time ([`Scorer::add`]) and keeps, per function
//! (span name) and per (function, [`branch`](crate::SpanData::branch)), streaming summaries whose
//! size does not depend on the number of spans: counts, a running mean and variance, a
//! log-bucket quantile sketch (quantiles within 1%), error runs, and a 60-bin timeline.
//! [`Scorer::finish`] turns them into a [`Report`], which prints as an aligned text table,
//! serializes to JSON (`serde`), and renders to a self-contained HTML page
//! ([`Report::to_html`]). [`report`] does all of it for a slice of spans.
//!
//! The formulas of the five sub-scores and of the overall score, with a worked example, are on
//! [`SubScores`].
//!
//! # Where things are
//!
//! * `sample.rs`: [`SpanSample`], the part of a span the score reads.
//! * `line/`: [`SampleLine`], a [`SpanSample`] read from an NDJSON line, with a fast path for
//!   ordinary lines (what `tracewell report` reads files with).
//! * `sketch.rs`: the constant-size summaries (moments, a log-bucket quantile sketch).
//! * `stats.rs`: one row's summaries and the formulas that score them ([`Row`], [`SubScores`],
//!   [`Weights`], [`ScoreConfig`]).
//! * `scorer.rs`: [`Scorer`], which aggregates spans per function and branch and keeps the
//!   slowest traces.
//! * `report/`: the [`Report`] types, and one file per output format (`text.rs`, `html.rs`);
//!   a new format goes there.

mod line;
mod report;
mod sample;
mod scorer;
mod sketch;
mod stats;

use crate::span::SpanData;

#[doc(inline)]
pub use crate::span::attr::RUNTIME_LAG_SPAN;
pub use line::SampleLine;
pub use report::{FunctionReport, HistogramBin, Report, RuntimeLag, Timeline, TraceReport, WaterfallSpan};
pub use sample::SpanSample;
pub use scorer::Scorer;
pub use stats::{Row, ScoreConfig, SubScores, Weights};

/// Bins of the error timeline.
pub const TIMELINE_BINS: usize = 60;
/// Bins of each function's latency histogram.
pub const HISTOGRAM_BINS: usize = 24;
/// How many of the slowest traces the report keeps for its waterfall.
pub const SLOWEST_TRACES: usize = 5;

/// Scores `spans` and builds the [`Report`].
///
/// # Examples
///
/// ```
/// let _g = tracewell::builder().install().unwrap();
/// for _ in 0..10 {
///     tracewell::in_span("step", || ());
/// }
/// let report = tracewell::score::report(&tracewell::collected());
/// assert!(report.functions.iter().any(|f| f.row.name == "step"));
/// println!("{report}");
/// ```
pub fn report(spans: &[SpanData]) -> Report {
    let mut scorer = Scorer::new();
    for s in spans {
        scorer.add(s);
    }
    scorer.finish()
}

#[cfg(test)]
mod tests;
