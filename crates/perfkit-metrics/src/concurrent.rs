//! A histogram that several threads record into without a lock.
//!
//! Each thread gets its own [`Recorder`]. A recorder owns a private set of counters that only it
//! writes (a relaxed load and a relaxed store: no `lock`-prefixed instruction, no cache line
//! shared with another writer), allocated lazily in blocks of one bucket. Readers call
//! [`ConcurrentHistogram::snapshot`] at any time, which sums every recorder's counters into a
//! plain [`Histogram`]; recording never waits for a reader and a reader never waits for a
//! recorder.
//!
//! A snapshot taken while recorders are running is not atomic: it may contain some of the values
//! recorded during the snapshot and not others. Counts, min and max in the snapshot are
//! consistent with each other; the sum may include a few values whose slots were read before
//! they were counted.

use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crate::MetricsError;
use crate::histogram::{Histogram, Layout};

/// A histogram shared by several recording threads; see the [module documentation](self).
///
/// ```
/// use perfkit_metrics::ConcurrentHistogram;
///
/// let shared = ConcurrentHistogram::new();
/// std::thread::scope(|s| {
///     for t in 0..2u64 {
///         let mut recorder = shared.recorder();
///         s.spawn(move || {
///             for v in 0..1000 {
///                 recorder.record(t * 1000 + v);
///             }
///         });
///     }
/// });
/// let h = shared.snapshot();
/// assert_eq!(h.count(), 2000);
/// assert_eq!(h.max(), Some(1999));
/// ```
#[derive(Debug)]
pub struct ConcurrentHistogram {
    layout: Layout,
    shards: Mutex<Vec<Arc<Shard>>>,
}

#[derive(Debug)]
struct Shard {
    /// One block per bucket (`half` slots each; bucket 0 spans blocks 0 and 1).
    blocks: Box<[OnceLock<Box<[AtomicU64]>>]>,
    sum: AtomicU64,
    min: AtomicU64,
    max: AtomicU64,
}

impl Shard {
    fn new(layout: Layout) -> Self {
        let blocks = layout.max_len().div_ceil(layout.half());
        Self {
            blocks: (0..blocks).map(|_| OnceLock::new()).collect(),
            sum: AtomicU64::new(0),
            min: AtomicU64::new(u64::MAX),
            max: AtomicU64::new(0),
        }
    }
}

impl Default for ConcurrentHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl ConcurrentHistogram {
    /// A shared histogram with 3 significant digits.
    #[must_use]
    pub fn new() -> Self {
        Self::with_layout(Layout::DEFAULT)
    }

    /// A shared histogram with `digits` significant digits (1 to 5).
    pub fn with_precision(digits: u8) -> Result<Self, MetricsError> {
        Ok(Self::with_layout(Layout::new(digits)?))
    }

    fn with_layout(layout: Layout) -> Self {
        Self {
            layout,
            shards: Mutex::new(Vec::new()),
        }
    }

    /// A new recorder for one thread. Creating one takes a short lock; recording takes none.
    /// Values recorded by a recorder stay in the histogram after the recorder is dropped.
    pub fn recorder(&self) -> Recorder {
        let shard = Arc::new(Shard::new(self.layout));
        self.shards
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::clone(&shard));
        Recorder {
            layout: self.layout,
            shard,
            local_min: u64::MAX,
            local_max: 0,
            local_sum: 0,
            _not_sync: PhantomData,
        }
    }

    /// Sums every recorder's counters into a plain histogram.
    #[must_use]
    pub fn snapshot(&self) -> Histogram {
        let shards = self
            .shards
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let half = self.layout.half();
        let mut counts: Vec<u64> = Vec::new();
        let (mut min, mut max, mut sum) = (u64::MAX, 0u64, 0u128);
        for shard in &shards {
            for (b, block) in shard.blocks.iter().enumerate() {
                let Some(block) = block.get() else { continue };
                let base = b * half;
                if counts.len() < base + half {
                    counts.resize(base + half, 0);
                }
                for (slot, c) in counts[base..base + half].iter_mut().zip(block.iter()) {
                    *slot = slot.saturating_add(c.load(Relaxed));
                }
            }
            min = min.min(shard.min.load(Relaxed));
            max = max.max(shard.max.load(Relaxed));
            sum += u128::from(shard.sum.load(Relaxed));
        }
        Histogram::from_parts(self.layout, counts, min, max, sum)
    }
}

/// A per-thread handle that records into a [`ConcurrentHistogram`] without locking.
///
/// `Send` (move it into the thread that records) but not `Sync`: its counters have exactly one
/// writer.
#[derive(Debug)]
pub struct Recorder {
    layout: Layout,
    shard: Arc<Shard>,
    local_min: u64,
    local_max: u64,
    local_sum: u64,
    _not_sync: PhantomData<Cell<()>>,
}

impl Recorder {
    /// Records one occurrence of `value`. Never blocks, never fails.
    ///
    /// The sum of values is kept per recorder in 64 bits and saturates at `u64::MAX`
    /// (584 years of nanoseconds).
    #[inline]
    pub fn record(&mut self, value: u64) {
        let index = self.layout.index(value);
        let block = index >> self.layout.half_mag;
        let offset = index & (self.layout.half() - 1);
        let cell = &self.block(block)[offset];
        cell.store(cell.load(Relaxed).wrapping_add(1), Relaxed);
        self.local_sum = self.local_sum.saturating_add(value);
        self.shard.sum.store(self.local_sum, Relaxed);
        if value < self.local_min {
            self.local_min = value;
            self.shard.min.store(value, Relaxed);
        }
        if value > self.local_max {
            self.local_max = value;
            self.shard.max.store(value, Relaxed);
        }
    }

    /// Records a [`std::time::Duration`] as nanoseconds (saturating).
    #[inline]
    pub fn record_duration(&mut self, duration: std::time::Duration) {
        self.record(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX));
    }

    #[inline]
    fn block(&self, block: usize) -> &[AtomicU64] {
        match self.shard.blocks[block].get() {
            Some(b) => b,
            None => self.allocate(block),
        }
    }

    #[cold]
    #[inline(never)]
    fn allocate(&self, block: usize) -> &[AtomicU64] {
        let half = self.layout.half();
        self.shard.blocks[block].get_or_init(|| (0..half).map(|_| AtomicU64::new(0)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_equals_single_threaded_histogram() {
        let shared = ConcurrentHistogram::new();
        let values: Vec<u64> = (0..20_000u64).map(|i| i * i * 31 % 1_000_000_007).collect();
        std::thread::scope(|s| {
            for part in values.chunks(5_000) {
                let mut r = shared.recorder();
                s.spawn(move || part.iter().for_each(|&v| r.record(v)));
            }
        });
        let mut expected = Histogram::new();
        expected.extend(&values);
        assert_eq!(shared.snapshot(), expected);
    }

    #[test]
    fn empty_snapshot() {
        let shared = ConcurrentHistogram::with_precision(2).unwrap();
        let _r = shared.recorder();
        let h = shared.snapshot();
        assert!(h.is_empty());
        assert_eq!(h.significant_digits(), 2);
    }
}
