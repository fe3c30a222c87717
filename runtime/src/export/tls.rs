//! TLS shared by the exporters that leave the process (feature `tls`): the PEM a user gives (an
//! extra CA to trust, a client certificate and key for mutual TLS), checked when it is given so a
//! bad file is a [`ConfigError`] naming its variable; the trust store (the system's roots, read
//! once per process, plus that CA); rustls's `ring` provider; and telling a refused certificate
//! apart from a network error.
//!
//! Each exporter hands these to its own transport: the `redis` crate's rustls support for
//! `rediss://`, tonic's `ClientTlsConfig` for OTLP/gRPC, and a hyper-rustls connector for
//! OTLP/HTTP and Zipkin.
// With Redis alone, the trust store and the error check are unused: the redis crate has its own.
#![cfg_attr(not(any(feature = "otlp-grpc", feature = "otlp-http", feature = "zipkin")), allow(dead_code))]

use std::sync::{Arc, OnceLock};

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, TrustAnchor};

use crate::config::ConfigError;

/// PEM the user gave, already checked: a CA to trust and a client identity for mutual TLS.
#[derive(Clone, Default)]
pub(crate) struct TlsPem {
    pub ca: Option<Vec<u8>>,
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for TlsPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A private key is a secret: say only what is set.
        f.debug_struct("TlsPem")
            .field("ca", &self.ca.is_some())
            .field("client_identity", &self.identity.is_some())
            .finish()
    }
}

fn invalid(var: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { var, value: value.to_owned(), reason: reason.into() }
}

/// How PEM given in code shows in an error (where a variable would show its path).
pub(crate) fn in_code(pem: &[u8]) -> String {
    format!("<{} bytes of PEM given in code>", pem.len())
}

impl TlsPem {
    /// Trusts the CA certificate(s) in `pem`; `value` is what an error shows (the file's path).
    pub(crate) fn set_ca(&mut self, var: &'static str, value: &str, pem: Vec<u8>) -> Result<(), ConfigError> {
        let mut store = RootCertStore::empty();
        for cert in certificates(var, value, &pem)? {
            store.add(cert).map_err(|e| invalid(var, value, format!("not a usable CA certificate: {e}")))?;
        }
        self.ca = Some(pem);
        Ok(())
    }

    /// Presents the certificate chain `cert` with its private key `key` when the server asks;
    /// `vars` and `values` are the variables and what errors show for each (their paths).
    pub(crate) fn set_identity(
        &mut self,
        vars: (&'static str, &'static str),
        values: (&str, &str),
        cert: Vec<u8>,
        key: Vec<u8>,
    ) -> Result<(), ConfigError> {
        let ((cert_var, key_var), (cert_value, key_value)) = (vars, values);
        let chain = certificates(cert_var, cert_value, &cert)?;
        let private = PrivateKeyDer::from_pem_slice(&key).map_err(|e| {
            invalid(
                key_var,
                key_value,
                format!("no private key found ({e}); expected a PEM file with a PKCS#8, PKCS#1 or SEC1 key"),
            )
        })?;
        // Building a config checks that rustls can use the key and that it belongs to the
        // certificate, so a mismatch is reported now rather than at the first handshake.
        builder(RootCertStore::empty()).and_then(|b| b.with_client_auth_cert(chain, private)).map_err(|e| {
            invalid(key_var, key_value, format!("cannot be used with the certificate of {cert_var}: {e}"))
        })?;
        self.identity = Some((cert, key));
        Ok(())
    }

    /// Reads the files the variables `vars` name (the first of each list that is set wins, so
    /// a signal-specific variable can come before the general one).
    pub(crate) fn from_lookup(
        get: &dyn Fn(&str) -> Option<String>,
        ca: &[&'static str],
        cert: &[&'static str],
        key: &[&'static str],
    ) -> Result<TlsPem, ConfigError> {
        let pick = |vars: &[&'static str]| {
            vars.iter().enumerate().find_map(|(i, v)| get(v).map(|p| (i, *v, p.trim().to_owned())))
        };
        let mut out = TlsPem::default();
        if let Some((_, var, path)) = pick(ca) {
            out.set_ca(var, &path, read_file(var, &path)?)?;
        }
        match (pick(cert), pick(key)) {
            (None, None) => {}
            (Some((_, cert_var, cert_path)), Some((_, key_var, key_path))) => {
                let (cert_pem, key_pem) = (read_file(cert_var, &cert_path)?, read_file(key_var, &key_path)?);
                out.set_identity((cert_var, key_var), (&cert_path, &key_path), cert_pem, key_pem)?;
            }
            (Some((i, var, path)), None) => {
                let other = key.get(i).unwrap_or(&var);
                return Err(invalid(
                    var,
                    &path,
                    format!("a client certificate needs its private key: set {other} too"),
                ));
            }
            (None, Some((i, var, path))) => {
                let other = cert.get(i).unwrap_or(&var);
                return Err(invalid(var, &path, format!("a client key needs its certificate: set {other} too")));
            }
        }
        Ok(out)
    }
}

/// The bytes of the PEM file at `path`, which the variable `var` names.
pub(crate) fn read_file(var: &'static str, path: &str) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| invalid(var, path, format!("cannot read this PEM file: {e}")))
}

/// The certificates in `pem`, at least one.
fn certificates(var: &'static str, value: &str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(var, value, format!("not a PEM certificate file ({e})")))?;
    if certs.is_empty() {
        return Err(invalid(
            var,
            value,
            "no certificate found; expected a PEM file with -----BEGIN CERTIFICATE----- blocks",
        ));
    }
    Ok(certs)
}

/// rustls's `ring` provider; passed explicitly so a build that also links aws-lc-rs (through
/// some other crate) does not make rustls guess.
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    static PROVIDER: OnceLock<Arc<rustls::crypto::CryptoProvider>> = OnceLock::new();
    PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())).clone()
}

