//! An HDR-style log-linear histogram over `u64` values.
//!
//! Values are grouped into buckets whose width grows with the value, so that every value is
//! represented with a bounded *relative* error: with `d` significant digits, the value reported for
//! any recorded sample is within `10^-d` of the sample (0.1% with the default of 3 digits).
//!
//! # Layout
//!
//! With `d` significant digits the histogram uses `S = 2^ceil(log2(2·10^d))` sub-buckets
//! (`S = 2048` for `d = 3`). Values `0..S` are stored exactly (one slot each). Every further power
//! of two, `[S·2^(k-1), S·2^k)`, is split into `S/2` equal slots of width `2^k`. The slot of a
//! value is computed with one `leading_zeros`, one shift and one add, so recording is `O(1)`.
//! Slots are allocated up to the largest value seen; the range grows on demand and
//! [`Histogram::record`] never fails and never drops a value, all the way to `u64::MAX`.
//!
//! Memory: `8 · S/2 · (buckets + 1)` bytes. A histogram covering 1 ns to 1 hour with 3 digits
//! holds 33,792 counters: 264 KiB.
//!
//! # Percentile definition
//!
//! [`Histogram::quantile`] uses the *nearest-rank* definition: the `q`-quantile of `n` samples is
//! the sample of rank `max(1, ceil(q·n))` in ascending order (so `q = 0` is the minimum and
//! `q = 1` the maximum). The histogram finds the slot holding that rank and reports the highest
//! value of the slot, clamped to the exact recorded minimum and maximum. The reported value is
//! therefore never below the true quantile, and above it by less than `10^-d` relative.
//! [`crate::Summary::exact`] uses the same definition on a plain slice.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use crate::MetricsError;

/// The default number of significant decimal digits (0.1% relative error).
pub const DEFAULT_SIGNIFICANT_DIGITS: u8 = 3;

/// The version of the serialised histogram format (see `docs/formats.md`).
pub const HISTOGRAM_FORMAT_VERSION: u32 = 1;

/// Bucket geometry for a given precision. Shared with the concurrent recorder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Significant decimal digits, 1..=5.
    pub(crate) digits: u8,
    /// `log2` of half the sub-bucket count: the number of slots per bucket above bucket 0.
    pub(crate) half_mag: u32,
    /// Sub-bucket count minus one; or-ed into a value so small values land in bucket 0.
    sub_mask: u64,
    /// `64 - log2(sub-bucket count)`.
    lz_base: u32,
}

impl Layout {
    pub(crate) fn new(digits: u8) -> Result<Self, MetricsError> {
        if !(1..=5).contains(&digits) {
            return Err(MetricsError::InvalidPrecision { digits });
        }
        Ok(Self::for_digits(digits))
    }

    /// The default layout (3 significant digits).
    pub(crate) const DEFAULT: Layout = Layout::for_digits(DEFAULT_SIGNIFICANT_DIGITS);

    /// Geometry for `digits` already checked to be in 1..=5.
    const fn for_digits(digits: u8) -> Self {
        let largest_exact = 2 * 10u64.pow(digits as u32);
        // ceil(log2(largest_exact))
        let sub_mag = 64 - (largest_exact - 1).leading_zeros();
        Self {
            digits,
            half_mag: sub_mag - 1,
            sub_mask: (1u64 << sub_mag) - 1,
            lz_base: 64 - sub_mag,
        }
    }

    /// Slot index of `value`.
    #[inline]
    pub(crate) fn index(self, value: u64) -> usize {
        let bucket = self.lz_base - (value | self.sub_mask).leading_zeros();
        ((bucket as usize) << self.half_mag) + (value >> bucket) as usize
    }

    /// Number of slots needed to hold every `u64`.
    pub(crate) fn max_len(self) -> usize {
        self.index(u64::MAX) + 1
    }

