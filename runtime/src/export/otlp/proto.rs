//! Conversion of [`SpanData`] to the OTLP protobuf types of the `opentelemetry-proto` crate.
//!
//! [`RequestBuffer`] fills one `ExportTraceServiceRequest` in place, batch after batch: strings
//! and vectors of the previous request are cleared and refilled, not freed and allocated again,
//! so a steady stream of batches allocates next to nothing here, and keys such as
//! `tracewell.input.<arg>` are written into the key's string without `format!`.

use std::borrow::Cow;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span, status};
use prost::Message;

use crate::span::{Event, SpanData, SpanKind, StatusCode, Value};

/// The attribute that marks a span whose future or stream was dropped before completing
/// (exported with status ERROR, since OTLP has no "cancelled").
pub const CANCELLED_ATTRIBUTE: &str = crate::export::otlp_cancelled_key();

/// `SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK` and `SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK` of trace.proto.
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;

/// Encoded requests larger than this do not keep their request for the next batch, so one
/// unusually large batch does not pin its memory for the exporter's life.
const KEEP_UP_TO_BYTES: usize = 8 << 20;

/// The key of `ExportTraceServiceRequest.resource_spans`: field 1, length-delimited.
const RESOURCE_SPANS_TAG: u8 = 1 << 3 | 2;

/// One export request, kept between batches and refilled in place.
///
/// Each request has one resource and the spans grouped by scope (the module path that made
/// them, `tracewell` when unknown), in batch order within each scope.
#[derive(Debug, Default)]
pub(crate) struct RequestBuffer {
    request: ExportTraceServiceRequest,
    /// While filling: how many spans each scope of `request` has so far.
    filled: Vec<usize>,
    /// The size of the last encoded request, to size the next one's buffer.
    last_len: usize,
}

impl RequestBuffer {
    /// The request for `batch`, overwriting the previous one.
    pub(crate) fn fill(&mut self, resource: &Resource, batch: &[SpanData]) -> &ExportTraceServiceRequest {
        let resource_spans = &mut self.request.resource_spans;
        resource_spans.truncate(1);
        let ResourceSpans { resource: dst_resource, scope_spans: scopes, schema_url } = slot(resource_spans, 0);
        // The resource rarely changes: compared, not copied, per request.
        if dst_resource.as_ref() != Some(resource) {
            *dst_resource = Some(resource.clone());
        }
        schema_url.clear();
        let filled = &mut self.filled;
        filled.clear();
        let mut last = usize::MAX;
        for s in batch {
            let name: &str = if s.target.is_empty() { "tracewell" } else { &s.target };
            // Spans of one scope usually come together: try the last one first.
            let i = if last < filled.len() && scope_name(&scopes[last]) == name {
                last
            } else {
                match (0..filled.len()).find(|&i| scope_name(&scopes[i]) == name) {
                    Some(i) => i,
                    None => {
                        fill_scope(slot(scopes, filled.len()), name);
                        filled.push(0);
                        filled.len() - 1
                    }
                }
            };
            last = i;
            fill_span(slot(&mut scopes[i].spans, filled[i]), s);
            filled[i] += 1;
        }
        scopes.truncate(filled.len());
        for (scope, &n) in scopes.iter_mut().zip(filled.iter()) {
            scope.spans.truncate(n);
        }
        &self.request
    }

    /// The request for `batch` in protobuf encoding.
    pub(crate) fn encode(&mut self, resource: &Resource, batch: &[SpanData]) -> Vec<u8> {
        self.fill(resource, batch);
        let request = &self.request;
        // What `request.encode_to_vec()` writes, the request being its one `ResourceSpans`
        // (field 1): the tag byte, then the resource spans length-delimited. prost computes the
        // length of every nested message again at each enclosing level; this skips the
        // outermost pass over the whole request.
        let mut bytes = Vec::with_capacity(self.last_len + self.last_len / 8);
        for rs in &request.resource_spans {
            bytes.push(RESOURCE_SPANS_TAG);
            rs.encode_length_delimited(&mut bytes).expect("a Vec grows as needed");
        }
        if bytes.len() > KEEP_UP_TO_BYTES {
            *self = RequestBuffer::default();
        } else {
            self.last_len = bytes.len();
        }
        bytes
    }
}

