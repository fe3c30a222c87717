//! `log` records as events of the span current where they are logged: `#[traced]` functions,
//! async ones polled on a real multi-thread tokio runtime, and bridged `tracing` spans. The
//! bridge's logger is this binary's one `log` logger, passing records on to a second logger.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use tracewell::{FutureExt as _, SpanData, StatusCode, Value, traced};
use tracewell_tests::{memory, wait_until};
use tracing_subscriber::layer::SubscriberExt as _;

/// Every record the bridge passed on, as `level message`.
static PASSED_ON: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Collect;

impl log::Log for Collect {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        PASSED_ON.lock().unwrap_or_else(|e| e.into_inner()).push(format!("{} {}", record.level(), record.args()));
    }
    fn flush(&self) {}
}

fn setup() {
    static ONCE: OnceLock<()> = OnceLock::new();
    memory();
    ONCE.get_or_init(|| {
        tracewell::bridge::log_logger().and_then(Collect).try_init().expect("no other logger in this binary");
        let subscriber = tracing_subscriber::registry().with(tracewell::bridge::tracing_layer());
        tracing::subscriber::set_global_default(subscriber).expect("no other subscriber in this binary");
    });
}

/// The exported spans named `name`, once there are `n` (10 s at most).
fn exported(name: &str, n: usize) -> Vec<SpanData> {
    let mut found = Vec::new();
    let ok = wait_until(Duration::from_secs(10), || {
        tracewell::flush();
        found = memory().spans().into_iter().filter(|s| s.name == name).collect();
        found.len() >= n
    });
    assert!(ok, "expected {n} spans named {name}, found {}", found.len());
    found
}

#[traced]
fn import(rows: u64) -> u64 {
    log::info!("imported {rows} rows");
    log::debug!("below the logger's level: not kept");
    rows
}

#[test]
fn a_record_is_an_event_of_the_traced_function_that_logged_it() {
    setup();
    import(3);
    let span = exported("import", 1).pop().unwrap();
    assert_eq!(span.events.len(), 1, "{:?}", span.events);
    let e = &span.events[0];
    assert_eq!(e.name, "imported 3 rows");
    assert!(e.attributes.contains(&("log.level".into(), Value::from("INFO"))));
    assert!(e.attributes.contains(&("code.namespace".into(), Value::from("bridge_log"))));
    assert!(e.attributes.iter().any(|(k, v)| k == "code.lineno" && matches!(v, Value::U64(_))));
    assert!(e.time_unix_nano >= span.start_time_unix_nano && e.time_unix_nano <= span.end_time_unix_nano);
    assert_eq!(span.status.code, StatusCode::Unset);
}

#[traced]
fn flush_disk() {
    log::error!("disk full");
}

#[test]
fn an_error_record_sets_the_status_unless_the_span_has_one() {
    setup();
    flush_disk();
    let span = exported("flush_disk", 1).pop().unwrap();
    assert_eq!(span.status.code, StatusCode::Error);
    assert_eq!(span.status.message.as_deref(), Some("disk full"));

    {
        let mut ok = tracewell::span("already_ok").start();
        ok.set_status(StatusCode::Ok, None);
        log::error!("recovered");
    }
    let span = exported("already_ok", 1).pop().unwrap();
    assert_eq!(span.status.code, StatusCode::Ok, "a status set before is kept");
    assert_eq!(span.events[0].name, "recovered");
}

#[traced]
async fn step(task: u64) {
    for i in 0..3u64 {
        log::info!("task {task} step {i}");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[test]
fn records_of_async_functions_stay_with_their_own_span_across_threads() {
    setup();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let root = tracewell::span("steps_root").start_detached();
    let trace = root.context().trace_id;
    rt.block_on(
        async {
            // A spawned task starts without a current span: `in_span` carries the trace over.
            let tasks: Vec<_> = (0..6u64).map(|t| tokio::spawn(step(t).in_span("step_task"))).collect();
            for t in tasks {
                tokio::time::timeout(Duration::from_secs(20), t).await.expect("task finished").unwrap();
            }
        }
        .instrument(root),
    );
    rt.shutdown_timeout(Duration::from_secs(5));
    let steps: Vec<_> = exported("step", 6).into_iter().filter(|s| s.trace_id == trace).collect();
    assert_eq!(steps.len(), 6);
    for s in &steps {
        let Some(Value::U64(task)) = s.input("task") else { panic!("{:?}", s.inputs) };
        let names: Vec<_> = s.events.iter().map(|e| e.name.to_string()).collect();
        let want: Vec<_> = (0..3).map(|i| format!("task {task} step {i}")).collect();
        assert_eq!(names, want, "each span has exactly its own records, in order");
    }
}

#[test]
fn a_record_inside_a_tracing_span_is_an_event_of_that_span() {
    setup();
    tracing::info_span!("tracing_scope", id = 9u64).in_scope(|| log::warn!("from log inside tracing"));
    let span = exported("tracing_scope", 1).pop().unwrap();
    assert_eq!(span.events.len(), 1);
    assert_eq!(span.events[0].name, "from log inside tracing");
    assert!(span.events[0].attributes.contains(&("log.level".into(), Value::from("WARN"))));
}

#[test]
fn records_outside_any_span_are_only_passed_on() {
    setup();
    assert!(!tracewell::current().is_valid());
    log::warn!("outside of every span");
    let passed = PASSED_ON.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert!(passed.iter().any(|r| r == "WARN outside of every span"), "{passed:?}");
    assert!(!passed.iter().any(|r| r.contains("below the logger's level")), "the maximum level applies to both");
}
