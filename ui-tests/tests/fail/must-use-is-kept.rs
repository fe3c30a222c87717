#![deny(unused_must_use)]

#[must_use]
#[tracewell::traced]
fn important() -> u32 {
    1
}

fn main() {
    important();
}
