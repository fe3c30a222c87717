//! The OTLP/gRPC exporter against a real tonic receiver that decodes the `opentelemetry-proto`
//! types: completeness field by field under load, retries on UNAVAILABLE, and an unreachable
//! backend.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind as PSpanKind, status::StatusCode as PCode};
use tracewell::Batch;
use tracewell::export::{Delivery, Exporter, OtlpGrpcExporter};
use tracewell::{SpanData, SpanId, SpanKind, TraceId};
use tracewell_tests::fates;
use tracewell_tests::receiver::Receiver;

static PIPELINE: Mutex<()> = Mutex::new(());

#[test]
fn hundred_thousand_spans_from_four_threads_arrive_field_by_field() {
    let _one = PIPELINE.lock().unwrap_or_else(|e| e.into_inner());
    let rx = Receiver::grpc();
    let exporter = OtlpGrpcExporter::new(&rx.endpoint())
        .unwrap()
        .service_name("grpc-load")
        .resource_attribute("service.version", "1.2.3")
        .header("x-tenant", "t1")
        .gzip(true);
    let guard = tracewell::builder().scheduled_delay(Duration::from_millis(5)).exporter(exporter).install().unwrap();
    const PER_THREAD: u64 = 12_500;
    std::thread::scope(|s| {
        for t in 0..4u64 {
            s.spawn(move || {
                for seq in 0..PER_THREAD {
                    let mut parent = tracewell::span("request").kind(SpanKind::Server).target("app::http").start();
                    parent.set_attribute("thread", t);
                    parent.set_attribute("seq", seq);
                    parent.set_tag("route", "/items");
                    let mut child = tracewell::span("query").kind(SpanKind::Client).target("app::db").start();
                    child.set_input("sql", "select 1");
                    child.set_output(2.5f64);
                    child.add_event("rows", vec![("n".into(), 3u64.into())]);
                    match seq % 3 {
                        0 => child.set_error("row missing"),
                        1 => child.set_status(tracewell::StatusCode::Cancelled, None),
                        _ => {}
                    }
                }
            });
        }
    });
    assert!(tracewell::flush());
    let stats = tracewell::stats();
    assert_eq!(stats.submitted, 8 * PER_THREAD, "{stats:?}");
    assert_eq!(stats.exported, stats.submitted, "{stats:?}");

    let spans = rx.spans();
    assert_eq!(spans.len() as u64, 8 * PER_THREAD);
    assert!(rx.gzip_requests() > 0, "requests were not compressed");
    assert!(rx.last_headers().iter().any(|(k, v)| k == "x-tenant" && v == "t1"));
    let mut requests = HashMap::new();
    for r in spans.iter().filter(|r| r.span.name == "request") {
        assert_eq!(r.resource_str("service.name").as_deref(), Some("grpc-load"));
        assert_eq!(r.resource_str("service.version").as_deref(), Some("1.2.3"));
        assert_eq!(r.resource_str("telemetry.sdk.name").as_deref(), Some("tracewell"));
        assert_eq!(r.resource_str("telemetry.sdk.language").as_deref(), Some("rust"));
        assert_eq!(r.scope, "app::http");
        assert_eq!(r.span.kind, PSpanKind::Server as i32);
        assert!(r.span.parent_span_id.is_empty());
        assert_eq!(r.span.trace_id.len(), 16);
        assert_eq!(r.span.span_id.len(), 8);
        assert!(r.span.status.is_none());
        assert_eq!(r.attr("tracewell.tag.route"), Some(Av::StringValue("/items".into())));
        assert_eq!(r.attr("code.namespace"), Some(Av::StringValue("app::http".into())));
        let (Some(Av::IntValue(t)), Some(Av::IntValue(seq))) = (r.attr("thread"), r.attr("seq")) else {
            panic!("{:?}", r.span.attributes)
        };
        assert!(requests.insert(r.span.span_id.clone(), (t, seq, r.span.trace_id.clone())).is_none());
    }
    assert_eq!(requests.len() as u64, 4 * PER_THREAD);
    let mut keys: Vec<(i64, i64)> = requests.values().map(|(t, s, _)| (*t, *s)).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len() as u64, 4 * PER_THREAD);
    let mut queries = 0;
    for r in spans.iter().filter(|r| r.span.name == "query") {
        queries += 1;
        let (_, seq, trace) = &requests[&r.span.parent_span_id];
        assert_eq!(&r.span.trace_id, trace);
        assert_eq!(r.scope, "app::db");
        assert_eq!(r.span.kind, PSpanKind::Client as i32);
        assert_eq!(r.attr("tracewell.input.sql"), Some(Av::StringValue("select 1".into())));
        assert_eq!(r.attr("tracewell.output"), Some(Av::DoubleValue(2.5)));
        assert_eq!(r.span.events.len(), 1);
        assert_eq!(r.span.events[0].name, "rows");
        assert!(r.span.events[0].time_unix_nano >= r.span.start_time_unix_nano);
        assert!(r.span.end_time_unix_nano >= r.span.start_time_unix_nano);
        let status = r.span.status.clone();
        match seq % 3 {
            0 => {
                let s = status.unwrap();
                assert_eq!((s.code, s.message.as_str()), (PCode::Error as i32, "row missing"));
                assert_eq!(r.attr("tracewell.cancelled"), None);
            }
            1 => {
                let s = status.unwrap();
                assert_eq!(s.code, PCode::Error as i32);
                assert_eq!(r.attr("tracewell.cancelled"), Some(Av::BoolValue(true)));
            }
            _ => assert!(status.is_none()),
        }
    }
    assert_eq!(queries, 4 * PER_THREAD);
    let health = tracewell::health().into_iter().find(|h| h.name == "otlp-grpc").unwrap();
    assert_eq!(health.spans_delivered, 8 * PER_THREAD);
    assert!(health.connected);
    drop(guard);
}

