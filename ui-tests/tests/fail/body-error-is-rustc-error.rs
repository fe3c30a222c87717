#[tracewell::traced]
fn f(a: u32) -> u32 {
    let b = a +;
    b
}

fn main() {
    f(1);
}
