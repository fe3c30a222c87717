//! Failover: a primary exporter and a fallback that receives what the primary could not deliver.

use std::collections::VecDeque;

use super::held::Held;
use super::{BoxFuture, Delivery, ExportError, Exporter, Settled};
use crate::span::Batch;

/// Sends every batch to `primary`; what it cannot deliver after its own retries (a failed
/// export, or a held batch it settles as [`Settled::Dropped`], evicted from its retry buffer)
/// goes to `fallback`, so a backend outage loses nothing that fits on disk.
///
/// The export succeeds when every span reached one of the two; it is held while either holds
/// the batch.
///
/// # Examples
///
/// ```
/// use tracewell::export::{Fallback, FileExporter, MemoryExporter};
/// # #[derive(Debug)] struct Down;
/// # impl tracewell::export::Exporter for Down {
/// #     fn name(&self) -> &'static str { "down" }
/// #     fn export<'a>(&'a mut self, _: &'a tracewell::span::Batch) -> tracewell::export::BoxFuture<'a, Result<tracewell::export::Delivery, tracewell::export::ExportError>> {
/// #         Box::pin(async { Err(tracewell::export::ExportError::Unavailable { exporter: "down", message: "no route".into() }) })
/// #     }
/// # }
/// let disk = MemoryExporter::new(10); // a FileExporter in real use
/// let _g = tracewell::builder().exporter(Fallback::new(Down, disk.clone())).install().unwrap();
/// tracewell::in_span("kept", || ());
/// tracewell::flush();
/// assert_eq!(disk.spans()[0].name, "kept");
/// ```
#[derive(Debug)]
pub struct Fallback<P, F> {
    primary: P,
    fallback: F,
    ledger: Ledger,
}

impl<P: Exporter, F: Exporter> Fallback<P, F> {
    /// Wraps `primary` so what it cannot deliver goes to `fallback`.
    pub fn new(primary: P, fallback: F) -> Self {
        Fallback { primary, fallback, ledger: Ledger::default() }
    }

    /// The primary exporter.
    pub fn primary(&self) -> &P {
        &self.primary
    }

    /// The fallback exporter.
    pub fn fallback(&self) -> &F {
        &self.fallback
    }

    /// Reads what the primary settled since the last call; what it gave up on waits to be sent
    /// to the fallback (an export, a flush or shutdown, which may wait for it).
    fn collect_primary(&mut self) {
        for how in self.primary.take_settled() {
            let Some(id) = self.ledger.primary.pop_front() else { continue };
            match how {
                Settled::Delivered => self.ledger.resolve(id, true),
                Settled::Dropped(batch) => self.ledger.rescue.push((id, batch)),
            }
        }
    }

    /// Sends what the primary gave up on to the fallback, oldest first.
    async fn rescue(&mut self) {
        self.collect_primary();
        for (id, batch) in std::mem::take(&mut self.ledger.rescue) {
            if batch.is_empty() {
                // The primary gave nothing back to send on.
                self.ledger.resolve(id, false);
                continue;
            }
            match self.fallback.export(&batch).await {
                Ok(Delivery::Delivered) => self.ledger.resolve(id, true),
                Ok(Delivery::Held) => self.ledger.fallback.push_back(id),
                Err(_) => self.ledger.resolve(id, false),
            }
        }
    }

    fn collect_fallback(&mut self) {
        for how in self.fallback.take_settled() {
            if let Some(id) = self.ledger.fallback.pop_front() {
                self.ledger.resolve(id, matches!(how, Settled::Delivered));
            }
        }
    }
}

/// Batches this wrapper reported as held, and who holds each: the primary (its retry buffer) or
/// the fallback. Settlements come back from both in their own order; they are reported in the
/// order the batches were held.
#[derive(Debug, Default)]
struct Ledger {
    /// The held batches, oldest first, each with its fate once known (`Some(true)`: delivered).
    held: Held<Option<bool>>,
    /// The id of the oldest batch in `held`; ids count held batches from 0.
    base: u64,
    /// Ids the primary holds, oldest first.
    primary: VecDeque<u64>,
    /// Ids the fallback holds, oldest first.
    fallback: VecDeque<u64>,
    /// Batches the primary gave up on, with their ids, to be sent to the fallback.
    rescue: Vec<(u64, Batch)>,
}

impl Ledger {
    fn hold(&mut self, batch: &Batch) -> u64 {
        self.held.hold(None, batch.clone());
        self.base + self.held.len() as u64 - 1
    }

    fn resolve(&mut self, id: u64, delivered: bool) {
        if let Some(fate) = id.checked_sub(self.base).and_then(|i| self.held.get_mut(i as usize)) {
            fate.get_or_insert(delivered);
        }
    }

    /// Settles the oldest batches whose fate is known, up to the first that is not.
    fn take_settled(&mut self) -> Vec<Settled> {
        while let Some(&mut Some(delivered)) = self.held.front_mut() {
            self.held.settle_front(delivered);
            self.base += 1;
        }
        self.held.take_settled()
    }

    /// At shutdown: whatever is still unknown is lost.
    fn abandon(&mut self) {
        self.primary.clear();
        self.fallback.clear();
        self.rescue.clear();
        for i in 0..self.held.len() {
            if let Some(fate) = self.held.get_mut(i) {
                fate.get_or_insert(false);
            }
        }
    }
}

