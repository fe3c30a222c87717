//! The counting sinks both benches export to, so that nothing is formatted or written and every
//! contender's spans can be checked to have arrived.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tracewell::Batch;
use tracewell::export::{BoxFuture, Delivery, ExportError, Exporter};

/// A tracewell exporter that counts the spans it receives.
#[derive(Debug)]
pub struct Count(pub Arc<AtomicU64>);

impl Exporter for Count {
    fn name(&self) -> &'static str {
        "count"
    }

    fn export<'a>(&'a mut self, batch: &'a Batch) -> BoxFuture<'a, Result<Delivery, ExportError>> {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Box::pin(std::future::ready(Ok(Delivery::Delivered)))
    }
}

/// An OpenTelemetry SDK exporter that counts the spans it receives.
#[derive(Debug)]
pub struct OtelNoop(pub Arc<AtomicU64>);

impl opentelemetry_sdk::trace::SpanExporter for OtelNoop {
    async fn export(&self, batch: Vec<opentelemetry_sdk::trace::SpanData>) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}
