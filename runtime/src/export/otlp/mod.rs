//! OTLP exporters: gRPC through tonic ([`OtlpGrpcExporter`]) and HTTP/protobuf to `/v1/traces`
//! ([`OtlpHttpExporter`]). Both send the `ExportTraceServiceRequest` of the `opentelemetry-proto`
//! crate, written straight from the spans by `wire` (the same bytes prost writes for those
//! types; `proto` holds the plain conversion the tests hold it to) and decode the crate's
//! `ExportTraceServiceResponse`.
//!
//! Both retry UNAVAILABLE / RESOURCE_EXHAUSTED (gRPC) and 429 / 502 / 503 / 504 (HTTP) with
//! capped exponential backoff and jitter, honouring the server's `RetryInfo` or `Retry-After`,
//! within the OTLP timeout; other errors drop the batch. Partial-success answers are counted as
//! rejected spans in [`crate::health`].

#[cfg(feature = "otlp-grpc")]
mod grpc;
#[cfg(feature = "otlp-http")]
mod http;
pub(crate) mod proto;
#[cfg(feature = "otlp-grpc")]
mod trace_client;
mod wire;

use std::time::Duration;

#[cfg(feature = "otlp-grpc")]
pub use grpc::OtlpGrpcExporter;
#[cfg(feature = "otlp-http")]
pub use http::OtlpHttpExporter;
pub use proto::CANCELLED_ATTRIBUTE;

pub(crate) use super::retry::{Attempt, send_with_retries};
use crate::config::ConfigError;

/// The OTLP/gRPC default endpoint.
pub const DEFAULT_GRPC_ENDPOINT: &str = "http://localhost:4317";
/// The OTLP/HTTP default endpoint (traces path included).
pub const DEFAULT_HTTP_ENDPOINT: &str = "http://localhost:4318/v1/traces";

/// What both OTLP transports are configured with.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub endpoint: String,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    pub gzip: bool,
    pub service_name: String,
    pub resource_attributes: Vec<(String, String)>,
    /// Requests in flight at once (`TRACEWELL_OTLP_MAX_IN_FLIGHT`).
    pub max_in_flight: usize,
    /// The extra CA and client identity for `https://` endpoints.
    #[cfg(feature = "tls")]
    pub tls: super::tls::TlsPem,
}

impl Settings {
    pub(crate) fn new(endpoint: String) -> Settings {
        Settings {
            endpoint,
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            gzip: false,
            service_name: "unknown_service".into(),
            resource_attributes: Vec::new(),
            max_in_flight: super::inflight::DEFAULT_MAX_IN_FLIGHT,
            #[cfg(feature = "tls")]
            tls: super::tls::TlsPem::default(),
        }
    }
}

/// Checks that `url` is an `http://host[:port][/path]` URL, or `https://` in a build with the
/// `tls` feature.
pub(crate) fn check_endpoint(var: &'static str, url: &str) -> Result<(), ConfigError> {
    check_endpoint_in(var, url, cfg!(feature = "tls"))
}

fn check_endpoint_in(var: &'static str, url: &str, tls_built: bool) -> Result<(), ConfigError> {
    let bad = |reason: &str| Err(ConfigError::Invalid { var, value: url.to_owned(), reason: reason.to_owned() });
    if let Some(why) = super::tls_missing(url, tls_built) {
        return bad(&why);
    }
    let expected = if tls_built {
        "expected an http://host:port or https://host:port URL"
    } else {
        "expected an http://host:port URL"
    };
    let Some(rest) = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://").filter(|_| tls_built)) else {
        return bad(expected);
    };
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() || host.contains(char::is_whitespace) {
        return bad(expected);
    }
    Ok(())
}

/// Which transport `otlp` means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    Grpc,
    HttpProtobuf,
}

