//! The hot path out of the calling thread: per-thread bounded queues, one batch worker, flush,
//! shutdown and the counters that account for every span.
//!
//! ```text
//!  thread A: span ends ──push──▶ [ring A: ArrayQueue<Box<Recording>>, bounded] ─┐
//!  thread B: span ends ──push──▶ [ring B]                                       ├─▶ worker thread
//!  (full? drop + count; ≥ half full? unpark the worker)                         │   drain all rings
//!                                                                               │   by batch size,
//!  control: flush / shutdown ──mpsc──────────────────────────────────────────────┘   on interval or
//!                                                                                    when woken
//!  worker: batch ──▶ exporter 1 ──┐  (own current-thread tokio runtime, timeout per call,
//!                ──▶ exporter 2 ──┴─ panics caught)  ──▶ counters: exported / dropped / errors
//! ```
//!
//! Each thread that ends a span gets its own single-producer ring (a crossbeam `ArrayQueue`, the
//! bounded MPMC queue of Vyukov, used here with one producer and one consumer), registered with
//! the worker through a lock-free `SegQueue` on the thread's first span. The hot path therefore
//! touches only memory its own thread writes, plus the ring's consumer index when it checks the
//! high-water mark every few pushes. Counters are per ring and written by their one producer with
//! plain stores, so two threads never contend on a cache line.
//!
//! Accounting: `submitted` counts every span offered to a ring (before the push, so a drained span
//! is always already counted);
//! `submitted == exported + dropped_queue_full + dropped_export_failed + in_flight`, and after
//! [`flush`] the only spans in flight are those an exporter holds for a later attempt (`held`,
//! settled through [`Exporter::take_settled`]).

pub(crate) mod clock;
mod worker;

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::thread::Thread;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use crossbeam_queue::{ArrayQueue, SegQueue};
use crossbeam_utils::CachePadded;

use crate::capture::CapturePolicy;
use crate::config::{Config, ConfigError};
use crate::context::{Recording, Sampler};
use crate::export::{Exporter, MemoryExporter};

/// 0 while nothing is installed; otherwise the generation of the installed pipeline.
static GENERATION: AtomicU64 = AtomicU64::new(0);
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);
static GLOBAL: ArcSwapOption<Shared> = ArcSwapOption::const_empty();
static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);
/// Whether the installed sampler follows the parent's decision (then an unsampled parent's
/// children are skipped before the pipeline is even looked up).
static PARENT_BASED: AtomicBool = AtomicBool::new(false);

#[inline]
pub(crate) fn parent_based() -> bool {
    GENERATION.load(Ordering::Relaxed) != 0 && PARENT_BASED.load(Ordering::Relaxed)
}

/// State shared by the calling threads and the worker of one installed pipeline.
pub(crate) struct Shared {
    pub(crate) generation: u64,
    pub(crate) sampler: Sampler,
    pub(crate) policy: CapturePolicy,
    pub(crate) config: Config,
    ring_capacity: usize,
    high_water: usize,
    check_every: u32,
    new_rings: SegQueue<Arc<Ring>>,
    worker: OnceLock<Thread>,
    sleeping: CachePadded<AtomicBool>,
    control: Mutex<mpsc::Sender<Control>>,
    pub(crate) counters: Counters,
    /// Rings the worker knows, for `stats()`; the hot path never takes this lock.
    rings: Mutex<Vec<Arc<Ring>>>,
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
    /// Totals of rings whose threads ended and which the worker let go.
    pub(crate) retired_submitted: AtomicU64,
    pub(crate) retired_dropped: AtomicU64,
}

/// One thread's queue of finished spans, and the way back for their boxes.
///
/// Records travel boxed so the hand-off moves a pointer; the worker sends each emptied box back
/// through `free` so the producer reuses it instead of allocating. Memory is freed and allocated
/// on the same thread, which keeps the allocator's cross-thread locking off the hot path.
pub(crate) struct Ring {
    pub(crate) queue: ArrayQueue<Box<Recording>>,
    pub(crate) free: ArrayQueue<Box<Recording>>,
    /// Written only by the owning thread (plain stores), read by the worker and `stats()`.
    pub(crate) submitted: CachePadded<AtomicU64>,
    pub(crate) dropped: AtomicU64,
}

pub(crate) enum Control {
    Flush(mpsc::Sender<()>),
    Shutdown(mpsc::Sender<()>),
}

struct Local {
    generation: u64,
    shared: Arc<Shared>,
    ring: Arc<Ring>,
    submitted: u64,
    dropped: u64,
    since_check: u32,
}

thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
    static THREAD_NUM: Cell<u64> = const { Cell::new(0) };
}

fn thread_num() -> u64 {
    THREAD_NUM.with(|n| {
        if n.get() == 0 {
            n.set(NEXT_THREAD.fetch_add(1, Ordering::Relaxed));
        }
        n.get()
    })
}

// Hot path: one atomic load of the generation and one TLS borrow; registration happens once per
// thread per installed pipeline.
#[inline]
fn with_local<R>(f: impl FnOnce(&mut Local) -> R) -> Option<R> {
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
    let ring = Arc::new(Ring {
        queue: ArrayQueue::new(shared.ring_capacity),
        free: ArrayQueue::new(shared.ring_capacity),
        submitted: CachePadded::new(AtomicU64::new(0)),
        dropped: AtomicU64::new(0),
    });
    shared.new_rings.push(ring.clone());
    Some(Local { generation: shared.generation, shared, ring, submitted: 0, dropped: 0, since_check: 0 })
}

