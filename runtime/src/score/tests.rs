use super::*;
use crate::span::{SpanData, SpanId, StatusCode, TraceId};

fn span(name: &str, start: u64, dur: u64) -> SpanData {
    SpanData {
        name: name.to_owned().into(),
        trace_id: TraceId(1),
        span_id: SpanId(start + 1),
        start_time_unix_nano: start,
        end_time_unix_nano: start + dur,
        ..SpanData::default()
    }
}

fn score_of(spans: &[SpanData]) -> Report {
    report(spans)
}

fn only(r: &Report) -> &FunctionReport {
    assert_eq!(r.functions.len(), 1);
    &r.functions[0]
}

#[test]
fn constant_latency_is_perfectly_timed() {
    let spans: Vec<_> = (0..1000).map(|i| span("f", i * 100, 42_000)).collect();
    let r = score_of(&spans);
    let f = only(&r);
    assert_eq!(f.row.scores.ts, 1.0);
    assert_eq!(f.row.cv, 0.0);
    assert_eq!((f.row.p50_ns, f.row.p99_ns), (42_000, 42_000));
    assert_eq!(f.row.scores.ev, 1.0);
    assert_eq!(f.row.scores.be, Some(1.0));
    assert_eq!(f.row.score, 100.0, "ts, ev and be at 1, ms and cc not measured");
}

#[test]
fn variable_latency_scores_lower_timing() {
    let spans: Vec<_> = (0..1000).map(|i| span("f", i * 100, if i % 10 == 0 { 500_000 } else { 10_000 })).collect();
    let f = only(&score_of(&spans)).row.clone();
    assert!(f.scores.ts < 0.6, "{:?}", f.scores);
    assert!(f.cv > 1.0);
    assert!((f.p99_ns as f64 - 500_000.0).abs() / 500_000.0 < 0.011);
    assert!((f.p50_ns as f64 - 10_000.0).abs() / 10_000.0 < 0.011);
}

fn with_errors(pattern: impl Fn(u64) -> bool) -> Row {
    let spans: Vec<_> = (0..100)
        .map(|i| {
            let mut s = span("f", i * 100, 1000);
            if pattern(i) {
                s.status.code = StatusCode::Error;
            }
            s
        })
        .collect();
    only(&score_of(&spans)).row.clone()
}

#[test]
fn error_bursts_are_worse_than_alternating_errors() {
    let alternating = with_errors(|i| i % 2 == 0);
    let burst = with_errors(|i| i < 50);
    assert_eq!(alternating.error_rate, 0.5);
    assert_eq!(burst.error_rate, 0.5);
    assert_eq!(alternating.longest_error_run, 1);
    assert_eq!(burst.longest_error_run, 50);
    // alternating: b = 0 => EV = 0.5; burst: b = ½(1 − 1/50) + ½(49/50) = 0.98 => EV = 0.5 · 0.51
    assert!((alternating.scores.ev - 0.5).abs() < 1e-12);
    assert!((burst.scores.ev - 0.5 * (1.0 - 0.5 * 0.98)).abs() < 1e-12);
    assert!(burst.score < alternating.score);
    assert_eq!(with_errors(|_| true).scores.ev, 0.0);
    assert_eq!(with_errors(|_| false).scores.ev, 1.0);
}

fn branched(branches: &[&str], n: u64) -> FunctionReport {
    let spans: Vec<_> = (0..n)
        .map(|i| {
            let mut s = span("f", i * 100, 1000);
            s.branch = Some(branches[(i % branches.len() as u64) as usize].to_owned().into());
            s
        })
        .collect();
    only(&score_of(&spans)).clone()
}

#[test]
fn one_branch_has_no_entropy_and_uniform_branches_have_full_entropy() {
    let one = branched(&["hit"], 90);
    assert_eq!(one.row.scores.be, Some(1.0));
    assert_eq!(one.branches.len(), 1);
    let uniform = branched(&["a", "b", "c"], 90);
    assert!(uniform.row.scores.be.unwrap().abs() < 1e-12);
    assert_eq!(uniform.branches.len(), 3);
    assert!(uniform.branches.iter().all(|b| b.calls == 30 && b.scores.be.is_none()));
    // p = (2/3, 1/3): BE = 1 − H/ln 2
    let skewed = branched(&["a", "a", "b"], 90);
    let h = -(2.0f64 / 3.0) * (2.0f64 / 3.0).ln() - (1.0f64 / 3.0) * (1.0f64 / 3.0).ln();
    assert!((skewed.row.scores.be.unwrap() - (1.0 - h / 2f64.ln())).abs() < 1e-9);
}

#[test]
fn memory_is_not_measured_without_allocation_figures() {
    let spans: Vec<_> = (0..10).map(|i| span("f", i * 100, 1000)).collect();
    assert_eq!(only(&score_of(&spans)).row.scores.ms, None);
    let steady: Vec<_> = (0..10)
        .map(|i| {
            let mut s = span("f", i * 100, 1000);
            s.alloc_bytes = Some(4096);
            s.alloc_peak = Some(4096);
            s
        })
        .collect();
    assert_eq!(only(&score_of(&steady)).row.scores.ms, Some(1.0));
    let growing: Vec<_> = (0..10)
        .map(|i| {
            let mut s = span("f", i * 100, 1000);
            s.alloc_bytes = Some(if i % 2 == 0 { 100 } else { 100_000 });
            s
        })
        .collect();
    let ms = only(&score_of(&growing)).row.scores.ms.unwrap();
    assert!(ms < 0.6, "{ms}");
}

