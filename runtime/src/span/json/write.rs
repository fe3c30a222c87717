//! Writing the NDJSON line: a writer made for this one schema, so the file and Redis exporters
//! spend their time on the spans' own text and not on generic serialization.
//!
//! The output is byte for byte what `serde_json` writes for the [`super::Line`] `Serialize`
//! impl (the tests below compare the two on arbitrary spans), but the fixed keys and the hex ids
//! are copied as they are instead of being escaped, and text is escaped eight bytes at a time:
//! only a word that holds a `"`, a `\` or a control character is looked at byte by byte.

use super::super::{SpanRef, ValueRef};

/// Appends `span` as one NDJSON line, with its trailing `\n`.
pub(super) fn line(span: &SpanRef<'_>, service_name: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"trace_id\":\"");
    out.extend_from_slice(&hex::<32>(span.trace_id().0));
    out.extend_from_slice(b"\",\"span_id\":");
    span_id(out, span.span_id());
    out.extend_from_slice(b",\"parent_span_id\":");
    span_id(out, span.parent_span_id());
    out.extend_from_slice(b",\"name\":");
    string(out, span.name());
    out.extend_from_slice(b",\"kind\":\"");
    out.extend_from_slice(span.kind().as_str().as_bytes());
    out.extend_from_slice(b"\",\"start_time_unix_nano\":");
    u64(out, span.start_time_unix_nano());
    out.extend_from_slice(b",\"end_time_unix_nano\":");
    u64(out, span.end_time_unix_nano());
    out.extend_from_slice(b",\"status_code\":\"");
    out.extend_from_slice(span.status_code().as_str().as_bytes());
    out.extend_from_slice(b"\",\"status_message\":");
    string(out, span.status_message().unwrap_or(""));
    out.extend_from_slice(b",\"attributes\":");
    attributes(out, span);
    out.extend_from_slice(b",\"events\":[");
    for (i, e) in span.events().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"name\":");
        string(out, e.name);
        out.extend_from_slice(b",\"time_unix_nano\":");
        u64(out, e.time_unix_nano);
        out.extend_from_slice(b",\"attributes\":{");
        pairs(out, e.attributes);
        out.extend_from_slice(b"}}");
    }
    out.extend_from_slice(b"],\"service_name\":");
    string(out, service_name);
    out.extend_from_slice(b"}\n");
}

/// The flat `attributes` object: the walk of [`SpanRef::for_each_flat_attribute`], with each
/// key written from its prefix and name.
fn attributes(out: &mut Vec<u8>, sp: &SpanRef<'_>) {
    out.push(b'{');
    let mut first = true;
    sp.for_each_flat_attribute(|prefix, name, v| {
        if !first {
            out.push(b',');
        }
        first = false;
        out.push(b'"');
        escaped(out, prefix);
        escaped(out, name);
        out.extend_from_slice(b"\":");
        value(out, v);
    });
    out.push(b'}');
}

fn span_id(out: &mut Vec<u8>, id: super::super::SpanId) {
    out.push(b'"');
    if id.is_valid() {
        out.extend_from_slice(&hex::<16>(id.0.into()));
    }
    out.push(b'"');
}

/// Lowercase hex of the low `N / 2` bytes of `v`.
pub(super) fn hex<const N: usize>(mut v: u128) -> [u8; N] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'0'; N];
    for pair in out.rchunks_exact_mut(2) {
        let byte = (v & 0xff) as usize;
        pair[0] = DIGITS[byte >> 4];
        pair[1] = DIGITS[byte & 0xf];
        v >>= 8;
    }
    out
}

fn u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// A captured value, as `serde_json` writes the `Serialize` impl of [`Value`](super::super::Value).
fn value(out: &mut Vec<u8>, v: ValueRef<'_>) {
    match v {
        ValueRef::Null => out.extend_from_slice(b"null"),
        ValueRef::Bool(true) => out.extend_from_slice(b"true"),
        ValueRef::Bool(false) => out.extend_from_slice(b"false"),
        ValueRef::I64(n) => out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
        ValueRef::U64(n) => u64(out, n),
        ValueRef::F64(f) if f.is_finite() => out.extend_from_slice(zmij::Buffer::new().format_finite(f).as_bytes()),
        // `NaN`, `inf`, `-inf` as strings, as `serde_json` writes `collect_str` of them.
        ValueRef::F64(f) => {
            out.push(b'"');
            out.extend_from_slice(f.to_string().as_bytes());
            out.push(b'"');
        }
        ValueRef::Str(t) => string(out, t),
        ValueRef::List(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                value(out, item);
            }
            out.push(b']');
        }
        ValueRef::Map(fields) => {
            out.push(b'{');
            pairs(out, fields.iter());
            out.push(b'}');
        }
        ValueRef::Bytes(b) => {
            out.push(b'"');
            for x in b {
                out.extend_from_slice(&hex::<2>(u128::from(*x)));
            }
            out.push(b'"');
        }
        ValueRef::Opaque(t) => {
            out.extend_from_slice(b"\"<");
            escaped(out, t);
            out.extend_from_slice(b">\"");
        }
    }
}

