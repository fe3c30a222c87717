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
use crate::export::inflight::InFlight;
use crate::export::{BoxFuture, Delivery, ExportError, Exporter, Settled};
use crate::span::Batch;

const NAME: &str = "otlp-http";

/// Sends spans over OTLP/HTTP with protobuf bodies to an OpenTelemetry Collector, Jaeger,
/// Grafana Tempo or any OTLP receiver.
///
/// Environment (`OTEL_TRACES_EXPORTER=otlp`, `OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf`, the
/// default): `OTEL_EXPORTER_OTLP_ENDPOINT` (base URL; `/v1/traces` is appended, default
/// `http://localhost:4318`) or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is),
/// `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT` (ms), `OTEL_EXPORTER_OTLP_COMPRESSION`
/// (`gzip`), `OTEL_RESOURCE_ATTRIBUTES`, `TRACEWELL_OTLP_MAX_IN_FLIGHT` (requests in flight at
/// once, default 4, see [`OtlpHttpExporter::max_in_flight`]); for an `https://` endpoint (feature `tls`),
/// `OTEL_EXPORTER_OTLP_CERTIFICATE` (a PEM file of CA certificates trusted on top of the system's
/// roots), `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` and `OTEL_EXPORTER_OTLP_CLIENT_KEY` (PEM files,
/// for mutual TLS). Each `OTEL_EXPORTER_OTLP_*` variable has an `OTEL_EXPORTER_OTLP_TRACES_*`
/// form that wins over it.
///
/// Retries 429, 502, 503 and 504, honouring `Retry-After` (seconds or an HTTP date). A server
/// certificate that is not trusted (or a client certificate the server refuses) fails the batch
/// at once, without retries: it is counted as dropped and the reason shows in [`crate::health`].
///
/// # Examples
///
/// ```
/// use tracewell::export::OtlpHttpExporter;
/// let otlp = OtlpHttpExporter::new("http://127.0.0.1:4318/v1/traces").unwrap().service_name("checkout").gzip(true);
/// # drop(otlp);
/// ```
///
/// Over TLS (feature `tls`), trusting a private CA and presenting a client certificate:
///
/// ```no_run
/// # #[cfg(feature = "tls")]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tracewell::export::OtlpHttpExporter;
/// let otlp = OtlpHttpExporter::new("https://collector.internal:4318/v1/traces")?
///     .ca_certificate_pem(std::fs::read("/etc/otel/ca.pem")?)?
///     .client_identity_pem(std::fs::read("/etc/otel/client.pem")?, std::fs::read("/etc/otel/client.key")?)?;
/// let _guard = tracewell::builder().exporter(otlp).install()?;
/// # Ok(()) }
/// # #[cfg(not(feature = "tls"))]
/// # fn main() {}
/// ```
pub struct OtlpHttpExporter {
    settings: Settings,
    resource: Resource,
    headers: Vec<(HeaderName, HeaderValue)>,
    client: Option<httpc::HttpClient>,
    health: HealthCell,
    requests: super::wire::RequestEncoder,
    in_flight: InFlight,
}

impl std::fmt::Debug for OtlpHttpExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<&str> = self.settings.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("OtlpHttpExporter")
            .field("endpoint", &self.settings.endpoint)
            .field("headers", &headers)
            .field("timeout", &self.settings.timeout)
            .field("gzip", &self.settings.gzip)
            .field("max_in_flight", &self.settings.max_in_flight)
            .finish_non_exhaustive()
    }
}

impl OtlpHttpExporter {
    /// An exporter posting to `endpoint`, the full URL (`http://host:4318/v1/traces`, or
    /// `https://` with the `tls` feature).
    ///
    /// # Errors
    ///
    /// [`crate::ConfigError::Invalid`] when `endpoint` is not an `http://` URL (or `https://` in a
    /// build with the `tls` feature).
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
            requests: super::wire::RequestEncoder::default(),
            in_flight: InFlight::new(NAME, settings.max_in_flight),
            settings,
        }
    }

    super::otlp_setters!();
}

impl Exporter for OtlpHttpExporter {
    fn name(&self) -> &'static str {
        NAME
    }

    fn export<'a>(&'a mut self, batch: &'a Batch) -> BoxFuture<'a, Result<Delivery, ExportError>> {
        Box::pin(async move {
            let uri: hyper::Uri = match self.settings.endpoint.parse() {
                Ok(u) => u,
                Err(e) => {
                    return Err(self.health.gave_up(
                        ExportError::Rejected { exporter: NAME, message: format!("invalid endpoint: {e}") },
                        batch.len(),
                    ));
                }
            };
            let client = match &self.client {
                Some(c) => c.clone(),
                None => {
                    self.headers = httpc::headers(NAME, &self.settings.headers);
                    #[cfg(feature = "tls")]
                    let built = httpc::client(&self.settings.tls);
                    #[cfg(not(feature = "tls"))]
                    let built = httpc::client();
                    let c = match built {
                        Ok(c) => c,
                        Err(message) => {
                            return Err(self
                                .health
                                .gave_up(ExportError::Rejected { exporter: NAME, message }, batch.len()));
                        }
                    };
                    self.client = Some(c.clone());
                    c
                }
            };
            let encoded = self.requests.encode(&self.resource, batch);
            let gzip = self.settings.gzip;
            let body = Bytes::from(if gzip { httpc::gzip(&encoded) } else { encoded });
            let request = send(
                client,
                uri,
                self.headers.clone(),
                gzip,
                body,
                self.health.clone(),
                batch.len(),
                self.settings.timeout,
            );
            // hyper spawns its connections on the runtime the request runs on: the I/O thread's
            // when requests are in flight.
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
#[allow(clippy::too_many_arguments)]
async fn send(
    client: httpc::HttpClient,
    uri: hyper::Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    gzip: bool,
    body: Bytes,
    health: HealthCell,
    spans: usize,
    timeout: std::time::Duration,
) -> Result<(), ExportError> {
    send_with_retries(NAME, &health, spans, timeout, |_left| {
        let (client, uri, body) = (client.clone(), uri.clone(), body.clone());
        let headers = &headers;
        async move {
            let reply = httpc::post(client, uri, headers, "application/x-protobuf", gzip, body).await;
            httpc::classify(reply, |r| {
                let partial = ExportTraceServiceResponse::decode(&r.body[..])
                    .ok()
                    .and_then(|resp| resp.partial_success)
                    .unwrap_or_default();
                Attempt::Delivered { rejected: partial.rejected_spans.max(0) as u64, message: partial.error_message }
            })
        }
    })
    .await
}
