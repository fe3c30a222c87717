#[tracewell::traced(max_len = "100")]
fn f() {}

fn main() {
    f();
}
