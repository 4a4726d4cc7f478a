//! The allocator installed for real, as a user installs it: exact counts for known patterns.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;

use perfkit_alloc::{AllocStats, Region, TrackingAllocator, measure};

#[global_allocator]
static ALLOCATOR: TrackingAllocator<System> = TrackingAllocator::new(System);

#[test]
fn a_box_is_one_allocation_of_its_size() {
    let ((), stats) = measure(|| drop(black_box(Box::new(7u64))));
    assert_eq!(
        stats,
        AllocStats {
            current_bytes: 0,
            peak_bytes: 8,
            allocated_bytes: 8,
            freed_bytes: 8,
            allocs: 1,
            deallocs: 1,
            reallocs: 0,
        }
    );
    let (kept, stats) = measure(|| black_box(Box::new([0u8; 100])));
    assert_eq!(
        (stats.current_bytes, stats.allocs, stats.deallocs),
        (100, 1, 0)
    );
    drop(kept);
}

#[test]
fn vec_growth_is_realloc_accounted_once_per_step() {
    let (v, stats) = measure(|| {
        let mut v: Vec<u8> = Vec::with_capacity(16);
        while v.capacity() < 1024 {
            v.reserve_exact(v.capacity() * 2); // len 0: capacity 16 → 32 → … → 1024, six reallocs
        }
        black_box(v)
    });
    assert_eq!(v.capacity(), 1024);
    assert_eq!(stats.allocs, 1);
    assert_eq!(stats.reallocs, 6);
    assert_eq!(stats.deallocs, 0);
    assert_eq!(stats.allocated_bytes, 1024);
    assert_eq!(stats.current_bytes, 1024);
    assert_eq!(stats.peak_bytes, 1024);
    let ((), stats) = measure(|| drop(v));
    assert_eq!(
        (stats.freed_bytes, stats.deallocs, stats.net_bytes()),
        (1024, 1, -1024)
    );
}

#[test]
fn a_string_counts_its_bytes() {
    let (s, stats) = measure(|| String::from("hello, perfkit"));
    assert_eq!(stats.allocated_bytes, 14);
    assert_eq!(stats.current_bytes, 14);
    drop(s);
}

#[test]
fn the_peak_of_a_closure_is_the_most_it_had_live() {
    let ((), stats) = measure(|| {
        for _ in 0..3 {
            drop(black_box(vec![0u8; 10_000]));
        }
        let big = black_box(vec![0u8; 50_000]);
        drop(big);
    });
    assert_eq!(stats.peak_bytes, 50_000);
    assert_eq!(stats.current_bytes, 0);
    assert_eq!(stats.allocated_bytes, 80_000);
}

// An inner allocator that refuses everything: nothing may be counted.
struct Refuses;
// SAFETY: never hands out memory, so there is nothing to misuse.
unsafe impl GlobalAlloc for Refuses {
    unsafe fn alloc(&self, _: Layout) -> *mut u8 {
        std::ptr::null_mut()
    }
    unsafe fn dealloc(&self, _: *mut u8, _: Layout) {}
    unsafe fn realloc(&self, _: *mut u8, _: Layout, _: usize) -> *mut u8 {
        std::ptr::null_mut()
    }
}

#[test]
fn shrinking_realloc_counts_as_freed_and_failures_count_nothing() {
    let layout = Layout::from_size_align(4096, 8).unwrap();
    let ((), stats) = measure(|| {
        // SAFETY: valid layouts; every pointer is freed with the layout it has.
        unsafe {
            let p = ALLOCATOR.alloc(layout);
            assert!(!p.is_null());
            let q = ALLOCATOR.realloc(p, layout, 1000);
            assert!(!q.is_null());
            ALLOCATOR.dealloc(q, Layout::from_size_align(1000, 8).unwrap());
        }
    });
    assert_eq!((stats.allocated_bytes, stats.freed_bytes), (4096, 4096));
    assert_eq!((stats.allocs, stats.reallocs, stats.deallocs), (1, 1, 1));

    let refusing = TrackingAllocator::new(Refuses);
    let ((), stats) = measure(|| {
        // SAFETY: valid layouts; the allocator returns null, which is checked.
        unsafe {
            assert!(refusing.alloc(layout).is_null());
            assert!(refusing.alloc_zeroed(layout).is_null());
            assert!(
                refusing
                    .realloc(std::ptr::NonNull::<u8>::dangling().as_ptr(), layout, 8192)
                    .is_null()
            );
        }
    });
    assert_eq!(stats, AllocStats::default());
}

