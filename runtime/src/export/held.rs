//! The ledger of the batches an exporter holds: returned [`Delivery::Held`](super::Delivery::Held)
//! for, and has not settled yet. One copy of the bookkeeping for every exporter that holds
//! (requests in flight, the Redis retry buffer, the `Fallback`'s reordering).
//!
//! Entries leave from the front only, so settlements come out oldest first, as the
//! [`Exporter::take_settled`](super::Exporter::take_settled) contract wants, and each entry is
//! settled exactly once. A dropped entry gives its [`Batch`] back in [`Settled::Dropped`]; the
//! batch owns its records (an `Arc`), so holding it costs no room in the span buffer.

use std::collections::VecDeque;

use super::Settled;
use crate::span::Batch;

/// Held batches, oldest first, each with the exporter's own payload `T` (an answer to wait for,
/// encoded lines to resend), and the settlements not yet taken.
#[derive(Debug)]
pub(crate) struct Held<T> {
    entries: VecDeque<(T, Batch)>,
    /// Spans in `entries`.
    spans: usize,
    settled: Vec<Settled>,
}

impl<T> Default for Held<T> {
    fn default() -> Self {
        Held { entries: VecDeque::new(), spans: 0, settled: Vec::new() }
    }
}

// Only the `Fallback` is always built; the exporters that leave the process use the rest.
#[cfg_attr(
    not(any(feature = "redis", feature = "otlp-grpc", feature = "otlp-http", feature = "zipkin")),
    allow(dead_code)
)]
impl<T> Held<T> {
    /// Holds `batch`, newest, with `payload`.
    pub(crate) fn hold(&mut self, payload: T, batch: Batch) {
        self.spans += batch.len();
        self.entries.push_back((payload, batch));
    }

    /// The payload of the oldest entry.
    pub(crate) fn front_mut(&mut self) -> Option<&mut T> {
        self.entries.front_mut().map(|(payload, _)| payload)
    }

    /// The payload of the entry `index` places from the oldest.
    pub(crate) fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        self.entries.get_mut(index).map(|(payload, _)| payload)
    }

    /// Settles the oldest entry as delivered or, with its batch, dropped; the number of its spans
    /// (`None` when nothing is held).
    pub(crate) fn settle_front(&mut self, delivered: bool) -> Option<usize> {
        let (_, batch) = self.entries.pop_front()?;
        let n = batch.len();
        self.spans -= n;
        self.settled.push(if delivered { Settled::Delivered } else { Settled::Dropped(batch) });
        Some(n)
    }

    /// Entries held.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Spans held, over every entry.
    pub(crate) fn spans(&self) -> usize {
        self.spans
    }

    /// The settlements since the last call, oldest first.
    pub(crate) fn take_settled(&mut self) -> Vec<Settled> {
        std::mem::take(&mut self.settled)
    }
}

/// How `settled` reads in a test: `delivered`, or `dropped <spans>`.
#[cfg(test)]
pub(crate) fn fates(settled: &[Settled]) -> Vec<String> {
    settled
        .iter()
        .map(|s| match s {
            Settled::Delivered => "delivered".to_owned(),
            Settled::Dropped(b) => format!("dropped {}", b.len()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(n: usize) -> Batch {
        let spans: Vec<_> =
            (0..n).map(|i| crate::SpanData { name: format!("s{n}-{i}").into(), ..Default::default() }).collect();
        Batch::from_spans(&spans)
    }

    #[test]
    fn settles_oldest_first_and_gives_dropped_spans_back() {
        let mut h = Held::default();
        h.hold('a', spans(1));
        h.hold('b', spans(2));
        h.hold('c', spans(3));
        assert_eq!((h.len(), h.spans()), (3, 6));
        assert_eq!(h.front_mut(), Some(&mut 'a'));
        assert_eq!(h.settle_front(true), Some(1));
        assert_eq!(h.settle_front(false), Some(2));
        assert_eq!((h.len(), h.spans()), (1, 3));
        let settled = h.take_settled();
        assert_eq!(fates(&settled), ["delivered", "dropped 2"]);
        let Settled::Dropped(back) = &settled[1] else { unreachable!() };
        assert_eq!(back.iter().map(|s| s.name().to_owned()).collect::<Vec<_>>(), ["s2-0", "s2-1"]);
        assert!(h.take_settled().is_empty(), "each settlement is taken once");
        assert_eq!(h.front_mut(), Some(&mut 'c'));
    }

    #[test]
    fn nothing_held_settles_nothing() {
        let mut h = Held::<()>::default();
        assert!(h.is_empty());
        assert_eq!(h.settle_front(false), None);
        assert!(h.take_settled().is_empty());
        assert_eq!(h.spans(), 0);
    }

    #[test]
    fn payloads_can_be_changed_in_place() {
        let mut h = Held::default();
        h.hold(None, spans(1));
        h.hold(None, spans(1));
        *h.get_mut(1).unwrap() = Some(true);
        assert_eq!(h.front_mut(), Some(&mut None));
        assert_eq!(h.get_mut(1), Some(&mut Some(true)));
        assert_eq!(h.get_mut(2), None);
    }
}
