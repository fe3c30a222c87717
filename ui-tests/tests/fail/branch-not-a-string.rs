const BRANCH: &str = "hit";

#[tracewell::monitor(branch = BRANCH)]
fn f() {}

fn main() {
    f();
}
