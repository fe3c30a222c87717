#[tracewell::traced(nmae = "load")]
fn f() {}

fn main() {
    f();
}
