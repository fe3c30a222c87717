//! One million spans from several threads: every span is accounted for, and the exporter sees
//! exactly what `stats()` says was exported.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tracewell::Batch;
use tracewell::Value;
use tracewell::export::{BoxFuture, Delivery, ExportError, Exporter};

#[derive(Debug)]
struct Count {
    spans: Arc<AtomicU64>,
    parents_ok: Arc<AtomicU64>,
}

impl Exporter for Count {
    fn name(&self) -> &'static str {
        "count"
    }
    fn export<'a>(&'a mut self, batch: &'a Batch) -> BoxFuture<'a, Result<Delivery, ExportError>> {
        self.spans.fetch_add(batch.len() as u64, Ordering::Relaxed);
        let ok = batch
            .iter()
            .filter(|s| s.name() == "leaf" && s.parent_span_id().is_valid() && s.input("i").is_some())
            .count();
        self.parents_ok.fetch_add(ok as u64, Ordering::Relaxed);
        Box::pin(std::future::ready(Ok(Delivery::Delivered)))
    }
}

#[test]
fn million_spans_from_four_threads_are_all_accounted_for() {
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 250_000;
    let spans = Arc::new(AtomicU64::new(0));
    let parents_ok = Arc::new(AtomicU64::new(0));
    let guard = tracewell::builder()
        .exporter(Count { spans: spans.clone(), parents_ok: parents_ok.clone() })
        .max_queue_size(4096)
        .scheduled_delay(Duration::from_millis(50))
        .install()
        .expect("install");

    std::thread::scope(|s| {
        for t in 0..THREADS {
            s.spawn(move || {
                let _root = tracewell::span("root").start();
                for i in 0..PER_THREAD - 1 {
                    let mut leaf = tracewell::span("leaf").start();
                    leaf.set_input("i", Value::U64(i));
                    leaf.set_tag("thread", t);
                }
            });
        }
    });

    assert!(tracewell::flush(), "flush confirmed within the timeout");
    let st = tracewell::stats();
    assert_eq!(st.submitted, THREADS * PER_THREAD, "{st:?}");
    assert_eq!(st.submitted, st.exported + st.dropped_queue_full + st.dropped_export_failed, "{st:?}");
    assert_eq!(st.in_flight, 0);
    assert_eq!(st.dropped_export_failed, 0);
    assert_eq!(spans.load(Ordering::Relaxed), st.exported, "exporter saw what stats call exported");
    // Every exported leaf kept its parent and its input.
    let leaves_exported = parents_ok.load(Ordering::Relaxed);
    assert!(leaves_exported + st.dropped_queue_full >= THREADS * (PER_THREAD - 1), "{leaves_exported} {st:?}");
    assert!(guard.shutdown());
}
