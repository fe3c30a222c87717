//! `tracing` spans and events from real crates in tracewell's traces: tower-http's `TraceLayer`
//! over an axum server on loopback, `tracing` spans around tokio tasks on a multi-thread runtime,
//! and `#[traced]` functions inside and around them. One `tracing` subscriber (registry + the
//! bridge) is installed for this whole test binary, as a service would install it.

use std::future::IntoFuture as _;
use std::sync::OnceLock;
use std::time::Duration;

use axum::extract::Path;
use axum::http::StatusCode as HttpStatus;
use axum::routing::get;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tower_http::trace::TraceLayer;
use tracewell::{SpanContext, SpanData, SpanId, StatusCode, TraceId, Value, traced};
use tracewell_tests::{memory, wait_until};
use tracing::Instrument as _;
use tracing_subscriber::layer::SubscriberExt as _;

/// tracewell's pipeline (memory exporter) and the global `tracing` subscriber, once per binary.
fn setup() {
    static SUBSCRIBER: OnceLock<()> = OnceLock::new();
    memory();
    SUBSCRIBER.get_or_init(|| {
        let subscriber = tracing_subscriber::registry().with(tracewell::bridge::tracing_layer());
        tracing::subscriber::set_global_default(subscriber).expect("no other subscriber in this binary");
    });
}

/// The exported spans that satisfy `done` once it holds (flushing while waiting, 10 s at most).
fn exported_until(mut done: impl FnMut(&[SpanData]) -> bool) -> Vec<SpanData> {
    let mut spans = Vec::new();
    let ok = wait_until(Duration::from_secs(10), || {
        tracewell::flush();
        spans = memory().spans();
        done(&spans)
    });
    assert!(ok, "spans never arrived; have {:?}", spans.iter().map(|s| &s.name).collect::<Vec<_>>());
    spans
}

/// The spans of `trace` once there are `n` of them.
fn trace(trace: TraceId, n: usize) -> Vec<SpanData> {
    let spans = exported_until(|s| s.iter().filter(|s| s.trace_id == trace).count() >= n);
    spans.into_iter().filter(|s| s.trace_id == trace).collect()
}

fn one<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    let found: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "one {name} in {:?}", spans.iter().map(|s| &s.name).collect::<Vec<_>>());
    found[0]
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// Sends `GET path` over a fresh loopback connection and returns the status code.
async fn http_get(addr: std::net::SocketAddr, path: &str) -> u16 {
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut resp = String::new();
    conn.read_to_string(&mut resp).await.unwrap();
    resp.get(9..12).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not an HTTP response: {resp:?}"))
}

/// Runs an axum app behind tower-http's `TraceLayer` on loopback, sends `paths` one after the
/// other and returns their status codes; the server is stopped before returning.
fn serve_and_get(app: axum::Router, paths: &[&str]) -> Vec<u16> {
    let rt = runtime();
    let codes = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(axum::serve(listener, app.layer(TraceLayer::new_for_http())).into_future());
        let mut codes = Vec::new();
        for p in paths {
            codes.push(tokio::time::timeout(Duration::from_secs(20), http_get(addr, p)).await.expect("answer"));
        }
        server.abort();
        codes
    });
    rt.shutdown_timeout(Duration::from_secs(5));
    codes
}

// ---- the service: an axum handler, `#[traced]` functions, a library-like `tracing` span ----

async fn get_user(Path(id): Path<u64>) -> String {
    load_user(id).await
}

#[traced]
async fn load_user(id: u64) -> String {
    // What a database crate does: a `tracing` span around the query, fields recorded later.
    let rows =
        query(id).instrument(tracing::info_span!("db.query", cached = false, db.rows = tracing::field::Empty)).await;
    render(id, rows)
}

async fn query(id: u64) -> u64 {
    tokio::task::yield_now().await;
    // Work handed to another task keeps the `tracing` span with `in_current_span`.
    let rows = tokio::spawn(async move { decode_rows(id) }.in_current_span()).await.unwrap();
    tokio::task::yield_now().await;
    tracing::Span::current().record("db.rows", rows);
    rows
}

#[traced]
fn decode_rows(id: u64) -> u64 {
    id % 5 + 1
}

#[traced]
fn render(id: u64, rows: u64) -> String {
    tracing::info!(bytes = 12u64, ratio = 0.5f64, "rendered");
    format!("user {id}: {rows} rows")
}

async fn fail() -> (HttpStatus, &'static str) {
    (HttpStatus::INTERNAL_SERVER_ERROR, "no")
}

