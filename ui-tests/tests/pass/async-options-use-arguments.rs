#![deny(warnings)]
//! Options of a traced `async fn` that use its arguments: evaluated at the call, they may move an
//! argument the body does not use (`tags(user = user)`), borrow one (`attributes`), take the
//! parent from one; `crate = path` on an `async fn`.

use tracewell::{SpanContext, traced};

#[traced(tags(user = user), attributes(len = body.len() as u64))]
async fn tagged(user: String, body: String) -> usize {
    tokio::task::yield_now().await;
    body.len()
}

#[traced(parent = remote, sample = ratio)]
async fn with_parent(remote: SpanContext, ratio: f64, n: u32) -> u32 {
    n
}

#[traced(crate = ::tracewell, name = "renamed")]
async fn renamed(x: u8) -> u8 {
    x
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        assert_eq!(tagged("u".to_owned(), "ab".to_owned()).await, 2);
        assert_eq!(with_parent(SpanContext::NONE, 1.0, 3).await, 3);
        assert_eq!(renamed(1).await, 1);
    });
}
