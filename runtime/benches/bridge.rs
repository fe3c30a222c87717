//! A `tracing` span bridged into tracewell, side by side in one run with the same span through
//! `tracing-opentelemetry` + batch processor and through `tracing` + registry alone. Every span
//! is `info_span!` with two integer fields, entered, exited and closed; exporters count.
//!
//! Run: `cargo bench -p tracewell --features tracing --bench bridge`

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

mod common;

use common::{Count, OtelNoop};
use criterion::{Criterion, criterion_group, criterion_main};
use tracing_subscriber::layer::{Context, SubscriberExt as _};

/// For scale: the least a layer that keeps per-span state in the registry's extensions does (one
/// insert, a lookup at enter and exit, a removal at close), with nothing recorded.
struct ExtensionsOnly;

impl<S> tracing_subscriber::Layer<S> for ExtensionsOnly
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(&self, _: &tracing::span::Attributes<'_>, id: &tracing::span::Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(0u64);
        }
    }
    fn on_enter(&self, id: &tracing::span::Id, ctx: Context<'_, S>) {
        if let Some(n) = ctx.span(id).as_ref().map(|s| s.extensions_mut()).as_mut().and_then(|e| e.get_mut::<u64>()) {
            *n += 1;
        }
    }
    fn on_exit(&self, id: &tracing::span::Id, ctx: Context<'_, S>) {
        if let Some(n) = ctx.span(id).as_ref().map(|s| s.extensions_mut()).as_mut().and_then(|e| e.get_mut::<u64>()) {
            *n += 1;
        }
    }
    fn on_close(&self, id: tracing::span::Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id) {
            black_box(span.extensions_mut().remove::<u64>());
        }
    }
}

/// The measured work: a span with two fields, entered, exited and closed.
#[inline(never)]
fn info_span_two_fields(a: u64, b: u64) {
    tracing::info_span!("request", a, b).in_scope(|| black_box(()));
}

fn bridge(c: &mut Criterion) {
    let tw_count = Arc::new(AtomicU64::new(0));
    let guard = tracewell::builder()
        .exporter(Count(tw_count.clone()))
        .scheduled_delay(Duration::from_millis(100))
        .install()
        .expect("install tracewell");

    let mut g = c.benchmark_group("bridge");
    {
        let sub = tracing_subscriber::registry().with(tracewell::bridge::tracing_layer());
        tracing::subscriber::with_default(sub, || {
            g.bench_function("tracewell_layer", |b| b.iter(|| info_span_two_fields(black_box(1), black_box(2))));
        });
    }
    {
        use opentelemetry::trace::TracerProvider as _;
        let n = Arc::new(AtomicU64::new(0));
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_span_processor(opentelemetry_sdk::trace::BatchSpanProcessor::builder(OtelNoop(n.clone())).build())
            .build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
        let sub = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(sub, || {
            g.bench_function("tracing_opentelemetry_batch", |b| {
                b.iter(|| info_span_two_fields(black_box(1), black_box(2)))
            });
        });
        let _ = provider.force_flush();
        eprintln!("tracing-opentelemetry exported {} spans", n.load(Ordering::Relaxed));
        let _ = provider.shutdown();
    }
    {
        let sub = tracing_subscriber::registry();
        tracing::subscriber::with_default(sub, || {
            g.bench_function("tracing_registry", |b| b.iter(|| info_span_two_fields(black_box(1), black_box(2))));
        });
    }
    {
        let sub = tracing_subscriber::registry().with(ExtensionsOnly);
        tracing::subscriber::with_default(sub, || {
            g.bench_function("tracing_registry_extensions_only", |b| {
                b.iter(|| info_span_two_fields(black_box(1), black_box(2)))
            });
        });
    }
    // For scale: the tracewell span underneath the bridged one, made by hand.
    g.bench_function("tracewell_span_two_attributes", |b| {
        b.iter(|| {
            let mut span = tracewell::span("request").start();
            span.set_attribute("a", black_box(1u64));
            span.set_attribute("b", black_box(2u64));
        })
    });
    g.finish();
    tracewell::flush();
    let s = tracewell::stats();
    eprintln!(
        "tracewell: submitted={} exported={} dropped_queue_full={} (counting exporter saw {})",
        s.submitted,
        s.exported,
        s.dropped_queue_full,
        tw_count.load(Ordering::Relaxed)
    );
    drop(guard);
}

criterion_group!(benches, bridge);
criterion_main!(benches);
