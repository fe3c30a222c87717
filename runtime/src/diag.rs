//! tracewell's own diagnostics: messages about itself (a dead backend, a bad setting) written to
//! stderr, rate-limited so that nothing tracewell says can flood the user's logs.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Writes a tracewell diagnostic to stderr: at most five per ten seconds, then one line saying how
/// many were suppressed.
pub(crate) fn log_error(msg: std::fmt::Arguments<'_>) {
    static WINDOW: Mutex<Option<(Instant, u32, u64)>> = Mutex::new(None);
    let Ok(mut w) = WINDOW.lock() else { return };
    let now = Instant::now();
    let (start, count, suppressed) = w.get_or_insert((now, 0, 0));
    if now.duration_since(*start) > Duration::from_secs(10) {
        if *suppressed > 0 {
            eprintln!("tracewell: {suppressed} similar messages suppressed");
        }
        *start = now;
        *count = 0;
        *suppressed = 0;
    }
    if *count < 5 {
        *count += 1;
        eprintln!("tracewell: {msg}");
    } else {
        *suppressed += 1;
    }
}
