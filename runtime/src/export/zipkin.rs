//! The Zipkin exporter: JSON v2 spans posted to `/api/v2/spans`.

use std::time::Duration;

use hyper::body::Bytes;
use serde_json::{Map, Value as J, json};

use super::health::HealthCell;
use super::httpc;
use super::inflight::{self, InFlight};
use super::retry::{Attempt, send_with_retries};
use super::{BoxFuture, Delivery, ExportError, Exporter, Settled};
use crate::config::ConfigError;
use crate::span::{Batch, SpanData, SpanKind, StatusCode, Value};

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
/// `http://localhost:9411/api/v2/spans`; `https://` with the `tls` feature),
/// `OTEL_EXPORTER_ZIPKIN_TIMEOUT` (ms, default 10000), `TRACEWELL_ZIPKIN_MAX_IN_FLIGHT` (requests
/// in flight at once, default 4, see [`ZipkinExporter::max_in_flight`]). OpenTelemetry names no TLS variables for
/// Zipkin, so for an `https://` endpoint tracewell reads its own: `TRACEWELL_ZIPKIN_CA_CERT` (a
/// PEM file of CA certificates trusted on top of the system's roots),
/// `TRACEWELL_ZIPKIN_CLIENT_CERT` and `TRACEWELL_ZIPKIN_CLIENT_KEY` (PEM files, for mutual TLS).
///
/// Retries 429, 502, 503 and 504, honouring `Retry-After` (seconds or an HTTP date). A server
/// certificate that is not trusted fails the batch at once, without retries: it is counted as
/// dropped and the reason shows in [`crate::health`].
///
/// # Examples
///
/// ```
/// use tracewell::export::ZipkinExporter;
/// let z = ZipkinExporter::new("http://127.0.0.1:9411/api/v2/spans").unwrap().service_name("api");
/// # drop(z);
/// ```
///
/// Over TLS (feature `tls`), trusting a private CA:
///
/// ```no_run
/// # #[cfg(feature = "tls")]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tracewell::export::ZipkinExporter;
/// let z = ZipkinExporter::new("https://zipkin.internal/api/v2/spans")?
///     .ca_certificate_pem(std::fs::read("/etc/zipkin/ca.pem")?)?;
/// let _guard = tracewell::builder().exporter(z).install()?;
/// # Ok(()) }
/// # #[cfg(not(feature = "tls"))]
/// # fn main() {}
/// ```
#[derive(Debug)]
pub struct ZipkinExporter {
    endpoint: String,
    service_name: String,
    timeout: Duration,
    client: Option<httpc::HttpClient>,
    health: HealthCell,
    in_flight: InFlight,
    #[cfg(feature = "tls")]
    tls: super::tls::TlsPem,
}

#[cfg(feature = "tls")]
const CA_VAR: &str = "TRACEWELL_ZIPKIN_CA_CERT";
#[cfg(feature = "tls")]
const CERT_VAR: &str = "TRACEWELL_ZIPKIN_CLIENT_CERT";
#[cfg(feature = "tls")]
const KEY_VAR: &str = "TRACEWELL_ZIPKIN_CLIENT_KEY";

fn check(var: &'static str, url: &str) -> Result<hyper::Uri, ConfigError> {
    check_in(var, url, cfg!(feature = "tls"))
}

fn check_in(var: &'static str, url: &str, tls_built: bool) -> Result<hyper::Uri, ConfigError> {
    let bad = |reason: String| ConfigError::Invalid { var, value: url.to_owned(), reason };
    if let Some(why) = super::tls_missing(url, tls_built) {
        return Err(bad(why));
    }
    let expected = if tls_built { "http(s)://host:port/api/v2/spans" } else { "http://host:port/api/v2/spans" };
    if !(url.starts_with("http://") || tls_built && url.starts_with("https://")) {
        return Err(bad(format!("expected an {expected} URL")));
    }
    url.parse::<hyper::Uri>().map_err(|e| bad(format!("{e}; expected an {expected} URL")))
}

