//! The hot-path clock: raw ticks read on the calling thread (the CPU's time-stamp counter where it
//! is usable, the OS monotonic clock otherwise, chosen by `quanta`), converted to nanoseconds and
//! to Unix time only where spans are read, off the hot path.
//!
//! One anchor pairs a tick reading with the system clock when the clock is first used, so a
//! converted time never needs a system call.

use std::sync::LazyLock;

/// A raw clock reading; only differences of two readings, or [`unix_nanos`] of one, mean
/// anything.
pub(crate) type Ticks = u64;

struct Clock {
    source: quanta::Clock,
    anchor_ticks: Ticks,
    anchor_unix: u64,
}

static CLOCK: LazyLock<Clock> = LazyLock::new(|| {
    let source = quanta::Clock::new();
    let anchor_unix =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    Clock { anchor_ticks: source.raw(), source, anchor_unix }
});

/// Now, as raw ticks. Hot path: one counter read once the clock is set up.
#[inline]
pub(crate) fn now() -> Ticks {
    CLOCK.source.raw()
}

/// Nanoseconds from `start` to `end` (0 if `end` is earlier).
#[inline]
pub(crate) fn nanos_between(start: Ticks, end: Ticks) -> u64 {
    if end <= start { 0 } else { CLOCK.source.delta_as_nanos(start, end) }
}

/// A tick count (a sum of differences) in nanoseconds.
#[inline]
pub(crate) fn ticks_to_nanos(ticks: Ticks) -> u64 {
    nanos_between(0, ticks)
}

/// Converts a reading to nanoseconds since the Unix epoch.
#[inline]
pub(crate) fn unix_nanos(t: Ticks) -> u64 {
    let c = &*CLOCK;
    if t >= c.anchor_ticks {
        c.anchor_unix.saturating_add(nanos_between(c.anchor_ticks, t))
    } else {
        c.anchor_unix.saturating_sub(nanos_between(t, c.anchor_ticks))
    }
}

/// Now, in nanoseconds since the Unix epoch.
#[inline]
pub(crate) fn now_unix_nanos() -> u64 {
    unix_nanos(now())
}

/// Sets the clock up (calibration, anchor) so the first span does not pay for it.
pub(crate) fn warm_up() {
    LazyLock::force(&CLOCK);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_time_is_close_to_the_system_clock() {
        let sys = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
        let ours = now_unix_nanos();
        assert!(ours.abs_diff(sys) < 1_000_000_000, "{ours} vs {sys}");
    }

    #[test]
    fn differences_are_nanoseconds() {
        let a = now();
        let wall = std::time::Instant::now();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let (b, took) = (now(), wall.elapsed().as_nanos() as u64);
        let ns = nanos_between(a, b);
        assert!(ns >= 20_000_000 && ns.abs_diff(took) < took / 5 + 2_000_000, "{ns} ns vs {took} ns");
        assert_eq!(nanos_between(b, a), 0, "an earlier end is no time, not a wrap-around");
        assert_eq!(ticks_to_nanos(b - a), ns);
    }
}
