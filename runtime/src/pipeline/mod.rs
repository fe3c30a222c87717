//! The hot path out of the calling thread: per-thread chunks of compact records, a byte budget,
//! one batch worker, flush, shutdown and the counters that account for every span.
//!
//! ```text
//!  thread A: span ends ─encode─▶ [chunk A: records, 32 KiB] ──full: hand over whole──┐
//!  thread B: span ends ─encode─▶ [chunk B]  (read in place by the worker when B is quiet)
//!                  ▲                                                                 ▼
//!                  └──── empty chunks ◀── budget: TRACEWELL_BUFFER_BYTES ◀── [queue of full chunks]
//!  (no chunk to be had: drop + count, or wait up to TRACEWELL_ON_FULL_WAIT_MS)       │
//!                                                                                    ▼
//!  control: flush / shutdown ──mpsc──▶ worker thread: copies records into a Batch, converts
//!                                      nothing (readers convert clock ticks), hands the batch
//!  worker: batch ──▶ exporter 1 ──┐    to every exporter on its own current-thread tokio
//!                ──▶ exporter 2 ──┴─   runtime (timeout per call, panics caught) ──▶ counters
//! ```
//!
//! A span is written once, on the thread that ends it, as a compact record (see
//! [`crate::span::record`]) appended to that thread's chunk: a block of words only that thread
//! writes, published to the worker by one release store per record. A full chunk is handed over
//! whole, with one push onto a lock-free queue, and the thread takes an empty chunk from the
//! pool. The worker also reads the published part of the chunks threads are still filling, on
//! its interval and on [`flush`], so a thread that sleeps or is parked in a pool never strands
//! its spans; a thread that ends hands its chunk over as it goes.
//!
//! Memory is bounded in bytes, not slots: chunks are made on demand until
//! `TRACEWELL_BUFFER_BYTES` (default 64 MiB) of them exist, and emptied chunks are reused. When
//! none is to be had, a span is dropped and counted (`TRACEWELL_ON_FULL=drop`, the default: the
//! caller never blocks), or the caller waits for the worker to free one for at most
//! `TRACEWELL_ON_FULL_WAIT_MS` (`TRACEWELL_ON_FULL=wait`, for batch jobs where every span matters
//! more than latency). `OTEL_BSP_MAX_QUEUE_SIZE`, when set, also bounds the spans queued.
//!
//! Accounting: `submitted` counts every span offered to the pipeline;
//! `submitted == exported + dropped_queue_full + dropped_export_failed + in_flight`, and after
//! [`flush`] the only spans in flight are those an exporter holds for a later attempt (`held`,
//! settled through [`Exporter::take_settled`]).

mod chunk;
mod local;
mod worker;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::thread::Thread;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use crossbeam_queue::SegQueue;
use crossbeam_utils::CachePadded;

use self::chunk::{Budget, Chunk};
pub(crate) use self::local::Local as ThreadState;
use self::local::{Slot, with_local};
use crate::capture::CapturePolicy;
use crate::config::{Config, ConfigError, OnFull};
use crate::diag::log_error;
use crate::export::{Exporter, MemoryExporter};
use crate::sampler::Sampler;
use crate::span::record::Recording;

/// 0 while nothing is installed; otherwise the generation of the installed pipeline.
static GENERATION: AtomicU64 = AtomicU64::new(0);
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);
static GLOBAL: ArcSwapOption<Shared> = ArcSwapOption::const_empty();

const MODE_INSTALLED: u8 = 1;
const MODE_PARENT_BASED: u8 = 2;
/// What a span start needs to know before it looks anything else up.
static MODE: AtomicU8 = AtomicU8::new(0);

/// Whether a pipeline is installed whose sampler follows the parent's decision (then an
/// unsampled parent's children are skipped before anything else is looked up).
#[inline]
pub(crate) fn parent_based() -> bool {
    MODE.load(Ordering::Relaxed) == MODE_INSTALLED | MODE_PARENT_BASED
}

/// Bytes of a chunk, unless the budget is so small that fewer than 16 would fit.
const CHUNK_BYTES: usize = 32 * 1024;

