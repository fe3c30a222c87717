//! The pass cases of `tracewell-ui-tests` (`../tests/pass/`), compiled as edition 2021 crates:
//! every shape `#[traced]` supports compiles warning-free under both editions. (The compile-fail
//! cases run once, in the edition 2024 crate: their text is rustc's and the edition changes
//! none of the macro's own errors.)

#[test]
fn ui_edition_2021() {
    let t = trybuild::TestCases::new();
    t.pass("../tests/pass/*.rs");
}
