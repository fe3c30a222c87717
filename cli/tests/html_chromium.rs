//! The HTML report opened in headless Chromium (Debian `chromium`, installed by `scripts/test`):
//! it loads from a file with no network, logs no console error, and shows the expected rows.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tracewell::{SpanData, SpanId, StatusCode, TraceId};

const BIN: &str = env!("CARGO_BIN_EXE_tracewell");
const CHROMIUM: &str = "/usr/bin/chromium";

fn run_bounded(cmd: &mut Command, what: &str) -> Output {
    let mut child =
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap_or_else(|e| {
            panic!("cannot start {what}: {e} (scripts/test installs it: apt-get install chromium)")
        });
    // Drain the pipes on threads so a chatty child never blocks on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out, &mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err, &mut v);
        v
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish in 90 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output { status, stdout: out_t.join().unwrap(), stderr: err_t.join().unwrap() }
}

fn chromium(profile: &Path, extra: &[&str], page: &Path) -> Output {
    let url = format!("file://{}", page.display());
    let mut cmd = Command::new(CHROMIUM);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1280,1400",
    ]);
    cmd.arg(format!("--user-data-dir={}", profile.display()));
    cmd.args(extra).arg(url);
    run_bounded(&mut cmd, "chromium")
}

/// Two functions, one with branches and a burst of errors, in traces of a root and two children.
fn spans_file(dir: &Path) -> PathBuf {
    let mut out = Vec::new();
    for t in 0..100u64 {
        let trace = TraceId(u128::from(t) + 1);
        let base = 1_700_000_000_000_000_000 + t * 10_000_000;
        let root_id = SpanId(t * 10 + 1);
        let mut children = Vec::new();
        for (k, (name, branch)) in
            [("lookup", Some(if t % 4 == 0 { "miss" } else { "hit" })), ("render", None)].iter().enumerate()
        {
            let mut c = SpanData {
                name: (*name).into(),
                trace_id: trace,
                span_id: SpanId(t * 10 + 2 + k as u64),
                parent_span_id: root_id,
                start_time_unix_nano: base + 1_000 + k as u64 * 200_000,
                branch: branch.map(Into::into),
                ..SpanData::default()
            };
            let dur = if branch == &Some("miss") { 150_000 + t * 1_000 } else { 20_000 };
            c.end_time_unix_nano = c.start_time_unix_nano + dur;
            if *name == "render" && (50..60).contains(&t) {
                c.status.code = StatusCode::Error;
            }
            children.push(c);
        }
        let root = SpanData {
            name: "request".into(),
            trace_id: trace,
            span_id: root_id,
            start_time_unix_nano: base,
            end_time_unix_nano: base + 400_000 + t * 500,
            ..SpanData::default()
        };
        for c in &children {
            c.write_json_line("svc", &mut out);
        }
        root.write_json_line("svc", &mut out);
    }
    let path = dir.join("spans.ndjson");
    std::fs::write(&path, out).unwrap();
    path
}

#[test]
fn html_report_renders_in_chromium_without_errors() {
    let dir = std::env::temp_dir().join(format!("tracewell-html-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let spans = spans_file(&dir);
    let page = dir.join("report.html");
    let o = run_bounded(
        Command::new(BIN).args(["report", spans.to_str().unwrap(), "--format", "html", "-o", page.to_str().unwrap()]),
        "tracewell",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let o = chromium(&dir.join("profile-dom"), &["--dump-dom"], &page);
    assert!(o.status.success(), "chromium failed: {}", String::from_utf8_lossy(&o.stderr));
    let dom = String::from_utf8_lossy(&o.stdout);
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(!log.contains("CONSOLE") && !log.contains("Uncaught"), "console messages:\n{log}");
    assert!(!log.contains("ERR_") || !log.contains("report.html"), "load error:\n{log}");
    // The rows a user expects: three functions, two branches of `lookup`, worst first.
    assert_eq!(dom.matches("<tr class=\"fn\"").count(), 3, "{dom}");
    assert_eq!(dom.matches("<tr class=\"branch\"").count(), 2, "{dom}");
    for name in ["request", "lookup", "render"] {
        assert!(dom.contains(&format!("data-name=\"{name}\"")), "{name} missing");
    }
    let first_fn = dom.find("<tr class=\"fn\"").unwrap();
    let scores: Vec<f64> = dom[first_fn..]
        .split("<tr class=\"fn\" data-name=\"")
        .skip(1)
        .map(|r| r.split("data-score=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] <= w[1]), "worst first: {scores:?}");
    assert_eq!(dom.matches("class=\"hist\"").count(), 3);
    assert_eq!(dom.matches("class=\"timeline\"").count(), 3);
    assert!(dom.matches("class=\"err\"").count() >= 1, "the error burst shows on the timeline");
    assert_eq!(dom.matches("class=\"waterfall\"").count(), 5);

    let shot = dir.join("report.png");
    let o = chromium(&dir.join("profile-shot"), &[&format!("--screenshot={}", shot.display())], &page);
    assert!(o.status.success(), "chromium failed: {}", String::from_utf8_lossy(&o.stderr));
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "a real screenshot ({} bytes)", png.len());
    let _ = std::fs::remove_dir_all(&dir);
}
