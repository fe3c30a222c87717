//! Failover: a primary exporter and a fallback that receives what the primary could not deliver.

use super::{BoxFuture, ExportError, Exporter};
use crate::span::SpanData;

/// Sends every batch to `primary`; what it cannot deliver after its own retries (a failed
/// export, or spans it evicted from its retry buffer, see [`Exporter::take_undelivered`]) goes
/// to `fallback`, so a backend outage loses nothing that fits on disk.
///
/// The export succeeds when every span reached one of the two.
///
/// # Examples
///
/// ```
/// use tracewell::export::{Fallback, FileExporter, MemoryExporter};
/// # #[derive(Debug)] struct Down;
/// # impl tracewell::export::Exporter for Down {
/// #     fn name(&self) -> &'static str { "down" }
/// #     fn export<'a>(&'a mut self, _: &'a [tracewell::SpanData]) -> tracewell::export::BoxFuture<'a, Result<(), tracewell::export::ExportError>> {
/// #         Box::pin(async { Err(tracewell::export::ExportError::Unavailable { exporter: "down", message: "no route".into() }) })
/// #     }
/// # }
/// let disk = MemoryExporter::new(10); // a FileExporter in real use
/// let _g = tracewell::builder().exporter(Fallback::new(Down, disk.clone())).install().unwrap();
/// tracewell::in_span("kept", || ());
/// tracewell::flush();
/// assert_eq!(disk.spans()[0].name, "kept");
/// ```
#[derive(Debug)]
pub struct Fallback<P, F> {
    primary: P,
    fallback: F,
}

impl<P: Exporter, F: Exporter> Fallback<P, F> {
    /// Wraps `primary` so what it cannot deliver goes to `fallback`.
    pub fn new(primary: P, fallback: F) -> Self {
        Fallback { primary, fallback }
    }

    /// The primary exporter.
    pub fn primary(&self) -> &P {
        &self.primary
    }

    /// The fallback exporter.
    pub fn fallback(&self) -> &F {
        &self.fallback
    }
}

impl<P: Exporter, F: Exporter> Exporter for Fallback<P, F> {
    fn name(&self) -> &'static str {
        self.primary.name()
    }

    fn export<'a>(&'a mut self, batch: &'a [SpanData]) -> BoxFuture<'a, Result<(), ExportError>> {
        Box::pin(async move {
            let primary = self.primary.export(batch).await;
            let evicted = self.primary.take_undelivered();
            let mut result = Ok(());
            if !evicted.is_empty() {
                result = self.fallback.export(&evicted).await;
            }
            if let Err(e) = primary {
                crate::pipeline::log_error(format_args!("{e}; sending {} spans to the fallback", batch.len()));
                let r = self.fallback.export(batch).await;
                if r.is_err() {
                    return Err(e);
                }
            }
            result
        })
    }

    fn take_undelivered(&mut self) -> Vec<SpanData> {
        self.fallback.take_undelivered()
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(async move {
            let p = self.primary.flush().await;
            let evicted = self.primary.take_undelivered();
            if !evicted.is_empty() {
                let _ = self.fallback.export(&evicted).await;
            }
            let f = self.fallback.flush().await;
            p.and(f)
        })
    }

    fn shutdown(&mut self) -> BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(async move {
            let p = self.primary.shutdown().await;
            let evicted = self.primary.take_undelivered();
            if !evicted.is_empty() {
                let _ = self.fallback.export(&evicted).await;
            }
            let f = self.fallback.shutdown().await;
            p.and(f)
        })
    }
}
