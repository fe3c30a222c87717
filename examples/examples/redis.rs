//! Spans to Redis: a list of NDJSON lines that any number of processes can push to and a
//! consumer can `LPOP`/`BLPOP` (or read as a stream with `TRACEWELL_REDIS_STREAM=on`).
//!
//! ```text
//! cargo run -p tracewell-examples --example redis                       # starts its own redis-server
//! TRACEWELL_REDIS_URL=redis://127.0.0.1:6379 cargo run -p tracewell-examples --example redis
//! ```

use std::time::Duration;

use tracewell::export::RedisExporter;

fn main() {
    // Use the server named in the environment, or start a throwaway one on a free port.
    let (url, _server) = match std::env::var("TRACEWELL_REDIS_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            let server = tracewell_tests::RedisServer::start();
            (server.url(), Some(server))
        }
    };
    let key = "tracewell:example";
    let guard = tracewell::builder()
        .service_name("redis-example")
        .scheduled_delay(Duration::from_millis(50))
        .exporter(RedisExporter::new(&url).expect("a redis:// URL").key(key).service_name("redis-example"))
        .install()
        .expect("tracewell installs");

    for order in 0..10u64 {
        let mut span = tracewell::span("checkout").kind(tracewell::SpanKind::Server).start();
        span.set_attribute("order", order);
        let _charge = tracewell::span("charge").kind(tracewell::SpanKind::Client).start();
    }
    tracewell::flush();

    for h in tracewell::health() {
        println!(
            "{} -> {}: connected={} delivered={} buffered={} dropped={}",
            h.name, h.target, h.connected, h.spans_delivered, h.spans_buffered, h.spans_dropped
        );
    }
    let client = redis::Client::open(url.as_str()).expect("valid URL");
    let mut conn = client.get_connection_with_timeout(Duration::from_secs(2)).expect("redis reachable");
    let first: Vec<String> = redis::cmd("LRANGE").arg(key).arg(0).arg(1).query(&mut conn).expect("LRANGE");
    let len: u64 = redis::cmd("LLEN").arg(key).query(&mut conn).expect("LLEN");
    println!("{len} spans in {key}; the first:");
    for line in first {
        println!("  {line}");
    }
    drop(guard);
}
