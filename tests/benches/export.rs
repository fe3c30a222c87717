//! Export throughput of the exporters that leave the process, each against a real destination
//! on this machine: the NDJSON file exporter (into a temporary file, rotated so the disk use stays
//! bounded) and the Redis exporter (a `redis-server` started on a loopback port, the list capped
//! with `LTRIM`). Each iteration hands one batch of 512 realistic spans to the exporter, as the
//! batch worker does; `ndjson_encode_only` is the encoding both of them share, without any I/O.
//!
//! Run: `cargo bench -p tracewell-tests --bench export`

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tracewell::Batch;
use tracewell::export::{Exporter, FileExporter, RedisExporter, RedisMode};
use tracewell_tests::{RedisServer, bench_batch, temp_path};

const BATCH: usize = 512;

fn run(exporter: &mut dyn Exporter, rt: &tokio::runtime::Runtime, batch: &Batch, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        rt.block_on(exporter.export(batch)).expect("export succeeds");
    }
    start.elapsed()
}

fn export(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let batch = Batch::from_spans(&bench_batch(BATCH));
    let mut g = c.benchmark_group("export_512_spans");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(5));

    let mut line = Vec::with_capacity(BATCH * 1024);
    g.bench_function("ndjson_encode_only", |b| {
        b.iter(|| {
            line.clear();
            for span in batch.iter() {
                span.write_json_line("bench", &mut line);
            }
            line.len()
        })
    });

    let path = temp_path("bench-export.ndjson");
    let mut file = FileExporter::new(&path).service_name("bench").max_bytes(256 << 20).max_files(1);
    g.bench_function("file", |b| b.iter_custom(|iters| run(&mut file, &rt, &batch, iters)));
    rt.block_on(file.shutdown()).ok();
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(path.with_extension("ndjson.1"));

    let redis = RedisServer::start();
    let mut exporter = RedisExporter::new(&redis.url())
        .expect("redis url")
        .key("bench:spans")
        .mode(RedisMode::List { cap: Some(100_000) })
        .service_name("bench");
    g.bench_function("redis_rpush", |b| b.iter_custom(|iters| run(&mut exporter, &rt, &batch, iters)));
    rt.block_on(exporter.shutdown()).ok();
    g.finish();
    drop(redis);
}

criterion_group!(benches, export);
criterion_main!(benches);
