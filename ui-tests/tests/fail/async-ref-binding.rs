#[tracewell::traced]
async fn length(ref s: String) -> usize {
    s.len()
}

fn main() {
    let _ = length(String::new());
}
