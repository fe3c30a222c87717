//! Per-exporter health: connected or not, the last error and success, what was delivered,
//! buffered and dropped. Exporters update their entry from the worker thread; [`health`] reads
//! every live entry.

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::SystemTime;

/// What one exporter reports about itself. See [`health`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExporterHealth {
    /// The exporter's name (`"file"`, `"redis"`, `"otlp-grpc"`, `"otlp-http"`, `"zipkin"`).
    pub name: &'static str,
    /// Where it sends spans (a path or an endpoint, passwords removed).
    pub target: String,
    /// Whether the last attempt to reach the backend worked.
    pub connected: bool,
    /// The last error, if any.
    pub last_error: Option<String>,
    /// When the last error happened.
    pub last_error_at: Option<SystemTime>,
    /// When a batch was last delivered.
    pub last_success: Option<SystemTime>,
    /// Batches delivered.
    pub batches_delivered: u64,
    /// Spans delivered.
    pub spans_delivered: u64,
    /// Spans waiting in the exporter's bounded retry buffer.
    pub spans_buffered: u64,
    /// Spans given up on: the retry buffer was full, retries ran out, or the backend refused them.
    pub spans_dropped: u64,
    /// Spans the backend reported as rejected in a partial-success answer.
    pub spans_rejected: u64,
}

static REGISTRY: Mutex<Vec<Weak<Mutex<ExporterHealth>>>> = Mutex::new(Vec::new());

fn registry() -> MutexGuard<'static, Vec<Weak<Mutex<ExporterHealth>>>> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// The health of every exporter that leaves the process and is alive now (in creation order).
///
/// An entry appears when the exporter is built and disappears when it is dropped (at shutdown).
///
/// # Examples
///
/// ```
/// let dir = std::env::temp_dir().join(format!("tracewell-health-doc-{}", std::process::id()));
/// let file = tracewell::export::FileExporter::new(&dir);
/// let _g = tracewell::builder().exporter(file).install().unwrap();
/// tracewell::in_span("x", || ());
/// tracewell::flush();
/// let h = tracewell::health();
/// let file = h.iter().find(|h| h.name == "file").unwrap();
/// assert!(file.connected);
/// assert_eq!(file.spans_delivered, 1);
/// # drop(_g); let _ = std::fs::remove_file(dir);
/// ```
pub fn health() -> Vec<ExporterHealth> {
    let mut reg = registry();
    reg.retain(|w| w.strong_count() > 0);
    reg.iter().filter_map(Weak::upgrade).map(|h| h.lock().unwrap_or_else(|e| e.into_inner()).clone()).collect()
}

/// An exporter's handle to its own health entry (clones share it).
#[derive(Debug, Clone)]
pub(crate) struct HealthCell(Arc<Mutex<ExporterHealth>>);

impl HealthCell {
    pub(crate) fn new(name: &'static str, target: String) -> HealthCell {
        let cell = Arc::new(Mutex::new(ExporterHealth {
            name,
            target,
            connected: false,
            last_error: None,
            last_error_at: None,
            last_success: None,
            batches_delivered: 0,
            spans_delivered: 0,
            spans_buffered: 0,
            spans_dropped: 0,
            spans_rejected: 0,
        }));
        let mut reg = registry();
        reg.retain(|w| w.strong_count() > 0);
        reg.push(Arc::downgrade(&cell));
        HealthCell(cell)
    }

    pub(crate) fn update(&self, f: impl FnOnce(&mut ExporterHealth)) {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }

    pub(crate) fn delivered(&self, spans: usize) {
        self.update(|h| {
            h.connected = true;
            h.last_success = Some(SystemTime::now());
            h.batches_delivered += 1;
            h.spans_delivered += spans as u64;
        });
    }

    pub(crate) fn failed(&self, error: &dyn std::fmt::Display) {
        let text = error.to_string();
        self.update(|h| {
            h.connected = false;
            h.last_error = Some(text);
            h.last_error_at = Some(SystemTime::now());
        });
    }

    pub(crate) fn dropped(&self, spans: usize) {
        self.update(|h| h.spans_dropped += spans as u64);
    }

    /// Records that the exporter gave up on `spans` spans because of `err`, and returns `err`.
    #[cfg(any(feature = "otlp-grpc", feature = "otlp-http", feature = "zipkin"))]
    pub(crate) fn gave_up(&self, err: super::ExportError, spans: usize) -> super::ExportError {
        self.failed(&err);
        self.dropped(spans);
        err
    }

    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn snapshot(&self) -> ExporterHealth {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_live_as_long_as_their_exporter() {
        let a = HealthCell::new("file", "unit-test-a".into());
        a.delivered(3);
        a.failed(&"disk full");
        let seen = health().into_iter().find(|h| h.target == "unit-test-a").unwrap();
        assert_eq!(seen.spans_delivered, 3);
        assert_eq!(seen.batches_delivered, 1);
        assert!(!seen.connected);
        assert_eq!(seen.last_error.as_deref(), Some("disk full"));
        drop(a);
        assert!(health().iter().all(|h| h.target != "unit-test-a"));
    }
}
