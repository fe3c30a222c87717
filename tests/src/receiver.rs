//! Receivers for the tests, each on its own thread and tokio runtime, bound to a free loopback
//! port: an OTLP/gRPC receiver (tonic, the `TraceService` server of `opentelemetry-proto`) and
//! an HTTP receiver (hyper) for OTLP/HTTP protobuf at `/v1/traces` and Zipkin JSON v2 at
//! `/api/v2/spans`. Both decode what arrives and keep it for assertions, and can be told to
//! answer UNAVAILABLE / 503 a number of times first. Each also comes behind TLS
//! ([`Receiver::grpc_tls`], [`Receiver::http_tls`]), optionally requiring client certificates.
//!
//! [`CountingReceiver`] is the OTLP/gRPC receiver of throughput benchmarks: it decodes every
//! request in full but keeps only counts, so it can take millions of spans.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use tokio::sync::oneshot;

use crate::ServerTls;

/// One span as a receiver decoded it, with its resource and scope.
#[derive(Clone, Debug)]
pub struct Received {
    /// The resource's attributes.
    pub resource: Vec<KeyValue>,
    /// The instrumentation scope's name.
    pub scope: String,
    /// The span.
    pub span: Span,
}

impl Received {
    /// A resource attribute as text.
    pub fn resource_str(&self, key: &str) -> Option<String> {
        self.resource.iter().find(|kv| kv.key == key).and_then(text)
    }

    /// A span attribute's value.
    pub fn attr(&self, key: &str) -> Option<any_value::Value> {
        self.span.attributes.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.clone()?.value)
    }
}

fn text(kv: &KeyValue) -> Option<String> {
    match kv.value.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

#[derive(Debug, Default)]
struct State {
    spans: Mutex<Vec<Received>>,
    zipkin: Mutex<Vec<serde_json::Value>>,
    headers: Mutex<Vec<(String, String)>>,
    requests: AtomicU64,
    failures_left: AtomicU32,
    reject_per_request: AtomicU64,
    gzip_requests: AtomicU64,
    answer_delay_ms: AtomicU64,
    in_progress: AtomicU64,
    most_in_progress: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl State {
    fn store(&self, req: ExportTraceServiceRequest) {
        let mut spans = lock(&self.spans);
        for rs in req.resource_spans {
            let resource = rs.resource.map(|r| r.attributes).unwrap_or_default();
            for ss in rs.scope_spans {
                let scope = ss.scope.map(|s| s.name).unwrap_or_default();
                for span in ss.spans {
                    spans.push(Received { resource: resource.clone(), scope: scope.clone(), span });
                }
            }
        }
    }

    /// Whether this request should be refused (and counts it).
    fn refuse(&self) -> bool {
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.failures_left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    }

    /// Counts a request as in progress for as long as the receiver is told to take over it.
    async fn take_time(&self) {
        let now = self.in_progress.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_progress.fetch_max(now, Ordering::SeqCst);
        let delay = self.answer_delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        self.in_progress.fetch_sub(1, Ordering::SeqCst);
    }

    fn response(&self) -> ExportTraceServiceResponse {
        let rejected = self.reject_per_request.load(Ordering::SeqCst);
        ExportTraceServiceResponse {
            partial_success: (rejected > 0).then(|| ExportTracePartialSuccess {
                rejected_spans: rejected as i64,
                error_message: "too old".into(),
            }),
        }
    }
}

/// A running receiver; stopped when dropped.
#[derive(Debug)]
pub struct Receiver {
    addr: SocketAddr,
    tls: bool,
    state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug, Clone)]
struct Grpc(Arc<State>);

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let headers = request
            .metadata()
            .iter()
            .filter_map(|kv| match kv {
                tonic::metadata::KeyAndValueRef::Ascii(k, v) => {
                    Some((k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                }
                tonic::metadata::KeyAndValueRef::Binary(..) => None,
            })
            .collect::<Vec<_>>();
        if headers.iter().any(|(k, v)| k == "grpc-encoding" && v == "gzip") {
            self.0.gzip_requests.fetch_add(1, Ordering::SeqCst);
        }
        *lock(&self.0.headers) = headers;
        self.0.take_time().await;
        if self.0.refuse() {
            return Err(tonic::Status::unavailable("receiver is warming up"));
        }
        self.0.store(request.into_inner());
        Ok(tonic::Response::new(self.0.response()))
    }
}

type HttpResponse = hyper::Response<Full<Bytes>>;

async fn http_handle(
    state: Arc<State>,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<HttpResponse, hyper::Error> {
    let path = req.uri().path().to_owned();
    let headers: Vec<(String, String)> =
        req.headers().iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())).collect();
    let gzip = headers.iter().any(|(k, v)| k == "content-encoding" && v == "gzip");
    *lock(&state.headers) = headers;
    let body = req.into_body().collect().await?.to_bytes();
    state.take_time().await;
    let reply = |status: u16, body: Vec<u8>| {
        let mut r = hyper::Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
        r
    };
    if state.refuse() {
        let mut r = reply(503, Vec::new());
        r.headers_mut().insert("retry-after", hyper::header::HeaderValue::from_static("0"));
        return Ok(r);
    }
    let body = if gzip {
        state.gzip_requests.fetch_add(1, Ordering::SeqCst);
        let mut out = Vec::new();
        if flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut out).is_err() {
            return Ok(reply(400, b"bad gzip".to_vec()));
        }
        out
    } else {
        body.to_vec()
    };
    match path.as_str() {
        "/v1/traces" => match ExportTraceServiceRequest::decode(&body[..]) {
            Ok(r) => {
                state.store(r);
                let mut resp = reply(200, state.response().encode_to_vec());
                resp.headers_mut()
                    .insert("content-type", hyper::header::HeaderValue::from_static("application/x-protobuf"));
                Ok(resp)
            }
            Err(e) => Ok(reply(400, e.to_string().into_bytes())),
        },
        "/api/v2/spans" => match serde_json::from_slice::<Vec<serde_json::Value>>(&body) {
            Ok(list) => {
                lock(&state.zipkin).extend(list);
                Ok(reply(202, Vec::new()))
            }
            Err(e) => Ok(reply(400, e.to_string().into_bytes())),
        },
        _ => Ok(reply(404, Vec::new())),
    }
}

type ServeFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Runs `serve` on a new thread with its own tokio runtime, given a listener on a free loopback
/// port and a channel that says stop; returns the address once it listens.
/// The name of every receiver thread (runtime workers included), so a benchmark can tell the
/// receiver's CPU time from the exporter's.
pub const RECEIVER_THREAD: &str = "receiver";

fn serve_on_thread(
    rt: tokio::runtime::Builder,
    serve: impl FnOnce(tokio::net::TcpListener, oneshot::Receiver<()>) -> ServeFuture + Send + 'static,
) -> (SocketAddr, oneshot::Sender<()>, JoinHandle<()>) {
    let mut rt = rt;
    let rt = rt.enable_all().thread_name(RECEIVER_THREAD).build().expect("receiver runtime");
    let (stop_tx, stop_rx) = oneshot::channel();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(RECEIVER_THREAD.into())
        .spawn(move || {
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                serve(listener, stop_rx).await;
            });
        })
        .expect("receiver thread");
    let addr = addr_rx.recv_timeout(Duration::from_secs(10)).expect("receiver did not start");
    (addr, stop_tx, thread)
}

impl Receiver {
    fn spawn(
        serve: impl FnOnce(Arc<State>, tokio::net::TcpListener, oneshot::Receiver<()>) -> ServeFuture + Send + 'static,
    ) -> Receiver {
        let state = Arc::new(State::default());
        let st = state.clone();
        let mut rt = tokio::runtime::Builder::new_multi_thread();
        rt.worker_threads(2);
        let (addr, stop, thread) = serve_on_thread(rt, move |listener, stop| serve(st, listener, stop));
        Receiver { addr, tls: false, state, stop: Some(stop), thread: Some(thread) }
    }

    /// An OTLP/gRPC receiver (accepts gzip).
    pub fn grpc() -> Receiver {
        Receiver::spawn_grpc(None)
    }

    /// An OTLP/gRPC receiver behind TLS (tonic's `ServerTlsConfig`) with `tls`'s certificate.
    pub fn grpc_tls(tls: &ServerTls) -> Receiver {
        let mut config = tonic::transport::ServerTlsConfig::new()
            .identity(tonic::transport::Identity::from_pem(&tls.cert_pem, &tls.key_pem));
        if tls.client_auth.is_some() {
            config = config.client_ca_root(tonic::transport::Certificate::from_pem(&tls.ca_pem));
        }
        let mut r = Receiver::spawn_grpc(Some(config));
        r.tls = true;
        r
    }

