//! OTLP/gRPC export throughput, side by side: tracewell's `OtlpGrpcExporter` and
//! opentelemetry-otlp's tonic `SpanExporter`, both sending to the same counting receiver
//! (tonic's `TraceService` server decoding every request in full) in the same run.
//!
//! Each iteration exports one batch of 512 spans shaped like `#[traced]` output (two inputs, a
//! structured output, a tag, a branch, a parent). opentelemetry-otlp is given the same spans as
//! `opentelemetry_sdk::trace::SpanData`: the same attribute keys and values (the structured
//! output, which its `Value` cannot hold, as its JSON text), the same scope and a resource with
//! the same `service.name`. Its `export` takes the batch by value, as the SDK's batch processor
//! hands it over; the copy made for each call is not timed.
//!
//! After the criterion group, each exporter sends about 1M spans (2048 batches, the two
//! alternating batch by batch) and the spans/s of both are printed. The receiver's counts are
//! checked against what each exporter sent, for the criterion runs and for the 1M spans.
//!
//! Both exporters and the receiver share the machine: on 2 cores the receiver's decoding
//! competes with the exporter for CPU, and each export waits for the receiver's answer.
//!
//! Run: `cargo bench -p tracewell-tests --bench export_otlp`

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use criterion::{Criterion, Throughput, criterion_group};
use opentelemetry::trace::{SpanContext, SpanKind as OtelKind, Status, TraceFlags, TraceState};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value as OtelValue};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData as OtelSpan, SpanEvents, SpanExporter as _, SpanLinks};
use tracewell::export::{Exporter, OtlpGrpcExporter};
use tracewell::{SpanData, SpanKind, Value};
use tracewell_tests::bench_batch;
use tracewell_tests::receiver::{CountingReceiver, Receiver};

const BATCH: usize = 512;
/// Batches per exporter in the ~1M-span run.
const MILLION_BATCHES: usize = 2048;
const SERVICE: &str = "bench";

/// A `&'static str` for each distinct key, as instrumentation code has its keys.
#[derive(Default)]
struct Keys(HashMap<String, &'static str>);

impl Keys {
    fn get(&mut self, k: &str) -> &'static str {
        self.0.entry(k.to_owned()).or_insert_with(|| Box::leak(k.to_owned().into_boxed_str()))
    }
}

/// Static text stays static, as in tracewell's value.
fn otel_string(s: Cow<'static, str>) -> StringValue {
    match s {
        Cow::Borrowed(b) => StringValue::from(b),
        Cow::Owned(o) => StringValue::from(o),
    }
}

/// The closest `opentelemetry::Value` to a tracewell value; maps (and mixed lists) as JSON text.
fn otel_value(v: &Value) -> OtelValue {
    match v {
        Value::Bool(b) => OtelValue::Bool(*b),
        Value::I64(i) => OtelValue::I64(*i),
        Value::U64(u) => i64::try_from(*u).map(OtelValue::I64).unwrap_or_else(|_| OtelValue::from(u.to_string())),
        Value::F64(f) => OtelValue::F64(*f),
        Value::Str(s) => OtelValue::String(otel_string(s.clone())),
        Value::List(l) if l.iter().all(|x| matches!(x, Value::Str(_))) => OtelValue::Array(Array::String(
            l.iter().filter_map(|x| if let Value::Str(s) = x { Some(otel_string(s.clone())) } else { None }).collect(),
        )),
        other => OtelValue::from(other.to_json().to_string()),
    }
}

/// The same spans as opentelemetry-sdk `SpanData`.
fn otel_batch(batch: &[SpanData]) -> Vec<OtelSpan> {
    let mut keys = Keys::default();
    batch
        .iter()
        .map(|s| {
            let mut attributes = Vec::new();
            s.for_each_flat_attribute(|k, v| attributes.push(KeyValue::new(keys.get(&k), otel_value(v))));
            let at = |ns: u64| SystemTime::UNIX_EPOCH + Duration::from_nanos(ns);
            assert_eq!(s.kind, SpanKind::Internal);
            OtelSpan {
                span_context: SpanContext::new(
                    opentelemetry::trace::TraceId::from_bytes(s.trace_id.to_bytes()),
                    opentelemetry::trace::SpanId::from_bytes(s.span_id.to_bytes()),
                    TraceFlags::new(s.trace_flags),
                    false,
                    TraceState::default(),
                ),
                parent_span_id: opentelemetry::trace::SpanId::from_bytes(s.parent_span_id.to_bytes()),
                parent_span_is_remote: s.parent_is_remote,
                span_kind: OtelKind::Internal,
                name: s.name.clone(),
                start_time: at(s.start_time_unix_nano),
                end_time: at(s.end_time_unix_nano),
                attributes,
                dropped_attributes_count: 0,
                events: SpanEvents::default(),
                links: SpanLinks::default(),
                status: Status::Unset,
                instrumentation_scope: InstrumentationScope::builder(s.target.clone()).build(),
            }
        })
        .collect()
}

