//! Chunks: fixed blocks of words that one thread fills with span records and the worker reads,
//! and the budget that bounds how many bytes of them may exist.
//!
//! A chunk is written by one thread at a time and read by the worker, possibly while it is
//! being filled: the writer stores a record's words with plain (relaxed) atomic stores, then
//! publishes the new end of its data with one release store; the worker reads up to that end
//! with an acquire load and remembers how far it has read. So the worker can take the spans of
//! a thread that went to sleep with its chunk half full, without asking it, and a chunk handed
//! over whole is read from where the worker left off. No lock, and no `unsafe`: the words are
//! `AtomicU64`, which the compiler turns into ordinary loads and stores.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::Thread;
use std::time::Instant;

use arc_swap::ArcSwapOption;
use crossbeam_queue::ArrayQueue;
use crossbeam_utils::CachePadded;

use crate::span::record::BatchBuilder;

/// How many bytes of chunks may exist at once, and the chunks not in use.
pub(crate) struct Budget {
    /// Bytes of chunks that exist now (in use, queued or free).
    used: CachePadded<AtomicUsize>,
    /// The most `used` has been.
    peak: AtomicUsize,
    limit: usize,
    /// Words in a regular chunk.
    pub(crate) chunk_words: usize,
    /// Emptied chunks, ready for any thread.
    free: ArrayQueue<Chunk>,
    /// Threads waiting for a chunk (`TRACEWELL_ON_FULL=wait`), served first come, first served.
    waiters: Mutex<VecDeque<Arc<Waiter>>>,
    waiting: AtomicUsize,
}

/// A thread waiting for a chunk, and where the worker puts the one it frees for it.
struct Waiter {
    chunk: Mutex<Option<Chunk>>,
    thread: Thread,
}

impl Budget {
    /// A budget of `limit` bytes made of chunks of `chunk_bytes` (at least 1 KiB, at most the
    /// limit).
    pub(crate) fn new(limit: usize, chunk_bytes: usize) -> Arc<Budget> {
        let chunk_bytes = chunk_bytes.clamp(1024, limit.max(1024));
        let chunk_words = chunk_bytes / 8;
        Arc::new(Budget {
            used: CachePadded::new(AtomicUsize::new(0)),
            peak: AtomicUsize::new(0),
            limit,
            chunk_words,
            free: ArrayQueue::new((limit / chunk_bytes).max(1)),
            waiters: Mutex::new(VecDeque::new()),
            waiting: AtomicUsize::new(0),
        })
    }

    /// Bytes of chunks that exist now.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Bytes of chunks holding spans or being filled: those that exist less the empty ones
    /// kept for reuse.
    pub(crate) fn in_use(&self) -> usize {
        self.used().saturating_sub(self.free.len() * self.chunk_words * 8)
    }

    /// The most bytes of chunks that existed at once.
    pub(crate) fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// The limit, in bytes.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// A chunk with room for at least `words`: a free one, or a new one if the budget allows.
    /// `None` when the budget is spent.
    pub(crate) fn acquire(self: &Arc<Budget>, words: usize) -> Option<Chunk> {
        if words <= self.chunk_words && self.waiting.load(Ordering::Relaxed) == 0 {
            if let Some(c) = self.free.pop() {
                return Some(c);
            }
            return self.allocate(self.chunk_words);
        }
        if words <= self.chunk_words {
            // Threads are waiting: freed chunks go to them, in order; a new one may still be made.
            return self.allocate(self.chunk_words);
        }
        // A record larger than a chunk gets a chunk of its own size, freed once read.
        self.allocate(words)
    }