#[test]
fn a_block_freed_on_another_thread_is_counted_there() {
    let (block, here) = measure(|| black_box(vec![1u8; 3000]));
    let there = std::thread::spawn(move || measure(|| drop(block)).1)
        .join()
        .unwrap();
    assert_eq!((here.allocated_bytes, here.allocs), (3000, 1));
    assert_eq!((there.freed_bytes, there.deallocs), (3000, 1));
    assert_eq!(there.net_bytes(), -3000);
}

#[test]
fn measure_sees_only_its_own_thread() {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let noisy = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                drop(black_box(vec![0u8; 777]));
            }
        })
    };
    let ((), stats) = measure(|| {
        for _ in 0..1000 {
            drop(black_box(Box::new(1u32)));
        }
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    noisy.join().unwrap();
    assert_eq!((stats.allocs, stats.deallocs), (1000, 1000));
    assert_eq!(stats.allocated_bytes, 4000);
}

#[test]
fn thread_local_destructors_may_allocate() {
    struct AllocatesOnDrop(Vec<u8>);
    impl Drop for AllocatesOnDrop {
        fn drop(&mut self) {
            let copy = black_box(self.0.clone());
            drop(black_box(format!("{}", copy.len())));
        }
    }
    thread_local! {
        static LATE: std::cell::RefCell<Option<AllocatesOnDrop>> = const { std::cell::RefCell::new(None) };
    }
    let handles: Vec<_> = (0..16)
        .map(|_| {
            std::thread::spawn(|| {
                LATE.with(|l| *l.borrow_mut() = Some(AllocatesOnDrop(vec![1; 4096])));
                drop(black_box(vec![0u8; 64]));
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    // Allocations in a destructor after the thread's other thread-locals are gone are still
    // counted (the slot index is a const thread-local without a destructor).
    let ((), stats) = measure(|| {
        std::thread::spawn(|| {
            LATE.with(|l| *l.borrow_mut() = Some(AllocatesOnDrop(vec![2; 100])));
        })
        .join()
        .unwrap();
    });
    assert!(stats.allocs >= 1);
}

#[test]
fn many_threads_reuse_slots_and_lose_nothing() {
    // More threads over time than there are slots (256): once the table is full, slots of
    // exited threads are taken over instead of sending new threads to the shared fallback.
    let region = Region::new();
    for _ in 0..30 {
        let handles: Vec<_> = (0..20)
            .map(|_| std::thread::spawn(|| drop(black_box(vec![0u8; 100]))))
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }
    let change = region.change();
    assert!(change.allocs >= 600 && change.deallocs >= 600);
    let (used, fallback) = perfkit_alloc::slots_in_use();
    assert!(used <= 256);
    assert!(!fallback, "600 short-lived threads needed the fallback");
}

#[test]
fn stats_serialise_and_the_peak_covers_a_large_block() {
    perfkit_alloc::reset_peak();
    let block = black_box(vec![0u8; 8 << 20]);
    let stats = perfkit_alloc::stats();
    assert!(stats.current_bytes >= 8 << 20);
    assert!(stats.peak_bytes >= stats.current_bytes);
    drop(block);
    let after = perfkit_alloc::stats();
    // Several threads: the peak is within threads × 64 KiB of the truth.
    assert!(after.peak_bytes + 64 * 64 * 1024 >= 8 << 20, "{after:?}");
    assert!(perfkit_alloc::current_memory_usage() as u64 <= after.current_bytes + (1 << 20));
    let json = serde_json::to_string(&after).unwrap();
    let back: AllocStats = serde_json::from_str(&json).unwrap();
    assert_eq!(back, after);
}

#[test]
fn size_histogram_counts_classes_when_enabled() {
    use perfkit_alloc::SizeHistogram;
    perfkit_alloc::set_size_histogram(true);
    let before = perfkit_alloc::size_histogram();
    for _ in 0..50 {
        drop(black_box(vec![0u8; 3000])); // class of 3000: [2048, 4096)
    }
    let after = perfkit_alloc::size_histogram();
    let class = SizeHistogram::class_of(3000);
    assert_eq!(SizeHistogram::class_start(class), 2048);
    // Other tests may allocate 3000-byte blocks too, never fewer.
    assert!(after.counts[class] - before.counts[class] >= 50);
}
