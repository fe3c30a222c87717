//! Carrying trace context across services in headers (W3C trace context, B3, plain headers).
//!
//! A service that receives a request [`extract`]s the caller's context from the request headers
//! and starts its server span with it as parent; a service that makes a request [`inject`]s the
//! current span's context into the request headers. Which header formats are read and written
//! is chosen like OpenTelemetry's `OTEL_PROPAGATORS` (comma-separated, default
//! `tracecontext,tracewell`):
//!
//! | name | headers | module |
//! |---|---|---|
//! | `tracecontext` | `traceparent`, `tracestate` | [`w3c`] |
//! | `tracewell` | `trace_id`, `span_id`, `is_sampled` | [`plain`] |
//! | `b3` | `b3` (single header) | [`b3`] |
//! | `b3multi` | `X-B3-TraceId`, `X-B3-SpanId`, `X-B3-Sampled` (reads `b3` too) | [`b3`] |
//! | `none` | nothing | |
//!
//! Inject writes every configured format; extract takes the first configured format that yields
//! a valid context. Header values are never trusted: a header that is invalid in any way is
//! ignored (the trace restarts), parsing never panics, and memory used while parsing is bounded
//! whatever the input (property-tested over arbitrary values).
//!
//! Carriers are anything implementing [`Extractor`] / [`Injector`]: `HashMap<String, String>`,
//! lists of pairs, `http::HeaderMap` (feature `http`), `tonic::metadata::MetadataMap` (feature
//! `tonic`). Names are matched case-insensitively and written in lowercase. With the `tower`
//! feature, `tower::TraceLayer` does all of this for an HTTP or gRPC service in one line.
//!
//! # Examples
//!
//! ```
//! use std::collections::HashMap;
//! use tracewell::propagation;
//! let _g = tracewell::builder().install().unwrap();
//!
//! // caller: put the current span's context into the outgoing request
//! let mut headers: HashMap<String, String> = HashMap::new();
//! {
//!     let _call = tracewell::span("call").start();
//!     propagation::inject(&mut headers);
//! }
//! assert!(headers.contains_key("traceparent"));
//!
//! // callee: continue the caller's trace
//! let parent = propagation::extract(&headers).expect("valid headers");
//! let handler = tracewell::span("handle").parent(&parent).start();
//! drop(handler);
//! let spans = tracewell::collected();
//! let call = spans.iter().find(|s| s.name == "call").unwrap();
//! let handle = spans.iter().find(|s| s.name == "handle").unwrap();
//! assert_eq!(handle.trace_id, call.trace_id);
//! assert_eq!(handle.parent_span_id, call.span_id);
//! assert!(handle.parent_is_remote);
//! ```

pub mod b3;
mod carrier;
mod hex;
pub mod plain;
#[cfg(feature = "tower")]
pub mod tower;
pub mod w3c;

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;

pub use carrier::{Carrier, Extractor, Injector};

use crate::context::{RemoteContext, SpanContext};

/// The environment variable that selects the formats.
pub const ENV_VAR: &str = "OTEL_PROPAGATORS";

/// One header format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Propagator {
    /// W3C `traceparent` + `tracestate` (`tracecontext`).
    TraceContext,
    /// `trace_id`, `span_id`, `is_sampled` (`tracewell`).
    Tracewell,
    /// B3 single header `b3` (`b3`).
    B3,
    /// B3 `X-B3-*` headers (`b3multi`); on extract a valid `b3` header takes precedence.
    B3Multi,
}

/// An `OTEL_PROPAGATORS` entry tracewell does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PropagatorError {
    /// Unknown name.
    #[error(
        "unknown propagator {0:?}: expected a comma-separated list of tracecontext, tracewell, b3, b3multi or none"
    )]
    Unknown(String),
}

impl Propagator {
    /// All formats, in `OTEL_PROPAGATORS` spelling order.
    pub const ALL: [Propagator; 4] =
        [Propagator::TraceContext, Propagator::Tracewell, Propagator::B3, Propagator::B3Multi];

