//! Failover and configuration from the environment: a `Fallback` file receives what Redis or
//! OTLP could not deliver; `OTEL_TRACES_EXPORTER=file,redis,otlp,zipkin` fans out to real
//! servers; bad values name their variable.

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use redis::Commands;
use tracewell::SpanData;
use tracewell::export::{Fallback, FileExporter, OtlpGrpcExporter, RedisExporter};
use tracewell_tests::receiver::Receiver;
use tracewell_tests::{RedisServer, free_port, temp_path};

static PIPELINE: Mutex<()> = Mutex::new(());

fn seqs_in(path: &std::path::Path) -> HashSet<u64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| match SpanData::from_json_line(l).unwrap().span.attribute("seq") {
            Some(tracewell::Value::U64(n)) => *n,
            other => panic!("seq missing: {other:?}"),
        })
        .collect()
}

fn produce(n: u64) {
    for seq in 0..n {
        let mut s = tracewell::span("work").start();
        s.set_attribute("seq", seq);
    }
}

#[test]
fn redis_down_spans_spill_to_the_fallback_file() {
    let _one = PIPELINE.lock().unwrap_or_else(|e| e.into_inner());
    let path = temp_path("fallback-redis.ndjson");
    let dead = format!("redis://127.0.0.1:{}", free_port());
    let redis = RedisExporter::new(&dead).unwrap().buffer_capacity(500).timeout(Duration::from_millis(200));
    let guard = tracewell::builder()
        .max_export_batch_size(100)
        .scheduled_delay(Duration::from_millis(5))
        .exporter(Fallback::new(redis, FileExporter::new(&path)))
        .install()
        .unwrap();
    produce(5000);
    tracewell::flush();
    let h = tracewell::health().into_iter().find(|h| h.target == dead).unwrap();
    assert!(!h.connected && h.last_error.is_some(), "{h:?}");
    // Whole batches are buffered, never more than the 500 spans allowed; the rest was evicted.
    assert!(h.spans_buffered > 0 && h.spans_buffered <= 500, "{h:?}");
    assert_eq!(h.spans_buffered + h.spans_dropped, 5000, "{h:?}");
    // What Redis gave up on is in the file (exported); what it still buffers is held, not lost.
    let stats = tracewell::stats();
    assert_eq!(
        (stats.exported, stats.held, stats.dropped_export_failed),
        (h.spans_dropped, h.spans_buffered, 0),
        "{stats:?}"
    );
    // Shutdown hands what is still buffered to the file too: nothing is lost.
    drop(guard);
    let seqs = seqs_in(&path);
    let _ = std::fs::remove_file(&path);
    assert_eq!(seqs.len(), 5000);
}

#[test]
fn otlp_failures_go_to_the_fallback_file() {
    let _one = PIPELINE.lock().unwrap_or_else(|e| e.into_inner());
    let path = temp_path("fallback-otlp.ndjson");
    let dead = format!("http://127.0.0.1:{}", free_port());
    let otlp = OtlpGrpcExporter::new(&dead).unwrap().timeout(Duration::from_millis(300));
    let guard = tracewell::builder()
        .scheduled_delay(Duration::from_millis(5))
        .exporter(Fallback::new(otlp, FileExporter::new(&path)))
        .install()
        .unwrap();
    produce(2000);
    assert!(tracewell::flush());
    let stats = tracewell::stats();
    assert_eq!(stats.exported, 2000, "the fallback delivered them: {stats:?}");
    let otlp = tracewell::health().into_iter().find(|h| h.target == dead).unwrap();
    assert_eq!(otlp.spans_delivered, 0);
    assert_eq!(otlp.spans_dropped, 2000);
    drop(guard);
    assert_eq!(seqs_in(&path).len(), 2000);
    let _ = std::fs::remove_file(&path);
}

const CHILD_ENV: &str = "TRACEWELL_TEST_ENV_CHILD";

/// Runs only in a child process: `tracewell::init()` from the environment the parent set.
#[test]
fn env_child() {
    if std::env::var(CHILD_ENV).is_err() {
        return;
    }
    let (config, errors) = tracewell::Config::from_env();
    assert!(errors.is_empty(), "{errors:?}");
    if let Err(e) = config.build_exporters(&tracewell::export::MemoryExporter::new(1)) {
        println!("CONFIG ERROR: {e}");
        return;
    }
    let guard = tracewell::init();
    produce(100);
    assert!(tracewell::flush());
    let names: Vec<&str> = tracewell::health().iter().map(|h| h.name).collect();
    println!("HEALTH {names:?}");
    drop(guard);
}

fn run_child(env: &[(&str, String)]) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "env_child", "--nocapture", "--test-threads=1"]).env(CHILD_ENV, "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    text
}

#[test]
fn otel_traces_exporter_fans_out_to_every_backend() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let redis = RedisServer::start();
    let grpc = Receiver::grpc();
    let http = Receiver::http();
    let path = temp_path("env.ndjson");
    let out = run_child(&[
        ("OTEL_TRACES_EXPORTER", "file,redis,otlp,zipkin".into()),
        ("OTEL_SERVICE_NAME", "fan".into()),
        ("TRACEWELL_FILE_PATH", path.display().to_string()),
        ("TRACEWELL_REDIS_URL", redis.url()),
        ("TRACEWELL_REDIS_KEY", "env:spans".into()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".into()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", grpc.endpoint()),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip".into()),
        ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test".into()),
        ("OTEL_EXPORTER_ZIPKIN_ENDPOINT", format!("{}/api/v2/spans", http.endpoint())),
    ]);
    assert!(out.contains(r#"HEALTH ["file", "redis", "otlp-grpc", "zipkin"]"#), "{out}");
    assert_eq!(seqs_in(&path).len(), 100);
    let _ = std::fs::remove_file(&path);
    assert_eq!(redis.conn().llen::<_, u64>("env:spans").unwrap(), 100);
    let spans = grpc.spans();
    assert_eq!(spans.len(), 100);
    assert_eq!(spans[0].resource_str("service.name").as_deref(), Some("fan"));
    assert_eq!(spans[0].resource_str("deployment.environment").as_deref(), Some("test"));
    assert!(grpc.gzip_requests() > 0);
    assert_eq!(http.zipkin_spans().len(), 100);
}

#[test]
fn bad_exporter_settings_name_their_variable() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    for (var, value) in [
        ("TRACEWELL_REDIS_URL", "http://:hunter2@x"),
        ("TRACEWELL_FILE_MAX_BYTES", "big"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
        ("OTEL_EXPORTER_ZIPKIN_ENDPOINT", "zipkin"),
    ] {
        let out = run_child(&[("OTEL_TRACES_EXPORTER", "file,redis,otlp,zipkin".into()), (var, value.into())]);
        assert!(out.contains(&format!("CONFIG ERROR: {var}=")), "{var}: {out}");
        assert!(!out.contains("hunter2"), "{out}");
    }
}
