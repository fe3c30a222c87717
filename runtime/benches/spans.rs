//! Per-span cost and throughput of tracewell, side by side with fastrace and `tracing` in the
//! same run. Every contender exports to a counting sink so nothing is formatted or written.
//!
//! Run: `cargo bench -p tracewell --bench spans`

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod common;

use common::{Count, OtelNoop};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tracewell::__private::{Callsite, enter};
use tracewell::{SpanContext, SpanId, TraceId, Value};

// ---------- tracewell: what `#[traced] fn add(a: u64, b: u64) -> u64` expands to ----------

static ADD: Callsite = Callsite::new("add", module_path!(), &["a", "b"]);

#[inline(never)]
fn tw_add(a: u64, b: u64) -> u64 {
    let mut span = enter(&ADD);
    if span.is_recording() {
        span.__input(0, |_| Value::U64(a));
        span.__input(1, |_| Value::U64(b));
    }
    let out = black_box(a) + black_box(b);
    span.__output(|_| Value::U64(out));
    out
}

#[inline(never)]
fn tw_add_skip_all(a: u64, b: u64) -> u64 {
    static CS: Callsite = Callsite::new("add_skip", module_path!(), &[]);
    let _span = enter(&CS);
    black_box(a) + black_box(b)
}

#[tracewell::traced]
#[inline(never)]
fn traced_add(a: u64, b: u64) -> u64 {
    black_box(a) + black_box(b)
}

#[tracewell::traced(skip_all)]
#[inline(never)]
fn traced_add_skip_all(a: u64, b: u64) -> u64 {
    black_box(a) + black_box(b)
}

#[tracewell::traced]
async fn traced_add_async(a: u64, b: u64) -> u64 {
    black_box(a) + black_box(b)
}

#[tracing::instrument]
async fn tr_add_async(a: u64, b: u64) -> u64 {
    black_box(a) + black_box(b)
}

/// Polls a future once with a no-op waker (every future here is ready at its first poll).
fn poll_once<F: std::future::Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => unreachable!("ready at the first poll"),
    }
}

#[tracewell::traced]
fn traced_numbers(n: u64) -> impl Iterator<Item = u64> {
    0..n
}

fn plain_numbers(n: u64) -> impl Iterator<Item = u64> {
    0..n
}

#[tracewell::traced]
fn traced_number_stream(n: u64) -> impl futures_core::Stream<Item = u64> {
    futures_util::stream::iter(0..n)
}

fn plain_number_stream(n: u64) -> impl futures_core::Stream<Item = u64> {
    futures_util::stream::iter(0..n)
}

/// Drains a stream that never returns `Pending`.
fn sum_stream<S: futures_core::Stream<Item = u64>>(s: S) -> u64 {
    let mut s = std::pin::pin!(s);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut total = 0;
    while let std::task::Poll::Ready(Some(v)) = s.as_mut().poll_next(&mut cx) {
        total += black_box(v);
    }
    total
}

#[inline(never)]
fn plain_add(a: u64, b: u64) -> u64 {
    black_box(a) + black_box(b)
}

// ---------- fastrace ----------

#[fastrace::trace]
#[inline(never)]
fn fr_add(a: u64, b: u64) -> u64 {
    black_box(a) + black_box(b)
}

struct FrCount(Arc<AtomicU64>);

impl fastrace::collector::Reporter for FrCount {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        self.0.fetch_add(spans.len() as u64, Ordering::Relaxed);
    }
}

/// Runs `iters` fastrace child spans under roots of 1000 children each (fastrace keeps every
/// child of a live root in memory until the root ends).
fn fastrace_children(iters: u64) -> Duration {
    let start = Instant::now();
    let mut left = iters;
    while left > 0 {
        let n = left.min(1000);
        let root = fastrace::Span::root("root", fastrace::collector::SpanContext::random());
        {
            let _g = root.set_local_parent();
            for i in 0..n {
                black_box(fr_add(i, 1));
            }
        }
        drop(root);
        left -= n;
    }
    start.elapsed()
}

// ---------- tracing ----------

#[tracing::instrument]
#[inline(never)]
fn tr_add(a: u64, b: u64) -> u64 {
    black_box(a) + black_box(b)
}

