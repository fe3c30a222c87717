//! The Redis exporter against a real `redis-server`: completeness under load from four threads,
//! and a server killed and restarted mid-run.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::Commands;
use tracewell::export::RedisExporter;
use tracewell::{SpanData, SpanKind, StatusCode, Value};
use tracewell_tests::{RedisServer, wait_until};

/// One pipeline per process at a time.
static PIPELINE: Mutex<()> = Mutex::new(());

fn lines(server: &RedisServer, key: &str) -> Vec<tracewell::span::ParsedSpan> {
    let raw: Vec<String> = server.conn().lrange(key, 0, -1).unwrap();
    raw.iter().map(|l| SpanData::from_json_line(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

#[test]
fn hundred_thousand_spans_from_four_threads_arrive_complete() {
    let _one = PIPELINE.lock().unwrap_or_else(|e| e.into_inner());
    let server = RedisServer::start();
    let key = "load:spans";
    let guard = tracewell::builder()
        .service_name("redis-load")
        .scheduled_delay(Duration::from_millis(5))
        .exporter(RedisExporter::new(&server.url()).unwrap().key(key).service_name("redis-load"))
        .install()
        .unwrap();
    const PER_THREAD: u64 = 25_000;
    std::thread::scope(|s| {
        for t in 0..4u64 {
            s.spawn(move || {
                for seq in 0..PER_THREAD {
                    let mut parent = tracewell::span("request").kind(SpanKind::Server).start();
                    parent.set_attribute("thread", t);
                    parent.set_attribute("seq", seq);
                    parent.set_tag("route", "/items");
                    let mut child = tracewell::span("query").kind(SpanKind::Client).start();
                    child.set_input("sql", "select 1");
                    child.set_output(-(seq as i64) - 1);
                    if seq % 10 == 0 {
                        child.set_error("row missing");
                    }
                }
            });
        }
    });
    assert!(tracewell::flush());
    let stats = tracewell::stats();
    assert_eq!(stats.submitted, 8 * PER_THREAD, "{stats:?}");
    assert_eq!(stats.exported, stats.submitted, "{stats:?}");
    let health = tracewell::health().into_iter().find(|h| h.name == "redis").unwrap();
    assert_eq!(health.spans_delivered, stats.exported);
    assert!(health.connected && health.last_error.is_none(), "{health:?}");

    let spans = lines(&server, key);
    assert_eq!(spans.len() as u64, 8 * PER_THREAD);
    let mut requests = std::collections::HashMap::new();
    let mut seen = HashSet::new();
    for p in &spans {
        assert_eq!(p.service_name, "redis-load");
        assert!(seen.insert(p.span.span_id), "span id twice");
        if p.span.name == "request" {
            assert_eq!(p.span.kind, SpanKind::Server);
            assert!(p.span.is_root());
            let (Some(Value::U64(t)), Some(Value::U64(seq))) = (p.span.attribute("thread"), p.span.attribute("seq"))
            else {
                panic!("attributes missing: {:?}", p.span.attributes)
            };
            assert_eq!(p.span.tag("route"), Some(&Value::from("/items")));
            requests.insert(p.span.span_id, (*t, *seq, p.span.trace_id));
        }
    }
    let keys: HashSet<(u64, u64)> = requests.values().map(|(t, s, _)| (*t, *s)).collect();
    assert_eq!(keys.len() as u64, 4 * PER_THREAD);
    for p in spans.iter().filter(|p| p.span.name == "query") {
        let (_, seq, trace) = requests[&p.span.parent_span_id];
        assert_eq!(p.span.trace_id, trace);
        assert_eq!(p.span.kind, SpanKind::Client);
        assert_eq!(p.span.input("sql"), Some(&Value::from("select 1")));
        assert_eq!(p.span.output, Some(Value::I64(-(seq as i64) - 1)));
        let failed = seq % 10 == 0;
        assert_eq!(p.span.status.code, if failed { StatusCode::Error } else { StatusCode::Unset });
        if failed {
            assert_eq!(p.span.status.message.as_deref(), Some("row missing"));
        }
        assert!(p.span.end_time_unix_nano >= p.span.start_time_unix_nano);
    }
    drop(guard);
}

fn produce(phase: &str, n: u64) -> Duration {
    let mut worst = Duration::ZERO;
    for seq in 0..n {
        let t = Instant::now();
        let mut s = tracewell::span("tick").start();
        s.set_attribute("phase", phase.to_owned());
        s.set_attribute("seq", seq);
        drop(s);
        worst = worst.max(t.elapsed());
    }
    worst
}

fn redis_health(url: &str) -> tracewell::export::ExporterHealth {
    tracewell::health().into_iter().find(|h| h.name == "redis" && h.target == url).unwrap()
}

#[test]
fn redis_killed_and_restarted_loses_nothing_and_never_blocks() {
    let _one = PIPELINE.lock().unwrap_or_else(|e| e.into_inner());
    let mut server = RedisServer::start();
    let key = "restart:spans";
    let url = server.url();
    let guard = tracewell::builder()
        .service_name("redis-restart")
        .scheduled_delay(Duration::from_millis(5))
        .export_timeout(Duration::from_secs(5))
        .exporter(RedisExporter::new(&url).unwrap().key(key).timeout(Duration::from_millis(300)))
        .install()
        .unwrap();

    produce("before", 1000);
    assert!(tracewell::flush());
    let before = redis_health(&url);
    assert_eq!(before.spans_delivered, 1000);
    assert_eq!(server.conn().llen::<_, u64>(key).unwrap(), 1000);

    server.kill();
    let worst_down = produce("down", 1000);
    tracewell::flush();
    let down = redis_health(&url);
    assert!(!down.connected, "{down:?}");
    assert!(down.last_error.is_some());
    assert_eq!(down.spans_buffered, 1000, "{down:?}");
    let held = tracewell::stats();
    assert_eq!((held.exported, held.held, held.in_flight), (1000, 1000, 1000), "buffered is not exported: {held:?}");
    // The application's calls never waited for Redis.
    assert!(worst_down < Duration::from_millis(50), "a span took {worst_down:?} while Redis was down");

    // Restarted empty (persistence is off): what was buffered arrives now.
    server.restart();
    produce("after", 1000);
    assert!(wait_until(Duration::from_secs(20), || {
        tracewell::flush();
        let h = redis_health(&url);
        h.connected && h.spans_buffered == 0
    }));
    let h = redis_health(&url);
    let stats = tracewell::stats();
    assert_eq!(stats.submitted, 3000, "{stats:?}");
    assert_eq!(
        (stats.exported, stats.held, stats.in_flight, stats.dropped_export_failed),
        (3000, 0, 0, 0),
        "{stats:?}"
    );
    assert_eq!(h.spans_delivered, 3000, "{h:?}");

    let spans = lines(&server, key);
    let mut phases = std::collections::HashMap::<String, HashSet<u64>>::new();
    for p in spans {
        let (Some(Value::Str(phase)), Some(Value::U64(seq))) = (p.span.attribute("phase"), p.span.attribute("seq"))
        else {
            panic!("{:?}", p.span.attributes)
        };
        phases.entry(phase.to_string()).or_default().insert(*seq);
    }
    assert_eq!(phases.get("down").map(HashSet::len), Some(1000), "spans made while Redis was down");
    assert_eq!(phases.get("after").map(HashSet::len), Some(1000));
    assert!(!phases.contains_key("before"), "the restarted server started empty");
    drop(guard);
}

fn spans(n: usize) -> Vec<SpanData> {
    (0..n)
        .map(|i| SpanData {
            name: format!("s{i}").into(),
            trace_id: tracewell::TraceId::random(),
            span_id: tracewell::SpanId::random(),
            ..Default::default()
        })
        .collect()
}

#[test]
fn list_cap_and_stream_mode_bound_redis_memory() {
    use tracewell::export::{Exporter, RedisMode};
    let server = RedisServer::start();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut capped = RedisExporter::new(&server.url()).unwrap().key("capped").mode(RedisMode::List { cap: Some(250) });
    let mut stream = RedisExporter::new(&server.url()).unwrap().key("stream").mode(RedisMode::Stream { max_len: 1000 });
    for _ in 0..10 {
        let batch = tracewell::Batch::from_spans(&spans(100));
        rt.block_on(capped.export(&batch)).unwrap();
        rt.block_on(stream.export(&batch)).unwrap();
    }
    rt.block_on(async {
        capped.flush().await.unwrap();
        stream.flush().await.unwrap();
    });
    let mut conn = server.conn();
    let kept = lines(&server, "capped");
    assert_eq!(kept.len(), 250);
    assert_eq!(kept.last().unwrap().span.name, "s99", "the newest spans are kept");
    let xlen: u64 = redis::cmd("XLEN").arg("stream").query(&mut conn).unwrap();
    assert_eq!(xlen, 1000);
    let first: redis::Value =
        redis::cmd("XRANGE").arg("stream").arg("-").arg("+").arg("COUNT").arg(1).query(&mut conn).unwrap();
    let text = format!("{first:?}");
    assert!(text.contains("span"), "{text}");
}
