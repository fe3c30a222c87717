//! Reading compact records back: [`SpanRef`] and [`ValueRef`] borrow from a [`Batch`](super::Batch)
//! and decode a field only when it is asked for.
//!
//! The reader trusts nothing: a word past the end reads as 0, text that is not UTF-8 reads as
//! `"\u{fffd}"`, so a damaged record gives wrong fields, never a panic.

use std::borrow::Cow;
use std::fmt;

use zerocopy::IntoBytes as _;

use super::{
    HEADER_WORDS, IMPLICIT_KEYS, REMOTE_PARENT, S_ALLOC_BYTES, S_ALLOC_PEAK, S_ATTRS, S_EVENTS, S_FIRST_ITEM, S_INPUTS,
    S_ITEMS, S_NAMES, S_OUTPUT, S_POLLS, S_STATE, S_STATUS_MSG, S_TAGS, T_BYTES, T_F64, T_FALSE, T_I64, T_I64_SMALL,
    T_LIST, T_MAP, T_NULL, T_OPAQUE, T_STR, T_TRUE, T_U64, T_U64_SMALL, TICKS,
};
use crate::clock;
use crate::span::{Callsite, Event, Inputs, SpanData, SpanId, SpanKind, Status, StatusCode, TraceId, Value, attr};

/// A cursor over the words of a record.
#[derive(Clone, Copy)]
struct Cursor<'a> {
    w: &'a [u64],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn at(w: &'a [u64], pos: usize) -> Cursor<'a> {
        Cursor { w, pos }
    }

    #[inline]
    fn word(&mut self) -> u64 {
        let v = self.w.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        v
    }

    /// The bytes after a text or bytes header `hdr`.
    #[inline]
    fn bytes(&mut self, hdr: u64) -> &'a [u8] {
        let len = (hdr >> 32) as usize;
        let n = len.div_ceil(8);
        let words = self.w.get(self.pos..self.pos + n).unwrap_or(&[]);
        self.pos += n;
        let b = words.as_bytes();
        &b[..len.min(b.len())]
    }

    #[inline]
    fn text(&mut self, hdr: u64) -> &'a str {
        std::str::from_utf8(self.bytes(hdr)).unwrap_or("\u{fffd}")
    }

    /// A text field.
    #[inline]
    fn str(&mut self) -> &'a str {
        let hdr = self.word();
        self.text(hdr)
    }

    /// A text field that may be absent.
    fn opt_str(&mut self) -> Option<&'a str> {
        let hdr = self.word();
        (hdr & 0xff != T_NULL).then(|| self.text(hdr))
    }

    fn value(&mut self) -> ValueRef<'a> {
        let hdr = self.word();
        let hi = hdr >> 32;
        match hdr & 0xff {
            T_FALSE => ValueRef::Bool(false),
            T_TRUE => ValueRef::Bool(true),
            T_U64_SMALL => ValueRef::U64(hi),
            T_U64 => ValueRef::U64(self.word()),
            T_I64_SMALL => ValueRef::I64(i64::from(hi as u32 as i32)),
            T_I64 => ValueRef::I64(self.word() as i64),
            T_F64 => ValueRef::F64(f64::from_bits(self.word())),
            T_STR => ValueRef::Str(self.text(hdr)),
            T_BYTES => ValueRef::Bytes(self.bytes(hdr)),
            T_OPAQUE => ValueRef::Opaque(self.text(hdr)),
            tag @ (T_LIST | T_MAP) => {
                let n = self.word() as usize;
                let words = self.w.get(self.pos..self.pos + n).unwrap_or(&[]);
                self.pos += n;
                // Every element takes a word at least (a field two), whatever a damaged count says.
                if tag == T_LIST {
                    ValueRef::List(ListRef { words, count: (hi as u32).min(words.len() as u32) })
                } else {
                    ValueRef::Map(MapRef { words, count: (hi as u32).min(words.len() as u32 / 2) })
                }
            }
            _ => ValueRef::Null,
        }
    }

    /// Words left.
    fn left(&self) -> u64 {
        self.w.len().saturating_sub(self.pos) as u64
    }

    /// A count read from the record, capped by what the words left can hold (`per` words each
    /// at least), so a damaged count cannot make a reader loop or allocate without end.
    fn count(&mut self, per: u64) -> u64 {
        let n = self.word();
        n.min(self.left() / per)
    }

    /// Skips `count` key-value pairs.
    fn skip_pairs(&mut self, count: u64) {
        for _ in 0..count {
            if self.pos >= self.w.len() {
                break;
            }
            self.str();
            self.value();
        }
    }
}

