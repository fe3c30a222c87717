//! Failover: a primary exporter and a fallback that receives what the primary could not deliver.

use std::collections::VecDeque;

use super::{BoxFuture, ExportError, Exporter, Settlement};
use crate::span::Batch;

/// Sends every batch to `primary`; what it cannot deliver after its own retries (a failed
/// export, or spans it evicted from its retry buffer, see [`Exporter::take_undelivered`]) goes
/// to `fallback`, so a backend outage loses nothing that fits on disk.
///
/// The export succeeds when every span reached one of the two.
///
/// # Examples
///
/// ```
/// use tracewell::export::{Fallback, FileExporter, MemoryExporter};
/// # #[derive(Debug)] struct Down;
/// # impl tracewell::export::Exporter for Down {
/// #     fn name(&self) -> &'static str { "down" }
/// #     fn export<'a>(&'a mut self, _: &'a tracewell::span::Batch) -> tracewell::export::BoxFuture<'a, Result<(), tracewell::export::ExportError>> {
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
    pub fn new(mut primary: P, fallback: F) -> Self {
        primary.keep_undelivered();
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

    /// Reads what the primary settled since the last call.
    fn collect_primary(&mut self) {
        for how in self.primary.take_settled() {
            match (how, self.ledger.primary.pop_front()) {
                (Settlement::Delivered, Some(id)) => self.ledger.resolve(id, Settlement::Delivered),
                (Settlement::Dropped, Some(id)) => self.ledger.rescue.push(id),
                (_, None) => {}
            }
        }
    }

    /// Sends what the primary gave up on to the fallback.
    async fn rescue(&mut self) {
        self.collect_primary();
        let ids = std::mem::take(&mut self.ledger.rescue);
        let evicted = Batch::concat(&self.primary.take_undelivered());
        if evicted.is_empty() {
            for id in ids {
                self.ledger.resolve(id, Settlement::Dropped);
            }
            return;
        }
        let sent = self.fallback.export(&evicted).await;
        self.ledger.after_fallback(sent.is_ok(), self.fallback.last_export_held(), ids);
    }

    fn collect_fallback(&mut self) {
        for how in self.fallback.take_settled() {
            if let Some(ids) = self.ledger.fallback.pop_front() {
                for id in ids {
                    self.ledger.resolve(id, how);
                }
            }
        }
    }
}

/// Batches this wrapper reported as held, and who holds each: the primary (its retry buffer) or
/// the fallback. Settlements come back from both in their own order; they are reported on in the
/// order the batches were held.
#[derive(Debug, Default)]
struct Ledger {
    /// Fates of held batches `base..`, `None` while unknown.
    fates: VecDeque<Option<Settlement>>,
    base: u64,
    /// Ids the primary holds, oldest first.
    primary: VecDeque<u64>,
    /// For each batch the fallback holds, oldest first, the ids it stands for.
    fallback: VecDeque<Vec<u64>>,
    /// Ids the primary gave up on, to be sent to the fallback at the next export or flush.
    rescue: Vec<u64>,
    last_held: bool,
}

impl Ledger {
    fn hold(&mut self) -> u64 {
        self.fates.push_back(None);
        self.last_held = true;
        self.base + self.fates.len() as u64 - 1
    }

    fn resolve(&mut self, id: u64, how: Settlement) {
        if let Some(slot) = id.checked_sub(self.base).and_then(|i| self.fates.get_mut(i as usize)) {
            slot.get_or_insert(how);
        }
    }

    /// Records how a fallback export standing in for `ids` went.
    fn after_fallback(&mut self, ok: bool, held: bool, ids: Vec<u64>) {
        match (ok, held) {
            (true, true) => self.fallback.push_back(ids),
            (true, false) => ids.into_iter().for_each(|id| self.resolve(id, Settlement::Delivered)),
            (false, _) => ids.into_iter().for_each(|id| self.resolve(id, Settlement::Dropped)),
        }
    }

    fn take_settled(&mut self) -> Vec<Settlement> {
        let mut out = Vec::new();
        while let Some(Some(how)) = self.fates.front() {
            out.push(*how);
            self.fates.pop_front();
            self.base += 1;
        }
        out
    }

    /// At shutdown: whatever is still unknown is lost.
    fn abandon(&mut self) {
        self.primary.clear();
        self.fallback.clear();
        self.rescue.clear();
        for slot in &mut self.fates {
            slot.get_or_insert(Settlement::Dropped);
        }
    }
}

