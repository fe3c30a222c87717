//! Which span is current: per thread, and per future while it is polled; parent/child links and
//! sampling decisions.
//!
//! The current span of a thread is a [`SpanContext`] in a thread-local cell. A [`SpanGuard`]
//! makes its span current until it drops; an [`Instrumented`] future makes its span current only
//! while it is being polled, on whichever thread polls it, so children nest correctly across
//! `.await` and across threads.

mod future;
mod handle;
mod panic;
pub(crate) mod pending;
mod spawn;
mod start;
mod stream;

use std::cell::{Cell, RefCell};
use std::sync::Arc;

pub use crate::sampler::{Sampler, SamplerError};
pub use crate::span::Callsite;
pub use crate::span::{FLAG_RANDOM, FLAG_SAMPLED, RemoteContext, SpanContext};
pub use future::{FutureExt, Instrumented, OutputHook, in_span};
pub use handle::{Span, SpanGuard};
pub(crate) use panic::install_hook as install_panic_hook;
pub use spawn::{CurrentSpanExt, spawn, spawn_local};
pub(crate) use start::start_callsite;
pub use start::{IntoParent, SpanBuilder, span};
pub use stream::{
    CurrentGuard, ItemCapture, TracedIter, TracedStream, WithContext, set_current, traced_iter, traced_stream,
    with_context,
};

use crate::span::{Ids, Prev};

thread_local! {
    // Hot path: const-initialized plain `Cell`s, so a swap is a few loads and stores with no
    // lazy-init check and no borrow flag. The rarely present `tracestate` lives apart and is
    // touched only when the old or the new context has one.
    static IDS: Cell<Ids> = const { Cell::new(Ids::NONE) };
    static STATE: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
}

/// The context of the span current on this thread ([`SpanContext::NONE`] when there is none).
///
/// # Examples
///
/// ```
/// let _g = tracewell::builder().install().unwrap();
/// assert!(!tracewell::current().is_valid());
/// let span = tracewell::span("outer").start();
/// assert_eq!(tracewell::current().span_id, span.context().span_id);
/// ```
pub fn current() -> SpanContext {
    with_current(SpanContext::clone)
}

/// Makes `ctx` current and returns what was current before.
#[inline]
#[allow(dead_code)]
pub(crate) fn replace_current(ctx: SpanContext) -> SpanContext {
    let SpanContext { trace_id, span_id, trace_flags, is_remote, trace_state } = ctx;
    let new = Ids::new(trace_id, span_id, trace_flags, is_remote, trace_state.is_some());
    let Ok(old) = IDS.try_with(|c| c.replace(new)) else { return SpanContext::NONE };
    let old_state = if old.has_state() || new.has_state() { swap_state(trace_state) } else { None };
    old.into_context(old_state)
}

/// Reads the current context.
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(&SpanContext) -> R) -> R {
    let ids = IDS.try_with(Cell::get).unwrap_or(Ids::NONE);
    let state = if ids.has_state() {
        STATE.try_with(|s| s.try_borrow().ok().and_then(|s| s.clone())).ok().flatten()
    } else {
        None
    };
    f(&ids.into_context(state))
}

/// The current context without its `tracestate` (see [`current_state`]).
// Hot path: one thread-local load.
#[inline]
pub(crate) fn current_ids() -> Ids {
    IDS.try_with(Cell::get).unwrap_or(Ids::NONE)
}

/// The current context's `tracestate`.
#[cold]
pub(crate) fn current_state() -> Option<Arc<str>> {
    STATE.try_with(|s| s.try_borrow().ok().and_then(|s| s.clone())).ok().flatten()
}

/// Makes `ctx` current on this thread; `None` when the thread's context is already gone
/// (thread teardown). Cheap when neither context carries a `tracestate`: two copies of 32 bytes.
// Hot path: every span guard, poll and item goes through here.
#[inline]
pub(crate) fn swap_in(ctx: &SpanContext) -> Option<Prev> {
    let new = Ids::of(ctx);
    let ids = IDS.try_with(|c| c.replace(new)).ok()?;
    let state = (ids.has_state() || new.has_state()).then(|| swap_state(ctx.trace_state.clone()));
    Some(Prev { ids, state })
}

/// Puts back what [`swap_in`] replaced.
#[inline]
pub(crate) fn restore(prev: Prev) {
    let _ = IDS.try_with(|c| c.set(prev.ids));
    if let Some(state) = prev.state {
        swap_state(state);
    }
}

/// What was current before a context was entered; dropping it makes that current again, also
/// while unwinding.
#[must_use = "the context is current only until this is dropped"]
pub(crate) struct Entered(Option<Prev>);

impl Entered {
    /// Makes `ctx` current on this thread until the result drops.
    #[inline]
    pub(crate) fn new(ctx: &SpanContext) -> Entered {
        Entered(swap_in(ctx))
    }
}

impl Drop for Entered {
    #[inline]
    fn drop(&mut self) {
        if let Some(prev) = self.0.take() {
            restore(prev);
        }
    }
}

/// [`Entered`] for a context known, when it was made, to carry no `tracestate`: one copy of its
/// ids in and one back, nothing else (a traced iterator or stream enters its context around
/// every item).
#[must_use = "the context is current only until this is dropped"]
pub(crate) struct EnteredIds(Ids);

impl EnteredIds {
    /// Makes `ids` current on this thread until the result drops. `ids.has_state()` must be false:
    /// the thread's `tracestate` is left as it is, and no reader looks at it meanwhile.
    // Hot path: every item of a traced iterator or stream.
    #[inline(always)]
    pub(crate) fn new(ids: Ids) -> EnteredIds {
        debug_assert!(!ids.has_state());
        // Once the thread's context is gone (thread teardown) nothing is swapped either way.
        EnteredIds(IDS.try_with(|c| c.replace(ids)).unwrap_or(ids))
    }
}

impl Drop for EnteredIds {
    #[inline(always)]
    fn drop(&mut self) {
        let _ = IDS.try_with(|c| c.set(self.0));
    }
}

#[cold]
fn swap_state(state: Option<Arc<str>>) -> Option<Arc<str>> {
    STATE.try_with(|s| s.try_borrow_mut().map(|mut s| std::mem::replace(&mut *s, state)).ok()).ok().flatten().flatten()
}