    /// Number of slots per bucket above bucket 0 (half the sub-bucket count).
    pub(crate) fn half(self) -> usize {
        1 << self.half_mag
    }

    /// Lowest and highest value that map to slot `index`.
    pub(crate) fn range(self, index: usize) -> (u64, u64) {
        let sub_count = 1usize << (self.half_mag + 1);
        if index < sub_count {
            return (index as u64, index as u64);
        }
        let bucket = (index >> self.half_mag) - 1;
        let sub = (index - (bucket << self.half_mag)) as u64;
        let low = sub << bucket;
        (low, low + ((1u64 << bucket) - 1))
    }

    /// Number of slots needed to cover `value`: whole buckets, so growth is amortised.
    fn len_for(self, value: u64) -> usize {
        let index = self.index(value);
        // Round up to the end of the bucket holding `index`.
        let half = self.half();
        (index / half + 1) * half
    }
}

/// An HDR-style log-linear histogram of `u64` values (nanoseconds by default).
///
/// Recording is `O(1)` and never fails: the range grows on demand up to `u64::MAX`. The count,
/// minimum, maximum and sum are exact; quantiles are within the configured relative error (see
/// the [module documentation](self) for the precise definition).
///
/// ```
/// use perfkit_metrics::Histogram;
///
/// let mut h = Histogram::new();
/// for v in 1..=1000u64 {
///     h.record(v * 1_000); // 1 µs .. 1 ms, in nanoseconds
/// }
/// assert_eq!(h.count(), 1000);
/// assert_eq!(h.min(), Some(1_000));
/// let p99 = h.quantile(0.99).unwrap();
/// assert!((990_000..=990_000 + 990).contains(&p99)); // within 0.1%
/// let [p50, p999] = h.quantiles([0.5, 0.999]).unwrap();
/// assert!(p50 <= p999);
/// ```
#[derive(Clone)]
pub struct Histogram {
    layout: Layout,
    counts: Vec<u64>,
    total: u64,
    min: u64,
    max: u64,
    sum: u128,
}