impl ZipkinExporter {
    /// An exporter posting to `endpoint` (`http://host:9411/api/v2/spans`, or `https://` with the
    /// `tls` feature).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] when `endpoint` is not an `http://` URL (or `https://` in a
    /// build with the `tls` feature).
    pub fn new(endpoint: &str) -> Result<ZipkinExporter, ConfigError> {
        check("OTEL_EXPORTER_ZIPKIN_ENDPOINT", endpoint)?;
        Ok(ZipkinExporter {
            endpoint: endpoint.to_owned(),
            service_name: "unknown_service".into(),
            timeout: Duration::from_secs(10),
            client: None,
            health: HealthCell::new(NAME, endpoint.to_owned()),
            in_flight: InFlight::new(NAME, inflight::DEFAULT_MAX_IN_FLIGHT),
            #[cfg(feature = "tls")]
            tls: super::tls::TlsPem::default(),
        })
    }

    /// How many requests may be in flight at once (default 4, at most 64;
    /// `TRACEWELL_ZIPKIN_MAX_IN_FLIGHT`). With more than one, an export hands its batch to the
    /// exporter's own I/O thread and returns; the batch counts as held ([`crate::Stats::held`])
    /// until the server answers, and the next export waits only when the limit is reached. 1
    /// means each export waits for its answer.
    pub fn max_in_flight(mut self, requests: usize) -> Self {
        self.in_flight = InFlight::new(NAME, requests.clamp(1, inflight::MOST_IN_FLIGHT));
        self
    }

    /// Also trusts the CA certificate(s) in `pem` (PEM text) for an `https://` endpoint, on top
    /// of the system's roots; what `TRACEWELL_ZIPKIN_CA_CERT` names.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] (naming `TRACEWELL_ZIPKIN_CA_CERT`) when `pem` holds no
    /// usable certificate.
    #[cfg(feature = "tls")]
    pub fn ca_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Result<Self, ConfigError> {
        let pem = pem.into();
        self.tls.set_ca(CA_VAR, &super::tls::in_code(&pem), pem)?;
        Ok(self)
    }

