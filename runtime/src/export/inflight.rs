//! Several batches on the wire at once, for the OTLP and Zipkin exporters.
//!
//! An exporter that waits for each answer before it sends the next batch is bound by the round
//! trip: a collector 20 ms away takes at most one batch per 20 ms, whatever its capacity, and a
//! local one spends the time it decodes a batch with the exporter idle. [`InFlight`] instead
//! starts each request as a task on a small runtime of its own thread, reports the batch held
//! ([`Delivery::Held`]) and settles it when the answer comes, oldest first, in the shared ledger
//! of held batches ([`Held`]). At most `limit` requests are in flight; the next export waits
//! for the oldest one, so memory stays bounded (`limit` encoded requests) and a slow backend
//! slows the worker down, which then drops and counts spans at the rings as it would for any
//! slow exporter.
//!
//! The requests run on their own thread because the batch worker parks between batches: a task
//! on the worker's runtime would only make progress while an export is being driven.
//!
//! With a limit of 1 nothing is held and no thread is started: each export sends its batch and
//! waits for the answer.

use std::future::Future;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

use super::held::Held;
use super::{BoxFuture, Delivery, ExportError, Settled};
use crate::span::Batch;

/// Requests in flight per exporter unless configured (`TRACEWELL_OTLP_MAX_IN_FLIGHT`,
/// `TRACEWELL_ZIPKIN_MAX_IN_FLIGHT`).
pub(crate) const DEFAULT_MAX_IN_FLIGHT: usize = 4;

/// The most requests an exporter keeps in flight, whatever it is configured with: each one holds
/// an encoded batch.
pub(crate) const MOST_IN_FLIGHT: usize = 64;

/// Reads a limit of requests in flight from the variable `var`.
///
/// # Errors
///
/// [`crate::ConfigError::Invalid`] naming `var` unless `value` is a whole number from 1 to
/// [`MOST_IN_FLIGHT`].
pub(crate) fn parse_limit(var: &'static str, value: &str) -> Result<usize, crate::ConfigError> {
    match value.trim().parse::<usize>() {
        Ok(n @ 1..=MOST_IN_FLIGHT) => Ok(n),
        _ => Err(crate::ConfigError::Invalid {
            var,
            value: value.to_owned(),
            reason: format!("expected a whole number from 1 to {MOST_IN_FLIGHT}"),
        }),
    }
}

/// The requests an exporter has in flight, and what became of those that finished.
pub(crate) struct InFlight {
    name: &'static str,
    limit: usize,
    io: Option<IoThread>,
    /// The I/O thread could not be started; exports wait for their answers instead.
    io_failed: bool,
    /// The batches in flight, each with its request's result, sent by its task before it wakes
    /// the caller.
    pending: Held<oneshot::Receiver<Result<(), ExportError>>>,
}

impl std::fmt::Debug for InFlight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InFlight")
            .field("limit", &self.limit)
            .field("in_flight", &self.pending.len())
            .field("spans", &self.pending.spans())
            .finish()
    }
}

impl InFlight {
    /// At most `limit` (at least 1) requests of the exporter `name` in flight.
    pub(crate) fn new(name: &'static str, limit: usize) -> InFlight {
        InFlight { name, limit: limit.max(1), io: None, io_failed: false, pending: Held::default() }
    }

    /// The runtime the requests run on, started on first use; `None` when each export waits for
    /// its answer (a limit of 1, or no thread could be started). An exporter builds its client
    /// inside this runtime (`Handle::enter`), so the client's connection tasks run there too.
    pub(crate) fn runtime(&mut self) -> Option<Handle> {
        if self.limit == 1 || self.io_failed {
            return None;
        }
        if self.io.is_none() {
            match IoThread::start(self.name) {
                Ok(io) => self.io = Some(io),
                Err(e) => {
                    self.io_failed = true;
                    crate::diag::log_error(format_args!(
                        "{}: cannot start the I/O thread ({e}); each export now waits for its answer",
                        self.name
                    ));
                    return None;
                }
            }
        }
        self.io.as_ref().map(|io| io.handle.clone())
    }

