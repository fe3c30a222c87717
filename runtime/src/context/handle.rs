//! The [`Span`] handle (what a span records), the [`SpanGuard`] that makes it current, and
//! ending a span: its record finished and handed to this thread's chunk. Starting one is in
//! `start.rs`.

use std::borrow::Cow;
use std::marker::PhantomData;

use crate::alloc::AllocScope;
use crate::capture::truncate;
use crate::clock::{self, Ticks};
use crate::pipeline;
use crate::span::record::Recording;
use crate::span::{Event, Key, SpanContext, StatusCode, Value, attr};

/// A started span. It ends (and is handed to the pipeline) when dropped.
///
/// A `Span` is not current anywhere by itself: [`Span::enter`] makes it current on this thread,
/// [`Instrumented`](super::Instrumented) while a future is polled. A span that is not sampled
/// records nothing and costs almost nothing, but still has a context for children and headers.
///
/// # Examples
///
/// ```
/// let _g = tracewell::builder().install().unwrap();
/// let mut span = tracewell::span("load").branch("batch").start_detached();
/// span.set_attribute("rows", 42u64);
/// assert!(span.is_recording());
/// drop(span);
/// let spans = tracewell::collected();
/// assert_eq!(spans.last().unwrap().branch.as_deref(), Some("batch"));
/// ```
// One pointer: the record (a box this thread reuses) holds the context too, so a span moves
// as cheaply as a `Box`. A span with a context but not sampled has a record that records nothing.
#[derive(Debug)]
pub struct Span {
    pub(super) rec: Option<Box<Recording>>,
}

/// The context of a span that has none.
static NO_CONTEXT: SpanContext = SpanContext::NONE;

impl Span {
    /// A span that records nothing and has no context.
    pub const fn none() -> Span {
        Span { rec: None }
    }

    /// This span's context, for children and for headers.
    #[inline]
    pub fn context(&self) -> &SpanContext {
        self.rec.as_ref().map_or(&NO_CONTEXT, |r| &r.ctx)
    }

    /// Whether this span is sampled and will be exported.
    #[inline]
    pub fn is_recording(&self) -> bool {
        self.rec.as_ref().is_some_and(|r| r.sampled)
    }

    /// The record, when this span records.
    #[inline]
    fn recording(&mut self) -> Option<&mut Recording> {
        self.rec.as_deref_mut().filter(|r| r.sampled)
    }

    /// Makes this span current on this thread until the guard drops; the span ends with it.
    // Hot path: inlined, so that a span that records nothing costs its caller one test here.
    #[inline(always)]
    pub fn enter(mut self) -> SpanGuard {
        // A span with no context (nothing installed, or inside an unsampled trace) leaves the
        // current context alone: children then see the same parent and decide the same way.
        if let Some(r) = &mut self.rec {
            r.prev = super::swap_in(&r.ctx);
        }
        SpanGuard { span: self, _not_send: PhantomData }
    }

    /// The longest captured text for this span.
    #[inline]
    pub fn max_len(&self) -> usize {
        self.rec.as_ref().filter(|r| r.sampled).map_or(0, |r| r.limit)
    }

    /// Sets an attribute (exported under its own key).
    pub fn set_attribute(&mut self, key: impl Into<Key>, value: impl Into<Value>) {
        if let Some(r) = self.recording() {
            let v = bound(value.into(), r.limit);
            r.extra().attributes.push((key.into(), v));
        }
    }

    /// Sets an indexed tag (exported as `tracewell.tag.<key>`).
    pub fn set_tag(&mut self, key: impl Into<Key>, value: impl Into<Value>) {
        if let Some(r) = self.recording() {
            let v = bound(value.into(), r.limit);
            r.extra().tags.push((key.into(), v));
        }
    }

    /// Adds a timestamped event with attributes.
    pub fn add_event(&mut self, name: impl Into<Key>, attributes: Vec<(Key, Value)>) {
        if let Some(r) = self.recording() {
            let time_unix_nano = clock::now_unix_nanos();
            r.extra().events.push(Event { name: name.into(), time_unix_nano, attributes });
        }
    }

    /// Records an input by name; scrubbed if the name looks secret, truncated to `max_len`.
    pub fn set_input(&mut self, name: impl Into<Key>, value: impl Into<Value>) {
        if let Some(r) = self.recording() {
            let name = name.into();
            let secret = pipeline::with_thread(|t| t.shared().policy.is_secret(&name)).unwrap_or(true);
            let v = if secret { Value::scrubbed() } else { bound(value.into(), r.limit) };
            r.named_input(&name, &v);
        }
    }

    /// Records the output value, truncated to `max_len`.
    pub fn set_output(&mut self, value: impl Into<Value>) {
        if let Some(r) = self.recording() {
            r.set_output(&bound(value.into(), r.limit));
        }
    }

