//! The compact span record: how a finished span is written once, on the thread that ends it,
//! and read in place by every exporter.
//!
//! A record is a run of 64-bit words. The first nine are fixed; the rest are sections, present
//! only when the span has something to put there, in this order:
//!
//! ```text
//!  word 0  | length in words (32) | sections (16) | kind (8) | status code (8) |
//!  1, 2    | trace id (low, high)                                              |
//!  3, 4    | span id, parent span id                                           |
//!  5, 6    | start, end (raw clock ticks, or Unix ns when the TICKS flag is 0) |
//!  7       | callsite number (32, 0 = none) | thread number (32)               |
//!  8       | flags (8) | trace flags (8) | input count (16)                    |
//!  sections: inputs | output | polls | items | time to first item | allocated bytes |
//!            peak bytes | names (no callsite) | status message | attributes | tags | events |
//!            tracestate
//! ```
//!
//! A span made by `#[traced]` names its function by callsite number (see
//! [`Callsite`](super::Callsite)), so its name, module path, kind, label, branch and argument names
//! are not copied; its inputs are then values only, in argument order. Values are tagged words:
//! null, booleans and integers that fit in 32 bits take one word, other numbers two, text a header
//! and its bytes packed eight to a word; lists and maps carry their length in words so a reader can
//! skip them. A `#[traced] fn add(a: u64, b: u64) -> u64` span is 12 words, 96 bytes, against about
//! 600 for a [`SpanData`].
//!
//! An open span keeps its captured values already encoded (see `open.rs`), so the calling thread
//! ends it by writing a header and copying words into its chunk (see `crate::pipeline`); the batch
//! worker copies finished records into a [`Batch`]; exporters read each record as a
//! [`SpanRef`] whose fields decode on demand, and [`SpanRef::to_data`] makes the owned form for
//! [`crate::collected`] and the score.

mod decode;
mod encode;
mod open;

use std::sync::Arc;

pub use decode::{EventRef, EventsRef, InputsRef, ListRef, MapRef, Pairs, SpanRef, ValueRef};
pub(crate) use open::Recording;

use super::SpanData;
use super::site::{Sites, sites};

/// Words before the sections.
pub(crate) const HEADER_WORDS: usize = 9;

// Sections (bits of word 0).
const S_NAMES: u16 = 1 << 0;
const S_INPUTS: u16 = 1 << 1;
const S_OUTPUT: u16 = 1 << 2;
const S_STATUS_MSG: u16 = 1 << 3;
const S_POLLS: u16 = 1 << 4;
const S_ITEMS: u16 = 1 << 5;
const S_FIRST_ITEM: u16 = 1 << 6;
const S_ALLOC_BYTES: u16 = 1 << 7;
const S_ALLOC_PEAK: u16 = 1 << 8;
const S_ATTRS: u16 = 1 << 9;
const S_TAGS: u16 = 1 << 10;
const S_EVENTS: u16 = 1 << 11;
const S_STATE: u16 = 1 << 12;

// Flags (word 8).
/// Times, busy time and time to first item are raw ticks (converted when read).
const TICKS: u8 = 1 << 0;
const REMOTE_PARENT: u8 = 1 << 1;
/// Inputs are values only, named by the callsite's argument names in order.
const IMPLICIT_KEYS: u8 = 1 << 2;

// Value tags (low byte of a value's first word).
const T_NULL: u64 = 0;
const T_FALSE: u64 = 1;
const T_TRUE: u64 = 2;
const T_U64_SMALL: u64 = 3;
const T_U64: u64 = 4;
const T_I64_SMALL: u64 = 5;
const T_I64: u64 = 6;
const T_F64: u64 = 7;
const T_STR: u64 = 8;
const T_BYTES: u64 = 9;
const T_OPAQUE: u64 = 10;
const T_LIST: u64 = 11;
const T_MAP: u64 = 12;

/// Finished spans as compact records, as exporters receive them. Cheap to clone (the records are
/// shared), so an exporter may keep a batch for a retry without copying it.
///
/// # Examples
///
/// ```
/// use tracewell::{SpanData, span::Batch};
/// let spans = vec![SpanData { name: "a".into(), ..Default::default() }, SpanData { name: "b".into(), ..Default::default() }];
/// let batch = Batch::from_spans(&spans);
/// assert_eq!(batch.len(), 2);
/// assert_eq!(batch.iter().map(|s| s.name()).collect::<Vec<_>>(), ["a", "b"]);
/// assert_eq!(batch.to_vec(), spans);
/// ```
#[derive(Clone)]
pub struct Batch {
    inner: Arc<Inner>,
}

struct Inner {
    words: Vec<u64>,
    /// Where each record starts, then the end of the last one.
    bounds: Vec<u32>,
    sites: Sites,
}

impl Batch {
    /// A batch of no spans.
    pub fn empty() -> Batch {
        BatchBuilder::default().finish()
    }

    /// Encodes owned spans into a batch (for tests, tools and exporters that hand spans on).
    pub fn from_spans(spans: &[SpanData]) -> Batch {
        let mut b = BatchBuilder::default();
        for s in spans {
            encode::span_data(&mut b.words, s);
            b.close_record();
        }
        b.finish()
    }

    /// How many spans.
    pub fn len(&self) -> usize {
        self.inner.bounds.len().saturating_sub(1)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The span at `index`.
    pub fn get(&self, index: usize) -> Option<SpanRef<'_>> {
        let b = &self.inner.bounds;
        let (start, end) = (*b.get(index)? as usize, *b.get(index + 1)? as usize);
        Some(SpanRef::new(&self.inner.words[start..end], &self.inner.sites))
    }

