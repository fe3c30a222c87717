//! Writing records (the layout is drawn in the [module docs](super)): values and text as tagged
//! words, the header, and the sections of a span given as [`SpanData`].

use super::{
    HEADER_WORDS, REMOTE_PARENT, S_ALLOC_BYTES, S_ALLOC_PEAK, S_ATTRS, S_EVENTS, S_FIRST_ITEM, S_INPUTS, S_ITEMS,
    S_NAMES, S_OUTPUT, S_POLLS, S_STATE, S_STATUS_MSG, S_TAGS, T_BYTES, T_F64, T_FALSE, T_I64, T_I64_SMALL, T_LIST,
    T_MAP, T_NULL, T_OPAQUE, T_STR, T_TRUE, T_U64, T_U64_SMALL,
};
use crate::span::{Event, SpanData, SpanKind, StatusCode, Value};

/// The fixed words of a record.
pub(super) struct Head {
    pub(super) trace_id: u128,
    pub(super) span_id: u64,
    pub(super) parent: u64,
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) site_id: u32,
    pub(super) thread: u32,
    pub(super) flags: u8,
    pub(super) trace_flags: u8,
    pub(super) kind: SpanKind,
    pub(super) status: StatusCode,
    pub(super) n_inputs: u16,
}

impl Head {
    /// The header words of a record of `len` words with `sections`.
    pub(super) fn words(&self, len: usize, sections: u16) -> [u64; HEADER_WORDS] {
        [
            length_word(len, sections, self.kind, self.status),
            self.trace_id as u64,
            (self.trace_id >> 64) as u64,
            self.span_id,
            self.parent,
            self.start,
            self.end,
            u64::from(self.site_id) | u64::from(self.thread) << 32,
            flags_word(self.flags, self.trace_flags, self.n_inputs),
        ]
    }
}

/// Word 0: the record's length, its sections, kind and status.
#[inline]
pub(super) fn length_word(len: usize, sections: u16, kind: SpanKind, status: StatusCode) -> u64 {
    (len as u64) << 32 | u64::from(sections) << 16 | (kind as u64) << 8 | status as u64
}

/// The last header word: flags, trace flags, input count.
#[inline]
pub(super) fn flags_word(flags: u8, trace_flags: u8, n_inputs: u16) -> u64 {
    u64::from(flags) | u64::from(trace_flags) << 8 | u64::from(n_inputs) << 16
}

/// Appends a finished span given as [`SpanData`] (times already Unix nanoseconds), naming it
/// in the record (no callsite).
pub(crate) fn span_data(out: &mut Vec<u64>, d: &SpanData) {
    let at = out.len();
    out.extend_from_slice(&[0; HEADER_WORDS]);
    let mut sections = 0;
    if !d.inputs.is_empty() {
        sections |= S_INPUTS;
        for (k, v) in &d.inputs {
            string(out, k);
            value(out, v);
        }
    }
    if let Some(v) = &d.output {
        sections |= S_OUTPUT;
        value(out, v);
    }
    if d.polls > 0 || d.pending_polls > 0 || d.busy_ns > 0 {
        sections |= S_POLLS;
        out.extend_from_slice(&[u64::from(d.polls) | u64::from(d.pending_polls) << 32, d.busy_ns]);
    }
    for (bit, v) in [
        (S_ITEMS, d.items),
        (S_FIRST_ITEM, d.first_item_ns),
        (S_ALLOC_BYTES, d.alloc_bytes),
        (S_ALLOC_PEAK, d.alloc_peak),
    ] {
        if let Some(v) = v {
            sections |= bit;
            out.push(v);
        }
    }
    sections |= S_NAMES;
    names(out, &d.name, &d.target, d.label.as_deref(), d.branch.as_deref());
    sections |= tail(out, d.status.message.as_deref(), &d.attributes, &d.tags, &d.events, d.trace_state.as_deref());
    let head = Head {
        trace_id: d.trace_id.0,
        span_id: d.span_id.0,
        parent: d.parent_span_id.0,
        start: d.start_time_unix_nano,
        end: d.end_time_unix_nano,
        site_id: 0,
        thread: u32::try_from(d.thread_id).unwrap_or(u32::MAX),
        flags: if d.parent_is_remote { REMOTE_PARENT } else { 0 },
        trace_flags: d.trace_flags,
        kind: d.kind,
        status: d.status.code,
        n_inputs: d.inputs.len().min(usize::from(u16::MAX)) as u16,
    };
    let len = out.len() - at;
    out[at..at + HEADER_WORDS].copy_from_slice(&head.words(len, sections));
}

/// The names section of a span without a callsite.
pub(super) fn names(out: &mut Vec<u64>, name: &str, target: &str, label: Option<&str>, branch: Option<&str>) {
    string(out, name);
    string(out, target);
    opt_string(out, label);
    opt_string(out, branch);
}

