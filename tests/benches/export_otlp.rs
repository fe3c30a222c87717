//! OTLP/gRPC export throughput, side by side: tracewell's `OtlpGrpcExporter` and
//! opentelemetry-otlp's tonic `SpanExporter`, both sending to the same counting receiver
//! (tonic's `TraceService` server decoding every request in full) in the same run.
//!
//! Each batch is 512 spans shaped like `#[traced]` output (two inputs, a structured output, a
//! tag, a branch, a parent). opentelemetry-otlp is given the same spans as
//! `opentelemetry_sdk::trace::SpanData`: the same attribute keys and values (the structured
//! output, which its `Value` cannot hold, as its JSON text), the same scope and a resource with
//! the same `service.name`. Its `export` takes the batch by value, as the SDK's batch processor
//! hands it over; the copies are made before the clock starts.
//!
//! tracewell runs twice: with its default of 4 requests in flight, and with 1 (each export waits
//! for its answer, as opentelemetry-otlp's does). A measurement of N batches ends when the last
//! of them has been answered (`flush`), so it covers the requests in flight too.
//!
//! After the criterion group, each of the three sends about 1M spans (2048 batches, in chunks of
//! 16 taking turns) to three receivers: decoding on one thread; on two threads, as a collector
//! uses every core; and on two threads answering 2 ms after decoding, as a collector a network hop
//! away. Printed: spans/s, the ratio to opentelemetry-otlp, and the CPU time per span of the
//! exporter's threads and of the receiver's. The receiver's counts are checked against what each
//! exporter sent, for the criterion runs and for the 1M spans.
//!
//! Exporters and receiver share the machine: on 2 cores the receiver's decoding competes with the
//! exporter for CPU.
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
use tracewell::export::{Exporter, OtlpGrpcExporter, Settled};
use tracewell::{SpanData, SpanKind, Value};
use tracewell_tests::bench_batch;
use tracewell_tests::receiver::{CountingReceiver, RECEIVER_THREAD, Receiver};

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

/// The exporters, set up alike (no compression, 10 s timeout, lazy connection): tracewell with
/// its default of 4 requests in flight, tracewell with 1 (each export waits for its answer, as
/// opentelemetry-otlp's does), and opentelemetry-otlp.
struct Contenders {
    rt: tokio::runtime::Runtime,
    tracewell: OtlpGrpcExporter,
    tracewell_one: OtlpGrpcExporter,
    otel: opentelemetry_otlp::SpanExporter,
}

/// Who sends a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Tracewell,
    TracewellOne,
    Otel,
}

impl Contenders {
    fn new(endpoint: &str) -> Contenders {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let tracewell = OtlpGrpcExporter::new(endpoint).expect("endpoint").service_name(SERVICE);
        let tracewell_one = OtlpGrpcExporter::new(endpoint).expect("endpoint").service_name(SERVICE).max_in_flight(1);
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
        Contenders { rt, tracewell, tracewell_one, otel }
    }

    /// Sends `n` batches and waits until the receiver has answered every one; the time taken.
    /// opentelemetry-otlp's copies of the batch (its `export` takes it by value) are made before
    /// the clock starts.
    fn send(&mut self, who: Who, n: usize, batch: &[SpanData], otel: &[OtelSpan]) -> Duration {
        match who {
            Who::Tracewell | Who::TracewellOne => {
                let e = if who == Who::Tracewell { &mut self.tracewell } else { &mut self.tracewell_one };
                // The records the batch worker would hand over, made before the clock starts.
                let records = tracewell::Batch::from_spans(batch);
                let t = Instant::now();
                for _ in 0..n {
                    self.rt.block_on(e.export(&records)).expect("tracewell export succeeds");
                }
                self.rt.block_on(e.flush()).expect("tracewell flush");
                let took = t.elapsed();
                let settled = e.take_settled();
                assert!(settled.iter().all(|s| matches!(s, Settled::Delivered)), "{settled:?}");
                took
            }
            Who::Otel => {
                let copies: Vec<Vec<OtelSpan>> = (0..n).map(|_| otel.to_vec()).collect();
                let t = Instant::now();
                for owned in copies {
                    self.rt.block_on(self.otel.export(owned)).expect("opentelemetry-otlp export succeeds");
                }
                t.elapsed()
            }
        }
    }
}

