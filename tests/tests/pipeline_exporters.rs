//! Exporters that fail, panic or hang are isolated: the program never sees them, the other
//! exporters still get every span, and the failures are counted.

use std::sync::OnceLock;
use std::time::Duration;

use tracewell::Batch;
use tracewell::export::{BoxFuture, Delivery, ExportError, Exporter, MemoryExporter};

#[derive(Debug)]
struct Panics;

impl Exporter for Panics {
    fn name(&self) -> &'static str {
        "panics"
    }
    fn export<'a>(&'a mut self, _batch: &'a Batch) -> BoxFuture<'a, Result<Delivery, ExportError>> {
        panic!("exporter bug");
    }
}

#[derive(Debug)]
struct PanicsWhilePolled;

impl Exporter for PanicsWhilePolled {
    fn name(&self) -> &'static str {
        "panics-later"
    }
    fn export<'a>(&'a mut self, _batch: &'a Batch) -> BoxFuture<'a, Result<Delivery, ExportError>> {
        Box::pin(async { panic!("exporter bug inside its future") })
    }
}

#[derive(Debug)]
struct Fails;

impl Exporter for Fails {
    fn name(&self) -> &'static str {
        "fails"
    }
    fn export<'a>(&'a mut self, _batch: &'a Batch) -> BoxFuture<'a, Result<Delivery, ExportError>> {
        Box::pin(async { Err(ExportError::Unavailable { exporter: "fails", message: "connection refused".into() }) })
    }
}

#[derive(Debug)]
struct Hangs;

impl Exporter for Hangs {
    fn name(&self) -> &'static str {
        "hangs"
    }
    fn export<'a>(&'a mut self, _batch: &'a Batch) -> BoxFuture<'a, Result<Delivery, ExportError>> {
        Box::pin(std::future::pending())
    }
}

fn mem() -> &'static MemoryExporter {
    static MEM: OnceLock<MemoryExporter> = OnceLock::new();
    static GUARD: OnceLock<tracewell::Guard> = OnceLock::new();
    let mem = MEM.get_or_init(|| MemoryExporter::new(100_000));
    GUARD.get_or_init(|| {
        tracewell::builder()
            .exporter(Panics)
            .exporter(PanicsWhilePolled)
            .exporter(Fails)
            .exporter(Hangs)
            .exporter(mem.clone())
            .export_timeout(Duration::from_millis(200))
            .install()
            .expect("install")
    });
    mem
}

#[test]
fn broken_exporters_do_not_reach_the_program_and_are_counted() {
    let mem = mem();
    for i in 0..10u64 {
        let mut s = tracewell::span("isolated").start();
        s.set_attribute("i", i);
    }
    assert!(tracewell::flush(), "flush returns despite a hanging exporter");
    let spans: Vec<_> = mem.spans().into_iter().filter(|s| s.name == "isolated").collect();
    assert_eq!(spans.len(), 10, "the healthy exporter got every span");
    let st = tracewell::stats();
    assert!(st.export_errors >= 4, "each broken exporter counted: {st:?}");
    assert_eq!(st.dropped_export_failed, 0, "delivered by the memory exporter: {st:?}");
    assert_eq!(st.submitted, st.exported + st.dropped_queue_full + st.dropped_export_failed);
}
