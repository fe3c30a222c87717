//! Header helpers as a user calls them: inject into real carriers (`http::HeaderMap`, tonic
//! metadata, a `HashMap`), extract on the other side into `#[traced(parent = ..)]`, and the
//! formats chosen by `OTEL_PROPAGATORS` in a child process.

use std::collections::HashMap;
use std::process::Command;
use std::sync::Mutex;

use tracewell::propagation::{self, Propagators};
use tracewell::{SpanContext, SpanData, SpanKind, traced};

/// One pipeline per process at a time.
static PIPELINE: Mutex<()> = Mutex::new(());

#[traced(kind = "server", parent = &remote)]
fn handle(remote: Option<SpanContext>, route: &str) -> usize {
    route.len()
}

fn span(name: &str) -> SpanData {
    tracewell::collected().into_iter().rev().find(|s| s.name == name).unwrap_or_else(|| panic!("no span {name}"))
}

#[test]
fn every_carrier_carries_the_trace_into_a_traced_handler() {
    let _one = PIPELINE.lock().unwrap_or_else(|e| e.into_inner());
    let _g = tracewell::builder().install().unwrap();

    let mut http_headers = http::HeaderMap::new();
    let mut metadata = tonic::metadata::MetadataMap::new();
    let mut map: HashMap<String, String> = HashMap::new();
    let caller = {
        let call = tracewell::span("call").kind(SpanKind::Client).start();
        propagation::inject(&mut http_headers);
        propagation::inject(&mut metadata);
        propagation::inject(&mut map);
        call.context().clone()
    };
    assert!(http_headers.keys().all(|k| k.as_str() == k.as_str().to_ascii_lowercase()));
    assert!(map.keys().all(|k| k == &k.to_ascii_lowercase()));
    // a proxy that upper-cases header names changes nothing
    let shouted: HashMap<String, String> = map.iter().map(|(k, v)| (k.to_ascii_uppercase(), v.clone())).collect();

    for (i, parent) in [
        propagation::extract(&http_headers),
        propagation::extract(&metadata),
        propagation::extract(&map),
        propagation::extract(&shouted),
    ]
    .into_iter()
    .enumerate()
    {
        let parent = parent.unwrap_or_else(|| panic!("carrier {i} lost the context"));
        assert_eq!(parent.trace_state.as_deref(), Some(format!("tracewell={}", caller.span_id).as_str()));
        assert_eq!(handle(Some(parent), "/x"), 2);
        let s = span("handle");
        assert_eq!((s.trace_id, s.parent_span_id), (caller.trace_id, caller.span_id), "carrier {i}");
        assert!(s.parent_is_remote);
        assert_eq!(s.kind, SpanKind::Server);
    }

    // garbage restarts the trace
    let mut bad = http::HeaderMap::new();
    bad.insert("traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01".parse().unwrap());
    bad.insert("trace_id", "not hex".parse().unwrap());
    assert_eq!(propagation::extract(&bad), None);
    handle(propagation::extract(&bad), "/y");
    let s = span("handle");
    assert!(s.is_root());
    assert_ne!(s.trace_id, caller.trace_id);
}

#[test]
fn current_headers_name_the_current_span() {
    let _one = PIPELINE.lock().unwrap_or_else(|e| e.into_inner());
    let _g = tracewell::builder().install().unwrap();
    assert!(propagation::current_headers().is_empty(), "no span, no headers");
    let s = tracewell::span("work").start();
    let headers: HashMap<&str, String> = propagation::current_headers().into_iter().collect();
    let ctx = s.context();
    assert_eq!(headers["traceparent"], format!("00-{}-{}-03", ctx.trace_id, ctx.span_id));
    assert_eq!(headers["trace_id"], ctx.trace_id.to_string());
    assert_eq!(headers["span_id"], ctx.span_id.to_string());
    assert_eq!(headers["is_sampled"], "true");
}

/// Run by [`otel_propagators_selects_the_formats`] in a child process with `OTEL_PROPAGATORS`
/// set and the expected result in `EXPECT_PROPAGATORS`; in the normal run it checks the default.
#[test]
fn env_child() {
    let expected = std::env::var("EXPECT_PROPAGATORS").unwrap_or_else(|_| {
        let env = std::env::var("OTEL_PROPAGATORS").ok().filter(|v| !v.trim().is_empty());
        env.and_then(|v| v.parse::<Propagators>().ok()).unwrap_or_default().to_string()
    });
    assert_eq!(propagation::propagators().to_string(), expected);
}

#[test]
fn otel_propagators_selects_the_formats() {
    let exe = std::env::current_exe().unwrap();
    for (value, expected) in [
        ("b3multi , TraceContext", "b3multi,tracecontext"),
        ("none", "none"),
        ("", "tracecontext,tracewell"),
        ("tracecontext,jaeger", "tracecontext,tracewell"),
    ] {
        let out = Command::new(&exe)
            .args(["--exact", "env_child", "--nocapture", "--test-threads=1"])
            .env("OTEL_PROPAGATORS", value)
            .env("EXPECT_PROPAGATORS", expected)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "OTEL_PROPAGATORS={value:?}: {stderr}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("1 passed"), "the child ran no test: {stdout}");
        if value.contains("jaeger") {
            assert!(stderr.contains("OTEL_PROPAGATORS: unknown propagator \"jaeger\""), "{stderr}");
        }
    }
}