impl Ring {
    /// A box holding an all-default record: one the worker sent back, or a new one.
    #[inline]
    pub(crate) fn recycled(&self) -> Box<Recording> {
        self.free.pop().unwrap_or_else(|| Box::new(Recording::empty()))
    }
}

/// Runs `f` with the installed pipeline's shared state and this thread's ring; `None` when
/// nothing is installed.
#[inline]
pub(crate) fn with_ring<R>(f: impl FnOnce(&Shared, &Ring) -> R) -> Option<R> {
    with_local(|l| f(&l.shared, &l.ring))
}

/// Runs `f` with the installed pipeline's shared state; `None` when nothing is installed.
#[inline]
pub(crate) fn with_shared<R>(f: impl FnOnce(&Shared) -> R) -> Option<R> {
    with_local(|l| f(&l.shared))
}

/// Hands a finished span to this thread's ring. Never blocks: a full ring drops and counts.
// Hot path: plain stores for the counters, one lock-free push, a high-water check every few pushes.
#[inline]
pub(crate) fn submit(mut rec: Box<Recording>) {
    rec.data.thread_id = thread_num();
    with_local(move |l| {
        l.submitted += 1;
        l.ring.submitted.store(l.submitted, Ordering::Relaxed);
        if l.ring.queue.push(rec).is_err() {
            l.dropped += 1;
            l.ring.dropped.store(l.dropped, Ordering::Relaxed);
            l.shared.wake();
            return;
        }
        l.since_check += 1;
        if l.since_check >= l.shared.check_every {
            l.since_check = 0;
            if l.ring.queue.len() >= l.shared.high_water {
                l.shared.wake();
            }
        }
    });
}

impl Shared {
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

    fn stats(&self) -> Stats {
        let c = &self.counters;
        // Read what left the pipeline before what entered it, so a live reading never shows more
        // spans out than in.
        let exported = c.exported.load(Ordering::Acquire);
        let dropped_export_failed = c.dropped_export_failed.load(Ordering::Acquire);
        let held = c.held.load(Ordering::Acquire);
        let (mut submitted, mut dropped) = (0, 0);
        if let Ok(rings) = self.rings.lock() {
            // Retired totals move under this lock, so no ring is counted twice or missed.
            submitted = c.retired_submitted.load(Ordering::Acquire);
            dropped = c.retired_dropped.load(Ordering::Acquire);
            for r in rings.iter() {
                submitted += r.submitted.load(Ordering::Acquire);
                dropped += r.dropped.load(Ordering::Acquire);
            }
        }
        Stats {
            submitted,
            exported,
            dropped_queue_full: dropped,
            dropped_export_failed,
            export_batches: c.export_batches.load(Ordering::Acquire),
            export_errors: c.export_errors.load(Ordering::Acquire),
            in_flight: submitted.saturating_sub(exported + dropped + dropped_export_failed),
            held,
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
    /// Spans dropped because their thread's queue was full.
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
        // New spans stop recording at once; spans already in rings are still exported.
        let _ = GLOBAL.compare_and_swap(&Some(shared.clone()), None::<Arc<Shared>>);
        let _ = GENERATION.compare_exchange(shared.generation, 0, Ordering::AcqRel, Ordering::Acquire);
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

pub(crate) fn install(
    config: Config,
    exporters: Vec<Box<dyn Exporter>>,
    memory: MemoryExporter,
) -> Result<Guard, ConfigError> {
    crate::context::install_panic_hook();
    clock::warm_up();
    let generation = NEXT_GENERATION.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = mpsc::channel();
    let ring_capacity = config.max_queue_size.max(2);
    let shared = Arc::new(Shared {
        generation,
        sampler: config.sampler.clone(),
        policy: config.policy.clone(),
        ring_capacity,
        high_water: (ring_capacity / 2).max(1),
        check_every: (ring_capacity / 8).clamp(1, 64) as u32,
        new_rings: SegQueue::new(),
        worker: OnceLock::new(),
        sleeping: CachePadded::new(AtomicBool::new(false)),
        control: Mutex::new(tx),
        counters: Counters::default(),
        rings: Mutex::new(Vec::new()),
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
    PARENT_BASED.store(matches!(shared.sampler, Sampler::ParentBased(_)), Ordering::Relaxed);
    GENERATION.store(generation, Ordering::Release);
    Ok(Guard { shared: Some(shared), worker: Some(handle) })
}

/// Writes a tracewell diagnostic to stderr, at most a few per second so a dead backend cannot
/// flood the user's logs.
pub(crate) fn log_error(msg: std::fmt::Arguments<'_>) {
    static WINDOW: Mutex<Option<(Instant, u32, u64)>> = Mutex::new(None);
    let Ok(mut w) = WINDOW.lock() else { return };
    let now = Instant::now();
    let (start, count, suppressed) = w.get_or_insert((now, 0, 0));
    if now.duration_since(*start) > Duration::from_secs(10) {
        if *suppressed > 0 {
            eprintln!("tracewell: {suppressed} similar messages suppressed");
        }
        *start = now;
        *count = 0;
        *suppressed = 0;
    }
    if *count < 5 {
        *count += 1;
        eprintln!("tracewell: {msg}");
    } else {
        *suppressed += 1;
    }
}
