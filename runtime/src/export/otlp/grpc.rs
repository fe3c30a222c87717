//! OTLP over gRPC: tonic's channel calling `opentelemetry-proto`'s `TraceService/Export` with a
//! request encoded once per batch (see `trace_client`).

use std::time::Duration;

use opentelemetry_proto::tonic::resource::v1::Resource;
use tonic::Code;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::Endpoint;

use super::trace_client::TraceClient;
use super::wire::RequestEncoder;
use super::{Attempt, Settings, proto, send_with_retries};
use crate::export::health::HealthCell;
use crate::export::inflight::InFlight;
use crate::export::{BoxFuture, Delivery, ExportError, Exporter, Settled};
use crate::span::Batch;

const NAME: &str = "otlp-grpc";

/// Sends spans over OTLP/gRPC (`opentelemetry.proto.collector.trace.v1.TraceService/Export`) to
/// an OpenTelemetry Collector, Jaeger, Grafana Tempo or any OTLP receiver.
///
/// Environment (`OTEL_TRACES_EXPORTER=otlp` with `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`):
/// `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (default
/// `http://localhost:4317`), `OTEL_EXPORTER_OTLP_HEADERS` (`key=value,...`),
/// `OTEL_EXPORTER_OTLP_TIMEOUT` (ms, default 10000), `OTEL_EXPORTER_OTLP_COMPRESSION` (`gzip`),
/// `OTEL_RESOURCE_ATTRIBUTES`, `TRACEWELL_OTLP_MAX_IN_FLIGHT` (requests in flight at once,
/// default 4, see [`OtlpGrpcExporter::max_in_flight`]); for an `https://` endpoint (feature `tls`),
/// `OTEL_EXPORTER_OTLP_CERTIFICATE` (a PEM file of CA certificates trusted on top of the system's
/// roots), `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` and `OTEL_EXPORTER_OTLP_CLIENT_KEY` (PEM files,
/// for mutual TLS). Each `OTEL_EXPORTER_OTLP_*` variable has an `OTEL_EXPORTER_OTLP_TRACES_*`
/// form that wins over it.
///
/// A server certificate that is not trusted (or a client certificate the server refuses) fails
/// the batch at once, without retries: it is counted as dropped and the reason, naming the
/// certificate, shows in [`crate::health`].
///
/// # Examples
///
/// ```
/// use tracewell::export::OtlpGrpcExporter;
/// let otlp = OtlpGrpcExporter::new("http://127.0.0.1:4317")
///     .unwrap()
///     .service_name("checkout")
///     .resource_attribute("service.version", "1.4.2")
///     .header("authorization", "Bearer token")
///     .gzip(true);
/// # drop(otlp);
/// ```
///
/// Over TLS (feature `tls`), trusting a private CA and presenting a client certificate:
///
/// ```no_run
/// # #[cfg(feature = "tls")]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tracewell::export::OtlpGrpcExporter;
/// let otlp = OtlpGrpcExporter::new("https://collector.internal:4317")?
///     .ca_certificate_pem(std::fs::read("/etc/otel/ca.pem")?)?
///     .client_identity_pem(std::fs::read("/etc/otel/client.pem")?, std::fs::read("/etc/otel/client.key")?)?;
/// let _guard = tracewell::builder().exporter(otlp).install()?;
/// # Ok(()) }
/// # #[cfg(not(feature = "tls"))]
/// # fn main() {}
/// ```
pub struct OtlpGrpcExporter {
    settings: Settings,
    resource: Resource,
    metadata: MetadataMap,
    client: Option<TraceClient>,
    health: HealthCell,
    requests: RequestEncoder,
    in_flight: InFlight,
}

impl std::fmt::Debug for OtlpGrpcExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values may be credentials: show names only.
        let headers: Vec<&str> = self.settings.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("OtlpGrpcExporter")
            .field("endpoint", &self.settings.endpoint)
            .field("headers", &headers)
            .field("timeout", &self.settings.timeout)
            .field("gzip", &self.settings.gzip)
            .field("max_in_flight", &self.settings.max_in_flight)
            .finish_non_exhaustive()
    }
}

