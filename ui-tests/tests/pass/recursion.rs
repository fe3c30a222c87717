#![deny(warnings)]
//! A recursive traced `async fn` (through `Box::pin`), spawned on a multi-thread runtime.

use tracewell::traced;

#[traced]
async fn depth(n: u32) -> u32 {
    if n == 0 {
        return 0;
    }
    Box::pin(depth(n - 1)).await + 1
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
    assert_eq!(rt.block_on(rt.spawn(depth(3))).unwrap(), 3);
}
