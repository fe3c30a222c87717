//! Futures that carry a span: current while polled, on any thread; poll and pending counts, busy
//! time; cancelled status when dropped before completion.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::Entered;
use super::handle::Span;
use super::start::span as build_span;
use crate::clock;
use crate::span::Key;

/// Called with the span and the output when the future completes, before the span ends (the
/// macros capture the return value here).
pub trait OutputHook<T> {
    /// Records `output` on `span`.
    fn on_output(self, span: &mut Span, output: &T);
}

/// No hook.
impl<T> OutputHook<T> for () {
    #[inline]
    fn on_output(self, _: &mut Span, _: &T) {}
}

impl<T, F: FnOnce(&mut Span, &T)> OutputHook<T> for F {
    #[inline]
    fn on_output(self, span: &mut Span, output: &T) {
        self(span, output)
    }
}

pin_project_lite::pin_project! {
    /// A future whose span is current while it is polled.
    ///
    /// The span's clock starts at the first poll and stops at completion; each poll is timed
    /// (busy time) and counted, and polls that return `Pending` are counted as yields. Dropped
    /// before completion, the span ends with status cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use tracewell::FutureExt as _;
    /// let _g = tracewell::builder().install().unwrap();
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let v = rt.block_on(async { 1 + 1 }.in_span("compute"));
    /// assert_eq!(v, 2);
    /// let s = tracewell::collected().into_iter().find(|s| s.name == "compute").unwrap();
    /// assert_eq!(s.polls, 1);
    /// ```
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct Instrumented<F, H = ()> {
        #[pin]
        inner: F,
        span: Span,
        hook: Option<H>,
        polled: bool,
    }
}

impl<F, H> Instrumented<F, H> {
    /// Wraps `inner` so that `span` is current while it is polled; `hook` sees the output.
    pub fn new(inner: F, mut span: Span, hook: H) -> Self {
        span.set_cancel_on_drop(true);
        // Measured per poll instead (see `poll`).
        if let Some(scope) = span.take_alloc_scope() {
            let _ = scope.end();
        }
        Instrumented { inner, span, hook: Some(hook), polled: false }
    }

    /// The span, for adding attributes while the future is pending.
    pub fn span_mut(&mut self) -> &mut Span {
        &mut self.span
    }
}

impl<F: Future, H: OutputHook<F::Output>> Future for Instrumented<F, H> {
    type Output = F::Output;

    // Hot path: two clock reads per poll (the first poll's is the span's start, the last one's
    // its end) and the current context swapped in and out.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let recording = this.span.is_recording();
        let t0 = if recording { clock::now() } else { 0 };
        if !*this.polled {
            *this.polled = true;
            this.span.start_at(t0);
        }
        let alloc = (recording && crate::alloc::is_active()).then(crate::alloc::AllocScope::begin);
        // Restores the previous context even if the inner future panics.
        let entered = this.span.context().is_valid().then(|| Entered::new(this.span.context()));
        let out = this.inner.poll(cx);
        drop(entered);
        if !recording {
            return out;
        }
        super::pending::take_into(this.span);
        let t1 = clock::now();
        if let Some(scope) = alloc {
            this.span.add_alloc(scope.end());
        }
        this.span.record_poll(t1.saturating_sub(t0), out.is_pending());
        if let Poll::Ready(v) = &out {
            this.span.set_cancel_on_drop(false);
            if let Some(h) = this.hook.take() {
                h.on_output(this.span, v);
            }
            std::mem::replace(this.span, Span::none()).end_at(t1);
        }
        out
    }
}

/// Extension methods that run a future inside a span.
pub trait FutureExt: Future + Sized {
    /// Runs this future inside a new span named `name` (parent: the span current now).
    ///
    /// # Examples
    ///
    /// ```
    /// use tracewell::FutureExt as _;
    /// # let _g = tracewell::builder().install().unwrap();
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(async { /* work */ }.in_span("job"));
    /// ```
    fn in_span(self, name: impl Into<Key>) -> Instrumented<Self> {
        Instrumented::new(self, build_span(name).start_detached(), ())
    }

    /// Runs this future inside `span`.
    fn instrument(self, span: Span) -> Instrumented<Self> {
        Instrumented::new(self, span, ())
    }
}

impl<F: Future> FutureExt for F {}

/// Runs `f` inside a new span named `name`, current on this thread while it runs.
///
/// # Examples
///
/// ```
/// let _g = tracewell::builder().install().unwrap();
/// let n = tracewell::in_span("sum", || (1..=10).sum::<u32>());
/// assert_eq!(n, 55);
/// ```
pub fn in_span<R>(name: impl Into<Cow<'static, str>>, f: impl FnOnce() -> R) -> R {
    let _guard = build_span(name).start();
    f()
}