    /// Sends `batch` through `request`: in flight, when a runtime is running (waiting first for
    /// the oldest request if `limit` are in flight), or here, waiting for the answer.
    ///
    /// # Errors
    ///
    /// The request's own error, when it ran here.
    pub(crate) async fn send<F>(&mut self, batch: &Batch, request: F) -> Result<Delivery, ExportError>
    where
        F: Future<Output = Result<(), ExportError>> + Send + 'static,
    {
        let Some(rt) = self.runtime() else { return request.await.map(|()| Delivery::Delivered) };
        while self.pending.len() >= self.limit {
            self.settle_oldest().await;
        }
        // The caller is the batch worker, which may be parked until its next interval: the
        // result goes out first, then the worker is woken to settle the batch, so `stats()`
        // shows it exported (or dropped) at once. A task that panics or is cancelled drops its
        // sender, which settles the batch as dropped.
        let (tx, answer) = oneshot::channel();
        let caller = std::thread::current();
        rt.spawn(async move {
            let _ = tx.send(request.await);
            caller.unpark();
        });
        // The batch is kept (shared, not copied) to be given back should the request fail.
        self.pending.hold(answer, batch.clone());
        Ok(Delivery::Held)
    }

    /// Waits for every request in flight to finish.
    pub(crate) async fn finish_all(&mut self) {
        while !self.pending.is_empty() {
            self.settle_oldest().await;
        }
    }

    /// Waits for every request in flight, then stops the I/O thread.
    pub(crate) async fn shutdown(&mut self) {
        self.finish_all().await;
        self.io = None;
    }

    /// `Exporter::flush` of an exporter that sends through this: every answer is in.
    pub(crate) fn flush_all(&mut self) -> BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(async move {
            self.finish_all().await;
            Ok(())
        })
    }

    /// `Exporter::shutdown` of an exporter that sends through this: every answer is in, then
    /// the I/O thread stops.
    pub(crate) fn close(&mut self) -> BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(async move {
            self.shutdown().await;
            Ok(())
        })
    }

    /// What became of the batches in flight that finished since the last call, oldest first;
    /// stops at the oldest one still in flight.
    pub(crate) fn take_settled(&mut self) -> Vec<Settled> {
        while let Some(answer) = self.pending.front_mut() {
            match answer.try_recv() {
                Ok(result) => self.record(Some(result)),
                Err(oneshot::error::TryRecvError::Empty) => break,
                Err(oneshot::error::TryRecvError::Closed) => self.record(None),
            }
        }
        self.pending.take_settled()
    }

    /// Waits for the oldest request. It leaves the queue only once finished, so a wait that is
    /// cancelled (the worker's own export timeout) loses nothing.
    async fn settle_oldest(&mut self) {
        let Some(answer) = self.pending.front_mut() else { return };
        let result = answer.await.ok();
        self.record(result);
    }

    /// Settles the oldest request with its result, `None` when its task ended without one.
    fn record(&mut self, result: Option<Result<(), ExportError>>) {
        let error = match result {
            Some(Ok(())) => {
                self.pending.settle_front(true);
                return;
            }
            Some(Err(e)) => e.to_string(),
            None => format!("{}: the request ended without an answer (it panicked or was cancelled)", self.name),
        };
        if let Some(spans) = self.pending.settle_front(false) {
            crate::diag::log_error(format_args!("export of {spans} spans failed: {error}"));
        }
    }
}

