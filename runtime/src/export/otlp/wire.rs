//! The OTLP export request written straight from span records to protobuf wire format.
//!
//! Building `opentelemetry-proto`'s message structs and letting prost encode them allocates a
//! string or vector for every key and value and, worse, makes prost compute the length of each
//! nested message again at every enclosing level. This writer produces the same bytes — the
//! tests compare them with prost's encoding of the `opentelemetry-proto` types, field for field
//! and byte for byte — in one pass: a nested message gets a one-byte length placeholder, and the
//! rare body of 128 bytes or more is moved up by the extra length bytes once written.
//!
//! Field numbers and order follow `opentelemetry-proto`'s generated types (prost writes fields
//! in tag order; proto3 scalars only when not zero or empty, oneof members and present messages
//! always). The resource is encoded by prost, once, and copied into each request.

use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::status;
use prost::Message;

use super::proto::{HAS_IS_REMOTE, IS_REMOTE, span_kind};
use crate::span::{Batch, SpanRef, StatusCode, ValueRef};

/// Wire types.
const VARINT: u32 = 0;
const I64: u32 = 1;
const LEN: u32 = 2;
const I32: u32 = 5;

/// Encoded requests larger than this do not keep their buffer's size for the next batch.
const KEEP_UP_TO_BYTES: usize = 8 << 20;

/// Encodes export requests for one exporter, keeping the encoded resource and its scratch space
/// between batches.
#[derive(Debug, Default)]
pub(crate) struct RequestEncoder {
    resource: Option<(Resource, Vec<u8>)>,
    /// Per span of the batch, the index of its scope in `scopes`.
    scope_of: Vec<u32>,
    /// The batch's span indices grouped by scope, scopes in order of first appearance.
    order: Vec<u32>,
    last_len: usize,
}

impl RequestEncoder {
    /// The `ExportTraceServiceRequest` for `batch` in protobuf encoding: one `ResourceSpans`
    /// with `resource`, and the spans grouped by scope (the module path that made them,
    /// `tracewell` when unknown), in batch order within each scope.
    pub(crate) fn encode(&mut self, resource: &Resource, batch: &Batch) -> Vec<u8> {
        if self.resource.as_ref().is_none_or(|(r, _)| r != resource) {
            self.resource = Some((resource.clone(), resource.encode_to_vec()));
        }
        let spans: Vec<SpanRef<'_>> = batch.iter().collect();
        let scopes = self.group(&spans);
        let mut out = Vec::with_capacity(self.last_len + self.last_len / 8 + 64);
        let w = &mut out;
        let resource_spans = begin_reserving(w, 1, 3);
        if let Some((_, encoded)) = &self.resource {
            key(w, 1, LEN);
            varint(w, encoded.len() as u64);
            w.extend_from_slice(encoded);
        }
        let mut at = 0;
        for (name, count) in scopes {
            let scope_spans = begin_reserving(w, 2, 3);
            let scope = begin(w, 1);
            string(w, 1, name);
            end(w, scope);
            for &i in &self.order[at..at + count] {
                let s = begin_reserving(w, 2, 2);
                span_body(w, &spans[i as usize]);
                end(w, s);
            }
            at += count;
            end(w, scope_spans);
        }
        end(w, resource_spans);
        self.last_len = if out.len() > KEEP_UP_TO_BYTES { 0 } else { out.len() };
        out
    }

    /// Fills `order` with the spans grouped by scope; returns each scope's name and span count.
    fn group<'a>(&mut self, batch: &[SpanRef<'a>]) -> Vec<(&'a str, usize)> {
        let mut scopes: Vec<(&'a str, usize)> = Vec::new();
        self.scope_of.clear();
        let mut last = usize::MAX;
        for s in batch {
            let target = s.target();
            let name: &'a str = if target.is_empty() { "tracewell" } else { target };
            // Spans of one scope usually come together: try the last one first.
            let i = if last < scopes.len() && scopes[last].0 == name {
                last
            } else {
                scopes.iter().position(|(n, _)| *n == name).unwrap_or_else(|| {
                    scopes.push((name, 0));
                    scopes.len() - 1
                })
            };
            scopes[i].1 += 1;
            self.scope_of.push(i as u32);
            last = i;
        }
        // A counting sort: stable, so each scope keeps the batch's order.
        let mut next: Vec<usize> = scopes
            .iter()
            .scan(0, |start, &(_, n)| {
                let s = *start;
                *start += n;
                Some(s)
            })
            .collect();
        self.order.clear();
        self.order.resize(batch.len(), 0);
        for (i, &scope) in self.scope_of.iter().enumerate() {
            self.order[next[scope as usize]] = i as u32;
            next[scope as usize] += 1;
        }
        scopes
    }
}

