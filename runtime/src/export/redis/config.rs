//! Setting the Redis exporter up: its URL (the password kept out of every message), the
//! `TRACEWELL_REDIS_*` variables, and TLS client settings for `rediss://`.

use super::{DEFAULT_REDIS_URL, RedisExporter, RedisMode};
use crate::config::ConfigError;

/// The URL with any password replaced by `***`.
pub(super) fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return url.to_owned() };
    let rest = &url[scheme_end..];
    let host_end = rest.find('/').unwrap_or(rest.len());
    match rest[..host_end].rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split(':').next().unwrap_or("");
            let hidden = if userinfo.contains(':') { format!("{user}:***") } else { "***".into() };
            format!("{}{hidden}{}", &url[..scheme_end], &rest[at..])
        }
        None => url.to_owned(),
    }
}

/// Why a Redis URL cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid Redis URL {url}: {message} (expected redis://[:password@]host:port[/db])")]
pub struct RedisUrlError {
    pub(super) url: String,
    pub(super) message: String,
}

impl RedisExporter {
    pub(crate) fn from_lookup(
        get: &dyn Fn(&str) -> Option<String>,
        service_name: &str,
    ) -> Result<RedisExporter, ConfigError> {
        let url = get("TRACEWELL_REDIS_URL").unwrap_or_else(|| DEFAULT_REDIS_URL.into());
        let mut e = RedisExporter::new(url.trim()).map_err(|err| ConfigError::Invalid {
            var: "TRACEWELL_REDIS_URL",
            value: redact_url(&url),
            reason: err.to_string(),
        })?;
        e = e.service_name(service_name.to_owned());
        if let Some(k) = get("TRACEWELL_REDIS_KEY") {
            e = e.key(k.trim());
        }
        let parse_positive = crate::export::parse_positive;
        let max_len =
            get("TRACEWELL_REDIS_MAX_LEN").map(|v| parse_positive("TRACEWELL_REDIS_MAX_LEN", &v)).transpose()?;
        let stream = match get("TRACEWELL_REDIS_STREAM").map(|v| v.trim().to_ascii_lowercase()) {
            None => false,
            Some(v) if matches!(v.as_str(), "on" | "true" | "1" | "yes") => true,
            Some(v) if matches!(v.as_str(), "off" | "false" | "0" | "no") => false,
            Some(v) => {
                return Err(ConfigError::Invalid {
                    var: "TRACEWELL_REDIS_STREAM",
                    value: v,
                    reason: "expected on or off".into(),
                });
            }
        };
        e = e.mode(if stream {
            RedisMode::Stream { max_len: max_len.unwrap_or(1_000_000) }
        } else {
            RedisMode::List { cap: max_len }
        });
        if let Some(v) = get("TRACEWELL_REDIS_BUFFER") {
            e = e.buffer_capacity(parse_positive("TRACEWELL_REDIS_BUFFER", &v)? as usize);
        }
        #[cfg(feature = "tls")]
        {
            let pem = crate::export::tls::TlsPem::from_lookup(get, &[CA_VAR], &[CERT_VAR], &[KEY_VAR])?;
            e = e.with_tls(pem, if get(CA_VAR).is_some() { CA_VAR } else { CERT_VAR })?;
        }
        Ok(e)
    }
}

#[cfg(feature = "tls")]
const CA_VAR: &str = "TRACEWELL_REDIS_CA_CERT";
#[cfg(feature = "tls")]
const CERT_VAR: &str = "TRACEWELL_REDIS_CLIENT_CERT";
#[cfg(feature = "tls")]
const KEY_VAR: &str = "TRACEWELL_REDIS_CLIENT_KEY";

#[cfg(feature = "tls")]
impl RedisExporter {
    /// For a `rediss://` URL: trusts the CA certificate(s) in `pem` (PEM text) *instead of* the
    /// system's roots; what `TRACEWELL_REDIS_CA_CERT` names.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming `TRACEWELL_REDIS_CA_CERT` when `pem` holds no
    /// usable certificate, or naming `TRACEWELL_REDIS_URL` when the URL is not `rediss://`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tracewell::export::RedisExporter;
    /// let redis = RedisExporter::new("rediss://:secret@redis.internal:6380/0")?
    ///     .ca_certificate_pem(std::fs::read("/etc/redis/ca.pem")?)?
    ///     .client_identity_pem(std::fs::read("/etc/redis/client.pem")?, std::fs::read("/etc/redis/client.key")?)?;
    /// let _guard = tracewell::builder().exporter(redis).install()?;
    /// # Ok(()) }
    /// ```
    pub fn ca_certificate_pem(self, pem: impl Into<Vec<u8>>) -> Result<Self, ConfigError> {
        let (pem, mut tls) = (pem.into(), self.tls.clone());
        tls.set_ca(CA_VAR, &crate::export::tls::in_code(&pem), pem)?;
        self.with_tls(tls, CA_VAR)
    }