/// One non-empty slot of a histogram: every value in `low..=high` was counted `count` times.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// Lowest value that maps to this slot.
    pub low: u64,
    /// Highest value that maps to this slot.
    pub high: u64,
    /// Number of recorded values in this slot.
    pub count: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    /// An empty histogram with 3 significant digits (0.1% relative error).
    #[must_use]
    pub fn new() -> Self {
        Self::from_layout(Layout::DEFAULT)
    }

    /// An empty histogram with `digits` significant decimal digits (1 to 5).
    pub fn with_precision(digits: u8) -> Result<Self, MetricsError> {
        Ok(Self::from_layout(Layout::new(digits)?))
    }

    /// An empty histogram with `digits` significant digits whose slots are allocated up front for
    /// values up to `max_value`, so recording values below it never allocates. Larger values still
    /// work: the range grows on demand.
    pub fn with_max(max_value: u64, digits: u8) -> Result<Self, MetricsError> {
        let mut h = Self::with_precision(digits)?;
        h.counts.resize(h.layout.len_for(max_value), 0);
        Ok(h)
    }

    pub(crate) fn from_layout(layout: Layout) -> Self {
        Self {
            layout,
            counts: Vec::new(),
            total: 0,
            min: u64::MAX,
            max: 0,
            sum: 0,
        }
    }

    /// The configured number of significant decimal digits.
    #[must_use]
    pub fn significant_digits(&self) -> u8 {
        self.layout.digits
    }

    /// The largest relative error of a reported value: `10^-digits`.
    #[must_use]
    pub fn relative_error(&self) -> f64 {
        10f64.powi(-i32::from(self.layout.digits))
    }

    /// Records one occurrence of `value`.
    #[inline]
    pub fn record(&mut self, value: u64) {
        let index = self.layout.index(value);
        if let Some(slot) = self.counts.get_mut(index) {
            *slot = slot.saturating_add(1);
        } else {
            self.grow_and_add(index, value, 1);
        }
        self.total = self.total.saturating_add(1);
        self.sum += u128::from(value);
        if value < self.min {
            self.min = value;
        }
        if value > self.max {
            self.max = value;
        }
    }

    /// Records a [`Duration`] as nanoseconds (saturating at `u64::MAX` ns, about 584 years).
    #[inline]
    pub fn record_duration(&mut self, duration: Duration) {
        self.record(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Records `count` occurrences of `value`. Recording a count of zero changes nothing.
    pub fn record_n(&mut self, value: u64, count: u64) {
        if count == 0 {
            return;
        }
        let index = self.layout.index(value);
        if let Some(slot) = self.counts.get_mut(index) {
            *slot = slot.saturating_add(count);
        } else {
            self.grow_and_add(index, value, count);
        }
        self.total = self.total.saturating_add(count);
        self.sum = self
            .sum
            .saturating_add(u128::from(value) * u128::from(count));
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    #[cold]
    #[inline(never)]
    fn grow_and_add(&mut self, index: usize, value: u64, count: u64) {
        self.counts.resize(self.layout.len_for(value), 0);
        self.counts[index] = count;
    }

    /// Records `value` and corrects for *coordinated omission*.
    ///
    /// Use this when a load generator sends requests at a fixed rate, one every
    /// `expected_interval`, and waits for each response before sending the next: a stall of
    /// length `value` then hides the requests that would have been sent during the stall, and
    /// their (long) latencies never get measured. This method records `value` and, as if those
    /// requests had been sent, the synthetic values `value - k·expected_interval` for every
    /// `k ≥ 1` while they stay `≥ expected_interval`.
    ///
    /// Do not use it for open-loop generators (which keep sending during a stall) or when the
    /// values are not latencies of evenly spaced operations; there it inflates the tail.
    ///
    /// Unlike a naive loop, this costs `O(buckets)` rather than `O(value / expected_interval)`,
    /// so a huge stall with a tiny interval cannot hang the caller. An `expected_interval` of 0
    /// records `value` without correction.
    pub fn record_corrected(&mut self, value: u64, expected_interval: u64) {
        self.record(value);
        if expected_interval == 0 || value <= expected_interval {
            return;
        }
        // Terms t_k = value - k·I for k = 1..=m, all >= I.
        let interval = expected_interval;
        let m = value / interval - 1;
        if m == 0 {
            return;
        }
        if m <= 64 {
            for k in 1..=m {
                self.record(value - k * interval);
            }
            return;
        }
        let lowest = value - m * interval;
        let highest = value - interval;
        let first = self.layout.index(lowest);
        let last = self.layout.index(highest);
        if last >= self.counts.len() {
            self.counts.resize(self.layout.len_for(highest), 0);
        }
        for index in first..=last {
            let (low, high) = self.layout.range(index);
            let a = low.max(lowest);
            let b = high.min(highest);
            // k such that a <= value - k·I <= b.
            let k_min = (value - b).div_ceil(interval);
            let k_max = (value - a) / interval;
            if k_max >= k_min {
                let n = k_max - k_min + 1;
                self.counts[index] = self.counts[index].saturating_add(n);
            }
        }
        // Sum of the arithmetic series: m·value - I·m(m+1)/2.
        let m128 = u128::from(m);
        let series = m128 * u128::from(value) - u128::from(interval) * (m128 * (m128 + 1) / 2);
        self.total = self.total.saturating_add(m);
        self.sum = self.sum.saturating_add(series);
        self.min = self.min.min(lowest);
    }

    /// Adds every value recorded in `other` into `self`.
    ///
    /// Histograms of the same precision merge exactly (slot by slot). When the precisions differ,
    /// each slot of `other` is re-recorded at its highest value, so the result has the coarser of
    /// the two errors. Count, sum, minimum and maximum stay exact either way.
    pub fn merge(&mut self, other: &Histogram) {
        if other.total == 0 {
            return;
        }
        if self.layout == other.layout {
            if self.counts.len() < other.counts.len() {
                self.counts.resize(other.counts.len(), 0);
            }
            for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
                *mine = mine.saturating_add(*theirs);
            }
        } else {
            for bucket in other.iter() {
                let value = bucket.high.min(other.max).max(other.min);
                let index = self.layout.index(value);
                if index >= self.counts.len() {
                    self.counts.resize(self.layout.len_for(value), 0);
                }
                self.counts[index] = self.counts[index].saturating_add(bucket.count);
            }
        }
        self.total = self.total.saturating_add(other.total);
        self.sum = self.sum.saturating_add(other.sum);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Removes every recorded value, keeping the precision and the allocated range.
    pub fn reset(&mut self) {
        self.counts.fill(0);
        self.total = 0;
        self.min = u64::MAX;
        self.max = 0;
        self.sum = 0;
    }

    /// Number of recorded values.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.total
    }

    /// Whether nothing has been recorded.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The exact smallest recorded value, or `None` when empty.
    #[must_use]
    pub fn min(&self) -> Option<u64> {
        (self.total > 0).then_some(self.min)
    }

    /// The exact largest recorded value, or `None` when empty.
    #[must_use]
    pub fn max(&self) -> Option<u64> {
        (self.total > 0).then_some(self.max)
    }

    /// The exact sum of recorded values (saturating at `u128::MAX`).
    #[must_use]
    pub fn sum(&self) -> u128 {
        self.sum
    }

    /// The exact arithmetic mean, or `None` when empty.
    #[must_use]
    pub fn mean(&self) -> Option<f64> {
        (self.total > 0).then(|| self.sum as f64 / self.total as f64)
    }

    /// The sample standard deviation (with Bessel's correction, `n - 1`), computed from the slots
    /// (each value taken at its slot's midpoint, clamped to min/max) around the exact mean.
    /// `None` when empty; `0.0` for a single value.
    #[must_use]
    pub fn stddev(&self) -> Option<f64> {
        let mean = self.mean()?;
        if self.total < 2 {
            return Some(0.0);
        }
        let mut squares = 0.0;
        for b in self.iter() {
            let mid = u64::midpoint(b.low, b.high).clamp(self.min, self.max);
            let d = mid as f64 - mean;
            squares += d * d * b.count as f64;
        }
        Some((squares / (self.total - 1) as f64).sqrt())
    }

    /// The `q`-quantile (`0.0 ..= 1.0`) by the nearest-rank definition (see the module docs).
    /// `None` when the histogram is empty or `q` is outside `0..=1` or NaN.
    #[must_use]
    pub fn quantile(&self, q: f64) -> Option<u64> {
        self.quantiles([q]).map(|[v]| v)
    }

    /// Several quantiles in one pass over the slots, in the order given.
    /// `None` when the histogram is empty or any `q` is outside `0..=1` or NaN.
    ///
    /// ```
    /// # use perfkit_metrics::Histogram;
    /// let mut h = Histogram::new();
    /// h.record_n(7, 10);
    /// assert_eq!(h.quantiles([0.99, 0.5]), Some([7, 7]));
    /// ```
    #[must_use]
    pub fn quantiles<const N: usize>(&self, qs: [f64; N]) -> Option<[u64; N]> {
        /// Slots summed at once to skip ahead quickly.
        const CHUNK: usize = 32;
        if self.total == 0 || qs.iter().any(|q| !(0.0..=1.0).contains(q)) {
            return None;
        }
        // Ranks, visited in ascending order.
        let ranks = qs.map(|q| rank(q, self.total));
        let mut order: [usize; N] = std::array::from_fn(|i| i);
        order.sort_unstable_by_key(|&i| ranks[i]);
        let mut out = [0u64; N];
        let mut next = 0;
        // Ranks at the ends are exact.
        while next < N && ranks[order[next]] <= 1 {
            out[order[next]] = self.min;
            next += 1;
        }
        let start = self.layout.index(self.min);
        let end = self.layout.index(self.max) + 1;
        let counts = &self.counts[start..end];
        let mut running = 0u64;
        let mut base = start;
        let mut chunks = counts.chunks_exact(CHUNK);
        'outer: for chunk in chunks.by_ref() {
            if next == N {
                break;
            }
            let chunk_sum: u64 = chunk.iter().fold(0u64, |a, &c| a.wrapping_add(c));
            if running.saturating_add(chunk_sum) < ranks[order[next]] {
                running += chunk_sum;
                base += CHUNK;
                continue;
            }
            for (offset, &c) in chunk.iter().enumerate() {
                running = running.saturating_add(c);
                while running >= ranks[order[next]] {
                    out[order[next]] = self.reported(base + offset);
                    next += 1;
                    if next == N {
                        break 'outer;
                    }
                }
            }
            base += CHUNK;
        }
        for (offset, &c) in chunks.remainder().iter().enumerate() {
            if next == N {
                break;
            }
            running = running.saturating_add(c);
            while next < N && running >= ranks[order[next]] {
                out[order[next]] = self.reported(base + offset);
                next += 1;
            }
        }
        // Saturated counts could leave ranks unreached; those are at the maximum.
        while next < N {
            out[order[next]] = self.max;
            next += 1;
        }
        Some(out)
    }

    /// The value reported for slot `index`: its highest value, clamped to the exact extremes.
    fn reported(&self, index: usize) -> u64 {
        self.layout.range(index).1.clamp(self.min, self.max)
    }

    /// The `q`-quantile as a [`Duration`], for histograms of nanoseconds.
    #[must_use]
    pub fn quantile_duration(&self, q: f64) -> Option<Duration> {
        self.quantile(q).map(Duration::from_nanos)
    }

    /// The non-empty slots in ascending order of value.
    pub fn iter(&self) -> impl Iterator<Item = Bucket> + '_ {
        let layout = self.layout;
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(move |(i, &count)| {
                let (low, high) = layout.range(i);
                Bucket { low, high, count }
            })
    }

    /// Number of bytes this histogram occupies (the struct and its counters).
    #[must_use]
    pub fn memory_size(&self) -> usize {
        std::mem::size_of::<Self>() + self.counts.capacity() * std::mem::size_of::<u64>()
    }

    /// Builds a histogram from raw slot counts read from the concurrent recorder's shards.
    /// Keeps min/max inside the first/last non-empty slot, which a racing read can miss.
    pub(crate) fn from_parts(
        layout: Layout,
        counts: Vec<u64>,
        min: u64,
        max: u64,
        sum: u128,
    ) -> Self {
        let total = counts.iter().fold(0u64, |a, &c| a.saturating_add(c));
        let mut h = Self {
            layout,
            counts,
            total,
            min: u64::MAX,
            max: 0,
            sum: 0,
        };
        if total == 0 {
            return h;
        }
        let first = h.counts.iter().position(|&c| c > 0).unwrap_or(0);
        let last = h.counts.iter().rposition(|&c| c > 0).unwrap_or(0);
        let (first_low, first_high) = layout.range(first);
        let (last_low, last_high) = layout.range(last);
        h.min = min.clamp(first_low, first_high);
        h.max = max.clamp(last_low, last_high);
        h.sum = sum;
        h
    }
}

