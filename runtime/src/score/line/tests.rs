//! The fast path agrees with the full reader on every line of a corpus: lines written by
//! tracewell's own writer over varied spans, hand-written edge cases, and every truncation and
//! many one-byte edits of writer lines.

use std::borrow::Cow;

use super::*;
use crate::span::{Event, SpanId, SpanKind, Status, StatusCode, TraceId, Value, attr};

/// Checks one line: a line the fast path takes, the full reader takes too, with the same sample;
/// and [`SampleLine::parse`] accepts and refuses what the full reader does, with the same error.
/// Returns whether the fast path took it.
fn agree(line: &str) -> bool {
    let full = SpanData::from_json_line(line);
    let fast = scan::sample(line);
    if let Some(f) = fast {
        match &full {
            Ok(p) => assert_eq!(
                SpanSample { name: f.name, branch: f.branch, ..f.fields },
                SpanSample::from(&p.span),
                "the fast path read this line differently: {line}"
            ),
            Err(e) => panic!("the fast path took a line the full reader refuses ({e}): {line}"),
        }
    }
    match (SampleLine::parse(line), &full) {
        (Ok(s), Ok(p)) => assert_eq!(s.sample(), SpanSample::from(&p.span), "{line}"),
        (Err(a), Err(b)) => assert_eq!(&a, b, "{line}"),
        (a, b) => panic!("SampleLine::parse gave {a:?}, the full reader {b:?}: {line}"),
    }
    fast.is_some()
}

fn line_of(span: &SpanData, service: &str) -> String {
    let mut out = Vec::new();
    span.write_json_line(service, &mut out);
    let text = String::from_utf8(out).unwrap();
    assert!(text.ends_with('\n'));
    text.trim_end_matches('\n').to_owned()
}

const PLAIN: &[&str] = &["add", "fetch", "get_user", "", "a b", "名前", "🦀 crab", "x/y:z", "tracewell.runtime.lag"];
const ODD: &[&str] = &["fetch \"x\"", "back\\slash", "new\nline", "tab\t", "\u{1}ctl", "\u{7f}del", "é\u{2028}"];

fn pick<'a>(rng: &mut fastrand::Rng, from: &[&'a str]) -> &'a str {
    from[rng.usize(..from.len())]
}

fn value(rng: &mut fastrand::Rng, depth: u32, odd: bool) -> Value {
    let text = |rng: &mut fastrand::Rng| {
        let t = if rng.bool() { pick(rng, PLAIN) } else { pick(rng, ODD) };
        Value::Str(Cow::Owned(t.to_owned()))
    };
    match rng.u8(..if depth < 2 { 12 } else { 9 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.bool()),
        2 => Value::I64(*[i64::MIN, -1, 0, 7, i64::MAX].get(rng.usize(..5)).unwrap()),
        3 => Value::U64(*[0, 1, 42, u64::MAX].get(rng.usize(..4)).unwrap()),
        4 => {
            let ordinary = [0.0, -0.0, 1.5, -2.25e-7, 3.0e10, 1e-300, 6.02e23];
            let huge = [1e300, f64::MAX, f64::MIN_POSITIVE, f64::NAN, f64::INFINITY, f64::NEG_INFINITY];
            Value::F64(if odd && rng.bool() {
                huge[rng.usize(..huge.len())]
            } else {
                ordinary[rng.usize(..ordinary.len())]
            })
        }
        5 | 6 => text(rng),
        7 => Value::Bytes(vec![0, 1, 0xfe, 0xff]),
        8 => Value::Opaque("my::Type".into()),
        9 => Value::List((0..rng.usize(..4)).map(|_| value(rng, depth + 1, odd)).collect()),
        _ => Value::Map(
            (0..rng.usize(..4)).map(|i| (format!("k{i}{}", pick(rng, ODD)), value(rng, depth + 1, odd))).collect(),
        ),
    }
}

