//! Per-thread allocation counters, the memory signal of the stability score.
//!
//! Install [`TrackingAllocator`] as the global allocator and every recording span gets
//! `tracewell.alloc_bytes` (bytes its thread allocated while it ran; for futures, summed over its
//! polls) and `tracewell.alloc_peak` (the highest rise of live bytes above the start):
//!
//! ```
//! use tracewell::alloc::TrackingAllocator;
//!
//! #[global_allocator]
//! static GLOBAL: TrackingAllocator = TrackingAllocator::new();
//! # fn main() {}
//! ```
//!
//! The counters are `Cell`s in a `const` thread-local: no lock, no atomic, no allocation. Without
//! a tracking allocator no span carries these figures and the score reports memory stability as
//! not measured. [`record_alloc`] / [`record_dealloc`] feed the same counters from an allocator
//! of your own.
//!
//! Spans measure themselves; [`AllocScope`] puts the same figures for any stretch of code onto a
//! span of your own.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

thread_local! {
    static ALLOCATED: Cell<u64> = const { Cell::new(0) };
    static LIVE: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

/// Wraps an allocator `A` (the system allocator by default) and counts, per thread, the bytes
/// allocated and live. Install it with `#[global_allocator]` (see the [module docs](self)).
///
/// # Examples
///
/// ```
/// use tracewell::alloc::{TrackingAllocator, thread_counters};
/// let tracker = TrackingAllocator::new();
/// let before = thread_counters();
/// tracker.record_alloc(100);
/// tracker.record_dealloc(40);
/// let after = thread_counters();
/// assert_eq!(after.allocated - before.allocated, 100);
/// assert_eq!(after.live - before.live, 60);
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct TrackingAllocator<A = System> {
    inner: A,
}

impl TrackingAllocator<System> {
    /// Tracks the system allocator.
    pub const fn new() -> Self {
        TrackingAllocator { inner: System }
    }
}

impl<A> TrackingAllocator<A> {
    /// Tracks `inner`.
    pub const fn wrap(inner: A) -> Self {
        TrackingAllocator { inner }
    }

    /// The wrapped allocator, to forward to.
    pub const fn inner(&self) -> &A {
        &self.inner
    }

    /// Counts an allocation of `size` bytes on this thread. Never allocates, never panics.
    #[inline]
    pub fn record_alloc(&self, size: usize) {
        record_alloc(size);
    }

    /// Counts a deallocation of `size` bytes on this thread.
    #[inline]
    pub fn record_dealloc(&self, size: usize) {
        record_dealloc(size);
    }

    /// Counts a reallocation from `old` to `new` bytes.
    #[inline]
    pub fn record_realloc(&self, old: usize, new: usize) {
        record_dealloc(old);
        record_alloc(new);
    }
}

/// Set once anything was counted: spans measure allocations only when a tracker feeds the
/// counters, so programs without one pay nothing.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Whether allocation counting is feeding the counters (a tracking allocator is installed).
#[inline]
pub fn is_active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

// SAFETY: every method forwards to the wrapped allocator with the caller's own arguments, so the
// wrapped allocator's guarantees are the ones the caller gets; the bookkeeping around the calls
// touches only const-initialized thread-local `Cell`s (no allocation, no reentrancy, no panic).
#[allow(unsafe_code)]
unsafe impl<A: GlobalAlloc> GlobalAlloc for TrackingAllocator<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as received; `layout` is valid per this method's contract.
        let p = unsafe { self.inner.alloc(layout) };
        if !p.is_null() {
            record_alloc(layout.size());
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { self.inner.alloc_zeroed(layout) };
        if !p.is_null() {
            record_alloc(layout.size());
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        record_dealloc(layout.size());
        // SAFETY: `ptr` was allocated by this allocator, i.e. by `inner`, with `layout`.
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr`/`layout` come from `inner` as above; `new_size` per the caller's contract.
        let p = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            record_dealloc(layout.size());
            record_alloc(new_size);
        }
        p
    }
}

/// Counts an allocation of `size` bytes on this thread (the free-function form of
/// [`TrackingAllocator::record_alloc`]).
#[inline]
pub fn record_alloc(size: usize) {
    if !ACTIVE.load(Ordering::Relaxed) {
        ACTIVE.store(true, Ordering::Relaxed);
    }
    // `try_with`: during thread teardown the counters may be gone; then nothing is counted.
    let _ = ALLOCATED.try_with(|a| a.set(a.get().wrapping_add(size as u64)));
    let _ = LIVE.try_with(|l| {
        let live = l.get().wrapping_add(size as i64);
        l.set(live);
        let _ = PEAK.try_with(|p| p.set(p.get().max(live)));
    });
}

/// Counts a deallocation of `size` bytes on this thread. Memory freed on another thread than the
/// one that allocated it makes this thread's live count go down (it may go below zero).
#[inline]
pub fn record_dealloc(size: usize) {
    let _ = LIVE.try_with(|l| l.set(l.get().wrapping_sub(size as i64)));
}

/// This thread's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThreadCounters {
    /// Bytes allocated by this thread so far.
    pub allocated: u64,
    /// Bytes allocated minus bytes freed by this thread.
    pub live: i64,
}

/// Reads this thread's counters.
pub fn thread_counters() -> ThreadCounters {
    ThreadCounters {
        allocated: ALLOCATED.try_with(Cell::get).unwrap_or(0),
        live: LIVE.try_with(Cell::get).unwrap_or(0),
    }
}

/// Measures what this thread allocates between [`begin`](AllocScope::begin) and
/// [`finish`](AllocScope::finish), and writes it to a span as `alloc_bytes` / `alloc_peak`.
/// Scopes nest: an inner scope does not hide its peak from the outer one.
///
/// # Examples
///
/// ```
/// use tracewell::alloc::{AllocScope, record_alloc, record_dealloc};
/// let _g = tracewell::builder().install().unwrap();
/// let mut span = tracewell::span("build").start_detached();
/// let scope = AllocScope::begin();
/// record_alloc(1000); // what a tracking global allocator reports
/// record_dealloc(1000);
/// record_alloc(300);
/// scope.finish(&mut span);
/// drop(span);
/// let s = tracewell::collected().into_iter().find(|s| s.name == "build").unwrap();
/// assert_eq!((s.alloc_bytes, s.alloc_peak), (Some(1300), Some(1000)));
/// ```
#[derive(Debug)]
#[must_use = "call finish to record the figures"]
pub struct AllocScope {
    allocated: u64,
    live: i64,
    saved_peak: i64,
}

impl AllocScope {
    /// Starts measuring on this thread.
    pub fn begin() -> AllocScope {
        let c = thread_counters();
        let saved_peak = PEAK.try_with(|p| p.replace(c.live)).unwrap_or(0);
        AllocScope { allocated: c.allocated, live: c.live, saved_peak }
    }

    /// Bytes allocated and peak rise of live bytes since [`begin`](AllocScope::begin), without
    /// ending the scope.
    pub fn measure(&self) -> (u64, u64) {
        let c = thread_counters();
        let peak = PEAK.try_with(Cell::get).unwrap_or(c.live);
        (c.allocated.wrapping_sub(self.allocated), peak.saturating_sub(self.live).max(0) as u64)
    }

    /// Ends the scope: bytes allocated and peak rise of live bytes since
    /// [`begin`](AllocScope::begin). [`AllocScope::finish`] puts them on a span.
    pub(crate) fn end(self) -> (u64, u64) {
        let figures = self.measure();
        let _ = PEAK.try_with(|p| p.set(p.get().max(self.saved_peak)));
        figures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_scopes_keep_the_outer_peak() {
        let outer = AllocScope::begin();
        record_alloc(500);
        record_dealloc(500);
        let inner = AllocScope::begin();
        record_alloc(100);
        assert_eq!(inner.measure(), (100, 100));
        let _ = PEAK.try_with(|p| p.set(p.get().max(inner.saved_peak)));
        assert_eq!(outer.measure(), (600, 500));
        record_dealloc(100);
    }

    #[test]
    fn counters_are_per_thread() {
        record_alloc(1 << 20);
        let other = std::thread::spawn(thread_counters).join().unwrap();
        assert_eq!(other.allocated, 0);
        record_dealloc(1 << 20);
    }
}