/// How many words the encoded value at the start of `words` takes.
pub(super) fn value_words(words: &[u64]) -> usize {
    let mut c = Cursor::at(words, 0);
    c.value();
    c.pos.min(words.len())
}

/// A captured value read from a record, borrowing its text: what [`Value`] is, without owning.
///
/// # Examples
///
/// ```
/// use tracewell::{SpanData, Value, ValueRef, span::Batch};
/// let mut s = SpanData::default();
/// s.output = Some(Value::List(vec![Value::U64(1), Value::from("two")]));
/// let batch = Batch::from_spans(&[s]);
/// let out = batch.get(0).unwrap().output().unwrap();
/// let ValueRef::List(items) = out else { panic!() };
/// assert_eq!(items.iter().map(|v| v.to_value()).collect::<Vec<_>>(), [Value::U64(1), Value::from("two")]);
/// assert_eq!(out.to_string(), "[1, \"two\"]");
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueRef<'a> {
    /// No value.
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer.
    U64(u64),
    /// A float.
    F64(f64),
    /// Text.
    Str(&'a str),
    /// Raw bytes.
    Bytes(&'a [u8]),
    /// A sequence.
    List(ListRef<'a>),
    /// Named fields, in order.
    Map(MapRef<'a>),
    /// The type name of a value that is neither `Serialize` nor `Debug`.
    Opaque(&'a str),
}

impl<'a> ValueRef<'a> {
    /// The owned [`Value`].
    pub fn to_value(&self) -> Value {
        match *self {
            ValueRef::Null => Value::Null,
            ValueRef::Bool(b) => Value::Bool(b),
            ValueRef::I64(n) => Value::I64(n),
            ValueRef::U64(n) => Value::U64(n),
            ValueRef::F64(f) => Value::F64(f),
            ValueRef::Str(s) => Value::Str(Cow::Owned(s.to_owned())),
            ValueRef::Bytes(b) => Value::Bytes(b.to_vec()),
            ValueRef::List(l) => Value::List(l.iter().map(|v| v.to_value()).collect()),
            ValueRef::Map(m) => Value::Map(m.iter().map(|(k, v)| (k.to_owned(), v.to_value())).collect()),
            ValueRef::Opaque(t) => Value::Opaque(Cow::Owned(t.to_owned())),
        }
    }

    /// The text if this is [`ValueRef::Str`].
    pub fn as_str(&self) -> Option<&'a str> {
        match *self {
            ValueRef::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl<'a> From<&'a Value> for ValueRef<'a> {
    /// A borrowed view of an owned value's scalars; lists and maps cannot be borrowed as their
    /// encoded form and read as [`ValueRef::Null`] (use [`Value`] itself for those).
    fn from(v: &'a Value) -> ValueRef<'a> {
        match v {
            Value::Null | Value::List(_) | Value::Map(_) => ValueRef::Null,
            Value::Bool(b) => ValueRef::Bool(*b),
            Value::I64(n) => ValueRef::I64(*n),
            Value::U64(n) => ValueRef::U64(*n),
            Value::F64(f) => ValueRef::F64(*f),
            Value::Str(s) => ValueRef::Str(s),
            Value::Bytes(b) => ValueRef::Bytes(b),
            Value::Opaque(t) => ValueRef::Opaque(t),
        }
    }
}

impl PartialEq<Value> for ValueRef<'_> {
    fn eq(&self, other: &Value) -> bool {
        match (*self, other) {
            (ValueRef::List(l), Value::List(o)) => l.len() == o.len() && l.iter().zip(o).all(|(a, b)| a == *b),
            (ValueRef::Map(m), Value::Map(o)) => {
                m.len() == o.len() && m.iter().zip(o).all(|((ka, va), (kb, vb))| ka == kb && va == *vb)
            }
            (ValueRef::List(_) | ValueRef::Map(_), _) | (_, Value::List(_) | Value::Map(_)) => false,
            (a, b) => a == ValueRef::from(b),
        }
    }
}

impl fmt::Display for ValueRef<'_> {
    /// The same rendering as [`Value`]'s `Display`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_value(), f)
    }
}

/// The elements of a list value.
#[derive(Clone, Copy, PartialEq)]
pub struct ListRef<'a> {
    words: &'a [u64],
    count: u32,
}

impl<'a> ListRef<'a> {
    /// How many elements.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The elements, in order.
    pub fn iter(&self) -> impl Iterator<Item = ValueRef<'a>> + use<'a> {
        let mut c = Cursor::at(self.words, 0);
        (0..self.count).map(move |_| c.value())
    }
}

impl fmt::Debug for ListRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The fields of a map value.
#[derive(Clone, Copy, PartialEq)]
pub struct MapRef<'a> {
    words: &'a [u64],
    count: u32,
}

impl<'a> MapRef<'a> {
    /// How many fields.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The fields, in order.
    pub fn iter(&self) -> Pairs<'a> {
        Pairs { c: Cursor::at(self.words, 0), left: u64::from(self.count) }
    }
}

