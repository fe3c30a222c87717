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
mod sampler;
mod stream;

use std::cell::{Cell, RefCell};
use std::sync::Arc;

pub use future::{FutureExt, Instrumented, OutputHook, in_span};
pub use handle::{Callsite, IntoParent, Span, SpanBuilder, SpanGuard, span};
pub(crate) use handle::{Recording, start_callsite};
pub(crate) use panic::install_hook as install_panic_hook;
pub use sampler::{Sampler, SamplerError};
pub use stream::{
    CurrentGuard, ItemCapture, TracedIter, TracedStream, WithContext, set_current, traced_iter, traced_stream,
    with_context,
};

use crate::span::{SpanId, TraceId};

/// W3C trace flag: the trace is sampled.
pub const FLAG_SAMPLED: u8 = 0x01;
/// W3C trace flag (level 2): the trace id's right-most 7 bytes are random.
pub const FLAG_RANDOM: u8 = 0x02;

/// The identity of a span as children and other services see it.
///
/// A context that came from another process through headers is *remote*
/// ([`SpanContext::is_remote`]); it is what [`crate::propagation`] extracts and what
/// `span(..).parent(ctx)` and `#[traced(parent = ctx)]` take.
///
/// # Examples
///
/// ```
/// use tracewell::{SpanContext, TraceId, SpanId};
/// let remote = SpanContext::remote(TraceId(1), SpanId(2), true);
/// assert!(remote.is_sampled() && remote.is_remote && remote.is_valid());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SpanContext {
    /// The trace.
    pub trace_id: TraceId,
    /// The span.
    pub span_id: SpanId,
    /// W3C trace flags; bit 0 is "sampled".
    pub trace_flags: u8,
    /// Whether this context came from another process.
    pub is_remote: bool,
    /// The W3C `tracestate` to carry on, already validated.
    pub trace_state: Option<Arc<str>>,
}

/// The context type that header extraction returns.
pub type RemoteContext = SpanContext;

impl SpanContext {
    /// The context meaning "no span".
    pub const NONE: SpanContext =
        SpanContext { trace_id: TraceId(0), span_id: SpanId(0), trace_flags: 0, is_remote: false, trace_state: None };

    /// A remote context, as extracted from headers.
    pub fn remote(trace_id: TraceId, span_id: SpanId, sampled: bool) -> SpanContext {
        SpanContext {
            trace_id,
            span_id,
            trace_flags: if sampled { FLAG_SAMPLED } else { 0 },
            is_remote: true,
            trace_state: None,
        }
    }

    /// Whether both ids are non-zero.
    #[inline]
    pub fn is_valid(&self) -> bool {
        self.trace_id.is_valid() && self.span_id.is_valid()
    }

    /// Whether the trace is sampled (flag bit 0).
    #[inline]
    pub fn is_sampled(&self) -> bool {
        self.trace_flags & FLAG_SAMPLED != 0
    }
}

/// The copyable part of the current context: what every span start and every poll swaps.
#[derive(Clone, Copy)]
struct Ids {
    trace_id: TraceId,
    span_id: SpanId,
    trace_flags: u8,
    is_remote: bool,
    has_state: bool,
}

impl Ids {
    const NONE: Ids =
        Ids { trace_id: TraceId(0), span_id: SpanId(0), trace_flags: 0, is_remote: false, has_state: false };

    #[inline]
    fn into_context(self, trace_state: Option<Arc<str>>) -> SpanContext {
        SpanContext {
            trace_id: self.trace_id,
            span_id: self.span_id,
            trace_flags: self.trace_flags,
            is_remote: self.is_remote,
            trace_state,
        }
    }
}

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
pub(crate) fn replace_current(ctx: SpanContext) -> SpanContext {
    let SpanContext { trace_id, span_id, trace_flags, is_remote, trace_state } = ctx;
    let new = Ids { trace_id, span_id, trace_flags, is_remote, has_state: trace_state.is_some() };
    let Ok(old) = IDS.try_with(|c| c.replace(new)) else { return SpanContext::NONE };
    let old_state = if old.has_state || new.has_state {
        STATE
            .try_with(|s| s.try_borrow_mut().map(|mut s| std::mem::replace(&mut *s, trace_state)).ok())
            .ok()
            .flatten()
            .flatten()
    } else {
        None
    };
    old.into_context(old_state)
}

/// Reads the current context.
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(&SpanContext) -> R) -> R {
    let ids = IDS.try_with(Cell::get).unwrap_or(Ids::NONE);
    let state = if ids.has_state {
        STATE.try_with(|s| s.try_borrow().ok().and_then(|s| s.clone())).ok().flatten()
    } else {
        None
    };
    f(&ids.into_context(state))
}