/// State shared by the calling threads and the worker of one installed pipeline.
pub(crate) struct Shared {
    pub(crate) generation: u64,
    pub(crate) sampler: Sampler,
    pub(crate) policy: CapturePolicy,
    pub(crate) config: Config,
    budget: Arc<Budget>,
    on_full: OnFull,
    /// Spans that may still be queued under `OTEL_BSP_MAX_QUEUE_SIZE`, when it is set.
    spans_left: Option<AtomicI64>,
    /// Half of `OTEL_BSP_MAX_QUEUE_SIZE`: below this many spans left, the worker is woken.
    spans_half: i64,
    /// Chunks handed over whole, oldest first.
    full: SegQueue<Chunk>,
    queued_chunks: CachePadded<AtomicUsize>,
    /// Wake the worker when this many chunks are queued.
    wake_chunks: usize,
    new_slots: SegQueue<Arc<Slot>>,
    worker: OnceLock<Thread>,
    sleeping: CachePadded<AtomicBool>,
    control: Mutex<mpsc::Sender<Control>>,
    pub(crate) counters: Counters,
    /// Threads the worker and `stats()` know (see [`Shared::slots`]).
    slots: Mutex<Vec<Arc<Slot>>>,
    memory: MemoryExporter,
}

/// Counters the worker writes.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) exported: AtomicU64,
    pub(crate) dropped_export_failed: AtomicU64,
    /// Spans no exporter delivered yet but one holds for a later attempt.
    pub(crate) held: AtomicU64,
    pub(crate) export_batches: AtomicU64,
    pub(crate) export_errors: AtomicU64,
    /// Totals of threads that ended and which the worker let go.
    pub(crate) retired_submitted: AtomicU64,
    pub(crate) retired_dropped: AtomicU64,
}

pub(crate) enum Control {
    Flush(mpsc::Sender<()>),
    Shutdown(mpsc::Sender<()>),
}

/// Runs `f` with this thread's side of the installed pipeline (its shared state, its reusable
/// records); `None` when nothing is installed.
#[inline]
pub(crate) fn with_thread<R>(f: impl FnOnce(&mut ThreadState) -> R) -> Option<R> {
    with_local(f)
}

/// Runs `f` with the installed pipeline's shared state; `None` when nothing is installed.
#[cfg(any(feature = "tracing", feature = "log"))]
#[inline]
pub(crate) fn with_shared<R>(f: impl FnOnce(&Shared) -> R) -> Option<R> {
    with_local(|l| f(l.shared()))
}

/// Takes back the record of a span that ended without recording, for reuse.
#[inline]
pub(crate) fn recycle(rec: Box<Recording>) {
    with_local(move |l| l.recycle(rec));
}

/// Writes a finished span into this thread's chunk. Never blocks (unless `TRACEWELL_ON_FULL` is
/// `wait`): a span that finds no room is dropped and counted.
// Hot path: see `Local::submit`.
#[inline]
pub(crate) fn submit(rec: Box<Recording>, end: crate::clock::Ticks) {
    with_local(move |l| l.submit(rec, end));
}

impl Shared {
    /// Queues a chunk handed over whole, waking the worker when enough wait.
    fn queue_chunk(&self, c: Chunk) {
        self.full.push(c);
        let queued = self.queued_chunks.fetch_add(1, Ordering::Relaxed) + 1;
        if queued >= self.wake_chunks || self.under_pressure() {
            self.wake();
        }
    }

    /// Whether the buffer is more than half full (in bytes, or in spans under
    /// `OTEL_BSP_MAX_QUEUE_SIZE`): then the worker also takes the spans of chunks threads are
    /// still filling, without waiting for its interval.
    fn under_pressure(&self) -> bool {
        self.budget.in_use() * 2 > self.budget.limit()
            || self.spans_left.as_ref().is_some_and(|s| s.load(Ordering::Relaxed) < self.spans_half)
    }

    #[inline]
    fn wake(&self) {
        if self.sleeping.load(Ordering::Relaxed)
            && self.sleeping.swap(false, Ordering::AcqRel)
            && let Some(t) = self.worker.get()
        {
            t.unpark();
        }
    }

    fn send(&self, msg: Control) -> bool {
        let sent = self.control.lock().map(|tx| tx.send(msg).is_ok()).unwrap_or(false);
        self.sleeping.store(false, Ordering::Release);
        if let Some(t) = self.worker.get() {
            t.unpark();
        }
        sent
    }

    /// Every thread registered with this pipeline (adopting those that registered since the
    /// last call). Only `stats()` and the worker take this lock, never the hot path.
    fn slots(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Slot>>> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(s) = self.new_slots.pop() {
            slots.push(s);
        }
        slots
    }

