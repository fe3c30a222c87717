//! One span per iterator or stream: `cargo run --example streams`.
//!
//! Each traced function below returns an iterator or a stream. Its span starts when the function
//! is called and ends when the iterator or stream is exhausted, or when the consumer drops it
//! early (status `cancelled`). The span records how many items were produced, the time to the
//! first item, the last item (`capture_last_item`) or the first few (`capture_items = N`), error
//! items as events, and for streams the polls and pending polls. Spans made while an item is
//! produced are children of the stream's span, on whichever thread polls it.

use std::time::Duration;

use futures::{Stream, StreamExt as _};
use tracewell::{SpanData, traced};

/// An iterator: exhausted by the consumer.
#[traced(capture_last_item)]
fn squares(n: u64) -> impl Iterator<Item = u64> {
    (1..=n).map(|i| i * i)
}

/// Items that may fail: each `Err` is an error event, and the span's status is error.
#[traced(capture_items = 3)]
fn parse_all(lines: Vec<&'static str>) -> impl Iterator<Item = Result<u32, std::num::ParseIntError>> {
    lines.into_iter().map(str::parse)
}

/// A generator written with `async_stream::stream!`; every item runs a traced child.
#[traced(capture_last_item)]
fn pages(count: u32) -> impl Stream<Item = String> + Send {
    async_stream::stream! {
        for page in 1..=count {
            yield fetch_page(page).await;
        }
    }
}

#[traced]
async fn fetch_page(page: u32) -> String {
    tokio::time::sleep(Duration::from_millis(2)).await;
    format!("page {page}")
}

/// An infinite stream: the consumer takes a few items and drops it.
#[traced]
fn ticks() -> impl Stream<Item = u64> {
    futures::stream::iter(0..)
}

fn show(s: &SpanData) {
    let output = s.output.as_ref().map_or_else(String::new, |o| format!(" output={o}"));
    let errors = s.events.iter().filter(|e| e.name == "error").count();
    println!(
        "{:<12} status={:<9} items={:<3} first_item={:>7}ns polls={:<3} pending={:<3} errors={errors}{output}",
        s.name,
        s.status.code.as_str(),
        s.items.unwrap_or(0),
        s.first_item_ns.unwrap_or(0),
        s.polls,
        s.pending_polls,
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _tracing = tracewell::builder().install().expect("install tracewell");

    let total: u64 = squares(4).sum();
    println!("sum of squares: {total}");

    let parsed: Vec<_> = parse_all(vec!["1", "two", "3"]).collect();
    println!("parsed: {parsed:?}");

    // Runs on the runtime's worker threads; the children nest under the stream's span.
    let got: Vec<String> = tokio::spawn(pages(3).collect()).await.expect("pages task");
    println!("pages: {got:?}");

    // Early drop: the consumer stops after five items, the span ends as cancelled.
    let first: Vec<u64> = ticks().take(5).collect().await;
    println!("first ticks: {first:?}");

    // An early `break` leaves nothing current in the consumer.
    for square in squares(100) {
        assert!(!tracewell::current().is_valid());
        if square > 10 {
            break;
        }
    }

    println!();
    let spans = tracewell::collected();
    for s in &spans {
        if s.name != "fetch_page" {
            show(s);
        }
    }
    let pages_span = spans.iter().find(|s| s.name == "pages").expect("pages span");
    let children = spans.iter().filter(|s| s.name == "fetch_page" && s.parent_span_id == pages_span.span_id).count();
    println!("\nfetch_page spans under the pages stream: {children}");
}