/// The nearest rank of quantile `q` among `n` values: `max(1, ceil(q·n))`, robust to the
/// rounding of `q·n` (0.99 · 100 must give 99, not 100).
pub(crate) fn rank(q: f64, n: u64) -> u64 {
    let exact = q * n as f64;
    let r = (exact - exact * 4.0 * f64::EPSILON).ceil();
    (r as u64).clamp(1, n)
}

impl Extend<u64> for Histogram {
    /// Records every value.
    fn extend<I: IntoIterator<Item = u64>>(&mut self, values: I) {
        for v in values {
            self.record(v);
        }
    }
}

impl<'a> Extend<&'a u64> for Histogram {
    /// Records every value.
    fn extend<I: IntoIterator<Item = &'a u64>>(&mut self, values: I) {
        self.extend(values.into_iter().copied());
    }
}

impl FromIterator<u64> for Histogram {
    /// A 3-digit histogram of the values.
    ///
    /// ```
    /// # use perfkit_metrics::Histogram;
    /// let h: Histogram = (1..=100u64).collect();
    /// assert_eq!(h.quantile(0.5), Some(50));
    /// ```
    fn from_iter<I: IntoIterator<Item = u64>>(values: I) -> Self {
        let mut h = Histogram::new();
        h.extend(values);
        h
    }
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Histogram")
            .field("significant_digits", &self.layout.digits)
            .field("count", &self.total)
            .field("min", &self.min())
            .field("max", &self.max())
            .field("mean", &self.mean())
            .field("slots", &self.counts.len())
            .finish_non_exhaustive()
    }
}