/// Makes `ring` the process's default rustls provider unless one is installed already: the
/// `redis` crate builds its client config with the default provider.
#[cfg(feature = "redis")]
pub(crate) fn install_default_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another installer is fine: there is a default either way.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// The system's trusted roots, read once per process (rustls-native-certs: the OpenSSL
/// directories and `SSL_CERT_FILE` / `SSL_CERT_DIR` on Unix, the platform stores elsewhere).
fn system_roots() -> &'static [TrustAnchor<'static>] {
    static ROOTS: OnceLock<Vec<TrustAnchor<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        if let Some(e) = found.errors.first() {
            crate::diag::log_error(format_args!("reading the system's trusted certificates: {e}"));
        }
        let mut store = RootCertStore::empty();
        store.add_parsable_certificates(found.certs);
        store.roots
    })
}

/// The trust anchors for a server certificate: the system's roots plus the CA in `extra_ca`.
pub(crate) fn trust_anchors(extra_ca: Option<&[u8]>) -> Vec<TrustAnchor<'static>> {
    let mut store = RootCertStore { roots: system_roots().to_vec() };
    if let Some(pem) = extra_ca {
        // Checked when it was set.
        store.add_parsable_certificates(CertificateDer::pem_slice_iter(pem).filter_map(Result::ok));
    }
    store.roots
}

type WantsClientCert = rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>;

fn builder(roots: RootCertStore) -> Result<WantsClientCert, rustls::Error> {
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots))
}

/// A rustls client config trusting the system's roots plus `pem.ca`, presenting `pem.identity`.
#[cfg(feature = "http-client")]
pub(crate) fn client_config(pem: &TlsPem) -> Result<rustls::ClientConfig, String> {
    let roots = RootCertStore { roots: trust_anchors(pem.ca.as_deref()) };
    let b = builder(roots).map_err(|e| format!("TLS setup: {e}"))?;
    match &pem.identity {
        None => Ok(b.with_no_client_auth()),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert).filter_map(Result::ok).collect();
            let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| format!("TLS client key: {e}"))?;
            b.with_client_auth_cert(chain, key).map_err(|e| format!("TLS client certificate: {e}"))
        }
    }
}

/// Whether `err` or one of its sources is a TLS handshake that failed over a certificate (the
/// server's was not trusted, or ours was refused): retrying the same batch will not help.
pub(crate) fn is_certificate_error(err: &(dyn std::error::Error + 'static)) -> bool {
    use rustls::AlertDescription as A;
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return matches!(
                r,
                rustls::Error::InvalidCertificate(_)
                    | rustls::Error::NoCertificatesPresented
                    | rustls::Error::AlertReceived(
                        A::BadCertificate
                            | A::UnsupportedCertificate
                            | A::CertificateRevoked
                            | A::CertificateExpired
                            | A::CertificateUnknown
                            | A::UnknownCA
                            | A::CertificateRequired
                    )
            );
        }
        // `io::Error::source` skips the error it wraps; look inside it.
        if let Some(inner) = e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref())
            && is_certificate_error(inner)
        {
            return true;
        }
        next = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_pem_names_its_variable() {
        let mut t = TlsPem::default();
        let err = t.set_ca("X_CA", "/x/ca.pem", b"hello".to_vec()).unwrap_err().to_string();
        assert!(err.starts_with("X_CA=\"/x/ca.pem\": no certificate found"), "{err}");
        let garbage = b"-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n".to_vec();
        let err = t.set_ca("X_CA", "/x/ca.pem", garbage.clone()).unwrap_err().to_string();
        assert!(err.starts_with("X_CA=\"/x/ca.pem\": not a usable CA certificate"), "{err}");
        let err = t.set_identity(("X_CERT", "X_KEY"), ("c", "k"), garbage, b"nokey".to_vec()).unwrap_err().to_string();
        assert!(err.starts_with("X_KEY=\"k\": no private key found"), "{err}");
        assert!(t.ca.is_none() && t.identity.is_none());
        assert_eq!(format!("{t:?}"), "TlsPem { ca: false, client_identity: false }");
    }

    #[test]
    fn files_are_read_and_pairs_are_complete() {
        let get = |k: &str| match k {
            "A_CA" => Some("/nonexistent/tracewell/ca.pem".to_owned()),
            "A_CERT" => Some("/nonexistent/cert.pem".to_owned()),
            _ => None,
        };
        let err = TlsPem::from_lookup(&get, &["A_CA"], &[], &[]).unwrap_err().to_string();
        assert!(err.starts_with("A_CA=\"/nonexistent/tracewell/ca.pem\": cannot read this PEM file"), "{err}");
        let err = TlsPem::from_lookup(&get, &["B_CA"], &["A_CERT"], &["A_KEY"]).unwrap_err().to_string();
        assert!(
            err.starts_with("A_CERT=\"/nonexistent/cert.pem\": a client certificate needs its private key: set A_KEY"),
            "{err}"
        );
        let none = TlsPem::from_lookup(&|_| None, &["A_CA"], &["A_CERT"], &["A_KEY"]).unwrap();
        assert!(none.ca.is_none() && none.identity.is_none());
    }

    #[test]
    fn certificate_errors_are_found_inside_io_errors() {
        let e = std::io::Error::other(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer));
        assert!(is_certificate_error(&e));
        let text = crate::export::error_chain(&e);
        assert!(text.contains("invalid peer certificate"), "{text}");
        assert!(!is_certificate_error(&std::io::Error::from(std::io::ErrorKind::ConnectionRefused)));
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure);
        assert!(!is_certificate_error(&alert));
    }
}