/// The element at `i`, pushed as a default value when `i` is the length.
fn slot<T: Default>(v: &mut Vec<T>, i: usize) -> &mut T {
    if i == v.len() {
        v.push(T::default());
    }
    &mut v[i]
}

fn set_str(dst: &mut String, parts: &[&str]) {
    dst.clear();
    for p in parts {
        dst.push_str(p);
    }
}

fn set_bytes(dst: &mut Vec<u8>, src: &[u8]) {
    dst.clear();
    dst.extend_from_slice(src);
}

fn scope_name(s: &ScopeSpans) -> &str {
    s.scope.as_ref().map_or("", |x| x.name.as_str())
}

fn fill_scope(dst: &mut ScopeSpans, name: &str) {
    let ScopeSpans { scope, spans: _, schema_url } = dst;
    let InstrumentationScope { name: scope_name, version, attributes, dropped_attributes_count } =
        scope.get_or_insert_default();
    set_str(scope_name, &[name]);
    version.clear();
    attributes.clear();
    *dropped_attributes_count = 0;
    schema_url.clear();
}

/// `value` in OTLP form, written over what `dst` held.
fn fill_any(dst: &mut AnyValue, value: &Value) {
    use any_value::Value as V;
    let current = &mut dst.value;
    let string = |current: &mut Option<V>| match current.take() {
        Some(V::StringValue(mut s)) => {
            s.clear();
            s
        }
        _ => String::new(),
    };
    *current = match value {
        Value::Null => None,
        Value::Bool(b) => Some(V::BoolValue(*b)),
        Value::I64(i) => Some(V::IntValue(*i)),
        Value::U64(u) => Some(match i64::try_from(*u) {
            Ok(i) => V::IntValue(i),
            Err(_) => {
                use std::fmt::Write;
                let mut s = string(current);
                let _ = write!(s, "{u}");
                V::StringValue(s)
            }
        }),
        Value::F64(f) => Some(V::DoubleValue(*f)),
        Value::Str(text) => {
            let mut s = string(current);
            s.push_str(text);
            Some(V::StringValue(s))
        }
        Value::Opaque(t) => {
            let mut s = string(current);
            s.extend(["<", t, ">"]);
            Some(V::StringValue(s))
        }
        Value::Bytes(b) => {
            let mut bytes = match current.take() {
                Some(V::BytesValue(v)) => v,
                _ => Vec::new(),
            };
            set_bytes(&mut bytes, b);
            Some(V::BytesValue(bytes))
        }
        Value::List(l) => {
            let mut array = match current.take() {
                Some(V::ArrayValue(a)) => a,
                _ => ArrayValue::default(),
            };
            array.values.truncate(l.len());
            for (i, v) in l.iter().enumerate() {
                fill_any(slot(&mut array.values, i), v);
            }
            Some(V::ArrayValue(array))
        }
        Value::Map(m) => {
            let mut list = match current.take() {
                Some(V::KvlistValue(l)) => l,
                _ => KeyValueList::default(),
            };
            list.values.truncate(m.len());
            for (i, (k, v)) in m.iter().enumerate() {
                fill_kv(slot(&mut list.values, i), &[k], v);
            }
            Some(V::KvlistValue(list))
        }
    };
}

/// An attribute whose key is `key_parts` joined, written over what `dst` held.
fn fill_kv(dst: &mut KeyValue, key_parts: &[&str], value: &Value) {
    set_str(&mut dst.key, key_parts);
    fill_any(dst.value.get_or_insert_default(), value);
    dst.key_strindex = 0;
}

