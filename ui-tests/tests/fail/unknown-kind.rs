#[tracewell::traced(kind = "sever")]
fn f() {}

fn main() {
    f();
}
