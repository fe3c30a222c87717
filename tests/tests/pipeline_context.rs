//! Parent/child structure across `.await` and threads, panics and cancellation, on a real
//! multi-thread tokio runtime.

use std::sync::OnceLock;
use std::time::Duration;

use tracewell::export::MemoryExporter;
use tracewell::{FutureExt as _, SpanData, StatusCode};

fn mem() -> &'static MemoryExporter {
    static MEM: OnceLock<MemoryExporter> = OnceLock::new();
    static GUARD: OnceLock<tracewell::Guard> = OnceLock::new();
    let mem = MEM.get_or_init(|| MemoryExporter::new(100_000));
    GUARD.get_or_init(|| tracewell::builder().exporter(mem.clone()).install().expect("install"));
    mem
}

fn spans_of(trace: tracewell::TraceId) -> Vec<SpanData> {
    assert!(tracewell::flush());
    mem().spans().into_iter().filter(|s| s.trace_id == trace).collect()
}

fn by_name<'a>(spans: &'a [SpanData], name: &str) -> Vec<&'a SpanData> {
    spans.iter().filter(|s| s.name == name).collect()
}

#[test]
fn children_nest_across_await_and_task_migration() {
    mem();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let root = tracewell::span("request").start_detached();
    let trace = root.context().trace_id;
    rt.block_on(
        async {
            let mut handles = Vec::new();
            for i in 0..8u64 {
                // Each task gets its own span; its children are made after yields, on whichever
                // worker thread resumes it.
                let task = async move {
                    for step in 0..3u64 {
                        tokio::task::yield_now().await;
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        let mut child = tracewell::span("step").start();
                        child.set_attribute("task", i);
                        child.set_attribute("step", step);
                    }
                }
                .in_span("task");
                handles.push(tokio::spawn(task));
            }
            for h in handles {
                h.await.unwrap();
            }
        }
        .instrument(root),
    );
    let spans = spans_of(trace);
    let request = by_name(&spans, "request");
    assert_eq!(request.len(), 1);
    let tasks = by_name(&spans, "task");
    assert_eq!(tasks.len(), 8);
    for t in &tasks {
        assert_eq!(t.parent_span_id, request[0].span_id, "task under request");
        assert!(t.polls >= 4, "yielded at least three times: {}", t.polls);
        assert!(t.pending_polls >= 3, "{}", t.pending_polls);
        assert!(t.busy_ns <= t.duration_ns(), "busy time is part of wall time");
        let steps: Vec<_> = spans.iter().filter(|s| s.name == "step" && s.parent_span_id == t.span_id).collect();
        assert_eq!(steps.len(), 3, "each step under its own task");
    }
    assert_eq!(by_name(&spans, "step").len(), 24);
    // Nothing leaked: this thread has no current span after the runtime returns.
    assert!(!tracewell::current().is_valid());
}

#[test]
fn a_panic_is_recorded_and_unwinds_unchanged() {
    mem();
    let root = tracewell::span("panic-root").start();
    let trace = root.context().trace_id;
    let caught = std::panic::catch_unwind(|| {
        let _s = tracewell::span("explodes").start();
        panic!("the disk is on fire");
    });
    drop(root);
    let payload = caught.expect_err("the panic propagates");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"the disk is on fire"));
    let spans = spans_of(trace);
    let s = by_name(&spans, "explodes")[0];
    assert_eq!(s.status.code, StatusCode::Error);
    assert_eq!(s.status.message.as_deref(), Some("the disk is on fire"));
    assert_eq!(by_name(&spans, "panic-root")[0].status.code, StatusCode::Unset);
}

#[test]
fn a_future_dropped_before_completion_is_cancelled() {
    mem();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let root = tracewell::span("cancel-root").start_detached();
    let trace = root.context().trace_id;
    rt.block_on(
        async {
            let slow = tokio::time::sleep(Duration::from_secs(60)).in_span("slow");
            let r = tokio::time::timeout(Duration::from_millis(20), slow).await;
            assert!(r.is_err(), "timed out");
        }
        .instrument(root),
    );
    let spans = spans_of(trace);
    let slow = by_name(&spans, "slow")[0];
    assert_eq!(slow.status.code, StatusCode::Cancelled);
    assert!(slow.pending_polls >= 1);
    assert_eq!(by_name(&spans, "cancel-root")[0].status.code, StatusCode::Unset);
}

#[test]
fn a_remote_parent_decides_sampling_and_links_the_trace() {
    mem();
    let remote = tracewell::SpanContext::remote(tracewell::TraceId(0xabc), tracewell::SpanId(0xdef), true);
    {
        let _s = tracewell::span("from-remote").parent(remote.clone()).start();
        let _c = tracewell::span("under-remote").start();
    }
    let spans = spans_of(tracewell::TraceId(0xabc));
    let s = by_name(&spans, "from-remote")[0];
    assert_eq!(s.parent_span_id, tracewell::SpanId(0xdef));
    assert!(s.parent_is_remote);
    assert_eq!(by_name(&spans, "under-remote")[0].parent_span_id, s.span_id);

    let unsampled = tracewell::SpanContext::remote(tracewell::TraceId(0xabd), tracewell::SpanId(0xdef), false);
    {
        let s = tracewell::span("not-recorded").parent(unsampled).start();
        assert!(!s.is_recording());
        assert_eq!(s.context().trace_id, tracewell::TraceId(0xabd), "trace id carried on");
        let c = tracewell::span("child-not-recorded").start();
        assert!(!c.is_recording());
    }
    assert!(spans_of(tracewell::TraceId(0xabd)).is_empty());
}

#[test]
fn secrets_are_scrubbed_and_long_text_truncated() {
    mem();
    let root = tracewell::span("scrub-root").start();
    let trace = root.context().trace_id;
    {
        let mut s = tracewell::span("login").start();
        s.set_input("password", "hunter2");
        s.set_input("user", "x".repeat(5000));
    }
    drop(root);
    let spans = spans_of(trace);
    let s = by_name(&spans, "login")[0];
    assert_eq!(s.input("password").and_then(|v| v.as_str()), Some("[scrubbed]"));
    let user = s.input("user").and_then(|v| v.as_str()).unwrap();
    assert!(user.ends_with(tracewell::capture::TRUNCATION_MARKER));
    assert_eq!(user.chars().count(), 1000 + tracewell::capture::TRUNCATION_MARKER.chars().count());
}
