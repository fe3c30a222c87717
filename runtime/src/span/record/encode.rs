//! Writing a span as a compact record (the layout is drawn in the [module docs](super)).

use std::borrow::Cow;

use super::{
    HEADER_WORDS, IMPLICIT_KEYS, REMOTE_PARENT, Recording, S_ALLOC_BYTES, S_ALLOC_PEAK, S_ATTRS, S_EVENTS,
    S_FIRST_ITEM, S_INPUTS, S_ITEMS, S_NAMES, S_OUTPUT, S_POLLS, S_STATE, S_STATUS_MSG, S_TAGS, T_BYTES, T_F64,
    T_FALSE, T_I64, T_I64_SMALL, T_LIST, T_MAP, T_NULL, T_OPAQUE, T_STR, T_TRUE, T_U64, T_U64_SMALL, TICKS,
};
use crate::span::{Callsite, Event, SpanData, Value};

/// Appends `rec`, which ended at `rec.end`, as one record. Its names come from its callsite
/// (`site_id`, 0 for none) when it has one.
// Hot path: a span of a few primitive inputs is a dozen word writes.
#[inline]
pub(crate) fn recording(out: &mut Vec<u64>, rec: &Recording, site_id: u32, thread: u32) {
    let d = &rec.data;
    let mut head = Head {
        trace_id: d.trace_id.0,
        span_id: d.span_id.0,
        parent: d.parent_span_id.0,
        start: rec.start,
        end: rec.end,
        site_id,
        thread,
        flags: TICKS,
        trace_flags: d.trace_flags,
    };
    if d.parent_is_remote {
        head.flags |= REMOTE_PARENT;
    }
    body(out, head, d, rec.site.filter(|_| site_id != 0));
}

/// Appends a finished span given as [`SpanData`] (times already Unix nanoseconds).
pub(crate) fn span_data(out: &mut Vec<u64>, d: &SpanData) {
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
    };
    body(out, head, d, None);
}

struct Head {
    trace_id: u128,
    span_id: u64,
    parent: u64,
    start: u64,
    end: u64,
    site_id: u32,
    thread: u32,
    flags: u8,
    trace_flags: u8,
}

#[inline]
fn body(out: &mut Vec<u64>, mut head: Head, d: &SpanData, site: Option<&'static Callsite>) {
    let at = out.len();
    let mut sections = 0u16;
    out.extend_from_slice(&[
        0, // length, sections, kind and status: written last
        head.trace_id as u64,
        (head.trace_id >> 64) as u64,
        head.span_id,
        head.parent,
        head.start,
        head.end,
        u64::from(head.site_id) | u64::from(head.thread) << 32,
        0, // flags and input count: written last
    ]);
    debug_assert_eq!(out.len() - at, HEADER_WORDS);
    if site.is_none() {
        sections |= S_NAMES;
        string(out, &d.name);
        string(out, &d.target);
        opt_string(out, d.label.as_deref());
        opt_string(out, d.branch.as_deref());
    }
    if !d.inputs.is_empty() {
        sections |= S_INPUTS;
        let implicit = site.is_some_and(|cs| {
            d.inputs.len() <= cs.inputs.len()
                && d.inputs
                    .iter()
                    .zip(cs.inputs)
                    .all(|((k, _), n)| matches!(k, Cow::Borrowed(k) if std::ptr::eq(*k, *n)))
        });
        if implicit {
            head.flags |= IMPLICIT_KEYS;
            for (_, v) in &d.inputs {
                value(out, v);
            }
        } else {
            for (k, v) in &d.inputs {
                string(out, k);
                value(out, v);
            }
        }
    }
    if let Some(v) = &d.output {
        sections |= S_OUTPUT;
        value(out, v);
    }
    if let Some(m) = &d.status.message {
        sections |= S_STATUS_MSG;
        string(out, m);
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
    if !d.attributes.is_empty() {
        sections |= S_ATTRS;
        pairs(out, &d.attributes);
    }
    if !d.tags.is_empty() {
        sections |= S_TAGS;
        pairs(out, &d.tags);
    }
    if !d.events.is_empty() {
        sections |= S_EVENTS;
        events(out, &d.events);
    }
    if let Some(s) = &d.trace_state {
        sections |= S_STATE;
        string(out, s);
    }
    let len = (out.len() - at) as u64;
    out[at] = len << 32 | u64::from(sections) << 16 | (kind_code(d.kind) as u64) << 8 | d.status.code as u64;
    out[at + HEADER_WORDS - 1] =
        u64::from(head.flags) | u64::from(head.trace_flags) << 8 | (d.inputs.len().min(0xffff) as u64) << 16;
}

fn kind_code(k: crate::span::SpanKind) -> u8 {
    k as u8
}

fn pairs<K: AsRef<str>>(out: &mut Vec<u64>, entries: &[(K, Value)]) {
    out.push(entries.len() as u64);
    for (k, v) in entries {
        string(out, k.as_ref());
        value(out, v);
    }
}

fn events(out: &mut Vec<u64>, events: &[Event]) {
    out.push(events.len() as u64);
    for e in events {
        string(out, &e.name);
        out.push(e.time_unix_nano);
        pairs(out, &e.attributes);
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
pub(super) fn string(out: &mut Vec<u64>, s: &str) {
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
#[inline]
pub(super) fn value(out: &mut Vec<u64>, v: &Value) {
    match v {
        Value::Null => out.push(T_NULL),
        Value::Bool(false) => out.push(T_FALSE),
        Value::Bool(true) => out.push(T_TRUE),
        Value::U64(n) if *n <= u64::from(u32::MAX) => out.push(T_U64_SMALL | n << 32),
        Value::U64(n) => out.extend_from_slice(&[T_U64, *n]),
        Value::I64(n) if i32::try_from(*n).is_ok() => out.push(T_I64_SMALL | u64::from(*n as i32 as u32) << 32),
        Value::I64(n) => out.extend_from_slice(&[T_I64, *n as u64]),
        Value::F64(f) => out.extend_from_slice(&[T_F64, f.to_bits()]),
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

fn nested(out: &mut Vec<u64>, tag: u64, count: usize, elements: impl FnOnce(&mut Vec<u64>)) {
    out.push(tag | (count.min(u32::MAX as usize) as u64) << 32);
    let at = out.len();
    out.push(0);
    elements(out);
    out[at] = (out.len() - at - 1) as u64;
}