    fn allocate(self: &Arc<Budget>, words: usize) -> Option<Chunk> {
        let bytes = words * 8;
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            if used + bytes > self.limit {
                return None;
            }
            match self.used.compare_exchange_weak(used, used + bytes, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break,
                Err(now) => used = now,
            }
        }
        self.peak.fetch_max(used + bytes, Ordering::Relaxed);
        // Zeroed pages from the allocator, not a loop storing zeros.
        let Ok(words) = <[AtomicU64] as zerocopy::FromZeros>::new_box_zeroed_with_elems(words) else {
            self.used.fetch_sub(bytes, Ordering::Relaxed);
            return None;
        };
        Some(Chunk {
            inner: Arc::new(Inner {
                words,
                committed: CachePadded::new(AtomicUsize::new(0)),
                taken: AtomicUsize::new(0),
                budget: self.clone(),
            }),
        })
    }

    /// Takes back a chunk the worker has read to the end: a regular one is emptied and handed
    /// to the thread that has waited longest for one, or kept for reuse; a larger one is freed.
    pub(crate) fn recycle(&self, chunk: Chunk) {
        if chunk.capacity() != self.chunk_words {
            return;
        }
        chunk.inner.committed.store(0, Ordering::Relaxed);
        chunk.inner.taken.store(0, Ordering::Relaxed);
        if self.waiting.load(Ordering::Acquire) > 0 {
            // Handed over under the queue's lock, so a waiter that gives up either is still in
            // the queue or already has the chunk.
            let mut q = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(w) = q.pop_front() {
                *w.chunk.lock().unwrap_or_else(|e| e.into_inner()) = Some(chunk);
                drop(q);
                w.thread.unpark();
                return;
            }
        }
        // The queue holds as many chunks as the budget allows, so there is always room.
        let _ = self.free.push(chunk);
    }

    /// Waits until the worker frees a chunk for this thread (first come, first served) or
    /// `deadline` passes. `wake` asks the worker to make room. Not the hot path: the buffer is
    /// full and the user chose to wait.
    pub(crate) fn wait_for_chunk(self: &Arc<Budget>, deadline: Instant, wake: impl Fn()) -> Option<Chunk> {
        let me = Arc::new(Waiter { chunk: Mutex::new(None), thread: std::thread::current() });
        {
            let mut q = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
            q.push_back(me.clone());
            self.waiting.fetch_add(1, Ordering::AcqRel);
        }
        // A chunk freed between the failed attempt and joining the queue went to the pool.
        if let Some(c) = self.free.pop() {
            if let Some(handed) = self.leave(&me) {
                let _ = self.free.push(handed);
            }
            return Some(c);
        }
        loop {
            wake();
            if let Some(c) = me.chunk.lock().unwrap_or_else(|e| e.into_inner()).take() {
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                return Some(c);
            }
            let now = Instant::now();
            if now >= deadline {
                return self.leave(&me);
            }
            std::thread::park_timeout((deadline - now).min(std::time::Duration::from_millis(5)));
        }
    }

    /// Leaves the queue of waiters; a chunk handed over meanwhile is taken after all.
    fn leave(&self, me: &Arc<Waiter>) -> Option<Chunk> {
        let mut q = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        q.retain(|w| !Arc::ptr_eq(w, me));
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let handed = me.chunk.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(q);
        handed
    }
}

/// A block of words holding whole span records. Cloning gives another handle to the same block.
#[derive(Clone)]
pub(crate) struct Chunk {
    inner: Arc<Inner>,
}

struct Inner {
    words: Box<[AtomicU64]>,
    /// Words holding whole records; written only by the thread that owns the chunk.
    committed: CachePadded<AtomicUsize>,
    /// Words the worker has taken; written only by the worker.
    taken: AtomicUsize,
    budget: Arc<Budget>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.words.len() * 8, Ordering::Relaxed);
    }
}

impl Chunk {
    /// Room, in words.
    pub(crate) fn capacity(&self) -> usize {
        self.inner.words.len()
    }

    /// Writes whole records at word `at` (where the last write ended) and publishes them.
    /// Only the owning thread writes, and `at + words.len()` must fit (checked by the caller).
    // Hot path: plain stores, then one release store.
    #[inline]
    pub(crate) fn write(&self, at: usize, words: &[u64]) {
        let dst = &self.inner.words[at..at + words.len()];
        for (d, w) in dst.iter().zip(words) {
            d.store(*w, Ordering::Relaxed);
        }
        self.inner.committed.store(at + words.len(), Ordering::Release);
    }

    /// Appends the records published since the last call to `into`; returns how many.
    /// Only the worker calls this.
    pub(crate) fn take(&self, into: &mut BatchBuilder) -> usize {
        let end = self.inner.committed.load(Ordering::Acquire);
        let from = self.inner.taken.load(Ordering::Relaxed);
        if end <= from {
            return 0;
        }
        let n = into.push_records_with(end - from, |out| {
            out.extend(self.inner.words[from..end].iter().map(|w| w.load(Ordering::Relaxed)));
        });
        self.inner.taken.store(end, Ordering::Relaxed);
        n
    }

    /// Whether the worker has taken everything published.
    #[cfg(test)]
    pub(crate) fn is_drained(&self) -> bool {
        self.inner.taken.load(Ordering::Relaxed) >= self.inner.committed.load(Ordering::Acquire)
    }
}

/// The chunk a thread is filling now, where the worker can find it.
#[derive(Default)]
pub(crate) struct Current(ArcSwapOption<Inner>);

impl Current {
    /// Publishes `chunk` as the one being filled (once per chunk, not per span).
    pub(crate) fn set(&self, chunk: Option<&Chunk>) {
        self.0.store(chunk.map(|c| c.inner.clone()));
    }

    /// The chunk being filled, if any.
    pub(crate) fn get(&self) -> Option<Chunk> {
        self.0.load_full().map(|inner| Chunk { inner })
    }

