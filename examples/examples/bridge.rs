//! `tracing` and tracewell in one trace: an axum server behind tower-http's `TraceLayer`, which
//! makes a `tracing` span per request, whose handler calls `#[traced]` functions, one of which
//! wraps a query in a `tracing` span the way database crates do.
//!
//! ```text
//! cargo run --example bridge
//! ```
//!
//! It sends one request on loopback and prints the request's spans as a tree: tower-http's
//! `request` span, the traced handler under it, the `tracing` query span under the handler and the
//! traced decoding under the query, all with one trace id, with their attributes and events.

use std::time::{Duration, Instant};

use axum::extract::Path;
use axum::routing::get;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tower_http::trace::TraceLayer;
use tracewell::{SpanData, SpanId, traced};
use tracing::Instrument as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

async fn get_user(Path(id): Path<u64>) -> String {
    load_user(id).await
}

#[traced]
async fn load_user(id: u64) -> String {
    let span = tracing::info_span!(
        "db.query",
        db.statement = "select * from users where id = $1",
        db.rows = tracing::field::Empty
    );
    let rows = query(id).instrument(span).await;
    render(id, rows)
}

async fn query(id: u64) -> u64 {
    tokio::task::yield_now().await;
    let rows = decode_rows(id);
    tracing::Span::current().record("db.rows", rows);
    rows
}

#[traced]
fn decode_rows(id: u64) -> u64 {
    id % 3 + 1
}

#[traced]
fn render(id: u64, rows: u64) -> String {
    tracing::info!(bytes = 24u64, "rendered");
    format!("user {id}: {rows} rows\n")
}

fn print_tree(spans: &[SpanData], parent: SpanId, depth: usize) {
    for s in spans.iter().filter(|s| s.parent_span_id == parent) {
        let attrs: Vec<String> = s
            .attributes
            .iter()
            .chain(s.inputs.iter())
            .filter(|(k, _)| !k.starts_with("tracewell."))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!(
            "{:indent$}{} ({}) {}us span {} trace {}  {}",
            "",
            s.name,
            if s.target.is_empty() { "-" } else { &s.target },
            s.duration_ns() / 1000,
            s.span_id,
            s.trace_id,
            attrs.join(" "),
            indent = depth * 2
        );
        for e in &s.events {
            println!("{:indent$}  · event {:?}", "", e.name, indent = depth * 2);
        }
        print_tree(spans, s.span_id, depth + 1);
    }
}

#[tokio::main]
async fn main() {
    let guard = tracewell::builder().service_name("bridge").install().expect("tracewell installs");
    // The one line that joins `tracing` to tracewell.
    tracing_subscriber::registry().with(tracewell::bridge::tracing_layer()).init();

    let app = axum::Router::new().route("/users/{id}", get(get_user)).layer(TraceLayer::new_for_http());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(axum::serve(listener, app).into_future());
    println!("serving on {addr}");

    let request = async {
        let mut conn = tokio::net::TcpStream::connect(addr).await?;
        conn.write_all(b"GET /users/7 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").await?;
        let mut response = String::new();
        conn.read_to_string(&mut response).await?;
        std::io::Result::Ok(response)
    };
    match tokio::time::timeout(Duration::from_secs(10), request).await {
        Ok(Ok(r)) => println!("response: {}", r.lines().next().unwrap_or_default()),
        Ok(Err(e)) => println!("request failed: {e}"),
        Err(_) => println!("request timed out"),
    }

    // tower-http's span ends once the response body is sent: wait for it (5 s at most).
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut spans = tracewell::collected();
    while !spans.iter().any(|s| s.name == "request") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        spans = tracewell::collected();
    }
    server.abort();
    match spans.iter().find(|s| s.name == "request") {
        Some(request) => {
            let trace_id = request.trace_id;
            let spans: Vec<SpanData> = spans.into_iter().filter(|s| s.trace_id == trace_id).collect();
            println!("{} spans in trace {trace_id}:", spans.len());
            print_tree(&spans, SpanId::INVALID, 1);
        }
        None => println!("the request span did not arrive"),
    }
    drop(guard);
}
