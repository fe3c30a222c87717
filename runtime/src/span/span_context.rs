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
///
/// Four whole words: the flags share one, so a copy is moved word by word, as it was stored.
/// With three one-byte fields the compiler copied the struct in overlapping unaligned pieces
/// that did not match the stores before them, and every swap stalled the CPU on store
/// forwarding (`perf annotate` on examples/hotpath: 75% of an iterator item's time on two such
/// loads).
#[derive(Clone, Copy)]
pub(crate) struct Ids {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    /// Trace flags (bits 0-7), remote (bit 8), has a `tracestate` (bit 9).
    meta: u64,
}

const META_REMOTE: u64 = 1 << 8;
const META_STATE: u64 = 1 << 9;

impl Ids {
    pub(crate) const NONE: Ids = Ids { trace_id: TraceId(0), span_id: SpanId(0), meta: 0 };

    /// Ids with these flags.
    #[inline]
    pub(crate) const fn new(
        trace_id: TraceId,
        span_id: SpanId,
        trace_flags: u8,
        is_remote: bool,
        has_state: bool,
    ) -> Ids {
        let meta =
            trace_flags as u64 | if is_remote { META_REMOTE } else { 0 } | if has_state { META_STATE } else { 0 };
        Ids { trace_id, span_id, meta }
    }

    /// The ids of `ctx`.
    #[inline]
    pub(crate) fn of(ctx: &SpanContext) -> Ids {
        Ids::new(ctx.trace_id, ctx.span_id, ctx.trace_flags, ctx.is_remote, ctx.trace_state.is_some())
    }

    /// The W3C trace flags.
    #[inline]
    pub(crate) fn trace_flags(&self) -> u8 {
        self.meta as u8
    }

    /// Whether the context came from another process.
    #[inline]
    pub(crate) fn is_remote(&self) -> bool {
        self.meta & META_REMOTE != 0
    }

    /// Whether the context has a `tracestate` (kept apart from the ids).
    #[inline]
    pub(crate) fn has_state(&self) -> bool {
        self.meta & META_STATE != 0
    }

    /// The context of these ids with `trace_state`.
    #[inline]
    pub(crate) fn into_context(self, trace_state: Option<Arc<str>>) -> SpanContext {
        SpanContext {
            trace_id: self.trace_id,
            span_id: self.span_id,
            trace_flags: self.trace_flags(),
            is_remote: self.is_remote(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_keep_every_flag_of_the_context() {
        for (flags, remote, state) in
            [(0u8, false, None), (0xff, true, Some("a=1")), (FLAG_SAMPLED, false, Some("b=2"))]
        {
            let ctx = SpanContext {
                trace_id: TraceId(u128::MAX - 1),
                span_id: SpanId(u64::MAX),
                trace_flags: flags,
                is_remote: remote,
                trace_state: state.map(Arc::from),
            };
            let ids = Ids::of(&ctx);
            assert_eq!((ids.trace_flags(), ids.is_remote(), ids.has_state()), (flags, remote, state.is_some()));
            let back = ids.into_context(ctx.trace_state.clone());
            assert_eq!(back, ctx);
        }
        assert_eq!(std::mem::size_of::<Ids>(), 32, "four words");
    }
}
