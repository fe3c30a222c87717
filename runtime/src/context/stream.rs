//! Iterators and streams that carry a span: one span per iterator or stream, from the call that
//! made it to exhaustion (or to an early drop, status cancelled), with the item count, the time
//! to the first item, poll counts for streams, error items as events and optionally the last item
//! or the first items as the output.
//!
//! The span is current only while `next()` / `poll_next()` runs, on whichever thread calls it, so
//! spans made while producing an item are its children and nothing leaks into the consumer
//! between items or after an early `break`.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::handle::Span;
use super::{Entered, EnteredIds, SpanContext};
use crate::clock::{self, Ticks};
use crate::span::Ids;
use crate::span::{StatusCode, Value};

/// What an iterator or stream span keeps of the items besides their count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemCapture {
    /// Only the count (the default).
    Count,
    /// The last item, as the span's output (`capture_last_item`).
    Last,
    /// The first `n` items, as a list in the span's output (`capture_items = n`).
    First(usize),
}

/// Makes `ctx` current on this thread until the returned guard drops.
///
/// # Examples
///
/// ```
/// let _g = tracewell::builder().install().unwrap();
/// let span = tracewell::span("outer").start_detached();
/// {
///     let _current = tracewell::context::set_current(span.context().clone());
///     assert_eq!(tracewell::current().span_id, span.context().span_id);
/// }
/// assert!(!tracewell::current().is_valid());
/// ```
#[must_use = "the context is current only until the guard drops"]
pub fn set_current(ctx: SpanContext) -> CurrentGuard {
    CurrentGuard { _entered: Entered::new(&ctx) }
}

/// Keeps a context current (see [`set_current`]).
pub struct CurrentGuard {
    _entered: Entered,
}

impl std::fmt::Debug for CurrentGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CurrentGuard")
    }
}

/// Polls of a stream timed one by one, before polls are timed one in [`TIME_ONE_IN`].
const TIME_FIRST: u32 = 16;
/// After the first [`TIME_FIRST`] polls, one poll in this many is timed; the busy time of the
/// others is estimated from the timed ones (two clock reads per poll would cost more than a
/// fast stream's item).
const TIME_ONE_IN: u32 = 16;

/// The per-item bookkeeping shared by iterators and streams.
#[derive(Debug)]
struct Items<C, E> {
    span: Span,
    /// The span's ids when it has a valid context without `tracestate`, so that entering it
    /// around an item is one copy in and out; `None` when there is nothing to enter or it needs
    /// the full swap.
    ids: Option<Ids>,
    count: u64,
    mode: ItemCapture,
    value: C,
    error: E,
    done: bool,
    /// The first items, for [`ItemCapture::First`], put on the span as a list when it ends.
    first: Vec<Value>,
    /// Polls seen, polls timed and their busy ticks, polls not timed and how many were pending.
    polls: u32,
    timed: u32,
    timed_busy: Ticks,
    untimed: u32,
    untimed_pending: u32,
}

impl<C, E> Items<C, E> {
    fn new(mut span: Span, mode: ItemCapture, value: C, error: E) -> Items<C, E> {
        span.set_cancel_on_drop(true);
        span.set_items(0);
        let ctx = span.context();
        let ids = (ctx.is_valid() && ctx.trace_state.is_none()).then(|| Ids::of(ctx));
        Items {
            span,
            ids,
            count: 0,
            mode,
            value,
            error,
            done: false,
            first: Vec::new(),
            polls: 0,
            timed: 0,
            timed_busy: 0,
            untimed: 0,
            untimed_pending: 0,
        }
    }

    /// Runs `f` (the inner `next` or `poll_next`) with the span's context current: the ids
    /// alone when that is all it has, the full swap when it carries `tracestate`, nothing when
    /// it is not valid.
    // Hot path: every item.
    #[inline(always)]
    fn within<R>(&self, f: impl FnOnce() -> R) -> R {
        if let Some(ids) = self.ids {
            let _entered = EnteredIds::new(ids);
            return f();
        }
        let ctx = self.span.context();
        let _entered = ctx.is_valid().then(|| Entered::new(ctx));
        f()
    }

    /// Whether this poll is one to time.
    #[inline]
    fn time_this_poll(&mut self) -> bool {
        self.polls = self.polls.wrapping_add(1);
        self.polls <= TIME_FIRST || self.polls.is_multiple_of(TIME_ONE_IN)
    }

