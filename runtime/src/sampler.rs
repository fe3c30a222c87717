//! Sampling: which new traces are recorded.

use crate::span::{SpanContext, TraceId};

/// Decides whether a new span is recorded, following OpenTelemetry's samplers.
///
/// # Examples
///
/// ```
/// use tracewell::Sampler;
/// let s: Sampler = "parentbased_traceidratio".parse::<Sampler>().unwrap().with_ratio(0.25).unwrap();
/// assert_eq!(s, Sampler::ParentBased(Box::new(Sampler::TraceIdRatio(0.25))));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Sampler {
    /// Record everything.
    AlwaysOn,
    /// Record nothing.
    AlwaysOff,
    /// Record a fraction of traces, decided by the trace id so every service agrees.
    TraceIdRatio(f64),
    /// Follow the parent's sampled flag (a remote parent's flag wins); use the inner sampler for
    /// roots. The default is `ParentBased(AlwaysOn)`.
    ParentBased(Box<Sampler>),
}

impl Default for Sampler {
    fn default() -> Self {
        Sampler::ParentBased(Box::new(Sampler::AlwaysOn))
    }
}

/// A sampler name that OpenTelemetry does not define, or a bad ratio.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SamplerError {
    /// Unknown name.
    #[error(
        "unknown sampler {0:?}: expected always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio"
    )]
    Name(String),
    /// Ratio outside [0, 1] or not a number.
    #[error("sampler ratio must be a number in [0, 1], got {0:?}")]
    Ratio(String),
}

impl std::str::FromStr for Sampler {
    type Err = SamplerError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim() {
            "always_on" => Sampler::AlwaysOn,
            "always_off" => Sampler::AlwaysOff,
            "traceidratio" => Sampler::TraceIdRatio(1.0),
            "parentbased_always_on" => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            "parentbased_always_off" => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
            "parentbased_traceidratio" => Sampler::ParentBased(Box::new(Sampler::TraceIdRatio(1.0))),
            other => return Err(SamplerError::Name(other.to_owned())),
        })
    }
}

impl Sampler {
    /// Sets the ratio of a ratio sampler (also inside `ParentBased`); other samplers ignore it.
    ///
    /// # Errors
    ///
    /// [`SamplerError::Ratio`] when `ratio` is outside `[0, 1]`.
    pub fn with_ratio(self, ratio: f64) -> Result<Sampler, SamplerError> {
        if !(0.0..=1.0).contains(&ratio) {
            return Err(SamplerError::Ratio(ratio.to_string()));
        }
        Ok(match self {
            Sampler::TraceIdRatio(_) => Sampler::TraceIdRatio(ratio),
            Sampler::ParentBased(inner) => Sampler::ParentBased(Box::new(inner.with_ratio(ratio)?)),
            other => other,
        })
    }

    /// Whether a span with this parent (invalid for a root) in trace `trace_id` is recorded.
    #[inline]
    pub fn should_sample(&self, parent: &SpanContext, trace_id: TraceId) -> bool {
        self.decide(parent.is_valid(), parent.is_sampled(), trace_id)
    }

    /// [`Sampler::should_sample`] from the two facts about the parent it looks at.
    // Hot path: one match; a sampled parent under the default sampler is two compares.
    #[inline]
    pub(crate) fn decide(&self, parent_valid: bool, parent_sampled: bool, trace_id: TraceId) -> bool {
        match self {
            Sampler::ParentBased(_) if parent_valid => parent_sampled,
            Sampler::ParentBased(root) => root.decide(false, false, trace_id),
            Sampler::AlwaysOn => true,
            Sampler::AlwaysOff => false,
            Sampler::TraceIdRatio(r) => ratio_hit(*r, trace_id),
        }
    }
}

/// Whether `trace_id` falls in the sampled fraction `ratio`: compares its low 63 bits (the
/// random part in W3C level 2) against `ratio * 2^63`, so services sampling at the same ratio
/// make the same decision.
#[inline]
pub(crate) fn ratio_hit(ratio: f64, trace_id: TraceId) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    if ratio <= 0.0 {
        return false;
    }
    let bound = (ratio * (1u64 << 63) as f64) as u64;
    ((trace_id.0 as u64) >> 1) < bound
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::SpanId;

    #[test]
    fn ratio_samples_about_the_fraction() {
        let s = Sampler::TraceIdRatio(0.25);
        let n = if cfg!(miri) { 1_000 } else { 100_000 };
        let hits = (0..n).filter(|_| s.should_sample(&SpanContext::NONE, TraceId::random())).count();
        let frac = hits as f64 / n as f64;
        assert!((0.22..0.28).contains(&frac), "{frac}");
    }

    #[test]
    fn remote_parent_flag_wins() {
        let s = Sampler::default();
        let unsampled = SpanContext::remote(TraceId(5), SpanId(6), false);
        assert!(!s.should_sample(&unsampled, TraceId(5)));
        let sampled = SpanContext::remote(TraceId(5), SpanId(6), true);
        let off = Sampler::ParentBased(Box::new(Sampler::AlwaysOff));
        assert!(off.should_sample(&sampled, TraceId(5)));
        assert!(!off.should_sample(&SpanContext::NONE, TraceId(5)));
    }

    #[test]
    fn names_and_ratio_errors() {
        assert!(matches!("sometimes".parse::<Sampler>(), Err(SamplerError::Name(_))));
        assert!(Sampler::TraceIdRatio(1.0).with_ratio(1.5).is_err());
        assert_eq!("always_off".parse::<Sampler>().unwrap(), Sampler::AlwaysOff);
    }
}
