//! The `tracewell` binary run as a user runs it, on NDJSON files written by `SpanData::write_json_line`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tracewell::{SpanData, SpanId, StatusCode, TraceId};

const BIN: &str = env!("CARGO_BIN_EXE_tracewell");

fn tmp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tracewell-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn span(name: &str, i: u64, dur: u64, branch: Option<&str>, error: bool) -> SpanData {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let mut s = SpanData {
        name: name.to_owned().into(),
        trace_id: TraceId(u128::from(i) + 1),
        span_id: SpanId(i + 1),
        start_time_unix_nano: now - 60_000_000_000 + i * 1_000_000,
        ..SpanData::default()
    };
    s.end_time_unix_nano = s.start_time_unix_nano + dur;
    s.branch = branch.map(|b| b.to_owned().into());
    if error {
        s.status.code = StatusCode::Error;
        s.status.message = Some("boom".into());
    }
    s
}

/// `steady`: constant 10 µs, no errors. `flaky`: two branches, variable latency, a burst of errors.
fn sample_lines() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..200 {
        span("steady", i, 10_000, None, false).write_json_line("svc", &mut out);
        let branch = if i % 2 == 0 { "hit" } else { "miss" };
        let dur = if i % 2 == 0 { 5_000 } else { 50_000 + (i % 13) * 40_000 };
        span("flaky", 1000 + i, dur, Some(branch), (40..70).contains(&i)).write_json_line("svc", &mut out);
    }
    out
}

fn write_sample(dir: &Path) -> PathBuf {
    let path = dir.join("spans.ndjson");
    std::fs::write(&path, sample_lines()).unwrap();
    path
}

fn run(args: &[&str]) -> Output {
    run_with_stdin(args, None)
}