impl fmt::Debug for MapRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Key-value pairs read from a record: attributes, tags, event attributes, map fields.
#[derive(Clone)]
pub struct Pairs<'a> {
    c: Cursor<'a>,
    left: u64,
}

impl<'a> Pairs<'a> {
    fn empty() -> Pairs<'a> {
        Pairs { c: Cursor::at(&[], 0), left: 0 }
    }
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (&'a str, ValueRef<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let k = self.c.str();
        Some((k, self.c.value()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left as usize, Some(self.left as usize))
    }
}

impl ExactSizeIterator for Pairs<'_> {}

impl fmt::Debug for Pairs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.clone()).finish()
    }
}

/// The captured inputs of a span, by argument name, in declaration order.
#[derive(Clone)]
pub struct InputsRef<'a> {
    c: Cursor<'a>,
    left: u64,
    /// The callsite's argument names when the record leaves them out.
    names: Option<std::slice::Iter<'static, &'static str>>,
}

impl<'a> Iterator for InputsRef<'a> {
    type Item = (&'a str, ValueRef<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let k = match &mut self.names {
            Some(names) => names.next().copied().unwrap_or(""),
            None => self.c.str(),
        };
        Some((k, self.c.value()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left as usize, Some(self.left as usize))
    }
}

impl ExactSizeIterator for InputsRef<'_> {}

impl fmt::Debug for InputsRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.clone()).finish()
    }
}

/// An event read from a record.
#[derive(Clone, Debug)]
pub struct EventRef<'a> {
    /// Its name.
    pub name: &'a str,
    /// When it happened, nanoseconds since the Unix epoch.
    pub time_unix_nano: u64,
    /// Its attributes.
    pub attributes: Pairs<'a>,
}

/// The events of a span, in order.
#[derive(Clone)]
pub struct EventsRef<'a> {
    c: Cursor<'a>,
    left: u64,
}

impl<'a> Iterator for EventsRef<'a> {
    type Item = EventRef<'a>;

    fn next(&mut self) -> Option<EventRef<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let name = self.c.str();
        let time_unix_nano = self.c.word();
        let n = self.c.count(2);
        let attributes = Pairs { c: self.c, left: n };
        self.c.skip_pairs(n);
        Some(EventRef { name, time_unix_nano, attributes })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left as usize, Some(self.left as usize))
    }
}

impl ExactSizeIterator for EventsRef<'_> {}

impl fmt::Debug for EventsRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

/// A finished span read in place from a [`Batch`](super::Batch): what exporters receive. Every
/// field of [`SpanData`] is here, decoded when asked for; [`SpanRef::to_data`] makes the owned
/// form.
///
/// # Examples
///
/// ```
/// use tracewell::{SpanData, SpanKind, Value, span::Batch};
/// let mut s = SpanData { name: "load".into(), kind: SpanKind::Client, ..Default::default() };
/// s.inputs.push(("id".into(), Value::U64(7)));
/// let batch = Batch::from_spans(&[s.clone()]);
/// let span = batch.get(0).unwrap();
/// assert_eq!((span.name(), span.kind()), ("load", SpanKind::Client));
/// assert_eq!(span.input("id"), Some(tracewell::ValueRef::U64(7)));
/// assert_eq!(span.to_data(), s);
/// ```
#[derive(Clone, Copy)]
pub struct SpanRef<'a> {
    w: &'a [u64],
    site: Option<&'static Callsite>,
    /// Word offsets of the sections, 0 when absent.
    off: [u32; 13],
}

