use std::borrow::Cow;

use proptest::prelude::*;

use super::*;
use crate::span::testgen::spans;
use crate::span::{Callsite, SpanId, SpanKind, StatusCode, TraceId, Value};

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
    rec.begin(TraceId(7 << 64 | 9), SpanId(3), SpanId(2), 1, false, Some(&ADD));
    rec.input(0, Value::U64(1));
    rec.input(1, Value::U64(2));
    rec.set_output(&Value::U64(3));
    rec.start_at(crate::clock::now());
    rec
}

/// `rec` ended 1000 ticks after its start, on thread 5.
fn one(rec: &mut Recording) -> Batch {
    let end = rec.start() + 1000;
    let mut b = BatchBuilder::default();
    assert_eq!(b.push_records(rec.finish(end, 5)), 1);
    b.finish()
}

#[test]
fn a_traced_add_is_twelve_words_named_by_its_callsite() {
    let mut rec = recording();
    let b = one(&mut rec);
    assert_eq!(b.encoded_len(), 96, "9 header words, 2 inputs and an output of one word each");
    let s = b.get(0).unwrap();
    assert_eq!((s.name(), s.target(), s.branch(), s.label()), ("add", "my::math", Some("fast"), None));
    assert_eq!(s.inputs().collect::<Vec<_>>(), [("a", ValueRef::U64(1)), ("b", ValueRef::U64(2))]);
    assert_eq!(s.output(), Some(ValueRef::U64(3)));
    assert_eq!(
        (s.trace_id(), s.span_id(), s.parent_span_id(), s.thread_id()),
        (TraceId(7 << 64 | 9), SpanId(3), SpanId(2), 5)
    );
    assert_eq!(s.start_time_unix_nano(), crate::clock::unix_nanos(rec.start()));
    assert_eq!(s.duration_ns(), crate::clock::nanos_between(rec.start(), rec.start() + 1000));
    let d = s.to_data();
    assert!(matches!(d.name, Cow::Borrowed("add")), "callsite names are not copied");
    assert_eq!(d.input("b"), Some(&Value::U64(2)));
}

#[test]
fn inputs_out_of_callsite_order_or_by_name_keep_their_names() {
    let mut rec = Recording::empty();
    rec.begin(TraceId(1), SpanId(1), SpanId(0), 1, false, Some(&ADD));
    rec.input(1, Value::U64(2));
    rec.input(0, Value::from("one"));
    rec.named_input("extra", &Value::from("x"));
    let b = one(&mut rec);
    let s = b.get(0).unwrap();
    let inputs: Vec<_> = s.inputs().map(|(k, v)| (k, v.to_value())).collect();
    assert_eq!(inputs, [("b", Value::U64(2)), ("a", Value::from("one")), ("extra", Value::from("x"))]);
}

#[test]
fn inputs_in_order_then_by_name_are_rewritten_with_keys() {
    let mut rec = recording();
    rec.named_input("late", &Value::Bool(true));
    let b = one(&mut rec);
    let names: Vec<_> = b.get(0).unwrap().inputs().map(|(k, v)| (k, v.to_value())).collect();
    assert_eq!(names, [("a", Value::U64(1)), ("b", Value::U64(2)), ("late", Value::Bool(true))]);
}

#[test]
fn without_a_callsite_the_names_and_the_rarer_parts_travel_in_the_record() {
    let mut rec = Recording::empty();
    rec.begin(TraceId(1), SpanId(1), SpanId(0), 1, false, None);
    rec.kind = SpanKind::Server;
    rec.status = StatusCode::Error;
    rec.named_input("a", &Value::U64(1));
    let x = rec.extra();
    x.name = "manual".into();
    x.status_message = Some("broke".into());
    x.attributes.push(("k".into(), Value::I64(-4)));
    x.trace_state = Some("vendor=1".into());
    rec.items = Some(3);
    rec.add_alloc((100, 60));
    let b = one(&mut rec);
    let s = b.get(0).unwrap();
    assert_eq!(
        (s.name(), s.kind(), s.status_code(), s.status_message()),
        ("manual", SpanKind::Server, StatusCode::Error, Some("broke"))
    );
    assert_eq!(s.input("a"), Some(ValueRef::U64(1)));
    assert_eq!(s.attribute("k"), Some(ValueRef::I64(-4)));
    assert_eq!(
        (s.items(), s.alloc_bytes(), s.alloc_peak(), s.trace_state()),
        (Some(3), Some(100), Some(60), Some("vendor=1"))
    );
    rec.reset();
    let b = one(&mut rec);
    let s = b.get(0).unwrap();
    assert_eq!(
        (s.status_code(), s.attributes().count(), s.items(), s.inputs().count()),
        (StatusCode::Unset, 0, None, 0),
        "reset"
    );
}

#[test]
fn builders_read_whole_records_only() {
    let mut words = Vec::new();
    for thread in [1, 2] {
        let mut rec = recording();
        words.extend_from_slice(rec.finish(1, thread));
    }
    let mut b = BatchBuilder::default();
    assert_eq!(b.push_records(&words[..words.len() - 1]), 1, "a record cut short is not read");
    assert_eq!(b.push_records(&words), 2);
    let batch = b.finish();
    assert_eq!(batch.iter().map(|s| s.thread_id()).collect::<Vec<_>>(), [1, 1, 2]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 8 } else { 200 }))]

    /// The worker cuts batches off its pending records into reused memory: the front batch and
    /// what stays are the same spans, in order, whatever the reused buffers held before.
    #[test]
    fn a_batch_cut_into_reused_memory_keeps_every_span(
        batch in proptest::collection::vec(spans(), 1..6),
        cut in 0usize..7,
        junk in proptest::collection::vec(spans(), 0..3),
    ) {
        let all = Batch::from_spans(&batch);
        let mut pending = BatchBuilder::default();
        prop_assert_eq!(pending.push_records(&all.inner.words), batch.len());
        let spare = Batch::from_spans(&junk).into_buffers().expect("nothing else holds it");
        let front = pending.take_front(cut, spare);
        let rest = pending.take_front(usize::MAX, Buffers::default());
        let n = cut.min(batch.len());
        prop_assert!(same(&front.to_vec(), &batch[..n]));
        prop_assert!(same(&rest.to_vec(), &batch[n..]));
    }
}

#[test]
fn only_a_batch_nobody_else_holds_gives_its_memory_back() {
    let b = one(&mut recording());
    let kept = b.clone();
    assert!(b.into_buffers().is_none(), "an exporter still holds a clone");
    assert!(kept.into_buffers().is_some());
}
