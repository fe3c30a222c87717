#[tracewell::traced(capture_last_item)]
fn total(xs: &[u32]) -> u32 {
    xs.iter().sum()
}

fn main() {
    total(&[1]);
}
