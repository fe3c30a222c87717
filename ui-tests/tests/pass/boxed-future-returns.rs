#![deny(warnings, unused_braces)]
//! Plain functions that return a boxed future: `Pin<Box<dyn Future>>` with and without `Send`,
//! `Sync` and a borrowed lifetime, futures' `BoxFuture` / `LocalBoxFuture`, and a
//! `Box<dyn Future + Unpin>`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures::future::{BoxFuture, LocalBoxFuture};
use tracewell::traced;

#[traced]
fn pinned() -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {})
}

#[traced]
fn pinned_send(n: u32) -> Pin<Box<dyn Future<Output = Result<u32, String>> + Send + Sync>> {
    Box::pin(async move { if n == 0 { Err("zero".to_owned()) } else { Ok(n) } })
}

struct Thing {
    metrics: Arc<u32>,
}

impl Thing {
    #[traced(skip(self))]
    fn call(&mut self, req: u32) -> Pin<Box<dyn Future<Output = u32> + Send + '_>> {
        let metrics = Arc::clone(&self.metrics);
        Box::pin(async move { *metrics + req })
    }
}

#[traced]
fn boxed(n: u32) -> BoxFuture<'static, u32> {
    Box::pin(async move { n + 1 })
}

#[traced]
fn local(s: &str) -> LocalBoxFuture<'_, usize> {
    Box::pin(async move { s.len() })
}

#[traced]
fn unpin(n: u32) -> Box<dyn Future<Output = u32> + Unpin + Send> {
    Box::new(std::future::ready(n))
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        pinned().await;
        assert_eq!(pinned_send(1).await, Ok(1));
        let mut t = Thing { metrics: Arc::new(1) };
        assert_eq!(t.call(2).await, 3);
        assert_eq!(boxed(1).await, 2);
        assert_eq!(local("ab").await, 2);
        assert_eq!(unpin(5).await, 5);
    });
}