    fn stats(&self) -> Stats {
        let c = &self.counters;
        // Read what left the pipeline before what entered it, so a live reading never shows more
        // spans out than in.
        let exported = c.exported.load(Ordering::Acquire);
        let dropped_export_failed = c.dropped_export_failed.load(Ordering::Acquire);
        let held = c.held.load(Ordering::Acquire);
        let (submitted, dropped) = {
            // Retired totals and new threads move under this lock, so no thread is counted twice
            // or missed.
            let slots = self.slots();
            let mut submitted = c.retired_submitted.load(Ordering::Acquire);
            let mut dropped = c.retired_dropped.load(Ordering::Acquire);
            for s in slots.iter() {
                submitted += s.submitted.load(Ordering::Acquire);
                dropped += s.dropped.load(Ordering::Acquire);
            }
            (submitted, dropped)
        };
        Stats {
            submitted,
            exported,
            dropped_queue_full: dropped,
            dropped_export_failed,
            export_batches: c.export_batches.load(Ordering::Acquire),
            export_errors: c.export_errors.load(Ordering::Acquire),
            in_flight: submitted.saturating_sub(exported + dropped + dropped_export_failed),
            held,
            buffer_bytes: self.budget.used() as u64,
            buffer_peak_bytes: self.budget.peak() as u64,
        }
    }
}

/// Counters that account for every span (see [`stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Spans that ended while recording and were offered to the pipeline.
    pub submitted: u64,
    /// Spans delivered to at least one exporter.
    pub exported: u64,
    /// Spans dropped because the buffer was full (`TRACEWELL_BUFFER_BYTES`, or
    /// `OTEL_BSP_MAX_QUEUE_SIZE` when set) and, with `TRACEWELL_ON_FULL=wait`, stayed full for
    /// the whole wait.
    pub dropped_queue_full: u64,
    /// Spans that every exporter failed to deliver.
    pub dropped_export_failed: u64,
    /// Exporter calls made (one per batch per exporter).
    pub export_batches: u64,
    /// Exporter calls that failed, timed out or panicked.
    pub export_errors: u64,
    /// Spans submitted but not yet exported or dropped (this includes `held`).
    pub in_flight: u64,
    /// Spans that no exporter has delivered yet but one holds for a later attempt, such as the
    /// Redis exporter's retry buffer while Redis is away, or an OTLP or Zipkin request in flight
    /// that has not been answered yet. They become `exported` when delivered, `dropped_export_failed` when
    /// the buffer overflows, the backend refuses them or the pipeline shuts down first.
    pub held: u64,
    /// Bytes of span buffer (chunks) that exist now: in use by threads, queued for the worker or
    /// kept empty for reuse. Never more than `TRACEWELL_BUFFER_BYTES`.
    pub buffer_bytes: u64,
    /// The most bytes of span buffer that existed at once.
    pub buffer_peak_bytes: u64,
}

/// The pipeline's counters. At any time
/// `submitted == exported + dropped_queue_full + dropped_export_failed + in_flight`; after
/// [`flush`] returns `true`, `in_flight == held`, which is 0 unless an exporter is holding spans
/// for a backend it cannot reach.
///
/// # Examples
///
/// ```
/// let _g = tracewell::builder().install().unwrap();
/// for _ in 0..10 { tracewell::in_span("x", || ()); }
/// tracewell::flush();
/// let s = tracewell::stats();
/// assert_eq!(s.submitted, s.exported + s.dropped_queue_full + s.dropped_export_failed);
/// assert_eq!(s.in_flight, 0);
/// ```
pub fn stats() -> Stats {
    GLOBAL.load_full().map(|s| s.stats()).unwrap_or_default()
}

/// Blocks until every span submitted before the call has been handed to the exporters and their
/// `flush` has run, or until twice the export timeout has passed (one export round and one
/// exporter flush, each bounded by it). Returns whether the worker confirmed in time. Spans an
/// exporter still holds for a backend it cannot reach stay counted as [`Stats::held`].
///
/// Spans of other threads are included: the worker reads the chunks threads are still filling.
///
/// # Examples
///
/// ```
/// let _g = tracewell::builder().install().unwrap();
/// tracewell::in_span("x", || ());
/// assert!(tracewell::flush());
/// assert_eq!(tracewell::stats().in_flight, 0);
/// ```
pub fn flush() -> bool {
    let Some(shared) = GLOBAL.load_full() else { return false };
    let (tx, rx) = mpsc::channel();
    if !shared.send(Control::Flush(tx)) {
        return false;
    }
    rx.recv_timeout(shared.config.export_timeout * 2 + Duration::from_millis(100)).is_ok()
}

