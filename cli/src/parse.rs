//! Fast reading of NDJSON span lines: only the fields the score needs are decoded, borrowed from
//! the line where possible; everything else is skipped without building values. Validation
//! matches `SpanData::from_json_line` for the fields it reads (ids, kind, status).

use std::borrow::Cow;

use serde::Deserialize;
use tracewell::score::SpanSample;
use tracewell::{SpanId, StatusCode, TraceId};

mod fast;

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    trace_id: Cow<'a, str>,
    #[serde(borrow)]
    span_id: Cow<'a, str>,
    #[serde(default, borrow)]
    parent_span_id: Cow<'a, str>,
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(default, borrow)]
    kind: Option<Cow<'a, str>>,
    start_time_unix_nano: u64,
    end_time_unix_nano: u64,
    #[serde(default, borrow)]
    status_code: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    attributes: Attrs<'a>,
}

#[derive(Deserialize, Default, Debug)]
pub(crate) struct Attrs<'a> {
    #[serde(rename = "tracewell.branch", default, borrow)]
    branch: Option<Cow<'a, str>>,
    #[serde(rename = "tracewell.polls", default)]
    polls: Option<u64>,
    #[serde(rename = "tracewell.pending_polls", default)]
    pending_polls: Option<u64>,
    #[serde(rename = "tracewell.busy_ns", default)]
    busy_ns: Option<u64>,
    #[serde(rename = "tracewell.alloc_bytes", default)]
    alloc_bytes: Option<u64>,
    #[serde(rename = "tracewell.alloc_peak", default)]
    alloc_peak: Option<u64>,
    #[serde(rename = "tracewell.runtime.interval_ns", default)]
    interval_ns: Option<u64>,
}

/// A span line, decoded; borrows from the line.
#[derive(Debug)]
pub struct Parsed<'a> {
    pub(crate) name: Cow<'a, str>,
    pub(crate) branch: Option<Cow<'a, str>>,
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) parent: SpanId,
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) status: StatusCode,
    pub(crate) attrs: Attrs<'a>,
}

impl Parsed<'_> {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn branch(&self) -> Option<&str> {
        self.branch.as_deref()
    }

    pub fn start(&self) -> u64 {
        self.start
    }

    pub fn end(&self) -> u64 {
        self.end
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn sample(&self) -> SpanSample<'_> {
        let a = &self.attrs;
        SpanSample {
            name: &self.name,
            branch: self.branch.as_deref(),
            trace_id: self.trace_id,
            span_id: self.span_id,
            parent_span_id: self.parent,
            start_time_unix_nano: self.start,
            end_time_unix_nano: self.end,
            status: self.status,
            polls: a.polls.map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)),
            pending_polls: a.pending_polls.map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)),
            busy_ns: a.busy_ns.unwrap_or(0),
            alloc_bytes: a.alloc_bytes,
            alloc_peak: a.alloc_peak,
            runtime_interval_ns: a.interval_ns,
        }
    }
}

/// Decodes one line, or says what is wrong with it.
///
/// Well-formed lines take a hand-written fast path (see [`fast`]); anything it does not accept,
/// including every malformed line, goes through serde, which has the final word and the error
/// messages.
pub fn parse_line(line: &str) -> Result<Parsed<'_>, String> {
    if let Some(p) = fast::parse(line.as_bytes(), line) {
        return Ok(p);
    }
    parse_line_serde(line)
}

/// The reference decoder (serde).
pub fn parse_line_serde(line: &str) -> Result<Parsed<'_>, String> {
    let mut w: Line<'_> = serde_json::from_str(line).map_err(|e| {
        if e.is_eof() { format!("truncated span line ({e})") } else { format!("invalid span line: {e}") }
    })?;
    let trace_id = TraceId::from_hex(&w.trace_id).map_err(|e| format!("invalid trace_id: {e}"))?;
    let span_id = SpanId::from_hex(&w.span_id).map_err(|e| format!("invalid span_id: {e}"))?;
    let parent = if w.parent_span_id.is_empty() {
        SpanId::INVALID
    } else {
        SpanId::from_hex(&w.parent_span_id).map_err(|e| format!("invalid parent_span_id: {e}"))?
    };
    if let Some(k) = &w.kind {
        k.parse::<tracewell::SpanKind>().map_err(|e| format!("invalid kind: {e}"))?;
    }
    let status = match w.status_code.as_deref() {
        None => StatusCode::Unset,
        Some(c) => StatusCode::parse(c)
            .ok_or_else(|| format!("invalid status_code {c:?}: expected unset, ok, error or cancelled"))?,
    };
    let branch = w.attributes.branch.take();
    Ok(Parsed {
        name: w.name,
        branch,
        trace_id,
        span_id,
        parent,
        start: w.start_time_unix_nano,
        end: w.end_time_unix_nano,
        status,
        attrs: w.attributes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracewell::SpanData;

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
        s.inputs.push(("a".into(), tracewell::Value::U64(1)));
        let mut line = Vec::new();
        s.write_json_line("svc", &mut line);
        let text = std::str::from_utf8(&line).unwrap();
        let p = parse_line(text.trim_end()).unwrap();
        let (a, b) = (p.sample(), tracewell::score::SpanSample::from(&s));
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }

    #[test]
    fn fast_path_agrees_with_serde_or_defers_to_it() {
        let good = r#"{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","parent_span_id":"","name":"a","kind":"server","start_time_unix_nano":1,"end_time_unix_nano":20,"status_code":"ok","status_message":"m\"x","attributes":{"tracewell.branch":"hit","x":[1,{"y":null}],"z":-1.5e3,"tracewell.polls":2},"events":[{"name":"e","time_unix_nano":3,"attributes":{}}],"service_name":"s"}"#;
        let fast = fast::parse(good.as_bytes(), good).expect("the fast path takes ordinary lines");
        let slow = parse_line_serde(good).unwrap();
        assert_eq!(format!("{:?}", fast.sample()), format!("{:?}", slow.sample()));
        for odd in [
            r#"{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","name":"a\u0041","start_time_unix_nano":1,"end_time_unix_nano":2}"#,
            r#"{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","name":"a","start_time_unix_nano":1.0,"end_time_unix_nano":2}"#,
            r#"{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","name":"a","start_time_unix_nano":1,"end_time_unix_nano":2} x"#,
            r#"{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","name":"a","start_time_unix_nano":1,"end_time_unix_nano":2,"attributes":{"x":[1,}}"#,
        ] {
            assert!(fast::parse(odd.as_bytes(), odd).is_none(), "{odd}");
        }
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert!(parse_line("{\"trace_id\":").unwrap_err().starts_with("truncated"));
        let wrong_type = r#"{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","name":"a","start_time_unix_nano":"soon","end_time_unix_nano":2}"#;
        assert!(
            parse_line(wrong_type).unwrap_err().contains("invalid type"),
            "{}",
            parse_line(wrong_type).unwrap_err()
        );
        let bad_status = r#"{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","name":"a","start_time_unix_nano":1,"end_time_unix_nano":2,"status_code":"meh"}"#;
        assert!(parse_line(bad_status).unwrap_err().contains("status_code"));
    }
}
