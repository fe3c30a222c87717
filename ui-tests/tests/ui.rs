//! Compile-time behaviour of `#[traced]` and `#[monitor]`: every supported function shape
//! compiles (warning-free under `#![deny(warnings)]`), every misuse is one error at the
//! offending token with a message naming the fix.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/pass/*.rs");
    t.compile_fail("tests/fail/*.rs");
}
