//! The part of a span the score reads, taken from a [`SpanData`].

use crate::span::{SpanData, SpanId, StatusCode, TraceId, Value, attr};

/// The part of a span the score reads. [`Scorer::add`](super::Scorer::add) takes a [`SpanData`];
/// [`SampleLine`](super::SampleLine) reads one from an NDJSON line without building the span,
/// for [`Scorer::add_sample`](super::Scorer::add_sample).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SpanSample<'a> {
    /// Function (span) name.
    pub name: &'a str,
    /// Branch, for `#[monitor(branch = "...")]` spans.
    pub branch: Option<&'a str>,
    /// Trace.
    pub trace_id: TraceId,
    /// Span.
    pub span_id: SpanId,
    /// Parent, invalid for a root.
    pub parent_span_id: SpanId,
    /// Start, ns since the Unix epoch.
    pub start_time_unix_nano: u64,
    /// End, ns since the Unix epoch.
    pub end_time_unix_nano: u64,
    /// How it ended.
    pub status: StatusCode,
    /// Times polled (0 for sync spans).
    pub polls: u32,
    /// Polls that returned `Pending`.
    pub pending_polls: u32,
    /// Busy time, ns.
    pub busy_ns: u64,
    /// Bytes allocated, when tracked.
    pub alloc_bytes: Option<u64>,
    /// Peak live bytes, when tracked.
    pub alloc_peak: Option<u64>,
    /// For runtime-lag spans: the requested sleep
    /// ([`RUNTIME_INTERVAL_NS`](crate::span::attr::RUNTIME_INTERVAL_NS)), subtracted from the wall
    /// time.
    pub runtime_interval_ns: Option<u64>,
}

impl<'a> From<&'a SpanData> for SpanSample<'a> {
    fn from(s: &'a SpanData) -> Self {
        SpanSample {
            name: &s.name,
            branch: s.branch.as_deref(),
            trace_id: s.trace_id,
            span_id: s.span_id,
            parent_span_id: s.parent_span_id,
            start_time_unix_nano: s.start_time_unix_nano,
            end_time_unix_nano: s.end_time_unix_nano,
            status: s.status.code,
            polls: s.polls,
            pending_polls: s.pending_polls,
            busy_ns: s.busy_ns,
            alloc_bytes: s.alloc_bytes,
            alloc_peak: s.alloc_peak,
            runtime_interval_ns: s.attribute(attr::RUNTIME_INTERVAL_NS).and_then(|v| match v {
                Value::U64(n) => Some(*n),
                Value::I64(n) => u64::try_from(*n).ok(),
                _ => None,
            }),
        }
    }
}

impl SpanSample<'_> {
    pub(super) fn duration_ns(&self) -> u64 {
        self.end_time_unix_nano.saturating_sub(self.start_time_unix_nano)
    }
}
