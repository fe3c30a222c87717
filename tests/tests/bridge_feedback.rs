//! The exporters' own `tracing` spans (tonic and h2 in the OTLP gRPC client run on tracewell's
//! exporter thread) are not bridged: otherwise every export would make spans to export, without
//! end. The receiver runs in this process only for the test, so its own spans, which a real
//! collector would make in another process, are filtered out of the bridge here.

use std::time::Duration;

use tracewell::export::OtlpGrpcExporter;
use tracewell_tests::receiver::{RECEIVER_THREAD, Receiver};
use tracewell_tests::wait_until;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;

#[test]
fn spans_of_the_exporters_grpc_client_are_not_exported() {
    let rx = Receiver::grpc();
    // Decided per span, not cached per callsite: the same h2 callsites run on both sides.
    let not_receiver =
        tracing_subscriber::filter::dynamic_filter_fn(|_, _| std::thread::current().name() != Some(RECEIVER_THREAD));
    let subscriber = tracing_subscriber::registry().with(tracewell::bridge::tracing_layer().with_filter(not_receiver));
    tracing::subscriber::set_global_default(subscriber).expect("no other subscriber in this binary");
    let guard = tracewell::builder()
        .scheduled_delay(Duration::from_millis(5))
        .exporter(OtlpGrpcExporter::new(&rx.endpoint()).unwrap())
        .install()
        .unwrap();

    // Two rounds: the first opens the connection, the second reuses it.
    for round in 1..=2u64 {
        for i in 0..20u64 {
            tracing::info_span!("user_work", round, i).in_scope(|| ());
        }
        assert!(tracewell::flush());
        assert!(
            wait_until(Duration::from_secs(10), || rx.span_count() >= 20 * round as usize),
            "round {round} arrived"
        );
    }
    assert!(tracewell::flush());
    let stats = tracewell::stats();
    let names: Vec<String> = rx.spans().into_iter().map(|r| r.span.name).filter(|n| n != "user_work").collect();
    assert!(names.is_empty(), "spans of the export path were exported: {names:?}");
    assert_eq!(stats.submitted, 40, "only the 40 spans of the test were made: {stats:?}");
    drop(guard);
}
