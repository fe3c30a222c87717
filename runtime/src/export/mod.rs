//! Where finished spans go: the [`Exporter`] contract and the exporters that ship with the core.
//!
//! # The contract
//!
//! An exporter encodes and sends; everything else (batching, timing, counting) is the batch
//! worker's.
//!
//! - The batch worker calls an exporter from its own thread, inside its own small tokio runtime;
//!   calls are never concurrent (`&mut self`), so an exporter needs no locking of its own.
//! - `export` receives a batch by reference and must finish in bounded time: the worker also
//!   wraps every call in `OTEL_BSP_EXPORT_TIMEOUT`, and a call that runs over counts as failed.
//! - An exporter owns its retries and reconnects. What `export` returns says what became of the
//!   batch: [`Delivery::Delivered`], the backend has it; `Err`, it is lost *for this exporter* and
//!   counted; [`Delivery::Held`], the exporter keeps it for a later attempt (a retry buffer while
//!   its backend is away) or its request is still in flight (OTLP, Zipkin). A panic inside an
//!   exporter is caught, counted and logged; it never reaches the user's program.
//! - Each held batch is settled exactly once, oldest first, at the latest by `shutdown`:
//!   [`Exporter::take_settled`] reports it [`Settled::Delivered`], or [`Settled::Dropped`] with
//!   its spans, so a [`Fallback`] can send them on. Until then the pipeline counts those spans as
//!   held, not exported ([`crate::Stats::held`]). An exporter that never holds keeps the default
//!   (nothing to settle).
//! - `flush` is called by [`crate::flush`], `shutdown` once when the pipeline stops.

mod fallback;
mod file;
mod health;
mod held;
#[cfg(any(feature = "otlp-http", feature = "zipkin"))]
mod httpc;
#[cfg(any(feature = "otlp-grpc", feature = "otlp-http", feature = "zipkin"))]
mod inflight;
mod memory;
#[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
mod otlp;
#[cfg(feature = "redis")]
mod redis;
mod retry;
mod stdout;
#[cfg(all(feature = "tls", any(feature = "redis", feature = "otlp-grpc", feature = "otlp-http", feature = "zipkin")))]
mod tls;
#[cfg(feature = "zipkin")]
mod zipkin;

use std::future::Future;
use std::pin::Pin;

pub use fallback::Fallback;
pub use file::{DEFAULT_FILE_PATH, FileExporter};
pub use health::{ExporterHealth, health};
pub use memory::MemoryExporter;
#[cfg(feature = "otlp-grpc")]
pub use otlp::OtlpGrpcExporter;
#[cfg(feature = "otlp-http")]
pub use otlp::OtlpHttpExporter;
#[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
pub use otlp::{CANCELLED_ATTRIBUTE, DEFAULT_GRPC_ENDPOINT, DEFAULT_HTTP_ENDPOINT};
#[cfg(feature = "redis")]
pub use redis::{DEFAULT_REDIS_KEY, DEFAULT_REDIS_URL, RedisExporter, RedisMode, RedisUrlError};
pub use stdout::{StdoutExporter, StdoutFormat, pretty_line};
#[cfg(feature = "zipkin")]
pub use zipkin::{DEFAULT_ZIPKIN_ENDPOINT, ZipkinExporter};

use crate::config::ConfigError;
use crate::span::Batch;