/// `"key":value` entries separated by commas, without the braces.
fn pairs<'a>(out: &mut Vec<u8>, entries: impl Iterator<Item = (&'a str, ValueRef<'a>)>) {
    for (i, (k, v)) in entries.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, k);
        out.push(b':');
        value(out, v);
    }
}

/// `s` as a JSON string, quotes included.
fn string(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    escaped(out, s);
    out.push(b'"');
}

/// `s` with `"`, `\` and control characters escaped as `serde_json` escapes them.
fn escaped(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    if is_clean(bytes) {
        out.extend_from_slice(bytes);
        return;
    }
    let mut start = 0;
    for (at, &b) in bytes.iter().enumerate() {
        let esc = ESCAPE[b as usize];
        if esc == 0 {
            continue;
        }
        out.extend_from_slice(&bytes[start..at]);
        if esc == b'u' {
            const DIGITS: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', DIGITS[(b >> 4) as usize], DIGITS[(b & 0xf) as usize]]);
        } else {
            out.extend_from_slice(&[b'\\', esc]);
        }
        start = at + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Whether `bytes` needs no escaping: eight bytes at a time (the last word overlapping the one
/// before), byte by byte below eight.
fn is_clean(bytes: &[u8]) -> bool {
    let word = |at: usize| {
        let w: [u8; 8] = bytes[at..at + 8].try_into().unwrap_or_default();
        u64::from_le_bytes(w)
    };
    let n = bytes.len();
    if n < 8 {
        return bytes.iter().all(|&b| ESCAPE[b as usize] == 0);
    }
    let mut at = 0;
    while at + 8 <= n {
        if needs_escape(word(at)) {
            return false;
        }
        at += 8;
    }
    at == n || !needs_escape(word(n - 8))
}

/// Whether any of the eight bytes of `w` is below 0x20, `"` or `\` (no false negatives; a
/// `true` is checked byte by byte).
const fn needs_escape(w: u64) -> bool {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES * 0x80;
    let control = w.wrapping_sub(ONES * 0x20) & !w;
    let q = w ^ (ONES * b'"' as u64);
    let quote = q.wrapping_sub(ONES) & !q;
    let b = w ^ (ONES * b'\\' as u64);
    let backslash = b.wrapping_sub(ONES) & !b;
    (control | quote | backslash) & HIGH != 0
}

/// `0`: copied as is; `u`: `\u00XX`; anything else: a backslash and that letter.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = b'u';
        c += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

#[cfg(test)]
mod tests {
    use super::super::Line;
    use super::*;
    use crate::span::SpanData;
    use crate::span::testgen::{spans, text};
    use proptest::prelude::*;

    fn by_serde(span: &SpanData, service: &str) -> String {
        let mut v = serde_json::to_string(&Line { span, service_name: service }).unwrap();
        v.push('\n');
        v
    }

    /// Written from the span's compact record, as exporters write it.
    fn by_hand(span: &SpanData, service: &str) -> String {
        let mut out = Vec::new();
        let batch = crate::span::Batch::from_spans(std::slice::from_ref(span));
        line(&batch.get(0).unwrap(), service, &mut out);
        String::from_utf8(out).expect("the line is UTF-8")
    }

    #[test]
    fn escapes_like_serde_json() {
        for s in [
            "",
            "plain",
            "a\"b",
            "back\\slash",
            "tab\tnew\nline\r",
            "\u{0}\u{1f}\u{7f}",
            "ünïcødé €",
            "12345678\"",
            "1234567\n",
        ] {
            let mut out = Vec::new();
            string(&mut out, s);
            assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn the_word_test_has_no_false_negatives() {
        for b in 0u8..=255 {
            for pos in 0..8 {
                let mut w = [b'a'; 8];
                w[pos] = b;
                let flagged = needs_escape(u64::from_le_bytes(w));
                if ESCAPE[b as usize] != 0 {
                    assert!(flagged, "byte {b:#x} at {pos}");
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 8 } else { 400 }))]

        #[test]
        fn same_bytes_as_serde_json(span in spans(), service in text()) {
            prop_assert_eq!(by_hand(&span, &service), by_serde(&span, &service));
        }
    }
}
