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
use super::{SpanContext, replace_current};
use crate::pipeline::clock;
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

/// Restores the previous current context when dropped, also while unwinding.
struct Restore(Option<SpanContext>);

impl Drop for Restore {
    #[inline]
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            replace_current(p);
        }
    }
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
    CurrentGuard { _restore: Restore(Some(replace_current(ctx))) }
}

/// Keeps a context current (see [`set_current`]).
pub struct CurrentGuard {
    _restore: Restore,
}

impl std::fmt::Debug for CurrentGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CurrentGuard")
    }
}

/// The per-item bookkeeping shared by iterators and streams.
#[derive(Debug)]
struct Items<C, E> {
    span: Span,
    count: u64,
    mode: ItemCapture,
    value: C,
    error: E,
    done: bool,
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
            let elapsed = self.span.__elapsed_ns();
            if let Some(d) = self.span.__data_mut() {
                d.first_item_ns = Some(elapsed);
            }
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
        if let Some(d) = self.span.__data_mut() {
            match (mode, &mut d.output) {
                (ItemCapture::First(_), Some(Value::List(l))) => l.push(v),
                (ItemCapture::First(_), out) => *out = Some(Value::List(vec![v])),
                (_, out) => *out = Some(v),
            }
        }
    }

    /// An `Err` item: an `error` event; the first one also sets the span's status.
    #[cold]
    fn error_item(&mut self, message: Cow<'static, str>, type_name: &'static str) {
        let time = clock::now_unix_nanos();
        let index = self.count - 1;
        let mut first_error = false;
        if let Some(d) = self.span.__data_mut() {
            first_error = d.status.code != StatusCode::Error;
            d.events.push(crate::span::Event {
                name: Cow::Borrowed("error"),
                time_unix_nano: time,
                attributes: vec![
                    (Cow::Borrowed("message"), Value::Str(message.clone())),
                    (Cow::Borrowed(crate::span::attr::ERROR_TYPE), Value::Str(Cow::Borrowed(type_name))),
                    (Cow::Borrowed("item"), Value::U64(index)),
                ],
            });
        }
        if first_error {
            self.span.__error(|_| message, type_name);
        }
    }

    /// The iterator or stream is exhausted: the span ends normally.
    fn finish(&mut self) {
        self.done = true;
        if let Some(d) = self.span.__data_mut() {
            d.items = Some(self.count);
        }
        self.span.__set_cancel_on_drop(false);
        std::mem::replace(&mut self.span, Span::none()).end();
    }
}

impl<C, E> Drop for Items<C, E> {
    // Dropped before exhaustion: record the items so far; the span then ends as cancelled.
    fn drop(&mut self) {
        if let Some(d) = self.span.__data_mut() {
            d.items = Some(self.count);
        }
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
pub fn traced_iter<I, C, E>(mut span: Span, inner: I, mode: ItemCapture, value: C, error: E) -> TracedIter<I, C, E>
where
    I: Iterator,
    C: FnMut(&I::Item, usize) -> Value,
    E: FnMut(&I::Item, usize) -> Option<(Cow<'static, str>, &'static str)>,
{
    span.__set_cancel_on_drop(true);
    if let Some(d) = span.__data_mut() {
        d.items = Some(0);
    }
    TracedIter { inner, items: Items { span, count: 0, mode, value, error, done: false } }
}

impl<I, C, E> Iterator for TracedIter<I, C, E>
where
    I: Iterator,
    C: FnMut(&I::Item, usize) -> Value,
    E: FnMut(&I::Item, usize) -> Option<(Cow<'static, str>, &'static str)>,
{
    type Item = I::Item;

    // Hot path: swap the current context in and out around the inner `next()`.
    #[inline]
    fn next(&mut self) -> Option<I::Item> {
        if self.items.done {
            return self.inner.next();
        }
        let restore = Restore(Some(replace_current(self.items.span.context().clone())));
        let item = self.inner.next();
        drop(restore);
        super::pending::take_into(&mut self.items.span);
        match &item {
            Some(it) => self.items.item(it),
            None => self.items.finish(),
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
        let restore = Restore(Some(replace_current(self.items.span.context().clone())));
        let item = self.inner.next_back();
        drop(restore);
        super::pending::take_into(&mut self.items.span);
        match &item {
            Some(it) => self.items.item(it),
            None => self.items.finish(),
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
pub fn traced_stream<S, C, E>(mut span: Span, inner: S, mode: ItemCapture, value: C, error: E) -> TracedStream<S, C, E>
where
    S: Stream,
    C: FnMut(&S::Item, usize) -> Value,
    E: FnMut(&S::Item, usize) -> Option<(Cow<'static, str>, &'static str)>,
{
    span.__set_cancel_on_drop(true);
    if let Some(d) = span.__data_mut() {
        d.items = Some(0);
    }
    TracedStream { inner, items: Items { span, count: 0, mode, value, error, done: false } }
}

impl<S, C, E> Stream for TracedStream<S, C, E>
where
    S: Stream,
    C: FnMut(&S::Item, usize) -> Value,
    E: FnMut(&S::Item, usize) -> Option<(Cow<'static, str>, &'static str)>,
{
    type Item = S::Item;

    // Hot path: swap the current context in and out, two clock reads per poll when recording.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.project();
        if this.items.done {
            return this.inner.poll_next(cx);
        }
        let recording = this.items.span.is_recording();
        let t0 = if recording { Some(clock::Instant::now()) } else { None };
        let restore = Restore(Some(replace_current(this.items.span.context().clone())));
        let out = this.inner.poll_next(cx);
        drop(restore);
        super::pending::take_into(&mut this.items.span);
        if let (Some(t0), Some(d)) = (t0, this.items.span.__data_mut()) {
            d.polls = d.polls.saturating_add(1);
            d.busy_ns += clock::Instant::now().duration_since(t0).as_nanos() as u64;
            if out.is_pending() {
                d.pending_polls = d.pending_polls.saturating_add(1);
            }
        }
        match &out {
            Poll::Ready(Some(it)) => this.items.item(it),
            Poll::Ready(None) => this.items.finish(),
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
        let _restore = Restore(Some(replace_current(this.ctx.clone())));
        this.inner.poll(cx)
    }
}