/// Both exporters, set up alike (no compression, 10 s timeout, lazy connection).
struct Contenders {
    rt: tokio::runtime::Runtime,
    tracewell: OtlpGrpcExporter,
    otel: opentelemetry_otlp::SpanExporter,
}

impl Contenders {
    fn new(endpoint: &str) -> Contenders {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let tracewell = OtlpGrpcExporter::new(endpoint).expect("endpoint").service_name(SERVICE);
        // tonic's channel spawns its connection task on the runtime it is built in.
        let mut otel = {
            let _in_rt = rt.enter();
            opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .with_timeout(Duration::from_secs(10))
                .build()
                .expect("opentelemetry-otlp exporter")
        };
        otel.set_resource(&Resource::builder().with_service_name(SERVICE).build());
        Contenders { rt, tracewell, otel }
    }

    fn tracewell(&mut self, batch: &[SpanData]) -> Duration {
        let t = Instant::now();
        self.rt.block_on(self.tracewell.export(batch)).expect("tracewell export succeeds");
        t.elapsed()
    }

    fn otel(&mut self, batch: &[OtelSpan]) -> Duration {
        let owned = batch.to_vec();
        let t = Instant::now();
        self.rt.block_on(self.otel.export(owned)).expect("opentelemetry-otlp export succeeds");
        t.elapsed()
    }
}

/// Sends one batch from each exporter to a receiver that keeps what it decodes, and checks that
/// both arrive as the same spans with the same attribute keys; prints their encoded sizes.
fn check_equivalent(batch: &[SpanData], otel: &[OtelSpan]) {
    use prost::Message;
    let rx = Receiver::grpc();
    let mut c = Contenders::new(&rx.endpoint());
    c.tracewell(batch);
    let ours = rx.spans();
    c.otel(otel);
    let all = rx.spans();
    let theirs = &all[ours.len()..];
    assert_eq!((ours.len(), theirs.len()), (batch.len(), batch.len()));
    for (a, b) in ours.iter().zip(theirs) {
        assert_eq!((&a.span.trace_id, &a.span.span_id), (&b.span.trace_id, &b.span.span_id));
        assert_eq!(a.span.parent_span_id, b.span.parent_span_id);
        assert_eq!((&a.span.name, a.span.kind), (&b.span.name, b.span.kind));
        assert_eq!(
            (a.scope.as_str(), a.resource_str("service.name")),
            (b.scope.as_str(), b.resource_str("service.name"))
        );
        let keys = |r: &tracewell_tests::receiver::Received| {
            r.span.attributes.iter().map(|kv| kv.key.clone()).collect::<Vec<_>>()
        };
        assert_eq!(keys(a), keys(b));
    }
    let size = |r: &[tracewell_tests::receiver::Received]| r.iter().map(|r| r.span.encoded_len()).sum::<usize>();
    println!(
        "encoded spans per batch of {}: tracewell {} bytes, opentelemetry-otlp {} bytes",
        batch.len(),
        size(&ours),
        size(theirs)
    );
}

