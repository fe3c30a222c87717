//! The first thing to run: an instrumented workload whose spans print to stdout as they are
//! exported, and a summary (pipeline counters and the stability report) at the end.
//!
//! `cargo run --example quickstart`

use std::time::Duration;

use tracewell::export::{MemoryExporter, StdoutExporter, StdoutFormat};
use tracewell::{FutureExt as _, monitor, traced};

#[derive(Debug, serde::Serialize)]
struct Order {
    id: u64,
    items: Vec<&'static str>,
}

#[derive(Debug, thiserror::Error)]
#[error("order {0} not found")]
struct NotFound(u64);

/// Inputs and output are captured; an `Err` marks the span failed with the error's message.
#[traced]
fn load_order(id: u64) -> Result<Order, NotFound> {
    if id % 4 == 3 {
        return Err(NotFound(id));
    }
    Ok(Order { id, items: vec!["book", "pen"] })
}

/// Two code paths of one function, each scored on its own.
#[monitor(branch = "cache_hit")]
fn price_from_cache(id: u64) -> u64 {
    id * 100
}

#[monitor(branch = "cache_miss")]
fn price_from_db(id: u64) -> u64 {
    std::thread::sleep(Duration::from_micros(200 + id * 10));
    id * 100
}

fn price(id: u64) -> u64 {
    if id.is_multiple_of(3) { price_from_db(id) } else { price_from_cache(id) }
}

/// Secret-looking arguments are scrubbed.
#[traced(kind = "client", label = "io")]
async fn charge(order_id: u64, amount: u64, api_key: &str) -> Result<String, String> {
    tokio::time::sleep(Duration::from_millis(1)).await; // yields: counted as pending polls
    let _ = api_key;
    if amount > 1000 { Err(format!("amount {amount} over limit")) } else { Ok(format!("receipt-{order_id}")) }
}

/// A stream span ends when the stream is exhausted; the last item is kept as the output.
#[traced(capture_last_item)]
fn order_lines(order: &Order) -> impl Iterator<Item = String> + '_ {
    order.items.iter().map(|item| format!("{}:{item}", order.id))
}

#[traced(name = "checkout", kind = "server")]
async fn checkout(id: u64) -> Result<String, String> {
    let order = load_order(id).map_err(|e| e.to_string())?;
    let lines: Vec<String> = order_lines(&order).collect();
    let amount = price(id) * lines.len() as u64;
    charge(id, amount, "sk_live_123").await
}

fn main() {
    let memory = MemoryExporter::new(10_000);
    let guard = tracewell::builder()
        .service_name("quickstart")
        .exporter(StdoutExporter::new(StdoutFormat::Pretty).with_service_name("quickstart"))
        .exporter(memory.clone())
        .scheduled_delay(Duration::from_millis(200))
        .install()
        .expect("tracewell configuration is valid");

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime");
    rt.block_on(
        async {
            let tasks: Vec<_> = (1..=12u64).map(|id| tokio::spawn(checkout(id))).collect();
            for t in tasks {
                let _ = t.await;
            }
        }
        .in_span("batch"),
    );

    // A manual span, the context-manager form.
    {
        let mut span = tracewell::span("reindex").branch("nightly").start();
        span.set_attribute("rows", 42u64);
        span.set_tag("env", "demo");
        span.add_event("validated", vec![("ok".into(), true.into())]);
    }

    tracewell::flush();
    let stats = tracewell::stats();
    let spans = memory.spans();
    println!();
    println!(
        "== {} spans: submitted {}, exported {}, dropped (queue full) {}, dropped (export failed) {}",
        spans.len(),
        stats.submitted,
        stats.exported,
        stats.dropped_queue_full,
        stats.dropped_export_failed
    );
    println!();
    println!("{}", tracewell::score::report(&spans));
    drop(guard);
}
