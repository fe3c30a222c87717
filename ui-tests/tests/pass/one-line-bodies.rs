#![deny(warnings, unused_braces)]
//! One-line bodies (`{ a + b }`) of every shape raise no `unused_braces`, and a body's inner
//! attributes (`#![allow(..)]`) stay on the body.

use std::future::Future;

use futures_core::Stream;
use tracewell::traced;

#[rustfmt::skip]
#[traced]
fn add(a: u32, b: u32) -> u32 { a + b }

#[rustfmt::skip]
#[traced]
async fn add_async(a: u32, b: u32) -> u32 { a + b }

#[rustfmt::skip]
#[traced]
fn later(a: u32) -> impl Future<Output = u32> { async move { a } }

#[rustfmt::skip]
#[traced]
fn numbers(n: u32) -> impl Iterator<Item = u32> { 0..n }

#[rustfmt::skip]
#[traced]
async fn stream(n: u32) -> impl Stream<Item = u32> { futures::stream::iter(0..n) }

#[deny(unused_variables)]
#[traced]
fn inner_attribute() {
    #![allow(unused_variables)]
    let i = 42;
}

#[deny(unused_variables)]
#[traced]
async fn async_inner_attribute() {
    #![allow(unused_variables)]
    let i = 42;
}

fn main() {
    assert_eq!(add(1, 2), 3);
    assert_eq!(numbers(3).count(), 3);
    inner_attribute();
    futures::executor::block_on(async {
        assert_eq!(add_async(1, 2).await, 3);
        assert_eq!(later(1).await, 1);
        assert_eq!(futures::StreamExt::count(stream(2).await).await, 2);
        async_inner_attribute().await;
    });
}