    fn spawn_grpc(tls: Option<tonic::transport::ServerTlsConfig>) -> Receiver {
        Receiver::spawn(|state, listener, stop| {
            Box::pin(async move {
                let svc = TraceServiceServer::new(Grpc(state))
                    .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
                    .max_decoding_message_size(64 << 20);
                let incoming = tonic::transport::server::TcpIncoming::from(listener);
                let mut server = tonic::transport::Server::builder();
                if let Some(tls) = tls {
                    server = server.tls_config(tls).expect("a valid server TLS config");
                }
                // Dropping the server future on stop closes every connection at once (a graceful
                // shutdown would wait for clients to hang up).
                tokio::select! {
                    _ = server.add_service(svc).serve_with_incoming(incoming) => {}
                    _ = stop => {}
                }
            })
        })
    }

    /// An HTTP/1.1 receiver for OTLP/HTTP protobuf (`/v1/traces`) and Zipkin v2 (`/api/v2/spans`).
    pub fn http() -> Receiver {
        Receiver::spawn_http(None)
    }

    /// [`Receiver::http`] behind TLS (a tokio-rustls acceptor with `tls`'s certificate, ALPN
    /// `http/1.1`), requiring a client certificate signed by `tls.ca_pem` when
    /// `tls.client_auth` is set.
    pub fn http_tls(tls: &ServerTls) -> Receiver {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(tls.cert_pem.as_bytes()).collect::<Result<_, _>>().expect("server cert PEM");
        let key = PrivateKeyDer::from_pem_slice(tls.key_pem.as_bytes()).expect("server key PEM");
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("TLS versions");
        let builder = if tls.client_auth.is_some() {
            let mut roots = rustls::RootCertStore::empty();
            for ca in CertificateDer::pem_slice_iter(tls.ca_pem.as_bytes()) {
                roots.add(ca.expect("CA PEM")).expect("CA certificate");
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let mut config = builder.with_single_cert(certs, key).expect("server certificate and key");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let mut r = Receiver::spawn_http(Some(acceptor));
        r.tls = true;
        r
    }

    fn spawn_http(tls: Option<tokio_rustls::TlsAcceptor>) -> Receiver {
        Receiver::spawn(|state, listener, mut stop| {
            Box::pin(async move {
                loop {
                    let (stream, _) = tokio::select! {
                        accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => continue },
                        _ = &mut stop => return,
                    };
                    let state = state.clone();
                    let tls = tls.clone();
                    tokio::spawn(async move {
                        let svc = hyper::service::service_fn(move |req| http_handle(state.clone(), req));
                        let http = hyper::server::conn::http1::Builder::new();
                        match tls {
                            None => {
                                let _ = http.serve_connection(hyper_util::rt::TokioIo::new(stream), svc).await;
                            }
                            Some(acceptor) => {
                                // A client that does not trust our certificate ends here.
                                let Ok(Ok(stream)) =
                                    tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await
                                else {
                                    return;
                                };
                                let _ = http.serve_connection(hyper_util::rt::TokioIo::new(stream), svc).await;
                            }
                        }
                    });
                }
            })
        })
    }

    /// `http://127.0.0.1:<port>`, or `https://` for a TLS receiver.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Every span received so far, in arrival order.
    pub fn spans(&self) -> Vec<Received> {
        lock(&self.state.spans).clone()
    }

    /// How many spans arrived.
    pub fn span_count(&self) -> usize {
        lock(&self.state.spans).len()
    }

    /// Every Zipkin span received so far.
    pub fn zipkin_spans(&self) -> Vec<serde_json::Value> {
        lock(&self.state.zipkin).clone()
    }

    /// Answers the next `n` requests with UNAVAILABLE (gRPC) or 503 + `Retry-After: 0` (HTTP).
    pub fn fail_next(&self, n: u32) {
        self.state.failures_left.store(n, Ordering::SeqCst);
    }

    /// Reports `n` rejected spans in a partial-success answer to every request from now on.
    pub fn reject_per_request(&self, n: u64) {
        self.state.reject_per_request.store(n, Ordering::SeqCst);
    }

    /// Answers each request `delay` after it arrived, as a collector far away or under load does.
    pub fn delay_answers(&self, delay: Duration) {
        self.state.answer_delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// The most requests the receiver has had in progress at once.
    pub fn most_concurrent(&self) -> u64 {
        self.state.most_in_progress.load(Ordering::SeqCst)
    }

    /// Requests received, refused ones included.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Requests that arrived gzip-compressed.
    pub fn gzip_requests(&self) -> u64 {
        self.state.gzip_requests.load(Ordering::SeqCst)
    }

    /// The headers (gRPC metadata) of the last request.
    pub fn last_headers(&self) -> Vec<(String, String)> {
        lock(&self.state.headers).clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An OTLP/gRPC receiver for throughput runs: tonic's `TraceService` server decodes every
/// request in full (prost), and the receiver counts requests and spans and checks that ids have
/// the OTLP lengths (16-byte trace id, 8-byte span id, empty or 8-byte parent id), but keeps
/// nothing, so it can take millions of spans. Runs on its own thread with a one-thread runtime;
/// stopped when dropped.
///
/// # Examples
///
/// ```no_run
/// let rx = tracewell_tests::receiver::CountingReceiver::grpc();
/// // ... export to rx.endpoint() ...
/// assert_eq!(rx.bad_ids(), 0);
/// println!("{} spans in {} requests", rx.spans(), rx.requests());
/// ```
#[derive(Debug)]
pub struct CountingReceiver {
    addr: SocketAddr,
    counts: Arc<Counts>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Counts {
    requests: AtomicU64,
    spans: AtomicU64,
    bad_ids: AtomicU64,
}

#[derive(Debug, Clone)]
struct Counting(Arc<Counts>, Duration);

#[tonic::async_trait]
impl TraceService for Counting {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let (mut spans, mut bad) = (0, 0);
        for rs in &request.get_ref().resource_spans {
            for ss in &rs.scope_spans {
                spans += ss.spans.len() as u64;
                bad += ss
                    .spans
                    .iter()
                    .filter(|s| {
                        s.trace_id.len() != 16
                            || s.span_id.len() != 8
                            || !(s.parent_span_id.is_empty() || s.parent_span_id.len() == 8)
                    })
                    .count() as u64;
            }
        }
        self.0.spans.fetch_add(spans, Ordering::SeqCst);
        self.0.bad_ids.fetch_add(bad, Ordering::SeqCst);
        self.0.requests.fetch_add(1, Ordering::SeqCst);
        if !self.1.is_zero() {
            tokio::time::sleep(self.1).await;
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

impl CountingReceiver {
    /// Starts a receiver on a free loopback port (accepts gzip), decoding on one thread.
    pub fn grpc() -> CountingReceiver {
        CountingReceiver::grpc_with(1, Duration::ZERO)
    }

    /// Starts a receiver decoding on `threads` threads (a tokio multi-thread runtime when more
    /// than one, as a collector uses every core) that answers each request `delay` after it
    /// decoded it (a collector one network hop away).
    pub fn grpc_with(threads: usize, delay: Duration) -> CountingReceiver {
        let counts = Arc::new(Counts::default());
        let c = counts.clone();
        let rt = if threads > 1 {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(threads);
            b
        } else {
            tokio::runtime::Builder::new_current_thread()
        };
        let (addr, stop, thread) = serve_on_thread(rt, move |listener, stop| {
            Box::pin(async move {
                let svc = TraceServiceServer::new(Counting(c, delay))
                    .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
                    .max_decoding_message_size(64 << 20);
                // As collectors do: without TCP_NODELAY, Nagle's algorithm holds back the
                // server's small frames (window updates, answers) for a delayed ACK, and every
                // large request waits tens of milliseconds.
                let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
                tokio::select! {
                    _ = tonic::transport::Server::builder().add_service(svc).serve_with_incoming(incoming) => {}
                    _ = stop => {}
                }
            })
        });
        CountingReceiver { addr, counts, stop: Some(stop), thread: Some(thread) }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Spans received so far.
    pub fn spans(&self) -> u64 {
        self.counts.spans.load(Ordering::SeqCst)
    }

    /// Requests received so far.
    pub fn requests(&self) -> u64 {
        self.counts.requests.load(Ordering::SeqCst)
    }

    /// Spans whose trace, span or parent id did not have the OTLP length.
    pub fn bad_ids(&self) -> u64 {
        self.counts.bad_ids.load(Ordering::SeqCst)
    }
}

impl Drop for CountingReceiver {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
