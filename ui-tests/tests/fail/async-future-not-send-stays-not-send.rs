//! The future of a traced `async fn` is `Send` exactly when the untraced one is: holding an `Rc`
//! across an `.await` makes it not `Send`, and `tokio::spawn` says so.

#[tracewell::traced]
async fn counts(n: u32) -> u32 {
    let rc = std::rc::Rc::new(n);
    tokio::task::yield_now().await;
    *rc
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let _ = rt.block_on(tokio::spawn(counts(1)));
}
