//! The Redis exporter: NDJSON spans pushed to a list (one pipelined variadic `RPUSH` per batch,
//! optionally capped with `LTRIM`) or appended to a stream (`XADD ... MAXLEN ~ N`).
//!
//! Batches wait in a bounded retry buffer while Redis is away, reported held
//! ([`Delivery::Held`]) and settled when sent or dropped; reconnects back off exponentially with
//! jitter; when the buffer is full the oldest batches are dropped, counted in [`crate::health`]
//! and given back. Nothing here ever blocks or fails the application.
//!
//! This file is the exporter and its send loop; `command` is what it sends, `config` how it is
//! set up (URL, variables, TLS).

mod command;
mod config;

use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use self::command::{Lines, command};
pub use self::config::RedisUrlError;
use self::config::redact_url;
use super::health::HealthCell;
use super::held::Held;
use super::retry::Backoff;
use super::{BoxFuture, Delivery, ExportError, Exporter, Settled};
use crate::span::Batch;

const NAME: &str = "redis";

/// The default list (or stream) key.
pub const DEFAULT_REDIS_KEY: &str = "tracewell:spans";
/// The default URL.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// Where spans go inside Redis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedisMode {
    /// `RPUSH key line...`; with `Some(n)`, followed by `LTRIM key -n -1` in the same pipeline so
    /// the list keeps only the newest `n` spans.
    List {
        /// Longest the list may grow.
        cap: Option<u64>,
    },
    /// `XADD key MAXLEN ~ n * span <line>` per span, for consumer groups.
    Stream {
        /// Approximate longest the stream may grow.
        max_len: u64,
    },
}

/// Pushes spans, one NDJSON line each (the file exporter's schema), to a Redis list or stream.
///
/// Environment (`OTEL_TRACES_EXPORTER=redis`): `TRACEWELL_REDIS_URL` (`redis://[:password@]host:port[/db]`,
/// default `redis://127.0.0.1:6379`; the password never appears in logs or [`crate::health`]),
/// `TRACEWELL_REDIS_KEY` (default `tracewell:spans`), `TRACEWELL_REDIS_MAX_LEN` (cap the list with
/// `LTRIM`), `TRACEWELL_REDIS_STREAM` (`on`: use `XADD ... MAXLEN ~ TRACEWELL_REDIS_MAX_LEN`,
/// default 1000000), `TRACEWELL_REDIS_BUFFER` (spans held while Redis is away, default 100000).
///
/// TLS (feature `tls`): a `rediss://` URL connects over TLS through the `redis` crate's rustls
/// support, trusting the system's roots; `TRACEWELL_REDIS_CA_CERT` (a PEM file) trusts the CA
/// certificates in it *instead* of the system's roots (the `redis` crate's rule), and
/// `TRACEWELL_REDIS_CLIENT_CERT` with `TRACEWELL_REDIS_CLIENT_KEY` (PEM files) present a client
/// certificate, for a server started with `--tls-auth-clients yes`. A certificate the server or
/// the client refuses shows in [`crate::health`] like any connection error: the spans wait in the
/// retry buffer, and what it cannot hold is dropped and counted.
///
/// # Examples
///
/// ```
/// use tracewell::export::{RedisExporter, RedisMode};
/// let e = RedisExporter::new("redis://:secret@127.0.0.1:6379/0")
///     .unwrap()
///     .key("app:spans")
///     .mode(RedisMode::List { cap: Some(1_000_000) })
///     .service_name("api");
/// assert!(!format!("{e:?}").contains("secret"));
/// ```
pub struct RedisExporter {
    client: redis::Client,
    target: String,
    key: String,
    mode: RedisMode,
    service_name: String,
    manager: Option<ConnectionManager>,
    /// The retry buffer: the batches held while Redis is away, oldest first, encoded.
    buffer: Held<Lines>,
    max_buffered_spans: usize,
    backoff: Backoff,
    next_attempt: Instant,
    timeout: Duration,
    health: HealthCell,
    #[cfg(feature = "tls")]
    tls: super::tls::TlsPem,
}

impl std::fmt::Debug for RedisExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisExporter")
            .field("target", &self.target)
            .field("key", &self.key)
            .field("mode", &self.mode)
            .field("buffered_spans", &self.buffer.spans())
            .finish_non_exhaustive()
    }
}