#[test]
fn a_tower_http_request_span_holds_the_traced_calls_and_their_tracing_spans_in_one_trace() {
    setup();
    let app = axum::Router::new().route("/users/{id}", get(get_user));
    assert_eq!(serve_and_get(app, &["/users/7"]), [200]);

    let spans = exported_until(|s| s.iter().any(|s| s.attribute("uri") == Some(&Value::from("/users/7"))));
    let request = spans.iter().find(|s| s.attribute("uri") == Some(&Value::from("/users/7"))).unwrap();
    let spans = trace(request.trace_id, 5);
    let request = one(&spans, "request");
    let load = one(&spans, "load_user");
    let query = one(&spans, "db.query");
    let decode = one(&spans, "decode_rows");
    let render = one(&spans, "render");

    // One tree: HTTP span -> #[traced] handler -> tracing span -> #[traced] in another task.
    assert!(request.is_root());
    assert_eq!(load.parent_span_id, request.span_id, "the traced handler is a child of tower-http's span");
    assert_eq!(query.parent_span_id, load.span_id, "the tracing span is a child of the traced fn");
    assert_eq!(decode.parent_span_id, query.span_id, "traced code in a spawned task is under the tracing span");
    assert_eq!(render.parent_span_id, load.span_id);

    // Fields: typed where they are numbers and bools, text where tower-http formats them.
    assert_eq!(request.attribute("method"), Some(&Value::from("GET")));
    assert_eq!(request.attribute("tracing.level"), Some(&Value::from("DEBUG")));
    assert_eq!(request.target, "tower_http::trace::make_span");
    assert_eq!(query.attribute("cached"), Some(&Value::Bool(false)));
    assert_eq!(query.attribute("db.rows"), Some(&Value::U64(3)), "recorded later through Span::record");
    assert_eq!(query.attribute("tracing.level"), Some(&Value::from("INFO")));

    // The tracing event inside a #[traced] function is an event of that function's span.
    let rendered = render.events.iter().find(|e| e.name == "rendered").expect("the event on render");
    assert!(rendered.attributes.contains(&("bytes".into(), Value::U64(12))));
    assert!(rendered.attributes.contains(&("ratio".into(), Value::F64(0.5))));
    assert!(
        rendered.time_unix_nano >= render.start_time_unix_nano && rendered.time_unix_nano <= render.end_time_unix_nano
    );
    // tower-http's own events land on its span.
    assert!(request.events.iter().any(|e| e.name == "finished processing request"), "{:?}", request.events);
    assert_eq!(request.status.code, StatusCode::Unset);

    // Busy time of a span entered at each poll: part of its life, the rest is idle.
    let busy = query.attribute("tracewell.busy_ns").and_then(|v| if let Value::U64(n) = v { Some(*n) } else { None });
    let idle = query.attribute("tracewell.idle_ns").and_then(|v| if let Value::U64(n) = v { Some(*n) } else { None });
    let (busy, idle) = (busy.expect("busy time"), idle.expect("idle time"));
    assert!(busy > 0 && busy <= query.duration_ns() + 1_000_000, "busy {busy} of {}", query.duration_ns());
    assert!(idle > 0, "the query waited for its task");
}

#[test]
fn a_failed_response_sets_the_request_span_status_to_error() {
    setup();
    let app = axum::Router::new().route("/fail", get(fail));
    assert_eq!(serve_and_get(app, &["/fail"]), [500]);
    let spans = exported_until(|s| s.iter().any(|s| s.attribute("uri") == Some(&Value::from("/fail"))));
    let request = spans.iter().find(|s| s.attribute("uri") == Some(&Value::from("/fail"))).unwrap();
    assert_eq!(request.status.code, StatusCode::Error);
    assert_eq!(request.status.message.as_deref(), Some("response failed"));
    let failed = request.events.iter().find(|e| e.name == "response failed").expect("tower-http's ERROR event");
    assert!(failed.attributes.contains(&("tracing.level".into(), Value::from("ERROR"))));
    assert!(
        failed.attributes.iter().any(|(k, v)| k == "classification" && v.as_str().is_some_and(|s| s.contains("500"))),
        "{:?}",
        failed.attributes
    );
}

#[test]
fn tracing_spans_around_tokio_tasks_are_children_of_the_current_traced_span() {
    setup();
    let rt = runtime();
    let root = tracewell::span("batch").start_detached();
    let trace_id = root.context().trace_id;
    // tracewell's `FutureExt::instrument` and tracing's `Instrument::instrument` share a name.
    rt.block_on(tracewell::FutureExt::instrument(
        async {
            let mut tasks = Vec::new();
            for n in 0..4u64 {
                // Made while `batch` is current on this thread, entered on whichever worker polls.
                let span = tracing::info_span!("job", n, even = n % 2 == 0);
                tasks.push(tokio::spawn(
                    async move {
                        tokio::task::yield_now().await;
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        decode_rows(n)
                    }
                    .instrument(span),
                ));
            }
            for t in tasks {
                t.await.unwrap();
            }
        },
        root,
    ));
    rt.shutdown_timeout(Duration::from_secs(5));

    let spans = trace(trace_id, 9);
    let batch = one(&spans, "batch");
    let jobs: Vec<_> = spans.iter().filter(|s| s.name == "job").collect();
    assert_eq!(jobs.len(), 4);
    for job in &jobs {
        assert_eq!(job.parent_span_id, batch.span_id, "tracing span under the current tracewell span");
        let Some(Value::U64(n)) = job.attribute("n") else { panic!("typed n: {:?}", job.attributes) };
        assert_eq!(job.attribute("even"), Some(&Value::Bool(n % 2 == 0)));
        let decodes: Vec<_> =
            spans.iter().filter(|s| s.name == "decode_rows" && s.parent_span_id == job.span_id).collect();
        assert_eq!(decodes.len(), 1, "the traced call inside each task is under its job");
        assert_eq!(decodes[0].input("id"), Some(&Value::U64(*n)));
    }
    assert!(!tracewell::current().is_valid(), "nothing leaked into the test thread");
}