/// The sections after the names: status message, attributes, tags, events, tracestate; returns
/// their bits.
pub(super) fn tail<K: AsRef<str>>(
    out: &mut Vec<u64>,
    status_message: Option<&str>,
    attributes: &[(K, Value)],
    tags: &[(K, Value)],
    events: &[Event],
    trace_state: Option<&str>,
) -> u16 {
    let mut sections = 0;
    if let Some(m) = status_message {
        sections |= S_STATUS_MSG;
        string(out, m);
    }
    if !attributes.is_empty() {
        sections |= S_ATTRS;
        pairs(out, attributes);
    }
    if !tags.is_empty() {
        sections |= S_TAGS;
        pairs(out, tags);
    }
    if !events.is_empty() {
        sections |= S_EVENTS;
        out.push(events.len() as u64);
        for e in events {
            string(out, &e.name);
            out.push(e.time_unix_nano);
            pairs(out, &e.attributes);
        }
    }
    if let Some(s) = trace_state {
        sections |= S_STATE;
        string(out, s);
    }
    sections
}

fn pairs<K: AsRef<str>>(out: &mut Vec<u64>, entries: &[(K, Value)]) {
    out.push(entries.len() as u64);
    for (k, v) in entries {
        string(out, k.as_ref());
        value(out, v);
    }
}

fn opt_string(out: &mut Vec<u64>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.push(T_NULL),
    }
}

/// Text: a header word with its byte length, then the bytes packed eight to a word in native
/// order, so that the words read back as bytes are the text.
#[inline]
pub(crate) fn string(out: &mut Vec<u64>, s: &str) {
    tagged_bytes(out, T_STR, s.as_bytes());
}

#[inline]
fn tagged_bytes(out: &mut Vec<u64>, tag: u64, b: &[u8]) {
    let len = b.len().min(u32::MAX as usize);
    let b = &b[..len];
    out.reserve(1 + len.div_ceil(8));
    out.push(tag | (len as u64) << 32);
    let mut words = b.chunks_exact(8);
    for w in words.by_ref() {
        out.push(u64::from_ne_bytes(w.try_into().unwrap_or_default()));
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        out.push(u64::from_ne_bytes(last));
    }
}

/// A captured value: one word for null, booleans and integers that fit in 32 bits; a header and
/// a payload word for other numbers; a header and packed bytes for text; a header, a word count
/// and the elements for lists and maps (so a reader can skip them whole).
// Hot path: a primitive is one match and one or two pushes.
#[inline]
pub(crate) fn value(out: &mut Vec<u64>, v: &Value) {
    match v {
        Value::Null => out.push(T_NULL),
        Value::Bool(false) => out.push(T_FALSE),
        Value::Bool(true) => out.push(T_TRUE),
        Value::U64(n) if *n <= u64::from(u32::MAX) => out.push(T_U64_SMALL | n << 32),
        Value::U64(n) => out.extend([T_U64, *n]),
        Value::I64(n) if i32::try_from(*n).is_ok() => out.push(T_I64_SMALL | u64::from(*n as i32 as u32) << 32),
        Value::I64(n) => out.extend([T_I64, *n as u64]),
        Value::F64(f) => out.extend([T_F64, f.to_bits()]),
        Value::Str(s) => string(out, s),
        Value::Bytes(b) => tagged_bytes(out, T_BYTES, b),
        Value::Opaque(t) => tagged_bytes(out, T_OPAQUE, t.as_bytes()),
        Value::List(items) => nested(out, T_LIST, items.len(), |out| items.iter().for_each(|v| value(out, v))),
        Value::Map(fields) => nested(out, T_MAP, fields.len(), |out| {
            for (k, v) in fields {
                string(out, k);
                value(out, v);
            }
        }),
    }
}

/// [`value`] of an owned value. Inlined, so a primitive the caller just made is written with
/// its variant known and no drop left to run.
// Hot path: what `#[traced]` captures is most often a primitive.
#[inline(always)]
pub(crate) fn value_owned(out: &mut Vec<u64>, v: Value) {
    let (a, b) = match &v {
        Value::U64(n) if *n <= u64::from(u32::MAX) => (T_U64_SMALL | n << 32, None),
        Value::U64(n) => (T_U64, Some(*n)),
        Value::I64(n) if i32::try_from(*n).is_ok() => (T_I64_SMALL | u64::from(*n as i32 as u32) << 32, None),
        Value::I64(n) => (T_I64, Some(*n as u64)),
        Value::Bool(b) => (if *b { T_TRUE } else { T_FALSE }, None),
        Value::F64(f) => (T_F64, Some(f.to_bits())),
        Value::Null => (T_NULL, None),
        other => return value(out, other),
    };
    out.push(a);
    if let Some(b) = b {
        out.push(b);
    }
    // A primitive owns nothing: no drop to run.
    std::mem::forget(v);
}

fn nested(out: &mut Vec<u64>, tag: u64, count: usize, elements: impl FnOnce(&mut Vec<u64>)) {
    out.push(tag | (count.min(u32::MAX as usize) as u64) << 32);
    let at = out.len();
    out.push(0);
    elements(out);
    out[at] = (out.len() - at - 1) as u64;
}
