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
//! # The score
//!
//! Five sub-scores in `[0, 1]`, 1 being perfectly stable:
//!
//! * **TS, timing stability** — `TS = ½ · 1/(1 + CV) + ½ · p50/p99`, where `CV = σ/μ` is the
//!   coefficient of variation of the wall-clock durations (population σ) and p50/p99 come from the
//!   sketch. Constant latency gives `TS = 1`; a heavy tail pulls the second half down even when
//!   the spread of the bulk is small.
//! * **MS, memory stability** — over the spans that carry
//!   [`alloc_bytes`](crate::SpanData::alloc_bytes): `MS = 1/(1 + CV(alloc_bytes))`, averaged with
//!   `1/(1 + CV(alloc_peak))` when peaks are recorded. When no span of the function carries
//!   allocation figures, MS is **not measured** (`None`, shown as `-`), never invented.
//! * **EV, error volatility** — with `r` the error rate (status `error`), `e` the number of
//!   errors, `R` the number of runs of consecutive errors and `L` the longest run:
//!   `b = ½ · (1 − R/e) + ½ · (L − 1)/e` (burstiness, 0 when errors are isolated, near 1 when they
//!   all come in one burst) and `EV = (1 − r) · (1 − ½ · b)`. No errors gives `EV = 1`.
//! * **BE, branching entropy** — over the `k` branches a function was seen taking, with shares
//!   `pᵢ`: `H = −Σ pᵢ ln pᵢ` and `BE = 1 − H / ln k` (`BE = 1` for a single code path, 0 for a
//!   uniform split). Rows of a single branch have no BE (`None`).
//! * **CC, concurrency chaos** — over async spans (`polls > 0`): the mean of
//!   `1/(1 + CV(wait))` with `wait = wall − busy` (time spent not running),
//!   `1/(1 + CV(pending_polls))`, and, when [`monitor_runtime`](crate::monitor_runtime) recorded
//!   scheduling lag, `1/(1 + lag_p95 / tolerance)` ([`ScoreConfig::lag_tolerance_ns`], 10 ms by
//!   default). A function with no async span has no CC (`None`).
//!
//! The overall score is `100 · Σ wᵢ·sᵢ / Σ wᵢ` over the sub-scores that were measured, with the
//! default weights ([`Weights`]) TS 0.30, MS 0.20, EV 0.20, BE 0.15, CC 0.15.
//!
//! # Worked example
//!
//! A sync function called 4 times, taking 10, 10, 10 and 30 µs, the last call failing, with two
//! branches taken 3 and 1 times, no allocation figures:
//!
//! * μ = 15 µs, σ = √75 ≈ 8.66 µs, CV ≈ 0.577; p50 = 10 µs, p99 = 30 µs;
//!   `TS = ½/1.577 + ½·(10/30) ≈ 0.317 + 0.167 = 0.484`
//! * MS not measured
//! * r = 0.25, e = 1, R = 1, L = 1 ⇒ b = 0 ⇒ `EV = 0.75`
//! * p = (¾, ¼): H ≈ 0.562, ln 2 ≈ 0.693 ⇒ `BE ≈ 0.189`
//! * CC not measured (no async span)
//! * score = 100 · (0.30·0.484 + 0.20·0.75 + 0.15·0.189) / (0.30 + 0.20 + 0.15) ≈ 0.3236 / 0.65 ≈ **49.8**
//!
//! ```
//! use tracewell::{SpanData, StatusCode};
//! let spans: Vec<SpanData> = [(10, "a", false), (10, "a", false), (10, "a", false), (30, "b", true)]
//!     .iter()
//!     .enumerate()
//!     .map(|(i, &(us, branch, err))| {
//!         let mut s = SpanData { name: "work".into(), branch: Some(branch.into()), ..Default::default() };
//!         s.start_time_unix_nano = i as u64 * 1_000_000;
//!         s.end_time_unix_nano = s.start_time_unix_nano + us * 1_000;
//!         if err { s.status.code = StatusCode::Error; }
//!         s
//!     })
//!     .collect();
//! let report = tracewell::score::report(&spans);
//! let f = &report.functions[0];
//! assert!((f.row.scores.ts - 0.484).abs() < 0.01);
//! assert_eq!(f.row.scores.ms, None);
//! assert_eq!(f.row.scores.ev, 0.75);
//! assert!((f.row.scores.be.unwrap() - 0.189).abs() < 0.01);
//! assert!((f.row.score - 49.8).abs() < 0.6);
//! println!("{report}");
//! ```

