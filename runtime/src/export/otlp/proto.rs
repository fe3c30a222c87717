//! [`SpanData`] as the OTLP protobuf types of the `opentelemetry-proto` crate: the resource the
//! exporters send, and the plain conversion of spans that defines what
//! [`super::wire::RequestEncoder`] writes (its tests compare the two byte for byte).

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, KeyValueList, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span;

use crate::span::Value;
#[cfg(test)]
use crate::span::{SpanData, StatusCode};

/// The attribute that marks a span whose future or stream was dropped before completing
/// (exported with status ERROR, since OTLP has no "cancelled").
pub const CANCELLED_ATTRIBUTE: &str = crate::span::attr::CANCELLED;

/// `SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK` and `SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK` of trace.proto.
pub(crate) const HAS_IS_REMOTE: u32 = 0x100;
pub(crate) const IS_REMOTE: u32 = 0x200;

/// The OTLP span kind.
pub(crate) fn span_kind(k: crate::SpanKind) -> span::SpanKind {
    use crate::SpanKind as K;
    match k {
        K::Internal => span::SpanKind::Internal,
        K::Server => span::SpanKind::Server,
        K::Client => span::SpanKind::Client,
        K::Producer => span::SpanKind::Producer,
        K::Consumer => span::SpanKind::Consumer,
    }
}

/// `v` as an OTLP `AnyValue`.
pub(crate) fn any_value(v: &Value) -> AnyValue {
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

/// An OTLP attribute.
pub(crate) fn kv(key: impl Into<String>, v: &Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(any_value(v)), ..Default::default() }
}

/// The reference conversion of spans to `opentelemetry-proto` messages, building every message
/// afresh: what [`super::wire::RequestEncoder`] must encode byte for byte.
#[cfg(test)]
pub(crate) mod reference {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, status};

    pub(crate) fn span(s: &SpanData) -> Span {
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
            parent_span_id: if s.parent_span_id.is_valid() { s.parent_span_id.to_bytes().to_vec() } else { Vec::new() },
            flags,
            name: s.name.to_string(),
            kind: span_kind(s.kind) as i32,
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

    pub(crate) fn request(resource: &Resource, batch: &[SpanData]) -> ExportTraceServiceRequest {
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
pub(crate) mod tests {
    use super::*;
    use crate::span::Event;
    use crate::{SpanId, SpanKind, TraceId};
    use opentelemetry_proto::tonic::trace::v1::status;

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
            _ => Value::Opaque("Conn".into()),
        }
    }

    /// `n` spans of varied shapes; `seed` shifts which shape each span gets.
    pub(crate) fn varied(n: u64, seed: u64) -> Vec<SpanData> {
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
    fn cancelled_becomes_error_with_attribute() {
        let s = SpanData {
            trace_id: TraceId(7),
            span_id: SpanId(9),
            status: crate::Status { code: StatusCode::Cancelled, message: None },
            ..Default::default()
        };
        let p = reference::span(&s);
        let st = p.status.unwrap();
        assert_eq!(st.code, status::StatusCode::Error as i32);
        assert_eq!(st.message, "cancelled");
        assert!(p.attributes.iter().any(|a| a.key == CANCELLED_ATTRIBUTE));
        assert!(p.parent_span_id.is_empty());
        assert_eq!(p.trace_id.len(), 16);
    }

    #[test]
    fn big_u64_is_a_string_and_pairs_decode() {
        assert_eq!(any_value(&Value::U64(u64::MAX)).value, Some(any_value::Value::StringValue(u64::MAX.to_string())));
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
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use prost::Message;
        let mk = |t: &'static str| SpanData { target: t.into(), ..Default::default() };
        let mut encoder = super::super::wire::RequestEncoder::default();
        let batch = crate::span::Batch::from_spans(&[mk("a"), mk("b"), mk("a"), mk("")]);
        let bytes = encoder.encode(&resource("svc", &[]), &batch);
        let r = ExportTraceServiceRequest::decode(&bytes[..]).unwrap();
        let scopes = &r.resource_spans[0].scope_spans;
        let shape: Vec<(&str, usize)> =
            scopes.iter().map(|s| (s.scope.as_ref().unwrap().name.as_str(), s.spans.len())).collect();
        assert_eq!(shape, [("a", 2), ("b", 1), ("tracewell", 1)]);
    }
}
