//! Two instrumented services on loopback, one trace: an HTTP service (axum) that calls a gRPC
//! service (tonic's health service). Each is wrapped in one line, `TraceLayer::server()`, and the
//! HTTP service's gRPC client in `TraceLayer::client()`.
//!
//! ```text
//! cargo run --example two_services                        # W3C traceparent/tracestate
//! OTEL_PROPAGATORS=b3 cargo run --example two_services    # B3 single header
//! ```
//!
//! It prints the spans of the request as a tree: every span has the same trace id, and each
//! server span is the child of the client span that called it.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::routing::get;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tower_layer::Layer;
use tower_service::Service;
use tracewell::propagation::tower::{TraceLayer, TraceService};
use tracewell::{FutureExt, SpanData, SpanId};

type Inventory = HealthClient<TraceService<Channel>>;

async fn hello(State(mut inventory): State<Inventory>, Path(name): Path<String>) -> String {
    // A span of the handler's own; the gRPC client span nests under it.
    let answer =
        async { inventory.check(HealthCheckRequest { service: String::new() }).await }.in_span("ask_inventory").await;
    match answer {
        Ok(r) => format!("hello {name}, inventory is {}\n", r.into_inner().status().as_str_name()),
        Err(e) => format!("hello {name}, inventory failed: {e}\n"),
    }
}

fn print_tree(spans: &[SpanData], parent: SpanId, depth: usize) {
    for s in spans.iter().filter(|s| s.parent_span_id == parent) {
        println!(
            "{:indent$}{} [{:?}] span {} trace {}{}",
            "",
            s.name,
            s.kind,
            s.span_id,
            s.trace_id,
            if s.parent_is_remote { " (remote parent)" } else { "" },
            indent = depth * 2
        );
        print_tree(spans, s.span_id, depth + 1);
    }
}

#[tokio::main]
async fn main() {
    let guard = tracewell::builder().service_name("two-services").install().expect("tracewell installs");
    println!("propagators: {}", tracewell::propagation::propagators());

    // The gRPC service.
    let (_reporter, health) = tonic_health::server::health_reporter();
    let incoming = TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).expect("bind the gRPC port");
    let grpc_addr = incoming.local_addr().unwrap();
    let grpc =
        tokio::spawn(Server::builder().layer(TraceLayer::server()).add_service(health).serve_with_incoming(incoming));

    // The HTTP service, with a traced gRPC client.
    let channel = Channel::from_shared(format!("http://{grpc_addr}")).unwrap().connect_lazy();
    let inventory = HealthClient::new(TraceLayer::client().layer(channel));
    let app = axum::Router::new().route("/hello/{name}", get(hello)).with_state(inventory).layer(TraceLayer::server());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the HTTP port");
    let http_addr = listener.local_addr().unwrap();
    let http = tokio::spawn(axum::serve(listener, app).into_future());
    println!("HTTP on {http_addr}, gRPC on {grpc_addr}");

    // A traced HTTP client calls the HTTP service from inside a root span.
    let mut client = TraceLayer::client().layer(Client::builder(TokioExecutor::new()).build_http::<String>());
    let root = tracewell::span("request").start_detached();
    let trace_id = root.context().trace_id;
    let status = async {
        std::future::poll_fn(|cx| client.poll_ready(cx)).await.expect("client ready");
        let req = http::Request::get(format!("http://{http_addr}/hello/ada")).body(String::new()).unwrap();
        client.call(req).await.map(|r| r.status())
    }
    .instrument(root);
    match tokio::time::timeout(Duration::from_secs(10), status).await {
        Ok(Ok(status)) => println!("response: {status}"),
        Ok(Err(e)) => println!("request failed: {e}"),
        Err(_) => println!("request timed out"),
    }
    http.abort();
    grpc.abort();

    let spans: Vec<SpanData> = tracewell::collected().into_iter().filter(|s| s.trace_id == trace_id).collect();
    println!("{} spans in trace {trace_id}:", spans.len());
    print_tree(&spans, SpanId::INVALID, 1);
    drop(guard);
}