impl<P: Exporter, F: Exporter> Exporter for Fallback<P, F> {
    fn name(&self) -> &'static str {
        self.primary.name()
    }

    fn export<'a>(&'a mut self, batch: &'a Batch) -> BoxFuture<'a, Result<Delivery, ExportError>> {
        Box::pin(async move {
            // Entered in the ledger before anything is collected, in case its settlement
            // comes at once.
            let primary = match self.primary.export(batch).await {
                Ok(Delivery::Held) => {
                    let id = self.ledger.hold(batch);
                    self.ledger.primary.push_back(id);
                    Ok(Delivery::Held)
                }
                other => other,
            };
            // Older batches the primary gave up on reach the fallback before this one.
            self.rescue().await;
            let result = match primary {
                Err(e) => {
                    crate::diag::log_error(format_args!("{e}; sending {} spans to the fallback", batch.len()));
                    match self.fallback.export(batch).await {
                        Ok(Delivery::Held) => {
                            let id = self.ledger.hold(batch);
                            self.ledger.fallback.push_back(id);
                            Ok(Delivery::Held)
                        }
                        Ok(Delivery::Delivered) => Ok(Delivery::Delivered),
                        Err(_) => Err(e),
                    }
                }
                done => done,
            };
            self.collect_fallback();
            result
        })
    }

    fn take_settled(&mut self) -> Vec<Settled> {
        self.collect_primary();
        self.collect_fallback();
        self.ledger.take_settled()
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(async move {
            let p = self.primary.flush().await;
            self.rescue().await;
            let f = self.fallback.flush().await;
            self.collect_fallback();
            p.and(f)
        })
    }

    fn shutdown(&mut self) -> BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(async move {
            let p = self.primary.shutdown().await;
            self.rescue().await;
            let f = self.fallback.shutdown().await;
            self.collect_fallback();
            self.ledger.abandon();
            p.and(f)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::held::fates;

    /// An exporter that answers each export as scripted (`ok`, `held`) and settles when told.
    #[derive(Debug, Default)]
    struct Scripted {
        answers: VecDeque<(bool, bool)>,
        settle: Vec<Settled>,
        got: usize,
    }

    impl Exporter for Scripted {
        fn name(&self) -> &'static str {
            "scripted"
        }
        fn export<'a>(&'a mut self, batch: &'a Batch) -> BoxFuture<'a, Result<Delivery, ExportError>> {
            let (ok, held) = self.answers.pop_front().unwrap_or((true, false));
            self.got += batch.len();
            Box::pin(async move {
                match (ok, held) {
                    (true, true) => Ok(Delivery::Held),
                    (true, false) => Ok(Delivery::Delivered),
                    (false, _) => Err(ExportError::Unavailable { exporter: "scripted", message: "down".into() }),
                }
            })
        }
        fn take_settled(&mut self) -> Vec<Settled> {
            std::mem::take(&mut self.settle)
        }
    }

    fn run<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    #[test]
    fn what_the_primary_evicts_is_settled_by_the_fallback_in_order() {
        let primary = Scripted { answers: [(true, true), (false, false), (true, true)].into(), ..Default::default() };
        let mut f = Fallback::new(primary, Scripted::default());
        let batch = Batch::from_spans(&vec![crate::SpanData::default(); 3]);
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(run(f.export(&batch)).unwrap() == Delivery::Held);
        }
        assert_eq!(held, [true, false, true], "the failed batch went to the fallback, which delivered it");
        assert_eq!(f.fallback.got, 3);
        f.primary.settle = vec![Settled::Dropped(batch.clone()), Settled::Delivered];
        run(f.flush()).unwrap();
        assert_eq!(f.fallback.got, 6, "the evicted batch went to the fallback");
        assert_eq!(fates(&f.take_settled()), ["delivered", "delivered"]);
    }

    #[test]
    fn settlements_wait_for_older_batches_the_fallback_holds() {
        let primary = Scripted { answers: [(false, false), (true, true)].into(), ..Default::default() };
        let fallback = Scripted { answers: [(true, true)].into(), ..Default::default() };
        let mut f = Fallback::new(primary, fallback);
        let batch = Batch::from_spans(&vec![crate::SpanData::default(); 2]);
        assert_eq!(run(f.export(&batch)).unwrap(), Delivery::Held, "the fallback holds the first batch");
        assert_eq!(run(f.export(&batch)).unwrap(), Delivery::Held, "the primary holds the second");
        f.primary.settle = vec![Settled::Delivered];
        assert!(f.take_settled().is_empty(), "the older batch is not settled yet");
        f.fallback.settle = vec![Settled::Dropped(batch.clone())];
        assert_eq!(fates(&f.take_settled()), ["dropped 2", "delivered"]);
        assert!(f.take_settled().is_empty());
    }

    #[test]
    fn shutdown_settles_everything_still_held() {
        let primary = Scripted { answers: [(true, true), (true, true)].into(), ..Default::default() };
        let mut f = Fallback::new(primary, Scripted::default());
        let batch = Batch::from_spans(&[crate::SpanData::default()]);
        run(f.export(&batch)).unwrap();
        run(f.export(&batch)).unwrap();
        run(f.shutdown()).unwrap();
        assert_eq!(fates(&f.take_settled()), ["dropped 1", "dropped 1"]);
    }
}