/// Builds the `otlp` exporter of `OTEL_TRACES_EXPORTER` from the `OTEL_EXPORTER_OTLP_*`
/// variables (the `_TRACES_` forms win).
pub(crate) fn from_lookup(
    get: &dyn Fn(&str) -> Option<String>,
    service_name: &str,
) -> Result<Box<dyn super::Exporter>, ConfigError> {
    let pick = |traces: &'static str, general: &'static str| {
        get(traces).map(|v| (traces, v)).or_else(|| get(general).map(|v| (general, v)))
    };
    let protocol = match pick("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL") {
        None => {
            if cfg!(feature = "otlp-http") {
                Protocol::HttpProtobuf
            } else {
                Protocol::Grpc
            }
        }
        Some((var, v)) => match v.trim() {
            "grpc" => Protocol::Grpc,
            "http/protobuf" => Protocol::HttpProtobuf,
            _ => {
                return Err(ConfigError::Invalid { var, value: v, reason: "expected grpc or http/protobuf".into() });
            }
        },
    };
    let (endpoint_var, endpoint) = match (get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), get("OTEL_EXPORTER_OTLP_ENDPOINT"))
    {
        (Some(e), _) => ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", e.trim().to_owned()),
        (None, Some(base)) => {
            let base = base.trim().trim_end_matches('/').to_owned();
            let e = if protocol == Protocol::HttpProtobuf { format!("{base}/v1/traces") } else { base };
            ("OTEL_EXPORTER_OTLP_ENDPOINT", e)
        }
        (None, None) => (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            if protocol == Protocol::HttpProtobuf { DEFAULT_HTTP_ENDPOINT } else { DEFAULT_GRPC_ENDPOINT }.to_owned(),
        ),
    };
    check_endpoint(endpoint_var, &endpoint)?;
    let mut s = Settings::new(endpoint);
    s.service_name = service_name.to_owned();
    if let Some((var, v)) = pick("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS") {
        s.headers = proto::parse_pairs(var, &v)?;
    }
    if let Some((var, v)) = pick("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT") {
        s.timeout = Duration::from_millis(super::parse_positive(var, &v)?);
    }
    if let Some((var, v)) = pick("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION") {
        s.gzip = match v.trim() {
            "gzip" => true,
            "none" => false,
            _ => return Err(ConfigError::Invalid { var, value: v, reason: "expected gzip or none".into() }),
        };
    }
    if let Some(v) = get("TRACEWELL_OTLP_MAX_IN_FLIGHT") {
        s.max_in_flight = super::inflight::parse_limit("TRACEWELL_OTLP_MAX_IN_FLIGHT", &v)?;
    }
    if let Some(v) = get("OTEL_RESOURCE_ATTRIBUTES") {
        s.resource_attributes = proto::parse_pairs("OTEL_RESOURCE_ATTRIBUTES", &v)?;
    }
    #[cfg(feature = "tls")]
    {
        s.tls = super::tls::TlsPem::from_lookup(
            get,
            &["OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE"],
            &["OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"],
            &["OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "OTEL_EXPORTER_OTLP_CLIENT_KEY"],
        )?;
    }
    match protocol {
        #[cfg(feature = "otlp-grpc")]
        Protocol::Grpc => Ok(Box::new(OtlpGrpcExporter::from_settings(s))),
        #[cfg(feature = "otlp-http")]
        Protocol::HttpProtobuf => Ok(Box::new(OtlpHttpExporter::from_settings(s))),
        #[allow(unreachable_patterns)]
        other => Err(ConfigError::Invalid {
            var: "OTEL_EXPORTER_OTLP_PROTOCOL",
            value: format!("{other:?}"),
            reason: "this transport is not compiled in; enable tracewell's otlp-grpc or otlp-http feature".into(),
        }),
    }
}

/// Setters shared by both OTLP exporters.
macro_rules! otlp_setters {
    () => {
        /// Adds a header (gRPC metadata) sent with every request, such as `authorization`.
        pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
            self.settings.headers.push((name.into().to_ascii_lowercase(), value.into()));
            self
        }

        /// Time limit of one export including its retries (default 10 s).
        pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
            self.settings.timeout = timeout;
            self
        }

        /// How many requests may be in flight at once (default 4, at most 64;
        /// `TRACEWELL_OTLP_MAX_IN_FLIGHT`). With more than one, an export hands its batch to
        /// the exporter's own I/O thread and returns; the batch counts as held
        /// ([`crate::Stats::held`]) until the backend answers, and the next export waits only
        /// when the limit is reached. 1 means each export waits for its answer.
        pub fn max_in_flight(mut self, requests: usize) -> Self {
            self.settings.max_in_flight = requests.clamp(1, crate::export::inflight::MOST_IN_FLIGHT);
            self.in_flight = crate::export::inflight::InFlight::new(NAME, self.settings.max_in_flight);
            self
        }

        /// Compresses requests with gzip.
        pub fn gzip(mut self, on: bool) -> Self {
            self.settings.gzip = on;
            self
        }

        /// Sets the `service.name` resource attribute.
        pub fn service_name(mut self, name: impl Into<String>) -> Self {
            self.settings.service_name = name.into();
            self.resource = super::proto::resource(&self.settings.service_name, &self.settings.resource_attributes);
            self
        }

        /// Adds a resource attribute (such as `service.version` or `deployment.environment`).
        pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
            self.settings.resource_attributes.push((key.into(), value.into()));
            self.resource = super::proto::resource(&self.settings.service_name, &self.settings.resource_attributes);
            self
        }

        /// Also trusts the CA certificate(s) in `pem` (PEM text) for an `https://` endpoint, on
        /// top of the system's roots; what `OTEL_EXPORTER_OTLP_CERTIFICATE` names.
        ///
        /// # Errors
        ///
        /// [`crate::ConfigError::Invalid`] (naming `OTEL_EXPORTER_OTLP_CERTIFICATE`) when `pem`
        /// holds no usable certificate.
        #[cfg(feature = "tls")]
        pub fn ca_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Result<Self, crate::config::ConfigError> {
            let pem = pem.into();
            let shown = crate::export::tls::in_code(&pem);
            self.settings.tls.set_ca("OTEL_EXPORTER_OTLP_CERTIFICATE", &shown, pem)?;
            Ok(self)
        }

        /// Presents the certificate chain `cert` and its private key `key` (PEM text) when an
        /// `https://` endpoint asks for a client certificate (mutual TLS); what
        /// `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` and `OTEL_EXPORTER_OTLP_CLIENT_KEY` name.
        ///
        /// # Errors
        ///
        /// [`crate::ConfigError::Invalid`] (naming the variable) when `cert` holds no
        /// certificate, `key` no private key, or the key does not belong to the certificate.
        #[cfg(feature = "tls")]
        pub fn client_identity_pem(
            mut self,
            cert: impl Into<Vec<u8>>,
            key: impl Into<Vec<u8>>,
        ) -> Result<Self, crate::config::ConfigError> {
            let (cert, key) = (cert.into(), key.into());
            let shown = (crate::export::tls::in_code(&cert), crate::export::tls::in_code(&key));
            self.settings.tls.set_identity(
                ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_CLIENT_KEY"),
                (&shown.0, &shown.1),
                cert,
                key,
            )?;
            Ok(self)
        }
    };
}
pub(crate) use otlp_setters;

