#[tracewell::traced(name = "a", kind = "server", name = "b")]
fn f() {}

fn main() {
    f();
}