impl PartialEq for Histogram {
    /// Two histograms are equal when they hold the same values at the same precision, whatever
    /// their allocated range.
    fn eq(&self, other: &Self) -> bool {
        if self.layout != other.layout
            || self.total != other.total
            || self.sum != other.sum
            || self.min() != other.min()
            || self.max() != other.max()
        {
            return false;
        }
        let n = self.counts.len().max(other.counts.len());
        (0..n).all(|i| self.counts.get(i).unwrap_or(&0) == other.counts.get(i).unwrap_or(&0))
    }
}

impl Eq for Histogram {}

// ---------------------------------------------------------------------------------------------
// Serialisation: sparse and compact. See docs/formats.md.
// ---------------------------------------------------------------------------------------------

/// Wire form. `counts` is run-length encoded: a non-negative number is the count of the next
/// slot; a negative number `-n` skips `n` empty slots. Trailing empty slots are dropped. It is
/// read into `Wire<Vec<Cell>>` and written from `Wire<CellsFrom>`, which encodes the
/// histogram's own counts without a copy.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire<C> {
    version: u32,
    significant_digits: u8,
    count: u64,
    min: Option<u64>,
    max: Option<u64>,
    sum: u128,
    counts: C,
}

enum Cell {
    Count(u64),
    Zeros(u64),
}

