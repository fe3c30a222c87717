//! The calling thread's side of the pipeline: its chunk, its reusable records, its counters.
//!
//! Everything here is touched by one thread only, except the [`Slot`] it registers with the
//! worker (its counters, written with plain stores, and the chunk it is filling).

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_utils::{Backoff, CachePadded};

use super::chunk::{Chunk, Current};
use super::{GENERATION, GLOBAL, OnFull, Shared};
use crate::clock::Ticks;
use crate::span::record::Recording;
use crate::span::{SpanId, TraceId};

/// Records kept for reuse per thread.
const SPARE_RECORDS: usize = 32;

/// One thread's registration with the worker.
#[derive(Default)]
pub(crate) struct Slot {
    /// Spans this thread ended while recording (plain stores by the thread).
    pub(crate) submitted: CachePadded<AtomicU64>,
    /// Spans it dropped because the buffer was full.
    pub(crate) dropped: AtomicU64,
    /// The chunk it is filling, for the worker to read when the thread goes quiet.
    pub(crate) current: Current,
}

pub(crate) struct Local {
    generation: u64,
    pub(super) shared: Arc<Shared>,
    slot: Arc<Slot>,
    chunk: Option<Chunk>,
    /// Words written into `chunk`.
    pos: usize,
    /// Records of ended spans, kept boxed so that a span start takes one without allocating or
    /// moving a record.
    #[allow(clippy::vec_box)]
    spare: Vec<Box<Recording>>,
    submitted: u64,
    dropped: u64,
    thread: u32,
    /// Spans this thread may still queue under `OTEL_BSP_MAX_QUEUE_SIZE`, taken from the shared
    /// allowance a few at a time.
    allowance: u32,
    /// The state of this thread's id generator (wyrand).
    rng: u64,
}

thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

static NEXT_THREAD: AtomicU32 = AtomicU32::new(1);

// Hot path: one atomic load of the generation and one TLS borrow; registration happens once per
// thread per installed pipeline.
#[inline]
pub(super) fn with_local<R>(f: impl FnOnce(&mut Local) -> R) -> Option<R> {
    let generation = GENERATION.load(Ordering::Acquire);
    if generation == 0 {
        return None;
    }
    LOCAL
        .try_with(|cell| {
            let mut slot = cell.try_borrow_mut().ok()?;
            if slot.as_ref().map(|l| l.generation) != Some(generation) {
                *slot = register();
            }
            slot.as_mut().map(f)
        })
        .ok()
        .flatten()
}

#[cold]
fn register() -> Option<Local> {
    let shared = GLOBAL.load_full()?;
    let slot = Arc::new(Slot::default());
    shared.new_slots.push(slot.clone());
    Some(Local {
        generation: shared.generation,
        shared,
        slot,
        chunk: None,
        pos: 0,
        spare: Vec::new(),
        submitted: 0,
        dropped: 0,
        thread: NEXT_THREAD.fetch_add(1, Ordering::Relaxed),
        allowance: 0,
        rng: fastrand::u64(..),
    })
}

