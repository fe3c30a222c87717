//! The OTLP/HTTP protobuf exporter against a real hyper receiver decoding the
//! `opentelemetry-proto` types: completeness field by field under load, gzip, headers, and 503
//! answered three times before OK.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind as PSpanKind;
use tracewell::Batch;
use tracewell::export::{Delivery, Exporter, OtlpHttpExporter};
use tracewell::{SpanData, SpanId, SpanKind, TraceId};
use tracewell_tests::fates;
use tracewell_tests::receiver::Receiver;

static PIPELINE: Mutex<()> = Mutex::new(());

#[test]
fn hundred_thousand_spans_from_four_threads_arrive_field_by_field() {
    let _one = PIPELINE.lock().unwrap_or_else(|e| e.into_inner());
    let rx = Receiver::http();
    let exporter = OtlpHttpExporter::new(&format!("{}/v1/traces", rx.endpoint()))
        .unwrap()
        .service_name("http-load")
        .header("authorization", "Bearer abc")
        .gzip(true);
    let guard = tracewell::builder().scheduled_delay(Duration::from_millis(5)).exporter(exporter).install().unwrap();
    const PER_THREAD: u64 = 25_000;
    std::thread::scope(|s| {
        for t in 0..4u64 {
            s.spawn(move || {
                for seq in 0..PER_THREAD {
                    let mut span = tracewell::span("handle").kind(SpanKind::Consumer).target("app::queue").start();
                    span.set_attribute("thread", t);
                    span.set_attribute("seq", seq);
                    span.set_input("payload", vec![1i64, 2, 3]);
                    if seq % 7 == 0 {
                        span.set_error("bad message");
                    }
                }
            });
        }
    });
    assert!(tracewell::flush());
    let stats = tracewell::stats();
    assert_eq!((stats.submitted, stats.exported), (4 * PER_THREAD, 4 * PER_THREAD), "{stats:?}");
    let spans = rx.spans();
    assert_eq!(spans.len() as u64, 4 * PER_THREAD);
    assert!(rx.gzip_requests() > 0);
    assert!(rx.last_headers().iter().any(|(k, v)| k == "authorization" && v == "Bearer abc"));
    let mut keys = HashSet::new();
    for r in &spans {
        assert_eq!(r.resource_str("service.name").as_deref(), Some("http-load"));
        assert_eq!(r.scope, "app::queue");
        assert_eq!(r.span.name, "handle");
        assert_eq!(r.span.kind, PSpanKind::Consumer as i32);
        let (Some(Av::IntValue(t)), Some(Av::IntValue(seq))) = (r.attr("thread"), r.attr("seq")) else {
            panic!("{:?}", r.span.attributes)
        };
        let Some(Av::ArrayValue(list)) = r.attr("tracewell.input.payload") else { panic!("{:?}", r.span.attributes) };
        assert_eq!(list.values.len(), 3);
        assert_eq!(r.span.status.is_some(), seq % 7 == 0);
        assert!(keys.insert((t, seq)));
    }
    assert_eq!(keys.len() as u64, 4 * PER_THREAD);
    drop(guard);
}

#[test]
fn service_unavailable_three_times_then_ok_loses_nothing() {
    let rx = Receiver::http();
    rx.fail_next(3);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut e = OtlpHttpExporter::new(&format!("{}/v1/traces", rx.endpoint())).unwrap();
    let batch: Vec<SpanData> = (0..20)
        .map(|i| SpanData {
            name: format!("s{i}").into(),
            trace_id: TraceId::random(),
            span_id: SpanId::random(),
            ..Default::default()
        })
        .collect();
    let held = rt.block_on(e.export(&Batch::from_spans(&batch))).unwrap();
    assert_eq!(held, Delivery::Held, "the batch is in flight, settled when answered");
    rt.block_on(e.flush()).unwrap();
    assert_eq!(fates(&e.take_settled()), ["delivered"]);
    assert_eq!(rx.requests(), 4);
    assert_eq!(rx.span_count(), 20);
    let h = tracewell::health().into_iter().find(|h| h.target.starts_with(&rx.endpoint())).unwrap();
    assert_eq!((h.spans_delivered, h.spans_dropped), (20, 0));
}

#[test]
fn client_errors_drop_the_batch_and_count_it() {
    let rx = Receiver::http();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // The receiver answers 404 for any other path: not retried.
    let health = || {
        tracewell::health()
            .into_iter()
            .find(|h| h.target.ends_with("/wrong") && h.target.starts_with(&rx.endpoint()))
            .unwrap()
    };
    // One request at a time: the export itself fails.
    let mut e = OtlpHttpExporter::new(&format!("{}/wrong", rx.endpoint())).unwrap().max_in_flight(1);
    let err = rt.block_on(e.export(&Batch::from_spans(&[SpanData::default()]))).unwrap_err();
    assert!(err.to_string().contains("HTTP 404"), "{err}");
    assert_eq!(rx.requests(), 1);
    assert_eq!(health().spans_dropped, 1);
    drop(e);
    // In flight (the default): the batch settles as dropped, its spans given back.
    let mut e = OtlpHttpExporter::new(&format!("{}/wrong", rx.endpoint())).unwrap();
    rt.block_on(e.export(&Batch::from_spans(&[SpanData::default(), SpanData::default()]))).unwrap();
    rt.block_on(e.flush()).unwrap();
    assert_eq!(fates(&e.take_settled()), ["dropped 2"]);
    assert_eq!(rx.requests(), 2, "not retried");
    let h = health();
    assert_eq!(h.spans_dropped, 2);
    assert!(h.last_error.unwrap().contains("HTTP 404"));
}

#[test]
fn batches_overlap_in_flight_up_to_the_limit() {
    let _one = PIPELINE.lock().unwrap_or_else(|e| e.into_inner());
    let rx = Receiver::http();
    rx.delay_answers(Duration::from_millis(150));
    let exporter = OtlpHttpExporter::new(&format!("{}/v1/traces", rx.endpoint())).unwrap();
    let guard = tracewell_tests::export_all(exporter, 50, 1000);
    assert_eq!(rx.span_count(), 1000);
    assert_eq!(rx.most_concurrent(), 4, "the default: four requests at once, on four connections");
    drop(guard);
}