/// Runs the binary with a deadline: a hung process is killed and fails the test.
fn run_with_stdin(args: &[&str], stdin: Option<Vec<u8>>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(data) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        });
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("tracewell {args:?} did not finish in 60 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn report_prints_a_table_worst_first_with_branches_indented() {
    let dir = tmp_dir("text");
    let file = write_sample(&dir);
    let o = run(&["report", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("score") && lines[0].contains("TS") && lines[0].contains("CC"), "{text}");
    assert!(lines[1].contains("flaky"), "worst first:\n{text}");
    assert!(lines[2].contains("└─ ") && lines[3].contains("└─ "), "branches under their function:\n{text}");
    assert!(lines[4].contains("steady") && lines[4].trim_start().starts_with("100.0"), "{text}");
    assert!(text.contains("400 spans, 2 functions"), "{text}");
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}

#[test]
fn report_reads_standard_input_and_writes_json_and_html_files() {
    let dir = tmp_dir("formats");
    let o = run_with_stdin(&["report", "-", "--format", "json"], Some(sample_lines()));
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(json["spans"], 400);
    assert_eq!(json["functions"][0]["name"], "flaky");
    assert_eq!(json["functions"][0]["errors"], 30);
    assert_eq!(json["functions"][0]["longest_error_run"], 30);
    assert!(json["functions"][1]["scores"]["ms"].is_null(), "memory not measured, not invented");

    let file = write_sample(&dir);
    let html = dir.join("report.html");
    let o = run(&["report", file.to_str().unwrap(), "--format", "html", "--output", html.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("data-name=\"flaky\"") && page.contains("<svg"));
}

#[test]
fn bad_lines_are_reported_with_their_number_and_the_rest_is_still_scored() {
    let dir = tmp_dir("bad");
    let mut data = Vec::new();
    span("ok", 0, 1000, None, false).write_json_line("svc", &mut data);
    data.extend_from_slice(b"this is not json\n");
    let mut wrong_type = Vec::new();
    span("ok", 1, 1000, None, false).write_json_line("svc", &mut wrong_type);
    let wrong_type = String::from_utf8(wrong_type)
        .unwrap()
        .replace("\"end_time_unix_nano\":", "\"end_time_unix_nano\":\"late\",\"x\":");
    data.extend_from_slice(wrong_type.as_bytes());
    span("ok", 2, 1000, None, false).write_json_line("svc", &mut data);
    let mut last = Vec::new();
    span("ok", 3, 1000, None, false).write_json_line("svc", &mut last);
    data.extend_from_slice(&last[..last.len() / 2]); // truncated file
    let file = dir.join("bad.ndjson");
    std::fs::write(&file, &data).unwrap();

    let o = run(&["report", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("bad.ndjson:2: invalid span line"), "{err}");
    assert!(err.contains("bad.ndjson:3:") && err.contains("invalid type"), "{err}");
    assert!(err.contains("bad.ndjson:5:") && err.contains("truncated"), "{err}");
    assert!(err.contains("skipped 3 bad line(s) of 5"), "{err}");
    assert!(stdout(&o).contains("2 spans, 1 functions"), "{}", stdout(&o));

    let o = run(&["report", file.to_str().unwrap(), "--strict"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).is_empty());
    assert!(stderr(&o).contains("bad.ndjson:2:") && stderr(&o).contains("--strict"), "{}", stderr(&o));

    let o = run(&["report", dir.join("missing.ndjson").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot open") && stderr(&o).contains("missing.ndjson"), "{}", stderr(&o));
}

#[test]
fn check_fails_below_the_minimum_score() {
    let dir = tmp_dir("check");
    let file = write_sample(&dir);
    let f = file.to_str().unwrap();
    let o = run(&["check", f, "--min-score", "90"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("FAIL flaky"), "{}", stdout(&o));
    assert!(!stdout(&o).contains("FAIL steady"), "{}", stdout(&o));
    let o = run(&["check", f, "--min-score", "90", "--filter", "steady"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let o = run(&["check", f, "--min-score", "0"]);
    assert_eq!(o.status.code(), Some(0));
    let o = run(&["check", f, "--min-score", "101"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not a score"), "{}", stderr(&o));
}

#[test]
fn filter_and_since_select_spans() {
    let dir = tmp_dir("select");
    let file = write_sample(&dir);
    let f = file.to_str().unwrap();
    let o = run(&["report", f, "--filter", "fla", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(json["functions"].as_array().unwrap().len(), 1);
    assert_eq!(json["functions"][0]["name"], "flaky");
    // The sample was recorded about a minute ago: 10 s back excludes all of it, 1 h back none.
    let o = run(&["report", f, "--since", "10s", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(json["functions"].as_array().unwrap().len(), 0);
    let o = run(&["report", f, "--since", "1h", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(json["functions"].as_array().unwrap().len(), 2);
    let o = run(&["report", f, "--since", "yesterday"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not a time"), "{}", stderr(&o));
}

#[test]
fn tail_once_prints_every_span() {
    let dir = tmp_dir("tail-once");
    let file = write_sample(&dir);
    let o = run(&["tail", file.to_str().unwrap(), "--once", "--filter", "steady"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 200);
    assert!(out.lines().all(|l| l.contains("steady") && l.contains("10.0µs")), "{out}");
}

#[test]
fn tail_follows_lines_appended_to_the_file() {
    let dir = tmp_dir("tail-follow");
    let path = dir.join("live.ndjson");
    let mut first = Vec::new();
    span("first", 0, 1000, None, false).write_json_line("svc", &mut first);
    std::fs::write(&path, &first).unwrap();
    let mut child = Command::new(BIN)
        .args(["tail", path.to_str().unwrap(), "--timeout", "20"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let first_line = rx.recv_timeout(Duration::from_secs(15)).expect("the existing span is printed");
    assert!(first_line.contains("first"), "{first_line}");
    // Append a span in two writes: half a line must wait for the rest.
    let mut next = Vec::new();
    span("appended", 1, 2000, Some("b"), true).write_json_line("svc", &mut next);
    let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(&next[..10]).unwrap();
    f.flush().unwrap();
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err(), "half a line is not printed");
    f.write_all(&next[10..]).unwrap();
    f.flush().unwrap();
    let line = rx.recv_timeout(Duration::from_secs(15)).expect("the appended span is printed");
    assert!(line.contains("appended [b]") && line.contains("error"), "{line}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn line_numbers_and_strict_stop_hold_across_read_chunks() {
    // About 4 MB: several 1 MB chunks decoded in parallel, scored in order.
    let dir = tmp_dir("chunks");
    let mut data = Vec::new();
    for i in 0..12_000u64 {
        if i == 9_000 {
            data.extend_from_slice(b"{\"half\": \n");
            continue;
        }
        span(if i % 2 == 0 { "even" } else { "odd" }, i, 1000 + i, None, false).write_json_line("svc", &mut data);
    }
    assert!(data.len() > 3 << 20, "{} bytes", data.len());
    let file = dir.join("big.ndjson");
    std::fs::write(&file, &data).unwrap();
    let o = run(&["report", file.to_str().unwrap(), "--format", "json"]);
    assert!(o.status.success());
    assert!(stderr(&o).contains("big.ndjson:9001: "), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(json["spans"], 11_999);
    let o = run(&["report", file.to_str().unwrap(), "--strict"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("big.ndjson:9001: ") && stdout(&o).is_empty(), "{}", stderr(&o));
}
