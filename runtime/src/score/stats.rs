//! One row of the report (a function, or one of its branches): the streaming summaries kept
//! while spans are read ([`RowStats`]), and the formulas that turn them into the row's figures
//! and five sub-scores ([`Row`], [`SubScores`], weighted by [`Weights`]).

use serde::Serialize;

use super::sample::SpanSample;
use super::sketch::{LogHistogram, Moments};
use crate::span::StatusCode;

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

/// The five sub-scores of one row, each in `[0, 1]`, 1 being perfectly stable; `None` when not
/// measured.
///
/// # Formulas
///
/// * **TS, timing stability** — `TS = ½ · 1/(1 + CV) + ½ · p50/p99`, where `CV = σ/μ` is the
///   coefficient of variation of the wall-clock durations (population σ) and p50/p99 come from the
///   sketch. Constant latency gives `TS = 1`; a heavy tail pulls the second half down even when
///   the spread of the bulk is small.
/// * **MS, memory stability** — over the spans that carry
///   [`alloc_bytes`](crate::SpanData::alloc_bytes): `MS = 1/(1 + CV(alloc_bytes))`, averaged with
///   `1/(1 + CV(alloc_peak))` when peaks are recorded. When no span of the function carries
///   allocation figures, MS is **not measured** (`None`, shown as `-`), never invented.
/// * **EV, error volatility** — with `r` the error rate (status `error`), `e` the number of
///   errors, `R` the number of runs of consecutive errors and `L` the longest run:
///   `b = ½ · (1 − R/e) + ½ · (L − 1)/e` (burstiness, 0 when errors are isolated, near 1 when they
///   all come in one burst) and `EV = (1 − r) · (1 − ½ · b)`. No errors gives `EV = 1`.
/// * **BE, branching entropy** — over the `k` branches a function was seen taking, with shares
///   `pᵢ`: `H = −Σ pᵢ ln pᵢ` and `BE = 1 − H / ln k` (`BE = 1` for a single code path, 0 for a
///   uniform split). Rows of a single branch have no BE (`None`).
/// * **CC, concurrency chaos** — over async spans (`polls > 0`): the mean of
///   `1/(1 + CV(wait))` with `wait = wall − busy` (time spent not running),
///   `1/(1 + CV(pending_polls))`, and, when [`monitor_runtime`](crate::monitor_runtime) recorded
///   scheduling lag, `1/(1 + lag_p95 / tolerance)` ([`ScoreConfig::lag_tolerance_ns`], 10 ms by
///   default). A function with no async span has no CC (`None`).
///
/// The overall score is `100 · Σ wᵢ·sᵢ / Σ wᵢ` over the sub-scores that were measured, with the
/// default weights ([`Weights`]) TS 0.30, MS 0.20, EV 0.20, BE 0.15, CC 0.15.
///
/// # Worked example
///
/// A sync function called 4 times, taking 10, 10, 10 and 30 µs, the last call failing, with two
/// branches taken 3 and 1 times, no allocation figures:
///
/// * μ = 15 µs, σ = √75 ≈ 8.66 µs, CV ≈ 0.577; p50 = 10 µs, p99 = 30 µs;
///   `TS = ½/1.577 + ½·(10/30) ≈ 0.317 + 0.167 = 0.484`
/// * MS not measured
/// * r = 0.25, e = 1, R = 1, L = 1 ⇒ b = 0 ⇒ `EV = 0.75`
/// * p = (¾, ¼): H ≈ 0.562, ln 2 ≈ 0.693 ⇒ `BE ≈ 0.189`
/// * CC not measured (no async span)
/// * score = 100 · (0.30·0.484 + 0.20·0.75 + 0.15·0.189) / (0.30 + 0.20 + 0.15) ≈ 0.3236 / 0.65 ≈ **49.8**
///
/// ```
/// use tracewell::{SpanData, StatusCode};
/// let spans: Vec<SpanData> = [(10, "a", false), (10, "a", false), (10, "a", false), (30, "b", true)]
///     .iter()
///     .enumerate()
///     .map(|(i, &(us, branch, err))| {
///         let mut s = SpanData { name: "work".into(), branch: Some(branch.into()), ..Default::default() };
///         s.start_time_unix_nano = i as u64 * 1_000_000;
///         s.end_time_unix_nano = s.start_time_unix_nano + us * 1_000;
///         if err { s.status.code = StatusCode::Error; }
///         s
///     })
///     .collect();
/// let report = tracewell::score::report(&spans);
/// let f = &report.functions[0];
/// assert!((f.row.scores.ts - 0.484).abs() < 0.01);
/// assert_eq!(f.row.scores.ms, None);
/// assert_eq!(f.row.scores.ev, 0.75);
/// assert!((f.row.scores.be.unwrap() - 0.189).abs() < 0.01);
/// assert!((f.row.score - 49.8).abs() < 0.6);
/// println!("{report}");
/// ```
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

/// Streaming summaries of one row (a function, or one of its branches).
#[derive(Clone, Debug, Default)]
pub(super) struct RowStats {
    calls: u64,
    errors: u64,
    pub(super) latency: LogHistogram,
    moments: Moments,
    error_run: u64,
    longest_error_run: u64,
    error_runs: u64,
    alloc_bytes: Moments,
    alloc_peak: Moments,
    wait: Moments,
    pending: Moments,
}

impl RowStats {
    /// Adds one span.
    pub(super) fn add(&mut self, s: &SpanSample<'_>) {
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

    /// The row's figures and scores; `be` and `lag_term` come from outside the row (the
    /// function's branch split, the runtime's lag).
    pub(super) fn row(
        &self,
        name: &str,
        branch: Option<&str>,
        be: Option<f64>,
        lag_term: Option<f64>,
        cfg: &ScoreConfig,
    ) -> Row {
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

    /// BE of a function whose spans are `self`, split into `branches`: `1 − H / ln k`.
    pub(super) fn branching_entropy<'a>(&self, branches: impl ExactSizeIterator<Item = &'a RowStats>) -> f64 {
        let k = branches.len();
        if k <= 1 {
            return 1.0;
        }
        let n = self.calls as f64;
        let h: f64 = branches.map(|s| s.calls as f64 / n).filter(|p| *p > 0.0).map(|p| -p * p.ln()).sum();
        1.0 - h / (k as f64).ln()
    }
}

/// The runtime term of CC: `1/(1 + lag_p95 / tolerance)`.
pub(super) fn lag_term(lag_p95_ns: u64, cfg: &ScoreConfig) -> f64 {
    1.0 / (1.0 + lag_p95_ns as f64 / cfg.lag_tolerance_ns.max(1) as f64)
}

fn clamp01(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}