fn otlp_grpc(c: &mut Criterion) {
    let batch = bench_batch(BATCH);
    let otel = otel_batch(&batch);
    check_equivalent(&batch, &otel);

    let rx = CountingReceiver::grpc();
    let mut exporters = Contenders::new(&rx.endpoint());
    let mut g = c.benchmark_group("export_otlp_grpc_512_spans");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(5));

    let (mut sent, before) = (0u64, rx.spans());
    g.bench_function("tracewell", |b| {
        b.iter_custom(|iters| {
            sent += iters * BATCH as u64;
            (0..iters).map(|_| exporters.tracewell(&batch)).sum()
        })
    });
    assert_eq!(rx.spans() - before, sent, "the receiver counted what tracewell sent");

    let (mut sent, before) = (0u64, rx.spans());
    g.bench_function("opentelemetry_otlp", |b| {
        b.iter_custom(|iters| {
            sent += iters * BATCH as u64;
            (0..iters).map(|_| exporters.otel(&otel)).sum()
        })
    });
    assert_eq!(rx.spans() - before, sent, "the receiver counted what opentelemetry-otlp sent");
    g.finish();
    // `cargo bench` passes `--bench`; without it criterion only checks that each benchmark runs.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }

    // About 1M spans from each, a batch from one then a batch from the other, so a change in
    // the machine's load falls on both alike.
    let total = (MILLION_BATCHES * BATCH) as u64;
    let (mut ours, mut theirs) = (Duration::ZERO, Duration::ZERO);
    let (mut ours_cpu, mut theirs_cpu) = (0u64, 0u64);
    let mut counted = (0, 0);
    for _ in 0..MILLION_BATCHES {
        let before = rx.spans();
        let cpu = thread_cpu_ns();
        ours += exporters.tracewell(&batch);
        let middle = rx.spans();
        let cpu_middle = thread_cpu_ns();
        theirs += exporters.otel(&otel);
        ours_cpu += cpu_middle - cpu;
        theirs_cpu += thread_cpu_ns() - cpu_middle;
        counted.0 += middle - before;
        counted.1 += rx.spans() - middle;
    }
    assert_eq!(counted, (total, total), "the receiver counted what tracewell and opentelemetry-otlp sent");
    assert_eq!(rx.bad_ids(), 0, "every span arrived with 16-byte trace and 8-byte span ids");
    let rate = |d: Duration| total as f64 / d.as_secs_f64();
    println!(
        "{total} spans each: tracewell {:.2} s ({:.0} spans/s), opentelemetry-otlp {:.2} s ({:.0} spans/s), ratio {:.2}x",
        ours.as_secs_f64(),
        rate(ours),
        theirs.as_secs_f64(),
        rate(theirs),
        rate(ours) / rate(theirs)
    );
    println!("receiver: {} spans in {} requests, all counted", rx.spans(), rx.requests());
    // The exporters' whole client side (encoding, tonic's connection task, the socket writes)
    // runs on this thread's current-thread runtime: its CPU time is what exporting costs the
    // process, whatever the receiver does.
    let per_span = |ns: u64| ns as f64 / total as f64;
    println!(
        "exporting thread CPU per span: tracewell {:.0} ns, opentelemetry-otlp {:.0} ns, ratio {:.2}x",
        per_span(ours_cpu),
        per_span(theirs_cpu),
        theirs_cpu as f64 / ours_cpu as f64
    );
}

/// CPU time this thread has run, in nanoseconds (`/proc/thread-self/schedstat`, Linux).
fn thread_cpu_ns() -> u64 {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").expect("Linux /proc/thread-self/schedstat");
    text.split_whitespace().next().and_then(|n| n.parse().ok()).expect("schedstat starts with the run time in ns")
}

/// `EXPORT_OTLP_PROFILE=tracewell:N` (or `opentelemetry_otlp:N`): only N batches from one
/// exporter, no criterion, for `valgrind --tool=callgrind`.
fn profile(spec: &str) {
    let (who, n) = spec.split_once(':').unwrap_or((spec, "200"));
    let n: usize = n.parse().expect("EXPORT_OTLP_PROFILE=who:batches");
    let batch = bench_batch(BATCH);
    let otel = otel_batch(&batch);
    let rx = CountingReceiver::grpc();
    let mut exporters = Contenders::new(&rx.endpoint());
    let took: Duration = match who {
        "tracewell" => (0..n).map(|_| exporters.tracewell(&batch)).sum(),
        "opentelemetry_otlp" => (0..n).map(|_| exporters.otel(&otel)).sum(),
        _ => panic!("EXPORT_OTLP_PROFILE names tracewell or opentelemetry_otlp"),
    };
    assert_eq!(rx.spans(), (n * BATCH) as u64);
    println!("{who}: {n} batches in {:.3} s", took.as_secs_f64());
}

criterion_group!(benches, otlp_grpc);

fn main() {
    if let Ok(spec) = std::env::var("EXPORT_OTLP_PROFILE") {
        profile(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
