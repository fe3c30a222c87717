//! The batch worker: takes records out of the chunks, gathers them into batches and hands the
//! batches to the exporters on its own current-thread tokio runtime.
//!
//! Its cost per span is a copy of the span's words (about 100 bytes) and finding where the
//! record ends; it never decodes a span. Exporters read the records in place.

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

use super::{Control, Counters, Shared};
use crate::diag::log_error;
use crate::export::{Delivery, ExportError, Exporter, Settled};
use crate::span::Batch;
use crate::span::record::{BatchBuilder, Buffers};

pub(super) fn run(shared: Arc<Shared>, mut exporters: Vec<Box<dyn Exporter>>, control: mpsc::Receiver<Control>) {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            log_error(format_args!("cannot start the export runtime ({e}); spans will be counted as failed"));
            return run_without_runtime(&shared, &control);
        }
    };
    let mut w = Worker {
        shared,
        pending: BatchBuilder::default(),
        spare: Vec::new(),
        held: exporters.iter().map(|_| VecDeque::new()).collect(),
    };
    let delay = w.shared.config.scheduled_delay;
    let mut deadline = Instant::now();
    loop {
        // Whole chunks whenever they wait; the chunks threads are still filling on the interval
        // or when the buffer is more than half full, so batches stay as large as the interval
        // and the load make them. Other wake-ups (an exporter's request in flight was answered)
        // only settle.
        let due = Instant::now() >= deadline;
        if due {
            deadline = Instant::now() + delay;
        }
        let pressed = w.shared.under_pressure();
        w.drain(&rt, &mut exporters, due || pressed);
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
            // Everything submitted before the request is in a chunk by now: take it all.
            w.drain(&rt, &mut exporters, true);
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
        // Sleep until the interval passes, a thread hands over enough chunks, or a control
        // message arrives. The flag is set before the last check so no wake-up is lost.
        w.shared.sleeping.store(true, Ordering::SeqCst);
        if w.shared.queued_chunks.load(Ordering::SeqCst) >= w.shared.wake_chunks {
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

/// Without a runtime nothing can be exported: spans are counted as failed as they arrive.
fn run_without_runtime(shared: &Shared, control: &mpsc::Receiver<Control>) {
    loop {
        let mut lost = BatchBuilder::default();
        while let Some(c) = shared.full.pop() {
            shared.queued_chunks.fetch_sub(1, Ordering::Relaxed);
            c.take(&mut lost);
            shared.budget.recycle(c);
        }
        for slot in shared.slots().iter() {
            if let Some(c) = slot.current.get() {
                c.take(&mut lost);
            }
        }
        let n = lost.spans() as u64;
        shared.counters.dropped_export_failed.fetch_add(n, Ordering::Relaxed);
        if let Some(spans) = &shared.spans_left {
            spans.fetch_add(n as i64, Ordering::Relaxed);
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

/// Exported batches whose memory the worker keeps for the next ones.
const SPARE_BATCHES: usize = 4;

struct Worker {
    shared: Arc<Shared>,
    /// Records taken but not exported yet (fewer than a batch, between intervals).
    pending: BatchBuilder,
    /// The memory of exported batches no exporter kept, to build the next ones in: written
    /// again while still in cache, and never grown again (a new batch's first writes were
    /// half of the worker's time).
    spare: Vec<Buffers>,
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
    /// Records that one holder delivered the batch or gave up on it.
    fn settle(&self, delivered: bool, counters: &Counters) {
        if self.counted.get() {
            return;
        }
        let to = if delivered {
            &counters.exported
        } else {
            self.holders.set(self.holders.get().saturating_sub(1));
            if self.holders.get() > 0 {
                return;
            }
            &counters.dropped_export_failed
        };
        self.counted.set(true);
        // Out of `held` and into its final counter; `stats()` reads the final counters first.
        to.fetch_add(self.spans, Ordering::Release);
        counters.held.fetch_sub(self.spans, Ordering::Release);
    }
}

impl Worker {
    /// Takes the records of every chunk handed over whole and, when `partial` (the interval is
    /// up, a flush or shutdown asks), of the chunks threads are still filling; exports them in
    /// batches of at most `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, the rest only when `partial`.
    fn drain(&mut self, rt: &tokio::runtime::Runtime, exporters: &mut [Box<dyn Exporter>], partial: bool) {
        let max = self.shared.config.max_export_batch_size.max(1);
        // Bounded by what was queued when we started, so busy threads cannot keep the worker
        // here forever.
        let mut left = self.shared.queued_chunks.load(Ordering::Acquire);
        while left > 0 {
            let Some(c) = self.shared.full.pop() else { break };
            left -= 1;
            self.shared.queued_chunks.fetch_sub(1, Ordering::Relaxed);
            c.take(&mut self.pending);
            self.shared.budget.recycle(c);
            while self.pending.spans() >= max {
                let batch = self.pending.take_front(max, self.spare.pop().unwrap_or_default());
                self.export(rt, exporters, batch);
            }
        }
        if !partial {
            return;
        }
        let slots: Vec<_> = self.shared.slots().iter().cloned().collect();
        for slot in slots {
            if let Some(c) = slot.current.get() {
                c.take(&mut self.pending);
            }
            while self.pending.spans() >= max {
                let batch = self.pending.take_front(max, self.spare.pop().unwrap_or_default());
                self.export(rt, exporters, batch);
            }
        }
        if self.pending.spans() > 0 {
            let spare = self.spare.pop().unwrap_or_default();
            let batch = std::mem::replace(&mut self.pending, BatchBuilder::reusing(spare)).finish();
            self.export(rt, exporters, batch);
        }
    }

    fn export(&mut self, rt: &tokio::runtime::Runtime, exporters: &mut [Box<dyn Exporter>], owned: Batch) {
        let n = owned.len() as u64;
        let timeout = self.shared.config.export_timeout;
        let counters = &self.shared.counters;
        let batch = &owned;
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
                Ok(Delivery::Held) => holders.push(i),
                Ok(Delivery::Delivered) => delivered = true,
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
        // These spans no longer take room under `OTEL_BSP_MAX_QUEUE_SIZE`.
        if let Some(spans) = &self.shared.spans_left {
            spans.fetch_add(n as i64, Ordering::Relaxed);
        }
        self.settle(exporters);
        if self.spare.len() < SPARE_BATCHES
            && let Some(buffers) = owned.into_buffers()
        {
            self.spare.push(buffers);
        }
    }

    /// Collects what the exporters report about batches they held.
    fn settle(&mut self, exporters: &mut [Box<dyn Exporter>]) {
        for (e, ledger) in exporters.iter_mut().zip(&mut self.held) {
            // A dropped batch's spans are the exporter's to hand on (a `Fallback` does); here
            // only the count matters.
            for how in e.take_settled() {
                match ledger.pop_front() {
                    Some(batch) => batch.settle(matches!(how, Settled::Delivered), &self.shared.counters),
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
                batch.settle(false, &self.shared.counters);
            }
        }
    }

    /// Lets go of threads that ended (their chunk handed over), keeping their totals.
    fn retire(&mut self) {
        let c = &self.shared.counters;
        let mut slots = self.shared.slots();
        slots.retain(|s| {
            // Held by this list only: the thread's local state has dropped its handle.
            let gone = Arc::strong_count(s) == 1 && !s.current.is_some();
            if gone {
                c.retired_submitted.fetch_add(s.submitted.load(Ordering::Acquire), Ordering::Release);
                c.retired_dropped.fetch_add(s.dropped.load(Ordering::Acquire), Ordering::Release);
            }
            !gone
        });
    }
}

/// Runs an exporter future with a time limit, turning panics into errors.
async fn call<T>(
    name: &'static str,
    timeout: std::time::Duration,
    fut: Pin<Box<dyn Future<Output = Result<T, ExportError>> + Send + '_>>,
) -> Result<T, ExportError> {
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
