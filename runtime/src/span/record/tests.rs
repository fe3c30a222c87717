use std::borrow::Cow;

use proptest::prelude::*;

use super::*;
use crate::span::testgen::spans;
use crate::span::{SpanId, SpanKind, StatusCode, TraceId, Value};

/// Spans compared by their `Debug` text, where `NaN` equals `NaN`.
fn same(a: &[SpanData], b: &[SpanData]) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 8 } else { 400 }))]

    #[test]
    fn every_field_survives_the_record(batch in proptest::collection::vec(spans(), 0..4)) {
        let records = Batch::from_spans(&batch);
        prop_assert_eq!(records.len(), batch.len());
        let back = records.to_vec();
        prop_assert!(same(&back, &batch), "{:?}\n!=\n{:?}", back, batch);
    }

    #[test]
    fn a_cut_or_damaged_record_reads_without_panicking(span in spans(), cut in 0usize..64, flip in any::<(usize, u64)>()) {
        let b = Batch::from_spans(&[span]);
        let words = &b.inner.words;
        let mut damaged = words[..words.len().saturating_sub(cut)].to_vec();
        if !damaged.is_empty() {
            let i = flip.0 % damaged.len();
            damaged[i] ^= flip.1;
        }
        let r = SpanRef::new(&damaged, &[]);
        let _ = r.to_data();
        let mut flat = 0;
        r.for_each_flat_attribute(|_, _, _| flat += 1);
    }
}

static ADD: Callsite = Callsite::new("add", "my::math", &["a", "b"]).with_branch("fast");

fn recording() -> Recording {
    let mut rec = Recording::empty();
    rec.site = Some(&ADD);
    rec.data.trace_id = TraceId(7 << 64 | 9);
    rec.data.span_id = SpanId(3);
    rec.data.parent_span_id = SpanId(2);
    rec.data.trace_flags = 1;
    rec.data.inputs.push((Cow::Borrowed(ADD.inputs[0]), Value::U64(1)));
    rec.data.inputs.push((Cow::Borrowed(ADD.inputs[1]), Value::U64(2)));
    rec.data.output = Some(Value::U64(3));
    rec.start = crate::clock::now();
    rec.end = rec.start + 1000;
    rec
}

fn one(rec: &Recording, site_id: u32) -> Batch {
    let mut b = BatchBuilder::default();
    encode_recording(&mut b.words, rec, site_id, 5);
    b.close_record();
    b.finish()
}

#[test]
fn a_traced_add_is_twelve_words_named_by_its_callsite() {
    let rec = recording();
    let b = one(&rec, ADD.id());
    assert_eq!(b.encoded_len(), 96, "9 header words, 2 inputs and an output of one word each");
    let s = b.get(0).unwrap();
    assert_eq!((s.name(), s.target(), s.branch(), s.label()), ("add", "my::math", Some("fast"), None));
    assert_eq!(s.inputs().collect::<Vec<_>>(), [("a", ValueRef::U64(1)), ("b", ValueRef::U64(2))]);
    assert_eq!(s.output(), Some(ValueRef::U64(3)));
    assert_eq!(
        (s.trace_id(), s.span_id(), s.parent_span_id(), s.thread_id()),
        (rec.data.trace_id, SpanId(3), SpanId(2), 5)
    );
    assert_eq!(s.start_time_unix_nano(), crate::clock::unix_nanos(rec.start));
    assert_eq!(s.duration_ns(), crate::clock::nanos_between(rec.start, rec.end));
    let d = s.to_data();
    assert!(matches!(d.name, Cow::Borrowed("add")), "callsite names are not copied");
    assert_eq!(d.input("b"), Some(&Value::U64(2)));
}

#[test]
fn inputs_not_in_callsite_order_keep_their_names() {
    let mut rec = recording();
    rec.data.inputs.swap(0, 1);
    rec.data.inputs.push(("extra".into(), Value::from("x")));
    let b = one(&rec, ADD.id());
    let names: Vec<_> = b.get(0).unwrap().inputs().map(|(k, _)| k).collect();
    assert_eq!(names, ["b", "a", "extra"]);
}

#[test]
fn without_a_callsite_the_names_travel_in_the_record() {
    let mut rec = recording();
    rec.site = None;
    rec.data.name = "manual".into();
    rec.data.kind = SpanKind::Server;
    rec.data.status.code = StatusCode::Error;
    let b = one(&rec, 0);
    let s = b.get(0).unwrap();
    assert_eq!((s.name(), s.kind(), s.status_code()), ("manual", SpanKind::Server, StatusCode::Error));
    assert_eq!(s.input("a"), Some(ValueRef::U64(1)));
}

#[test]
fn builders_read_whole_records_only() {
    let rec = recording();
    let mut words = Vec::new();
    encode_recording(&mut words, &rec, ADD.id(), 1);
    encode_recording(&mut words, &rec, ADD.id(), 2);
    let mut b = BatchBuilder::default();
    assert_eq!(b.push_records(&words[..words.len() - 1]), 1, "a record cut short is not read");
    assert_eq!(b.push_records(&words), 2);
    let batch = b.finish();
    assert_eq!(batch.iter().map(|s| s.thread_id()).collect::<Vec<_>>(), [1, 1, 2]);
}
