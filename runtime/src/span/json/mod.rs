//! The NDJSON line format: one span per line, flat JSON. The file and stdout exporters write it
//! (`write.rs`, and the `serde` form here); `read.rs` reads it back, for the runtime and for the
//! `tracewell` command alike.
//!
//! ```text
//! {"trace_id":"4bf9..","span_id":"00f0..","parent_span_id":"","name":"add","kind":"internal",
//!  "start_time_unix_nano":1700000000000000000,"end_time_unix_nano":1700000000000001000,
//!  "status_code":"unset","status_message":"","attributes":{"tracewell.input.a":1,...},
//!  "events":[{"name":"..","time_unix_nano":..,"attributes":{..}}],"service_name":"svc"}
//! ```

mod read;
mod write;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use super::{Event, SpanData, SpanId, TraceId, Value, attr};

pub use read::{JsonError, ParsedSpan};

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::I64(v) => s.serialize_i64(*v),
            Value::U64(v) => s.serialize_u64(*v),
            Value::F64(v) if v.is_finite() => s.serialize_f64(*v),
            Value::F64(v) => s.collect_str(v),
            Value::Str(t) => s.serialize_str(t),
            Value::List(l) => {
                let mut seq = s.serialize_seq(Some(l.len()))?;
                for v in l {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Map(m) => {
                let mut map = s.serialize_map(Some(m.len()))?;
                for (k, v) in m {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
            Value::Bytes(_) | Value::Opaque(_) => s.serialize_str(self.to_json().as_str().unwrap_or_default()),
        }
    }
}

struct Hex<T>(T);

fn serialize_ascii<S: Serializer>(s: S, bytes: &[u8]) -> Result<S::Ok, S::Error> {
    match std::str::from_utf8(bytes) {
        Ok(t) => s.serialize_str(t),
        Err(_) => s.serialize_str(""),
    }
}

impl Serialize for Hex<TraceId> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_ascii(s, &write::hex::<32>(self.0.0))
    }
}

impl Serialize for Hex<SpanId> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_valid() { serialize_ascii(s, &write::hex::<16>(self.0.0.into())) } else { s.serialize_str("") }
    }
}

/// `prefix` followed by `name` as one JSON key, built on the stack when it is short.
struct Prefixed<'a>(&'static str, &'a str);

impl Serialize for Prefixed<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (a, b) = (self.0.as_bytes(), self.1.as_bytes());
        let mut buf = [0u8; 96];
        if a.len() + b.len() <= buf.len() {
            buf[..a.len()].copy_from_slice(a);
            buf[a.len()..a.len() + b.len()].copy_from_slice(b);
            // Both halves are whole UTF-8 strings, so their concatenation is too.
            serialize_ascii(s, &buf[..a.len() + b.len()])
        } else {
            s.serialize_str(&format!("{}{}", self.0, self.1))
        }
    }
}

/// The flat `attributes` object: the same keys, in the same order, as
/// [`SpanData::for_each_flat_attribute`], written without building any key on the heap.
struct Flat<'a>(&'a SpanData);

impl Serialize for Flat<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let sp = self.0;
        let mut map = s.serialize_map(None)?;
        for (k, v) in &sp.attributes {
            map.serialize_entry(&**k, v)?;
        }
        if !sp.target.is_empty() {
            map.serialize_entry(attr::TARGET, &*sp.target)?;
        }
        map.serialize_entry(attr::THREAD_ID, &sp.thread_id)?;
        for (k, v) in &sp.inputs {
            map.serialize_entry(&Prefixed(attr::INPUT_PREFIX, k), v)?;
        }
        if let Some(v) = &sp.output {
            map.serialize_entry(attr::OUTPUT, v)?;
        }
        for (k, v) in &sp.tags {
            map.serialize_entry(&Prefixed(attr::TAG_PREFIX, k), v)?;
        }
        if let Some(l) = &sp.label {
            map.serialize_entry(attr::LABEL, &**l)?;
        }
        if let Some(b) = &sp.branch {
            map.serialize_entry(attr::BRANCH, &**b)?;
        }
        if sp.polls > 0 {
            map.serialize_entry(attr::POLLS, &sp.polls)?;
            map.serialize_entry(attr::PENDING_POLLS, &sp.pending_polls)?;
            map.serialize_entry(attr::BUSY_NS, &sp.busy_ns)?;
        }
        for (key, v) in [
            (attr::ITEMS, sp.items),
            (attr::FIRST_ITEM_NS, sp.first_item_ns),
            (attr::ALLOC_BYTES, sp.alloc_bytes),
            (attr::ALLOC_PEAK, sp.alloc_peak),
        ] {
            if let Some(n) = v {
                map.serialize_entry(key, &n)?;
            }
        }
        map.end()
    }
}

struct Attrs<'a>(&'a [(super::Key, Value)]);

impl Serialize for Attrs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

struct Events<'a>(&'a [Event]);

impl Serialize for Events<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for e in self.0 {
            seq.serialize_element(&EventOut(e))?;
        }
        seq.end()
    }
}

struct EventOut<'a>(&'a Event);

impl Serialize for EventOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("name", &self.0.name)?;
        map.serialize_entry("time_unix_nano", &self.0.time_unix_nano)?;
        map.serialize_entry("attributes", &Attrs(&self.0.attributes))?;
        map.end()
    }
}

/// A span with the service that recorded it, in the NDJSON line format (as a `serde_json`
/// value; [`SpanData::write_json_line`] writes the same bytes faster).
pub(crate) struct Line<'a> {
    pub span: &'a SpanData,
    pub service_name: &'a str,
}

