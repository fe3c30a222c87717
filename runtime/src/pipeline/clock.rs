//! The hot-path clock: a TSC reader (falling back to the OS clock where the TSC is not usable),
//! converted to Unix nanoseconds with one anchor taken per process.

use std::sync::LazyLock;

pub(crate) use minstant::Instant;

static ANCHOR: LazyLock<minstant::Anchor> = LazyLock::new(minstant::Anchor::new);

/// Converts a clock reading to nanoseconds since the Unix epoch.
#[inline]
pub(crate) fn unix_nanos(t: Instant) -> u64 {
    t.as_unix_nanos(&ANCHOR)
}

/// Now, in nanoseconds since the Unix epoch.
#[inline]
pub(crate) fn now_unix_nanos() -> u64 {
    unix_nanos(Instant::now())
}

/// Forces the anchor so the first span does not pay for it.
pub(crate) fn warm_up() {
    LazyLock::force(&ANCHOR);
}

#[cfg(test)]
mod tests {
    #[test]
    fn unix_time_is_close_to_the_system_clock() {
        let sys = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
        let ours = super::now_unix_nanos();
        assert!(ours.abs_diff(sys) < 1_000_000_000, "{ours} vs {sys}");
    }
}
