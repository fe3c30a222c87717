//! The small HTTP/1.1 client shared by the OTLP/HTTP and Zipkin exporters (hyper-util's pooled
//! client on the worker's runtime; with the `tls` feature, behind a hyper-rustls connector that
//! also speaks `https://`).

use std::time::{Duration, SystemTime};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::retry::Attempt;

#[cfg(not(feature = "tls"))]
type Connector = HttpConnector;
#[cfg(feature = "tls")]
type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

pub(crate) type HttpClient = Client<Connector, Full<Bytes>>;

fn http_connector() -> HttpConnector {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    connector
}

fn build(connector: Connector) -> HttpClient {
    Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(connector)
}

#[cfg(not(feature = "tls"))]
pub(crate) fn client() -> Result<HttpClient, String> {
    Ok(build(http_connector()))
}

/// A client for `http://` and `https://` URLs; `https://` trusts the system's roots plus
/// `tls.ca` and presents `tls.identity` when asked.
#[cfg(feature = "tls")]
pub(crate) fn client(tls: &super::tls::TlsPem) -> Result<HttpClient, String> {
    let mut http = http_connector();
    http.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(super::tls::client_config(tls)?)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(build(connector))
}

/// An answer: status, the `Retry-After` delay if any, and the body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Bytes,
}

#[cfg(feature = "otlp-http")]
pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 4), flate2::Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

#[cfg(feature = "otlp-http")]
/// Parses `key: value` pairs into headers, skipping (and logging) invalid ones.
pub(crate) fn headers(exporter: &str, pairs: &[(String, String)]) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::new();
    for (k, v) in pairs {
        match (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
            (Ok(k), Ok(v)) => out.push((k, v)),
            _ => crate::diag::log_error(format_args!("{exporter}: header {k:?} is not a valid HTTP header; not sent")),
        }
    }
    out
}

/// POSTs `body` to `uri`.
pub(crate) async fn post(
    client: HttpClient,
    uri: hyper::Uri,
    headers: &[(HeaderName, HeaderValue)],
    content_type: &'static str,
    gzipped: bool,
    body: Bytes,
) -> Result<Reply, SendError> {
    let mut req = hyper::Request::post(uri).header(hyper::header::CONTENT_TYPE, content_type);
    if gzipped {
        req = req.header(hyper::header::CONTENT_ENCODING, "gzip");
    }
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let req = req.body(Full::new(body)).map_err(|e| SendError::retry(format!("cannot build request: {e}")))?;
    let resp = client.request(req).await.map_err(|e| SendError {
        // A certificate refused now is refused on every retry of this batch.
        #[cfg(feature = "tls")]
        permanent: super::tls::is_certificate_error(&e),
        #[cfg(not(feature = "tls"))]
        permanent: false,
        text: super::error_chain(&e),
    })?;
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(hyper::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    let body = resp.into_body().collect().await.map_err(|e| SendError::retry(format!("reading the answer: {e}")))?;
    Ok(Reply { status, retry_after, body: body.to_bytes() })
}

/// Why a request got no answer.
#[derive(Debug)]
pub(crate) struct SendError {
    /// What happened, with the error's sources.
    pub text: String,
    /// Whether trying the same request again cannot help (a refused certificate).
    pub permanent: bool,
}

impl SendError {
    fn retry(text: String) -> SendError {
        SendError { text, permanent: false }
    }
}

/// The delay a `Retry-After` value asks for: whole seconds, or an HTTP date (RFC 9110: IMF-fixdate,
/// or the obsolete RFC 850 and asctime forms) counted from `now`; a date in the past means now.
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Maps an HTTP outcome to retry / fail; `ok` handles a 2xx answer.
pub(crate) fn classify(result: Result<Reply, SendError>, ok: impl FnOnce(&Reply) -> Attempt) -> Attempt {
    match result {
        Err(SendError { text, permanent: true }) => Attempt::Fail(text),
        Err(SendError { text, permanent: false }) => Attempt::Retry { hint: None, error: text },
        Ok(r) if (200..300).contains(&r.status) => ok(&r),
        Ok(r) => {
            let text = String::from_utf8_lossy(&r.body[..r.body.len().min(200)]).into_owned();
            let error = format!("HTTP {}: {text}", r.status);
            if matches!(r.status, 429 | 502 | 503 | 504) {
                Attempt::Retry { hint: r.retry_after, error }
            } else {
                Attempt::Fail(error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now), Some(Duration::from_secs(30)));
        // The obsolete forms RFC 9110 still asks recipients to accept.
        assert_eq!(parse_retry_after("Sunday, 06-Nov-94 08:49:47 GMT", now), Some(Duration::from_secs(10)));
        assert_eq!(parse_retry_after("Sun Nov  6 08:49:38 1994", now), Some(Duration::from_secs(1)));
        // A date already past: retry now.
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn refused_certificates_are_not_retried() {
        let fail = classify(Err(SendError { text: "bad cert".into(), permanent: true }), |_| unreachable!());
        assert!(matches!(fail, Attempt::Fail(ref t) if t == "bad cert"), "{fail:?}");
        let retry = classify(Err(SendError::retry("refused".into())), |_| unreachable!());
        assert!(matches!(retry, Attempt::Retry { hint: None, .. }), "{retry:?}");
    }
}
