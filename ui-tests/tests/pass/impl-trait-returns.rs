#![deny(warnings)]
//! `-> impl Trait` returns with `Send`, `Sync` and lifetime bounds, from plain and `async`
//! functions; the futures a traced `async fn` returns are `Send` and `Sync` exactly when the
//! untraced ones are.

use std::future::Future;

use futures_core::Stream;
use tracewell::traced;

fn send_sync<T: Send + Sync>(t: T) -> T {
    t
}

fn send<T: Send>(t: T) -> T {
    t
}

#[traced]
fn later(x: u32) -> impl Future<Output = u32> + Send + Sync + 'static {
    async move { x + 1 }
}

#[traced]
fn evens(n: u32) -> impl Iterator<Item = u32> + Send + Sync {
    (0..n).filter(|i| i % 2 == 0)
}

#[traced]
fn ticks(n: u32) -> impl Stream<Item = u32> + Send + 'static {
    futures::stream::iter(0..n)
}

#[traced]
fn copied() -> impl Copy + std::fmt::Debug {
    42
}

#[traced]
fn adder(n: u32) -> impl Fn(u32) -> u32 + Send {
    move |x| x + n
}

#[traced]
fn maybe_iter(n: i32) -> Result<impl Iterator<Item = i32>, String> {
    if n < 0 {
        return Err("negative".to_owned());
    }
    Ok((0..10).filter(move |x| *x < n))
}

#[traced]
async fn async_maybe_iter(n: i32) -> Result<impl Iterator<Item = i32>, &'static str> {
    Ok((0..10).filter(move |x| *x < n))
}

#[traced]
async fn async_iter(s: &str) -> impl Iterator<Item = char> + '_ {
    s.chars()
}

#[traced]
async fn holds_a_guard(m: &std::sync::Mutex<u32>) -> u32 {
    let v = *m.lock().unwrap();
    tokio::task::yield_now().await;
    v
}

#[traced]
async fn not_send(n: u32) -> u32 {
    let rc = std::rc::Rc::new(n);
    tokio::task::yield_now().await;
    *rc
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        assert_eq!(send_sync(later(1)).await, 2);
        assert_eq!(send_sync(evens(5)).count(), 3);
        assert_eq!(futures::StreamExt::count(send(ticks(3))).await, 3);
        assert_eq!(*format!("{:?}", copied()), *"42");
        assert_eq!(adder(1)(2), 3);
        assert_eq!(maybe_iter(3).map(Iterator::count), Ok(3));
        assert_eq!(send_sync(async_maybe_iter(2)).await.map(Iterator::count), Ok(2));
        assert_eq!(send_sync(async_iter("ab")).await.count(), 2);
        let m = std::sync::Mutex::new(1);
        assert_eq!(holds_a_guard(&m).await, 1);
        // Not `Send`, as the untraced function's future would not be: awaited in place.
        assert_eq!(not_send(1).await, 1);
    });
}