/// A boxed future, as exporters return them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The backend could not be reached or refused the connection.
    #[error("{exporter}: cannot reach backend: {message}")]
    Unavailable {
        /// The exporter's name.
        exporter: &'static str,
        /// What happened.
        message: String,
    },
    /// The backend answered with an error that retrying will not fix.
    #[error("{exporter}: rejected: {message}")]
    Rejected {
        /// The exporter's name.
        exporter: &'static str,
        /// What happened.
        message: String,
    },
    /// The export did not finish in time.
    #[error("{exporter}: timed out after {millis} ms")]
    Timeout {
        /// The exporter's name.
        exporter: &'static str,
        /// The limit.
        millis: u64,
    },
    /// The exporter panicked.
    #[error("{exporter}: panicked: {message}")]
    Panicked {
        /// The exporter's name.
        exporter: &'static str,
        /// The panic message.
        message: String,
    },
    /// A local I/O error (file exporters).
    #[error("{exporter}: {source}")]
    Io {
        /// The exporter's name.
        exporter: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// A destination for finished spans. See the [module docs](self) for the contract.
///
/// # Examples
///
/// A counting exporter:
///
/// ```
/// use std::sync::{Arc, atomic::{AtomicU64, Ordering}};
/// use tracewell::export::{BoxFuture, Delivery, ExportError, Exporter};
/// use tracewell::span::Batch;
///
/// #[derive(Debug)]
/// struct Count(Arc<AtomicU64>);
/// impl Exporter for Count {
///     fn name(&self) -> &'static str { "count" }
///     fn export<'a>(&'a mut self, batch: &'a Batch) -> BoxFuture<'a, Result<Delivery, ExportError>> {
///         self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
///         Box::pin(async { Ok(Delivery::Delivered) })
///     }
/// }
///
/// let n = Arc::new(AtomicU64::new(0));
/// let g = tracewell::builder().exporter(Count(n.clone())).install().unwrap();
/// tracewell::in_span("x", || ());
/// tracewell::flush();
/// assert_eq!(n.load(Ordering::Relaxed), 1);
/// # drop(g);
/// ```
pub trait Exporter: Send + std::fmt::Debug + 'static {
    /// A short name for logs, stats and health (`"memory"`, `"otlp-grpc"`, ...).
    fn name(&self) -> &'static str;

    /// Encodes and sends one batch. Must finish in bounded time. The spans are compact records
    /// read in place ([`crate::span::SpanRef`]); [`Batch::to_vec`] gives owned
    /// [`crate::SpanData`] where that is simpler. A [`Batch`] is cheap to clone, to keep for a
    /// retry.
    ///
    /// Returns [`Delivery::Delivered`] when the backend has the batch, [`Delivery::Held`] when
    /// the exporter keeps it to settle later through [`Exporter::take_settled`].
    ///
    /// # Errors
    ///
    /// [`ExportError`] when the batch could not be delivered after the exporter's own retries.
    fn export<'a>(&'a mut self, batch: &'a Batch) -> BoxFuture<'a, Result<Delivery, ExportError>>;

    /// Pushes out anything buffered.
    ///
    /// # Errors
    ///
    /// [`ExportError`] when buffered spans could not be delivered.
    fn flush(&mut self) -> BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(async { Ok(()) })
    }

    /// Releases connections and files; called once at shutdown after the last export. Settles
    /// every batch still held.
    fn shutdown(&mut self) -> BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(async { Ok(()) })
    }

    /// What became of held batches ([`Delivery::Held`]) since the last call, oldest first. Each
    /// held batch is settled exactly once, at the latest by `shutdown`. The default, nothing,
    /// suits an exporter that never holds.
    fn take_settled(&mut self) -> Vec<Settled> {
        Vec::new()
    }
}

/// What became of the batch an [`Exporter::export`] call was given, when the call succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The backend has it.
    Delivered,
    /// The exporter keeps it for a later attempt, or waits for the backend's answer; it reports
    /// the outcome through [`Exporter::take_settled`].
    Held,
}

/// What became of a batch an exporter held ([`Delivery::Held`]).
#[derive(Clone, Debug)]
pub enum Settled {
    /// The backend has it now.
    Delivered,
    /// The exporter gave up on it: its retry buffer overflowed, the backend refused it, or it
    /// shut down first. The spans come back (a [`Fallback`] sends them on); the [`Batch`] owns
    /// its records and takes no room in the span buffer.
    Dropped(Batch),
}

/// Discards every span (`OTEL_TRACES_EXPORTER=none`).
#[derive(Debug, Default, Clone, Copy)]
pub struct NullExporter;

impl Exporter for NullExporter {
    fn name(&self) -> &'static str {
        "none"
    }

    fn export<'a>(&'a mut self, _batch: &'a Batch) -> BoxFuture<'a, Result<Delivery, ExportError>> {
        Box::pin(std::future::ready(Ok(Delivery::Delivered)))
    }
}

/// Builds an exporter that leaves the process (`file`, `redis`, `otlp`, `zipkin`) from the
/// configuration and its own environment variables; `None` when this build does not have it.
pub(crate) fn from_name(name: &str, service_name: &str) -> Option<Result<Box<dyn Exporter>, ConfigError>> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    from_lookup(name, service_name, &get)
}