    /// The `OTEL_PROPAGATORS` name.
    pub const fn name(self) -> &'static str {
        match self {
            Propagator::TraceContext => "tracecontext",
            Propagator::Tracewell => "tracewell",
            Propagator::B3 => "b3",
            Propagator::B3Multi => "b3multi",
        }
    }

    /// Reads a context in this format; `None` if absent or invalid.
    ///
    /// # Examples
    ///
    /// ```
    /// use tracewell::propagation::Propagator;
    /// let h = vec![("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1")];
    /// assert!(Propagator::B3.extract(&h).unwrap().is_sampled());
    /// assert!(Propagator::TraceContext.extract(&h).is_none());
    /// ```
    pub fn extract<E: Extractor + ?Sized>(self, carrier: &E) -> Option<RemoteContext> {
        match self {
            Propagator::TraceContext => {
                let mut first = None;
                let mut count = 0usize;
                carrier.get_all(w3c::TRACEPARENT, &mut |v| {
                    count += 1;
                    first.get_or_insert(v);
                });
                // Several traceparent headers cannot be told apart: invalid.
                if count != 1 {
                    return None;
                }
                let mut ctx = w3c::parse_traceparent(first?)?;
                let mut state = w3c::TraceStateParser::default();
                carrier.get_all(w3c::TRACESTATE, &mut |v| state.feed(v));
                ctx.trace_state = state.finish();
                Some(ctx)
            }
            Propagator::Tracewell => plain::parse(|n| carrier.get(n)),
            Propagator::B3 => match b3::parse_single(carrier.get(b3::B3)?)? {
                b3::Single::Context(ctx) => Some(ctx),
                b3::Single::SamplingOnly(_) => None,
            },
            Propagator::B3Multi => Propagator::B3.extract(carrier).or_else(|| b3::parse_multi(|n| carrier.get(n))),
        }
    }

    /// Writes `ctx` in this format (nothing if `ctx` is not valid).
    ///
    /// # Examples
    ///
    /// ```
    /// use tracewell::{SpanContext, TraceId, SpanId, propagation::Propagator};
    /// let mut h: Vec<(String, String)> = Vec::new();
    /// Propagator::B3Multi.inject(&SpanContext::remote(TraceId(1), SpanId(2), false), &mut h);
    /// assert_eq!(h[2], ("x-b3-sampled".to_string(), "0".to_string()));
    /// ```
    pub fn inject<I: Injector + ?Sized>(self, ctx: &SpanContext, carrier: &mut I) {
        if !ctx.is_valid() {
            return;
        }
        match self {
            Propagator::TraceContext => {
                carrier.set(w3c::TRACEPARENT, w3c::format_traceparent(ctx));
                carrier.set(w3c::TRACESTATE, w3c::format_tracestate(ctx));
            }
            Propagator::Tracewell => {
                for (k, v) in plain::format(ctx) {
                    carrier.set(k, v);
                }
            }
            Propagator::B3 => carrier.set(b3::B3, b3::format_single(ctx)),
            Propagator::B3Multi => {
                for (k, v) in b3::format_multi(ctx) {
                    carrier.set(k, v);
                }
            }
        }
    }
}

impl FromStr for Propagator {
    type Err = PropagatorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Propagator::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| PropagatorError::Unknown(s.to_owned()))
    }
}

impl fmt::Display for Propagator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An ordered set of formats: all are injected, the first that yields a context is extracted.
///
/// # Examples
///
/// ```
/// use tracewell::propagation::{Propagator, Propagators};
/// let p: Propagators = "b3multi, tracecontext".parse().unwrap();
/// assert_eq!(p.as_slice(), [Propagator::B3Multi, Propagator::TraceContext]);
/// assert_eq!(Propagators::default().to_string(), "tracecontext,tracewell");
/// assert!("jaeger".parse::<Propagators>().unwrap_err().to_string().contains("tracecontext, tracewell"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Propagators(Vec<Propagator>);

impl Default for Propagators {
    /// `tracecontext,tracewell`.
    fn default() -> Self {
        Propagators(vec![Propagator::TraceContext, Propagator::Tracewell])
    }
}

impl Propagators {
    /// These formats, in order, each once.
    pub fn new(list: impl IntoIterator<Item = Propagator>) -> Propagators {
        let mut v: Vec<Propagator> = Vec::new();
        for p in list {
            if !v.contains(&p) {
                v.push(p);
            }
        }
        Propagators(v)
    }

    /// No format: nothing is injected or extracted.
    pub fn none() -> Propagators {
        Propagators(Vec::new())
    }

    /// The formats, in order.
    pub fn as_slice(&self) -> &[Propagator] {
        &self.0
    }

    /// The formats `OTEL_PROPAGATORS` names (the default when unset or empty).
    ///
    /// # Errors
    ///
    /// [`PropagatorError::Unknown`] for a name tracewell does not know.
    pub fn from_env() -> Result<Propagators, PropagatorError> {
        match std::env::var(ENV_VAR) {
            Ok(v) if !v.trim().is_empty() => v.parse(),
            _ => Ok(Propagators::default()),
        }
    }

    /// The first context a configured format finds in `carrier`.
    pub fn extract<E: Extractor + ?Sized>(&self, carrier: &E) -> Option<RemoteContext> {
        self.0.iter().find_map(|p| p.extract(carrier))
    }

