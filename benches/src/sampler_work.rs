//! The sampler benchmark's workloads: two worker threads that live for the whole run (so
//! that every sampler sees the same threads) and do one unit of a job per round.

use std::hint::black_box;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;

/// One worker per core of the benchmark machine.
pub const WORKERS: usize = 2;

/// What the workers do in a round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Job {
    /// About ten milliseconds of arithmetic.
    Cpu = 0,
    /// About ten milliseconds of allocating and freeing.
    Alloc = 1,
    /// Leave.
    Exit = 2,
}

/// Worker threads that each do one unit of the current job per round.
#[derive(Debug)]
pub struct Workers {
    job: Arc<AtomicU8>,
    start: Arc<Barrier>,
    end: Arc<Barrier>,
    threads: Vec<JoinHandle<u64>>,
}

impl Workers {
    /// Starts the workers.
    #[must_use]
    pub fn new() -> Workers {
        let job = Arc::new(AtomicU8::new(Job::Cpu as u8));
        let start = Arc::new(Barrier::new(WORKERS + 1));
        let end = Arc::new(Barrier::new(WORKERS + 1));
        let threads = (0..WORKERS as u64)
            .map(|seed| {
                let (job, start, end) = (job.clone(), start.clone(), end.clone());
                std::thread::spawn(move || {
                    let mut acc = 0;
                    loop {
                        start.wait();
                        match job.load(Ordering::Acquire) {
                            0 => acc ^= cpu_unit(seed),
                            1 => acc ^= alloc_unit(seed),
                            _ => return acc,
                        }
                        end.wait();
                    }
                })
            })
            .collect();
        Workers {
            job,
            start,
            end,
            threads,
        }
    }

    /// One round: every worker does one unit of `job`.
    pub fn round(&self, job: Job) {
        self.job.store(job as u8, Ordering::Release);
        self.start.wait();
        self.end.wait();
    }
}

impl Default for Workers {
    fn default() -> Workers {
        Workers::new()
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.job.store(Job::Exit as u8, Ordering::Release);
        self.start.wait();
        for t in self.threads.drain(..) {
            black_box(t.join().expect("a worker"));
        }
    }
}

/// About ten milliseconds of arithmetic: long beside the cost of waking the workers.
#[inline(never)]
fn cpu_unit(seed: u64) -> u64 {
    let mut x = black_box(seed | 1);
    for i in 0..20_000_000u64 {
        x = x.rotate_left(5) ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    x
}

/// About ten milliseconds of allocating and freeing blocks of varied sizes.
#[inline(never)]
fn alloc_unit(seed: u64) -> u64 {
    let mut n = seed;
    let mut kept: Vec<Vec<u8>> = Vec::with_capacity(64);
    let mut acc = 0;
    for _ in 0..120_000 {
        n = n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let size = 16 + (n >> 40) as usize % 2048;
        let block = vec![n as u8; size];
        acc += u64::from(block[size / 2]);
        if kept.len() < 64 {
            kept.push(block);
        } else {
            kept[(n >> 20) as usize % 64] = block;
        }
    }
    acc
}