impl RedisExporter {
    /// An exporter for the server at `url` (`redis://`, or `rediss://` for TLS with tracewell's
    /// `tls` feature). Connects lazily, on the worker.
    ///
    /// # Errors
    ///
    /// [`RedisUrlError`] when the URL cannot be parsed, or is `rediss://` in a build without the
    /// `tls` feature; its message hides the password.
    pub fn new(url: &str) -> Result<RedisExporter, RedisUrlError> {
        let target = redact_url(url);
        if let Some(message) = super::tls_missing(url, cfg!(feature = "tls")) {
            return Err(RedisUrlError { url: target, message });
        }
        #[cfg(feature = "tls")]
        if url.starts_with("rediss://") {
            super::tls::install_default_provider();
        }
        let client = redis::Client::open(url)
            .map_err(|e| RedisUrlError { url: target.clone(), message: e.to_string().replace(url, &target) })?;
        Ok(RedisExporter {
            client,
            health: HealthCell::new(NAME, target.clone()),
            target,
            key: DEFAULT_REDIS_KEY.into(),
            mode: RedisMode::List { cap: None },
            service_name: "unknown_service".into(),
            manager: None,
            buffer: Held::default(),
            max_buffered_spans: 100_000,
            backoff: Backoff::new(Duration::from_millis(50), Duration::from_secs(5)),
            next_attempt: Instant::now(),
            timeout: Duration::from_secs(2),
            #[cfg(feature = "tls")]
            tls: super::tls::TlsPem::default(),
        })
    }

    /// Sets the list or stream key.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// Chooses list or stream mode.
    pub fn mode(mut self, mode: RedisMode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets the `service_name` written on every line.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = name.into();
        self
    }

    /// Most spans held while Redis is unreachable (at least 1); past it the oldest batches are
    /// dropped and counted.
    pub fn buffer_capacity(mut self, spans: usize) -> Self {
        self.max_buffered_spans = spans.max(1);
        self
    }

    /// Time limit of one connection attempt and of one command.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Holds a batch in the retry buffer, dropping the oldest others while it is over its
    /// capacity (the newest batch always stays, so the buffer is bounded by the capacity plus
    /// one batch).
    fn hold(&mut self, lines: Lines, batch: Batch) {
        self.buffer.hold(lines, batch);
        while self.buffer.spans() > self.max_buffered_spans && self.buffer.len() > 1 {
            self.give_up_oldest();
        }
        self.sync_buffered();
    }

    /// Drops the oldest buffered batch and counts it; its spans go back in its settlement, for
    /// a `Fallback` to pick up.
    fn give_up_oldest(&mut self) {
        if let Some(n) = self.buffer.settle_front(false) {
            self.health.dropped(n);
        }
    }

    fn fail(&mut self, err: &dyn std::fmt::Display) {
        let delay = self.backoff.next_delay();
        self.next_attempt = Instant::now() + delay;
        self.health.failed(&format_args!("{err} (retrying in {} ms)", delay.as_millis()));
    }

    /// Whether Redis may be tried now: not backing off, and a connection (made lazily) to try.
    fn ready(&mut self) -> bool {
        if Instant::now() < self.next_attempt {
            return false;
        }
        if self.manager.is_none() {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(self.timeout))
                .set_response_timeout(Some(self.timeout))
                .set_number_of_retries(1)
                .set_min_delay(Duration::from_millis(20))
                .set_max_delay(Duration::from_millis(500));
            match ConnectionManager::new_lazy_with_config(self.client.clone(), config) {
                Ok(m) => self.manager = Some(m),
                Err(e) => {
                    self.fail(&e);
                    return false;
                }
            }
        }
        true
    }

    /// Sends buffered batches in order; whether the buffer emptied before Redis failed or
    /// `deadline` passed.
    async fn drain(&mut self, deadline: Instant) -> bool {
        if !self.ready() {
            return false;
        }
        while let Some(lines) = self.buffer.front_mut() {
            let pipe = command(&self.key, self.mode, lines);
            if !self.send(pipe, deadline).await {
                return false;
            }
            if let Some(n) = self.buffer.settle_front(true) {
                self.health.delivered(n);
            }
        }
        true
    }

    /// Runs one batch's commands; whether Redis took them before `deadline`.
    async fn send(&mut self, pipe: redis::Pipeline, deadline: Instant) -> bool {
        if Instant::now() >= deadline {
            return false;
        }
        let Some(manager) = self.manager.as_mut() else { return false };
        let limit = deadline.saturating_duration_since(Instant::now()).min(self.timeout * 2);
        match tokio::time::timeout(limit, pipe.query_async::<()>(manager)).await {
            Ok(Ok(())) => {
                self.backoff.reset();
                true
            }
            Ok(Err(e)) => {
                self.fail(&e);
                false
            }
            Err(_) => {
                self.fail(&format_args!("no answer within {} ms", limit.as_millis()));
                false
            }
        }
    }

    fn sync_buffered(&self) {
        let n = self.buffer.spans() as u64;
        self.health.update(|h| h.spans_buffered = n);
    }
}