impl Serialize for Cell {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Cell::Count(c) => s.serialize_u64(c),
            Cell::Zeros(n) => s.serialize_i64(-(i64::try_from(n).unwrap_or(i64::MAX))),
        }
    }
}

impl<'de> Deserialize<'de> for Cell {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct CellVisitor;
        impl Visitor<'_> for CellVisitor {
            type Value = Cell;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a slot count (>= 0) or a run of empty slots (< 0)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Cell, E> {
                Ok(Cell::Count(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Cell, E> {
                if v >= 0 {
                    Ok(Cell::Count(v.unsigned_abs()))
                } else {
                    Ok(Cell::Zeros(v.unsigned_abs()))
                }
            }
        }
        d.deserialize_any(CellVisitor)
    }
}

struct CellsFrom<'a>(&'a [u64]);

impl Serialize for CellsFrom<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let last = self.0.iter().rposition(|&c| c > 0).map_or(0, |i| i + 1);
        let mut seq = s.serialize_seq(None)?;
        let mut zeros = 0u64;
        for &c in &self.0[..last] {
            if c == 0 {
                zeros += 1;
                continue;
            }
            if zeros > 0 {
                seq.serialize_element(&Cell::Zeros(zeros))?;
                zeros = 0;
            }
            seq.serialize_element(&Cell::Count(c))?;
        }
        seq.end()
    }
}

