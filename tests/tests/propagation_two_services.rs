//! One request through two real services on loopback: an HTTP service (axum) that calls a gRPC
//! service (tonic's health service), both wrapped in `TraceLayer`. Every span of the request must
//! share one trace id and each server span must be the child of its caller's client span, with
//! W3C trace context and with B3 headers.

use std::sync::Mutex;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tower_layer::Layer;
use tower_service::Service;
use tracewell::propagation::tower::{TraceLayer, TraceService};
use tracewell::propagation::{Propagator, Propagators};
use tracewell::{FutureExt, SpanData, SpanKind, TraceId, Value};
use tracewell_tests::wait_until;

/// One pipeline per process at a time.
static PIPELINE: Mutex<()> = Mutex::new(());

type Inventory = HealthClient<TraceService<Channel>>;

/// The HTTP handler: asks the gRPC service inside a span of its own and reports which trace
/// headers it received.
async fn hello(State(mut inventory): State<Inventory>, headers: HeaderMap) -> String {
    let answer =
        async { inventory.check(HealthCheckRequest { service: String::new() }).await }.in_span("ask_inventory").await;
    let status = match answer {
        Ok(r) => r.into_inner().status().as_str_name().to_owned(),
        Err(e) => format!("error {e}"),
    };
    let seen: Vec<&str> =
        ["traceparent", "b3", "x-b3-traceid"].into_iter().filter(|h| headers.contains_key(*h)).collect();
    format!("{status} via {}", seen.join(","))
}

/// Starts both services on loopback, sends one request from inside a root span and returns the
/// root's trace id and the response body. Everything started is stopped before returning.
fn one_request(http_props: &Propagators, grpc_props: &Propagators) -> (TraceId, String) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let out = rt.block_on(async {
        let (_reporter, health) = tonic_health::server::health_reporter();
        let incoming = TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let grpc_addr = incoming.local_addr().unwrap();
        let grpc = Server::builder()
            .layer(TraceLayer::server().propagators(grpc_props.clone()))
            .add_service(health)
            .serve_with_incoming(incoming);
        let grpc_task = tokio::spawn(grpc);

        let channel = Channel::from_shared(format!("http://{grpc_addr}")).unwrap().connect_lazy();
        let inventory = HealthClient::new(TraceLayer::client().propagators(grpc_props.clone()).layer(channel));
        let app = axum::Router::new()
            .route("/hello/{name}", get(hello))
            .with_state(inventory)
            .layer(TraceLayer::server().propagators(http_props.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http_addr = listener.local_addr().unwrap();
        let http_task = tokio::spawn(axum::serve(listener, app).into_future());

        let mut client = TraceLayer::client()
            .propagators(http_props.clone())
            .layer(Client::builder(TokioExecutor::new()).build_http::<String>());
        let root = tracewell::span("request").start_detached();
        let trace_id = root.context().trace_id;
        let body = async {
            std::future::poll_fn(|cx| client.poll_ready(cx)).await.unwrap();
            let req = http::Request::get(format!("http://{http_addr}/hello/ada")).body(String::new()).unwrap();
            let resp = client.call(req).await.unwrap();
            assert_eq!(resp.status(), 200);
            String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
        }
        .instrument(root);
        let body = tokio::time::timeout(Duration::from_secs(20), body).await.expect("the request took over 20 s");
        http_task.abort();
        grpc_task.abort();
        (trace_id, body)
    });
    rt.shutdown_timeout(Duration::from_secs(5));
    out
}

/// The spans of `trace`, once all `n` have arrived (or after 10 s).
fn spans_of(trace: TraceId, n: usize) -> Vec<SpanData> {
    let mut spans = Vec::new();
    wait_until(Duration::from_secs(10), || {
        spans = tracewell::collected().into_iter().filter(|s| s.trace_id == trace).collect();
        spans.len() >= n
    });
    spans
}

fn check_one_trace(http_props: Propagators, grpc_props: Propagators, expect_headers: &str) {
    let _one = PIPELINE.lock().unwrap_or_else(|e| e.into_inner());
    let guard = tracewell::builder().service_name("two-services").install().unwrap();
    let (trace, body) = one_request(&http_props, &grpc_props);
    assert_eq!(body, format!("SERVING via {expect_headers}"));

    let spans = spans_of(trace, 6);
    let names: Vec<String> = spans.iter().map(|s| format!("{} {:?}", s.name, s.kind)).collect();
    assert_eq!(spans.len(), 6, "{names:?}");
    let find = |name: &str, kind: SpanKind| {
        spans
            .iter()
            .find(|s| s.name == name && s.kind == kind)
            .unwrap_or_else(|| panic!("no {name} {kind:?} in {names:?}"))
    };
    let root = find("request", SpanKind::Internal);
    let http_client = find("GET /hello/ada", SpanKind::Client);
    let http_server = find("GET /hello/ada", SpanKind::Server);
    let ask = find("ask_inventory", SpanKind::Internal);
    let grpc_client = find("grpc.health.v1.Health/Check", SpanKind::Client);
    let grpc_server = find("grpc.health.v1.Health/Check", SpanKind::Server);

    assert!(root.is_root());
    assert_eq!(http_client.parent_span_id, root.span_id);
    assert_eq!(http_server.parent_span_id, http_client.span_id, "HTTP server span under the HTTP client span");
    assert!(http_server.parent_is_remote);
    assert_eq!(ask.parent_span_id, http_server.span_id);
    assert_eq!(grpc_client.parent_span_id, ask.span_id);
    assert_eq!(grpc_server.parent_span_id, grpc_client.span_id, "gRPC server span under the gRPC client span");
    assert!(grpc_server.parent_is_remote);
    assert!(!grpc_client.parent_is_remote);

    assert_eq!(http_server.attribute("http.response.status_code"), Some(&Value::from(200u64)));
    assert_eq!(http_client.attribute("http.response.status_code"), Some(&Value::from(200u64)));
    assert_eq!(grpc_server.attribute("rpc.system"), Some(&Value::from("grpc")));
    drop(guard);
}

#[test]
fn w3c_trace_context_joins_http_and_grpc_into_one_trace() {
    let w3c = Propagators::new([Propagator::TraceContext]);
    check_one_trace(w3c.clone(), w3c, "traceparent");
}

#[test]
fn b3_joins_http_and_grpc_into_one_trace() {
    // single header on the HTTP hop, multi headers on the gRPC hop
    check_one_trace(Propagators::new([Propagator::B3]), Propagators::new([Propagator::B3Multi]), "b3");
}
