//! The tokio runtime monitor: scheduling lag, sampled by a task that sleeps and measures how late
//! it wakes.
//!
//! Each sample is a span named [`RUNTIME_LAG_SPAN`] that covers one sleep, with the requested
//! interval as the attribute [`INTERVAL_ATTR`]; the lag is its wall time minus the interval. The score reads these spans into the concurrency sub-score (CC)
//! of async functions and reports the lag apart.

use std::time::Duration;

use crate::span::attr::RUNTIME_LAG_SPAN;

/// The attribute holding the requested sleep, in nanoseconds, on runtime-lag spans.
#[doc(inline)]
pub use crate::span::attr::RUNTIME_INTERVAL_NS as INTERVAL_ATTR;

/// The default sampling interval of [`monitor_runtime`].
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(100);

/// Stops the monitor task when dropped (or with [`RuntimeMonitor::stop`]).
#[derive(Debug)]
#[must_use = "the monitor stops when this handle is dropped"]
pub struct RuntimeMonitor {
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RuntimeMonitor {
    /// Whether a task is sampling (false when no tokio runtime was running).
    pub fn is_running(&self) -> bool {
        self.task.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops sampling.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for RuntimeMonitor {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// Samples the scheduling lag of the current tokio runtime every [`DEFAULT_INTERVAL`].
///
/// Called outside a tokio runtime it does nothing (the handle reports
/// [`is_running`](RuntimeMonitor::is_running) false): tracewell never makes the program fail.
///
/// # Examples
///
/// ```
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// # rt.block_on(async {
/// let _g = tracewell::builder().install().unwrap();
/// let monitor = tracewell::monitor_runtime_every(std::time::Duration::from_millis(5));
/// assert!(monitor.is_running());
/// tokio::time::sleep(std::time::Duration::from_millis(30)).await;
/// monitor.stop();
/// let report = tracewell::score::report(&tracewell::collected());
/// assert!(report.runtime_lag.unwrap().samples >= 1);
/// # });
/// ```
pub fn monitor_runtime() -> RuntimeMonitor {
    monitor_runtime_every(DEFAULT_INTERVAL)
}

/// [`monitor_runtime`] with a chosen interval.
pub fn monitor_runtime_every(interval: Duration) -> RuntimeMonitor {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return RuntimeMonitor { task: None };
    };
    let interval_ns = u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX);
    let task = handle.spawn(async move {
        loop {
            let mut span = crate::span(RUNTIME_LAG_SPAN).start_detached();
            span.set_attribute(INTERVAL_ATTR, interval_ns);
            tokio::time::sleep(interval).await;
            drop(span);
        }
    });
    RuntimeMonitor { task: Some(task) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_a_runtime_it_does_nothing() {
        let m = monitor_runtime();
        assert!(!m.is_running());
    }

    #[test]
    fn stopping_ends_the_task() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let m = monitor_runtime_every(Duration::from_millis(1));
            assert!(m.is_running());
            m.stop();
        });
    }
}