/// [`from_name`] over any variable lookup (empty values count as unset).
pub(crate) fn from_lookup(
    name: &str,
    service_name: &str,
    get: &dyn Fn(&str) -> Option<String>,
) -> Option<Result<Box<dyn Exporter>, ConfigError>> {
    fn boxed<E: Exporter>(r: Result<E, ConfigError>) -> Result<Box<dyn Exporter>, ConfigError> {
        r.map(|e| Box::new(e) as Box<dyn Exporter>)
    }
    match name {
        "file" => Some(boxed(FileExporter::from_lookup(get, service_name))),
        #[cfg(feature = "redis")]
        "redis" => Some(boxed(redis::RedisExporter::from_lookup(get, service_name))),
        #[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
        "otlp" => Some(otlp::from_lookup(get, service_name)),
        #[cfg(feature = "zipkin")]
        "zipkin" => Some(boxed(zipkin::ZipkinExporter::from_lookup(get, service_name))),
        _ => None,
    }
}

/// Why a TLS URL (`https://`, `rediss://`) cannot be used when tracewell is built without its
/// `tls` feature; `None` for other URLs, or when the feature is on.
#[cfg_attr(
    not(any(feature = "redis", feature = "otlp-grpc", feature = "otlp-http", feature = "zipkin")),
    allow(dead_code)
)]
pub(crate) fn tls_missing(url: &str, tls_built: bool) -> Option<String> {
    let scheme = url.split("://").next().unwrap_or("");
    (!tls_built && url.contains("://") && matches!(scheme.to_ascii_lowercase().as_str(), "https" | "rediss")).then(
        || {
            format!(
                "{scheme}:// needs TLS, which this build leaves out: enable tracewell's `tls` feature (or send to a \
             local plain-text endpoint, such as an OpenTelemetry Collector, that forwards over TLS)"
            )
        },
    )
}

/// `err` and its sources, `: `-separated (transport errors often say little at the top).
#[cfg_attr(not(any(feature = "otlp-http", feature = "zipkin")), allow(dead_code))]
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    push_sources(&mut text, err);
    text
}

/// Appends the sources of `err` to `text`, leaving out those whose words are there already.
#[cfg_attr(not(any(feature = "otlp-grpc", feature = "otlp-http", feature = "zipkin")), allow(dead_code))]
pub(crate) fn push_sources(text: &mut String, err: &(dyn std::error::Error + 'static)) {
    let mut next = err.source();
    while let Some(e) = next {
        let s = e.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        next = e.source();
    }
}

/// Parses a whole number greater than 0 from the variable `var`.
pub(crate) fn parse_positive(var: &'static str, v: &str) -> Result<u64, ConfigError> {
    match v.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ConfigError::Invalid {
            var,
            value: v.to_owned(),
            reason: "expected a whole number greater than 0".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(name: &str, env: &[(&str, &str)]) -> Result<Box<dyn Exporter>, ConfigError> {
        let get = |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned());
        from_lookup(name, crate::config::DEFAULT_SERVICE_NAME, &get).expect("exporter compiled in")
    }

    #[test]
    fn file_from_env() {
        let e =
            build("file", &[("TRACEWELL_FILE_PATH", "/tmp/x.ndjson"), ("TRACEWELL_FILE_MAX_BYTES", "1000")]).unwrap();
        assert_eq!(e.name(), "file");
        let err = build("file", &[("TRACEWELL_FILE_MAX_BYTES", "lots")]).unwrap_err().to_string();
        assert!(err.starts_with("TRACEWELL_FILE_MAX_BYTES=\"lots\""), "{err}");
    }

    #[test]
    fn tls_urls_without_the_feature_say_which_feature() {
        let why = tls_missing("rediss://h:6380", false).unwrap();
        assert!(why.starts_with("rediss:// needs TLS") && why.contains("enable tracewell's `tls` feature"), "{why}");
        assert!(tls_missing("HTTPS://h", false).unwrap().contains("`tls` feature"));
        assert_eq!(tls_missing("https://h", true), None);
        assert_eq!(tls_missing("http://h", false), None);
        assert_eq!(tls_missing("redis://h", false), None);
    }

    #[test]
    fn unknown_names_are_not_built_here() {
        assert!(from_lookup("kafka", crate::config::DEFAULT_SERVICE_NAME, &|_| None).is_none());
    }
}