impl OtlpGrpcExporter {
    /// An exporter for the receiver at `endpoint` (`http://host:port`, or `https://` with the
    /// `tls` feature). Connects lazily.
    ///
    /// # Errors
    ///
    /// [`crate::ConfigError::Invalid`] when `endpoint` is not an `http://` URL (or `https://` in a
    /// build with the `tls` feature).
    pub fn new(endpoint: &str) -> Result<OtlpGrpcExporter, crate::ConfigError> {
        super::check_endpoint("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)?;
        Ok(OtlpGrpcExporter::from_settings(Settings::new(endpoint.to_owned())))
    }

    pub(crate) fn from_settings(settings: Settings) -> OtlpGrpcExporter {
        OtlpGrpcExporter {
            resource: proto::resource(&settings.service_name, &settings.resource_attributes),
            health: HealthCell::new(NAME, settings.endpoint.clone()),
            metadata: MetadataMap::new(),
            client: None,
            requests: RequestEncoder::default(),
            in_flight: InFlight::new(NAME, settings.max_in_flight),
            settings,
        }
    }

    super::otlp_setters!();

    fn client(&mut self) -> Result<TraceClient, String> {
        if let Some(c) = &self.client {
            return Ok(c.clone());
        }
        let endpoint = Endpoint::from_shared(self.settings.endpoint.clone())
            .map_err(|e| format!("invalid endpoint {}: {e}", self.settings.endpoint))?
            .connect_timeout(self.settings.timeout.min(Duration::from_secs(5)))
            .tcp_nodelay(true);
        #[cfg(feature = "tls")]
        let endpoint = if self.settings.endpoint.starts_with("https://") {
            // The system's roots plus the configured CA; the server name is the endpoint's host.
            let mut tls = tonic::transport::ClientTlsConfig::new()
                .trust_anchors(crate::export::tls::trust_anchors(self.settings.tls.ca.as_deref()));
            if let Some((cert, key)) = &self.settings.tls.identity {
                tls = tls.identity(tonic::transport::Identity::from_pem(cert, key));
            }
            endpoint.tls_config(tls).map_err(|e| format!("TLS setup for {}: {e}", self.settings.endpoint))?
        } else {
            endpoint
        };
        let mut client = TraceClient::new(endpoint.connect_lazy()).max_decoding_message_size(4 << 20);
        if self.settings.gzip {
            client = client.send_compressed(CompressionEncoding::Gzip).accept_compressed(CompressionEncoding::Gzip);
        }
        self.metadata = MetadataMap::new();
        for (k, v) in &self.settings.headers {
            match (MetadataKey::from_bytes(k.as_bytes()), MetadataValue::try_from(v.as_str())) {
                (Ok(k), Ok(v)) => {
                    self.metadata.insert(k, v);
                }
                _ => crate::diag::log_error(format_args!("{NAME}: header {k:?} is not valid gRPC metadata; not sent")),
            }
        }
        self.client = Some(client.clone());
        Ok(client)
    }
}

/// `google.rpc.Status`, `google.protobuf.Any`, `google.rpc.RetryInfo` and
/// `google.protobuf.Duration`: just the fields needed to read a server's retry delay.
mod rpc {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Status {
        #[prost(message, repeated, tag = "3")]
        pub details: Vec<Any>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Any {
        #[prost(string, tag = "1")]
        pub type_url: String,
        #[prost(bytes = "vec", tag = "2")]
        pub value: Vec<u8>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RetryInfo {
        #[prost(message, optional, tag = "1")]
        pub retry_delay: Option<Duration>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Duration {
        #[prost(int64, tag = "1")]
        pub seconds: i64,
        #[prost(int32, tag = "2")]
        pub nanos: i32,
    }
}

/// The delay a server asked for in a `google.rpc.RetryInfo` status detail.
fn retry_delay(details: &[u8]) -> Option<Duration> {
    use prost::Message;
    let status = rpc::Status::decode(details).ok()?;
    let any = status.details.iter().find(|a| a.type_url.ends_with("google.rpc.RetryInfo"))?;
    let d = rpc::RetryInfo::decode(any.value.as_slice()).ok()?.retry_delay?;
    Some(Duration::new(d.seconds.max(0) as u64, d.nanos.clamp(0, 999_999_999) as u32))
}

fn classify(status: &tonic::Status) -> Attempt {
    let mut error = format!("{:?}: {}", status.code(), status.message());
    crate::export::push_sources(&mut error, status);
    // A certificate that was refused now is refused on every retry of this batch; the next
    // batch tries a new connection.
    #[cfg(feature = "tls")]
    if crate::export::tls::is_certificate_error(status) {
        return Attempt::Fail(error);
    }
    match status.code() {
        Code::Unavailable
        | Code::ResourceExhausted
        | Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::DataLoss => Attempt::Retry { hint: retry_delay(status.details()), error },
        _ => Attempt::Fail(error),
    }
}

impl Exporter for OtlpGrpcExporter {
    fn name(&self) -> &'static str {
        NAME
    }

    fn export<'a>(&'a mut self, batch: &'a Batch) -> BoxFuture<'a, Result<Delivery, ExportError>> {
        Box::pin(async move {
            // Built inside the runtime the requests run on, where tonic spawns its connection.
            let io = self.in_flight.runtime();
            let client = {
                let _in_io = io.as_ref().map(tokio::runtime::Handle::enter);
                self.client()
            };
            let client = match client {
                Ok(c) => c,
                Err(message) => {
                    return Err(self.health.gave_up(ExportError::Rejected { exporter: NAME, message }, batch.len()));
                }
            };
            // Encoded once: a retry resends the same bytes.
            let encoded = prost::bytes::Bytes::from(self.requests.encode(&self.resource, batch));
            let request =
                send(client, encoded, self.metadata.clone(), self.health.clone(), batch.len(), self.settings.timeout);
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

/// One batch's `Export` call with its retries, owning all it needs so it can run in flight.
async fn send(
    client: TraceClient,
    encoded: prost::bytes::Bytes,
    metadata: MetadataMap,
    health: HealthCell,
    spans: usize,
    timeout: Duration,
) -> Result<(), ExportError> {
    send_with_retries(NAME, &health, spans, timeout, |left| {
        let mut client = client.clone();
        let mut request = tonic::Request::new(encoded.clone());
        *request.metadata_mut() = metadata.clone();
        request.set_timeout(left);
        async move {
            match client.export(request).await {
                Ok(resp) => {
                    let partial = resp.into_inner().partial_success.unwrap_or_default();
                    Attempt::Delivered {
                        rejected: partial.rejected_spans.max(0) as u64,
                        message: partial.error_message,
                    }
                }
                Err(status) => classify(&status),
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn reads_retry_info() {
        let info = rpc::RetryInfo { retry_delay: Some(rpc::Duration { seconds: 1, nanos: 500_000_000 }) };
        let status = rpc::Status {
            details: vec![rpc::Any {
                type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
                value: info.encode_to_vec(),
            }],
        };
        assert_eq!(retry_delay(&status.encode_to_vec()), Some(Duration::from_millis(1500)));
        assert_eq!(retry_delay(b""), None);
    }

    #[test]
    fn debug_hides_header_values() {
        let e = OtlpGrpcExporter::new("http://127.0.0.1:4317").unwrap().header("authorization", "Bearer s3cret");
        assert!(!format!("{e:?}").contains("s3cret"));
        assert!(OtlpGrpcExporter::new("127.0.0.1:4317").is_err());
    }
}