mod html;
mod sketch;
mod text;

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use crate::span::{SpanData, SpanId, StatusCode, TraceId};
use sketch::{LogHistogram, Moments};

pub use crate::span::attr::RUNTIME_LAG_SPAN;

/// Bins of the error timeline.
pub const TIMELINE_BINS: usize = 60;
/// Bins of each function's latency histogram.
pub const HISTOGRAM_BINS: usize = 24;
/// How many of the slowest traces the report keeps for its waterfall.
pub const SLOWEST_TRACES: usize = 5;
/// Spans held while waiting for their trace's root to end, across all traces; past this the
/// waiting spans are dropped so memory stays bounded (the waterfall then shows fewer children).
const PENDING_SPANS_CAP: usize = 50_000;
/// Spans kept per trace for the waterfall.
const SPANS_PER_TRACE: usize = 64;

/// The weights of the five sub-scores in the overall score.
///
/// # Examples
///
/// ```
/// let w = tracewell::score::Weights::default();
/// assert_eq!((w.ts, w.ms, w.ev, w.be, w.cc), (0.30, 0.20, 0.20, 0.15, 0.15));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Weights {
    /// Timing stability.
    pub ts: f64,
    /// Memory stability.
    pub ms: f64,
    /// Error volatility.
    pub ev: f64,
    /// Branching entropy.
    pub be: f64,
    /// Concurrency chaos.
    pub cc: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights { ts: 0.30, ms: 0.20, ev: 0.20, be: 0.15, cc: 0.15 }
    }
}

/// How the score is computed.
///
/// # Examples
///
/// ```
/// use tracewell::score::{ScoreConfig, Scorer, Weights};
/// let cfg = ScoreConfig { weights: Weights { ts: 1.0, ms: 0.0, ev: 0.0, be: 0.0, cc: 0.0 }, ..Default::default() };
/// let scorer = Scorer::with_config(cfg);
/// assert_eq!(scorer.spans(), 0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ScoreConfig {
    /// Sub-score weights.
    pub weights: Weights,
    /// Scheduling lag (p95) at which the runtime term of CC is ½, in nanoseconds.
    pub lag_tolerance_ns: u64,
}

impl Default for ScoreConfig {
    fn default() -> Self {
        ScoreConfig { weights: Weights::default(), lag_tolerance_ns: 10_000_000 }
    }
}

/// The part of a span the score reads. [`Scorer::add`] takes a [`SpanData`]; readers that parse
/// spans themselves (the CLI) fill this in directly and call [`Scorer::add_sample`].
#[derive(Clone, Copy, Debug, Default)]
pub struct SpanSample<'a> {
    /// Function (span) name.
    pub name: &'a str,
    /// Branch, for `#[monitor(branch = "...")]` spans.
    pub branch: Option<&'a str>,
    /// Trace.
    pub trace_id: TraceId,
    /// Span.
    pub span_id: SpanId,
    /// Parent, invalid for a root.
    pub parent_span_id: SpanId,
    /// Start, ns since the Unix epoch.
    pub start_time_unix_nano: u64,
    /// End, ns since the Unix epoch.
    pub end_time_unix_nano: u64,
    /// How it ended.
    pub status: StatusCode,
    /// Times polled (0 for sync spans).
    pub polls: u32,
    /// Polls that returned `Pending`.
    pub pending_polls: u32,
    /// Busy time, ns.
    pub busy_ns: u64,
    /// Bytes allocated, when tracked.
    pub alloc_bytes: Option<u64>,
    /// Peak live bytes, when tracked.
    pub alloc_peak: Option<u64>,
    /// For runtime-lag spans: the requested sleep
    /// ([`RUNTIME_INTERVAL_NS`](crate::span::attr::RUNTIME_INTERVAL_NS)), subtracted from the wall
    /// time.
    pub runtime_interval_ns: Option<u64>,
}

