//! Makes N spans on the calling thread so the hot path can be counted with
//! `valgrind --tool=callgrind` (instruction counts do not depend on machine load).
//!
//! `cargo build --release -p tracewell --example hotpath &&
//!  valgrind --tool=callgrind target/release/examples/hotpath sampled 100000`
//!
//! Modes: `sampled` and `unsampled` (N calls of `add`), `macro` (N calls of `#[traced] add`), `iter` and `stream` (one traced call
//! yielding N items). The difference of two runs with different N is the cost per call or item.

use std::hint::black_box;

use tracewell::__private::{Callsite, enter};
use tracewell::{SpanContext, SpanId, TraceId, Value};

static ADD: Callsite = Callsite::new("add", module_path!(), &["a", "b"]);

#[inline(never)]
fn add(a: u64, b: u64) -> u64 {
    let mut span = enter(&ADD);
    if span.is_recording() {
        span.__input(0, |_| Value::U64(a));
        span.__input(1, |_| Value::U64(b));
    }
    let out = black_box(a) + black_box(b);
    span.__output(|_| Value::U64(out));
    out
}

#[tracewell::traced]
#[inline(never)]
fn traced_add(a: u64, b: u64) -> u64 {
    black_box(a) + black_box(b)
}

#[tracewell::traced]
fn numbers(n: u64) -> impl Iterator<Item = u64> {
    0..n
}

#[tracewell::traced]
fn number_stream(n: u64) -> impl futures_core::Stream<Item = u64> {
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

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "sampled".into());
    let n: u64 = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let _g = tracewell::builder()
        .exporter(tracewell::export::NullExporter)
        .max_queue_size(n as usize + 1)
        .install()
        .expect("install");
    let _root = (mode == "unsampled")
        .then(|| tracewell::span("root").parent(SpanContext::remote(TraceId(1), SpanId(1), false)).start());
    let t = std::time::Instant::now();
    match mode.as_str() {
        // One traced call yielding `n` items: the per-item cost.
        "iter" => {
            black_box(numbers(n).map(black_box).sum::<u64>());
        }
        "stream" => {
            black_box(sum_stream(number_stream(n)));
        }
        // The same function with `#[traced]` instead of written out.
        "macro" => {
            for i in 0..n {
                black_box(traced_add(i, 1));
            }
        }
        _ => {
            for i in 0..n {
                black_box(add(i, 1));
            }
        }
    }
    let el = t.elapsed();
    eprintln!("{mode}: {:.1} ns/span on the calling thread", el.as_nanos() as f64 / n as f64);
}
