//! Shared helpers of the integration tests: a real `redis-server` on a free loopback port (plain
//! or TLS), OTLP receivers (gRPC with tonic, HTTP with hyper, each also behind TLS) decoding the
//! `opentelemetry-proto` types, and condition waits with deadlines.

pub mod receiver;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tracewell::{SpanData, SpanId, SpanKind, TraceId, Value};

/// Waits until `cond` holds, checking every few milliseconds; `false` when `timeout` passed first.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// How an exporter's settlements read in an assertion: `delivered`, or `dropped <spans>` (the
/// spans given back with a dropped batch).
pub fn fates(settled: &[tracewell::export::Settled]) -> Vec<String> {
    settled
        .iter()
        .map(|s| match s {
            tracewell::export::Settled::Delivered => "delivered".to_owned(),
            tracewell::export::Settled::Dropped(batch) => format!("dropped {}", batch.len()),
        })
        .collect()
}

/// The memory exporter of this test binary's pipeline, installed on first use and kept for the
/// binary's life (tests in one binary run in parallel and share it: find spans by unique names
/// or trace ids).
pub fn memory() -> &'static tracewell::export::MemoryExporter {
    static MEM: std::sync::OnceLock<(tracewell::export::MemoryExporter, tracewell::Guard)> = std::sync::OnceLock::new();
    &MEM.get_or_init(|| {
        let mem = tracewell::export::MemoryExporter::new(100_000);
        let guard = tracewell::builder().exporter(mem.clone()).install().expect("install tracewell");
        (mem, guard)
    })
    .0
}

/// The exported spans that `keep` picks, waiting (with a deadline) until there are at least `n`;
/// the caller checks how many came.
pub fn exported_where(n: usize, keep: impl Fn(&tracewell::SpanData) -> bool) -> Vec<tracewell::SpanData> {
    let mem = memory();
    let mut found = Vec::new();
    wait_until(Duration::from_secs(10), || {
        tracewell::flush();
        found = mem.spans().into_iter().filter(|s| keep(s)).collect();
        found.len() >= n
    });
    found
}

/// The spans named `name`, waiting (with a deadline) until at least `n` have been exported.
pub fn spans(name: &str, n: usize) -> Vec<tracewell::SpanData> {
    let found = exported_where(n, |s| s.name == name);
    assert!(found.len() >= n, "expected {n} spans named {name}, found {}", found.len());
    found
}

/// The latest span named `name`.
pub fn span(name: &str) -> tracewell::SpanData {
    spans(name, 1).pop().expect("at least one span")
}

/// `n` spans of one trace shaped like what `#[traced]` records, as the export benchmarks send
/// them: two inputs, a structured output, a tag, a branch, a parent.
pub fn bench_batch(n: usize) -> Vec<SpanData> {
    let trace = TraceId::random();
    let root = SpanId::random();
    (0..n as u64)
        .map(|i| {
            let mut s = SpanData {
                trace_id: trace,
                span_id: SpanId::random(),
                parent_span_id: root,
                name: "load_order".into(),
                target: "shop::orders".into(),
                kind: SpanKind::Internal,
                start_time_unix_nano: 1_763_770_000_000_000_000 + i * 1000,
                end_time_unix_nano: 1_763_770_000_000_000_000 + i * 1000 + 850,
                output: Some(Value::Map(vec![
                    ("id".into(), Value::U64(i)),
                    ("items".into(), Value::List(vec![Value::from("book"), Value::from("pen")])),
                ])),
                branch: Some("cache_hit".into()),
                thread_id: 3,
                trace_flags: 1,
                ..SpanData::default()
            };
            s.inputs.push(("id".into(), Value::U64(i)));
            s.inputs.push(("customer".into(), Value::from("c-000042")));
            s.tags.push(("region".into(), Value::from("eu-west")));
            s
        })
        .collect()
}

/// Installs a pipeline exporting through `exporter` in batches of `batch` spans, makes `n` spans,
/// flushes, and checks that every one was exported and none is held or in flight. Returns the
/// guard, so the caller decides when the pipeline stops.
pub fn export_all(exporter: impl tracewell::export::Exporter, batch: usize, n: u64) -> tracewell::Guard {
    let guard = tracewell::builder()
        .max_export_batch_size(batch)
        .scheduled_delay(Duration::from_millis(5))
        .exporter(exporter)
        .install()
        .expect("pipeline");
    for _ in 0..n {
        tracewell::in_span("job", || ());
    }
    assert!(tracewell::flush(), "the worker confirmed the flush");
    let stats = tracewell::stats();
    assert_eq!((stats.exported, stats.held, stats.in_flight), (n, 0, 0), "{stats:?}");
    guard
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("bind 127.0.0.1:0")
}

