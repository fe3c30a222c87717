//! Streaming summaries: a log-bucket quantile sketch and running mean/variance.
//!
//! Both use memory bounded by a constant, whatever the number of values added, so the score's
//! memory grows with the number of functions and branches, not with the number of spans.

/// Relative width of one bucket: values within 1% of each other share a bucket.
const GAMMA: f64 = 1.02;

/// A quantile sketch over non-negative integers (nanoseconds, bytes) with buckets whose bounds
/// grow geometrically by [`GAMMA`], as in DDSketch: any quantile it returns is within 1% of a
/// value that was added. Buckets are dense between the smallest and largest index seen, so the
/// memory is at most a few thousand counters (1 ns to 1 day spans about 2 300 buckets).
#[derive(Clone, Debug, Default)]
pub(crate) struct LogHistogram {
    zeros: u64,
    /// Index of `counts[0]`.
    offset: i32,
    counts: Vec<u64>,
    total: u64,
    min: u64,
    max: u64,
}

fn index_of(v: u64) -> i32 {
    // v >= 1 here; ceil(log_gamma(v)).
    ((v as f64).ln() / GAMMA.ln()).ceil() as i32
}

fn value_of(i: i32) -> f64 {
    // The middle of bucket i, (gamma^(i-1), gamma^i], weighted as DDSketch does.
    2.0 * GAMMA.powi(i) / (GAMMA + 1.0)
}

impl LogHistogram {
    pub(crate) fn add(&mut self, v: u64) {
        if self.total == 0 {
            self.min = v;
            self.max = v;
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.total += 1;
        if v == 0 {
            self.zeros += 1;
            return;
        }
        let i = index_of(v);
        if self.counts.is_empty() {
            self.offset = i;
            self.counts.push(0);
        } else if i < self.offset {
            let grow = (self.offset - i) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = i;
        } else if (i - self.offset) as usize >= self.counts.len() {
            self.counts.resize((i - self.offset) as usize + 1, 0);
        }
        self.counts[(i - self.offset) as usize] += 1;
    }

    pub(crate) fn count(&self) -> u64 {
        self.total
    }

    pub(crate) fn min(&self) -> u64 {
        self.min
    }

    pub(crate) fn max(&self) -> u64 {
        self.max
    }

    /// The `q`-quantile (0 <= q <= 1, nearest rank), within 1% of an added value; 0 when empty.
    pub(crate) fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        // Nearest rank: the smallest value with at least q of all values at or below it.
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).saturating_sub(1);
        if rank < self.zeros {
            return 0;
        }
        let mut seen = self.zeros;
        for (k, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen > rank {
                let v = value_of(self.offset + k as i32).round() as u64;
                return v.clamp(self.min, self.max);
            }
        }
        self.max
    }

    /// Counts in `bins` ranges evenly spaced on a log scale from the minimum to the maximum:
    /// `(low, high, count)`, for the latency histogram of the HTML report.
    pub(crate) fn log_bins(&self, bins: usize) -> Vec<(u64, u64, u64)> {
        if self.total == 0 || bins == 0 {
            return Vec::new();
        }
        let lo = (self.min.max(1) as f64).ln();
        let hi = (self.max.max(1) as f64).ln();
        if hi - lo < 1e-9 {
            return vec![(self.min, self.max, self.total)];
        }
        let step = (hi - lo) / bins as f64;
        let mut out: Vec<(u64, u64, u64)> = (0..bins)
            .map(|b| {
                ((lo + step * b as f64).exp().round() as u64, (lo + step * (b + 1) as f64).exp().round() as u64, 0)
            })
            .collect();
        out[0].2 += self.zeros;
        for (k, &c) in self.counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let v = value_of(self.offset + k as i32).max(1.0).ln();
            let b = (((v - lo) / step).floor().max(0.0) as usize).min(bins - 1);
            out[b].2 += c;
        }
        out
    }
}

/// Running count, mean and variance (Welford's algorithm): numerically stable, constant memory.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Moments {
    n: u64,
    mean: f64,
    m2: f64,
}

impl Moments {
    pub(crate) fn add(&mut self, x: f64) {
        self.n += 1;
        let d = x - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (x - self.mean);
    }

    pub(crate) fn count(&self) -> u64 {
        self.n
    }

    pub(crate) fn mean(&self) -> f64 {
        self.mean
    }

    /// Population standard deviation.
    pub(crate) fn std_dev(&self) -> f64 {
        if self.n == 0 { 0.0 } else { (self.m2 / self.n as f64).max(0.0).sqrt() }
    }

    /// Coefficient of variation, standard deviation over mean; 0 for a mean of 0 and for
    /// differences below floating-point noise.
    pub(crate) fn cv(&self) -> f64 {
        if self.mean.abs() < f64::EPSILON {
            return 0.0;
        }
        let cv = self.std_dev() / self.mean.abs();
        if cv < 1e-9 { 0.0 } else { cv }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_one_percent() {
        let mut h = LogHistogram::default();
        for v in 1..=100_000u64 {
            h.add(v);
        }
        for (q, want) in [(0.5, 50_000.0), (0.95, 95_000.0), (0.99, 99_000.0)] {
            let got = h.quantile(q) as f64;
            assert!((got - want).abs() / want < 0.011, "q{q}: {got} vs {want}");
        }
        assert_eq!(h.quantile(0.0), 1);
        assert_eq!(h.quantile(1.0), 100_000);
    }

    #[test]
    fn constant_values_give_exact_quantiles() {
        let mut h = LogHistogram::default();
        for _ in 0..1000 {
            h.add(1234);
        }
        assert_eq!((h.quantile(0.5), h.quantile(0.99)), (1234, 1234));
    }

    #[test]
    fn memory_is_bounded_by_the_value_range_not_the_count() {
        let mut h = LogHistogram::default();
        let mut x = 1u64;
        for _ in 0..1_000_000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            h.add(x % 86_400_000_000_000);
        }
        assert!(h.counts.len() < 2_400, "{} buckets", h.counts.len());
        assert_eq!(h.count(), 1_000_000);
    }

    #[test]
    fn bins_cover_all_values() {
        let mut h = LogHistogram::default();
        for v in [0, 10, 100, 1000, 10_000] {
            h.add(v);
        }
        let bins = h.log_bins(8);
        assert_eq!(bins.len(), 8);
        assert_eq!(bins.iter().map(|b| b.2).sum::<u64>(), 5);
    }

    #[test]
    fn moments_match_the_textbook() {
        let mut m = Moments::default();
        for x in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0] {
            m.add(x);
        }
        assert_eq!(m.mean(), 5.0);
        assert!((m.std_dev() - 2.0).abs() < 1e-12);
        assert!((m.cv() - 0.4).abs() < 1e-12);
    }
}