impl<'a> From<&'a SpanData> for SpanSample<'a> {
    fn from(s: &'a SpanData) -> Self {
        SpanSample {
            name: &s.name,
            branch: s.branch.as_deref(),
            trace_id: s.trace_id,
            span_id: s.span_id,
            parent_span_id: s.parent_span_id,
            start_time_unix_nano: s.start_time_unix_nano,
            end_time_unix_nano: s.end_time_unix_nano,
            status: s.status.code,
            polls: s.polls,
            pending_polls: s.pending_polls,
            busy_ns: s.busy_ns,
            alloc_bytes: s.alloc_bytes,
            alloc_peak: s.alloc_peak,
            runtime_interval_ns: s.attribute(crate::span::attr::RUNTIME_INTERVAL_NS).and_then(|v| match v {
                crate::Value::U64(n) => Some(*n),
                crate::Value::I64(n) => u64::try_from(*n).ok(),
                _ => None,
            }),
        }
    }
}

impl SpanSample<'_> {
    fn duration_ns(&self) -> u64 {
        self.end_time_unix_nano.saturating_sub(self.start_time_unix_nano)
    }
}

/// Streaming summaries of one row (a function, or one of its branches).
#[derive(Clone, Debug, Default)]
struct Stats {
    calls: u64,
    errors: u64,
    latency: LogHistogram,
    moments: Moments,
    error_run: u64,
    longest_error_run: u64,
    error_runs: u64,
    alloc_bytes: Moments,
    alloc_peak: Moments,
    wait: Moments,
    pending: Moments,
}

impl Stats {
    fn add(&mut self, s: &SpanSample<'_>) {
        let d = s.duration_ns();
        self.calls += 1;
        self.latency.add(d);
        self.moments.add(d as f64);
        if s.status == StatusCode::Error {
            self.errors += 1;
            if self.error_run == 0 {
                self.error_runs += 1;
            }
            self.error_run += 1;
            self.longest_error_run = self.longest_error_run.max(self.error_run);
        } else {
            self.error_run = 0;
        }
        if let Some(b) = s.alloc_bytes {
            self.alloc_bytes.add(b as f64);
        }
        if let Some(p) = s.alloc_peak {
            self.alloc_peak.add(p as f64);
        }
        if s.polls > 0 {
            self.wait.add(d.saturating_sub(s.busy_ns) as f64);
            self.pending.add(f64::from(s.pending_polls));
        }
    }

    fn row(&self, name: &str, branch: Option<&str>, be: Option<f64>, lag_term: Option<f64>, cfg: &ScoreConfig) -> Row {
        let p50 = self.latency.quantile(0.50);
        let p95 = self.latency.quantile(0.95);
        let p99 = self.latency.quantile(0.99);
        let cv = self.moments.cv();
        let tail = if p99 == 0 { 1.0 } else { p50 as f64 / p99 as f64 };
        let ts = 0.5 / (1.0 + cv) + 0.5 * tail;
        let ms = (self.alloc_bytes.count() > 0).then(|| {
            let bytes = 1.0 / (1.0 + self.alloc_bytes.cv());
            if self.alloc_peak.count() > 0 { 0.5 * bytes + 0.5 / (1.0 + self.alloc_peak.cv()) } else { bytes }
        });
        let error_rate = if self.calls == 0 { 0.0 } else { self.errors as f64 / self.calls as f64 };
        let burst = if self.errors == 0 {
            0.0
        } else {
            let e = self.errors as f64;
            0.5 * (1.0 - self.error_runs as f64 / e) + 0.5 * (self.longest_error_run as f64 - 1.0) / e
        };
        let ev = (1.0 - error_rate) * (1.0 - 0.5 * burst);
        let cc = (self.wait.count() > 0).then(|| {
            let mut terms = vec![1.0 / (1.0 + self.wait.cv()), 1.0 / (1.0 + self.pending.cv())];
            terms.extend(lag_term);
            terms.iter().sum::<f64>() / terms.len() as f64
        });
        let scores = SubScores {
            ts: clamp01(ts),
            ms: ms.map(clamp01),
            ev: clamp01(ev),
            be: be.map(clamp01),
            cc: cc.map(clamp01),
        };
        Row {
            name: name.to_owned(),
            branch: branch.map(str::to_owned),
            calls: self.calls,
            errors: self.errors,
            error_rate,
            longest_error_run: self.longest_error_run,
            mean_ns: self.moments.mean(),
            p50_ns: p50,
            p95_ns: p95,
            p99_ns: p99,
            min_ns: self.latency.min(),
            max_ns: self.latency.max(),
            cv,
            score: scores.overall(&cfg.weights),
            scores,
        }
    }
}