/// A unique path in the temp directory (not created).
pub fn temp_path(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("tracewell-test-{}-{n}-{name}", std::process::id()))
}

/// What a TLS server in the tests is started with, all PEM text (the tests make it with `rcgen`).
#[derive(Clone, Debug)]
pub struct ServerTls {
    /// The CA that signed `cert_pem`; client certificates must chain to it too.
    pub ca_pem: String,
    /// The server's certificate (for `localhost` and `127.0.0.1`).
    pub cert_pem: String,
    /// The server certificate's private key.
    pub key_pem: String,
    /// When set, the server requires a client certificate signed by `ca_pem`, and the fixture's
    /// own connections (a Redis `PING`, assertions) present this one: `(cert, key)`.
    pub client_auth: Option<(String, String)>,
}

/// The PEM files a TLS `redis-server` reads, removed when dropped.
#[derive(Debug)]
struct RedisTls {
    pem: ServerTls,
    files: [PathBuf; 3],
}

impl Drop for RedisTls {
    fn drop(&mut self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// A `redis-server` on a free loopback port with persistence off; killed when dropped.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    tls: Option<RedisTls>,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers `PING`.
    ///
    /// # Panics
    ///
    /// When `redis-server` is missing (`scripts/test` installs it) or does not answer in 10 s.
    pub fn start() -> RedisServer {
        let mut s = RedisServer { port: free_port(), child: None, tls: None };
        s.restart();
        s
    }

    /// Starts a server that speaks only TLS (`--port 0 --tls-port <free>`) with `tls`'s
    /// certificate, checking client certificates when `tls.client_auth` is set; waits until it
    /// answers `PING` over TLS.
    ///
    /// # Panics
    ///
    /// When `redis-server` is missing or built without TLS, or does not answer in 10 s.
    pub fn start_tls(tls: &ServerTls) -> RedisServer {
        let files = [temp_path("redis-ca.pem"), temp_path("redis-cert.pem"), temp_path("redis-key.pem")];
        for (path, pem) in files.iter().zip([&tls.ca_pem, &tls.cert_pem, &tls.key_pem]) {
            std::fs::write(path, pem).expect("write a PEM file for redis-server");
        }
        let tls = RedisTls { pem: tls.clone(), files };
        let mut s = RedisServer { port: free_port(), child: None, tls: Some(tls) };
        s.restart();
        s
    }

    /// The port it listens on (kept across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`, or `rediss://` for a TLS server.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// A client for this server: over TLS trusting the server's CA (and presenting the client
    /// certificate when the server asks for one).
    fn client(&self) -> redis::RedisResult<redis::Client> {
        match &self.tls {
            None => redis::Client::open(self.url()),
            Some(t) => redis::Client::build_with_tls(
                self.url(),
                redis::TlsCertificates {
                    root_cert: Some(t.pem.ca_pem.clone().into_bytes()),
                    client_tls: t.pem.client_auth.as_ref().map(|(c, k)| redis::ClientTlsConfig {
                        client_cert: c.clone().into_bytes(),
                        client_key: k.clone().into_bytes(),
                    }),
                },
            ),
        }
    }

    /// Kills the server (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same port (after [`RedisServer::kill`]); waits for `PING`.
    pub fn restart(&mut self) {
        self.kill();
        let mut cmd = Command::new("redis-server");
        cmd.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
        match &self.tls {
            None => cmd.args(["--port", &self.port.to_string()]),
            Some(t) => {
                let [ca, cert, key] = &t.files;
                cmd.args(["--port", "0", "--tls-port", &self.port.to_string()])
                    .arg("--tls-cert-file")
                    .arg(cert)
                    .arg("--tls-key-file")
                    .arg(key)
                    .arg("--tls-ca-cert-file")
                    .arg(ca)
                    .args(["--tls-auth-clients", if t.pem.client_auth.is_some() { "yes" } else { "no" }])
            }
        };
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/test installs it)");
        self.child = Some(child);
        let ok = wait_until(Duration::from_secs(10), || self.ping());
        assert!(ok, "redis-server on port {} did not answer PING within 10 s", self.port);
    }

    /// Whether the server answers `PING` now.
    pub fn ping(&self) -> bool {
        let Ok(client) = self.client() else { return false };
        let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_millis(200)) else { return false };
        redis::cmd("PING").query::<String>(&mut conn).map(|p| p == "PONG").unwrap_or(false)
    }

    /// A blocking connection for assertions.
    ///
    /// # Panics
    ///
    /// When the server is not reachable.
    pub fn conn(&self) -> redis::Connection {
        self.client()
            .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
            .expect("connect to the test redis-server")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