    /// For a `rediss://` URL: presents the certificate chain `cert` with its private key `key`
    /// (PEM text) to a server that checks clients; what `TRACEWELL_REDIS_CLIENT_CERT` and
    /// `TRACEWELL_REDIS_CLIENT_KEY` name.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the variable when `cert` holds no certificate, `key`
    /// no private key, or the key does not belong to the certificate; naming
    /// `TRACEWELL_REDIS_URL` when the URL is not `rediss://`.
    pub fn client_identity_pem(self, cert: impl Into<Vec<u8>>, key: impl Into<Vec<u8>>) -> Result<Self, ConfigError> {
        let (cert, key, mut tls) = (cert.into(), key.into(), self.tls.clone());
        let shown = (crate::export::tls::in_code(&cert), crate::export::tls::in_code(&key));
        tls.set_identity((CERT_VAR, KEY_VAR), (&shown.0, &shown.1), cert, key)?;
        self.with_tls(tls, CERT_VAR)
    }

    /// Rebuilds the client with `tls` (already checked); `var` is named if the URL is not TLS.
    fn with_tls(mut self, tls: crate::export::tls::TlsPem, var: &'static str) -> Result<Self, ConfigError> {
        if tls.ca.is_none() && tls.identity.is_none() {
            return Ok(self);
        }
        let certs = redis::TlsCertificates {
            client_tls: tls
                .identity
                .clone()
                .map(|(client_cert, client_key)| redis::ClientTlsConfig { client_cert, client_key }),
            root_cert: tls.ca.clone(),
        };
        let info = self.client.get_connection_info().clone();
        self.client = redis::Client::build_with_tls(info, certs).map_err(|e| ConfigError::Invalid {
            var: "TRACEWELL_REDIS_URL",
            value: self.target.clone(),
            reason: format!("{var} is set, which needs a rediss:// (TLS) URL: {e}"),
        })?;
        self.tls = tls;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact_url("redis://:hunter2@h:1/0"), "redis://:***@h:1/0");
        assert_eq!(redact_url("rediss://user:hunter2@h:1"), "rediss://user:***@h:1");
        assert_eq!(redact_url("redis://h:1"), "redis://h:1");
        let e = RedisExporter::new("redis://:hunter2@127.0.0.1:1/0").unwrap();
        assert!(!format!("{e:?}").contains("hunter2"));
        assert!(crate::health().iter().all(|h| !h.target.contains("hunter2")));
    }

    #[test]
    fn bad_url_names_the_variable() {
        let get = |k: &str| (k == "TRACEWELL_REDIS_URL").then(|| "http://:pw@x".to_owned());
        let err = RedisExporter::from_lookup(&get, crate::config::DEFAULT_SERVICE_NAME).unwrap_err().to_string();
        assert!(err.starts_with("TRACEWELL_REDIS_URL="), "{err}");
        assert!(!err.contains(":pw@"), "{err}");
    }

    #[test]
    fn rediss_needs_the_tls_feature_or_a_rediss_url() {
        let built = RedisExporter::new("rediss://:pw@127.0.0.1:6380");
        if cfg!(feature = "tls") {
            built.unwrap();
        } else {
            let err = built.unwrap_err().to_string();
            assert!(err.contains("enable tracewell's `tls` feature") && !err.contains(":pw@"), "{err}");
        }
        #[cfg(feature = "tls")]
        {
            let get = |k: &str| match k {
                "TRACEWELL_REDIS_URL" => Some("redis://127.0.0.1:6379".to_owned()),
                CA_VAR => Some("/nonexistent/redis-ca.pem".to_owned()),
                _ => None,
            };
            let err = RedisExporter::from_lookup(&get, crate::config::DEFAULT_SERVICE_NAME).unwrap_err().to_string();
            assert!(err.starts_with("TRACEWELL_REDIS_CA_CERT=\"/nonexistent/redis-ca.pem\": cannot read"), "{err}");
            let get = |k: &str| (k == KEY_VAR).then(|| "/k.pem".to_owned());
            let err = RedisExporter::from_lookup(&get, crate::config::DEFAULT_SERVICE_NAME).unwrap_err().to_string();
            assert!(err.starts_with("TRACEWELL_REDIS_CLIENT_KEY=\"/k.pem\""), "{err}");
            assert!(err.contains("set TRACEWELL_REDIS_CLIENT_CERT too"), "{err}");
            let err = RedisExporter::new("rediss://h:1").unwrap().ca_certificate_pem("x").unwrap_err().to_string();
            assert!(err.starts_with("TRACEWELL_REDIS_CA_CERT=\"<1 bytes of PEM given in code>\""), "{err}");
        }
    }
}
