//! Reading the NDJSON line back: the one reader of the format. [`SpanData::from_json_line`] is
//! the whole span; the score's reader of its own fields
//! ([`SampleLine`](crate::score::SampleLine)) takes a fast path for ordinary lines and defers to
//! this one for every other line, and its tests check the two agree.

use std::borrow::Cow;

use serde::Deserialize;

use super::super::{Event, IdError, SpanData, SpanId, SpanKind, Status, StatusCode, TraceId, Value, attr};

impl SpanData {
    /// Parses one NDJSON line back into a span and the service that recorded it.
    ///
    /// # Errors
    ///
    /// [`JsonError`] when the line is not JSON, misses a required field, or has a field of the
    /// wrong type or an invalid id.
    pub fn from_json_line(line: &str) -> Result<ParsedSpan, JsonError> {
        Wire::parse(line)?.into_span()
    }
}

/// A span read back from an NDJSON line.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedSpan {
    /// The span.
    pub span: SpanData,
    /// The `service_name` field.
    pub service_name: String,
}

/// Why an NDJSON line could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JsonError {
    /// Not valid JSON, or a field of the wrong type.
    #[error("invalid span line: {0}")]
    Syntax(String),
    /// A field that must be an id is not one.
    #[error("invalid {field}: {reason}")]
    Id {
        /// The field.
        field: &'static str,
        /// Why.
        reason: IdError,
    },
    /// `kind` or `status_code` is not a known name.
    #[error("invalid {field}: {value:?} (expected {})", expected_names(field))]
    Enum {
        /// The field.
        field: &'static str,
        /// The value found.
        value: String,
    },
}

#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(borrow)]
    trace_id: Cow<'a, str>,
    #[serde(borrow)]
    span_id: Cow<'a, str>,
    #[serde(default, borrow)]
    parent_span_id: Cow<'a, str>,
    name: String,
    #[serde(default, borrow)]
    kind: Option<Cow<'a, str>>,
    start_time_unix_nano: u64,
    end_time_unix_nano: u64,
    #[serde(default, borrow)]
    status_code: Option<Cow<'a, str>>,
    #[serde(default)]
    status_message: String,
    #[serde(default)]
    attributes: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    events: Vec<WireEvent>,
    #[serde(default)]
    service_name: String,
}

#[derive(Deserialize)]
struct WireEvent {
    name: String,
    #[serde(default)]
    time_unix_nano: u64,
    #[serde(default)]
    attributes: serde_json::Map<String, serde_json::Value>,
}

impl<'a> Wire<'a> {
    fn parse(line: &'a str) -> Result<Wire<'a>, JsonError> {
        serde_json::from_str(line).map_err(|e| {
            // A line cut short is the usual bad line (a writer that died mid-line): say so.
            JsonError::Syntax(if e.is_eof() { format!("truncated ({e})") } else { e.to_string() })
        })
    }

    fn into_span(self) -> Result<ParsedSpan, JsonError> {
        let trace_id =
            TraceId::from_hex(&self.trace_id).map_err(|reason| JsonError::Id { field: "trace_id", reason })?;
        let span_id = SpanId::from_hex(&self.span_id).map_err(|reason| JsonError::Id { field: "span_id", reason })?;
        let parent_span_id = if self.parent_span_id.is_empty() {
            SpanId::INVALID
        } else {
            SpanId::from_hex(&self.parent_span_id)
                .map_err(|reason| JsonError::Id { field: "parent_span_id", reason })?
        };
        let kind = match self.kind.as_deref() {
            None => SpanKind::Internal,
            Some(k) => k.parse().map_err(|_| JsonError::Enum { field: "kind", value: k.to_owned() })?,
        };
        let code = match self.status_code.as_deref() {
            None => StatusCode::Unset,
            Some(c) => {
                StatusCode::parse(c).ok_or_else(|| JsonError::Enum { field: "status_code", value: c.to_owned() })?
            }
        };
        let mut span = SpanData {
            trace_id,
            span_id,
            parent_span_id,
            name: self.name.into(),
            kind,
            start_time_unix_nano: self.start_time_unix_nano,
            end_time_unix_nano: self.end_time_unix_nano,
            status: Status { code, message: (!self.status_message.is_empty()).then(|| self.status_message.into()) },
            trace_flags: 1,
            ..SpanData::default()
        };
        for (k, v) in self.attributes {
            unflatten(&mut span, k, &v);
        }
        span.events = self
            .events
            .into_iter()
            .map(|e| Event {
                name: e.name.into(),
                time_unix_nano: e.time_unix_nano,
                attributes: e.attributes.into_iter().map(|(k, v)| (k.into(), Value::from_json(&v))).collect(),
            })
            .collect();
        Ok(ParsedSpan { span, service_name: self.service_name })
    }
}

fn unflatten(span: &mut SpanData, k: String, v: &serde_json::Value) {
    let as_u64 = || v.as_u64().unwrap_or(0);
    let as_text = || match v {
        serde_json::Value::String(s) => Cow::Owned(s.clone()),
        other => Cow::Owned(other.to_string()),
    };
    if let Some(name) = k.strip_prefix(attr::INPUT_PREFIX) {
        span.inputs.push((name.to_owned().into(), Value::from_json(v)));
        return;
    }
    if let Some(name) = k.strip_prefix(attr::TAG_PREFIX) {
        span.tags.push((name.to_owned().into(), Value::from_json(v)));
        return;
    }
    match k.as_str() {
        attr::OUTPUT => span.output = Some(Value::from_json(v)),
        attr::LABEL => span.label = Some(as_text()),
        attr::BRANCH => span.branch = Some(as_text()),
        attr::TARGET => span.target = as_text(),
        attr::THREAD_ID => span.thread_id = as_u64(),
        attr::POLLS => span.polls = u32::try_from(as_u64()).unwrap_or(u32::MAX),
        attr::PENDING_POLLS => span.pending_polls = u32::try_from(as_u64()).unwrap_or(u32::MAX),
        attr::BUSY_NS => span.busy_ns = as_u64(),
        attr::ITEMS => span.items = Some(as_u64()),
        attr::FIRST_ITEM_NS => span.first_item_ns = Some(as_u64()),
        attr::ALLOC_BYTES => span.alloc_bytes = Some(as_u64()),
        attr::ALLOC_PEAK => span.alloc_peak = Some(as_u64()),
        _ => span.attributes.push((k.into(), Value::from_json(v))),
    }
}

/// The names `field` accepts, for the error message.
fn expected_names(field: &str) -> &'static str {
    match field {
        "kind" => "internal, server, client, producer or consumer",
        _ => "unset, ok, error or cancelled",
    }
}
