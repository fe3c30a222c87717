#![deny(warnings)]
//! An attribute macro that needs an `async fn` and comes after `#[traced]` (`#[tokio::main]`,
//! `#[tokio::test]`) still gets one.

use tracewell::traced;

#[traced]
async fn child(n: u32) -> u32 {
    n + 1
}

#[traced]
#[tokio::test]
async fn a_test() {
    assert_eq!(child(1).await, 2);
}

#[tokio::main(flavor = "current_thread")]
#[traced]
async fn helper() -> u32 {
    child(2).await
}

#[traced(name = "main")]
#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(child(0).await, 1);
    assert_eq!(tokio::task::spawn_blocking(helper).await.unwrap(), 3);
}