fn kind(k: SpanKind) -> i32 {
    (match k {
        SpanKind::Internal => span::SpanKind::Internal,
        SpanKind::Server => span::SpanKind::Server,
        SpanKind::Client => span::SpanKind::Client,
        SpanKind::Producer => span::SpanKind::Producer,
        SpanKind::Consumer => span::SpanKind::Consumer,
    }) as i32
}

fn fill_event(dst: &mut span::Event, e: &Event) {
    let span::Event { time_unix_nano, name, attributes, dropped_attributes_count } = dst;
    *time_unix_nano = e.time_unix_nano;
    set_str(name, &[&e.name]);
    attributes.truncate(e.attributes.len());
    for (i, (k, v)) in e.attributes.iter().enumerate() {
        fill_kv(slot(attributes, i), &[k], v);
    }
    *dropped_attributes_count = 0;
}

/// One span in OTLP form, written over what `dst` held.
fn fill_span(dst: &mut Span, s: &SpanData) {
    // Every field is named, so a field added to `Span` cannot keep a previous span's value.
    let Span {
        trace_id,
        span_id,
        trace_state,
        parent_span_id,
        flags,
        name,
        kind: dst_kind,
        start_time_unix_nano,
        end_time_unix_nano,
        attributes,
        dropped_attributes_count,
        events,
        dropped_events_count,
        links,
        dropped_links_count,
        status: dst_status,
    } = dst;
    set_bytes(trace_id, &s.trace_id.to_bytes());
    set_bytes(span_id, &s.span_id.to_bytes());
    set_str(trace_state, &[s.trace_state.as_deref().unwrap_or("")]);
    *flags = u32::from(s.trace_flags);
    if s.parent_span_id.is_valid() {
        set_bytes(parent_span_id, &s.parent_span_id.to_bytes());
        *flags |= HAS_IS_REMOTE;
        if s.parent_is_remote {
            *flags |= IS_REMOTE;
        }
    } else {
        parent_span_id.clear();
    }
    set_str(name, &[&s.name]);
    *dst_kind = kind(s.kind);
    *start_time_unix_nano = s.start_time_unix_nano;
    *end_time_unix_nano = s.end_time_unix_nano;

    let mut n = 0;
    s.for_each_flat_attribute_parts(|prefix, key, v| {
        fill_kv(slot(attributes, n), &[prefix, key], v);
        n += 1;
    });
    let message = s.status.message.as_deref().unwrap_or("");
    let code = match s.status.code {
        StatusCode::Unset => None,
        StatusCode::Ok => Some((status::StatusCode::Ok, message)),
        StatusCode::Error => Some((status::StatusCode::Error, message)),
        StatusCode::Cancelled => {
            fill_kv(slot(attributes, n), &[CANCELLED_ATTRIBUTE], &Value::Bool(true));
            n += 1;
            Some((status::StatusCode::Error, if message.is_empty() { "cancelled" } else { message }))
        }
    };
    attributes.truncate(n);
    *dropped_attributes_count = 0;
    match code {
        None => *dst_status = None,
        Some((code, message)) => {
            let st = dst_status.get_or_insert_default();
            st.code = code as i32;
            set_str(&mut st.message, &[message]);
        }
    }

    events.truncate(s.events.len());
    for (i, e) in s.events.iter().enumerate() {
        fill_event(slot(events, i), e);
    }
    *dropped_events_count = 0;
    links.clear();
    *dropped_links_count = 0;
}

fn kv(key: &str, v: &Value) -> KeyValue {
    let mut out = KeyValue::default();
    fill_kv(&mut out, &[key], v);
    out
}

/// The resource every span of this process shares: `service.name`, the `telemetry.sdk.*` keys
/// and `OTEL_RESOURCE_ATTRIBUTES`.
pub(crate) fn resource(service_name: &str, extra: &[(String, String)]) -> Resource {
    let mut attributes = vec![
        kv("service.name", &Value::Str(Cow::Owned(service_name.to_owned()))),
        kv("telemetry.sdk.name", &Value::Str(Cow::Borrowed("tracewell"))),
        kv("telemetry.sdk.language", &Value::Str(Cow::Borrowed("rust"))),
        kv("telemetry.sdk.version", &Value::Str(Cow::Borrowed(env!("CARGO_PKG_VERSION")))),
    ];
    for (k, v) in extra {
        if k == "service.name" {
            continue;
        }
        attributes.push(kv(k, &Value::Str(Cow::Owned(v.clone()))));
    }
    Resource { attributes, dropped_attributes_count: 0, entity_refs: Vec::new() }
}

