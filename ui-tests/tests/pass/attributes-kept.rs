#![deny(warnings, missing_docs)]
//! `#[must_use]`, `#[deprecated]`, docs, `#[inline]` and lint attributes stay on the function,
//! plain or `async`.

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

/// Loads a value.
#[must_use]
#[tracewell::traced]
pub async fn load(id: u32) -> u32 {
    id
}

/// The old name.
#[deprecated(note = "use `add_one`")]
#[tracewell::traced]
pub fn old_add(a: u32) -> u32 {
    a + 1
}

/// The old async name.
#[deprecated(since = "0.1.0", note = "use `load`")]
#[doc(alias = "fetch")]
#[tracewell::traced]
pub async fn old_load(id: u32) -> u32 {
    id
}

fn main() {
    assert_eq!(add_one(1), 2);
    assert!(fails("x".into()).is_err());
    #[allow(deprecated)]
    let old = old_add(1);
    assert_eq!(old, 2);
    futures::executor::block_on(async {
        assert_eq!(load(1).await, 1);
        #[allow(deprecated)]
        let old = old_load(2);
        assert_eq!(old.await, 2);
    });
}