const O_NAMES: usize = 0;
const O_INPUTS: usize = 1;
const O_OUTPUT: usize = 2;
const O_STATUS_MSG: usize = 3;
const O_POLLS: usize = 4;
const O_ITEMS: usize = 5;
const O_FIRST_ITEM: usize = 6;
const O_ALLOC_BYTES: usize = 7;
const O_ALLOC_PEAK: usize = 8;
const O_ATTRS: usize = 9;
const O_TAGS: usize = 10;
const O_EVENTS: usize = 11;
const O_STATE: usize = 12;

impl<'a> SpanRef<'a> {
    /// Reads the record `w` (exactly one record's words); `sites` resolves callsite numbers.
    pub(crate) fn new(w: &'a [u64], sites: &[&'static Callsite]) -> SpanRef<'a> {
        let hdr = w.first().copied().unwrap_or(0);
        let sections = (hdr >> 16) as u16;
        let site_id = w.get(7).copied().unwrap_or(0) as u32;
        let site = if site_id == 0 { None } else { sites.get(site_id as usize - 1).copied() };
        let mut off = [0u32; 13];
        let flags = w.get(HEADER_WORDS - 1).copied().unwrap_or(0);
        let n_inputs = flags >> 16 & 0xffff;
        let implicit = flags & u64::from(IMPLICIT_KEYS) != 0;
        let mut c = Cursor::at(w, HEADER_WORDS);
        let mut mark = |slot: usize, bit: u16, c: &mut Cursor<'a>, skip: &dyn Fn(&mut Cursor<'a>)| {
            if sections & bit != 0 {
                off[slot] = u32::try_from(c.pos).unwrap_or(u32::MAX);
                skip(c);
            }
        };
        mark(O_INPUTS, S_INPUTS, &mut c, &|c| {
            for _ in 0..n_inputs.min(c.left()) {
                if !implicit {
                    c.str();
                }
                c.value();
            }
        });
        mark(O_OUTPUT, S_OUTPUT, &mut c, &|c| {
            c.value();
        });
        mark(O_POLLS, S_POLLS, &mut c, &|c| c.pos += 2);
        mark(O_ITEMS, S_ITEMS, &mut c, &|c| c.pos += 1);
        mark(O_FIRST_ITEM, S_FIRST_ITEM, &mut c, &|c| c.pos += 1);
        mark(O_ALLOC_BYTES, S_ALLOC_BYTES, &mut c, &|c| c.pos += 1);
        mark(O_ALLOC_PEAK, S_ALLOC_PEAK, &mut c, &|c| c.pos += 1);
        mark(O_NAMES, S_NAMES, &mut c, &|c| {
            c.str();
            c.str();
            c.opt_str();
            c.opt_str();
        });
        mark(O_STATUS_MSG, S_STATUS_MSG, &mut c, &|c| {
            c.str();
        });
        let pairs = |c: &mut Cursor<'a>| {
            let n = c.count(2);
            c.skip_pairs(n);
        };
        mark(O_ATTRS, S_ATTRS, &mut c, &pairs);
        mark(O_TAGS, S_TAGS, &mut c, &pairs);
        mark(O_EVENTS, S_EVENTS, &mut c, &|c| {
            let n = c.count(3);
            for _ in 0..n {
                c.str();
                c.word();
                let k = c.count(2);
                c.skip_pairs(k);
            }
        });
        mark(O_STATE, S_STATE, &mut c, &|c| {
            c.str();
        });
        SpanRef { w, site, off }
    }

    fn word(&self, i: usize) -> u64 {
        self.w.get(i).copied().unwrap_or(0)
    }

    fn flag_word(&self) -> u64 {
        self.word(HEADER_WORDS - 1)
    }

    fn ticks(&self) -> bool {
        self.flag_word() & u64::from(TICKS) != 0
    }

    fn section(&self, slot: usize) -> Option<Cursor<'a>> {
        match self.off[slot] {
            0 => None,
            at => Some(Cursor::at(self.w, at as usize)),
        }
    }

    fn names(&self) -> Option<Cursor<'a>> {
        self.section(O_NAMES)
    }

    /// The trace this span belongs to.
    pub fn trace_id(&self) -> TraceId {
        TraceId(u128::from(self.word(1)) | u128::from(self.word(2)) << 64)
    }

    /// This span.
    pub fn span_id(&self) -> SpanId {
        SpanId(self.word(3))
    }

    /// The parent span, [`SpanId::INVALID`] for a root.
    pub fn parent_span_id(&self) -> SpanId {
        SpanId(self.word(4))
    }

    /// Whether this span has no parent in this trace.
    pub fn is_root(&self) -> bool {
        !self.parent_span_id().is_valid()
    }

    /// Whether the parent came from another process.
    pub fn parent_is_remote(&self) -> bool {
        self.flag_word() & u64::from(REMOTE_PARENT) != 0
    }

    /// W3C trace flags.
    pub fn trace_flags(&self) -> u8 {
        (self.flag_word() >> 8) as u8
    }

    /// W3C `tracestate` carried from a remote parent, if any.
    pub fn trace_state(&self) -> Option<&'a str> {
        self.section(O_STATE).map(|mut c| c.str())
    }

    /// The span's name.
    pub fn name(&self) -> &'a str {
        match (self.site, self.names()) {
            (Some(cs), _) => cs.name,
            (None, Some(mut c)) => c.str(),
            (None, None) => "",
        }
    }

    /// The module path of the code that made the span.
    pub fn target(&self) -> &'a str {
        match (self.site, self.names()) {
            (Some(cs), _) => cs.target,
            (None, Some(mut c)) => {
                c.str();
                c.str()
            }
            (None, None) => "",
        }
    }

    /// The span kind.
    pub fn kind(&self) -> SpanKind {
        match (self.word(0) >> 8) as u8 {
            1 => SpanKind::Server,
            2 => SpanKind::Client,
            3 => SpanKind::Producer,
            4 => SpanKind::Consumer,
            _ => SpanKind::Internal,
        }
    }

    /// The free label.
    pub fn label(&self) -> Option<&'a str> {
        match (self.site, self.names()) {
            (Some(cs), _) => cs.label,
            (None, Some(mut c)) => {
                c.str();
                c.str();
                c.opt_str()
            }
            (None, None) => None,
        }
    }

    /// The code path this span stands for.
    pub fn branch(&self) -> Option<&'a str> {
        match (self.site, self.names()) {
            (Some(cs), _) => cs.branch,
            (None, Some(mut c)) => {
                c.str();
                c.str();
                c.opt_str();
                c.opt_str()
            }
            (None, None) => None,
        }
    }

    fn time(&self, t: u64) -> u64 {
        if self.ticks() { clock::unix_nanos(t) } else { t }
    }

    /// Start, nanoseconds since the Unix epoch.
    pub fn start_time_unix_nano(&self) -> u64 {
        self.time(self.word(5))
    }

    /// End, nanoseconds since the Unix epoch.
    pub fn end_time_unix_nano(&self) -> u64 {
        self.time(self.word(6))
    }

    /// Wall time from start to end, in nanoseconds.
    pub fn duration_ns(&self) -> u64 {
        if self.ticks() {
            clock::nanos_between(self.word(5), self.word(6))
        } else {
            self.word(6).saturating_sub(self.word(5))
        }
    }

    /// How the span ended.
    pub fn status_code(&self) -> StatusCode {
        match self.word(0) as u8 {
            1 => StatusCode::Ok,
            2 => StatusCode::Error,
            3 => StatusCode::Cancelled,
            _ => StatusCode::Unset,
        }
    }

    /// Why, for errors (the error text, the panic message).
    pub fn status_message(&self) -> Option<&'a str> {
        self.section(O_STATUS_MSG).map(|mut c| c.str())
    }

    /// Captured arguments by name, in declaration order.
    pub fn inputs(&self) -> InputsRef<'a> {
        let Some(c) = self.section(O_INPUTS) else {
            return InputsRef { c: Cursor::at(&[], 0), left: 0, names: None };
        };
        let implicit = self.flag_word() & u64::from(IMPLICIT_KEYS) != 0;
        InputsRef {
            c,
            left: self.flag_word() >> 16 & 0xffff,
            names: self.site.filter(|_| implicit).map(|cs| cs.inputs.iter()),
        }
    }

    /// The captured input named `name`.
    pub fn input(&self, name: &str) -> Option<ValueRef<'a>> {
        self.inputs().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    /// The captured return value.
    pub fn output(&self) -> Option<ValueRef<'a>> {
        self.section(O_OUTPUT).map(|mut c| c.value())
    }

    fn pairs(&self, slot: usize) -> Pairs<'a> {
        match self.section(slot) {
            Some(mut c) => {
                let left = c.count(2);
                Pairs { c, left }
            }
            None => Pairs::empty(),
        }
    }

    /// Attributes set on the span.
    pub fn attributes(&self) -> Pairs<'a> {
        self.pairs(O_ATTRS)
    }

    /// The attribute named `key`.
    pub fn attribute(&self, key: &str) -> Option<ValueRef<'a>> {
        self.attributes().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Indexed tags.
    pub fn tags(&self) -> Pairs<'a> {
        self.pairs(O_TAGS)
    }

    /// The tag named `key`.
    pub fn tag(&self, key: &str) -> Option<ValueRef<'a>> {
        self.tags().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Events, in order.
    pub fn events(&self) -> EventsRef<'a> {
        match self.section(O_EVENTS) {
            Some(mut c) => {
                let left = c.count(3);
                EventsRef { c, left }
            }
            None => EventsRef { c: Cursor::at(&[], 0), left: 0 },
        }
    }

    fn pair_words(&self, slot: usize) -> Option<(u64, u64)> {
        self.section(slot).map(|mut c| (c.word(), c.word()))
    }

    /// Times the future or stream was polled (0 for sync spans).
    pub fn polls(&self) -> u32 {
        self.pair_words(O_POLLS).map_or(0, |(p, _)| p as u32)
    }

    /// Polls that returned `Pending`.
    pub fn pending_polls(&self) -> u32 {
        self.pair_words(O_POLLS).map_or(0, |(p, _)| (p >> 32) as u32)
    }

    /// Sum of poll durations in nanoseconds.
    pub fn busy_ns(&self) -> u64 {
        let busy = self.pair_words(O_POLLS).map_or(0, |(_, b)| b);
        if self.ticks() { clock::ticks_to_nanos(busy) } else { busy }
    }

    fn one_word(&self, slot: usize) -> Option<u64> {
        self.section(slot).map(|mut c| c.word())
    }

    /// Items yielded, for stream and iterator spans.
    pub fn items(&self) -> Option<u64> {
        self.one_word(O_ITEMS)
    }

    /// Nanoseconds from the start to the first item.
    pub fn first_item_ns(&self) -> Option<u64> {
        let t = self.one_word(O_FIRST_ITEM)?;
        Some(if self.ticks() { clock::ticks_to_nanos(t) } else { t })
    }

    /// Bytes allocated during the span.
    pub fn alloc_bytes(&self) -> Option<u64> {
        self.one_word(O_ALLOC_BYTES)
    }

    /// Peak of live bytes during the span.
    pub fn alloc_peak(&self) -> Option<u64> {
        self.one_word(O_ALLOC_PEAK)
    }

    /// The number of the thread that ended the span.
    pub fn thread_id(&self) -> u64 {
        self.word(7) >> 32
    }

    /// The size of this record, in bytes.
    pub fn encoded_len(&self) -> usize {
        self.w.len() * 8
    }

    /// All attributes as OTLP-shaped exports carry them (see [`SpanData::flat_attributes`]),
    /// each key in two parts: a static prefix (empty, [`attr::INPUT_PREFIX`] or
    /// [`attr::TAG_PREFIX`]) and a name, so an encoder writes the key where it goes.
    pub fn for_each_flat_attribute(&self, mut f: impl FnMut(&'static str, &'a str, ValueRef<'a>)) {
        for (k, v) in self.attributes() {
            f("", k, v);
        }
        let target = self.target();
        if !target.is_empty() {
            f("", attr::TARGET, ValueRef::Str(target));
        }
        f("", attr::THREAD_ID, ValueRef::U64(self.thread_id()));
        for (k, v) in self.inputs() {
            f(attr::INPUT_PREFIX, k, v);
        }
        if let Some(v) = self.output() {
            f("", attr::OUTPUT, v);
        }
        for (k, v) in self.tags() {
            f(attr::TAG_PREFIX, k, v);
        }
        if let Some(l) = self.label() {
            f("", attr::LABEL, ValueRef::Str(l));
        }
        if let Some(b) = self.branch() {
            f("", attr::BRANCH, ValueRef::Str(b));
        }
        let polls = self.polls();
        if polls > 0 {
            f("", attr::POLLS, ValueRef::U64(polls.into()));
            f("", attr::PENDING_POLLS, ValueRef::U64(self.pending_polls().into()));
            f("", attr::BUSY_NS, ValueRef::U64(self.busy_ns()));
        }
        if let Some(n) = self.items() {
            f("", attr::ITEMS, ValueRef::U64(n));
        }
        if let Some(n) = self.first_item_ns() {
            f("", attr::FIRST_ITEM_NS, ValueRef::U64(n));
        }
        if let Some(n) = self.alloc_bytes() {
            f("", attr::ALLOC_BYTES, ValueRef::U64(n));
        }
        if let Some(n) = self.alloc_peak() {
            f("", attr::ALLOC_PEAK, ValueRef::U64(n));
        }
    }

    /// The owned form.
    pub fn to_data(&self) -> SpanData {
        let own = |s: &str| Cow::Owned(s.to_owned());
        // Names from a callsite stay borrowed: they are `'static`.
        let (name, target, label, branch) = match self.site {
            Some(cs) => (
                Cow::Borrowed(cs.name),
                Cow::Borrowed(cs.target),
                cs.label.map(Cow::Borrowed),
                cs.branch.map(Cow::Borrowed),
            ),
            None => (own(self.name()), own(self.target()), self.label().map(own), self.branch().map(own)),
        };
        let inputs: Inputs = match self.site.filter(|_| self.flag_word() & u64::from(IMPLICIT_KEYS) != 0) {
            Some(cs) => {
                cs.inputs.iter().zip(self.inputs()).map(|(k, (_, v))| (Cow::Borrowed(*k), v.to_value())).collect()
            }
            None => self.inputs().map(|(k, v)| (own(k), v.to_value())).collect(),
        };
        let pairs = |p: Pairs<'_>| p.map(|(k, v)| (own(k), v.to_value())).collect();
        SpanData {
            trace_id: self.trace_id(),
            span_id: self.span_id(),
            parent_span_id: self.parent_span_id(),
            parent_is_remote: self.parent_is_remote(),
            trace_flags: self.trace_flags(),
            trace_state: self.trace_state().map(std::sync::Arc::from),
            name,
            target,
            kind: self.kind(),
            start_time_unix_nano: self.start_time_unix_nano(),
            end_time_unix_nano: self.end_time_unix_nano(),
            status: Status { code: self.status_code(), message: self.status_message().map(own) },
            inputs,
            output: self.output().map(|v| v.to_value()),
            attributes: pairs(self.attributes()),
            tags: pairs(self.tags()),
            label,
            branch,
            events: self
                .events()
                .map(|e| Event { name: own(e.name), time_unix_nano: e.time_unix_nano, attributes: pairs(e.attributes) })
                .collect(),
            polls: self.polls(),
            pending_polls: self.pending_polls(),
            busy_ns: self.busy_ns(),
            items: self.items(),
            first_item_ns: self.first_item_ns(),
            alloc_bytes: self.alloc_bytes(),
            alloc_peak: self.alloc_peak(),
            thread_id: self.thread_id(),
        }
    }
}

impl fmt::Debug for SpanRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanRef")
            .field("name", &self.name())
            .field("trace_id", &self.trace_id())
            .field("span_id", &self.span_id())
            .field("parent_span_id", &self.parent_span_id())
            .field("status", &self.status_code())
            .finish_non_exhaustive()
    }
}
