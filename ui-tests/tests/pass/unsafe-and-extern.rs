#![deny(warnings)]
//! `unsafe fn`, `extern "C" fn`, `unsafe extern "C" fn` (also `#[unsafe(no_mangle)]`) and
//! `async unsafe fn`.

use tracewell::traced;

/// # Safety
///
/// `p` must be valid for reads.
#[traced]
unsafe fn read(p: *const u32) -> u32 {
    // SAFETY: promised by the caller.
    unsafe { *p }
}

#[traced]
extern "C" fn add(a: u32, b: u32) -> u32 {
    a + b
}

/// # Safety
///
/// `p` must be valid for reads.
#[traced]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tracewell_ui_read_c(p: *const u32) -> u32 {
    // SAFETY: promised by the caller.
    unsafe { *p }
}

/// # Safety
///
/// `p` must be valid for reads until the future is done.
#[traced]
async unsafe fn read_later(p: *const u32) -> u32 {
    tokio::task::yield_now().await;
    // SAFETY: promised by the caller.
    unsafe { *p }
}

fn main() {
    let v = 7;
    // SAFETY: `&v` is valid for the whole block.
    unsafe {
        assert_eq!(read(&raw const v), 7);
        assert_eq!(tracewell_ui_read_c(&raw const v), 7);
    }
    assert_eq!(add(1, 2), 3);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    // SAFETY: `v` outlives the future.
    assert_eq!(rt.block_on(unsafe { read_later(&raw const v) }), 7);
}
