//! The NDJSON file exporter against the real file system: several processes appending to one
//! file, a named pipe, and `OTEL_TRACES_EXPORTER=file` from the environment.

use std::collections::HashSet;
use std::process::Command;
use std::time::{Duration, Instant};

use tracewell::SpanData;
use tracewell::export::{Exporter, FileExporter};
use tracewell_tests::temp_path;

const CHILD_ENV: &str = "TRACEWELL_TEST_FILE_CHILD";
const SPANS_PER_CHILD: u64 = 20_000;

/// Runs only inside a child process started by `four_processes_append_to_one_file`.
#[test]
fn child_writer() {
    let Ok(id) = std::env::var(CHILD_ENV) else { return };
    let path = std::env::var("TRACEWELL_FILE_PATH").unwrap();
    let guard = tracewell::builder()
        .service_name(format!("child-{id}"))
        .max_export_batch_size(97)
        .scheduled_delay(Duration::from_millis(1))
        .exporter(FileExporter::new(&path).service_name(format!("child-{id}")))
        .install()
        .unwrap();
    for seq in 0..SPANS_PER_CHILD {
        let mut s = tracewell::span("append").start();
        s.set_attribute("seq", seq);
        s.set_attribute("text", "x".repeat((seq % 300) as usize));
    }
    assert!(tracewell::flush());
    let stats = tracewell::stats();
    assert_eq!(stats.exported, SPANS_PER_CHILD, "{stats:?}");
    drop(guard);
}

#[test]
fn four_processes_append_to_one_file() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let path = temp_path("shared.ndjson");
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..4)
        .map(|id| {
            Command::new(&exe)
                .args(["--exact", "child_writer", "--nocapture", "--test-threads=1"])
                .env(CHILD_ENV, id.to_string())
                .env("TRACEWELL_FILE_PATH", &path)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    for mut c in children {
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                assert!(status.success(), "a child failed: {status}");
                break;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                panic!("child did not finish within 120 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let mut seen = HashSet::new();
    for line in text.lines() {
        let p = SpanData::from_json_line(line).unwrap_or_else(|e| panic!("torn line {line:?}: {e}"));
        let seq = p.span.attribute("seq").cloned();
        let tracewell::Value::U64(seq) = seq.unwrap() else { panic!("seq missing in {line}") };
        assert_eq!(p.span.name, "append");
        assert!(seen.insert((p.service_name.clone(), seq)), "duplicate {} {seq}", p.service_name);
    }
    assert_eq!(seen.len() as u64, 4 * SPANS_PER_CHILD);
    for id in 0..4 {
        for seq in 0..SPANS_PER_CHILD {
            assert!(seen.contains(&(format!("child-{id}"), seq)), "child-{id} span {seq} missing");
        }
    }
}

fn spans(n: usize) -> Vec<SpanData> {
    (0..n)
        .map(|i| SpanData {
            name: format!("pipe-{i}").into(),
            trace_id: tracewell::TraceId::random(),
            span_id: tracewell::SpanId::random(),
            ..Default::default()
        })
        .collect()
}

#[test]
fn writes_through_a_named_pipe() {
    let path = temp_path("fifo");
    let ok = Command::new("mkfifo").arg(&path).status().unwrap();
    assert!(ok.success());
    let reader_path = path.clone();
    let reader = std::thread::spawn(move || std::fs::read_to_string(reader_path).unwrap());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut e = FileExporter::new(&path).service_name("piped");
    let batch = tracewell::Batch::from_spans(&spans(500));
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), e.export(&batch)).await.unwrap().unwrap();
        e.shutdown().await.unwrap();
    });
    drop(e);
    let text = reader.join().unwrap();
    let _ = std::fs::remove_file(&path);
    let names: Vec<String> =
        text.lines().map(|l| SpanData::from_json_line(l).unwrap().span.name.into_owned()).collect();
    assert_eq!(names.len(), 500);
    assert_eq!(names[499], "pipe-499");
}
