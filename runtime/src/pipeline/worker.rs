//! The batch worker: drains every thread's ring, converts clock readings to Unix time, and hands
//! batches to the exporters on its own current-thread tokio runtime.

use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::task::{Context, Poll};
use std::time::Instant;

use super::{Control, Counters, Ring, Shared, clock, log_error};
use crate::export::{ExportError, Exporter, Settlement};
use crate::span::SpanData;

pub(super) fn run(shared: Arc<Shared>, mut exporters: Vec<Box<dyn Exporter>>, control: mpsc::Receiver<Control>) {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            log_error(format_args!("cannot start the export runtime ({e}); spans will be counted as failed"));
            return run_without_runtime(shared, control);
        }
    };
    let mut w = Worker {
        shared,
        rings: Vec::new(),
        batch: Vec::new(),
        held: exporters.iter().map(|_| VecDeque::new()).collect(),
    };
    let delay = w.shared.config.scheduled_delay;
    let mut deadline = Instant::now();
    loop {
        // Drain when the interval is up or a queue is half full. Other wake-ups (an exporter's
        // request in flight was answered) only settle, so batches stay as large as the interval
        // and the queues make them.
        if Instant::now() >= deadline || w.queue_high() {
            deadline = Instant::now() + delay;
            w.drain(&rt, &mut exporters);
        }
        w.settle(&mut exporters);
        let mut stop = None;
        let mut flushes = Vec::new();
        while let Ok(msg) = control.try_recv() {
            match msg {
                Control::Flush(reply) => flushes.push(reply),
                Control::Shutdown(reply) => stop = Some(reply),
            }
        }
        if !flushes.is_empty() || stop.is_some() {
            // Everything submitted before the request is in a ring by now: drain it all.
            w.drain(&rt, &mut exporters);
            let timeout = w.shared.config.export_timeout;
            let flushed = rt.block_on(futures_util::future::join_all(
                exporters.iter_mut().map(|e| call(e.name(), timeout, e.flush())),
            ));
            for err in flushed.into_iter().filter_map(Result::err) {
                w.shared.counters.export_errors.fetch_add(1, Ordering::Relaxed);
                log_error(format_args!("flush failed: {err}"));
            }
            w.settle(&mut exporters);
            for reply in flushes {
                let _ = reply.send(());
            }
        }
        if let Some(reply) = stop {
            for e in exporters.iter_mut() {
                let name = e.name();
                if let Err(err) = rt.block_on(call(name, w.shared.config.export_timeout, e.shutdown())) {
                    log_error(format_args!("shutdown failed: {err}"));
                }
            }
            w.settle(&mut exporters);
            w.abandon_held();
            let _ = reply.send(());
            return;
        }
        w.retire();
        // Sleep until the interval passes, a producer crosses the high-water mark, or a control
        // message arrives. The flag is set before the last emptiness check so no wake-up is lost.
        w.shared.sleeping.store(true, Ordering::SeqCst);
        if w.queue_high() {
            w.shared.sleeping.store(false, Ordering::SeqCst);
            continue;
        }
        let now = Instant::now();
        if deadline > now {
            std::thread::park_timeout(deadline - now);
        }
        w.shared.sleeping.store(false, Ordering::SeqCst);
    }
}

