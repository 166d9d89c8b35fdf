//! A fixed-bucket latency histogram updated with relaxed atomics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in nanoseconds (100 µs to 2.5 s); a last bucket
/// holds everything slower.
pub const LATENCY_BOUNDS_NS: [u64; 14] = [
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
];

const BUCKETS: usize = LATENCY_BOUNDS_NS.len() + 1;

/// Counts of durations per bucket of [`LATENCY_BOUNDS_NS`] and their sum. Recording is
/// two relaxed atomic additions.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Observations per bucket (not cumulative); the last one is above every bound.
    buckets: [AtomicU64; BUCKETS],
    /// Sum of the observations, in nanoseconds.
    sum_ns: AtomicU64,
}

/// A copy of a [`Histogram`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct HistogramSnapshot {
    /// Observations per bucket (not cumulative); the last one is above every bound.
    pub buckets: [u64; BUCKETS],
    /// Sum of the observations, in nanoseconds.
    pub sum_ns: u64,
}

impl Histogram {
    /// Records one duration.
    pub fn record(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let i = LATENCY_BOUNDS_NS
            .iter()
            .position(|&b| ns <= b)
            .unwrap_or(BUCKETS - 1);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Reads the counts.
    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            buckets: self.buckets.each_ref().map(|b| b.load(Ordering::Relaxed)),
            sum_ns: self.sum_ns.load(Ordering::Relaxed),
        }
    }
}

impl HistogramSnapshot {
    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// Cumulative counts per upper bound (in nanoseconds), as Prometheus wants them,
    /// without the last (`+Inf`, which is [`Self::count`]).
    pub fn cumulative(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        LATENCY_BOUNDS_NS
            .iter()
            .zip(&self.buckets)
            .scan(0u64, |acc, (&bound, &n)| {
                *acc += n;
                Some((bound, *acc))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_into_buckets_and_sums() {
        let h = Histogram::default();
        h.record(Duration::from_micros(50));
        h.record(Duration::from_micros(100));
        h.record(Duration::from_millis(3));
        h.record(Duration::from_secs(10));
        let s = h.snapshot();
        assert_eq!(s.count(), 4);
        assert_eq!(s.buckets[0], 2);
        assert_eq!(s.buckets[5], 1);
        assert_eq!(s.buckets[BUCKETS - 1], 1);
        assert_eq!(s.sum_ns, 50_000 + 100_000 + 3_000_000 + 10_000_000_000);
        let cumulative: Vec<_> = s.cumulative().collect();
        assert_eq!(cumulative.len(), LATENCY_BOUNDS_NS.len());
        assert_eq!(cumulative[0], (100_000, 2));
        assert_eq!(cumulative[4], (2_500_000, 2));
        assert_eq!(cumulative[5], (5_000_000, 3));
        assert_eq!(cumulative.last().copied(), Some((2_500_000_000, 3)));
    }
}
