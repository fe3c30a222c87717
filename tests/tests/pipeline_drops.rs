//! A pipeline that cannot keep up drops spans without blocking the caller, and counts each one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tracewell::Batch;
use tracewell::export::{BoxFuture, Delivery, ExportError, Exporter};

/// An exporter that takes 20 ms per batch: far slower than the spans arrive.
#[derive(Debug)]
struct Slow(Arc<AtomicU64>);

impl Exporter for Slow {
    fn name(&self) -> &'static str {
        "slow"
    }
    fn export<'a>(&'a mut self, batch: &'a Batch) -> BoxFuture<'a, Result<Delivery, ExportError>> {
        let n = batch.len() as u64;
        let seen = self.0.clone();
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            seen.fetch_add(n, Ordering::Relaxed);
            Ok(Delivery::Delivered)
        })
    }
}

#[test]
fn full_queues_drop_and_count_without_blocking() {
    let seen = Arc::new(AtomicU64::new(0));
    let _guard = tracewell::builder()
        .exporter(Slow(seen.clone()))
        .max_queue_size(64)
        .max_export_batch_size(16)
        .install()
        .expect("install");
    let start = Instant::now();
    for _ in 0..100_000 {
        tracewell::in_span("burst", || ());
    }
    // 100k spans through a 64-slot queue and a 20 ms exporter would take minutes if the caller
    // waited; it must not.
    let made_in = start.elapsed();
    assert!(made_in < Duration::from_secs(20), "caller was slowed down: {made_in:?}");
    assert!(tracewell::flush());
    let st = tracewell::stats();
    assert_eq!(st.submitted, 100_000);
    assert!(st.dropped_queue_full > 0, "{st:?}");
    assert_eq!(st.submitted, st.exported + st.dropped_queue_full + st.dropped_export_failed, "{st:?}");
    assert_eq!(seen.load(Ordering::Relaxed), st.exported);
}