impl Serialize for Histogram {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Wire {
            version: HISTOGRAM_FORMAT_VERSION,
            significant_digits: self.layout.digits,
            count: self.total,
            min: self.min(),
            max: self.max(),
            sum: self.sum,
            counts: CellsFrom(&self.counts),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Histogram {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = Wire::<Vec<Cell>>::deserialize(d)?;
        Histogram::from_wire(wire).map_err(de::Error::custom)
    }
}

impl Histogram {
    fn from_wire(wire: Wire<Vec<Cell>>) -> Result<Self, String> {
        if wire.version != HISTOGRAM_FORMAT_VERSION {
            return Err(format!(
                "histogram format version {} is not supported (this perfkit reads version {})",
                wire.version, HISTOGRAM_FORMAT_VERSION
            ));
        }
        let layout = Layout::new(wire.significant_digits).map_err(|e| e.to_string())?;
        let max_len = layout.max_len();
        let mut counts = Vec::new();
        for cell in wire.counts {
            match cell {
                Cell::Count(c) => counts.push(c),
                Cell::Zeros(n) => {
                    let n = usize::try_from(n).unwrap_or(usize::MAX);
                    if n > max_len.saturating_sub(counts.len()) {
                        return Err("histogram counts cover more slots than u64 has".into());
                    }
                    counts.resize(counts.len() + n, 0);
                }
            }
            if counts.len() > max_len {
                return Err("histogram counts cover more slots than u64 has".into());
            }
        }
        let total = counts.iter().try_fold(0u64, |a, &c| a.checked_add(c));
        if total != Some(wire.count) {
            return Err(format!(
                "histogram count {} does not match the sum of its slots",
                wire.count
            ));
        }
        let (min, max) = match (wire.count, wire.min, wire.max) {
            (0, None, None) => return Ok(Histogram::from_layout(layout)),
            (0, _, _) => return Err("an empty histogram cannot have a min or max".into()),
            (_, Some(min), Some(max)) if min <= max => (min, max),
            _ => return Err("a non-empty histogram needs min <= max".into()),
        };
        let first = counts.iter().position(|&c| c > 0).unwrap_or(0);
        let last = counts.iter().rposition(|&c| c > 0).unwrap_or(0);
        if layout.index(min) != first || layout.index(max) != last {
            return Err("histogram min/max do not match its first/last non-empty slot".into());
        }
        let (lo, hi) = (
            u128::from(min) * u128::from(wire.count),
            u128::from(max) * u128::from(wire.count),
        );
        if wire.sum < lo || wire.sum > hi {
            return Err("histogram sum is inconsistent with its count, min and max".into());
        }
        // Everything was checked above: no need to recount or re-clamp.
        Ok(Histogram {
            layout,
            counts,
            total: wire.count,
            min,
            max,
            sum: wire.sum,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_hdr_geometry() {
        let l = Layout::new(3).unwrap();
        assert_eq!(l.half(), 1024);
        assert_eq!(l.index(0), 0);
        assert_eq!(l.index(2047), 2047);
        assert_eq!(l.index(2048), 2048);
        assert_eq!(l.index(2049), 2048);
        assert_eq!(l.index(4095), 3071);
        assert_eq!(l.index(4096), 3072);
        assert_eq!(l.range(2048), (2048, 2049));
        assert_eq!(l.range(l.max_len() - 1).1, u64::MAX);
        for digits in 1..=5 {
            let l = Layout::new(digits).unwrap();
            // Every slot's range maps back to that slot.
            for i in (0..l.max_len()).step_by(97).chain([l.max_len() - 1]) {
                let (lo, hi) = l.range(i);
                assert_eq!(l.index(lo), i);
                assert_eq!(l.index(hi), i);
                if lo > 0 {
                    assert!(((hi - lo) as f64) / (lo as f64) < 10f64.powi(-i32::from(digits)));
                }
            }
        }
    }

    #[test]
    fn invalid_precision_is_an_error() {
        assert!(Histogram::with_precision(0).is_err());
        assert!(Histogram::with_precision(6).is_err());
    }

    #[test]
    fn one_ns_to_one_hour_at_three_digits_fits_in_300_kib() {
        let hour_ns = 3_600 * 1_000_000_000u64;
        let mut h = Histogram::with_max(hour_ns, 3).unwrap();
        let preallocated = h.memory_size();
        h.record(1);
        h.record(hour_ns);
        assert_eq!(h.memory_size(), preallocated);
        assert!(preallocated <= 300 * 1024, "{preallocated} bytes");
        // Growing on demand ends at the same size.
        let mut g = Histogram::new();
        g.record(1);
        g.record(hour_ns);
        assert!(g.memory_size() <= 300 * 1024, "{} bytes", g.memory_size());
    }

    #[test]
    fn extremes_and_zero() {
        let mut h = Histogram::new();
        h.record(0);
        h.record(u64::MAX);
        assert_eq!(h.quantile(0.0), Some(0));
        assert_eq!(h.quantile(0.5), Some(0));
        assert_eq!(h.quantile(1.0), Some(u64::MAX));
        assert_eq!(h.sum(), u128::from(u64::MAX));
        assert_eq!(h.quantile(1.5), None);
        assert_eq!(h.quantile(f64::NAN), None);
        assert_eq!(Histogram::new().quantile(0.5), None);
    }

    #[test]
    fn rank_is_robust_to_rounding() {
        assert_eq!(rank(0.99, 100), 99);
        assert_eq!(rank(0.999, 1000), 999);
        assert_eq!(rank(0.5, 3), 2);
        assert_eq!(rank(0.0, 10), 1);
        assert_eq!(rank(1.0, 10), 10);
        assert_eq!(rank(0.1, 30), 3);
    }

    #[test]
    fn corrected_matches_naive_loop() {
        for &(value, interval) in &[
            (10_000u64, 100u64),
            (1_000_000, 7),
            (5_000, 5_000),
            (123_456, 1),
        ] {
            let mut fast = Histogram::new();
            fast.record_corrected(value, interval);
            let mut naive = Histogram::new();
            naive.record(value);
            let mut v = value;
            while v > interval && v - interval >= interval {
                v -= interval;
                naive.record(v);
            }
            assert_eq!(fast, naive, "value {value} interval {interval}");
        }
    }

    #[test]
    fn huge_correction_is_fast() {
        let mut h = Histogram::new();
        h.record_corrected(u64::MAX / 2, 1);
        assert_eq!(h.count(), u64::MAX / 2);
        assert_eq!(h.min(), Some(1));
    }

    #[test]
    fn serde_rejects_inconsistent_input() {
        let bad = [
            r#"{"version":1,"significant_digits":3,"count":2,"min":1,"max":1,"sum":2,"counts":[0,1]}"#,
            r#"{"version":1,"significant_digits":9,"count":0,"min":null,"max":null,"sum":0,"counts":[]}"#,
            r#"{"version":2,"significant_digits":3,"count":0,"min":null,"max":null,"sum":0,"counts":[]}"#,
            r#"{"version":1,"significant_digits":3,"count":1,"min":5,"max":5,"sum":5,"counts":[-4,1]}"#,
            r#"{"version":1,"significant_digits":3,"count":1,"min":5,"max":5,"sum":5,"counts":[-9223372036854775808]}"#,
            r#"{"version":1,"significant_digits":3,"count":1,"min":4,"max":4,"sum":99,"counts":[-4,1]}"#,
        ];
        for text in bad {
            assert!(serde_json::from_str::<Histogram>(text).is_err(), "{text}");
        }
        let good = r#"{"version":1,"significant_digits":3,"count":1,"min":4,"max":4,"sum":4,"counts":[-4,1]}"#;
        let h: Histogram = serde_json::from_str(good).unwrap();
        assert_eq!(h.quantile(0.5), Some(4));
    }
}