struct CloseCount(Arc<AtomicU64>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CloseCount {
    fn on_close(&self, _id: tracing::span::Id, _ctx: tracing_subscriber::layer::Context<'_, S>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// One pipeline for the whole run (the benchmark groups share it), exporting to a counter.
fn install_tracewell() -> Arc<AtomicU64> {
    static STATE: std::sync::OnceLock<(tracewell::Guard, Arc<AtomicU64>)> = std::sync::OnceLock::new();
    let (_, count) = STATE.get_or_init(|| {
        let count = Arc::new(AtomicU64::new(0));
        let guard = tracewell::builder()
            .exporter(Count(count.clone()))
            .scheduled_delay(Duration::from_millis(100))
            .install()
            .expect("install tracewell");
        (guard, count)
    });
    count.clone()
}

fn per_call(c: &mut Criterion) {
    let tw_count = install_tracewell();
    let fr_count = Arc::new(AtomicU64::new(0));
    fastrace::set_reporter(FrCount(fr_count.clone()), fastrace::collector::Config::default());

    let mut g = c.benchmark_group("span");
    g.bench_function("plain_call", |b| b.iter(|| plain_add(black_box(1), black_box(2))));
    g.bench_function("tracewell_add_args_output", |b| b.iter(|| tw_add(black_box(1), black_box(2))));
    g.bench_function("traced_add_args_output", |b| b.iter(|| traced_add(black_box(1), black_box(2))));
    g.bench_function("traced_add_skip_all", |b| b.iter(|| traced_add_skip_all(black_box(1), black_box(2))));
    g.bench_function("traced_async_add_polled_once", |b| {
        b.iter(|| poll_once(traced_add_async(black_box(1), black_box(2))))
    });
    g.bench_function("tracewell_add_skip_all", |b| b.iter(|| tw_add_skip_all(black_box(1), black_box(2))));
    g.bench_function("tracewell_add_unsampled", |b| {
        let parent = SpanContext::remote(TraceId::random(), SpanId::random(), false);
        let _root = tracewell::span("root").parent(parent).start();
        b.iter(|| tw_add(black_box(1), black_box(2)))
    });
    g.bench_function("fastrace_trace_child", |b| b.iter_custom(fastrace_children));
    {
        use tracing_subscriber::layer::SubscriberExt;
        let n = Arc::new(AtomicU64::new(0));
        let sub = tracing_subscriber::registry().with(CloseCount(n.clone()));
        tracing::subscriber::with_default(sub, || {
            g.bench_function("tracing_instrument_registry", |b| b.iter(|| tr_add(black_box(1), black_box(2))));
            g.bench_function("tracing_instrument_async_polled_once", |b| {
                b.iter(|| poll_once(tr_add_async(black_box(1), black_box(2))))
            });
        });
    }
    {
        use opentelemetry::trace::TracerProvider as _;
        use tracing_subscriber::layer::SubscriberExt;
        let n = Arc::new(AtomicU64::new(0));
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_span_processor(opentelemetry_sdk::trace::BatchSpanProcessor::builder(OtelNoop(n.clone())).build())
            .build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
        let sub = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(sub, || {
            g.bench_function("tracing_opentelemetry_batch", |b| b.iter(|| tr_add(black_box(1), black_box(2))));
        });
        let _ = provider.force_flush();
        let _ = provider.shutdown();
    }
    g.finish();
    fastrace::flush();
    tracewell::flush();
    let s = tracewell::stats();
    eprintln!(
        "tracewell per_call: submitted={} exported={} dropped_queue_full={} (counting exporter saw {})",
        s.submitted,
        s.exported,
        s.dropped_queue_full,
        tw_count.load(Ordering::Relaxed)
    );
}

/// Spans per second with 1 and 2 threads each making spans as fast as they can.
fn throughput(c: &mut Criterion) {
    let tw_count = install_tracewell();
    tracewell::flush();
    let before = tracewell::stats();
    let worker_before = worker_cpu_ns();
    let mut g = c.benchmark_group("throughput");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    for threads in [1u64, 2] {
        g.throughput(Throughput::Elements(threads));
        g.bench_with_input(BenchmarkId::new("tracewell", threads), &threads, |b, &threads| {
            b.iter_custom(|iters| {
                parallel(threads, iters, |n| {
                    (0..n).for_each(|i| {
                        black_box(tw_add(i, 1));
                    })
                })
            })
        });
        g.bench_with_input(BenchmarkId::new("fastrace", threads), &threads, |b, &threads| {
            b.iter_custom(|iters| {
                parallel(threads, iters, |n| {
                    fastrace_children(n);
                })
            })
        });
    }
    g.finish();
    fastrace::flush();
    tracewell::flush();
    let s = tracewell::stats();
    let exported = s.exported - before.exported;
    eprintln!(
        "tracewell throughput runs: submitted={} exported={exported} dropped_queue_full={} dropped_export_failed={} (counting exporter total {})",
        s.submitted - before.submitted,
        s.dropped_queue_full - before.dropped_queue_full,
        s.dropped_export_failed - before.dropped_export_failed,
        tw_count.load(Ordering::Relaxed)
    );
    // The worker's own CPU time over the spans it handed to the exporter in this group (the
    // fastrace runs in between make no tracewell spans): what one span costs off the caller.
    if let (Some(a), Some(b)) = (worker_before, worker_cpu_ns()) {
        eprintln!(
            "tracewell worker thread: {:.1} ms CPU for {exported} spans = {:.1} ns of worker CPU per span",
            (b - a) as f64 / 1e6,
            (b - a) as f64 / exported.max(1) as f64
        );
    }
}

/// CPU time (ns) of the pipeline's worker thread so far, from `/proc/self/task/*/schedstat`
/// (Linux; `None` elsewhere). The kernel truncates thread names to 15 bytes.
fn worker_cpu_ns() -> Option<u64> {
    std::fs::read_dir("/proc/self/task").ok()?.flatten().find_map(|t| {
        let comm = std::fs::read_to_string(t.path().join("comm")).ok()?;
        if !"tracewell-worker".starts_with(comm.trim()) || comm.trim().len() < 15 {
            return None;
        }
        std::fs::read_to_string(t.path().join("schedstat")).ok()?.split_whitespace().next()?.parse().ok()
    })
}

fn parallel(threads: u64, iters: u64, work: fn(u64)) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(move || work(iters));
        }
    });
    start.elapsed()
}

/// Per-item cost of a traced iterator and stream over 1000 items, against the same untraced.
fn items(c: &mut Criterion) {
    install_tracewell();
    let mut g = c.benchmark_group("items_1000");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("iter_plain", |b| b.iter(|| plain_numbers(black_box(1000)).map(black_box).sum::<u64>()));
    g.bench_function("iter_traced", |b| b.iter(|| traced_numbers(black_box(1000)).map(black_box).sum::<u64>()));
    g.bench_function("stream_plain", |b| b.iter(|| sum_stream(plain_number_stream(black_box(1000)))));
    g.bench_function("stream_traced", |b| b.iter(|| sum_stream(traced_number_stream(black_box(1000)))));
    g.finish();
}

criterion_group!(benches, per_call, items, throughput);
criterion_main!(benches);
