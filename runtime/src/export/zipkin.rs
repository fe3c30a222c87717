//! The Zipkin exporter: JSON v2 spans posted to `/api/v2/spans`.

use std::time::Duration;

use hyper::body::Bytes;
use serde_json::{Map, Value as J, json};

use super::health::HealthCell;
use super::httpc;
use super::retry::{Attempt, send_with_retries};
use super::{BoxFuture, ExportError, Exporter};
use crate::span::{SpanData, SpanKind, StatusCode, Value};

const NAME: &str = "zipkin";

/// The default Zipkin endpoint.
pub const DEFAULT_ZIPKIN_ENDPOINT: &str = "http://localhost:9411/api/v2/spans";

/// Posts spans as Zipkin JSON v2 to a Zipkin server (or Jaeger's / the Collector's Zipkin
/// receiver).
///
/// Attributes (inputs, output, tags and the other `tracewell.*` keys) become string `tags`;
/// events become `annotations`; an error status sets the `error` tag to its message, and a
/// cancelled span also gets `tracewell.cancelled=true`.
///
/// Environment (`OTEL_TRACES_EXPORTER=zipkin`): `OTEL_EXPORTER_ZIPKIN_ENDPOINT` (default
/// `http://localhost:9411/api/v2/spans`), `OTEL_EXPORTER_ZIPKIN_TIMEOUT` (ms, default 10000).
///
/// # Examples
///
/// ```
/// use tracewell::export::ZipkinExporter;
/// let z = ZipkinExporter::new("http://127.0.0.1:9411/api/v2/spans").unwrap().service_name("api");
/// # drop(z);
/// ```
#[derive(Debug)]
pub struct ZipkinExporter {
    endpoint: String,
    service_name: String,
    timeout: Duration,
    client: Option<httpc::HttpClient>,
    health: HealthCell,
}

fn check(var: &'static str, url: &str) -> Result<hyper::Uri, crate::ConfigError> {
    let bad = |reason: String| crate::ConfigError::Invalid { var, value: url.to_owned(), reason };
    if !url.starts_with("http://") {
        return Err(bad("expected an http://host:port/api/v2/spans URL (https needs TLS, not in this build)".into()));
    }
    url.parse::<hyper::Uri>().map_err(|e| bad(format!("{e}; expected an http://host:port/api/v2/spans URL")))
}

impl ZipkinExporter {
    /// An exporter posting to `endpoint` (`http://host:9411/api/v2/spans`).
    ///
    /// # Errors
    ///
    /// [`crate::ConfigError::Invalid`] when `endpoint` is not an `http://` URL.
    pub fn new(endpoint: &str) -> Result<ZipkinExporter, crate::ConfigError> {
        check("OTEL_EXPORTER_ZIPKIN_ENDPOINT", endpoint)?;
        Ok(ZipkinExporter {
            endpoint: endpoint.to_owned(),
            service_name: "unknown_service".into(),
            timeout: Duration::from_secs(10),
            client: None,
            health: HealthCell::new(NAME, endpoint.to_owned()),
        })
    }

    /// Sets `localEndpoint.serviceName`.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = name.into();
        self
    }

    /// Time limit of one export including retries (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub(crate) fn from_lookup(
        get: &dyn Fn(&str) -> Option<String>,
        config: &crate::Config,
    ) -> Result<ZipkinExporter, crate::ConfigError> {
        let endpoint = get("OTEL_EXPORTER_ZIPKIN_ENDPOINT").unwrap_or_else(|| DEFAULT_ZIPKIN_ENDPOINT.into());
        let mut e = ZipkinExporter::new(endpoint.trim())?.service_name(config.service_name.clone());
        if let Some(v) = get("OTEL_EXPORTER_ZIPKIN_TIMEOUT") {
            e = e.timeout(Duration::from_millis(super::parse_positive("OTEL_EXPORTER_ZIPKIN_TIMEOUT", &v)?));
        }
        Ok(e)
    }
}

fn tag_text(v: &Value) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        other => other.to_json().to_string(),
    }
}