    /// Presents the certificate chain `cert` and its private key `key` (PEM text) when an
    /// `https://` endpoint asks for a client certificate; what `TRACEWELL_ZIPKIN_CLIENT_CERT` and
    /// `TRACEWELL_ZIPKIN_CLIENT_KEY` name.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] (naming the variable) when `cert` holds no certificate,
    /// `key` no private key, or the key does not belong to the certificate.
    #[cfg(feature = "tls")]
    pub fn client_identity_pem(
        mut self,
        cert: impl Into<Vec<u8>>,
        key: impl Into<Vec<u8>>,
    ) -> Result<Self, ConfigError> {
        let (cert, key) = (cert.into(), key.into());
        let shown = (super::tls::in_code(&cert), super::tls::in_code(&key));
        self.tls.set_identity((CERT_VAR, KEY_VAR), (&shown.0, &shown.1), cert, key)?;
        Ok(self)
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
        service_name: &str,
    ) -> Result<ZipkinExporter, ConfigError> {
        let endpoint = get("OTEL_EXPORTER_ZIPKIN_ENDPOINT").unwrap_or_else(|| DEFAULT_ZIPKIN_ENDPOINT.into());
        let mut e = ZipkinExporter::new(endpoint.trim())?.service_name(service_name.to_owned());
        if let Some(v) = get("OTEL_EXPORTER_ZIPKIN_TIMEOUT") {
            e = e.timeout(Duration::from_millis(super::parse_positive("OTEL_EXPORTER_ZIPKIN_TIMEOUT", &v)?));
        }
        if let Some(v) = get("TRACEWELL_ZIPKIN_MAX_IN_FLIGHT") {
            e = e.max_in_flight(inflight::parse_limit("TRACEWELL_ZIPKIN_MAX_IN_FLIGHT", &v)?);
        }
        #[cfg(feature = "tls")]
        {
            e.tls = super::tls::TlsPem::from_lookup(get, &[CA_VAR], &[CERT_VAR], &[KEY_VAR])?;
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
                tags.insert(crate::span::attr::CANCELLED.into(), "true".into());
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

    fn export<'a>(&'a mut self, batch: &'a Batch) -> BoxFuture<'a, Result<Delivery, ExportError>> {
        Box::pin(async move {
            // Checked when built.
            let uri: hyper::Uri = match self.endpoint.parse() {
                Ok(u) => u,
                Err(e) => return Err(ExportError::Rejected { exporter: NAME, message: e.to_string() }),
            };
            let client = match &self.client {
                Some(c) => c.clone(),
                None => {
                    #[cfg(feature = "tls")]
                    let built = httpc::client(&self.tls);
                    #[cfg(not(feature = "tls"))]
                    let built = httpc::client();
                    match built {
                        Ok(c) => self.client.insert(c).clone(),
                        Err(message) => {
                            return Err(self
                                .health
                                .gave_up(ExportError::Rejected { exporter: NAME, message }, batch.len()));
                        }
                    }
                }
            };
            let list: Vec<J> = batch.iter().map(|s| zipkin_span(&s.to_data(), &self.service_name)).collect();
            let body = Bytes::from(serde_json::to_vec(&list).unwrap_or_default());
            let request = send(client, uri, body, self.health.clone(), batch.len(), self.timeout);
            self.in_flight.send(batch, request).await
        })
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<(), ExportError>> {
        self.in_flight.flush_all()
    }

    // The requests in flight own clones of the client: letting go of ours cuts none short.
    fn shutdown(&mut self) -> BoxFuture<'_, Result<(), ExportError>> {
        self.client = None;
        self.in_flight.close()
    }

    fn take_settled(&mut self) -> Vec<Settled> {
        self.in_flight.take_settled()
    }
}

/// One batch's `POST` with its retries, owning all it needs so it can run in flight.
async fn send(
    client: httpc::HttpClient,
    uri: hyper::Uri,
    body: Bytes,
    health: HealthCell,
    spans: usize,
    timeout: Duration,
) -> Result<(), ExportError> {
    send_with_retries(NAME, &health, spans, timeout, |_left| {
        let (client, uri, body) = (client.clone(), uri.clone(), body.clone());
        async move {
            let reply = httpc::post(client, uri, &[], "application/json", false, body).await;
            httpc::classify(reply, |_| Attempt::Delivered { rejected: 0, message: String::new() })
        }
    })
    .await
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
        let err = ZipkinExporter::from_lookup(&get, crate::config::DEFAULT_SERVICE_NAME).unwrap_err().to_string();
        assert!(err.starts_with("OTEL_EXPORTER_ZIPKIN_ENDPOINT="), "{err}");
        for bad in ["0", "65", "two"] {
            let get = |k: &str| (k == "TRACEWELL_ZIPKIN_MAX_IN_FLIGHT").then(|| bad.to_owned());
            let err = ZipkinExporter::from_lookup(&get, crate::config::DEFAULT_SERVICE_NAME).unwrap_err().to_string();
            assert!(err.starts_with(&format!("TRACEWELL_ZIPKIN_MAX_IN_FLIGHT=\"{bad}\"")), "{err}");
        }
    }

    #[test]
    fn https_needs_the_tls_feature() {
        let err = check_in("OTEL_EXPORTER_ZIPKIN_ENDPOINT", "https://z/api/v2/spans", false).unwrap_err().to_string();
        assert!(
            err.starts_with("OTEL_EXPORTER_ZIPKIN_ENDPOINT=\"https://z/api/v2/spans\": https:// needs TLS"),
            "{err}"
        );
        assert!(err.contains("enable tracewell's `tls` feature"), "{err}");
        assert!(check_in("V", "https://z/api/v2/spans", true).is_ok());
        assert!(check_in("V", "ftp://z", true).is_err());
    }

    #[cfg(feature = "tls")]
    #[test]
    fn certificate_variables_are_read_and_named() {
        let get = |k: &str| (k == CA_VAR).then(|| "/nonexistent/zipkin-ca.pem".to_owned());
        let err = ZipkinExporter::from_lookup(&get, crate::config::DEFAULT_SERVICE_NAME).unwrap_err().to_string();
        assert!(err.starts_with("TRACEWELL_ZIPKIN_CA_CERT=\"/nonexistent/zipkin-ca.pem\": cannot read"), "{err}");
        let get = |k: &str| (k == KEY_VAR).then(|| "/k.pem".to_owned());
        let err = ZipkinExporter::from_lookup(&get, crate::config::DEFAULT_SERVICE_NAME).unwrap_err().to_string();
        assert!(err.contains("set TRACEWELL_ZIPKIN_CLIENT_CERT too"), "{err}");
        let err = ZipkinExporter::new(DEFAULT_ZIPKIN_ENDPOINT).unwrap().ca_certificate_pem("nope").unwrap_err();
        assert!(err.to_string().starts_with("TRACEWELL_ZIPKIN_CA_CERT=\"<4 bytes of PEM given in code>\""), "{err}");
    }
}