    /// Puts the first items captured and the polls that were counted but not timed on the span,
    /// with the estimated busy time of those polls (the mean of the timed ones).
    fn settle_polls(&mut self) {
        if !self.first.is_empty() {
            let first = Value::List(std::mem::take(&mut self.first));
            self.span.set_output_value(&first);
        }
        if self.untimed == 0 {
            return;
        }
        let estimate =
            if self.timed == 0 { 0 } else { self.timed_busy / u64::from(self.timed) * u64::from(self.untimed) };
        self.span.record_untimed_polls(self.untimed, self.untimed_pending, estimate);
        self.untimed = 0;
        self.untimed_pending = 0;
    }
}

impl<C, E> Items<C, E> {
    // Hot path: one branch when the span is not recording; a counter increment otherwise (the
    // count is written to the record once, when the span ends).
    #[inline]
    fn item<T>(&mut self, item: &T)
    where
        C: FnMut(&T, usize) -> Value,
        E: FnMut(&T, usize) -> Option<(Cow<'static, str>, &'static str)>,
    {
        if !self.span.is_recording() {
            return;
        }
        self.count += 1;
        if self.count == 1 {
            self.span.first_item_at(clock::now());
        }
        if self.mode != ItemCapture::Count {
            self.capture(item);
        }
        if let Some((message, type_name)) = (self.error)(item, self.span.max_len()) {
            self.error_item(message, type_name);
        }
    }

    fn capture<T>(&mut self, item: &T)
    where
        C: FnMut(&T, usize) -> Value,
    {
        let limit = self.span.max_len();
        let (count, mode) = (self.count, self.mode);
        let wanted = match mode {
            ItemCapture::Count => false,
            ItemCapture::Last => true,
            ItemCapture::First(n) => count <= n as u64,
        };
        if !wanted {
            return;
        }
        let v = (self.value)(item, limit);
        match mode {
            ItemCapture::First(_) => self.first.push(v),
            _ => self.span.set_output_value(&v),
        }
    }

    /// An `Err` item: an `error` event; the first one also sets the span's status.
    #[cold]
    fn error_item(&mut self, message: Cow<'static, str>, type_name: &'static str) {
        let time = clock::now_unix_nanos();
        let index = self.count - 1;
        let first_error = self.span.status_code() != StatusCode::Error;
        self.span.push_event(crate::span::Event {
            name: Cow::Borrowed("error"),
            time_unix_nano: time,
            attributes: vec![
                (Cow::Borrowed("message"), Value::Str(message.clone())),
                (Cow::Borrowed(crate::span::attr::ERROR_TYPE), Value::Str(Cow::Borrowed(type_name))),
                (Cow::Borrowed("item"), Value::U64(index)),
            ],
        });
        if first_error {
            self.span.__error(|_| message, type_name);
        }
    }

    /// The iterator or stream is exhausted: the span ends normally.
    fn finish(&mut self, end: Option<Ticks>) {
        self.done = true;
        self.span.set_items(self.count);
        self.settle_polls();
        self.span.set_cancel_on_drop(false);
        let span = std::mem::replace(&mut self.span, Span::none());
        match end {
            Some(t) => span.end_at(t),
            None => span.end(),
        }
    }
}

impl<C, E> Drop for Items<C, E> {
    // Dropped before exhaustion: record the items so far; the span then ends as cancelled.
    fn drop(&mut self) {
        self.span.set_items(self.count);
        self.settle_polls();
    }
}

/// An iterator whose span is current while `next()` runs and ends when it is exhausted or
/// dropped. Made by `#[traced]` on functions returning `impl Iterator`, or by [`traced_iter`].
///
/// # Examples
///
/// ```
/// use tracewell::context::{ItemCapture, traced_iter};
/// let _g = tracewell::builder().install().unwrap();
/// let span = tracewell::span("numbers").start_detached();
/// let it = traced_iter(span, 1..=3u32, ItemCapture::Last, |n, _| (*n).into(), |_, _| None);
/// assert_eq!(it.sum::<u32>(), 6);
/// let s = tracewell::collected().into_iter().find(|s| s.name == "numbers").unwrap();
/// assert_eq!(s.items, Some(3));
/// assert_eq!(s.output, Some(tracewell::Value::U64(3)));
/// ```
#[derive(Debug)]
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct TracedIter<I, C, E> {
    inner: I,
    items: Items<C, E>,
}

