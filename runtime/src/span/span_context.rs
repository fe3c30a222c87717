//! The identity of a span as children and other services see it: ids, trace flags, remoteness
//! and the W3C `tracestate`.

use std::sync::Arc;

use super::{SpanId, TraceId};

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

/// The copyable part of a context: what every span start reads and every poll swaps.
#[derive(Clone, Copy)]
pub(crate) struct Ids {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) trace_flags: u8,
    pub(crate) is_remote: bool,
    pub(crate) has_state: bool,
}

impl Ids {
    pub(crate) const NONE: Ids =
        Ids { trace_id: TraceId(0), span_id: SpanId(0), trace_flags: 0, is_remote: false, has_state: false };

    /// The ids of `ctx`.
    #[inline]
    pub(crate) fn of(ctx: &SpanContext) -> Ids {
        Ids {
            trace_id: ctx.trace_id,
            span_id: ctx.span_id,
            trace_flags: ctx.trace_flags,
            is_remote: ctx.is_remote,
            has_state: ctx.trace_state.is_some(),
        }
    }

    /// The context of these ids with `trace_state`.
    #[inline]
    pub(crate) fn into_context(self, trace_state: Option<Arc<str>>) -> SpanContext {
        SpanContext {
            trace_id: self.trace_id,
            span_id: self.span_id,
            trace_flags: self.trace_flags,
            is_remote: self.is_remote,
            trace_state,
        }
    }
}

/// What was current on a thread before a context was made current there: put back afterwards.
#[derive(Debug)]
pub(crate) struct Prev {
    pub(crate) ids: Ids,
    /// The previous `tracestate`, when the old or the new context had one.
    pub(crate) state: Option<Option<Arc<str>>>,
}

impl std::fmt::Debug for Ids {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ids").field("trace_id", &self.trace_id).field("span_id", &self.span_id).finish()
    }
}