fn batch(n: usize) -> Vec<SpanData> {
    (0..n)
        .map(|i| SpanData {
            name: format!("s{i}").into(),
            trace_id: TraceId::random(),
            span_id: SpanId::random(),
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_000_001_000,
            ..Default::default()
        })
        .collect()
}

#[test]
fn unavailable_three_times_then_ok_loses_nothing() {
    let rx = Receiver::grpc();
    rx.fail_next(3);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut e = OtlpGrpcExporter::new(&rx.endpoint()).unwrap().timeout(Duration::from_secs(20));
    let spans = batch(10);
    let held = rt.block_on(e.export(&Batch::from_spans(&spans))).unwrap();
    assert_eq!(held, Delivery::Held, "the batch is in flight, settled when answered");
    rt.block_on(e.flush()).unwrap();
    assert_eq!(fates(&e.take_settled()), ["delivered"]);
    assert_eq!(rx.requests(), 4);
    let got: Vec<String> = rx.spans().into_iter().map(|r| r.span.name).collect();
    assert_eq!(got, (0..10).map(|i| format!("s{i}")).collect::<Vec<_>>());
    let h = tracewell::health().into_iter().find(|h| h.target == rx.endpoint()).unwrap();
    assert_eq!((h.spans_delivered, h.spans_dropped, h.connected), (10, 0, true));
}

#[test]
fn partial_success_is_counted() {
    let rx = Receiver::grpc();
    rx.reject_per_request(2);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut e = OtlpGrpcExporter::new(&rx.endpoint()).unwrap();
    rt.block_on(e.export(&Batch::from_spans(&batch(5)))).unwrap();
    rt.block_on(e.flush()).unwrap();
    assert_eq!(fates(&e.take_settled()), ["delivered"], "a partial success is a delivery");
    let h = tracewell::health().into_iter().find(|h| h.target == rx.endpoint()).unwrap();
    assert_eq!(h.spans_rejected, 2);
}

#[test]
fn unreachable_backend_gives_up_within_its_timeout_and_counts() {
    let port = tracewell_tests::free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // One request at a time: the export itself waits and fails.
    let mut e = OtlpGrpcExporter::new(&endpoint).unwrap().timeout(Duration::from_millis(700)).max_in_flight(1);
    let t = Instant::now();
    let err = rt.block_on(e.export(&Batch::from_spans(&batch(3)))).unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(err.to_string().starts_with("otlp-grpc: cannot reach backend"), "{err}");
    let h = tracewell::health().into_iter().find(|h| h.target == endpoint).unwrap();
    assert_eq!((h.spans_dropped, h.connected), (3, false));
    assert!(h.last_error.is_some());
    drop(e);

    // In flight (the default): the exports return at once, and the batches settle as dropped
    // within the timeout, the spans given back for a fallback.
    let mut e = OtlpGrpcExporter::new(&endpoint).unwrap().timeout(Duration::from_millis(700));
    let t = Instant::now();
    assert_eq!(rt.block_on(e.export(&Batch::from_spans(&batch(3)))).unwrap(), Delivery::Held);
    assert_eq!(rt.block_on(e.export(&Batch::from_spans(&batch(2)))).unwrap(), Delivery::Held);
    assert!(t.elapsed() < Duration::from_millis(500), "the exports did not wait: {:?}", t.elapsed());
    rt.block_on(e.flush()).unwrap();
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(fates(&e.take_settled()), ["dropped 3", "dropped 2"]);
    let h = tracewell::health().into_iter().find(|h| h.target == endpoint).unwrap();
    assert_eq!((h.spans_dropped, h.connected), (5, false), "the first exporter's entry left with it");
}