#[cfg(test)]
mod tests {
    use super::*;

    fn build(env: &[(&str, &str)]) -> Result<Box<dyn super::super::Exporter>, ConfigError> {
        let get = |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned());
        from_lookup(&get, crate::config::DEFAULT_SERVICE_NAME)
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4317"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://x"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "novalue"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
            ("OTEL_RESOURCE_ATTRIBUTES", "x"),
            ("TRACEWELL_OTLP_MAX_IN_FLIGHT", "0"),
            ("TRACEWELL_OTLP_MAX_IN_FLIGHT", "many"),
            ("TRACEWELL_OTLP_MAX_IN_FLIGHT", "65"),
        ] {
            let err = build(&[(var, value)]).unwrap_err().to_string();
            assert!(err.starts_with(&format!("{var}=")), "{err}");
        }
    }

    #[test]
    fn https_needs_the_tls_feature() {
        let err = check_endpoint_in("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4317", false).unwrap_err();
        let err = err.to_string();
        assert!(err.starts_with("OTEL_EXPORTER_OTLP_ENDPOINT=\"https://collector:4317\": https:// needs TLS"), "{err}");
        assert!(err.contains("enable tracewell's `tls` feature"), "{err}");
        check_endpoint_in("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4317", true).unwrap();
        assert!(check_endpoint_in("OTEL_EXPORTER_OTLP_ENDPOINT", "https://", true).is_err());
        assert_eq!(check_endpoint("V", "https://c:1").is_ok(), cfg!(feature = "tls"));
    }

    #[cfg(feature = "tls")]
    #[test]
    fn certificate_variables_are_read_and_named() {
        let err = build(&[
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/hostname"),
            ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "/nonexistent/ca.pem"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE=\"/nonexistent/ca.pem\": cannot read"), "{err}");
        let err = build(&[("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/k.pem")]).unwrap_err().to_string();
        assert!(err.contains("set OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE too"), "{err}");
        let not_pem = std::env::temp_dir().join(format!("tracewell-not-pem-{}.txt", std::process::id()));
        std::fs::write(&not_pem, "just text").unwrap();
        let err = build(&[("OTEL_EXPORTER_OTLP_CERTIFICATE", not_pem.to_str().unwrap())]).unwrap_err().to_string();
        let _ = std::fs::remove_file(&not_pem);
        assert!(err.starts_with("OTEL_EXPORTER_OTLP_CERTIFICATE="), "{err}");
        assert!(err.contains("no certificate found"), "{err}");
    }

    #[cfg(all(feature = "otlp-grpc", feature = "otlp-http"))]
    #[test]
    fn protocol_picks_the_transport() {
        assert_eq!(build(&[]).unwrap().name(), "otlp-http");
        assert_eq!(build(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).unwrap().name(), "otlp-grpc");
        let e = build(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")]).unwrap();
        assert!(format!("{e:?}").contains("http://collector:4318/v1/traces"), "{e:?}");
        assert!(format!("{e:?}").contains("max_in_flight: 4"), "the default: {e:?}");
        let e = build(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"), ("TRACEWELL_OTLP_MAX_IN_FLIGHT", " 8")]).unwrap();
        assert!(format!("{e:?}").contains("max_in_flight: 8"), "{e:?}");
    }
}