/// Parses `key=value,key=value` (values percent-decoded) as in `OTEL_RESOURCE_ATTRIBUTES` and
/// `OTEL_EXPORTER_OTLP_HEADERS`.
pub(crate) fn parse_pairs(var: &'static str, text: &str) -> Result<Vec<(String, String)>, crate::ConfigError> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            return Err(crate::ConfigError::Invalid {
                var,
                value: text.to_owned(),
                reason: format!("{part:?} is not key=value; expected a comma-separated list of key=value"),
            });
        };
        out.push((percent_decode(k.trim()), percent_decode(v.trim())));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::Event;
    use crate::{SpanId, TraceId};

    fn any(v: &Value) -> AnyValue {
        let mut out = AnyValue::default();
        fill_any(&mut out, v);
        out
    }

    fn one(s: &SpanData) -> Span {
        let mut out = Span::default();
        fill_span(&mut out, s);
        out
    }

    /// The conversion written plainly, building every message afresh: what a refilled request
    /// must equal.
    mod fresh {
        use super::super::*;
        use opentelemetry_proto::tonic::trace::v1::Status;

        pub fn any_value(v: &Value) -> AnyValue {
            use any_value::Value as V;
            let value = match v {
                Value::Null => None,
                Value::Bool(b) => Some(V::BoolValue(*b)),
                Value::I64(i) => Some(V::IntValue(*i)),
                Value::U64(u) => Some(match i64::try_from(*u) {
                    Ok(i) => V::IntValue(i),
                    Err(_) => V::StringValue(u.to_string()),
                }),
                Value::F64(f) => Some(V::DoubleValue(*f)),
                Value::Str(s) => Some(V::StringValue(s.to_string())),
                Value::Bytes(b) => Some(V::BytesValue(b.clone())),
                Value::List(l) => Some(V::ArrayValue(ArrayValue { values: l.iter().map(any_value).collect() })),
                Value::Map(m) => {
                    Some(V::KvlistValue(KeyValueList { values: m.iter().map(|(k, v)| kv(k.clone(), v)).collect() }))
                }
                Value::Opaque(t) => Some(V::StringValue(format!("<{t}>"))),
            };
            AnyValue { value }
        }

        pub fn kv(key: impl Into<String>, v: &Value) -> KeyValue {
            KeyValue { key: key.into(), value: Some(any_value(v)), ..Default::default() }
        }

        pub fn span(s: &SpanData) -> Span {
            let mut attributes = Vec::new();
            s.for_each_flat_attribute(|k, v| attributes.push(kv(k.into_owned(), v)));
            let message = s.status.message.as_deref().unwrap_or("").to_owned();
            let status = match s.status.code {
                StatusCode::Unset => None,
                StatusCode::Ok => Some(Status { message, code: status::StatusCode::Ok as i32 }),
                StatusCode::Error => Some(Status { message, code: status::StatusCode::Error as i32 }),
                StatusCode::Cancelled => {
                    attributes.push(kv(CANCELLED_ATTRIBUTE, &Value::Bool(true)));
                    let message = if message.is_empty() { "cancelled".to_owned() } else { message };
                    Some(Status { message, code: status::StatusCode::Error as i32 })
                }
            };
            let mut flags = u32::from(s.trace_flags);
            if s.parent_span_id.is_valid() {
                flags |= HAS_IS_REMOTE;
                if s.parent_is_remote {
                    flags |= IS_REMOTE;
                }
            }
            Span {
                trace_id: s.trace_id.to_bytes().to_vec(),
                span_id: s.span_id.to_bytes().to_vec(),
                trace_state: s.trace_state.as_deref().unwrap_or("").to_owned(),
                parent_span_id: if s.parent_span_id.is_valid() {
                    s.parent_span_id.to_bytes().to_vec()
                } else {
                    Vec::new()
                },
                flags,
                name: s.name.to_string(),
                kind: kind(s.kind),
                start_time_unix_nano: s.start_time_unix_nano,
                end_time_unix_nano: s.end_time_unix_nano,
                attributes,
                dropped_attributes_count: 0,
                events: s
                    .events
                    .iter()
                    .map(|e| span::Event {
                        time_unix_nano: e.time_unix_nano,
                        name: e.name.to_string(),
                        attributes: e.attributes.iter().map(|(k, v)| kv(k.to_string(), v)).collect(),
                        dropped_attributes_count: 0,
                    })
                    .collect(),
                dropped_events_count: 0,
                links: Vec::new(),
                dropped_links_count: 0,
                status,
            }
        }

        pub fn request(resource: &Resource, batch: &[SpanData]) -> ExportTraceServiceRequest {
            let mut scopes: Vec<ScopeSpans> = Vec::new();
            for s in batch {
                let name: &str = if s.target.is_empty() { "tracewell" } else { &s.target };
                let i = match scopes.iter().position(|sc| sc.scope.as_ref().is_some_and(|x| x.name == name)) {
                    Some(i) => i,
                    None => {
                        scopes.push(ScopeSpans {
                            scope: Some(InstrumentationScope { name: name.to_owned(), ..Default::default() }),
                            spans: Vec::new(),
                            schema_url: String::new(),
                        });
                        scopes.len() - 1
                    }
                };
                scopes[i].spans.push(span(s));
            }
            ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    resource: Some(resource.clone()),
                    scope_spans: scopes,
                    schema_url: String::new(),
                }],
            }
        }
    }

    /// A value of every kind, nested ones included, picked by `i`.
    fn value(i: u64) -> Value {
        match i % 11 {
            0 => Value::Null,
            1 => Value::Bool(i.is_multiple_of(2)),
            2 => Value::I64(-(i as i64)),
            3 => Value::U64(i),
            4 => Value::U64(u64::MAX - i),
            5 => Value::F64(i as f64 / 4.0),
            6 => Value::Str(format!("text {i}").into()),
            7 => Value::Bytes(vec![i as u8; (i % 5) as usize]),
            8 => Value::List((0..i % 4).map(|j| value(i + j * 3 + 1)).collect()),
            9 => Value::Map((0..i % 3).map(|j| (format!("k{j}"), value(i + j + 2))).collect()),
            _ => Value::Opaque("Conn"),
        }
    }

    /// `n` spans of varied shapes; `seed` shifts which shape each span gets.
    fn varied(n: u64, seed: u64) -> Vec<SpanData> {
        (0..n)
            .map(|j| {
                let i = j + seed;
                let mut s = SpanData {
                    trace_id: TraceId(u128::from(i) + 1),
                    span_id: SpanId(i + 1),
                    parent_span_id: if i.is_multiple_of(3) { SpanId::INVALID } else { SpanId(i + 1000) },
                    parent_is_remote: i % 4 == 1,
                    trace_flags: (i % 2) as u8,
                    trace_state: i.is_multiple_of(5).then(|| format!("k=v{i}").into()),
                    name: format!("op{}", i % 7).into(),
                    target: ["app::a", "app::b", "", "app::c"][(i % 4) as usize].into(),
                    kind: [
                        SpanKind::Internal,
                        SpanKind::Server,
                        SpanKind::Client,
                        SpanKind::Producer,
                        SpanKind::Consumer,
                    ][(i % 5) as usize],
                    start_time_unix_nano: 1_700_000_000_000_000_000 + i,
                    end_time_unix_nano: 1_700_000_000_000_000_500 + i,
                    status: crate::Status {
                        code: [StatusCode::Unset, StatusCode::Ok, StatusCode::Error, StatusCode::Cancelled]
                            [(i % 4) as usize],
                        message: i.is_multiple_of(3).then(|| format!("why {i}").into()),
                    },
                    output: i.is_multiple_of(2).then(|| value(i)),
                    label: i.is_multiple_of(6).then(|| "io".into()),
                    branch: (i % 2 == 1).then(|| "hit".into()),
                    polls: (i % 3) as u32,
                    items: i.is_multiple_of(4).then_some(i),
                    alloc_bytes: i.is_multiple_of(5).then_some(i * 8),
                    thread_id: i % 3,
                    ..Default::default()
                };
                for k in 0..i % 4 {
                    s.inputs.push((format!("arg{k}").into(), value(i + k)));
                    s.attributes.push((format!("attr{k}").into(), value(i * 7 + k)));
                }
                for k in 0..i % 3 {
                    s.tags.push((format!("tag{k}").into(), value(i + 5 + k)));
                    s.events.push(Event {
                        name: format!("ev{k}").into(),
                        time_unix_nano: 1_700_000_000_000_000_100 + k,
                        attributes: (0..k).map(|a| (format!("e{a}").into(), value(i + a))).collect(),
                    });
                }
                s
            })
            .collect()
    }

    #[test]
    fn refilled_requests_equal_fresh_conversions() {
        let resource = resource("svc", &[("service.version".into(), "1".into())]);
        let mut buffer = RequestBuffer::default();
        // Growing, shrinking and reshaped batches, each filled over the one before.
        for (n, seed) in [(40, 0), (5, 3), (64, 17), (0, 0), (33, 101), (1, 2), (50, 7)] {
            let batch = varied(n, seed);
            let expected = fresh::request(&resource, &batch);
            assert_eq!(buffer.fill(&resource, &batch), &expected, "batch of {n} from seed {seed}");
            assert_eq!(buffer.encode(&resource, &batch), expected.encode_to_vec());
        }
        let other = super::resource("other", &[]);
        let batch = varied(9, 4);
        assert_eq!(buffer.fill(&other, &batch), &fresh::request(&other, &batch));
    }

    #[test]
    fn cancelled_becomes_error_with_attribute() {
        let s = SpanData {
            trace_id: TraceId(7),
            span_id: SpanId(9),
            status: crate::Status { code: StatusCode::Cancelled, message: None },
            ..Default::default()
        };
        let p = one(&s);
        let st = p.status.unwrap();
        assert_eq!(st.code, status::StatusCode::Error as i32);
        assert_eq!(st.message, "cancelled");
        assert!(p.attributes.iter().any(|a| a.key == CANCELLED_ATTRIBUTE));
        assert!(p.parent_span_id.is_empty());
        assert_eq!(p.trace_id.len(), 16);
    }

    #[test]
    fn big_u64_is_a_string_and_pairs_decode() {
        assert_eq!(any(&Value::U64(u64::MAX)).value, Some(any_value::Value::StringValue(u64::MAX.to_string())));
        let p = parse_pairs("X", "a=1, b=x%2Cy").unwrap();
        assert_eq!(p, [("a".to_owned(), "1".to_owned()), ("b".to_owned(), "x,y".to_owned())]);
        assert!(
            parse_pairs("OTEL_EXPORTER_OTLP_HEADERS", "nokey")
                .unwrap_err()
                .to_string()
                .starts_with("OTEL_EXPORTER_OTLP_HEADERS=")
        );
    }

    #[test]
    fn spans_group_by_scope() {
        let mk = |t: &'static str| SpanData { target: t.into(), ..Default::default() };
        let mut buffer = RequestBuffer::default();
        let r = buffer.fill(&resource("svc", &[]), &[mk("a"), mk("b"), mk("a")]);
        let scopes = &r.resource_spans[0].scope_spans;
        assert_eq!(scopes.len(), 2);
        assert_eq!(scopes[0].spans.len(), 2);
    }
}
