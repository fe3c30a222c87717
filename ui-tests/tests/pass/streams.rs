#![deny(warnings)]
//! Functions returning iterators and streams, in every supported shape.

use std::pin::Pin;

use futures::stream::BoxStream;
use futures_core::Stream;
use tracewell::traced;

#[traced]
fn evens(n: u32) -> impl Iterator<Item = u32> {
    (0..n).filter(|i| i % 2 == 0)
}

#[traced(capture_last_item)]
fn letters(s: &str) -> impl IntoIterator<Item = char> + '_ {
    s.chars()
}

#[traced(capture_items = 2)]
fn parsed(items: Vec<&'static str>) -> impl Iterator<Item = Result<u32, std::num::ParseIntError>> {
    items.into_iter().map(str::parse)
}

#[traced(iter)]
fn boxed(n: u32) -> Box<dyn Iterator<Item = u32>> {
    Box::new(0..n)
}

#[traced]
fn ticks(n: u32) -> impl Stream<Item = u32> {
    futures::stream::iter(0..n)
}

#[traced(stream, capture_last_item)]
fn boxed_stream(n: u32) -> BoxStream<'static, u32> {
    Box::pin(futures::stream::iter(0..n))
}

#[traced(stream)]
fn pinned(n: u32) -> Pin<Box<dyn Stream<Item = Result<u32, String>> + Send>> {
    Box::pin(futures::stream::iter((0..n).map(Ok)))
}

#[traced]
fn generated(n: u32) -> impl Stream<Item = u32> {
    async_stream::stream! {
        for i in 0..n {
            yield i;
        }
    }
}

#[traced]
async fn made_later(n: u32) -> impl Stream<Item = u32> {
    futures::stream::iter(0..n)
}

#[tracewell::monitor(branch = "bulk", capture_last_item)]
fn monitored(n: u32) -> impl Iterator<Item = u32> {
    0..n
}

fn main() {
    use futures::StreamExt as _;
    let _ = evens(4).count();
    let _ = letters("ab").into_iter().count();
    let _ = parsed(vec!["1", "x"]).count();
    let _ = boxed(3).count();
    let _ = monitored(3).count();
    futures::executor::block_on(async {
        let _ = ticks(3).count().await;
        let _ = boxed_stream(3).count().await;
        let _ = pinned(3).count().await;
        let _ = generated(3).count().await;
        let _ = made_later(3).await.count().await;
    });
}