/// Wraps `inner` so that `span` covers it until exhaustion. `value` captures an item for
/// [`ItemCapture::Last`] / [`ItemCapture::First`]; `error` returns the message and type name of
/// an error item. Dropped before exhaustion, the span ends with status cancelled.
pub fn traced_iter<I, C, E>(span: Span, inner: I, mode: ItemCapture, value: C, error: E) -> TracedIter<I, C, E>
where
    I: Iterator,
    C: FnMut(&I::Item, usize) -> Value,
    E: FnMut(&I::Item, usize) -> Option<(Cow<'static, str>, &'static str)>,
{
    TracedIter { inner, items: Items::new(span, mode, value, error) }
}

impl<I, C, E> Iterator for TracedIter<I, C, E>
where
    I: Iterator,
    C: FnMut(&I::Item, usize) -> Value,
    E: FnMut(&I::Item, usize) -> Option<(Cow<'static, str>, &'static str)>,
{
    type Item = I::Item;

    // Hot path: swap the current context in and out around the inner `next()`, count the item.
    #[inline]
    fn next(&mut self) -> Option<I::Item> {
        if self.items.done {
            return self.inner.next();
        }
        if !self.items.span.is_recording() {
            return self.items.within(|| self.inner.next());
        }
        let item = self.items.within(|| self.inner.next());
        super::pending::take_into(&mut self.items.span);
        match &item {
            Some(it) => self.items.item(it),
            None => self.items.finish(None),
        }
        item
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<I, C, E> DoubleEndedIterator for TracedIter<I, C, E>
where
    I: DoubleEndedIterator,
    C: FnMut(&I::Item, usize) -> Value,
    E: FnMut(&I::Item, usize) -> Option<(Cow<'static, str>, &'static str)>,
{
    #[inline]
    fn next_back(&mut self) -> Option<I::Item> {
        if self.items.done {
            return self.inner.next_back();
        }
        if !self.items.span.is_recording() {
            return self.items.within(|| self.inner.next_back());
        }
        let item = self.items.within(|| self.inner.next_back());
        super::pending::take_into(&mut self.items.span);
        match &item {
            Some(it) => self.items.item(it),
            None => self.items.finish(None),
        }
        item
    }
}

impl<I, C, E> ExactSizeIterator for TracedIter<I, C, E>
where
    I: ExactSizeIterator,
    C: FnMut(&I::Item, usize) -> Value,
    E: FnMut(&I::Item, usize) -> Option<(Cow<'static, str>, &'static str)>,
{
    fn len(&self) -> usize {
        self.inner.len()
    }
}

impl<I, C, E> std::iter::FusedIterator for TracedIter<I, C, E>
where
    I: std::iter::FusedIterator,
    C: FnMut(&I::Item, usize) -> Value,
    E: FnMut(&I::Item, usize) -> Option<(Cow<'static, str>, &'static str)>,
{
}

pin_project_lite::pin_project! {
    /// A stream whose span is current while `poll_next()` runs and ends when it is exhausted or
    /// dropped; polls, pending polls and busy time are recorded. Made by `#[traced]` on
    /// functions returning `impl Stream`, or by [`traced_stream`].
    #[derive(Debug)]
    #[must_use = "streams do nothing unless polled"]
    pub struct TracedStream<S, C, E> {
        #[pin]
        inner: S,
        items: Items<C, E>,
    }
}

/// Wraps `inner` so that `span` covers it until exhaustion (see [`traced_iter`]).
///
/// # Examples
///
/// ```
/// use tracewell::context::{ItemCapture, traced_stream};
/// let _g = tracewell::builder().install().unwrap();
/// let span = tracewell::span("ticks").start_detached();
/// let mut s = traced_stream(span, Ticks(2), ItemCapture::Count, |_, _| tracewell::Value::Null, |_, _| None);
/// let waker = std::task::Waker::noop();
/// let mut cx = std::task::Context::from_waker(&waker);
/// use futures_core::Stream;
/// while let std::task::Poll::Ready(Some(_)) = std::pin::Pin::new(&mut s).poll_next(&mut cx) {}
/// let span = tracewell::collected().into_iter().find(|s| s.name == "ticks").unwrap();
/// assert_eq!((span.items, span.polls), (Some(2), 3));
///
/// struct Ticks(u32);
/// impl Stream for Ticks {
///     type Item = u32;
///     fn poll_next(mut self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<Option<u32>> {
///         if self.0 == 0 { return std::task::Poll::Ready(None); }
///         self.0 -= 1;
///         std::task::Poll::Ready(Some(self.0))
///     }
/// }
/// ```
pub fn traced_stream<S, C, E>(span: Span, inner: S, mode: ItemCapture, value: C, error: E) -> TracedStream<S, C, E>
where
    S: Stream,
    C: FnMut(&S::Item, usize) -> Value,
    E: FnMut(&S::Item, usize) -> Option<(Cow<'static, str>, &'static str)>,
{
    TracedStream { inner, items: Items::new(span, mode, value, error) }
}

impl<S, C, E> Stream for TracedStream<S, C, E>
where
    S: Stream,
    C: FnMut(&S::Item, usize) -> Value,
    E: FnMut(&S::Item, usize) -> Option<(Cow<'static, str>, &'static str)>,
{
    type Item = S::Item;

    // Hot path: swap the current context in and out; time the poll (two clock reads) for the
    // first polls and one in several after that, count the others.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.project();
        let items = this.items;
        if items.done {
            return this.inner.poll_next(cx);
        }
        if !items.span.is_recording() {
            return items.within(|| this.inner.poll_next(cx));
        }
        let t0 = items.time_this_poll().then(clock::now);
        let out = items.within(|| this.inner.poll_next(cx));
        super::pending::take_into(&mut items.span);
        let t1 = match t0 {
            Some(t0) => {
                let t1 = clock::now();
                items.timed += 1;
                items.timed_busy += t1.saturating_sub(t0);
                items.span.record_poll(t1.saturating_sub(t0), out.is_pending());
                Some(t1)
            }
            None => {
                items.untimed += 1;
                items.untimed_pending += u32::from(out.is_pending());
                None
            }
        };
        match &out {
            Poll::Ready(Some(it)) => items.item(it),
            Poll::Ready(None) => items.finish(t1),
            Poll::Pending => {}
        }
        out
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

pin_project_lite::pin_project! {
    /// A future during whose polls a context is current, without a span of its own (the body of
    /// an `async fn` that returns a stream runs under the stream's span).
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct WithContext<F> {
        #[pin]
        inner: F,
        ctx: SpanContext,
    }
}

/// Makes `ctx` current while `fut` is polled.
pub fn with_context<F: Future>(ctx: SpanContext, fut: F) -> WithContext<F> {
    WithContext { inner: fut, ctx }
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = Entered::new(this.ctx);
        this.inner.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::span::{SpanId, TraceId};

    /// Two items, each with the context current while it was made.
    fn made_under() -> impl Iterator<Item = (u64, SpanContext)> {
        (0..2u64).map(|n| (n, crate::current()))
    }

    /// What is current while an item is made, and after: the iterator's own context (with its
    /// `tracestate`, or without one inside a context that has one), then the outer one again.
    #[test]
    fn items_enter_the_iterators_context_and_give_back_the_outer_one() {
        let _g = crate::builder().exporter(crate::export::NullExporter).install().unwrap();
        let with_state = |state: &str| SpanContext {
            trace_state: Some(Arc::from(state)),
            ..SpanContext::remote(TraceId(7), SpanId(7), true)
        };

        // The iterator's span carries the tracestate of its parent: the full swap.
        let span = crate::span("it").parent(with_state("a=1")).start_detached();
        let id = span.context().span_id;
        let mut it = traced_iter(span, made_under(), ItemCapture::Count, |_, _| Value::Null, |_, _| None);
        let (_, inside) = it.next().unwrap();
        assert_eq!((inside.span_id, inside.trace_state.as_deref()), (id, Some("a=1")));
        assert!(!crate::current().is_valid(), "nothing is current between items");

        // An iterator made outside any trace, consumed inside a context with a tracestate: the
        // lean swap, and the outer tracestate is intact afterwards.
        let span = crate::span("plain").start_detached();
        let id = span.context().span_id;
        let mut it = traced_iter(span, made_under(), ItemCapture::Count, |_, _| Value::Null, |_, _| None);
        let outer = crate::span("outer").parent(with_state("b=2")).start();
        let (_, inside) = it.next().unwrap();
        assert_eq!((inside.span_id, inside.trace_state.as_deref()), (id, None));
        let after = crate::current();
        assert_eq!((after.span_id, after.trace_state.as_deref()), (outer.context().span_id, Some("b=2")));
        drop(outer);
        assert!(!crate::current().is_valid());
    }
}