    /// Writes `ctx` into `carrier` in every configured format.
    pub fn inject_context<I: Injector + ?Sized>(&self, ctx: &SpanContext, carrier: &mut I) {
        for p in &self.0 {
            p.inject(ctx, carrier);
        }
    }

    /// The headers every configured format writes for `ctx`.
    pub fn headers(&self, ctx: &SpanContext) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        self.inject_context(ctx, &mut out);
        out
    }
}

impl FromStr for Propagators {
    type Err = PropagatorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut list = Vec::new();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name.eq_ignore_ascii_case("none") {
                continue;
            }
            list.push(name.parse()?);
        }
        Ok(Propagators::new(list))
    }
}

impl fmt::Display for Propagators {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(p.name())?;
        }
        Ok(())
    }
}

fn global() -> &'static ArcSwap<Propagators> {
    static GLOBAL: OnceLock<ArcSwap<Propagators>> = OnceLock::new();
    GLOBAL.get_or_init(|| {
        let p = Propagators::from_env().unwrap_or_else(|e| {
            crate::diag::log_error(format_args!("{ENV_VAR}: {e}; using {}", Propagators::default()));
            Propagators::default()
        });
        ArcSwap::from_pointee(p)
    })
}

/// The formats in use: set by [`set_propagators`], else read once from `OTEL_PROPAGATORS` (a bad
/// value is reported once on stderr and the default is used).
pub fn propagators() -> Arc<Propagators> {
    global().load_full()
}

/// Replaces the formats in use for the whole process.
///
/// # Examples
///
/// ```
/// use tracewell::propagation::{self, Propagator, Propagators};
/// propagation::set_propagators(Propagators::new([Propagator::B3]));
/// assert_eq!(propagation::propagators().as_slice(), [Propagator::B3]);
/// # propagation::set_propagators(Propagators::default());
/// ```
pub fn set_propagators(propagators: Propagators) {
    global().store(Arc::new(propagators));
}

/// The headers for the current span in every configured format (empty when no span is current).
///
/// # Examples
///
/// ```
/// let _g = tracewell::builder().install().unwrap();
/// assert!(tracewell::propagation::current_headers().is_empty());
/// let _s = tracewell::span("work").start();
/// let headers = tracewell::propagation::current_headers();
/// let names: Vec<&str> = headers.iter().map(|(k, _)| *k).collect();
/// assert_eq!(names, ["traceparent", "tracestate", "trace_id", "span_id", "is_sampled"]);
/// ```
pub fn current_headers() -> Vec<(&'static str, String)> {
    propagators().headers(&crate::current())
}

/// Writes the current span's context into `carrier` in every configured format.
///
/// # Examples
///
/// ```
/// let _g = tracewell::builder().install().unwrap();
/// let span = tracewell::span("call").start();
/// let mut headers = std::collections::HashMap::new();
/// tracewell::propagation::inject(&mut headers);
/// assert!(headers["traceparent"].contains(&tracewell::current().span_id.to_string()));
/// ```
pub fn inject<I: Injector + ?Sized>(carrier: &mut I) {
    // A clone, not a borrow: the carrier's code may start spans of its own.
    propagators().inject_context(&crate::current(), carrier);
}

/// Writes `ctx` into `carrier` in every configured format.
pub fn inject_context<I: Injector + ?Sized>(ctx: &SpanContext, carrier: &mut I) {
    propagators().inject_context(ctx, carrier);
}

/// The caller's context from `carrier`, in the first configured format that has a valid one.
///
/// Pass it to `span(..).parent(ctx)` or `#[traced(parent = ctx)]`.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// let mut h = HashMap::new();
/// h.insert("TraceParent".to_string(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string());
/// h.insert("tracestate".to_string(), "congo=t61rcWkgMzE".to_string());
/// let ctx = tracewell::propagation::extract(&h).unwrap();
/// assert_eq!(ctx.span_id.to_string(), "00f067aa0ba902b7");
/// assert_eq!(ctx.trace_state.as_deref(), Some("congo=t61rcWkgMzE"));
/// h.insert("TraceParent".to_string(), "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01".to_string());
/// assert!(tracewell::propagation::extract(&h).is_none());
/// ```
pub fn extract<E: Extractor + ?Sized>(carrier: &E) -> Option<RemoteContext> {
    propagators().extract(carrier)
}

/// [`extract`] with the given formats instead of the configured ones.
pub fn extract_with<E: Extractor + ?Sized>(propagators: &Propagators, carrier: &E) -> Option<RemoteContext> {
    propagators.extract(carrier)
}

#[cfg(test)]
pub(crate) mod tests;