/// Sends one batch from each exporter to a receiver that keeps what it decodes, and checks that
/// both arrive as the same spans with the same attribute keys; prints their encoded sizes.
fn check_equivalent(batch: &[SpanData], otel: &[OtelSpan]) {
    use prost::Message;
    let rx = Receiver::grpc();
    let mut c = Contenders::new(&rx.endpoint());
    c.send(Who::Tracewell, 1, batch, otel);
    let ours = rx.spans();
    c.send(Who::Otel, 1, batch, otel);
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
    for (name, who) in [
        ("tracewell", Who::Tracewell),
        ("tracewell_one_in_flight", Who::TracewellOne),
        ("opentelemetry_otlp", Who::Otel),
    ] {
        let (mut sent, before) = (0u64, rx.spans());
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                sent += iters * BATCH as u64;
                exporters.send(who, iters as usize, &batch, &otel)
            })
        });
        assert_eq!(rx.spans() - before, sent, "the receiver counted what {name} sent");
    }
    g.finish();
    // `cargo bench` passes `--bench`; without it criterion only checks that each benchmark runs.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    drop((exporters, rx));
    million(&batch, &otel, "receiver decoding on 1 thread", CountingReceiver::grpc());
    million(&batch, &otel, "receiver decoding on 2 threads", CountingReceiver::grpc_with(2, Duration::ZERO));
    million(
        &batch,
        &otel,
        "receiver decoding on 2 threads, answering 2 ms later",
        CountingReceiver::grpc_with(2, Duration::from_millis(2)),
    );
}

/// About 1M spans from each contender to `rx`, in chunks of 16 batches taking turns, so a change
/// in the machine's load falls on all alike; each chunk is timed until its last answer, so no
/// contender's requests are still in flight while another's are timed. Prints spans/s and the
/// CPU time per span of the exporter's threads and of the receiver's.
fn million(batch: &[SpanData], otel: &[OtelSpan], label: &str, rx: CountingReceiver) {
    const CHUNK: usize = 16;
    let mut exporters = Contenders::new(&rx.endpoint());
    let all = [Who::Tracewell, Who::TracewellOne, Who::Otel];
    let (mut took, mut counted) = ([Duration::ZERO; 3], [0u64; 3]);
    let (mut cpu, mut rx_cpu) = ([0u64; 3], [0u64; 3]);
    for _ in 0..MILLION_BATCHES / CHUNK {
        for (i, who) in all.into_iter().enumerate() {
            let (before, cpu_before) = (rx.spans(), cpu_ns());
            took[i] += exporters.send(who, CHUNK, batch, otel);
            let cpu_after = cpu_ns();
            cpu[i] += cpu_after.0 - cpu_before.0;
            rx_cpu[i] += cpu_after.1 - cpu_before.1;
            counted[i] += rx.spans() - before;
        }
    }
    let total = (MILLION_BATCHES * BATCH) as u64;
    assert_eq!(counted, [total; 3], "the receiver counted what each sent");
    assert_eq!(rx.bad_ids(), 0, "every span arrived with 16-byte trace and 8-byte span ids");
    let rate = |d: Duration| total as f64 / d.as_secs_f64();
    println!("{total} spans each, {label}:");
    for (i, name) in ["tracewell", "tracewell, 1 in flight", "opentelemetry-otlp"].into_iter().enumerate() {
        println!(
            "  {name:<24} {:>6.2} s {:>9.0} spans/s  {:>5.2}x opentelemetry-otlp  \
             CPU per span: exporter {:>5.0} ns, receiver {:>5.0} ns",
            took[i].as_secs_f64(),
            rate(took[i]),
            rate(took[i]) / rate(took[2]),
            cpu[i] as f64 / total as f64,
            rx_cpu[i] as f64 / total as f64,
        );
    }
}

/// CPU time the threads of this process have run, in nanoseconds: `(exporter, receiver)`, the
/// receiver's threads being those named [`RECEIVER_THREAD`] and the exporter's all others (the
/// exporters' calling thread, tracewell's I/O thread, tonic's tasks). Linux `/proc`.
fn cpu_ns() -> (u64, u64) {
    let (mut exporter, mut receiver) = (0, 0);
    for task in std::fs::read_dir("/proc/self/task").expect("Linux /proc/self/task").flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        let ran = stat.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
        if comm.trim_end() == RECEIVER_THREAD { receiver += ran } else { exporter += ran }
    }
    (exporter, receiver)
}

/// `EXPORT_OTLP_PROFILE=who:N` (`tracewell`, `tracewell_one` or `opentelemetry_otlp`): only N
/// batches from one exporter, no criterion, for `perf record` or `valgrind --tool=callgrind`.
fn profile(spec: &str) {
    let (who, n) = spec.split_once(':').unwrap_or((spec, "200"));
    let n: usize = n.parse().expect("EXPORT_OTLP_PROFILE=who:batches");
    let batch = bench_batch(BATCH);
    let otel = otel_batch(&batch);
    let rx = CountingReceiver::grpc();
    let mut exporters = Contenders::new(&rx.endpoint());
    let contender = match who {
        "tracewell" => Who::Tracewell,
        "tracewell_one" => Who::TracewellOne,
        "opentelemetry_otlp" => Who::Otel,
        _ => panic!("EXPORT_OTLP_PROFILE names tracewell, tracewell_one or opentelemetry_otlp"),
    };
    let took = exporters.send(contender, n, &batch, &otel);
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
