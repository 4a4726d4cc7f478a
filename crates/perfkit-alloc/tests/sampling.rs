//! Sampled heap profiles of allocations whose sites and sizes are known, on one thread with a
//! fixed seed (so the samples are the same every run).

use std::alloc::System;
use std::hint::black_box;

use perfkit_alloc::sampling::{self, SamplingOptions};
use perfkit_alloc::{HeapProfile, HeapSite, TrackingAllocator};

#[global_allocator]
static ALLOCATOR: TrackingAllocator<System> = TrackingAllocator::new(System);

const MIB: usize = 1 << 20;

/// Holds 24 MiB in 16 KiB blocks, then frees them.
#[inline(never)]
fn hold_peak() -> Vec<Box<[u8]>> {
    (0..24 * MIB / (16 << 10))
        .map(|_| black_box(vec![1u8; 16 << 10].into_boxed_slice()))
        .collect()
}

/// Leaks 3 MiB in 4 KiB blocks.
#[inline(never)]
fn leak() {
    for _ in 0..3 * MIB / 4096 {
        Box::leak(black_box(vec![2u8; 4096].into_boxed_slice()));
    }
}

/// Many short-lived small blocks.
#[inline(never)]
fn churn(n: usize) -> u64 {
    let mut sum = 0u64;
    for i in 0..n {
        let b = black_box(Box::new([i as u8; 64]));
        sum += u64::from(b[0]);
    }
    sum
}

/// A vector grown by `realloc` to 4 MiB, kept.
#[inline(never)]
fn grow() -> Vec<u32> {
    let mut v = Vec::new();
    for i in 0..MIB as u32 {
        v.push(black_box(i));
    }
    v
}

/// Holds 64 MiB in 64 KiB blocks, then frees them.
#[inline(never)]
fn big_then_gone() {
    let held: Vec<Vec<u8>> = (0..1024).map(|_| black_box(vec![5u8; 64 << 10])).collect();
    drop(black_box(held));
}

/// 4 MiB in 4 KiB blocks, measured with `perfkit_alloc::measure`.
#[inline(never)]
fn small_inside_measure() -> Vec<Vec<u8>> {
    (0..1024).map(|_| black_box(vec![6u8; 4096])).collect()
}

/// `measure` lowers the thread's own peak while its closure runs: a smaller high inside it is
/// not the process's peak, and the closure's frames stay in its sites' stacks.
fn measure_keeps_the_process_peak() {
    sampling::start(&SamplingOptions {
        interval: 4096,
        seed: 43,
    })
    .unwrap();
    big_then_gone();
    let (kept, _) = perfkit_alloc::measure(small_inside_measure);
    let profile = sampling::profile();
    sampling::stop();
    let big = site(&profile, "sampling::big_then_gone");
    within(
        "the 64 MiB peak after measure",
        big.peak_bytes,
        (64 * MIB) as f64,
        0.05,
    );
    let small = site(&profile, "sampling::small_inside_measure");
    assert!(
        small.peak_bytes < 1.0,
        "measure's closure was not at the peak"
    );
    within(
        "bytes live in measure's closure",
        small.live_bytes,
        (4 * MIB) as f64,
        0.05,
    );
    assert!(
        profile.peak_bytes_exact >= (64 * MIB) as u64,
        "{}",
        profile.peak_bytes_exact
    );
    drop(kept);
}

/// The sites whose stacks pass through `function` (its closures included), added up.
fn site(profile: &HeapProfile, function: &str) -> HeapSite {
    let mut sum = HeapSite::default();
    let mut found = false;
    for site in &profile.sites {
        if site.frames.iter().any(|f| f.function.starts_with(function)) {
            sum.absorb(site);
            found = true;
        }
    }
    assert!(
        found,
        "no site passes through {function}; sites: {:#?}",
        profile
            .sites
            .iter()
            .map(HeapSite::folded)
            .collect::<Vec<_>>()
    );
    sum
}

fn within(what: &str, estimate: f64, truth: f64, tolerance: f64) {
    let error = (estimate - truth).abs() / truth;
    assert!(
        error <= tolerance,
        "{what}: estimated {estimate:.0}, true {truth:.0} ({:.1}% off, allowed {:.1}%)",
        error * 100.0,
        tolerance * 100.0
    );
    println!(
        "{what}: estimated {estimate:.0}, true {truth:.0} ({:.2}% off)",
        error * 100.0
    );
}

fn main() {
    sampling::start(&SamplingOptions {
        interval: 4096,
        seed: 42,
    })
    .unwrap();
    let held = hold_peak();
    drop(held);
    leak();
    let churned = churn(200_000);
    let grown = grow();
    let profile = sampling::profile();
    sampling::stop();

    let peak = site(&profile, "sampling::hold_peak");
    within(
        "bytes at the peak in hold_peak",
        peak.peak_bytes,
        (24 * MIB) as f64,
        0.05,
    );
    within(
        "bytes hold_peak allocated",
        peak.alloc_bytes,
        (24 * MIB) as f64,
        0.05,
    );
    within(
        "bytes hold_peak freed",
        peak.freed_bytes,
        (24 * MIB) as f64,
        0.05,
    );
    assert!(
        peak.live_bytes < 1.0,
        "hold_peak freed everything: {}",
        peak.live_bytes
    );
    let share = peak.peak_bytes / profile.peak_bytes_estimate;
    assert!(share > 0.9, "hold_peak is the peak: {share}");

    let leaked = site(&profile, "sampling::leak");
    within(
        "bytes leak left live",
        leaked.live_bytes,
        (3 * MIB) as f64,
        0.05,
    );
    within("blocks leak left live", leaked.live_objects, 768.0, 0.05);

    let churn_site = site(&profile, "sampling::churn");
    within(
        "blocks churn allocated",
        churn_site.alloc_objects,
        200_000.0,
        0.05,
    );
    within(
        "blocks churn freed",
        churn_site.freed_objects,
        200_000.0,
        0.05,
    );
    let median = churn_site
        .median_lifetime_ns()
        .expect("churn's blocks were freed");
    assert!(median < 1_000_000, "churn's blocks live {median} ns");

    let grown_site = site(&profile, "sampling::grow");
    within(
        "bytes grow holds",
        grown_site.live_bytes,
        (4 * MIB) as f64,
        0.05,
    );

    assert_eq!(profile.dropped, 0);
    assert!(profile.samples > 1000, "{} samples", profile.samples);
    println!(
        "ok: {} samples, {} sites",
        profile.samples,
        profile.sites.len()
    );
    black_box((churned, grown));
    measure_keeps_the_process_peak();
}
