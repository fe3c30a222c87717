#[tracewell::traced(skip(a), skip(b))]
fn f(a: u32, b: u32) -> u32 {
    a + b
}

fn main() {
    f(1, 2);
}