/// A span with every kind of field; `odd` lets in names and branches that need escapes and
/// floats near `f64`'s limits, which the fast path leaves to the full reader.
fn span(rng: &mut fastrand::Rng, odd: bool) -> SpanData {
    let texts = if odd { [PLAIN, ODD].concat() } else { PLAIN.to_vec() };
    let mut s = SpanData {
        trace_id: TraceId(rng.u128(1..)),
        span_id: SpanId(rng.u64(1..)),
        parent_span_id: if rng.bool() { SpanId::INVALID } else { SpanId(rng.u64(1..)) },
        name: Cow::Owned(pick(rng, &texts).to_owned()),
        target: Cow::Borrowed(if rng.bool() { "app::module" } else { "" }),
        kind: [SpanKind::Internal, SpanKind::Server, SpanKind::Client, SpanKind::Producer, SpanKind::Consumer]
            [rng.usize(..5)],
        start_time_unix_nano: *[0, 1, 1_700_000_000_000_000_000, u64::MAX].get(rng.usize(..4)).unwrap(),
        end_time_unix_nano: rng.u64(..),
        status: Status {
            code: [StatusCode::Unset, StatusCode::Ok, StatusCode::Error, StatusCode::Cancelled][rng.usize(..4)],
            message: rng.bool().then(|| Cow::Owned(pick(rng, &[PLAIN, ODD].concat()).to_owned())),
        },
        branch: rng.bool().then(|| Cow::Owned(pick(rng, &texts).to_owned())),
        label: rng.bool().then_some(Cow::Borrowed("io")),
        polls: if rng.bool() { 0 } else { *[1, 3, u32::MAX].get(rng.usize(..3)).unwrap() },
        pending_polls: rng.u32(..),
        busy_ns: rng.u64(..),
        items: rng.bool().then(|| rng.u64(..)),
        first_item_ns: rng.bool().then(|| rng.u64(..)),
        alloc_bytes: rng.bool().then(|| *[0, 4096, u64::MAX].get(rng.usize(..3)).unwrap()),
        alloc_peak: rng.bool().then(|| rng.u64(..)),
        thread_id: rng.u64(..100),
        ..SpanData::default()
    };
    for i in 0..rng.usize(..4) {
        s.inputs.push((Cow::Owned(format!("arg{i}")), value(rng, 0, odd)));
    }
    if rng.bool() {
        s.output = Some(value(rng, 0, odd));
    }
    for i in 0..rng.usize(..3) {
        s.tags.push((Cow::Owned(format!("tag{i}")), value(rng, 0, odd)));
    }
    for i in 0..rng.usize(..3) {
        s.attributes.push((Cow::Owned(format!("attr.{i}")), value(rng, 0, odd)));
    }
    if rng.u8(..4) == 0 {
        // Only a plain integer is ordinary; the full reader reads the others as "no interval".
        let interval = [Value::U64(5_000_000), Value::I64(7), Value::I64(-1), Value::F64(1.0), Value::from("x")];
        let n = if odd { interval.len() } else { 2 };
        s.attributes.push((Cow::Borrowed(attr::RUNTIME_INTERVAL_NS), interval[rng.usize(..n)].clone()));
    }
    if odd && rng.u8(..8) == 0 {
        // The writer writes these keys twice when an attribute repeats a field's key.
        s.attributes.push((Cow::Borrowed(attr::BRANCH), Value::from("from-attr")));
        s.attributes.push((Cow::Borrowed(attr::POLLS), Value::U64(9)));
    }
    for i in 0..rng.usize(..3) {
        s.events.push(Event {
            name: Cow::Owned(format!("event{i}{}", if odd { pick(rng, ODD) } else { "" })),
            time_unix_nano: rng.u64(..),
            attributes: (0..rng.usize(..3)).map(|j| (Cow::Owned(format!("e{j}")), value(rng, 1, odd))).collect(),
        });
    }
    s
}

fn writer_lines(odd: bool, n: usize) -> Vec<String> {
    let mut rng = fastrand::Rng::with_seed(if odd { 17 } else { 15 });
    (0..n).map(|_| line_of(&span(&mut rng, odd), pick(&mut rng, if odd { ODD } else { PLAIN }))).collect()
}

#[test]
fn the_fast_path_takes_every_ordinary_writer_line_and_reads_it_as_the_full_reader_does() {
    for line in writer_lines(false, 2000) {
        assert!(agree(&line), "the fast path should take this ordinary line: {line}");
    }
}

#[test]
fn odd_writer_lines_read_the_same_whichever_path_takes_them() {
    let lines = writer_lines(true, 2000);
    let fast = lines.iter().filter(|l| agree(l)).count();
    assert!(fast > 100 && fast < lines.len(), "{fast} of {} taken by the fast path", lines.len());
}

const GOOD: &str = r#"{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","parent_span_id":"","name":"a","kind":"server","start_time_unix_nano":1,"end_time_unix_nano":20,"status_code":"ok","status_message":"m\"x","attributes":{"tracewell.branch":"hit","x":[1,{"y":null}],"z":-1.5e3,"tracewell.polls":2},"events":[{"name":"e","time_unix_nano":3,"attributes":{}}],"service_name":"s"}"#;