impl<P: Exporter, F: Exporter> Exporter for Fallback<P, F> {
    fn name(&self) -> &'static str {
        self.primary.name()
    }

    fn export<'a>(&'a mut self, batch: &'a Batch) -> BoxFuture<'a, Result<(), ExportError>> {
        Box::pin(async move {
            self.ledger.last_held = false;
            let primary = self.primary.export(batch).await;
            let primary_held = primary.is_ok() && self.primary.last_export_held();
            self.rescue().await;
            let mut result = Ok(());
            match primary {
                Ok(()) if primary_held => {
                    let id = self.ledger.hold();
                    self.ledger.primary.push_back(id);
                }
                Ok(()) => {}
                Err(e) => {
                    crate::diag::log_error(format_args!("{e}; sending {} spans to the fallback", batch.len()));
                    match self.fallback.export(batch).await {
                        Ok(()) if self.fallback.last_export_held() => {
                            let id = self.ledger.hold();
                            self.ledger.fallback.push_back(vec![id]);
                        }
                        Ok(()) => {}
                        Err(_) => result = Err(e),
                    }
                }
            }
            self.collect_fallback();
            result
        })
    }

    fn last_export_held(&self) -> bool {
        self.ledger.last_held
    }

    fn take_settled(&mut self) -> Vec<Settlement> {
        self.collect_primary();
        self.collect_fallback();
        self.ledger.take_settled()
    }

    fn take_undelivered(&mut self) -> Vec<Batch> {
        self.fallback.take_undelivered()
    }

    fn keep_undelivered(&mut self) {
        self.fallback.keep_undelivered();
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

    /// An exporter that answers each export as scripted and settles or evicts when told.
    #[derive(Debug, Default)]
    struct Scripted {
        answers: VecDeque<(bool, bool)>,
        last_held: bool,
        settle: Vec<Settlement>,
        evicted: Vec<Batch>,
        got: usize,
    }

    impl Exporter for Scripted {
        fn name(&self) -> &'static str {
            "scripted"
        }
        fn export<'a>(&'a mut self, batch: &'a Batch) -> BoxFuture<'a, Result<(), ExportError>> {
            let (ok, held) = self.answers.pop_front().unwrap_or((true, false));
            self.last_held = held;
            self.got += batch.len();
            Box::pin(async move {
                if ok { Ok(()) } else { Err(ExportError::Unavailable { exporter: "scripted", message: "down".into() }) }
            })
        }
        fn last_export_held(&self) -> bool {
            self.last_held
        }
        fn take_settled(&mut self) -> Vec<Settlement> {
            std::mem::take(&mut self.settle)
        }
        fn take_undelivered(&mut self) -> Vec<Batch> {
            std::mem::take(&mut self.evicted)
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
            run(f.export(&batch)).unwrap();
            held.push(f.last_export_held());
        }
        assert_eq!(held, [true, false, true], "the failed batch went to the fallback, which delivered it");
        assert_eq!(f.fallback.got, 3);
        f.primary.settle = vec![Settlement::Dropped, Settlement::Delivered];
        f.primary.evicted = vec![batch.clone()];
        run(f.flush()).unwrap();
        assert_eq!(f.fallback.got, 6, "the evicted batch went to the fallback");
        assert_eq!(f.take_settled(), [Settlement::Delivered, Settlement::Delivered]);
    }

    #[test]
    fn settlements_wait_for_older_batches_the_fallback_holds() {
        let primary = Scripted { answers: [(false, false), (true, true)].into(), ..Default::default() };
        let fallback = Scripted { answers: [(true, true)].into(), ..Default::default() };
        let mut f = Fallback::new(primary, fallback);
        let batch = Batch::from_spans(&vec![crate::SpanData::default(); 2]);
        run(f.export(&batch)).unwrap();
        assert!(f.last_export_held(), "the fallback holds the first batch");
        run(f.export(&batch)).unwrap();
        assert!(f.last_export_held(), "the primary holds the second");
        f.primary.settle = vec![Settlement::Delivered];
        assert_eq!(f.take_settled(), [], "the older batch is not settled yet");
        f.fallback.settle = vec![Settlement::Dropped];
        assert_eq!(f.take_settled(), [Settlement::Dropped, Settlement::Delivered]);
        assert_eq!(f.take_settled(), []);
    }

    #[test]
    fn shutdown_settles_everything_still_held() {
        let primary = Scripted { answers: [(true, true), (true, true)].into(), ..Default::default() };
        let mut f = Fallback::new(primary, Scripted::default());
        let batch = Batch::from_spans(&[crate::SpanData::default()]);
        run(f.export(&batch)).unwrap();
        run(f.export(&batch)).unwrap();
        run(f.shutdown()).unwrap();
        assert_eq!(f.take_settled(), [Settlement::Dropped, Settlement::Dropped]);
    }
}
