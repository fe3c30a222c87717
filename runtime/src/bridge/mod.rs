//! Bridges from the `tracing` and `log` ecosystems into tracewell, so that one pipeline carries
//! the spans of `#[traced]` functions and those of tokio, hyper, tower-http, sqlx and every other
//! crate that emits `tracing` spans or `log` records.
//!
//! ```text
//!  tracing::info_span!(..) ──▶ registry ──▶ TracingLayer::on_new_span ──▶ tracewell span, kept in
//!                                           │                            the span's extensions
//!                             on_enter/exit ┤ makes it tracewell's current span on this thread,
//!                                           │ busy time, takes the events left for it
//!                                  on_close ┘ busy/idle attributes, span ends ──▶ pipeline
//!  #[traced] fn while a tracing span is entered ──▶ child of that span (tracewell's current)
//!  tracing::info!(..) / log::warn!(..) ──▶ event for the current tracewell span (bridged or not)
//! ```
//!
//! Feature `tracing`: [`tracing_layer`]. Feature `log`: [`log_logger`].
//!
//! ```
//! # #[cfg(feature = "tracing")] {
//! use tracing_subscriber::layer::SubscriberExt as _;
//! let _tracing = tracewell::builder().install().unwrap();
//! let subscriber = tracing_subscriber::registry().with(tracewell::bridge::tracing_layer());
//! tracing::subscriber::with_default(subscriber, || {
//!     let _request = tracing::info_span!("request", user = 7u64).entered();
//!     tracewell::in_span("inner", || ());
//! });
//! let spans = tracewell::collected();
//! let request = spans.iter().find(|s| s.name == "request").unwrap();
//! let inner = spans.iter().find(|s| s.name == "inner").unwrap();
//! assert_eq!((inner.trace_id, inner.parent_span_id), (request.trace_id, request.span_id));
//! # }
//! ```

#[cfg(feature = "tracing")]
mod fields;
#[cfg(feature = "tracing")]
mod layer;
#[cfg(feature = "log")]
mod log;

#[cfg(feature = "tracing")]
pub use fields::LEVEL;
#[cfg(feature = "tracing")]
pub use layer::{IDLE_NS, TracingLayer, tracing_layer};

#[cfg(feature = "log")]
pub use self::log::{LOG_LEVEL, Logger, log_logger};