#[test]
fn explicit_parents_roots_branch_scrubbing_and_truncation_apply_to_tracing_spans() {
    setup();
    let outer = tracewell::span("outer").start();
    let trace_id = outer.context().trace_id;
    let parent = tracing::info_span!("explicit_parent");
    {
        // `parent: None` starts a new trace even though `outer` is current.
        let root = tracing::info_span!(parent: None, "detached_root", branch = "cold");
        let _in_root = root.enter();
        let child = tracing::info_span!(parent: &parent, "explicit_child", password = "hunter2", note = "x".repeat(5000).as_str());
        tracing::warn!(parent: &child, "slow");
        drop(child);
    }
    drop(parent);
    let outer_id = outer.context().span_id;
    drop(outer);

    let spans = exported_until(|s| {
        ["detached_root", "explicit_child", "explicit_parent"].iter().all(|n| s.iter().any(|s| &s.name == n))
    });
    let root = spans.iter().rev().find(|s| s.name == "detached_root").unwrap();
    let parent = spans.iter().rev().find(|s| s.name == "explicit_parent").unwrap();
    let child = spans.iter().rev().find(|s| s.name == "explicit_child").unwrap();
    assert!(root.is_root() && root.trace_id != trace_id, "parent: None is a new trace");
    assert_eq!(root.branch.as_deref(), Some("cold"), "the field `branch` is the span's branch");
    assert_eq!(parent.parent_span_id, outer_id);
    assert_eq!(child.parent_span_id, parent.span_id, "explicit parent wins over the entered span");
    assert_eq!(child.trace_id, trace_id);
    assert_eq!(child.attribute("password"), Some(&Value::from("[scrubbed]")));
    let note = child.attribute("note").and_then(Value::as_str).unwrap();
    assert!(note.len() < 1100 && note.ends_with("[truncated]"), "{} chars", note.len());
    assert_eq!(child.events.len(), 1);
    assert_eq!(child.events[0].name, "slow");
    assert_eq!(child.status.code, StatusCode::Unset, "a WARN event is not an error");
}

#[test]
fn tracing_spans_inside_an_unsampled_trace_are_not_recorded_and_neither_are_their_children() {
    setup();
    let remote = SpanContext::remote(TraceId::random(), SpanId::random(), false);
    let unsampled = tracewell::span("unsampled_root").parent(remote.clone()).start();
    {
        let _t = tracing::info_span!("unsampled_tracing").entered();
        decode_rows(1);
        tracing::error!("not recorded either");
    }
    drop(unsampled);
    // A sampled span made afterwards shows the pipeline still works and lets us wait for it.
    tracewell::in_span("sampled_marker", || ());
    let spans = exported_until(|s| s.iter().any(|s| s.name == "sampled_marker"));
    assert!(spans.iter().all(|s| s.trace_id != remote.trace_id), "nothing of the unsampled trace was exported");
}

#[test]
fn installing_the_layer_twice_does_not_stop_the_program() {
    setup();
    // A second bridge layer in a scoped subscriber sees the same spans as the first one would.
    let twice = tracing_subscriber::registry()
        .with(tracewell::bridge::tracing_layer())
        .with(tracewell::bridge::tracing_layer());
    tracing::subscriber::with_default(twice, || {
        tracing::info_span!("bridged_twice", n = 1u64).in_scope(|| tracing::info!("inside"));
    });
    let spans = exported_until(|s| s.iter().any(|s| s.name == "bridged_twice"));
    let twice: Vec<_> = spans.iter().filter(|s| s.name == "bridged_twice").collect();
    assert!(!twice.is_empty() && twice.len() <= 2, "{}", twice.len());
    assert!(twice.iter().all(|s| s.attribute("n") == Some(&Value::U64(1))));
}

#[test]
fn otel_fields_name_the_span_set_its_kind_and_status_as_with_tracing_opentelemetry() {
    setup();
    let span = tracing::info_span!(
        "handler",
        otel.name = "GET /orders/{id}",
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        otel.status_message = tracing::field::Empty,
        order = 42i64,
    );
    span.in_scope(|| ());
    span.record("otel.status_code", "ERROR");
    span.record("otel.status_message", "order 42 is gone");
    drop(span);
    let spans = exported_until(|s| s.iter().any(|s| s.name == "GET /orders/{id}"));
    let s = spans.iter().find(|s| s.name == "GET /orders/{id}").unwrap();
    assert_eq!(s.kind, tracewell::SpanKind::Server);
    assert_eq!(s.status.code, StatusCode::Error, "recorded after the start");
    assert_eq!(s.status.message.as_deref(), Some("order 42 is gone"));
    assert_eq!(s.attribute("order"), Some(&Value::I64(42)));
    assert!(s.attribute("otel.kind").is_none() && s.attribute("otel.status_code").is_none(), "{:?}", s.attributes);
}