fn varint(w: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        w.push(v as u8 | 0x80);
        v >>= 7;
    }
    w.push(v as u8);
}

fn key(w: &mut Vec<u8>, field: u32, wire_type: u32) {
    varint(w, u64::from(field << 3 | wire_type));
}

/// A length-delimited field being written: where its body starts and how many bytes were kept
/// before it for the length.
#[derive(Clone, Copy, Debug)]
struct Open {
    start: usize,
    reserved: usize,
}

/// Starts a length-delimited field expected to be shorter than 128 bytes; see [`end`].
fn begin(w: &mut Vec<u8>, field: u32) -> Open {
    begin_reserving(w, field, 1)
}

/// Starts a length-delimited field, keeping `reserved` bytes for its length: the size of the
/// varint of the length expected (2 for a span, 3 for a whole batch), so the body does not have
/// to move when it is done.
fn begin_reserving(w: &mut Vec<u8>, field: u32, reserved: usize) -> Open {
    key(w, field, LEN);
    w.resize(w.len() + reserved, 0);
    Open { start: w.len(), reserved }
}

/// Writes the length of the body of `open`, moving the body when its length's varint does not
/// take the bytes kept for it (the encoding stays minimal, as prost writes it).
fn end(w: &mut Vec<u8>, open: Open) {
    let len = w.len() - open.start;
    let mut prefix = [0u8; 10];
    let mut n = 0;
    let mut v = len as u64;
    while v >= 0x80 {
        prefix[n] = v as u8 | 0x80;
        v >>= 7;
        n += 1;
    }
    prefix[n] = v as u8;
    n += 1;
    let at = open.start - open.reserved;
    if n > open.reserved {
        w.resize(w.len() + n - open.reserved, 0);
        w.copy_within(open.start..open.start + len, at + n);
    } else if n < open.reserved {
        w.copy_within(open.start..open.start + len, at + n);
        w.truncate(at + n + len);
    }
    w[at..at + n].copy_from_slice(&prefix[..n]);
}

/// A proto3 `string` or `bytes` field made of `parts`: left out when empty.
fn bytes_parts(w: &mut Vec<u8>, field: u32, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    if len == 0 {
        return;
    }
    key(w, field, LEN);
    varint(w, len as u64);
    for p in parts {
        w.extend_from_slice(p);
    }
}

fn string(w: &mut Vec<u8>, field: u32, s: &str) {
    bytes_parts(w, field, &[s.as_bytes()]);
}

fn fixed64(w: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        key(w, field, I64);
        w.extend_from_slice(&v.to_le_bytes());
    }
}

fn uint(w: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        key(w, field, VARINT);
        varint(w, v);
    }
}

/// A `oneof` string member: written even when empty.
fn oneof_string(w: &mut Vec<u8>, field: u32, parts: &[&[u8]]) {
    key(w, field, LEN);
    varint(w, parts.iter().map(|p| p.len() as u64).sum());
    for p in parts {
        w.extend_from_slice(p);
    }
}

