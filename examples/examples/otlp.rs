//! Spans over OTLP/gRPC to an OpenTelemetry Collector, Jaeger or Grafana Tempo.
//!
//! ```text
//! cargo run -p tracewell-examples --example otlp          # starts a tiny receiver in-process
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317 cargo run -p tracewell-examples --example otlp
//! ```
//!
//! Jaeger (all-in-one) and the Collector listen for OTLP/gRPC on port 4317 and OTLP/HTTP on 4318.

use std::time::Duration;

use tracewell::export::OtlpGrpcExporter;

fn main() {
    // Use the collector named in the environment, or a receiver in this process that prints
    // what it decoded.
    let (endpoint, receiver) = match std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT") {
        Ok(e) => (e, None),
        Err(_) => {
            let rx = tracewell_tests::receiver::Receiver::grpc();
            (rx.endpoint(), Some(rx))
        }
    };
    let otlp = OtlpGrpcExporter::new(&endpoint)
        .expect("an http:// endpoint")
        .service_name("otlp-example")
        .resource_attribute("service.version", env!("CARGO_PKG_VERSION"))
        .gzip(true);
    let guard = tracewell::builder()
        .scheduled_delay(Duration::from_millis(50))
        .exporter(otlp)
        .install()
        .expect("tracewell installs");

    for item in 0..5u64 {
        let mut span = tracewell::span("handle").kind(tracewell::SpanKind::Server).target("example::otlp").start();
        span.set_attribute("item", item);
        let mut db = tracewell::span("query").kind(tracewell::SpanKind::Client).target("example::db").start();
        db.set_input("sql", "select * from items where id = $1");
        if item == 3 {
            db.set_error("deadlock detected");
        }
    }
    tracewell::flush();
    for h in tracewell::health() {
        println!(
            "{} -> {}: connected={} delivered={} dropped={}",
            h.name, h.target, h.connected, h.spans_delivered, h.spans_dropped
        );
    }
    drop(guard);

    if let Some(rx) = receiver {
        println!("the receiver decoded {} spans:", rx.span_count());
        for r in rx.spans() {
            let status =
                r.span.status.clone().map(|s| format!(" status={} {:?}", s.code, s.message)).unwrap_or_default();
            println!(
                "  [{}] {} ({} attributes, service {}){status}",
                r.scope,
                r.span.name,
                r.span.attributes.len(),
                r.resource_str("service.name").unwrap_or_default()
            );
        }
    }
}