/// The spans the default memory exporter holds, oldest first, after a [`flush`].
///
/// # Examples
///
/// ```
/// let _g = tracewell::builder().install().unwrap();
/// tracewell::in_span("x", || ());
/// assert!(tracewell::collected().iter().any(|s| s.name == "x"));
/// ```
pub fn collected() -> Vec<crate::SpanData> {
    let Some(shared) = GLOBAL.load_full() else { return Vec::new() };
    flush();
    shared.memory.spans()
}

/// Keeps the pipeline installed; dropping it flushes, shuts the exporters down (within the export
/// timeout) and uninstalls.
#[must_use = "dropping the guard shuts tracing down; keep it alive for the program's life"]
pub struct Guard {
    shared: Option<Arc<Shared>>,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard").field("installed", &self.shared.is_some()).finish()
    }
}

impl Guard {
    /// A guard that owns nothing (what [`crate::init`] returns when installing failed).
    pub fn inert() -> Guard {
        Guard { shared: None, worker: None }
    }

    /// The default memory exporter of this pipeline (it holds spans only when `memory` is among
    /// the exporters).
    pub fn memory(&self) -> Option<MemoryExporter> {
        self.shared.as_ref().map(|s| s.memory.clone())
    }

    /// Flushes and stops now, returning whether everything was exported in time.
    pub fn shutdown(mut self) -> bool {
        self.stop()
    }

    fn stop(&mut self) -> bool {
        let Some(shared) = self.shared.take() else { return true };
        // New spans stop recording at once; spans already in chunks are still exported.
        let _ = GLOBAL.compare_and_swap(&Some(shared.clone()), None::<Arc<Shared>>);
        if GENERATION.compare_exchange(shared.generation, 0, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            MODE.store(0, Ordering::Relaxed);
        }
        let (tx, rx) = mpsc::channel();
        let ok = shared.send(Control::Shutdown(tx))
            && rx.recv_timeout(shared.config.export_timeout * 3 + Duration::from_millis(100)).is_ok();
        if ok && let Some(h) = self.worker.take() {
            let _ = h.join();
        }
        ok
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.stop() {
            log_error(format_args!("shutdown timed out; some spans may not have been exported"));
        }
    }
}

/// Starts the worker and makes spans record.
pub(crate) fn install(
    config: Config,
    exporters: Vec<Box<dyn Exporter>>,
    memory: MemoryExporter,
) -> Result<Guard, ConfigError> {
    crate::clock::warm_up();
    let generation = NEXT_GENERATION.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = mpsc::channel();
    let budget = Budget::new(config.buffer_bytes, CHUNK_BYTES.min(config.buffer_bytes / 16));
    let max_chunks = (budget.limit() / (budget.chunk_words * 8)).max(1);
    let shared = Arc::new(Shared {
        generation,
        sampler: config.sampler.clone(),
        policy: config.policy.clone(),
        on_full: config.on_full,
        spans_left: config.max_queue_size.map(|n| AtomicI64::new(n as i64)),
        spans_half: config.max_queue_size.map_or(0, |n| n as i64 / 2),
        wake_chunks: (max_chunks / 16).max(1),
        budget,
        full: SegQueue::new(),
        queued_chunks: CachePadded::new(AtomicUsize::new(0)),
        new_slots: SegQueue::new(),
        worker: OnceLock::new(),
        sleeping: CachePadded::new(AtomicBool::new(false)),
        control: Mutex::new(tx),
        counters: Counters::default(),
        slots: Mutex::new(Vec::new()),
        memory,
        config,
    });
    let prev = GLOBAL.compare_and_swap(&None::<Arc<Shared>>, Some(shared.clone()));
    if prev.is_some() {
        return Err(ConfigError::AlreadyInstalled);
    }
    let worker_shared = shared.clone();
    let handle = std::thread::Builder::new()
        .name("tracewell-worker".into())
        .spawn(move || worker::run(worker_shared, exporters, rx))
        .map_err(|e| {
            GLOBAL.store(None);
            ConfigError::Worker(e.to_string())
        })?;
    let _ = shared.worker.set(handle.thread().clone());
    let parent_based = matches!(shared.sampler, Sampler::ParentBased(_));
    MODE.store(MODE_INSTALLED | if parent_based { MODE_PARENT_BASED } else { 0 }, Ordering::Relaxed);
    GENERATION.store(generation, Ordering::Release);
    Ok(Guard { shared: Some(shared), worker: Some(handle) })
}