fn clamp01(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}

/// One function: all its spans, its branches, and its error timeline.
#[derive(Debug)]
struct FnEntry {
    name: Arc<str>,
    all: Stats,
    /// Branches seen, `None` for spans without a branch; few per function, so a list.
    branches: Vec<(Option<Arc<str>>, Stats)>,
    timeline: Vec<[u32; 2]>,
}

/// A span kept for the waterfall of a trace.
#[derive(Clone, Debug)]
struct Mini {
    name: Arc<str>,
    branch: Option<Arc<str>>,
    span_id: SpanId,
    parent: SpanId,
    start: u64,
    end: u64,
    error: bool,
}

/// Computes the score incrementally: [`add`](Scorer::add) spans as they are read, then
/// [`finish`](Scorer::finish). Memory grows with the number of functions and branches (a few KB
/// each at most), not with the number of spans.
///
/// # Examples
///
/// ```
/// use tracewell::SpanData;
/// use tracewell::score::Scorer;
/// let mut scorer = Scorer::new();
/// for i in 0..100u64 {
///     let span = SpanData { name: "tick".into(), start_time_unix_nano: i * 10, end_time_unix_nano: i * 10 + 5, ..Default::default() };
///     scorer.add(&span);
/// }
/// let report = scorer.finish();
/// assert_eq!(report.functions[0].row.calls, 100);
/// assert_eq!(report.functions[0].row.scores.ts, 1.0);
/// ```
#[derive(Debug, Default)]
pub struct Scorer {
    cfg: ScoreConfig,
    spans: u64,
    fns: HashMap<Arc<str>, FnEntry>,
    lag: LogHistogram,
    tl_origin: Option<u64>,
    tl_width: u64,
    tl_end: u64,
    pending: HashMap<TraceId, Vec<Mini>>,
    pending_len: usize,
    slowest: Vec<(u64, TraceId, Vec<Mini>)>,
}

impl Scorer {
    /// A scorer with the default [`ScoreConfig`].
    pub fn new() -> Scorer {
        Scorer::default()
    }

    /// A scorer with custom weights or lag tolerance.
    pub fn with_config(cfg: ScoreConfig) -> Scorer {
        Scorer { cfg, ..Scorer::default() }
    }

    /// Spans added so far.
    pub fn spans(&self) -> u64 {
        self.spans
    }

    /// Adds one finished span.
    pub fn add(&mut self, span: &SpanData) {
        self.add_sample(&SpanSample::from(span));
    }

    /// Adds the fields of one finished span (see [`SpanSample`]).
    pub fn add_sample(&mut self, s: &SpanSample<'_>) {
        self.spans += 1;
        if s.name == RUNTIME_LAG_SPAN {
            self.lag.add(s.duration_ns().saturating_sub(s.runtime_interval_ns.unwrap_or(0)));
            return;
        }
        let bin = self.timeline_bin(s.start_time_unix_nano, s.end_time_unix_nano);
        let entry = match self.fns.get_mut(s.name) {
            Some(e) => e,
            None => {
                let name: Arc<str> = Arc::from(s.name);
                self.fns.entry(name.clone()).or_insert_with(|| FnEntry {
                    name,
                    all: Stats::default(),
                    branches: Vec::new(),
                    timeline: vec![[0, 0]; TIMELINE_BINS],
                })
            }
        };
        entry.all.add(s);
        let is_error = s.status == StatusCode::Error;
        let t = &mut entry.timeline[bin];
        t[0] = t[0].saturating_add(1);
        t[1] = t[1].saturating_add(u32::from(is_error));
        let pos = match entry.branches.iter().position(|(b, _)| b.as_deref() == s.branch) {
            Some(p) => p,
            None => {
                entry.branches.push((s.branch.map(Arc::from), Stats::default()));
                entry.branches.len() - 1
            }
        };
        entry.branches[pos].1.add(s);
        let mini = Mini {
            name: entry.name.clone(),
            branch: entry.branches[pos].0.clone(),
            span_id: s.span_id,
            parent: s.parent_span_id,
            start: s.start_time_unix_nano,
            end: s.end_time_unix_nano,
            error: is_error,
        };
        self.track_trace(s.trace_id, mini);
    }