/// A current-thread runtime on a thread of its own, running until dropped.
#[derive(Debug)]
struct IoThread {
    handle: Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl IoThread {
    fn start(name: &'static str) -> std::io::Result<IoThread> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let handle = rt.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name(format!("tracewell-{name}")).spawn(move || {
            rt.block_on(async {
                let _ = stopped.await;
            });
            // Dropping the runtime cancels what is still running.
        })?;
        Ok(IoThread { handle, stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for IoThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::export::held::fates;

    fn spans(n: usize) -> Batch {
        let spans: Vec<_> =
            (0..n).map(|i| crate::SpanData { name: format!("s{i}").into(), ..Default::default() }).collect();
        Batch::from_spans(&spans)
    }

    fn failure() -> ExportError {
        ExportError::Unavailable { exporter: "test", message: "down".into() }
    }

    /// A request finished by the test: `Ok` or a failure, when the sender says so.
    fn gated() -> (tokio::sync::oneshot::Sender<bool>, impl Future<Output = Result<(), ExportError>> + Send + 'static) {
        let (tx, rx) = tokio::sync::oneshot::channel::<bool>();
        (tx, async move { if rx.await.unwrap_or(false) { Ok(()) } else { Err(failure()) } })
    }

    fn wait_settled(f: &mut InFlight, n: usize) -> Vec<Settled> {
        let mut out = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while out.len() < n && std::time::Instant::now() < deadline {
            out.extend(f.take_settled());
            std::thread::sleep(Duration::from_millis(2));
        }
        out
    }

    #[test]
    fn settles_in_the_order_held_whatever_order_answers_come_in() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut f = InFlight::new("test", 4);
        let (a, ra) = gated();
        let (b, rb) = gated();
        let (c, rc) = gated();
        for (req, n) in [(ra, 1), (rb, 2), (rc, 3)] {
            assert_eq!(rt.block_on(f.send(&spans(n), req)).unwrap(), Delivery::Held);
        }
        // The newest answers first and fails; the oldest is still out: nothing settles.
        c.send(false).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(f.take_settled().is_empty());
        b.send(true).unwrap();
        a.send(true).unwrap();
        let settled = wait_settled(&mut f, 3);
        assert_eq!(fates(&settled), ["delivered", "delivered", "dropped 3"]);
        let Settled::Dropped(back) = &settled[2] else { unreachable!() };
        let names: Vec<String> = back.iter().map(|s| s.name().to_owned()).collect();
        assert_eq!(names, ["s0", "s1", "s2"]);
        assert!(f.take_settled().is_empty());
    }

    #[test]
    fn never_more_than_the_limit_in_flight() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut f = InFlight::new("test", 2);
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        for _ in 0..10 {
            let (running, most) = (running.clone(), most.clone());
            rt.block_on(f.send(&spans(1), async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(())
            }))
            .unwrap();
        }
        rt.block_on(f.finish_all());
        assert_eq!(fates(&f.take_settled()), ["delivered"; 10]);
        assert_eq!(most.load(Ordering::SeqCst), 2, "two ran together, never three");
    }

    #[test]
    fn a_cancelled_wait_loses_no_settlement() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut f = InFlight::new("test", 2);
        let (a, ra) = gated();
        let (b, rb) = gated();
        rt.block_on(f.send(&spans(1), ra)).unwrap();
        rt.block_on(f.send(&spans(1), rb)).unwrap();
        // A third export waits for the oldest; the worker's timeout cancels that wait.
        let (_c, rc) = gated();
        let waited =
            rt.block_on(async { tokio::time::timeout(Duration::from_millis(30), f.send(&spans(1), rc)).await });
        assert!(waited.is_err(), "the send waited for room");
        a.send(true).unwrap();
        b.send(false).unwrap();
        assert_eq!(fates(&wait_settled(&mut f, 2)), ["delivered", "dropped 1"]);
    }

    #[test]
    fn one_at_a_time_waits_for_the_answer_on_the_callers_runtime() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut f = InFlight::new("test", 1);
        assert!(f.runtime().is_none(), "no thread for one request at a time");
        assert!(rt.block_on(f.send(&spans(1), async { Err(failure()) })).is_err());
        assert_eq!(rt.block_on(f.send(&spans(1), async { Ok(()) })).unwrap(), Delivery::Delivered);
        assert!(f.take_settled().is_empty());
    }

    #[test]
    fn a_request_that_panics_settles_as_dropped() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut f = InFlight::new("test", 2);
        rt.block_on(f.send(&spans(3), async {
            if true {
                panic!("a bug in the request");
            }
            Ok(())
        }))
        .unwrap();
        rt.block_on(f.send(&spans(1), async { Ok(()) })).unwrap();
        rt.block_on(f.finish_all());
        assert_eq!(fates(&f.take_settled()), ["dropped 3", "delivered"]);
    }

    #[test]
    fn shutdown_stops_the_thread_after_the_last_answer() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut f = InFlight::new("test", 3);
        for _ in 0..3 {
            rt.block_on(f.send(&spans(2), async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok(())
            }))
            .unwrap();
        }
        rt.block_on(f.shutdown());
        assert_eq!(fates(&f.take_settled()), ["delivered"; 3]);
        assert!(f.io.is_none());
    }
}
