#[tracewell::traced]
async fn forever() -> ! {
    loop {
        std::future::pending::<()>().await;
    }
}

fn main() {
    let _ = forever();
}
