//! Every exporter that leaves the process, over real TLS: `rediss://` to a `redis-server` that
//! speaks only TLS, OTLP/gRPC to a tonic receiver with `ServerTlsConfig`, OTLP/HTTP and Zipkin to
//! a hyper receiver behind a tokio-rustls acceptor. The certificates are made here with `rcgen`:
//! a test CA, a server certificate for `localhost` and `127.0.0.1`, a client certificate for
//! mutual TLS, and a second CA that signed nothing the servers present.
//!
//! Spans go through the pipeline and are checked field by field where they land; configured in
//! code, or from the environment in a child process (the variables do not leak into other tests).
//! With the wrong CA the program goes on, nothing reaches the server, health names the
//! certificate and the spans are counted as dropped.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind as PSpanKind, status::StatusCode as PCode};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use redis::Commands;
use tracewell::export::{ExporterHealth, OtlpGrpcExporter, OtlpHttpExporter, RedisExporter, ZipkinExporter};
use tracewell::{SpanData, SpanKind, StatusCode, Value};
use tracewell_tests::receiver::{Received, Receiver};
use tracewell_tests::{RedisServer, ServerTls, temp_path, wait_until};

/// One pipeline per process at a time.
static PIPELINE: Mutex<()> = Mutex::new(());

fn one_pipeline() -> std::sync::MutexGuard<'static, ()> {
    PIPELINE.lock().unwrap_or_else(|e| e.into_inner())
}

// ---- certificates ----------------------------------------------------------------------------

/// A self-signed CA: what signs, and its certificate's PEM.
fn ca(name: &str) -> (CertifiedIssuer<'static, KeyPair>, String) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let pem = issuer.pem();
    (issuer, pem)
}

