//! `tracewell report redis://HOST:PORT/KEY` against a real `redis-server` started by the test.

use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tracewell::{SpanData, SpanId, TraceId};

const BIN: &str = env!("CARGO_BIN_EXE_tracewell");

/// A redis-server on a free loopback port, killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start() -> Server {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (scripts/test installs it: apt-get install redis-server)");
        let server = Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut con) = server.client().get_connection()
                && redis::cmd("PING").query::<String>(&mut con).is_ok()
            {
                return server;
            }
            assert!(Instant::now() < deadline, "redis-server did not answer in 20 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn client(&self) -> redis::Client {
        redis::Client::open(format!("redis://127.0.0.1:{}", self.port)).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn line(name: &str, i: u64, dur: u64) -> Vec<u8> {
    let s = SpanData {
        name: name.to_owned().into(),
        trace_id: TraceId(u128::from(i) + 1),
        span_id: SpanId(i + 1),
        start_time_unix_nano: 1_700_000_000_000_000_000 + i * 1000,
        end_time_unix_nano: 1_700_000_000_000_000_000 + i * 1000 + dur,
        ..SpanData::default()
    };
    let mut out = Vec::new();
    s.write_json_line("svc", &mut out);
    out.pop(); // the exporter pushes lines without their newline
    out
}

fn run(args: &[&str]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
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

#[test]
fn reports_from_a_redis_list_and_a_stream_and_says_when_redis_is_down() {
    let server = Server::start();
    let mut con = server.client().get_connection().unwrap();
    // A list longer than one LRANGE chunk, with one bad entry.
    for chunk in 0..3u64 {
        let mut cmd = redis::cmd("RPUSH");
        cmd.arg("app:spans");
        for i in 0..5_000 {
            cmd.arg(line("listed", chunk * 5_000 + i, 1000));
        }
        cmd.query::<u64>(&mut con).unwrap();
    }
    redis::cmd("RPUSH").arg("app:spans").arg("{broken").query::<u64>(&mut con).unwrap();
    for i in 0..10 {
        redis::cmd("XADD")
            .arg("app:stream")
            .arg("*")
            .arg("span")
            .arg(line("streamed", i, 500))
            .query::<String>(&mut con)
            .unwrap();
    }

    let url = format!("redis://127.0.0.1:{}/app:spans", server.port);
    let o = run(&["report", &url, "--format", "json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["functions"][0]["name"], "listed");
    assert_eq!(json["functions"][0]["calls"], 15_000);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(":15001: ") && err.contains("skipped 1 bad line(s)"), "{err}");

    let url = format!("redis://127.0.0.1:{}/app:stream", server.port);
    let o = run(&["report", &url]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("10 spans, 1 functions"));
    let o = run(&["tail", &url, "--once"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.contains("streamed")).count(), 10);

    let down = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port(); // nothing listens after drop
    let o = run(&["report", &format!("redis://127.0.0.1:{down}/k")]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cannot reach Redis at redis://127.0.0.1:") && err.contains("redis-server running"), "{err}");
}