/// The body of an `AnyValue` holding `v` (`Null` is an `AnyValue` without a value).
fn any_value(w: &mut Vec<u8>, v: ValueRef<'_>) {
    match v {
        ValueRef::Null => {}
        ValueRef::Bool(b) => {
            key(w, 2, VARINT);
            w.push(u8::from(b));
        }
        ValueRef::I64(i) => {
            key(w, 3, VARINT);
            varint(w, i as u64);
        }
        ValueRef::U64(u) => match i64::try_from(u) {
            Ok(i) => {
                key(w, 3, VARINT);
                varint(w, i as u64);
            }
            // Past i64: as text, since OTLP integers are signed.
            Err(_) => oneof_string(w, 1, &[itoa::Buffer::new().format(u).as_bytes()]),
        },
        ValueRef::F64(f) => {
            key(w, 4, I64);
            w.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        ValueRef::Str(s) => oneof_string(w, 1, &[s.as_bytes()]),
        ValueRef::Opaque(t) => oneof_string(w, 1, &[b"<", t.as_bytes(), b">"]),
        ValueRef::Bytes(b) => oneof_string(w, 7, &[b]),
        ValueRef::List(items) => {
            let array = begin(w, 5);
            for item in items.iter() {
                let element = begin(w, 1);
                any_value(w, item);
                end(w, element);
            }
            end(w, array);
        }
        ValueRef::Map(fields) => {
            let list = begin(w, 6);
            for (k, item) in fields.iter() {
                let kv = begin(w, 1);
                key_value_body(w, &[k.as_bytes()], item);
                end(w, kv);
            }
            end(w, list);
        }
    }
}

/// The body of a `KeyValue` whose key is `key_parts` joined.
fn key_value_body(w: &mut Vec<u8>, key_parts: &[&[u8]], v: ValueRef<'_>) {
    bytes_parts(w, 1, key_parts);
    let value = begin(w, 2);
    any_value(w, v);
    end(w, value);
}

fn attribute(w: &mut Vec<u8>, field: u32, key_parts: &[&[u8]], v: ValueRef<'_>) {
    let kv = begin(w, field);
    key_value_body(w, key_parts, v);
    end(w, kv);
}

/// The body of one `Span`.
fn span_body(w: &mut Vec<u8>, s: &SpanRef<'_>) {
    bytes_parts(w, 1, &[&s.trace_id().to_bytes()]);
    bytes_parts(w, 2, &[&s.span_id().to_bytes()]);
    string(w, 3, s.trace_state().unwrap_or(""));
    let mut flags = u32::from(s.trace_flags());
    let parent = s.parent_span_id();
    if parent.is_valid() {
        bytes_parts(w, 4, &[&parent.to_bytes()]);
        flags |= HAS_IS_REMOTE;
        if s.parent_is_remote() {
            flags |= IS_REMOTE;
        }
    }
    string(w, 5, s.name());
    uint(w, 6, span_kind(s.kind()) as u64);
    fixed64(w, 7, s.start_time_unix_nano());
    fixed64(w, 8, s.end_time_unix_nano());
    s.for_each_flat_attribute(|prefix, name, v| attribute(w, 9, &[prefix.as_bytes(), name.as_bytes()], v));
    let message = s.status_message().unwrap_or("");
    let status = match s.status_code() {
        StatusCode::Unset => None,
        StatusCode::Ok => Some((status::StatusCode::Ok, message)),
        StatusCode::Error => Some((status::StatusCode::Error, message)),
        StatusCode::Cancelled => {
            attribute(w, 9, &[super::CANCELLED_ATTRIBUTE.as_bytes()], ValueRef::Bool(true));
            Some((status::StatusCode::Error, if message.is_empty() { "cancelled" } else { message }))
        }
    };
    for e in s.events() {
        let event = begin(w, 11);
        fixed64(w, 1, e.time_unix_nano);
        string(w, 2, e.name);
        for (k, v) in e.attributes {
            attribute(w, 3, &[k.as_bytes()], v);
        }
        end(w, event);
    }
    if let Some((code, message)) = status {
        let st = begin(w, 15);
        string(w, 2, message);
        uint(w, 3, code as u64);
        end(w, st);
    }
    if flags != 0 {
        key(w, 16, I32);
        w.extend_from_slice(&flags.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::otlp::proto::{reference, tests::varied};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

    #[test]
    fn same_bytes_as_prost_on_the_opentelemetry_proto_types() {
        let resource = super::super::proto::resource("svc", &[("service.version".into(), "1".into())]);
        let mut encoder = RequestEncoder::default();
        for (n, seed) in [(40, 0), (5, 3), (64, 17), (0, 0), (33, 101), (1, 2), (300, 7)] {
            let batch = varied(n, seed);
            let expected = reference::request(&resource, &batch);
            let bytes = encoder.encode(&resource, &Batch::from_spans(&batch));
            assert_eq!(ExportTraceServiceRequest::decode(&bytes[..]).unwrap(), expected, "{n} spans, seed {seed}");
            assert_eq!(bytes, expected.encode_to_vec(), "{n} spans, seed {seed}");
        }
        let other = super::super::proto::resource("other", &[]);
        let batch = varied(9, 4);
        assert_eq!(
            encoder.encode(&other, &Batch::from_spans(&batch)),
            reference::request(&other, &batch).encode_to_vec()
        );
    }

    #[test]
    fn long_bodies_get_their_full_length() {
        let mut w = Vec::new();
        for reserved in 1..=4 {
            for len in [0usize, 1, 127, 128, 300, 16_383, 16_384, 70_000, 2_097_152] {
                w.clear();
                w.push(9); // something before the field, which must stay as it is
                let start = begin_reserving(&mut w, 3, reserved);
                w.extend(std::iter::repeat_n(7u8, len));
                end(&mut w, start);
                let mut expected = vec![9];
                prost::encoding::bytes::encode(3, &vec![7u8; len], &mut expected);
                assert!(w == expected, "{len} bytes with {reserved} kept for the length");
            }
        }
    }
}
