//! tracewell: know what your functions did.
//!
//! Put `#[traced]` or `#[monitor(branch = "...")]` on a function and every call becomes a span
//! with its inputs, output, error or panic, poll counts for futures and item counts for streams.
//! Finished spans leave the calling thread through a lock-free, bounded path and are batched to
//! exporters by a worker thread.
//!
//! ```
//! let _tracing = tracewell::builder().install().unwrap();   // or tracewell::init() from env
//! {
//!     let mut span = tracewell::span("load").branch("batch").start();
//!     span.set_attribute("rows", 42u64);
//!     span.set_tag("env", "prod");
//!     let child = tracewell::span("parse").start();
//!     drop(child);
//! }
//! let spans = tracewell::collected();
//! let load = spans.iter().find(|s| s.name == "load").unwrap();
//! let parse = spans.iter().find(|s| s.name == "parse").unwrap();
//! assert_eq!(parse.parent_span_id, load.span_id);
//! ```
//!
//! # Layers
//!
//! Modules import only downward; `./scripts/test` fails on an import circle between them
//! (`scripts/import_cycles.py`). Each layer may use every layer below it:
//!
//! ```text
//!  builder                          Builder, init(): config + exporters -> an installed pipeline
//!  propagation  bridge  monitor     headers, tracing/log, runtime lag   |  score (span only)
//!  context                          Span, guards, futures, streams, the current span
//!  pipeline                         per-thread chunks, byte budget, batch worker, stats
//!  export                           the Exporter contract and the exporters
//!  config                           settings from the environment (parses; builds nothing)
//!  capture   sampler                values from arguments, sampling decisions
//!  span                             the record: layout, Batch, SpanRef, SpanData, NDJSON
//!  clock   diag   alloc             raw ticks, rate-limited logging, allocation counting
//! ```
//!
//! Where new work goes: a new exporter is a file in [`export`] (it sees batches and
//! configuration, never the pipeline); a new captured type is an impl in [`capture`]; a new
//! report format is a file in `score/report/`; a new wire format for headers is in
//! [`propagation`].
//!
//! Modules: [`mod@span`] (the record), [`mod@context`] (current span, sampling), [`capture`]
//! (values), [`pipeline`] (hand-off and counters), [`export`] (destinations).

#![warn(missing_docs)]

pub mod alloc;
#[cfg(any(feature = "tracing", feature = "log"))]
pub mod bridge;
mod builder;
pub mod capture;
mod clock;
mod config;
pub mod context;
mod diag;
pub mod export;
pub mod monitor;
pub mod pipeline;
pub mod propagation;
mod sampler;
pub mod score;
pub mod span;

pub use builder::{Builder, builder, init};
pub use config::{Config, ConfigError, EXPORTER_NAMES, OnFull};
pub use context::{
    CurrentSpanExt, FutureExt, Instrumented, IntoParent, RemoteContext, Span, SpanBuilder, SpanGuard, current, in_span,
    span, spawn, spawn_local,
};
pub use export::health;
pub use monitor::{RuntimeMonitor, monitor_runtime, monitor_runtime_every};
pub use pipeline::{Guard, Stats, collected, flush, stats};
pub use sampler::Sampler;
pub use span::{
    Batch, Callsite, Event, SpanContext, SpanData, SpanId, SpanKind, SpanRef, Status, StatusCode, TraceId, Value,
    ValueRef,
};
#[doc = include_str!("../doc/monitor.md")]
pub use tracewell_macros::monitor;
#[doc = include_str!("../doc/traced.md")]
pub use tracewell_macros::traced;

/// The only surface generated code touches. Not a public API: it may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::capture::{
        CaptureDebug, CaptureOpaque, CapturePrimitive, CaptureSerialize, ErrorDebug, ErrorDisplay, ErrorOpaque, Wrap,
    };
    pub use crate::context::{
        Instrumented, IntoParent, ItemCapture, OutputHook, Span, SpanGuard, set_current, traced_iter, traced_stream,
        with_context,
    };
    pub use crate::span::{Callsite, SpanContext};
    pub use crate::span::{SpanKind, Value};
    pub use core;

    /// Starts a span for `cs` under the current span and makes it current on this thread.
    #[inline]
    pub fn enter(cs: &'static Callsite) -> SpanGuard {
        crate::context::start_callsite(cs, None, None, true).enter()
    }

    /// Starts a span for `cs` without making it current (for streams and iterators).
    #[inline]
    pub fn start(cs: &'static Callsite) -> Span {
        crate::context::start_callsite(cs, None, None, true)
    }

    /// Starts a span for `cs` whose clock starts at the first poll of the future it is given
    /// to ([`instrument`]): its parent is the span current now.
    #[inline]
    pub fn start_future(cs: &'static Callsite) -> Span {
        crate::context::start_callsite(cs, None, None, false)
    }

    /// Starts a span for `cs` with an explicit parent (`None` keeps the current span) and a
    /// per-function sampling ratio.
    #[inline]
    pub fn start_with(cs: &'static Callsite, parent: impl IntoParent, sample: Option<f64>) -> Span {
        let parent = parent.into_parent().filter(SpanContext::is_valid);
        crate::context::start_callsite(cs, parent, sample, true)
    }

    /// Wraps a future so `span` is current while it is polled; `hook` records the output.
    #[inline]
    pub fn instrument<F, H>(span: Span, fut: F, hook: H) -> Instrumented<F, H>
    where
        F: core::future::Future,
        H: OutputHook<F::Output>,
    {
        Instrumented::new(fut, span, hook)
    }

    /// Fixes the item type of an iterator to the one the signature names, so that the item
    /// capture sees the concrete type (`impl Iterator<Item = T>` alone leaves it to inference).
    #[inline]
    pub fn iter_of<T, I: IntoIterator<Item = T>>(iter: I) -> I {
        iter
    }

    /// [`iter_of`] for streams.
    #[inline]
    pub fn stream_of<T, S: futures_core::Stream<Item = T>>(stream: S) -> S {
        stream
    }

    /// [`iter_of`] for futures.
    #[inline]
    pub fn future_of<T, F: core::future::Future<Output = T>>(fut: F) -> F {
        fut
    }

    /// [`instrument`] with a closure hook, whose argument types are inferred from the future.
    #[inline]
    pub fn instrument_with<F, H>(span: Span, fut: F, hook: H) -> Instrumented<F, H>
    where
        F: core::future::Future,
        H: FnOnce(&mut Span, &F::Output),
    {
        Instrumented::new(fut, span, hook)
    }

    /// Runs `f` and returns its value: the body of a traced function, whose declared return
    /// type `T` drives the closure's inference (`?`, `.into()`, `collect()`) as it does the
    /// original function's.
    #[inline]
    pub fn value_of<T, F: FnOnce() -> T>(f: F) -> T {
        f()
    }

    /// For an `async fn` that returns a stream or an iterator: a future that runs `body` with
    /// `span`'s context current and hands the span back with what the body made, to be wrapped.
    /// The span's clock starts at the first poll, as for [`instrument`]; dropped before it is
    /// done, the span ends with status cancelled.
    #[inline]
    pub fn made_under<F: core::future::Future>(
        mut span: Span,
        body: F,
    ) -> impl core::future::Future<Output = (Span, F::Output)> {
        span.set_cancel_on_drop(true);
        async move {
            span.start_at(crate::clock::now());
            let made = with_context(span.context().clone(), body).await;
            (span, made)
        }
    }
}
