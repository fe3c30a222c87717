//! Arbitrary spans for property tests: every field, nested values, text that needs escaping,
//! non-finite floats.

use proptest::prelude::*;

use super::{Event, SpanData, SpanId, SpanKind, Status, StatusCode, TraceId, Value};

pub(crate) fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-z\"\\\\\n\t\u{1}é]{0,20}"]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::I64),
        any::<u64>().prop_map(Value::U64),
        any::<f64>().prop_map(Value::F64),
        prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY), Just(-0.0), Just(1e300)]
            .prop_map(Value::F64),
        text().prop_map(|s| Value::Str(s.into())),
        proptest::collection::vec(any::<u8>(), 0..6).prop_map(Value::Bytes),
        Just(Value::Opaque("my::Type".into())),
    ]
}

pub(crate) fn values() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::List),
            proptest::collection::vec((text(), inner), 0..4).prop_map(Value::Map),
        ]
    })
}

fn pairs() -> impl Strategy<Value = Vec<(String, Value)>> {
    proptest::collection::vec((text(), values()), 0..3)
}

prop_compose! {
    pub(crate) fn spans()(
        ids in (any::<u128>(), any::<u64>(), any::<u64>()),
        name in text(), target in text(), message in proptest::option::of(text()),
        inputs in pairs(), attributes in pairs(), tags in pairs(), output in proptest::option::of(values()),
        label in proptest::option::of(text()), branch in proptest::option::of(text()),
        counts in (any::<u32>(), any::<u32>(), any::<u64>(), any::<u64>()),
        optional in proptest::collection::vec(proptest::option::of(any::<u64>()), 4),
        events in proptest::collection::vec((text(), any::<u64>(), pairs()), 0..3),
        times in (any::<u64>(), any::<u64>()),
        codes in (0..5usize, 0..4usize, any::<u8>(), any::<bool>(), proptest::option::of(text())),
    ) -> SpanData {
        let key = |k: String| -> crate::span::Key { k.into() };
        SpanData {
            trace_id: TraceId(ids.0),
            span_id: SpanId(ids.1),
            parent_span_id: SpanId(ids.2 % 3),
            name: name.into(),
            target: target.into(),
            kind: [SpanKind::Internal, SpanKind::Server, SpanKind::Client, SpanKind::Producer, SpanKind::Consumer][codes.0],
            trace_flags: codes.2,
            parent_is_remote: codes.3,
            trace_state: codes.4.map(|s| s.into()),
            start_time_unix_nano: times.0,
            end_time_unix_nano: times.1,
            status: Status {
                code: [StatusCode::Unset, StatusCode::Ok, StatusCode::Error, StatusCode::Cancelled][codes.1],
                message: message.map(Into::into),
            },
            inputs: inputs.into_iter().map(|(k, v)| (key(k), v)).collect(),
            output,
            attributes: attributes.into_iter().map(|(k, v)| (key(k), v)).collect(),
            tags: tags.into_iter().map(|(k, v)| (key(k), v)).collect(),
            label: label.map(Into::into),
            branch: branch.map(Into::into),
            events: events
                .into_iter()
                .map(|(n, t, a)| Event {
                    name: n.into(),
                    time_unix_nano: t,
                    attributes: a.into_iter().map(|(k, v)| (key(k), v)).collect(),
                })
                .collect(),
            polls: counts.0 % 3,
            pending_polls: counts.1,
            busy_ns: counts.2,
            thread_id: counts.3 % (1 << 32),
            items: optional[0],
            first_item_ns: optional[1],
            alloc_bytes: optional[2],
            alloc_peak: optional[3],
        }
    }
}
