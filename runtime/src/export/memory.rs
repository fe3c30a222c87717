//! The memory exporter: a bounded ring of the most recent spans.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{BoxFuture, ExportError, Exporter};
use crate::span::SpanData;

/// Keeps the last `capacity` spans in memory; older ones fall off. Cloning gives another handle
/// to the same spans.
///
/// The lock here is taken only by the batch worker and by readers, never on the hot path.
///
/// # Examples
///
/// ```
/// use tracewell::export::MemoryExporter;
/// let mem = MemoryExporter::new(2);
/// let _g = tracewell::builder().exporter(mem.clone()).install().unwrap();
/// for name in ["a", "b", "c"] { tracewell::in_span(name, || ()); }
/// tracewell::flush();
/// let names: Vec<_> = mem.spans().into_iter().map(|s| s.name).collect();
/// assert_eq!(names, ["b", "c"]);
/// ```
#[derive(Clone, Debug)]
pub struct MemoryExporter {
    inner: Arc<Mutex<Ring>>,
}

#[derive(Debug)]
struct Ring {
    spans: VecDeque<SpanData>,
    capacity: usize,
    evicted: u64,
}

/// How many spans the default memory exporter keeps.
pub const DEFAULT_MEMORY_CAPACITY: usize = 10_000;

impl Default for MemoryExporter {
    fn default() -> Self {
        MemoryExporter::new(DEFAULT_MEMORY_CAPACITY)
    }
}

impl MemoryExporter {
    /// A memory exporter keeping the last `capacity` spans (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        MemoryExporter {
            inner: Arc::new(Mutex::new(Ring {
                spans: VecDeque::with_capacity(capacity.min(4096)),
                capacity,
                evicted: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        // A panic while holding this lock cannot leave the ring inconsistent; keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of the spans held, oldest first.
    pub fn spans(&self) -> Vec<SpanData> {
        self.lock().spans.iter().cloned().collect()
    }

    /// Removes and returns the spans held, oldest first.
    pub fn take(&self) -> Vec<SpanData> {
        self.lock().spans.drain(..).collect()
    }

    /// Forgets every span held.
    pub fn clear(&self) {
        self.lock().spans.clear();
    }

    /// How many spans fell off the ring because it was full.
    pub fn evicted(&self) -> u64 {
        self.lock().evicted
    }
}

impl Exporter for MemoryExporter {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn export<'a>(&'a mut self, batch: &'a [SpanData]) -> BoxFuture<'a, Result<(), ExportError>> {
        let mut ring = self.lock();
        let cap = ring.capacity;
        let keep = &batch[batch.len().saturating_sub(cap)..];
        let skipped = (batch.len() - keep.len()) as u64;
        let overflow = (ring.spans.len() + keep.len()).saturating_sub(cap);
        ring.spans.drain(..overflow);
        ring.evicted += overflow as u64 + skipped;
        ring.spans.extend(keep.iter().cloned());
        drop(ring);
        Box::pin(std::future::ready(Ok(())))
    }
}