    /// Marks the span failed with `message`.
    pub fn set_error(&mut self, message: impl Into<Cow<'static, str>>) {
        self.set_status(StatusCode::Error, Some(message.into()));
    }

    /// Sets the status code and message.
    pub fn set_status(&mut self, code: StatusCode, message: Option<Cow<'static, str>>) {
        if let Some(r) = self.recording() {
            let message = message.map(|m| match truncate(&m, r.limit) {
                Cow::Borrowed(_) => m,
                Cow::Owned(t) => Cow::Owned(t),
            });
            r.status = code;
            if message.is_some() || code == StatusCode::Unset {
                r.extra().status_message = message;
            }
        }
    }

    /// Ends the span now (the same as dropping it).
    pub fn end(self) {
        drop(self);
    }

    // ---- used by generated code and wrappers (through `__private`) ----

    /// Records input number `index` of the callsite, unless it is a secret; `capture` runs only
    /// when the value is wanted.
    #[doc(hidden)]
    #[inline]
    pub fn __input(&mut self, index: usize, capture: impl FnOnce(usize) -> Value) {
        if let Some(r) = self.recording() {
            let secret = if index < 32 {
                r.secret_mask & (1 << index) != 0
            } else {
                let Some(name) = r.site.and_then(|cs| cs.inputs.get(index)) else { return };
                pipeline::with_thread(|t| t.shared().policy.is_secret(name)).unwrap_or(true)
            };
            if secret {
                r.input(index, Value::scrubbed());
            } else {
                let v = capture(r.limit);
                r.input(index, v);
            }
        }
    }

    /// Records the output; `capture` runs only for recording spans.
    #[doc(hidden)]
    #[inline]
    pub fn __output(&mut self, capture: impl FnOnce(usize) -> Value) {
        if let Some(r) = self.recording() {
            let v = capture(r.limit);
            r.set_output_owned(v);
        }
    }

    /// Records an `Err`: status error with `message` and the error's type name as `error.type`.
    #[doc(hidden)]
    #[inline]
    pub fn __error(&mut self, message: impl FnOnce(usize) -> Cow<'static, str>, type_name: &'static str) {
        if let Some(r) = self.recording() {
            let message = message(r.limit);
            r.status = StatusCode::Error;
            let x = r.extra();
            x.status_message = Some(message);
            x.attributes.push((Cow::Borrowed(attr::ERROR_TYPE), Value::Str(Cow::Borrowed(type_name))));
        }
    }

    /// Adds one poll of a future or stream: `busy` clock ticks, and whether it returned
    /// `Pending`.
    #[inline]
    pub(crate) fn record_poll(&mut self, busy: Ticks, pending: bool) {
        if let Some(r) = self.recording() {
            r.polls = r.polls.saturating_add(1);
            r.busy += busy;
            if pending {
                r.pending_polls = r.pending_polls.saturating_add(1);
            }
        }
    }

    /// Adds polls that were counted but not timed (a stream times one poll in several), with
    /// `busy` ticks estimated for them.
    #[inline]
    pub(crate) fn record_untimed_polls(&mut self, polls: u32, pending: u32, busy: Ticks) {
        if let Some(r) = self.recording() {
            r.polls = r.polls.saturating_add(polls);
            r.pending_polls = r.pending_polls.saturating_add(pending);
            r.busy += busy;
        }
    }

    /// Sets the item count of a stream or iterator span.
    #[inline]
    pub(crate) fn set_items(&mut self, n: u64) {
        if let Some(r) = self.recording() {
            r.items = Some(n);
        }
    }

    /// Marks the first item: the time to it from the start.
    pub(crate) fn first_item_at(&mut self, now: Ticks) {
        if let Some(r) = self.recording() {
            r.first_item = Some(now.saturating_sub(r.start()));
        }
    }

    /// Sets the output to a value already bounded (wrappers capture items themselves).
    pub(crate) fn set_output_value(&mut self, v: &Value) {
        if let Some(r) = self.recording() {
            r.set_output(v);
        }
    }

    /// The status code so far (`Unset` when not recording).
    pub(crate) fn status_code(&self) -> StatusCode {
        self.rec.as_ref().filter(|r| r.sampled).map_or(StatusCode::Unset, |r| r.status)
    }

    /// Adds an event with a time already read.
    pub(crate) fn push_event(&mut self, event: Event) {
        if let Some(r) = self.recording() {
            r.extra().events.push(event);
        }
    }

    /// Starts the clock at `now` (a future's span covers it from its first poll).
    #[inline]
    pub(crate) fn start_at(&mut self, now: Ticks) {
        if let Some(r) = self.recording() {
            r.start_at(now);
        }
    }