/// `GOOD` with `from` replaced by `to` (once).
fn edit(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "{from}");
    GOOD.replacen(from, to, 1)
}

fn edge_lines() -> Vec<String> {
    let ids = r#""trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7""#;
    let min = |rest: &str| format!(r#"{{{ids},"name":"a","start_time_unix_nano":1,"end_time_unix_nano":2{rest}}}"#);
    let attrs = |a: &str| min(&format!(r#","attributes":{{{a}}}"#));
    let mut v: Vec<String> = ["", " ", "{}", "[]", "null", "1", "\"x\"", "{", "this is not json", "{\"trace_id\":"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    v.push(GOOD.to_owned());
    v.push(min(""));
    v.push(format!("  {}\t\r ", min("")));
    v.push(format!("{} x", min("")));
    v.push(format!("{}}}", min("")));
    v.push(format!(r#"[{ids}]"#));
    // Every field's type, null, absence and repetition.
    for (from, to) in [
        (r#""name":"a""#, r#""name":"a\u0041""#),
        (r#""name":"a""#, r#""name":null"#),
        (r#""name":"a""#, r#""name":5"#),
        (r#""name":"a""#, r#""name":"a","name":"b""#),
        (r#""name":"a""#, "\"name\":\"a\tb\""),
        (r#""name":"a""#, r#""n\u0061me":"a""#),
        (r#""name":"a""#, r#""name":"\ud83e\udd80""#),
        (r#""kind":"server""#, r#""kind":null"#),
        (r#""kind":"server""#, r#""kind":"boss""#),
        (r#""kind":"server""#, r#""kind":"server","kind":"client""#),
        (r#""status_code":"ok""#, r#""status_code":null"#),
        (r#""status_code":"ok""#, r#""status_code":"meh""#),
        (r#""status_code":"ok""#, r#""status_code":1"#),
        (r#""status_message":"m\"x""#, r#""status_message":null"#),
        (r#""status_message":"m\"x""#, r#""status_message":5"#),
        (r#""status_message":"m\"x""#, r#""status_message":"\ud800""#),
        (r#""status_message":"m\"x""#, r#""status_message":"\udc00x""#),
        (r#""status_message":"m\"x""#, r#""status_message":"\ud83e\udd80""#),
        (r#""status_message":"m\"x""#, r#""status_message":"\q""#),
        (r#""status_message":"m\"x""#, r#""status_message":"\u00g0""#),
        (r#""status_message":"m\"x""#, "\"status_message\":\"a\u{1}b\""),
        (r#""status_message":"m\"x""#, "\"status_message\":\"a\u{7f}b\""),
        (r#""service_name":"s""#, r#""service_name":null"#),
        (r#""service_name":"s""#, r#""service_name":"s","service_name":"t""#),
        (r#""parent_span_id":"""#, r#""parent_span_id":null"#),
        (r#""parent_span_id":"""#, r#""parent_span_id":"0000000000000000""#),
        (r#""parent_span_id":"""#, r#""parent_span_id":"00F067AA0BA902B7""#),
        (r#""parent_span_id":"""#, r#""parent_span_id":"00f067aa0ba902b7""#),
        (r#""span_id":"00f067aa0ba902b7""#, r#""span_id":"00f067aa0ba902""#),
        (r#""trace_id":"4bf92f3577b34da6a3ce929d0e0e4736""#, r#""trace_id":"00000000000000000000000000000000""#),
        (r#""start_time_unix_nano":1"#, r#""start_time_unix_nano":1.0"#),
        (r#""start_time_unix_nano":1"#, r#""start_time_unix_nano":1e3"#),
        (r#""start_time_unix_nano":1"#, r#""start_time_unix_nano":-1"#),
        (r#""start_time_unix_nano":1"#, r#""start_time_unix_nano":01"#),
        (r#""start_time_unix_nano":1"#, r#""start_time_unix_nano":"soon""#),
        (r#""start_time_unix_nano":1"#, r#""start_time_unix_nano":18446744073709551615"#),
        (r#""start_time_unix_nano":1"#, r#""start_time_unix_nano":18446744073709551616"#),
        (r#""start_time_unix_nano":1"#, r#""start_time_unix_nano":1,"start_time_unix_nano":2"#),
        (r#""attributes":{"#, r#""attributes":null,"x":{"#),
        (r#""attributes":{"#, r#""attributes":[],"x":{"#),
        (r#""events":["#, r#""events":null,"x":["#),
        (r#""events":[{"name":"e","time_unix_nano":3,"attributes":{}}]"#, r#""events":[]"#),
        (r#""events":[{"name":"e","time_unix_nano":3,"attributes":{}}]"#, r#""events":[{}]"#),
        (r#""events":[{"name":"e","time_unix_nano":3,"attributes":{}}]"#, r#""events":[null]"#),
        (r#""events":[{"name":"e","time_unix_nano":3,"attributes":{}}]"#, r#""events":[{"name":"e"}]"#),
        (r#""events":[{"name":"e","time_unix_nano":3,"attributes":{}}]"#, r#""events":[{"name":1}]"#),
        (r#""events":[{"name":"e","time_unix_nano":3,"attributes":{}}]"#, r#""events":[{"name":"e","name":"f"}]"#),
        (
            r#""events":[{"name":"e","time_unix_nano":3,"attributes":{}}]"#,
            r#""events":[{"name":"e","time_unix_nano":-3}]"#,
        ),
        (
            r#""events":[{"name":"e","time_unix_nano":3,"attributes":{}}]"#,
            r#""events":[{"name":"e","time_unix_nano":null}]"#,
        ),
        (
            r#""events":[{"name":"e","time_unix_nano":3,"attributes":{}}]"#,
            r#""events":[{"name":"e","attributes":null}]"#,
        ),
        (
            r#""events":[{"name":"e","time_unix_nano":3,"attributes":{}}]"#,
            r#""events":[{"name":"e","attributes":{"k":1e999}}]"#,
        ),
        (r#""events":[{"name":"e","time_unix_nano":3,"attributes":{}}]"#, r#""events":[{"name":"e","other":1e999}]"#),
        (r#""events":[{"name":"e","time_unix_nano":3,"attributes":{}}]"#, r#""events":[["e",3,{}]]"#),
        (r#""events":[{"name":"e","time_unix_nano":3,"attributes":{}}]"#, r#""events":[{"name":"e"},]"#),
        (r#""service_name":"s""#, r#""service_name":"s","unknown":{"deep":[1,2,{"x":"\ud800"}]}"#),
        (r#""service_name":"s""#, r#""service_name":"s","unknown":1e999"#),
    ] {
        v.push(edit(from, to));
    }
    // The attributes the score reads, in every type.
    for a in [
        r#""tracewell.branch":null"#,
        r#""tracewell.branch":5"#,
        r#""tracewell.branch":"""#,
        r#""tracewell.branch":"a\"b""#,
        r#""tracewell.branch":["x"]"#,
        r#""tracewell.branch":"a","tracewell.branch":"b""#,
        r#""tracewell.br\u0061nch":"x""#,
        r#""tracewell.polls":"x""#,
        r#""tracewell.polls":null"#,
        r#""tracewell.polls":1.5"#,
        r#""tracewell.polls":2.0"#,
        r#""tracewell.polls":1e2"#,
        r#""tracewell.polls":-1"#,
        r#""tracewell.polls":5000000000"#,
        r#""tracewell.polls":1,"tracewell.polls":"x""#,
        r#""tracewell.polls":"x","tracewell.polls":1"#,
        r#""tracewell.pending_polls":7,"tracewell.busy_ns":9"#,
        r#""tracewell.busy_ns":18446744073709551616"#,
        r#""tracewell.alloc_bytes":null"#,
        r#""tracewell.alloc_bytes":0"#,
        r#""tracewell.alloc_bytes":"1""#,
        r#""tracewell.alloc_peak":12,"tracewell.alloc_bytes":34"#,
        r#""tracewell.runtime.interval_ns":5000000"#,
        r#""tracewell.runtime.interval_ns":-5"#,
        r#""tracewell.runtime.interval_ns":5.5"#,
        r#""tracewell.runtime.interval_ns":null"#,
        r#""tracewell.runtime.interval_ns":"5""#,
        r#""x":1e308"#,
        r#""x":1e309"#,
        r#""x":-1e309"#,
        r#""x":1.7976931348623157e308"#,
        r#""x":123456789e300"#,
        r#""x":0.000001e-999"#,
        r#""x":1e-400"#,
        r#""x":1.e5"#,
        r#""x":.5"#,
        r#""x":+1"#,
        r#""x":-"#,
        r#""x":1E+2"#,
        r#""x":-0"#,
        r#""x":00"#,
        r#""x":tru"#,
        r#""x":nul"#,
        r#""x":"\ud800\udc00""#,
        r#""x":"\ud800""#,
        r#""x":"\udc00""#,
        r#""x":"\ud800\u0041""#,
        r#""x":"\u00e9""#,
        "\"x\":\"raw\u{1f}control\"",
        "\"x\u{9}\":1",
        r#""x":{"a":1,"a":2}"#,
        r#""x":1,"x":2"#,
        r#""":1"#,
    ] {
        v.push(attrs(a));
    }
    let mut digits = "9".repeat(400);
    v.push(attrs(&format!(r#""x":{digits}"#)));
    digits.truncate(300);
    v.push(attrs(&format!(r#""x":{digits}"#)));
    let deep = |n: usize| attrs(&format!(r#""x":{}{}"#, "[".repeat(n), "]".repeat(n)));
    v.extend([deep(60), deep(64), deep(70), deep(130)]);
    v
}

#[test]
fn edge_and_malformed_lines_read_the_same_whichever_path_takes_them() {
    let lines = edge_lines();
    for line in &lines {
        agree(line);
    }
    assert!(agree(GOOD), "the fast path takes ordinary lines");
}

#[test]
fn every_truncation_and_many_one_byte_edits_of_writer_lines_read_the_same() {
    let mut lines = writer_lines(false, 2);
    lines.extend(writer_lines(true, 2));
    lines.push(GOOD.to_owned());
    let mut checked = 0;
    for line in &lines {
        for cut in (0..line.len()).filter(|&i| line.is_char_boundary(i)) {
            agree(&line[..cut]);
            checked += 1;
        }
        for at in 0..line.len() {
            for b in [b'"', b'\\', b'\t', b'}', b',', b'0', b'-', b'n', b'x'] {
                let mut bytes = line.clone().into_bytes();
                bytes[at] = b;
                if let Ok(edited) = String::from_utf8(bytes) {
                    agree(&edited);
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 10_000, "{checked}");
}

// Moved from the CLI's parser (cli/src/parse.rs), which this reader replaces.

#[test]
fn agrees_with_the_runtime_parser() {
    let mut s = SpanData {
        trace_id: TraceId(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
        span_id: SpanId(0x00f0_67aa_0ba9_02b7),
        parent_span_id: SpanId(7),
        name: "fetch \"x\"".into(),
        start_time_unix_nano: 10,
        end_time_unix_nano: 25,
        branch: Some("hit".into()),
        polls: 3,
        pending_polls: 2,
        busy_ns: 5,
        alloc_bytes: Some(100),
        alloc_peak: Some(60),
        ..SpanData::default()
    };
    s.status.code = StatusCode::Error;
    s.inputs.push(("a".into(), Value::U64(1)));
    let line = line_of(&s, "svc");
    let p = SampleLine::parse(&line).unwrap();
    assert_eq!(p.sample(), SpanSample::from(&s));
}

#[test]
fn fast_path_agrees_with_serde_or_defers_to_it() {
    let fast = scan::sample(GOOD).expect("the fast path takes ordinary lines");
    let slow = SpanData::from_json_line(GOOD).unwrap();
    assert_eq!(SpanSample { name: fast.name, branch: fast.branch, ..fast.fields }, SpanSample::from(&slow.span));
    for odd in [
        r#"{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","name":"a\u0041","start_time_unix_nano":1,"end_time_unix_nano":2}"#,
        r#"{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","name":"a","start_time_unix_nano":1.0,"end_time_unix_nano":2}"#,
        r#"{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","name":"a","start_time_unix_nano":1,"end_time_unix_nano":2} x"#,
        r#"{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","name":"a","start_time_unix_nano":1,"end_time_unix_nano":2,"attributes":{"x":[1,}}"#,
    ] {
        assert!(scan::sample(odd).is_none(), "{odd}");
    }
}

#[test]
fn errors_say_what_is_wrong() {
    let err = |line: &str| SampleLine::parse(line).unwrap_err().to_string();
    assert!(err("{\"trace_id\":").contains("truncated"), "{}", err("{\"trace_id\":"));
    let wrong_type = r#"{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","name":"a","start_time_unix_nano":"soon","end_time_unix_nano":2}"#;
    assert!(err(wrong_type).contains("invalid type"), "{}", err(wrong_type));
    let bad_status = r#"{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","name":"a","start_time_unix_nano":1,"end_time_unix_nano":2,"status_code":"meh"}"#;
    assert!(err(bad_status).contains("status_code"), "{}", err(bad_status));
    assert!(err(bad_status).contains("expected unset, ok, error or cancelled"), "{}", err(bad_status));
}