fn run_without_runtime(shared: Arc<Shared>, control: mpsc::Receiver<Control>) {
    let mut rings: Vec<Arc<Ring>> = Vec::new();
    loop {
        while let Some(r) = shared.new_rings.pop() {
            rings.push(r);
        }
        for r in &rings {
            while r.queue.pop().is_some() {
                shared.counters.dropped_export_failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        match control.recv_timeout(shared.config.scheduled_delay) {
            Ok(Control::Flush(reply)) => {
                let _ = reply.send(());
            }
            Ok(Control::Shutdown(reply)) => {
                let _ = reply.send(());
                return;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

struct Worker {
    shared: Arc<Shared>,
    rings: Vec<Arc<Ring>>,
    batch: Vec<SpanData>,
    /// Per exporter (same index), the batches it held and has not settled yet, oldest first.
    held: Vec<VecDeque<Rc<HeldBatch>>>,
}

/// A batch that no exporter delivered at once but at least one holds for a later attempt.
/// Shared by the ledgers of every exporter that holds it; counted once, when the first holder
/// delivers it (exported) or the last one gives up (dropped).
struct HeldBatch {
    spans: u64,
    holders: Cell<u32>,
    counted: Cell<bool>,
}

impl HeldBatch {
    fn settle(&self, how: Settlement, counters: &Counters) {
        if self.counted.get() {
            return;
        }
        let to = match how {
            Settlement::Delivered => &counters.exported,
            Settlement::Dropped => {
                self.holders.set(self.holders.get().saturating_sub(1));
                if self.holders.get() > 0 {
                    return;
                }
                &counters.dropped_export_failed
            }
        };
        self.counted.set(true);
        // Out of `held` and into its final counter; `stats()` reads the final counters first.
        to.fetch_add(self.spans, Ordering::Release);
        counters.held.fetch_sub(self.spans, Ordering::Release);
    }
}

impl Worker {
    /// Whether a queue is at least half full, or a new thread's queue waits to be adopted.
    fn queue_high(&self) -> bool {
        self.rings.iter().any(|r| r.queue.len() >= self.shared.high_water) || !self.shared.new_rings.is_empty()
    }

    fn adopt(&mut self) {
        while let Some(r) = self.shared.new_rings.pop() {
            if let Ok(mut all) = self.shared.rings.lock() {
                all.push(r.clone());
            }
            self.rings.push(r);
        }
    }

    /// Takes every span now in the rings and exports it in batches.
    fn drain(&mut self, rt: &tokio::runtime::Runtime, exporters: &mut [Box<dyn Exporter>]) {
        self.adopt();
        let max = self.shared.config.max_export_batch_size;
        let rings = std::mem::take(&mut self.rings);
        for ring in &rings {
            // Bounded by what the ring held when we started, so a busy producer cannot keep the
            // worker here forever.
            let mut left = ring.queue.len();
            while left > 0 {
                let Some(mut rec) = ring.queue.pop() else { break };
                left -= 1;
                let mut data = std::mem::take(&mut rec.data);
                data.start_time_unix_nano = clock::unix_nanos(rec.start);
                data.end_time_unix_nano = clock::unix_nanos(rec.end);
                // Back to its thread for reuse; if that queue is full the box is freed here.
                let _ = ring.free.push(rec);
                self.batch.push(data);
                if self.batch.len() >= max {
                    self.export(rt, exporters);
                }
            }
        }
        self.rings = rings;
        if !self.batch.is_empty() {
            self.export(rt, exporters);
        }
    }

    fn export(&mut self, rt: &tokio::runtime::Runtime, exporters: &mut [Box<dyn Exporter>]) {
        let n = self.batch.len() as u64;
        let timeout = self.shared.config.export_timeout;
        let counters = &self.shared.counters;
        let batch = &self.batch;
        // Exporters run concurrently on the batch, so a slow one delays the others by nothing.
        let results = rt.block_on(async {
            let calls = exporters.iter_mut().map(|e| {
                let name = e.name();
                counters.export_batches.fetch_add(1, Ordering::Relaxed);
                // Build the future inside the guard too: a panic may come from `export` itself.
                let fut = std::panic::catch_unwind(AssertUnwindSafe(move || {
                    let e = e;
                    e.export(batch)
                }));
                async move {
                    match fut {
                        Ok(fut) => call(name, timeout, fut).await,
                        Err(p) => Err(ExportError::Panicked { exporter: name, message: panic_text(&p) }),
                    }
                }
            });
            futures_util::future::join_all(calls).await
        });
        let mut delivered = results.is_empty();
        let mut holders = Vec::new();
        for (i, res) in results.into_iter().enumerate() {
            match res {
                Ok(()) if exporters[i].last_export_held() => holders.push(i),
                Ok(()) => delivered = true,
                Err(err) => {
                    counters.export_errors.fetch_add(1, Ordering::Relaxed);
                    log_error(format_args!("export of {n} spans failed: {err}"));
                }
            }
        }
        if !holders.is_empty() {
            // Every holder settles this batch later, so it enters each holder's ledger even when
            // another exporter already delivered it: the ledgers must line up with the settlements.
            let held = Rc::new(HeldBatch {
                spans: n,
                holders: Cell::new(holders.len() as u32),
                counted: Cell::new(delivered),
            });
            for &i in &holders {
                self.held[i].push_back(held.clone());
            }
        }
        if delivered {
            counters.exported.fetch_add(n, Ordering::Release);
        } else if !holders.is_empty() {
            counters.held.fetch_add(n, Ordering::Release);
        } else {
            counters.dropped_export_failed.fetch_add(n, Ordering::Release);
        }
        self.batch.clear();
        self.settle(exporters);
    }

    /// Collects what the exporters report about batches they held.
    fn settle(&mut self, exporters: &mut [Box<dyn Exporter>]) {
        for (e, ledger) in exporters.iter_mut().zip(&mut self.held) {
            for how in e.take_settled() {
                match ledger.pop_front() {
                    Some(batch) => batch.settle(how, &self.shared.counters),
                    None => log_error(format_args!(
                        "exporter {} settled a batch it never held; ignored (see Exporter::take_settled)",
                        e.name()
                    )),
                }
            }
        }
    }

    /// At shutdown, after the exporters' own `shutdown`: what an exporter still holds without
    /// having settled it will never be delivered.
    fn abandon_held(&mut self) {
        for ledger in &mut self.held {
            for batch in ledger.drain(..) {
                batch.holders.set(1);
                batch.settle(Settlement::Dropped, &self.shared.counters);
            }
        }
    }

    /// Lets go of rings whose thread ended and which are empty, keeping their totals.
    fn retire(&mut self) {
        let c = &self.shared.counters;
        let mut gone = Vec::new();
        self.rings.retain(|r| {
            // Held by this list and `shared.rings` only: the thread's TLS has dropped its handle.
            let dead = Arc::strong_count(r) <= 2 && r.queue.is_empty();
            if dead {
                gone.push(r.clone());
            }
            !dead
        });
        if gone.is_empty() {
            return;
        }
        if let Ok(mut all) = self.shared.rings.lock() {
            all.retain(|r| !gone.iter().any(|g| Arc::ptr_eq(g, r)));
            for g in &gone {
                c.retired_submitted.fetch_add(g.submitted.load(Ordering::Acquire), Ordering::Release);
                c.retired_dropped.fetch_add(g.dropped.load(Ordering::Acquire), Ordering::Release);
            }
        }
    }
}

/// Runs an exporter future with a time limit, turning panics into errors.
async fn call(
    name: &'static str,
    timeout: std::time::Duration,
    fut: Pin<Box<dyn Future<Output = Result<(), ExportError>> + Send + '_>>,
) -> Result<(), ExportError> {
    match tokio::time::timeout(timeout, CatchUnwind(fut)).await {
        Ok(Ok(r)) => r,
        Ok(Err(message)) => Err(ExportError::Panicked { exporter: name, message }),
        Err(_) => Err(ExportError::Timeout { exporter: name, millis: timeout.as_millis() as u64 }),
    }
}

/// Polls a future, catching a panic in any poll.
struct CatchUnwind<F>(F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(p) => Poll::Ready(Err(panic_text(&p))),
        }
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into())
}