    /// Stops measuring allocations for the whole span: a future measures each poll instead,
    /// since its polls may run on different threads.
    pub(crate) fn take_alloc_scope(&mut self) -> Option<AllocScope> {
        self.recording().and_then(|r| r.alloc.take())
    }

    /// Adds allocation figures (bytes summed, peak the larger).
    pub(crate) fn add_alloc(&mut self, figures: (u64, u64)) {
        if let Some(r) = self.recording() {
            r.add_alloc(figures);
        }
    }

    /// If dropped before completion, end with status cancelled.
    #[inline]
    pub(crate) fn set_cancel_on_drop(&mut self, on: bool) {
        if let Some(r) = self.recording() {
            r.cancel_on_drop = on;
        }
    }

    /// Ends the span at `end` (read by the caller for its own purposes) instead of now.
    #[inline]
    pub(crate) fn end_at(mut self, end: Ticks) {
        if let Some(r) = self.rec.take() {
            finish(r, end);
        }
    }
}

// Hot path: stamp the end time and write the record into this thread's chunk.
#[inline]
fn finish(mut r: Box<Recording>, end: Ticks) {
    if !r.sampled {
        // A context only: the record goes back to be reused.
        pipeline::recycle(r);
        return;
    }
    if r.start() == 0 {
        // A future dropped before its first poll: it took no time.
        r.start_at(end);
    }
    if let Some(scope) = r.alloc.take() {
        r.add_alloc(scope.end());
    }
    if std::thread::panicking() {
        if r.status != StatusCode::Error {
            let msg = super::panic::last_message(r.limit).unwrap_or(Cow::Borrowed("panicked"));
            r.status = StatusCode::Error;
            r.extra().status_message = Some(msg);
        }
    } else if r.cancel_on_drop && r.status == StatusCode::Unset {
        r.status = StatusCode::Cancelled;
        r.extra().status_message = Some(Cow::Borrowed("dropped before completion"));
    }
    pipeline::submit(r, end);
}

impl crate::alloc::AllocScope {
    /// Ends the scope and records the figures on `span` (nothing if it is not recording).
    pub fn finish(self, span: &mut Span) {
        span.add_alloc(self.end());
    }
}

fn bound(v: Value, limit: usize) -> Value {
    match v {
        Value::Str(s) => match truncate(&s, limit) {
            Cow::Borrowed(_) => Value::Str(s),
            Cow::Owned(t) => Value::Str(Cow::Owned(t)),
        },
        other => other,
    }
}

// Hot path: a span that records nothing (`Span::none`, an unsampled call) costs one test here;
// the work of ending one that records is a call away, so this stays small enough to inline.
impl Drop for Span {
    #[inline(always)]
    fn drop(&mut self) {
        if let Some(r) = self.rec.take() {
            end_now(r);
        }
    }
}

#[inline(never)]
fn end_now(r: Box<Recording>) {
    let end = if r.sampled { clock::now() } else { 0 };
    finish(r, end);
}

/// A span made current on this thread; dropping it restores the previous current span and ends
/// the span. It cannot cross threads: use [`Span`] with
/// [`Instrumented`](super::Instrumented) for futures.
///
/// A guard dropped while its thread panics records status error with the panic message.
///
/// # Examples
///
/// ```
/// let _g = tracewell::builder().install().unwrap();
/// let parent = tracewell::span("parent").start();
/// let child = tracewell::span("child").start();
/// assert_eq!(tracewell::current().span_id, child.context().span_id);
/// drop(child);
/// assert_eq!(tracewell::current().span_id, parent.context().span_id);
/// ```
pub struct SpanGuard {
    span: Span,
    _not_send: PhantomData<*const ()>,
}

impl Drop for SpanGuard {
    // The previous context comes back, then the span (a field) ends.
    #[inline(always)]
    fn drop(&mut self) {
        // A guard over no span (an unsampled call) changed nothing: one test.
        if self.span.rec.is_some() {
            exit(&mut self.span);
        }
    }
}

#[inline(never)]
fn exit(span: &mut Span) {
    if let Some(prev) = span.rec.as_mut().and_then(|r| r.prev.take()) {
        super::restore(prev);
    }
    // Events made while this span was current by code that cannot reach it (`log`,
    // `tracing`), when the bridge is built.
    super::pending::take_into(span);
}

impl std::fmt::Debug for SpanGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanGuard").field("span", &self.span).finish_non_exhaustive()
    }
}

impl std::ops::Deref for SpanGuard {
    type Target = Span;
    fn deref(&self) -> &Span {
        &self.span
    }
}

impl std::ops::DerefMut for SpanGuard {
    fn deref_mut(&mut self) -> &mut Span {
        &mut self.span
    }
}

impl SpanGuard {
    /// Ends the span now (the same as dropping the guard).
    pub fn end(self) {
        drop(self);
    }
}