impl Exporter for RedisExporter {
    fn name(&self) -> &'static str {
        NAME
    }

    fn export<'a>(&'a mut self, batch: &'a Batch) -> BoxFuture<'a, Result<Delivery, ExportError>> {
        Box::pin(async move {
            let lines = Lines::encode(batch, &self.service_name);
            let deadline = Instant::now() + self.timeout * 2;
            // Older batches go first; this one only once they all went, else it waits behind them.
            let delivered =
                self.drain(deadline).await && self.send(command(&self.key, self.mode, &lines), deadline).await;
            if delivered {
                self.health.delivered(lines.len());
                self.sync_buffered();
                Ok(Delivery::Delivered)
            } else {
                self.hold(lines, batch.clone());
                Ok(Delivery::Held)
            }
        })
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(async move {
            self.next_attempt = Instant::now();
            self.drain(Instant::now() + self.timeout * 2).await;
            self.sync_buffered();
            if self.buffer.is_empty() {
                Ok(())
            } else {
                Err(ExportError::Unavailable {
                    exporter: NAME,
                    message: format!("{} spans still waiting for {}", self.buffer.spans(), self.target),
                })
            }
        })
    }

    fn shutdown(&mut self) -> BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(async move {
            let r = self.flush().await;
            // What is still buffered now is lost: count it (a Fallback receives it).
            while !self.buffer.is_empty() {
                self.give_up_oldest();
            }
            self.sync_buffered();
            self.manager = None;
            r
        })
    }

    fn take_settled(&mut self) -> Vec<Settled> {
        self.buffer.take_settled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::held::fates;

    #[test]
    fn held_batches_are_settled_once_when_evicted_or_shut_down() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut e =
            RedisExporter::new("redis://127.0.0.1:1").unwrap().buffer_capacity(2).timeout(Duration::from_millis(50));
        let span = crate::SpanData { trace_id: crate::TraceId(1), span_id: crate::SpanId(1), ..Default::default() };
        let batch = Batch::from_spans(&[span.clone(), span]);
        let held = rt.block_on(e.export(&batch)).unwrap();
        assert_eq!(held, Delivery::Held, "nobody listens on port 1: the batch waits in the buffer");
        assert!(e.take_settled().is_empty());
        assert_eq!(rt.block_on(e.export(&batch)).unwrap(), Delivery::Held);
        assert_eq!(
            fates(&e.take_settled()),
            ["dropped 2"],
            "the older batch made room for the newer, spans given back"
        );
        assert!(rt.block_on(e.shutdown()).is_err(), "shutdown says spans were left");
        assert_eq!(fates(&e.take_settled()), ["dropped 2"]);
    }

    #[test]
    fn full_buffer_drops_oldest_and_counts() {
        let mut e = RedisExporter::new("redis://127.0.0.1:1").unwrap().buffer_capacity(3);
        let span = crate::SpanData {
            name: "s".into(),
            trace_id: crate::TraceId(1),
            span_id: crate::SpanId(1),
            ..Default::default()
        };
        for _ in 0..3 {
            let batch = Batch::from_spans(&[span.clone(), span.clone()]);
            e.hold(Lines::encode(&batch, &e.service_name), batch);
        }
        assert_eq!(e.buffer.spans(), 2);
        let h = e.health.snapshot();
        assert_eq!((h.spans_dropped, h.spans_buffered), (4, 2));
        assert_eq!(fates(&e.take_settled()), ["dropped 2", "dropped 2"]);
    }
}
