//! The stability report of a small monitored service: `cargo run --example report [OUT.html]`.
//!
//! A request handler looks users up through a cache (two branches of one function, scored per
//! branch), parses input that fails in a burst, and builds pages whose allocations are recorded.
//! The tokio runtime is monitored for scheduling lag. At the end the text report is printed and
//! the HTML report written (to `tracewell-report.html` unless a path is given).

use std::time::Duration;

use tracewell::alloc::{AllocScope, record_alloc, record_dealloc};
use tracewell::{monitor, traced};

/// The fast path: a hit costs a few microseconds.
#[monitor(name = "get_user", branch = "cache_hit")]
fn from_cache(id: u64) -> u64 {
    std::hint::black_box(id.wrapping_mul(31))
}

/// The slow path: a miss waits for the "database", sometimes much longer.
#[monitor(name = "get_user", branch = "cache_miss")]
async fn from_db(id: u64) -> u64 {
    let wait = if id.is_multiple_of(17) { 8 } else { 1 + id % 3 };
    tokio::time::sleep(Duration::from_millis(wait)).await;
    id * 2
}

/// Fails for a burst of requests in the middle of the run.
#[traced]
fn parse_query(id: u64) -> Result<u64, String> {
    if (60..75).contains(&id) { Err(format!("bad query for user {id}")) } else { Ok(id) }
}

/// Builds a page; the allocation it makes is recorded on its span. A tracking global allocator
/// (see `tracewell::alloc`) reports every allocation this way; here the page buffer is reported
/// by hand.
fn build_page(id: u64) -> usize {
    let mut span = tracewell::span("build_page").start_detached();
    let scope = AllocScope::begin();
    let len = 512 + (id as usize % 4) * 256;
    let page = vec![b'x'; len];
    record_alloc(len);
    let n = std::hint::black_box(page).len();
    record_dealloc(len);
    scope.finish(&mut span);
    n
}

#[traced]
async fn handle(id: u64) -> Result<usize, String> {
    let id = parse_query(id)?;
    let user = if id.is_multiple_of(3) { from_db(id).await } else { from_cache(id) };
    Ok(build_page(user))
}

fn main() {
    let out = std::env::args().nth(1).unwrap_or_else(|| "tracewell-report.html".to_owned());
    let _tracing = tracewell::builder().service_name("report-example").install().expect("tracewell installs");
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a tokio runtime");
    rt.block_on(async {
        let monitor = tracewell::monitor_runtime_every(Duration::from_millis(5));
        let mut tasks = Vec::new();
        for id in 0..150u64 {
            tasks.push(tokio::spawn(handle(id)));
            if id.is_multiple_of(10) {
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        }
        for t in tasks {
            let _ = t.await;
        }
        monitor.stop();
    });
    let report = tracewell::score::report(&tracewell::collected());
    println!("{report}");
    match std::fs::write(&out, report.to_html()) {
        Ok(()) => println!("HTML report written to {out}"),
        Err(e) => eprintln!("could not write {out}: {e}"),
    }
}
