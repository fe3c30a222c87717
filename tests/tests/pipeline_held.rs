//! Batches an exporter holds for a later attempt (a retry buffer while its backend is away) are
//! counted as held, not exported, until the exporter settles them: delivered ones become
//! exported, dropped ones fail only when no other exporter delivered them.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracewell::Batch;
use tracewell::Stats;
use tracewell::export::{BoxFuture, Delivery, ExportError, Exporter, MemoryExporter, Settled};

/// One pipeline per process at a time.
static PIPELINE: Mutex<()> = Mutex::new(());

/// Holds every batch until told how to settle them.
#[derive(Clone, Debug, Default)]
struct Holder(Arc<Mutex<HolderState>>);

#[derive(Debug, Default)]
struct HolderState {
    held: VecDeque<Batch>,
    settle_as: Option<Fate>,
}

/// How a `Holder` settles what it holds.
#[derive(Clone, Copy, Debug)]
enum Fate {
    Delivered,
    Dropped,
}

impl Holder {
    fn settle_as(&self, how: Fate) {
        self.0.lock().unwrap().settle_as = Some(how);
    }
}

impl Exporter for Holder {
    fn name(&self) -> &'static str {
        "holder"
    }

    fn export<'a>(&'a mut self, batch: &'a Batch) -> BoxFuture<'a, Result<Delivery, ExportError>> {
        self.0.lock().unwrap().held.push_back(batch.clone());
        Box::pin(async { Ok(Delivery::Held) })
    }

    fn take_settled(&mut self) -> Vec<Settled> {
        let mut s = self.0.lock().unwrap();
        match s.settle_as {
            Some(Fate::Delivered) => s.held.drain(..).map(|_| Settled::Delivered).collect(),
            Some(Fate::Dropped) => s.held.drain(..).map(Settled::Dropped).collect(),
            None => Vec::new(),
        }
    }
}

fn produce(n: u64) {
    for i in 0..n {
        let mut s = tracewell::span("held").start();
        s.set_attribute("i", i);
    }
}

fn builder() -> tracewell::Builder {
    tracewell::builder().scheduled_delay(Duration::from_millis(5)).max_export_batch_size(64)
}

fn settled_stats() -> Stats {
    assert!(tracewell::flush());
    let s = tracewell::stats();
    assert_eq!(s.submitted, s.exported + s.dropped_queue_full + s.dropped_export_failed + s.in_flight, "{s:?}");
    s
}

#[test]
fn held_spans_are_in_flight_until_delivered() {
    let _one = PIPELINE.lock().unwrap_or_else(|e| e.into_inner());
    let holder = Holder::default();
    let guard = builder().exporter(holder.clone()).install().unwrap();
    produce(200);
    let s = settled_stats();
    assert_eq!((s.submitted, s.exported, s.held, s.in_flight), (200, 0, 200, 200), "{s:?}");
    holder.settle_as(Fate::Delivered);
    let s = settled_stats();
    assert_eq!((s.exported, s.held, s.in_flight, s.dropped_export_failed), (200, 0, 0, 0), "{s:?}");
    drop(guard);
}

#[test]
fn held_spans_given_up_count_as_failed() {
    let _one = PIPELINE.lock().unwrap_or_else(|e| e.into_inner());
    let holder = Holder::default();
    let guard = builder().exporter(holder.clone()).install().unwrap();
    produce(150);
    assert_eq!(settled_stats().held, 150);
    holder.settle_as(Fate::Dropped);
    let s = settled_stats();
    assert_eq!((s.exported, s.held, s.in_flight, s.dropped_export_failed), (0, 0, 0, 150), "{s:?}");
    drop(guard);
}

#[test]
fn a_span_another_exporter_delivered_is_exported_whatever_the_holder_does() {
    let _one = PIPELINE.lock().unwrap_or_else(|e| e.into_inner());
    let holder = Holder::default();
    let mem = MemoryExporter::new(10_000);
    let guard = builder().exporter(holder.clone()).exporter(mem.clone()).install().unwrap();
    produce(100);
    let s = settled_stats();
    assert_eq!((s.exported, s.held), (100, 0), "{s:?}");
    holder.settle_as(Fate::Dropped);
    let s = settled_stats();
    assert_eq!((s.exported, s.held, s.dropped_export_failed), (100, 0, 0), "{s:?}");
    assert_eq!(mem.spans().len(), 100);
    drop(guard);
}

#[test]
fn with_two_holders_one_delivery_is_enough_and_both_must_give_up_to_fail() {
    let _one = PIPELINE.lock().unwrap_or_else(|e| e.into_inner());
    let (a, b) = (Holder::default(), Holder::default());
    let guard = builder().exporter(a.clone()).exporter(b.clone()).install().unwrap();
    produce(100);
    assert_eq!(settled_stats().held, 100);
    a.settle_as(Fate::Dropped);
    let s = settled_stats();
    assert_eq!((s.exported, s.held, s.dropped_export_failed), (0, 100, 0), "one holder still has them: {s:?}");
    b.settle_as(Fate::Delivered);
    let s = settled_stats();
    assert_eq!((s.exported, s.held, s.dropped_export_failed), (100, 0, 0), "{s:?}");

    b.settle_as(Fate::Dropped);
    produce(60);
    let s = settled_stats();
    assert_eq!((s.exported, s.held, s.dropped_export_failed), (100, 0, 60), "both gave up at once: {s:?}");
    drop(guard);
}
