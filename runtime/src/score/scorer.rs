//! The aggregation: [`Scorer`] reads spans one at a time into per-function and per-branch
//! [`RowStats`], an error timeline, and the spans of the slowest traces ([`KeptSpan`]), and
//! [`finish`](Scorer::finish)es them into a [`Report`].

use std::collections::HashMap;
use std::sync::Arc;

use super::report::{FunctionReport, HistogramBin, Report, RuntimeLag, Timeline, TraceReport, WaterfallSpan};
use super::sample::SpanSample;
use super::sketch::LogHistogram;
use super::stats::{Row, RowStats, ScoreConfig, lag_term};
use super::{HISTOGRAM_BINS, SLOWEST_TRACES, TIMELINE_BINS};
use crate::span::{SpanData, SpanId, StatusCode, TraceId, attr::RUNTIME_LAG_SPAN};

/// Spans held while waiting for their trace's root to end, across all traces; past this the
/// waiting spans are dropped so memory stays bounded (the waterfall then shows fewer children).
const PENDING_SPANS_CAP: usize = 50_000;
/// Spans kept per trace for the waterfall.
const SPANS_PER_TRACE: usize = 64;

/// One function: all its spans, its branches, and its error timeline.
#[derive(Debug)]
struct FnEntry {
    name: Arc<str>,
    all: RowStats,
    /// Branches seen, `None` for spans without a branch; few per function, so a list.
    branches: Vec<(Option<Arc<str>>, RowStats)>,
    timeline: Vec<[u32; 2]>,
}

/// A span kept for the waterfall of a trace.
#[derive(Clone, Debug)]
struct KeptSpan {
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
    pending: HashMap<TraceId, Vec<KeptSpan>>,
    pending_len: usize,
    slowest: Vec<(u64, TraceId, Vec<KeptSpan>)>,
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
                    all: RowStats::default(),
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
                entry.branches.push((s.branch.map(Arc::from), RowStats::default()));
                entry.branches.len() - 1
            }
        };
        entry.branches[pos].1.add(s);
        let kept = KeptSpan {
            name: entry.name.clone(),
            branch: entry.branches[pos].0.clone(),
            span_id: s.span_id,
            parent: s.parent_span_id,
            start: s.start_time_unix_nano,
            end: s.end_time_unix_nano,
            error: is_error,
        };
        self.track_trace(s.trace_id, kept);
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

    fn track_trace(&mut self, trace: TraceId, kept: KeptSpan) {
        if kept.parent.is_valid() {
            if self.pending_len >= PENDING_SPANS_CAP {
                self.pending.clear();
                self.pending_len = 0;
            }
            let list = self.pending.entry(trace).or_default();
            if list.len() < SPANS_PER_TRACE {
                list.push(kept);
                self.pending_len += 1;
            }
            return;
        }
        let children = self.pending.remove(&trace).unwrap_or_default();
        self.pending_len -= children.len();
        let d = kept.end.saturating_sub(kept.start);
        if self.slowest.len() == SLOWEST_TRACES && self.slowest.last().is_some_and(|(sd, _, _)| *sd >= d) {
            return;
        }
        let mut spans = children;
        spans.push(kept);
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
        let lag_term = lag.as_ref().map(|l| lag_term(l.p95_ns, &self.cfg));
        let mut functions: Vec<FunctionReport> = self
            .fns
            .values()
            .map(|e| {
                let k = e.branches.len();
                let be = e.all.branching_entropy(e.branches.iter().map(|(_, s)| s));
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

fn waterfall(duration_ns: u64, trace: TraceId, spans: &[KeptSpan]) -> TraceReport {
    let root = spans.last().cloned();
    let mut sorted: Vec<&KeptSpan> = spans.iter().collect();
    sorted.sort_by_key(|m| (m.start, std::cmp::Reverse(m.end)));
    let start = root.as_ref().map_or(0, |r| r.start).min(sorted.first().map_or(u64::MAX, |m| m.start));
    let depth_of = |m: &KeptSpan| {
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
