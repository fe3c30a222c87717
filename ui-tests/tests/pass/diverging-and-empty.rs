#![deny(warnings)]
//! Functions that never return (`-> !`) and functions with nothing to record (no argument
//! captured, no output).

use tracewell::traced;

#[traced]
fn fail(reason: &str) -> ! {
    panic!("{reason}")
}

#[traced(skip_all)]
fn quiet(a: u32) {
    let _ = a;
}

#[traced]
fn nothing() {}

#[traced(skip_all, skip_output)]
async fn quiet_async(a: u32) -> u32 {
    a
}

fn main() {
    if std::env::args().count() > 99 {
        fail("too many arguments");
    }
    quiet(1);
    nothing();
    assert_eq!(futures::executor::block_on(quiet_async(1)), 1);
}