#[test]
fn concurrency_uses_waits_pending_polls_and_runtime_lag() {
    let sync: Vec<_> = (0..10).map(|i| span("f", i * 100, 1000)).collect();
    assert_eq!(only(&score_of(&sync)).row.scores.cc, None);
    let steady: Vec<_> = (0..10)
        .map(|i| {
            let mut s = span("f", i * 10_000, 5000);
            s.polls = 2;
            s.pending_polls = 1;
            s.busy_ns = 1000;
            s
        })
        .collect();
    assert_eq!(only(&score_of(&steady)).row.scores.cc, Some(1.0));
    let mut lagged = steady.clone();
    for i in 0..10 {
        let mut l = span(RUNTIME_LAG_SPAN, i * 10_000, 10_000_000);
        l.trace_id = TraceId(99);
        lagged.push(l);
    }
    let r = score_of(&lagged);
    let cc = only(&r).row.scores.cc.unwrap();
    // lag p95 = tolerance => the lag term is ½, the other two are 1.
    assert!((cc - (1.0 + 1.0 + 0.5) / 3.0).abs() < 0.01, "{cc}");
    assert_eq!(r.runtime_lag.unwrap().samples, 10);
}

#[test]
fn weights_are_configurable() {
    let spans: Vec<_> = (0..100)
        .map(|i| {
            let mut s = span("f", i * 100, 1000);
            if i % 2 == 0 {
                s.status.code = StatusCode::Error;
            }
            s
        })
        .collect();
    let mut scorer = Scorer::with_config(ScoreConfig {
        weights: Weights { ts: 1.0, ms: 0.0, ev: 0.0, be: 0.0, cc: 0.0 },
        ..Default::default()
    });
    spans.iter().for_each(|s| scorer.add(s));
    assert_eq!(scorer.finish().functions[0].row.score, 100.0);
    let default = report(&spans).functions[0].row.score;
    assert!(default < 100.0);
}

#[test]
fn functions_are_sorted_worst_first_and_printed_aligned() {
    let mut spans: Vec<_> = (0..50).map(|i| span("good", i * 100, 1000)).collect();
    for i in 0..50 {
        let mut s = span("bad", i * 100, 1000 + (i % 7) * 50_000);
        if i % 3 == 0 {
            s.status.code = StatusCode::Error;
        }
        s.branch = Some(if i % 2 == 0 { "hit".into() } else { "miss".into() });
        spans.push(s);
    }
    let r = report(&spans);
    assert_eq!(r.functions[0].row.name, "bad");
    assert_eq!(r.functions[1].row.name, "good");
    let text = r.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("score"), "{text}");
    assert!(lines[1].contains("bad") && lines[2].contains("└─ ") && lines[4].contains("good"), "{text}");
    let widths: Vec<usize> = lines[..5].iter().map(|l| l.chars().count()).collect();
    assert!(widths.windows(2).all(|w| w[0] == w[1]), "aligned columns:\n{text}");
    let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(json["functions"][0]["name"], "bad");
    assert_eq!(json["functions"][0]["branches"].as_array().unwrap().len(), 2);
    assert!(json["functions"][1]["scores"]["ms"].is_null());
}

#[test]
fn the_slowest_traces_keep_their_children() {
    let mut spans = Vec::new();
    for t in 0..20u64 {
        let trace = TraceId(u128::from(t) + 1);
        let root_id = SpanId(t * 100 + 1);
        let mut child = span("child", t * 1_000_000 + 10, 100 + t * 10);
        child.trace_id = trace;
        child.span_id = SpanId(t * 100 + 2);
        child.parent_span_id = root_id;
        let mut root = span("root", t * 1_000_000, 1000 + t * 100);
        root.trace_id = trace;
        root.span_id = root_id;
        spans.push(child);
        spans.push(root);
    }
    let r = report(&spans);
    assert_eq!(r.slowest_traces.len(), SLOWEST_TRACES);
    assert_eq!(r.slowest_traces[0].duration_ns, 1000 + 19 * 100);
    let w = &r.slowest_traces[0];
    assert_eq!(w.spans.len(), 2);
    assert_eq!((w.spans[0].name.as_str(), w.spans[0].depth), ("root", 0));
    assert_eq!((w.spans[1].name.as_str(), w.spans[1].depth, w.spans[1].offset_ns), ("child", 1, 10));
}

#[test]
fn timeline_grows_by_merging_bins_and_keeps_every_call() {
    let spans: Vec<_> = (0..10_000u64)
        .map(|i| {
            let mut s = span("f", i * 1_000_000_000, 1000);
            if i % 100 == 0 {
                s.status.code = StatusCode::Error;
            }
            s
        })
        .collect();
    let r = report(&spans);
    let tl = &r.functions[0].timeline;
    assert_eq!(tl.len(), TIMELINE_BINS);
    assert_eq!(tl.iter().map(|b| u64::from(b[0])).sum::<u64>(), 10_000);
    assert_eq!(tl.iter().map(|b| u64::from(b[1])).sum::<u64>(), 100);
    assert!(r.timeline.bin_ns as u128 * TIMELINE_BINS as u128 >= 9_999_000_000_000);
}

#[test]
fn html_is_self_contained_and_lists_every_row() {
    let spans: Vec<_> = (0..20)
        .map(|i| {
            let mut s = span("<script>", i * 100, 1000);
            s.branch = Some(if i % 2 == 0 { "a".into() } else { "b".into() });
            s
        })
        .collect();
    let html = report(&spans).to_html();
    assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"));
    assert_eq!(html.matches("<tr class=\"fn\"").count(), 1);
    assert_eq!(html.matches("<tr class=\"branch\"").count(), 2);
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("<link"));
}