/// A certificate for `names` signed by `issuer`, for `usage`: `(cert PEM, key PEM)`.
fn leaf(issuer: &Issuer<'_, KeyPair>, names: &[&str], usage: ExtendedKeyUsagePurpose) -> (String, String) {
    let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, names[0]);
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// A CA, a server certificate for `localhost` / `127.0.0.1` and, with `client_auth`, a client
/// certificate the server requires.
fn pki(client_auth: bool) -> ServerTls {
    let (issuer, ca_pem) = ca("tracewell test CA");
    let (cert_pem, key_pem) = leaf(&issuer, &["localhost", "127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth);
    let client_auth =
        client_auth.then(|| leaf(&issuer, &["tracewell-test-client"], ExtendedKeyUsagePurpose::ClientAuth));
    ServerTls { ca_pem, cert_pem, key_pem, client_auth }
}

/// The PEM of a CA that signed nothing the servers present.
fn stranger_ca() -> String {
    ca("some other CA").1
}

/// PEM written to temporary files for the environment variables; removed when dropped.
struct PemFiles(Vec<PathBuf>);

impl PemFiles {
    fn write(&mut self, name: &str, pem: &str) -> String {
        let path = temp_path(name);
        std::fs::write(&path, pem).unwrap();
        self.0.push(path.clone());
        path.to_str().unwrap().to_owned()
    }
}

impl Drop for PemFiles {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

// ---- the workload and its checks -------------------------------------------------------------

const THREADS: u64 = 2;
const PER_THREAD: u64 = 300;

/// `THREADS * PER_THREAD` requests, each with one child query: attributes, a tag, an input, an
/// output, an event, and an error on every third query. Returns what the user's code computed.
fn workload() -> u64 {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                s.spawn(move || {
                    let mut sum = 0;
                    for seq in 0..PER_THREAD {
                        let mut parent = tracewell::span("request").kind(SpanKind::Server).target("app::http").start();
                        parent.set_attribute("thread", t);
                        parent.set_attribute("seq", seq);
                        parent.set_tag("route", "/items");
                        let mut child = tracewell::span("query").kind(SpanKind::Client).target("app::db").start();
                        child.set_input("sql", "select 1");
                        child.set_output(-(seq as i64) - 1);
                        child.add_event("rows", vec![("n".into(), 3u64.into())]);
                        if seq % 3 == 0 {
                            child.set_error("row missing");
                        }
                        sum += seq;
                    }
                    sum
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    })
}

fn expected_sum() -> u64 {
    THREADS * (PER_THREAD * (PER_THREAD - 1) / 2)
}

const SPANS: u64 = 2 * THREADS * PER_THREAD;

/// Checks the NDJSON lines a Redis list holds against [`workload`].
fn check_redis_lines(server: &RedisServer, key: &str, service: &str) {
    let raw: Vec<String> = server.conn().lrange(key, 0, -1).unwrap();
    assert_eq!(raw.len() as u64, SPANS);
    let spans: Vec<_> =
        raw.iter().map(|l| SpanData::from_json_line(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    let mut requests = HashMap::new();
    for p in spans.iter().filter(|p| p.span.name == "request") {
        assert_eq!(p.service_name, service);
        assert_eq!(p.span.kind, SpanKind::Server);
        assert!(p.span.is_root());
        let (Some(Value::U64(t)), Some(Value::U64(seq))) = (p.span.attribute("thread"), p.span.attribute("seq")) else {
            panic!("attributes missing: {:?}", p.span.attributes)
        };
        assert_eq!(p.span.tag("route"), Some(&Value::from("/items")));
        assert!(requests.insert(p.span.span_id, (*t, *seq, p.span.trace_id)).is_none(), "span id twice");
    }
    assert_eq!(requests.len() as u64, THREADS * PER_THREAD);
    let mut queries = 0;
    for p in spans.iter().filter(|p| p.span.name == "query") {
        queries += 1;
        let (_, seq, trace) = requests[&p.span.parent_span_id];
        assert_eq!(p.span.trace_id, trace);
        assert_eq!(p.span.kind, SpanKind::Client);
        assert_eq!(p.span.input("sql"), Some(&Value::from("select 1")));
        assert_eq!(p.span.output, Some(Value::I64(-(seq as i64) - 1)));
        assert_eq!(p.span.events.len(), 1);
        assert_eq!(p.span.events[0].name, "rows");
        let failed = seq % 3 == 0;
        assert_eq!(p.span.status.code, if failed { StatusCode::Error } else { StatusCode::Unset });
        if failed {
            assert_eq!(p.span.status.message.as_deref(), Some("row missing"));
        }
        assert!(p.span.end_time_unix_nano >= p.span.start_time_unix_nano);
    }
    assert_eq!(queries, THREADS * PER_THREAD);
}

/// Checks what an OTLP receiver decoded against [`workload`].
fn check_otlp(spans: &[Received], service: &str) {
    assert_eq!(spans.len() as u64, SPANS);
    let mut requests = HashMap::new();
    for r in spans.iter().filter(|r| r.span.name == "request") {
        assert_eq!(r.resource_str("service.name").as_deref(), Some(service));
        assert_eq!(r.resource_str("telemetry.sdk.name").as_deref(), Some("tracewell"));
        assert_eq!(r.scope, "app::http");
        assert_eq!(r.span.kind, PSpanKind::Server as i32);
        assert!(r.span.parent_span_id.is_empty());
        assert_eq!((r.span.trace_id.len(), r.span.span_id.len()), (16, 8));
        assert_eq!(r.attr("tracewell.tag.route"), Some(Av::StringValue("/items".into())));
        let (Some(Av::IntValue(t)), Some(Av::IntValue(seq))) = (r.attr("thread"), r.attr("seq")) else {
            panic!("{:?}", r.span.attributes)
        };
        assert!(requests.insert(r.span.span_id.clone(), (t, seq, r.span.trace_id.clone())).is_none());
    }
    assert_eq!(requests.len() as u64, THREADS * PER_THREAD);
    let mut queries = 0;
    for r in spans.iter().filter(|r| r.span.name == "query") {
        queries += 1;
        let (_, seq, trace) = &requests[&r.span.parent_span_id];
        assert_eq!(&r.span.trace_id, trace);
        assert_eq!(r.scope, "app::db");
        assert_eq!(r.span.kind, PSpanKind::Client as i32);
        assert_eq!(r.attr("tracewell.input.sql"), Some(Av::StringValue("select 1".into())));
        assert_eq!(r.attr("tracewell.output"), Some(Av::IntValue(-seq - 1)));
        assert_eq!(r.span.events.len(), 1);
        assert_eq!(r.span.events[0].name, "rows");
        assert!(r.span.end_time_unix_nano >= r.span.start_time_unix_nano);
        match r.span.status.clone() {
            Some(s) if seq % 3 == 0 => assert_eq!((s.code, s.message.as_str()), (PCode::Error as i32, "row missing")),
            None if seq % 3 != 0 => {}
            other => panic!("seq {seq}: status {other:?}"),
        }
    }
    assert_eq!(queries, THREADS * PER_THREAD);
}

/// Checks the Zipkin JSON a receiver got against [`workload`].
fn check_zipkin(spans: &[serde_json::Value], service: &str) {
    assert_eq!(spans.len() as u64, SPANS);
    let mut requests = HashMap::new();
    for j in spans.iter().filter(|j| j["name"] == "request") {
        assert_eq!(j["kind"], "SERVER");
        assert_eq!(j["localEndpoint"]["serviceName"], service);
        assert!(j.get("parentId").is_none());
        assert_eq!(j["tags"]["tracewell.tag.route"], "/items");
        let seq: u64 = j["tags"]["seq"].as_str().unwrap().parse().unwrap();
        let id = j["id"].as_str().unwrap().to_owned();
        assert!(requests.insert(id, (seq, j["traceId"].clone())).is_none());
    }
    assert_eq!(requests.len() as u64, THREADS * PER_THREAD);
    for j in spans.iter().filter(|j| j["name"] == "query") {
        let (seq, trace) = &requests[j["parentId"].as_str().unwrap()];
        assert_eq!(&j["traceId"], trace);
        assert_eq!(j["kind"], "CLIENT");
        assert_eq!(j["tags"]["tracewell.input.sql"], "select 1");
        assert_eq!(j["tags"]["tracewell.output"], (-(*seq as i64) - 1).to_string());
        assert_eq!(j["annotations"][0]["value"], "rows {\"n\":3}");
        if seq % 3 == 0 {
            assert_eq!(j["tags"]["error"], "row missing");
        } else {
            assert!(j["tags"].get("error").is_none());
        }
    }
}

fn health_of(name: &str, target: &str) -> ExporterHealth {
    tracewell::health()
        .into_iter()
        .find(|h| h.name == name && h.target == target)
        .unwrap_or_else(|| panic!("no health entry for {name} {target}"))
}

/// Installs a pipeline with `exporter`, runs [`workload`], flushes and checks that every span
/// was exported.
fn run_pipeline(exporter: impl tracewell::export::Exporter) -> tracewell::Guard {
    let guard = tracewell::builder()
        .scheduled_delay(Duration::from_millis(5))
        .export_timeout(Duration::from_secs(10))
        .exporter(exporter)
        .install()
        .unwrap();
    assert_eq!(workload(), expected_sum());
    assert!(tracewell::flush());
    let stats = tracewell::stats();
    assert_eq!(stats.submitted, SPANS, "{stats:?}");
    assert_eq!(stats.exported, SPANS, "{stats:?}");
    guard
}

// ---- delivery, configured in code -------------------------------------------------------------

#[test]
fn rediss_delivers_every_span_field_by_field() {
    let _one = one_pipeline();
    let tls = pki(false);
    let server = RedisServer::start_tls(&tls);
    assert!(server.url().starts_with("rediss://127.0.0.1:"));
    let exporter = RedisExporter::new(&server.url())
        .unwrap()
        .ca_certificate_pem(tls.ca_pem.clone())
        .unwrap()
        .key("tls:spans")
        .service_name("redis-tls");
    let guard = run_pipeline(exporter);
    let h = health_of("redis", &server.url());
    assert!(h.connected && h.last_error.is_none(), "{h:?}");
    assert_eq!((h.spans_delivered, h.spans_dropped), (SPANS, 0));
    drop(guard);
    check_redis_lines(&server, "tls:spans", "redis-tls");
}

#[test]
fn otlp_grpc_over_mutual_tls_delivers_every_span_field_by_field() {
    let _one = one_pipeline();
    let tls = pki(true);
    let rx = Receiver::grpc_tls(&tls);
    assert!(rx.endpoint().starts_with("https://127.0.0.1:"));
    let (cert, key) = tls.client_auth.clone().unwrap();
    let exporter = OtlpGrpcExporter::new(&rx.endpoint())
        .unwrap()
        .ca_certificate_pem(tls.ca_pem.clone())
        .unwrap()
        .client_identity_pem(cert, key)
        .unwrap()
        .service_name("grpc-tls")
        .gzip(true);
    let guard = run_pipeline(exporter);
    let h = health_of("otlp-grpc", &rx.endpoint());
    assert!(h.connected, "{h:?}");
    assert_eq!((h.spans_delivered, h.spans_dropped), (SPANS, 0));
    drop(guard);
    assert!(rx.gzip_requests() > 0);
    check_otlp(&rx.spans(), "grpc-tls");
}

#[test]
fn otlp_http_over_tls_delivers_every_span_field_by_field() {
    let _one = one_pipeline();
    let tls = pki(false);
    let rx = Receiver::http_tls(&tls);
    let endpoint = format!("{}/v1/traces", rx.endpoint());
    let exporter = OtlpHttpExporter::new(&endpoint)
        .unwrap()
        .ca_certificate_pem(tls.ca_pem.clone())
        .unwrap()
        .service_name("http-tls");
    let guard = run_pipeline(exporter);
    let h = health_of("otlp-http", &endpoint);
    assert!(h.connected, "{h:?}");
    assert_eq!((h.spans_delivered, h.spans_dropped), (SPANS, 0));
    drop(guard);
    check_otlp(&rx.spans(), "http-tls");
}

#[test]
fn zipkin_over_tls_delivers_every_span_field_by_field() {
    let _one = one_pipeline();
    let tls = pki(false);
    let rx = Receiver::http_tls(&tls);
    let endpoint = format!("{}/api/v2/spans", rx.endpoint());
    let exporter = ZipkinExporter::new(&endpoint)
        .unwrap()
        .ca_certificate_pem(tls.ca_pem.clone())
        .unwrap()
        .service_name("zipkin-tls");
    let guard = run_pipeline(exporter);
    assert!(health_of("zipkin", &endpoint).connected);
    drop(guard);
    check_zipkin(&rx.zipkin_spans(), "zipkin-tls");
}

// ---- delivery, configured from the environment -----------------------------------------------

/// Runs this binary's test `name` alone in a child process with `env` set (and
/// `TRACEWELL_TEST_CHILD=1`), killing it if it runs past 60 s; panics with its output if it fails.
fn run_child(name: &str, env: &[(&str, String)]) {
    let out = temp_path("child-output.txt");
    let file = std::fs::File::create(&out).unwrap();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", name, "--nocapture", "--test-threads", "1"])
        .env("TRACEWELL_TEST_CHILD", "1")
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file);
    for var in ["OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut status = None;
    let finished = wait_until(Duration::from_secs(60), || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    if !finished {
        let _ = child.kill();
        let _ = child.wait();
    }
    let output = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    assert!(finished, "child {name} ran past 60 s: {output}");
    assert!(status.is_some_and(|s| s.success()), "child {name} failed: {output}");
}

/// The child's half: the pipeline from the environment alone, the workload, and every span
/// exported to a connected exporter.
fn child_exports_from_env(exporter: &str) {
    let guard = tracewell::builder().install().expect("configuration from the environment");
    assert_eq!(workload(), expected_sum());
    assert!(tracewell::flush());
    let stats = tracewell::stats();
    assert_eq!((stats.submitted, stats.exported), (SPANS, SPANS), "{stats:?}");
    let h = tracewell::health().into_iter().find(|h| h.name == exporter).expect("exporter built from env");
    assert!(h.connected && h.spans_delivered == SPANS, "{h:?}");
    drop(guard);
}

#[test]
fn rediss_with_client_certificates_from_the_environment() {
    if std::env::var_os("TRACEWELL_TEST_CHILD").is_some() {
        return child_exports_from_env("redis");
    }
    let tls = pki(true);
    let server = RedisServer::start_tls(&tls);
    // The server does check clients: without a certificate it lets nobody in.
    let anonymous = redis::Client::build_with_tls(
        server.url(),
        redis::TlsCertificates { client_tls: None, root_cert: Some(tls.ca_pem.clone().into_bytes()) },
    )
    .unwrap();
    let refused = anonymous
        .get_connection_with_timeout(Duration::from_secs(2))
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
    assert!(refused.is_err(), "{refused:?}");

    let (cert, key) = tls.client_auth.clone().unwrap();
    let mut files = PemFiles(Vec::new());
    run_child(
        "rediss_with_client_certificates_from_the_environment",
        &[
            ("OTEL_TRACES_EXPORTER", "redis".into()),
            ("OTEL_SERVICE_NAME", "redis-env-tls".into()),
            ("TRACEWELL_REDIS_URL", server.url()),
            ("TRACEWELL_REDIS_KEY", "env:spans".into()),
            ("TRACEWELL_REDIS_CA_CERT", files.write("ca.pem", &tls.ca_pem)),
            ("TRACEWELL_REDIS_CLIENT_CERT", files.write("client.pem", &cert)),
            ("TRACEWELL_REDIS_CLIENT_KEY", files.write("client-key.pem", &key)),
        ],
    );
    check_redis_lines(&server, "env:spans", "redis-env-tls");
}

#[test]
fn otlp_http_with_client_certificates_from_the_environment() {
    if std::env::var_os("TRACEWELL_TEST_CHILD").is_some() {
        return child_exports_from_env("otlp-http");
    }
    let tls = pki(true);
    let rx = Receiver::http_tls(&tls);
    let (cert, key) = tls.client_auth.clone().unwrap();
    let mut files = PemFiles(Vec::new());
    run_child(
        "otlp_http_with_client_certificates_from_the_environment",
        &[
            ("OTEL_TRACES_EXPORTER", "otlp".into()),
            ("OTEL_SERVICE_NAME", "http-env-tls".into()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".into()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", rx.endpoint()),
            // The signal-specific variable wins: the general one names no file at all.
            ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", files.write("ca.pem", &tls.ca_pem)),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/tracewell-ca.pem".into()),
            ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", files.write("client.pem", &cert)),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", files.write("client-key.pem", &key)),
        ],
    );
    check_otlp(&rx.spans(), "http-env-tls");
}

// ---- a server certificate that is not trusted --------------------------------------------------

fn assert_refused_certificate(h: &ExporterHealth) {
    assert!(!h.connected, "{h:?}");
    assert_eq!(h.spans_delivered, 0, "{h:?}");
    let error = h.last_error.as_deref().unwrap_or_default();
    assert!(error.contains("certificate"), "{}: last error does not name the certificate: {error}", h.name);
}

#[test]
fn otlp_and_zipkin_with_the_wrong_ca_drop_and_count_without_touching_the_program() {
    let _one = one_pipeline();
    let tls = pki(false);
    let (grpc_rx, http_rx) = (Receiver::grpc_tls(&tls), Receiver::http_tls(&tls));
    let wrong = stranger_ca();
    let grpc = OtlpGrpcExporter::new(&grpc_rx.endpoint())
        .unwrap()
        .ca_certificate_pem(wrong.clone())
        .unwrap()
        .timeout(Duration::from_secs(5));
    let http_endpoint = format!("{}/v1/traces", http_rx.endpoint());
    let http = OtlpHttpExporter::new(&http_endpoint)
        .unwrap()
        .ca_certificate_pem(wrong.clone())
        .unwrap()
        .timeout(Duration::from_secs(5));
    let zipkin_endpoint = format!("{}/api/v2/spans", http_rx.endpoint());
    let zipkin = ZipkinExporter::new(&zipkin_endpoint)
        .unwrap()
        .ca_certificate_pem(wrong)
        .unwrap()
        .timeout(Duration::from_secs(5));
    let guard = tracewell::builder()
        .scheduled_delay(Duration::from_millis(5))
        .export_timeout(Duration::from_secs(10))
        .exporter(grpc)
        .exporter(http)
        .exporter(zipkin)
        .install()
        .unwrap();

    // The program computes what it always does, and flushing still comes back.
    assert_eq!(workload(), expected_sum());
    assert!(tracewell::flush());

    let stats = tracewell::stats();
    assert_eq!(stats.submitted, SPANS, "{stats:?}");
    assert_eq!((stats.exported, stats.dropped_export_failed, stats.in_flight), (0, SPANS, 0), "{stats:?}");
    for (name, target) in [("otlp-grpc", grpc_rx.endpoint()), ("otlp-http", http_endpoint), ("zipkin", zipkin_endpoint)]
    {
        let h = health_of(name, &target);
        assert_refused_certificate(&h);
        assert_eq!(h.spans_dropped, SPANS, "{h:?}");
    }
    drop(guard);
    assert_eq!((grpc_rx.requests(), grpc_rx.span_count()), (0, 0));
    assert_eq!((http_rx.requests(), http_rx.span_count(), http_rx.zipkin_spans().len()), (0, 0, 0));
}

#[test]
fn rediss_with_the_wrong_ca_buffers_then_drops_and_counts() {
    const BUFFER: u64 = 200;
    let _one = one_pipeline();
    let tls = pki(false);
    let server = RedisServer::start_tls(&tls);
    let exporter = RedisExporter::new(&server.url())
        .unwrap()
        .ca_certificate_pem(stranger_ca())
        .unwrap()
        .key("wrong:spans")
        .buffer_capacity(BUFFER as usize);
    // Batches smaller than the retry buffer, so the first ones wait in it while the exporter
    // tries to connect and later ones push them out.
    let guard = tracewell::builder()
        .max_export_batch_size(50)
        .scheduled_delay(Duration::from_millis(5))
        .exporter(exporter)
        .install()
        .unwrap();

    let started = Instant::now();
    assert_eq!(workload(), expected_sum());
    // Making spans never waits for Redis (its connection attempts are seconds long at worst).
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    tracewell::flush();

    let h = health_of("redis", &server.url());
    assert_refused_certificate(&h);
    // What the retry buffer could not hold is dropped and counted; the rest waits in it.
    assert!(h.spans_dropped >= SPANS - BUFFER, "{h:?}");
    assert_eq!(h.spans_dropped + h.spans_buffered, SPANS, "{h:?}");
    let s = tracewell::stats();
    assert_eq!((s.exported, s.held, s.dropped_export_failed), (0, h.spans_buffered, h.spans_dropped), "{s:?}");
    drop(guard);
    let stored: u64 = server.conn().llen("wrong:spans").unwrap();
    assert_eq!(stored, 0);
}

// ---- secrets stay out of errors and Debug ------------------------------------------------------

#[test]
fn passwords_and_keys_stay_out_of_errors_and_debug() {
    let tls = pki(true);
    let (cert, key) = tls.client_auth.clone().unwrap();
    // A CA for a plain redis:// URL is a mistake worth naming, without the URL's password.
    let err = RedisExporter::new("redis://:hunter2@127.0.0.1:6379").unwrap().ca_certificate_pem(tls.ca_pem.clone());
    let err = err.unwrap_err().to_string();
    assert!(err.starts_with("TRACEWELL_REDIS_URL=\"redis://:***@127.0.0.1:6379\""), "{err}");
    assert!(err.contains("TRACEWELL_REDIS_CA_CERT is set, which needs a rediss:// (TLS) URL"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let redis =
        RedisExporter::new("rediss://:hunter2@127.0.0.1:6380").unwrap().client_identity_pem(cert.clone(), key.clone());
    assert!(!format!("{:?}", redis.unwrap()).contains("hunter2"));
    // A key that is not the certificate's is refused when given, naming the key's variable.
    let other_key = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let err =
        ZipkinExporter::new("https://127.0.0.1:1/api/v2/spans").unwrap().client_identity_pem(cert.clone(), other_key);
    let err = err.unwrap_err().to_string();
    assert!(err.starts_with("TRACEWELL_ZIPKIN_CLIENT_KEY="), "{err}");
    for debug in [
        format!(
            "{:?}",
            OtlpGrpcExporter::new("https://127.0.0.1:1")
                .unwrap()
                .client_identity_pem(cert.clone(), key.clone())
                .unwrap()
        ),
        format!(
            "{:?}",
            OtlpHttpExporter::new("https://127.0.0.1:1/v1/traces")
                .unwrap()
                .client_identity_pem(cert.clone(), key.clone())
                .unwrap()
        ),
        format!(
            "{:?}",
            ZipkinExporter::new("https://127.0.0.1:1/api/v2/spans")
                .unwrap()
                .client_identity_pem(cert.clone(), key.clone())
                .unwrap()
        ),
    ] {
        assert!(!debug.contains("PRIVATE KEY") && !debug.contains(&key[40..80]), "{debug}");
    }
}
