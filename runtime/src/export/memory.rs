//! The memory exporter: a bounded ring of the most recent spans.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{BoxFuture, Delivery, ExportError, Exporter};
use crate::span::{Batch, SpanData};

/// Keeps the last `capacity` spans in memory; older ones fall off. Cloning gives another handle
/// to the same spans.
///
/// It keeps the batches it receives as they are (compact records, shared with the worker, not
/// copied), so keeping a span costs the worker nothing per span; [`MemoryExporter::spans`]
/// decodes them. The lock here is taken only by the batch worker and by readers, never on the
/// hot path.
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
    /// Batches, oldest first, each with how many of its first spans fell off already.
    batches: VecDeque<(Batch, usize)>,
    /// Spans held (in `batches`, not counting those fallen off).
    len: usize,
    capacity: usize,
    evicted: u64,
}

impl Ring {
    fn spans(&self) -> impl Iterator<Item = SpanData> + '_ {
        self.batches.iter().flat_map(|(b, skip)| b.iter().skip(*skip).map(|s| s.to_data()))
    }

    /// Drops the oldest spans until at most `capacity` are held.
    fn trim(&mut self) {
        while self.len > self.capacity {
            let over = self.len - self.capacity;
            let Some((b, skip)) = self.batches.front_mut() else { break };
            let here = b.len() - *skip;
            if here <= over {
                self.batches.pop_front();
                self.len -= here;
                self.evicted += here as u64;
            } else {
                *skip += over;
                self.len -= over;
                self.evicted += over as u64;
            }
        }
    }
}

pub use crate::config::DEFAULT_MEMORY_CAPACITY;

impl Default for MemoryExporter {
    fn default() -> Self {
        MemoryExporter::new(DEFAULT_MEMORY_CAPACITY)
    }
}

impl MemoryExporter {
    /// A memory exporter keeping the last `capacity` spans (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        MemoryExporter { inner: Arc::new(Mutex::new(Ring { batches: VecDeque::new(), len: 0, capacity, evicted: 0 })) }
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        // A panic while holding this lock cannot leave the ring inconsistent; keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of the spans held, oldest first.
    pub fn spans(&self) -> Vec<SpanData> {
        self.lock().spans().collect()
    }

    /// Removes and returns the spans held, oldest first.
    pub fn take(&self) -> Vec<SpanData> {
        let mut ring = self.lock();
        let spans = ring.spans().collect();
        ring.batches.clear();
        ring.len = 0;
        spans
    }

    /// Forgets every span held.
    pub fn clear(&self) {
        let mut ring = self.lock();
        ring.batches.clear();
        ring.len = 0;
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

    fn export<'a>(&'a mut self, batch: &'a Batch) -> BoxFuture<'a, Result<Delivery, ExportError>> {
        if !batch.is_empty() {
            let mut ring = self.lock();
            ring.len += batch.len();
            ring.batches.push_back((batch.clone(), 0));
            ring.trim();
        }
        Box::pin(std::future::ready(Ok(Delivery::Delivered)))
    }
}
