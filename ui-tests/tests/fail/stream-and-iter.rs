#[tracewell::traced(stream, iter)]
fn f() -> Box<dyn Iterator<Item = u32>> {
    Box::new(0..3)
}

fn main() {
    f();
}