#[test]
fn batches_overlap_in_flight_up_to_the_limit_and_count_as_held_until_answered() {
    let _one = PIPELINE.lock().unwrap_or_else(|e| e.into_inner());
    let rx = Receiver::grpc();
    // A collector that takes 150 ms over every request, as one far away or under load does.
    rx.delay_answers(Duration::from_millis(150));
    let exporter = OtlpGrpcExporter::new(&rx.endpoint()).unwrap().max_in_flight(3);
    let guard = tracewell::builder()
        .max_export_batch_size(100)
        .scheduled_delay(Duration::from_millis(5))
        .exporter(exporter)
        .install()
        .unwrap();
    for _ in 0..1000 {
        tracewell::in_span("job", || ());
    }
    // While the receiver sits on them, the batches count as held: in flight, not exported.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut held = tracewell::stats();
    while held.held == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
        held = tracewell::stats();
    }
    // At most three batches of at most 100 (a batch is smaller when the interval comes first).
    assert!(held.held > 0 && held.held <= 300, "{held:?}");
    assert!(held.in_flight >= held.held, "{held:?}");
    assert!(held.exported + held.held <= 1000, "{held:?}");
    assert!(tracewell::flush());
    let stats = tracewell::stats();
    assert_eq!((stats.exported, stats.held, stats.in_flight), (1000, 0, 0), "{stats:?}");
    assert_eq!(rx.span_count(), 1000);
    assert_eq!(rx.most_concurrent(), 3, "three requests overlapped at the receiver, never more");
    drop(guard);
}

/// A pipeline whose worker wakes only when a thread's queue of `queue` spans is half full (or
/// after a minute), sending batches of 100; one span is sent and flushed first, so the worker
/// knows this thread's queue and sleeps when this returns.
fn sleeping_worker(exporter: OtlpGrpcExporter, queue: usize) -> tracewell::Guard {
    let guard = tracewell::builder()
        .max_queue_size(queue)
        .max_export_batch_size(100)
        .scheduled_delay(Duration::from_secs(60))
        .exporter(exporter)
        .install()
        .unwrap();
    tracewell::in_span("first", || ());
    assert!(tracewell::flush());
    guard
}

#[test]
fn an_answer_settles_its_batch_without_waiting_for_the_next_interval() {
    let _one = PIPELINE.lock().unwrap_or_else(|e| e.into_inner());
    let rx = Receiver::grpc();
    rx.delay_answers(Duration::from_millis(100));
    let exporter = OtlpGrpcExporter::new(&rx.endpoint()).unwrap();
    // The worker wakes when this thread's queue is half full (500 spans), or after a minute.
    let guard = sleeping_worker(exporter, 1000);
    for _ in 0..600 {
        tracewell::in_span("job", || ());
    }
    // Half full, the queue woke the worker, which took what it held (at least 500 spans) and
    // sent it. Each answer wakes the worker again to settle its batch, long before the interval.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut stats = tracewell::stats();
    while !(stats.exported >= 500 && stats.held == 0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
        stats = tracewell::stats();
    }
    assert!(stats.exported >= 500 && stats.held == 0, "{stats:?}");
    assert_eq!(stats.submitted, stats.exported + stats.in_flight, "the rest is still queued: {stats:?}");
    assert!(tracewell::flush());
    let stats = tracewell::stats();
    assert_eq!((stats.exported, stats.held, stats.in_flight), (601, 0, 0), "{stats:?}");
    assert_eq!(rx.span_count(), 601);
    drop(guard);
}

#[test]
fn answers_wake_the_worker_to_settle_but_not_to_send_early() {
    let _one = PIPELINE.lock().unwrap_or_else(|e| e.into_inner());
    let rx = Receiver::grpc();
    rx.delay_answers(Duration::from_millis(150));
    let exporter = OtlpGrpcExporter::new(&rx.endpoint()).unwrap().max_in_flight(2);
    let guard = sleeping_worker(exporter, 2000);
    assert_eq!(tracewell::stats().exported, 1);
    // Past half full (1000 of 2000), the queue wakes the worker, which sends what it holds: about
    // 12 batches, two at a time, each answered 150 ms later.
    for _ in 0..1200 {
        tracewell::in_span("job", || ());
    }
    std::thread::sleep(Duration::from_millis(100));
    // 80 more, far under half full: they wait for the interval (or a flush), not for an answer.
    for _ in 0..80 {
        tracewell::in_span("job", || ());
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut stats = tracewell::stats();
    while !(stats.exported > 1000 && stats.held == 0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
        stats = tracewell::stats();
    }
    std::thread::sleep(Duration::from_millis(400));
    let stats = tracewell::stats();
    assert!((1001..=1201).contains(&stats.exported) && stats.held == 0, "{stats:?}");
    assert_eq!(stats.in_flight, 1281 - stats.exported, "the rest is still queued: {stats:?}");
    assert_eq!(rx.span_count() as u64, stats.exported, "no small batch went out on an answer");
    assert!(tracewell::flush());
    assert_eq!(tracewell::stats().exported, 1281);
    drop(guard);
}
