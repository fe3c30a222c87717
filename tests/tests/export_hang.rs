//! A backend that accepts connections and never answers: the application's calls stay as fast
//! as with a backend that works, memory stays bounded, and every lost span is counted.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tracewell::export::{NullExporter, OtlpHttpExporter};

/// Accepts connections and holds them open without a byte of answer.
struct HungServer {
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HungServer {
    fn start() -> HungServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held: Vec<TcpStream> = Vec::new();
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(mut c) = conn {
                    // Read the request so the client's write completes, then never answer.
                    let _ = c.set_read_timeout(Some(Duration::from_millis(1)));
                    let _ = c.read(&mut [0u8; 1024]);
                    held.push(c);
                }
            }
        });
        HungServer { addr, stop, thread: Some(thread) }
    }
}

impl Drop for HungServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Median time of 1000 spans, over `chunks` chunks.
fn median_chunk(chunks: usize) -> Duration {
    let mut times = Vec::with_capacity(chunks);
    for c in 0..chunks {
        let t = Instant::now();
        for i in 0..1000u64 {
            let mut s = tracewell::span("call").start();
            s.set_attribute("i", i);
            s.set_attribute("chunk", c as u64);
        }
        times.push(t.elapsed());
    }
    times.sort_unstable();
    times[chunks / 2]
}

#[test]
fn hung_backend_neither_slows_the_application_nor_grows_memory() {
    let baseline = {
        let g =
            tracewell::builder().scheduled_delay(Duration::from_millis(5)).exporter(NullExporter).install().unwrap();
        median_chunk(50); // warm up
        let m = median_chunk(200);
        drop(g);
        m
    };

    let server = HungServer::start();
    let exporter = OtlpHttpExporter::new(&format!("http://{}/v1/traces", server.addr))
        .unwrap()
        .timeout(Duration::from_millis(200));
    let guard = tracewell::builder()
        .scheduled_delay(Duration::from_millis(5))
        .export_timeout(Duration::from_millis(300))
        .exporter(exporter)
        .install()
        .unwrap();
    median_chunk(50);
    let rss_before = rss_kib();
    let hung = median_chunk(500);
    let rss_after = rss_kib();
    tracewell::flush();
    let stats = tracewell::stats();
    let health = tracewell::health().into_iter().find(|h| h.name == "otlp-http").unwrap();
    drop(guard);
    drop(server);

    eprintln!(
        "median per 1000 spans: {baseline:?} working vs {hung:?} hung; RSS {rss_before} -> {rss_after} KiB; {stats:?}"
    );
    assert!(hung < baseline * 3 + Duration::from_micros(200), "{hung:?} vs {baseline:?}");
    assert!(rss_after < rss_before + 64 * 1024, "RSS grew from {rss_before} to {rss_after} KiB");
    assert!(stats.dropped_queue_full + stats.dropped_export_failed > 0, "{stats:?}");
    assert_eq!(
        stats.submitted,
        stats.exported + stats.dropped_queue_full + stats.dropped_export_failed + stats.in_flight
    );
    assert!(!health.connected && health.spans_dropped > 0, "{health:?}");
}