impl Local {
    /// The installed pipeline's shared state.
    #[inline]
    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// 64 random bits from this thread's generator (wyrand: one multiply, no lookup of another
    /// thread-local).
    // Hot path: every span id comes from here.
    #[inline]
    pub(crate) fn random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.rng) * u128::from(self.rng ^ 0xe703_7ed1_a0b4_28db);
        (t >> 64) as u64 ^ t as u64
    }

    /// A new span id (never 0).
    #[inline]
    pub(crate) fn span_id(&mut self) -> SpanId {
        loop {
            let v = self.random();
            if v != 0 {
                return SpanId(v);
            }
        }
    }

    /// A new trace id (never 0).
    #[inline]
    pub(crate) fn trace_id(&mut self) -> TraceId {
        loop {
            let v = u128::from(self.random()) << 64 | u128::from(self.random());
            if v != 0 {
                return TraceId(v);
            }
        }
    }

    /// A record with every field at its default: one this thread used before, or a new one.
    #[inline]
    pub(crate) fn recycled(&mut self) -> Box<Recording> {
        self.spare.pop().unwrap_or_else(|| Box::new(Recording::empty()))
    }

    /// Writes a finished span into this thread's chunk. Never blocks unless the user chose
    /// `TRACEWELL_ON_FULL=wait`; a span that finds no room is dropped and counted.
    // Hot path: a header and the span's already encoded words copied into the chunk, plain
    // stores for the counters.
    #[inline]
    pub(super) fn submit(&mut self, mut rec: Box<Recording>, end: Ticks) {
        self.submitted += 1;
        self.slot.submitted.store(self.submitted, Ordering::Relaxed);
        if !self.has_allowance() {
            self.count_drop();
        } else if !self.write(rec.finish(end, self.thread)) {
            self.count_drop();
            if let Some(spans) = &self.shared.spans_left {
                spans.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.recycle(rec);
    }

    /// Keeps `rec` for a later span (up to a few per thread).
    #[inline]
    pub(super) fn recycle(&mut self, mut rec: Box<Recording>) {
        rec.reset();
        if self.spare.len() < SPARE_RECORDS {
            self.spare.push(rec);
        }
    }

    #[cold]
    fn count_drop(&mut self) {
        self.dropped += 1;
        self.slot.dropped.store(self.dropped, Ordering::Relaxed);
    }

    #[inline]
    fn has_allowance(&mut self) -> bool {
        let Some(spans) = &self.shared.spans_left else { return true };
        if self.allowance == 0 {
            self.allowance = take_allowance(spans, &self.shared.on_full, &self.shared);
            if self.allowance == 0 {
                return false;
            }
        }
        self.allowance -= 1;
        true
    }

    #[inline]
    fn write(&mut self, words: &[u64]) -> bool {
        let len = words.len();
        if let Some(c) = &self.chunk
            && self.pos + len <= c.capacity()
        {
            c.write(self.pos, words);
            self.pos += len;
            return true;
        }
        self.write_in_new_chunk(words)
    }

    #[cold]
    fn write_in_new_chunk(&mut self, words: &[u64]) -> bool {
        let len = words.len();
        self.hand_off();
        let shared = &self.shared;
        let chunk = match shared.budget.acquire(len) {
            Some(c) => c,
            None => match shared.on_full {
                OnFull::Drop => {
                    shared.wake();
                    return false;
                }
                OnFull::Wait(limit) => match wait_for_chunk(shared, len, limit) {
                    Some(c) => c,
                    None => return false,
                },
            },
        };
        chunk.write(0, words);
        self.pos = len;
        self.slot.current.set(Some(&chunk));
        self.chunk = Some(chunk);
        true
    }

    /// Hands the chunk being filled to the worker whole.
    fn hand_off(&mut self) {
        let Some(c) = self.chunk.take() else { return };
        self.slot.current.set(None);
        self.pos = 0;
        self.shared.queue_chunk(c);
    }
}

impl Drop for Local {
    // A thread that ends leaves no span behind in its chunk; unused allowance goes back.
    fn drop(&mut self) {
        self.hand_off();
        if let Some(spans) = &self.shared.spans_left {
            spans.fetch_add(i64::from(self.allowance), Ordering::Relaxed);
        }
    }
}

/// Spans taken from the shared `OTEL_BSP_MAX_QUEUE_SIZE` allowance at a time.
const ALLOWANCE_STEP: i64 = 64;

#[cold]
fn take_allowance(spans: &AtomicI64, on_full: &OnFull, shared: &Shared) -> u32 {
    let try_take = || {
        let mut left = spans.load(Ordering::Relaxed);
        while left > 0 {
            let take = left.min(ALLOWANCE_STEP);
            match spans.compare_exchange_weak(left, left - take, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Some(take as u32),
                Err(now) => left = now,
            }
        }
        None
    };
    if let Some(got) = try_take() {
        if spans.load(Ordering::Relaxed) < shared.spans_half {
            shared.wake();
        }
        return got;
    }
    shared.wake();
    match *on_full {
        OnFull::Drop => 0,
        OnFull::Wait(limit) => wait_until(limit, shared, try_take).unwrap_or(0),
    }
}

#[cold]
fn wait_for_chunk(shared: &Shared, words: usize, limit: Duration) -> Option<Chunk> {
    if words > shared.budget.chunk_words {
        // A record larger than a chunk needs room made, not a chunk handed over.
        return wait_until(limit, shared, || shared.budget.acquire(words));
    }
    shared.budget.wait_for_chunk(Instant::now() + limit, || shared.wake())
}

/// Retries `attempt` until it gives something or `limit` has passed, waking the worker each
/// round: spins briefly, then yields, then sleeps in short steps.
fn wait_until<T>(limit: Duration, shared: &Shared, mut attempt: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    let backoff = Backoff::new();
    loop {
        shared.wake();
        if let Some(v) = attempt() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        if backoff.is_completed() {
            std::thread::sleep(Duration::from_micros(50));
        } else {
            backoff.snooze();
        }
    }
}
