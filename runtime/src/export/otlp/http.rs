//! OTLP over HTTP/protobuf: `POST <endpoint>` (normally `.../v1/traces`) with an
//! `ExportTraceServiceRequest` body encoded by prost.

use hyper::body::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use super::{Attempt, Settings, proto, send_with_retries};
use crate::export::health::HealthCell;
use crate::export::httpc;
use crate::export::{BoxFuture, ExportError, Exporter};
use crate::span::SpanData;

const NAME: &str = "otlp-http";

/// Sends spans over OTLP/HTTP with protobuf bodies to an OpenTelemetry Collector, Jaeger,
/// Grafana Tempo or any OTLP receiver.
///
/// Environment (`OTEL_TRACES_EXPORTER=otlp`, `OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf`, the
/// default): `OTEL_EXPORTER_OTLP_ENDPOINT` (base URL; `/v1/traces` is appended, default
/// `http://localhost:4318`) or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is),
/// `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT` (ms), `OTEL_EXPORTER_OTLP_COMPRESSION`
/// (`gzip`), `OTEL_RESOURCE_ATTRIBUTES`. Retries 429, 502, 503 and 504, honouring `Retry-After`.
///
/// # Examples
///
/// ```
/// use tracewell::export::OtlpHttpExporter;
/// let otlp = OtlpHttpExporter::new("http://127.0.0.1:4318/v1/traces").unwrap().service_name("checkout").gzip(true);
/// # drop(otlp);
/// ```
pub struct OtlpHttpExporter {
    settings: Settings,
    resource: Resource,
    headers: Vec<(HeaderName, HeaderValue)>,
    client: Option<httpc::HttpClient>,
    health: HealthCell,
    requests: proto::RequestBuffer,
}

impl std::fmt::Debug for OtlpHttpExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<&str> = self.settings.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("OtlpHttpExporter")
            .field("endpoint", &self.settings.endpoint)
            .field("headers", &headers)
            .field("timeout", &self.settings.timeout)
            .field("gzip", &self.settings.gzip)
            .finish_non_exhaustive()
    }
}

impl OtlpHttpExporter {
    /// An exporter posting to `endpoint`, the full URL (`http://host:4318/v1/traces`).
    ///
    /// # Errors
    ///
    /// [`crate::ConfigError::Invalid`] when `endpoint` is not an `http://` URL.
    pub fn new(endpoint: &str) -> Result<OtlpHttpExporter, crate::ConfigError> {
        super::check_endpoint("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint)?;
        Ok(OtlpHttpExporter::from_settings(Settings::new(endpoint.to_owned())))
    }

    pub(crate) fn from_settings(settings: Settings) -> OtlpHttpExporter {
        OtlpHttpExporter {
            resource: proto::resource(&settings.service_name, &settings.resource_attributes),
            health: HealthCell::new(NAME, settings.endpoint.clone()),
            headers: Vec::new(),
            client: None,
            requests: proto::RequestBuffer::default(),
            settings,
        }
    }

    super::otlp_setters!();
}

impl Exporter for OtlpHttpExporter {
    fn name(&self) -> &'static str {
        NAME
    }

    fn export<'a>(&'a mut self, batch: &'a [SpanData]) -> BoxFuture<'a, Result<(), ExportError>> {
        Box::pin(async move {
            let uri: hyper::Uri = match self.settings.endpoint.parse() {
                Ok(u) => u,
                Err(e) => {
                    let err = ExportError::Rejected { exporter: NAME, message: format!("invalid endpoint: {e}") };
                    self.health.failed(&err);
                    self.health.dropped(batch.len());
                    return Err(err);
                }
            };
            let client = match &self.client {
                Some(c) => c.clone(),
                None => {
                    self.headers = httpc::headers(NAME, &self.settings.headers);
                    let c = httpc::client();
                    self.client = Some(c.clone());
                    c
                }
            };
            let encoded = self.requests.encode(&self.resource, batch);
            let gzip = self.settings.gzip;
            let body = Bytes::from(if gzip { httpc::gzip(&encoded) } else { encoded });
            let headers = &self.headers;
            send_with_retries(NAME, &self.health, batch.len(), self.settings.timeout, |_left| {
                let (client, uri, body) = (client.clone(), uri.clone(), body.clone());
                async move {
                    let reply = httpc::post(client, uri, headers, "application/x-protobuf", gzip, body).await;
                    httpc::classify(reply, |r| {
                        let partial = ExportTraceServiceResponse::decode(&r.body[..])
                            .ok()
                            .and_then(|resp| resp.partial_success)
                            .unwrap_or_default();
                        Attempt::Delivered {
                            rejected: partial.rejected_spans.max(0) as u64,
                            message: partial.error_message,
                        }
                    })
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
