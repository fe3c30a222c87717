//! Handing the current span to work that runs later or elsewhere: [`spawn`] and
//! [`spawn_local`] (tokio tasks) and [`CurrentSpanExt::in_current_span`] (any future).
//!
//! A `#[traced]` function needs none of this: its span takes its parent when the function is
//! called, wherever its future is polled. What does need it is a plain `async` block, which runs
//! nothing until it is first polled: `tokio::spawn(async { traced().await })` calls `traced` on
//! a worker thread, where no span is current, and starts a new trace. `tracewell::spawn(async {
//! traced().await })` makes the spawner's current span current during every poll of the task, so
//! `traced` is its child. It is `tracing`'s `.in_current_span()`, applied when spawning.

use std::future::Future;

use super::{WithContext, current, with_context};

/// Runs a future with the span current now as its current span, during every poll and on
/// whichever thread polls it.
///
/// # Examples
///
/// Where a task is spawned by something other than `tokio::spawn`, such as a `JoinSet`:
///
/// ```
/// use tracewell::CurrentSpanExt as _;
/// let _g = tracewell::builder().install().unwrap();
/// let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
/// let request = tracewell::span("request").start();
/// let mut set = tokio::task::JoinSet::new();
/// for _ in 0..2 {
///     set.spawn_on(async { tracewell::current().span_id }.in_current_span(), rt.handle());
/// }
/// let seen = rt.block_on(set.join_all());
/// assert!(seen.iter().all(|id| *id == request.context().span_id));
/// ```
pub trait CurrentSpanExt: Future + Sized {
    /// Makes the span current at this call current while the returned future is polled, so spans
    /// started inside it (for example by `#[traced]` functions it calls) are children of it.
    ///
    /// # Examples
    ///
    /// ```
    /// use tracewell::CurrentSpanExt as _;
    /// let _g = tracewell::builder().install().unwrap();
    /// let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
    /// let parent = tracewell::span("request").start();
    /// let task = rt.spawn(async { tracewell::span("audit").start_detached() }.in_current_span());
    /// let audit = rt.block_on(task).unwrap();
    /// assert_eq!(audit.context().trace_id, parent.context().trace_id);
    /// ```
    fn in_current_span(self) -> WithContext<Self> {
        with_context(current(), self)
    }
}

impl<F: Future> CurrentSpanExt for F {}

/// `tokio::spawn` that keeps the trace: the task runs with the span current at this call as its
/// current span (see [`CurrentSpanExt::in_current_span`]).
///
/// # Panics
///
/// As `tokio::spawn`, when called outside a tokio runtime.
///
/// # Examples
///
/// ```
/// use tracewell::traced;
///
/// #[traced]
/// async fn audit(id: u64) -> u64 {
///     id
/// }
///
/// #[traced]
/// async fn handle(id: u64) -> u64 {
///     // An `async` block is run by the task, not here: `spawn` gives it this span.
///     tracewell::spawn(async move { audit(id).await + 1 }).await.unwrap()
/// }
///
/// let _g = tracewell::builder().install().unwrap();
/// let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
/// assert_eq!(rt.block_on(handle(7)), 8);
/// let spans = tracewell::collected();
/// let handle = spans.iter().find(|s| s.name == "handle").unwrap();
/// let audit = spans.iter().find(|s| s.name == "audit").unwrap();
/// assert_eq!(audit.parent_span_id, handle.span_id);
/// ```
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future.in_current_span())
}

/// `tokio::task::spawn_local` that keeps the trace, as [`spawn`] does.
///
/// # Panics
///
/// As `tokio::task::spawn_local`, when called outside a `tokio::task::LocalSet`.
///
/// # Examples
///
/// ```
/// let _g = tracewell::builder().install().unwrap();
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let local = tokio::task::LocalSet::new();
/// let (request, seen) = local.block_on(&rt, async {
///     let (request, task) = {
///         let request = tracewell::span("request").start();
///         (request.context().span_id, tracewell::spawn_local(async { tracewell::current() }))
///     };
///     // `request` has ended; the task still runs under it.
///     (request, task.await.unwrap())
/// });
/// assert_eq!(seen.span_id, request);
/// ```
pub fn spawn_local<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    tokio::task::spawn_local(future.in_current_span())
}
