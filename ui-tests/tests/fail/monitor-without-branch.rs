#[tracewell::monitor(kind = "server")]
fn f() {}

fn main() {
    f();
}