    fn timeline_bin(&mut self, start: u64, end: u64) -> usize {
        let origin = *self.tl_origin.get_or_insert(start);
        if self.tl_width == 0 {
            self.tl_width = 1_000_000; // 1 ms to begin with; doubles as the range grows
        }
        self.tl_end = self.tl_end.max(end);
        let mut idx = start.saturating_sub(origin) / self.tl_width;
        while idx >= TIMELINE_BINS as u64 {
            self.tl_width *= 2;
            for e in self.fns.values_mut() {
                for i in 0..TIMELINE_BINS / 2 {
                    let (a, b) = (e.timeline[2 * i], e.timeline[2 * i + 1]);
                    e.timeline[i] = [a[0].saturating_add(b[0]), a[1].saturating_add(b[1])];
                }
                for t in &mut e.timeline[TIMELINE_BINS / 2..] {
                    *t = [0, 0];
                }
            }
            idx = start.saturating_sub(origin) / self.tl_width;
        }
        idx as usize
    }

    fn track_trace(&mut self, trace: TraceId, mini: Mini) {
        if mini.parent.is_valid() {
            if self.pending_len >= PENDING_SPANS_CAP {
                self.pending.clear();
                self.pending_len = 0;
            }
            let list = self.pending.entry(trace).or_default();
            if list.len() < SPANS_PER_TRACE {
                list.push(mini);
                self.pending_len += 1;
            }
            return;
        }
        let children = self.pending.remove(&trace).unwrap_or_default();
        self.pending_len -= children.len();
        let d = mini.end.saturating_sub(mini.start);
        if self.slowest.len() == SLOWEST_TRACES && self.slowest.last().is_some_and(|(sd, _, _)| *sd >= d) {
            return;
        }
        let mut spans = children;
        spans.push(mini);
        let at = self.slowest.partition_point(|(sd, _, _)| *sd >= d);
        self.slowest.insert(at, (d, trace, spans));
        self.slowest.truncate(SLOWEST_TRACES);
    }

    /// Computes the scores and builds the report, worst function first.
    pub fn finish(&self) -> Report {
        let lag = (self.lag.count() > 0).then(|| RuntimeLag {
            samples: self.lag.count(),
            p50_ns: self.lag.quantile(0.5),
            p95_ns: self.lag.quantile(0.95),
            p99_ns: self.lag.quantile(0.99),
            max_ns: self.lag.max(),
        });
        let lag_term = lag.as_ref().map(|l| 1.0 / (1.0 + l.p95_ns as f64 / self.cfg.lag_tolerance_ns.max(1) as f64));
        let mut functions: Vec<FunctionReport> = self
            .fns
            .values()
            .map(|e| {
                let k = e.branches.len();
                let be = if k <= 1 {
                    1.0
                } else {
                    let n = e.all.calls as f64;
                    let h: f64 = e
                        .branches
                        .iter()
                        .map(|(_, s)| s.calls as f64 / n)
                        .filter(|p| *p > 0.0)
                        .map(|p| -p * p.ln())
                        .sum();
                    1.0 - h / (k as f64).ln()
                };
                let row = e.all.row(&e.name, None, Some(be), lag_term, &self.cfg);
                let mut branches: Vec<Row> = if k == 1 && e.branches[0].0.is_none() {
                    Vec::new()
                } else {
                    e.branches
                        .iter()
                        .map(|(b, s)| s.row(&e.name, Some(b.as_deref().unwrap_or("(none)")), None, lag_term, &self.cfg))
                        .collect()
                };
                branches.sort_by(|a, b| a.score.total_cmp(&b.score));
                let histogram = e
                    .all
                    .latency
                    .log_bins(HISTOGRAM_BINS)
                    .into_iter()
                    .map(|(low_ns, high_ns, count)| HistogramBin { low_ns, high_ns, count })
                    .collect();
                FunctionReport { row, branches, histogram, timeline: e.timeline.clone() }
            })
            .collect();
        functions.sort_by(|a, b| a.row.score.total_cmp(&b.row.score).then_with(|| a.row.name.cmp(&b.row.name)));
        let slowest_traces = self.slowest.iter().map(|(d, t, spans)| waterfall(*d, *t, spans)).collect();
        let start = self.tl_origin.unwrap_or(0);
        Report {
            spans: self.spans,
            config: self.cfg,
            functions,
            runtime_lag: lag,
            timeline: Timeline { start_unix_nano: start, bin_ns: self.tl_width, end_unix_nano: self.tl_end },
            slowest_traces,
        }
    }
}