impl Serialize for Line<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let sp = self.span;
        let mut map = s.serialize_map(Some(12))?;
        map.serialize_entry("trace_id", &Hex(sp.trace_id))?;
        map.serialize_entry("span_id", &Hex(sp.span_id))?;
        map.serialize_entry("parent_span_id", &Hex(sp.parent_span_id))?;
        map.serialize_entry("name", &sp.name)?;
        map.serialize_entry("kind", sp.kind.as_str())?;
        map.serialize_entry("start_time_unix_nano", &sp.start_time_unix_nano)?;
        map.serialize_entry("end_time_unix_nano", &sp.end_time_unix_nano)?;
        map.serialize_entry("status_code", sp.status.code.as_str())?;
        map.serialize_entry("status_message", sp.status.message.as_deref().unwrap_or(""))?;
        map.serialize_entry("attributes", &Flat(sp))?;
        map.serialize_entry("events", &Events(&sp.events))?;
        map.serialize_entry("service_name", self.service_name)?;
        map.end()
    }
}

impl super::SpanRef<'_> {
    /// Appends this span as one NDJSON line (with the trailing `\n`) to `out`, in the schema of
    /// [`SpanData::write_json_line`].
    pub fn write_json_line(&self, service_name: &str, out: &mut Vec<u8>) {
        write::line(self, service_name, out);
    }
}

impl SpanData {
    /// Appends this span as one NDJSON line (with the trailing `\n`) to `out`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tracewell::{SpanData, SpanId, TraceId};
    /// let span = SpanData { name: "add".into(), trace_id: TraceId::random(), span_id: SpanId::random(), ..Default::default() };
    /// let mut line = Vec::new();
    /// span.write_json_line("svc", &mut line);
    /// let back = tracewell::SpanData::from_json_line(std::str::from_utf8(&line).unwrap()).unwrap();
    /// assert_eq!(back.span.name, "add");
    /// assert_eq!(back.service_name, "svc");
    /// ```
    pub fn write_json_line(&self, service_name: &str, out: &mut Vec<u8>) {
        let batch = super::Batch::from_spans(std::slice::from_ref(self));
        if let Some(span) = batch.get(0) {
            write::line(&span, service_name, out);
        }
    }

    /// This span as one JSON object in the NDJSON schema.
    pub fn to_json(&self, service_name: &str) -> serde_json::Value {
        serde_json::to_value(Line { span: self, service_name }).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{SpanKind, Status, StatusCode};
    use super::*;

    fn sample() -> SpanData {
        let mut s = SpanData {
            trace_id: TraceId(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
            span_id: SpanId(0x00f0_67aa_0ba9_02b7),
            parent_span_id: SpanId(7),
            name: "add".into(),
            target: "app::math".into(),
            kind: SpanKind::Client,
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_000_001_000,
            status: Status { code: StatusCode::Error, message: Some("boom \"quoted\"".into()) },
            output: Some(Value::U64(3)),
            label: Some("io".into()),
            branch: Some("hit".into()),
            polls: 3,
            pending_polls: 2,
            busy_ns: 500,
            items: Some(10),
            first_item_ns: Some(20),
            thread_id: 4,
            trace_flags: 1,
            ..SpanData::default()
        };
        s.inputs.push(("a".into(), Value::U64(1)));
        s.inputs.push(("name".into(), Value::from("x\ny")));
        s.attributes.push(("rows".into(), Value::I64(-4)));
        s.tags.push(("env".into(), Value::from("prod")));
        s.events.push(Event {
            name: "ev".into(),
            time_unix_nano: 5,
            attributes: vec![("k".into(), Value::Bool(true))],
        });
        s
    }

    #[test]
    fn line_round_trips_every_field() {
        let s = sample();
        let mut out = Vec::new();
        s.write_json_line("svc", &mut out);
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1, "exactly one line");
        let back = SpanData::from_json_line(std::str::from_utf8(&out).unwrap()).unwrap();
        assert_eq!(back.service_name, "svc");
        assert_eq!(back.span, s);
    }

    #[test]
    fn root_has_empty_parent_and_flat_keys() {
        let mut s = sample();
        s.parent_span_id = SpanId::INVALID;
        let j = s.to_json("svc");
        assert_eq!(j["parent_span_id"], "");
        assert_eq!(j["attributes"]["tracewell.input.a"], 1);
        assert_eq!(j["attributes"]["tracewell.tag.env"], "prod");
        assert_eq!(j["attributes"]["tracewell.pending_polls"], 2);
        assert_eq!(j["status_code"], "error");
    }

    #[test]
    fn flat_object_matches_the_flat_attribute_walk() {
        let s = sample();
        let j = s.to_json("svc");
        let mut walked = serde_json::Map::new();
        s.for_each_flat_attribute(|k, v| {
            walked.insert(k.into_owned(), v.to_json());
        });
        assert_eq!(j["attributes"], serde_json::Value::Object(walked));
        let mut long = SpanData::default();
        long.inputs.push(("x".repeat(200).into(), Value::U64(1)));
        assert_eq!(long.to_json("svc")["attributes"][format!("tracewell.input.{}", "x".repeat(200))], 1);
    }

    #[test]
    fn bad_lines_are_clear_errors() {
        assert!(matches!(SpanData::from_json_line("{"), Err(JsonError::Syntax(_))));
        let bad_id = r#"{"trace_id":"xyz","span_id":"00f067aa0ba902b7","name":"a","start_time_unix_nano":1,"end_time_unix_nano":2}"#;
        assert!(matches!(SpanData::from_json_line(bad_id), Err(JsonError::Id { field: "trace_id", .. })));
        let bad_kind = r#"{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","name":"a","kind":"boss","start_time_unix_nano":1,"end_time_unix_nano":2}"#;
        assert!(matches!(SpanData::from_json_line(bad_kind), Err(JsonError::Enum { field: "kind", .. })));
    }
}
