//! The allocation-heavy workload of `heap_profile_overhead`: what a text-processing program
//! does to its heap, on an input fixed by a seed.
//!
//! One call builds an index of words (a `HashMap<String, Vec<u32>>` of positions), sorts the
//! distinct words into a `Vec<String>`, joins them into one `String`, and keeps records of
//! mixed sizes (16 B to 4 KiB) in a `BTreeMap` while dropping older ones: short-lived and
//! long-lived blocks, `realloc` growth, and about 2 MB allocated. Everything is freed before
//! it returns.
//!
//! ```
//! let a = perfkit_benches::heap_work::index_words(7);
//! let b = perfkit_benches::heap_work::index_words(7);
//! assert_eq!(a, b);
//! ```

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;

/// Words of the input.
pub const WORDS: usize = 20_000;

/// Runs the workload once; returns a checksum of what it built.
#[must_use]
pub fn index_words(seed: u64) -> u64 {
    let mut state = seed;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    let mut index: HashMap<String, Vec<u32>> = HashMap::new();
    let mut records: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    for position in 0..WORDS as u32 {
        let len = 3 + (next() % 10) as usize;
        let word: String = (0..len)
            .map(|_| char::from(b'a' + (next() % 6) as u8))
            .collect();
        index.entry(word).or_default().push(position);
        let key = next();
        let size = 16usize << (next() % 9);
        records.insert(key, vec![position as u8; size]);
        if records.len() > 256 {
            records.pop_first();
        }
    }
    let mut words: Vec<String> = index.keys().cloned().collect();
    words.sort_unstable();
    let joined = words.join(" ");
    let checksum = joined.len() as u64
        + index.values().map(|v| v.len() as u64).sum::<u64>()
        + records.values().map(|r| r.len() as u64).sum::<u64>();
    black_box(checksum)
}