fn waterfall(duration_ns: u64, trace: TraceId, spans: &[Mini]) -> TraceReport {
    let root = spans.last().cloned();
    let mut sorted: Vec<&Mini> = spans.iter().collect();
    sorted.sort_by_key(|m| (m.start, std::cmp::Reverse(m.end)));
    let start = root.as_ref().map_or(0, |r| r.start).min(sorted.first().map_or(u64::MAX, |m| m.start));
    let depth_of = |m: &Mini| {
        let mut depth = 0;
        let mut parent = m.parent;
        while depth < 16 {
            match spans.iter().find(|p| p.span_id == parent && parent.is_valid()) {
                Some(p) => {
                    depth += 1;
                    parent = p.parent;
                }
                None => break,
            }
        }
        depth
    };
    TraceReport {
        trace_id: trace.to_string(),
        root: root.as_ref().map_or_else(String::new, |r| r.name.to_string()),
        duration_ns,
        spans: sorted
            .iter()
            .map(|m| WaterfallSpan {
                name: m.name.to_string(),
                branch: m.branch.as_deref().map(str::to_owned),
                offset_ns: m.start.saturating_sub(start),
                duration_ns: m.end.saturating_sub(m.start),
                depth: depth_of(m),
                error: m.error,
            })
            .collect(),
    }
}

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

/// The five sub-scores of one row, each in `[0, 1]`; `None` when not measured.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct SubScores {
    /// Timing stability.
    pub ts: f64,
    /// Memory stability; `None` without allocation figures.
    pub ms: Option<f64>,
    /// Error volatility.
    pub ev: f64,
    /// Branching entropy; `None` for a single branch's row.
    pub be: Option<f64>,
    /// Concurrency chaos; `None` for a function with no async span.
    pub cc: Option<f64>,
}

impl SubScores {
    /// The overall score 0-100: the weighted mean of the measured sub-scores.
    ///
    /// # Examples
    ///
    /// ```
    /// use tracewell::score::{SubScores, Weights};
    /// let s = SubScores { ts: 1.0, ms: None, ev: 0.5, be: Some(1.0), cc: None };
    /// assert!((s.overall(&Weights::default()) - 100.0 * (0.30 + 0.10 + 0.15) / 0.65).abs() < 1e-9);
    /// ```
    pub fn overall(&self, w: &Weights) -> f64 {
        let parts = [
            Some((self.ts, w.ts)),
            self.ms.map(|s| (s, w.ms)),
            Some((self.ev, w.ev)),
            self.be.map(|s| (s, w.be)),
            self.cc.map(|s| (s, w.cc)),
        ];
        let (num, den) = parts.iter().flatten().fold((0.0, 0.0), |(n, d), (s, w)| (n + s * w, d + w));
        if den <= 0.0 { 0.0 } else { 100.0 * num / den }
    }
}

/// The figures and score of one function or one (function, branch).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// Function (span) name.
    pub name: String,
    /// The branch, for branch rows; `(none)` for the spans of a branched function that had none.
    pub branch: Option<String>,
    /// Calls (spans).
    pub calls: u64,
    /// Calls that ended with status error.
    pub errors: u64,
    /// `errors / calls`.
    pub error_rate: f64,
    /// Longest run of consecutive errors.
    pub longest_error_run: u64,
    /// Mean wall time, ns.
    pub mean_ns: f64,
    /// Median wall time, ns (within 1%).
    pub p50_ns: u64,
    /// 95th percentile, ns.
    pub p95_ns: u64,
    /// 99th percentile, ns.
    pub p99_ns: u64,
    /// Fastest call, ns.
    pub min_ns: u64,
    /// Slowest call, ns.
    pub max_ns: u64,
    /// Coefficient of variation of the wall time.
    pub cv: f64,
    /// The sub-scores.
    pub scores: SubScores,
    /// The overall score, 0-100.
    pub score: f64,
}

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

#[cfg(test)]
mod tests;