    /// The spans, oldest first.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = SpanRef<'_>> + DoubleEndedIterator {
        let sites = &self.inner.sites;
        let words = &self.inner.words;
        self.inner.bounds.windows(2).map(move |w| SpanRef::new(&words[w[0] as usize..w[1] as usize], sites))
    }

    /// The spans in owned form.
    pub fn to_vec(&self) -> Vec<SpanData> {
        self.iter().map(|s| s.to_data()).collect()
    }

    /// The size of the records, in bytes.
    pub fn encoded_len(&self) -> usize {
        self.inner.words.len() * 8
    }

    /// The spans of `batches`, in order, as one batch (the records are copied).
    pub fn concat(batches: &[Batch]) -> Batch {
        match batches {
            [] => Batch::empty(),
            [one] => one.clone(),
            _ => {
                let mut b = BatchBuilder::default();
                for batch in batches {
                    b.push_records(&batch.inner.words);
                }
                b.finish()
            }
        }
    }

    /// The spans `range` as a batch of their own (the records are copied).
    pub fn slice(&self, range: std::ops::Range<usize>) -> Batch {
        let mut b = BatchBuilder::default();
        for i in range {
            let bounds = &self.inner.bounds;
            if let (Some(&s), Some(&e)) = (bounds.get(i), bounds.get(i + 1)) {
                b.words.extend_from_slice(&self.inner.words[s as usize..e as usize]);
                b.close_record();
            }
        }
        b.finish_with(self.inner.sites.clone())
    }
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch").field("spans", &self.len()).field("bytes", &self.encoded_len()).finish()
    }
}

impl<'a> IntoIterator for &'a Batch {
    type Item = SpanRef<'a>;
    type IntoIter = Box<dyn ExactSizeIterator<Item = SpanRef<'a>> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

/// The memory of a batch that is no longer used, kept to build the next one in.
#[derive(Default)]
pub(crate) struct Buffers {
    words: Vec<u64>,
    bounds: Vec<u32>,
}

impl Batch {
    /// This batch's memory, when nothing else shares the batch any more (an exporter that
    /// holds it keeps it alive instead).
    pub(crate) fn into_buffers(self) -> Option<Buffers> {
        Arc::into_inner(self.inner).map(|i| Buffers { words: i.words, bounds: i.bounds })
    }
}

/// Collects records into a [`Batch`].
#[derive(Default)]
pub(crate) struct BatchBuilder {
    pub(crate) words: Vec<u64>,
    bounds: Vec<u32>,
}

impl BatchBuilder {
    /// Marks the words appended since the last call as one record.
    pub(crate) fn close_record(&mut self) {
        self.close_at(self.words.len());
    }

    /// Appends the whole records in `words`, read by their length words; returns how many.
    pub(crate) fn push_records(&mut self, words: &[u64]) -> usize {
        self.push_records_with(words.len(), |out| out.extend_from_slice(words))
    }

    /// Appends `len` words written by `fill`, which hold whole records, and marks each record;
    /// returns how many. Words after the last whole record are dropped.
    pub(crate) fn push_records_with(&mut self, len: usize, fill: impl FnOnce(&mut Vec<u64>)) -> usize {
        let mut at = self.words.len();
        self.words.reserve(len);
        fill(&mut self.words);
        let mut n = 0;
        while at < self.words.len() {
            let rec = (self.words[at] >> 32) as usize;
            if rec < HEADER_WORDS || at + rec > self.words.len() {
                break;
            }
            at += rec;
            self.close_at(at);
            n += 1;
        }
        self.words.truncate(at);
        n
    }

    fn close_at(&mut self, end: usize) {
        if self.bounds.is_empty() {
            self.bounds.push(0);
        }
        self.bounds.push(u32::try_from(end).unwrap_or(u32::MAX));
    }

    /// The batch, with the callsites registered now.
    pub(crate) fn finish(self) -> Batch {
        self.finish_with(sites())
    }

    fn finish_with(mut self, sites: Sites) -> Batch {
        if self.bounds.is_empty() {
            self.bounds.push(0);
        }
        Batch { inner: Arc::new(Inner { words: self.words, bounds: self.bounds, sites }) }
    }

    /// The first `n` spans as a batch; the rest stay, moved into `spare` (the buffers of an
    /// earlier batch, still in cache and large enough) rather than into new memory.
    pub(crate) fn take_front(&mut self, n: usize, spare: Buffers) -> Batch {
        if n >= self.spans() {
            return std::mem::replace(self, BatchBuilder::reusing(spare)).finish();
        }
        let end = self.bounds[n];
        let Buffers { mut words, mut bounds } = spare;
        words.clear();
        words.extend_from_slice(&self.words[end as usize..]);
        bounds.clear();
        bounds.extend(self.bounds[n..].iter().map(|b| b - end));
        self.words.truncate(end as usize);
        self.bounds.truncate(n + 1);
        std::mem::replace(self, BatchBuilder { words, bounds }).finish()
    }

    /// An empty builder writing into `spare`.
    pub(crate) fn reusing(spare: Buffers) -> BatchBuilder {
        let Buffers { mut words, mut bounds } = spare;
        words.clear();
        bounds.clear();
        BatchBuilder { words, bounds }
    }

    /// Spans collected so far (records closed).
    pub(crate) fn spans(&self) -> usize {
        self.bounds.len().saturating_sub(1)
    }
}

#[cfg(test)]
mod tests;
