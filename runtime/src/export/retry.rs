//! Capped exponential backoff with jitter, shared by the network exporters.
#![cfg_attr(
    not(any(feature = "redis", feature = "otlp-grpc", feature = "otlp-http", feature = "zipkin")),
    allow(dead_code)
)]

use std::time::Duration;
#[cfg(any(feature = "otlp-grpc", feature = "otlp-http", feature = "zipkin"))]
use {super::ExportError, super::health::HealthCell, std::future::Future, std::time::Instant};

/// Delays of `base * 2^n`, capped at `max`, each scaled by a random factor in `[0.5, 1.0]` so
/// many processes that lost the same backend do not reconnect in lockstep.
#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub(crate) const fn new(base: Duration, max: Duration) -> Backoff {
        Backoff { base, max, attempt: 0 }
    }

    /// The next delay; each call doubles the un-jittered delay up to the cap.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let exp = self.base.saturating_mul(1u32 << self.attempt.min(20));
        self.attempt = self.attempt.saturating_add(1);
        let capped = exp.min(self.max);
        capped.mul_f64(0.5 + fastrand::f64() * 0.5)
    }

    /// Back to the first delay, after a success.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(any(feature = "otlp-grpc", feature = "otlp-http", feature = "zipkin"))]
/// How one attempt to send a batch went.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// Accepted; `rejected` spans were refused in a partial-success answer.
    Delivered { rejected: u64, message: String },
    /// A transient failure; try again after `hint` if the server gave one.
    Retry { hint: Option<Duration>, error: String },
    /// A failure retrying will not fix.
    Fail(String),
}

#[cfg(any(feature = "otlp-grpc", feature = "otlp-http", feature = "zipkin"))]
/// Calls `attempt` (given the time left) until it delivers, fails for good, or `timeout` passes,
/// backing off between tries; updates `health`.
pub(crate) async fn send_with_retries<F, Fut>(
    exporter: &'static str,
    health: &HealthCell,
    spans: usize,
    timeout: Duration,
    mut attempt: F,
) -> Result<(), ExportError>
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Attempt>,
{
    let deadline = Instant::now() + timeout;
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let outcome = match tokio::time::timeout(left, attempt(left)).await {
            Ok(o) => o,
            Err(_) => Attempt::Retry { hint: None, error: format!("no answer within {} ms", left.as_millis()) },
        };
        match outcome {
            Attempt::Delivered { rejected, message } => {
                health.delivered(spans);
                if rejected > 0 {
                    health.update(|h| h.spans_rejected += rejected);
                    crate::diag::log_error(format_args!(
                        "{exporter}: the backend rejected {rejected} of {spans} spans: {message}"
                    ));
                }
                return Ok(());
            }
            Attempt::Fail(message) => {
                return Err(health.gave_up(ExportError::Rejected { exporter, message }, spans));
            }
            Attempt::Retry { hint, error } => {
                let wait = hint.unwrap_or_else(|| backoff.next_delay());
                if Instant::now() + wait >= deadline {
                    let err = ExportError::Unavailable {
                        exporter,
                        message: format!("{error}; gave up after {} ms", timeout.as_millis()),
                    };
                    return Err(health.gave_up(err, spans));
                }
                health.failed(&format_args!("{error} (retrying in {} ms)", wait.as_millis()));
                tokio::time::sleep(wait).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps_with_jitter() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let d: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        assert!(d[0] >= Duration::from_millis(50) && d[0] <= Duration::from_millis(100), "{d:?}");
        assert!(d[2] >= Duration::from_millis(200) && d[2] <= Duration::from_millis(400), "{d:?}");
        assert!(d.iter().all(|x| *x <= Duration::from_secs(1)), "{d:?}");
        assert!(d[7] >= Duration::from_millis(500), "{d:?}");
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
