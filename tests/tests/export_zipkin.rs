//! The Zipkin exporter against a real HTTP receiver: JSON v2 spans as Zipkin reads them.

use std::sync::Mutex;
use std::time::Duration;

use tracewell::SpanKind;
use tracewell::export::ZipkinExporter;
use tracewell_tests::receiver::Receiver;

/// One pipeline per process: tests that install one take turns.
static PIPELINE: Mutex<()> = Mutex::new(());

#[test]
fn spans_arrive_as_zipkin_v2_json() {
    let _one = PIPELINE.lock().unwrap_or_else(|e| e.into_inner());
    let rx = Receiver::http();
    rx.fail_next(1);
    let guard = tracewell::builder()
        .scheduled_delay(Duration::from_millis(5))
        .exporter(ZipkinExporter::new(&format!("{}/api/v2/spans", rx.endpoint())).unwrap().service_name("zip"))
        .install()
        .unwrap();
    for i in 0..1000u64 {
        let mut parent = tracewell::span("checkout").kind(SpanKind::Server).start();
        parent.set_attribute("order", i);
        let mut child = tracewell::span("charge").kind(SpanKind::Client).start();
        child.add_event("retry", vec![]);
        if i % 2 == 0 {
            child.set_error("card declined");
        }
    }
    assert!(tracewell::flush());
    let stats = tracewell::stats();
    assert_eq!((stats.exported, stats.dropped_queue_full), (2000, 0), "{stats:?}");
    let spans = rx.zipkin_spans();
    assert_eq!(spans.len(), 2000);
    assert!(rx.requests() >= 2, "the first request was refused and retried");
    let parents: std::collections::HashMap<String, &serde_json::Value> =
        spans.iter().filter(|s| s["name"] == "checkout").map(|s| (s["id"].as_str().unwrap().to_owned(), s)).collect();
    assert_eq!(parents.len(), 1000);
    let mut orders = std::collections::HashSet::new();
    for p in parents.values() {
        assert_eq!(p["kind"], "SERVER");
        assert_eq!(p["localEndpoint"]["serviceName"], "zip");
        assert_eq!(p["traceId"].as_str().unwrap().len(), 32);
        assert!(p.get("parentId").is_none());
        assert!(orders.insert(p["tags"]["order"].as_str().unwrap().to_owned()));
    }
    let mut errors = 0;
    for c in spans.iter().filter(|s| s["name"] == "charge") {
        let parent = parents[c["parentId"].as_str().unwrap()];
        assert_eq!(c["traceId"], parent["traceId"]);
        assert_eq!(c["kind"], "CLIENT");
        assert!(c["timestamp"].as_u64().unwrap() >= parent["timestamp"].as_u64().unwrap());
        assert!(c["duration"].as_u64().unwrap() >= 1);
        assert_eq!(c["annotations"][0]["value"], "retry");
        if c["tags"]["error"] == "card declined" {
            errors += 1;
        }
    }
    assert_eq!(errors, 500);
    drop(guard);
}

#[test]
fn batches_overlap_in_flight_up_to_the_limit() {
    let _one = PIPELINE.lock().unwrap_or_else(|e| e.into_inner());
    let rx = Receiver::http();
    // A server that takes 150 ms over every request.
    rx.delay_answers(Duration::from_millis(150));
    let exporter = ZipkinExporter::new(&format!("{}/api/v2/spans", rx.endpoint())).unwrap().max_in_flight(3);
    let guard = tracewell_tests::export_all(exporter, 50, 500);
    assert_eq!(rx.zipkin_spans().len(), 500);
    assert_eq!(rx.most_concurrent(), 3, "three requests at once, on three connections, never more");
    drop(guard);
}