    /// Whether a chunk is being filled.
    pub(crate) fn is_some(&self) -> bool {
        self.0.load().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::record::Recording;

    fn record(n: u64) -> Vec<u64> {
        let mut rec = Recording::empty();
        rec.begin(crate::TraceId(1), crate::SpanId(n), crate::SpanId(0), 1, false, None);
        rec.finish(0, 1).to_vec()
    }

    #[test]
    fn the_budget_bounds_the_bytes_of_chunks() {
        let budget = Budget::new(4096, 1024);
        let mut chunks: Vec<_> = std::iter::from_fn(|| budget.acquire(10)).collect();
        assert_eq!(chunks.len(), 4);
        assert_eq!(budget.used(), 4096);
        assert!(budget.acquire(1).is_none(), "spent");
        budget.recycle(chunks.pop().unwrap());
        assert!(budget.acquire(1).is_some(), "a recycled chunk is reused");
        assert!(budget.acquire(200).is_none(), "a larger chunk would go over");
    }

    #[test]
    fn waiting_threads_get_freed_chunks_first_come_first_served() {
        let budget = Budget::new(2048, 1024);
        let (a, b) = (budget.acquire(1).unwrap(), budget.acquire(1).unwrap());
        assert!(budget.acquire(1).is_none());
        let order = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for who in 0..2 {
                let (budget, order) = (&budget, &order);
                s.spawn(move || {
                    // The second waiter arrives after the first is queued.
                    if who == 1 {
                        while budget.waiting.load(Ordering::Acquire) == 0 {
                            std::thread::yield_now();
                        }
                    }
                    let deadline = Instant::now() + std::time::Duration::from_secs(10);
                    let got = budget.wait_for_chunk(deadline, || {});
                    assert!(got.is_some(), "waiter {who} got a chunk");
                    order.lock().unwrap().push(who);
                });
            }
            while budget.waiting.load(Ordering::Acquire) < 2 {
                std::thread::yield_now();
            }
            budget.recycle(a);
            while order.lock().unwrap().is_empty() {
                std::thread::yield_now();
            }
            budget.recycle(b);
        });
        assert_eq!(*order.lock().unwrap(), [0, 1]);
    }

    #[test]
    fn a_waiter_gives_up_at_its_deadline() {
        let budget = Budget::new(1024, 1024);
        let _only = budget.acquire(1).unwrap();
        let t = Instant::now();
        assert!(budget.wait_for_chunk(t + std::time::Duration::from_millis(30), || {}).is_none());
        assert!(t.elapsed() >= std::time::Duration::from_millis(30));
        assert_eq!(budget.waiting.load(Ordering::Acquire), 0, "it left the queue");
    }

    #[test]
    fn larger_records_get_a_chunk_of_their_own_that_is_freed() {
        let budget = Budget::new(8192, 1024);
        let big = budget.acquire(300).unwrap();
        assert_eq!(big.capacity(), 300);
        assert_eq!(budget.used(), 2400);
        budget.recycle(big);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn the_reader_takes_what_is_published_once() {
        let budget = Budget::new(1 << 20, 1024);
        let c = budget.acquire(1).unwrap();
        let (a, b) = (record(1), record(2));
        c.write(0, &a);
        let mut out = BatchBuilder::default();
        assert_eq!(c.take(&mut out), 1);
        assert_eq!(c.take(&mut out), 0, "nothing new");
        c.write(a.len(), &b);
        assert!(!c.is_drained());
        assert_eq!(c.take(&mut out), 1);
        assert!(c.is_drained());
        let ids: Vec<_> = out.finish().iter().map(|s| s.span_id().0).collect();
        assert_eq!(ids, [1, 2]);
    }

    #[test]
    fn spsc() {
        // One thread writes records while the other takes them as they are published.
        let budget = Budget::new(1 << 24, 1 << 22);
        let c = budget.acquire(1).unwrap();
        let n = if cfg!(miri) { 50 } else { 20_000 };
        assert!(n as usize * record(0).len() <= c.capacity());
        let writer = c.clone();
        let rec_len = record(0).len();
        let taken = std::thread::scope(|s| {
            s.spawn(move || {
                for i in 0..n {
                    writer.write(i as usize * rec_len, &record(i));
                }
            });
            let mut out = BatchBuilder::default();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while out.spans() < n as usize && std::time::Instant::now() < deadline {
                c.take(&mut out);
                std::hint::spin_loop();
            }
            out.finish()
        });
        let ids: Vec<u64> = taken.iter().map(|s| s.span_id().0).collect();
        assert_eq!(ids, (0..n).collect::<Vec<_>>(), "every record once, in order, whole");
    }
}
