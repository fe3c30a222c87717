#![deny(warnings, missing_docs)]
//! `#[must_use]`, docs and other attributes stay on the function.

/// Adds one.
#[must_use]
#[tracewell::traced]
#[inline]
pub fn add_one(a: u32) -> u32 {
    a + 1
}

/// Never returns normally.
#[tracewell::traced]
#[allow(clippy::needless_pass_by_value)]
pub fn fails(reason: String) -> Result<(), String> {
    Err(reason)
}

fn main() {
    assert_eq!(add_one(1), 2);
    assert!(fails("x".into()).is_err());
}