/// One span in Zipkin v2 JSON.
pub(crate) fn zipkin_span(s: &SpanData, service_name: &str) -> J {
    let mut tags = Map::new();
    s.for_each_flat_attribute(|k, v| {
        tags.insert(k.into_owned(), J::String(tag_text(v)));
    });
    let message = s.status.message.as_deref().unwrap_or("");
    match s.status.code {
        StatusCode::Unset => {}
        StatusCode::Ok => {
            tags.insert("otel.status_code".into(), "OK".into());
        }
        StatusCode::Error | StatusCode::Cancelled => {
            tags.insert("otel.status_code".into(), "ERROR".into());
            let text = if !message.is_empty() {
                message
            } else if s.status.code == StatusCode::Cancelled {
                "cancelled"
            } else {
                "true"
            };
            tags.insert("error".into(), text.into());
            if s.status.code == StatusCode::Cancelled {
                tags.insert(super::otlp_cancelled_key().into(), "true".into());
            }
        }
    }
    let mut out = Map::new();
    out.insert("traceId".into(), s.trace_id.to_string().into());
    out.insert("id".into(), s.span_id.to_string().into());
    if s.parent_span_id.is_valid() {
        out.insert("parentId".into(), s.parent_span_id.to_string().into());
    }
    out.insert("name".into(), s.name.as_ref().into());
    let kind = match s.kind {
        SpanKind::Internal => None,
        SpanKind::Server => Some("SERVER"),
        SpanKind::Client => Some("CLIENT"),
        SpanKind::Producer => Some("PRODUCER"),
        SpanKind::Consumer => Some("CONSUMER"),
    };
    if let Some(k) = kind {
        out.insert("kind".into(), k.into());
    }
    out.insert("timestamp".into(), (s.start_time_unix_nano / 1000).into());
    out.insert("duration".into(), (s.duration_ns() / 1000).max(1).into());
    out.insert("localEndpoint".into(), json!({ "serviceName": service_name }));
    if !s.events.is_empty() {
        let annotations: Vec<J> = s
            .events
            .iter()
            .map(|e| {
                let value = if e.attributes.is_empty() {
                    e.name.to_string()
                } else {
                    let attrs: Map<String, J> =
                        e.attributes.iter().map(|(k, v)| (k.to_string(), v.to_json())).collect();
                    format!("{} {}", e.name, J::Object(attrs))
                };
                json!({ "timestamp": e.time_unix_nano / 1000, "value": value })
            })
            .collect();
        out.insert("annotations".into(), J::Array(annotations));
    }
    out.insert("tags".into(), J::Object(tags));
    J::Object(out)
}

impl Exporter for ZipkinExporter {
    fn name(&self) -> &'static str {
        NAME
    }

    fn export<'a>(&'a mut self, batch: &'a [SpanData]) -> BoxFuture<'a, Result<(), ExportError>> {
        Box::pin(async move {
            // Checked when built.
            let uri: hyper::Uri = match self.endpoint.parse() {
                Ok(u) => u,
                Err(e) => return Err(ExportError::Rejected { exporter: NAME, message: e.to_string() }),
            };
            let client = self.client.get_or_insert_with(httpc::client).clone();
            let list: Vec<J> = batch.iter().map(|s| zipkin_span(s, &self.service_name)).collect();
            let body = Bytes::from(serde_json::to_vec(&list).unwrap_or_default());
            send_with_retries(NAME, &self.health, batch.len(), self.timeout, |_left| {
                let (client, uri, body) = (client.clone(), uri.clone(), body.clone());
                async move {
                    let reply = httpc::post(client, uri, &[], "application/json", false, body).await;
                    httpc::classify(reply, |_| Attempt::Delivered { rejected: 0, message: String::new() })
                }
            })
            .await
        })
    }

    fn shutdown(&mut self) -> BoxFuture<'_, Result<(), ExportError>> {
        self.client = None;
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_fields() {
        let s = SpanData {
            trace_id: crate::TraceId(0xabc),
            span_id: crate::SpanId(0x12),
            parent_span_id: crate::SpanId(0x34),
            name: "get".into(),
            kind: SpanKind::Client,
            start_time_unix_nano: 5_000_000,
            end_time_unix_nano: 7_000_000,
            status: crate::Status { code: StatusCode::Cancelled, message: None },
            inputs: [("n".into(), Value::U64(3))].into_iter().collect(),
            ..Default::default()
        };
        let j = zipkin_span(&s, "svc");
        assert_eq!(j["traceId"], "00000000000000000000000000000abc");
        assert_eq!(j["parentId"], "0000000000000034");
        assert_eq!((j["timestamp"].as_u64(), j["duration"].as_u64()), (Some(5000), Some(2000)));
        assert_eq!(j["kind"], "CLIENT");
        assert_eq!(j["localEndpoint"]["serviceName"], "svc");
        assert_eq!(j["tags"]["tracewell.input.n"], "3");
        assert_eq!(j["tags"]["error"], "cancelled");
        assert_eq!(j["tags"]["tracewell.cancelled"], "true");
    }

    #[test]
    fn bad_endpoint_names_the_variable() {
        let get = |k: &str| (k == "OTEL_EXPORTER_ZIPKIN_ENDPOINT").then(|| "zipkin:9411".to_owned());
        let err = ZipkinExporter::from_lookup(&get, &crate::Config::default()).unwrap_err().to_string();
        assert!(err.starts_with("OTEL_EXPORTER_ZIPKIN_ENDPOINT="), "{err}");
    }
}
