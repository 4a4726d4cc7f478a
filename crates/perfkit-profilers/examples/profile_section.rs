//! Profile one section of this program with perf and print its hottest functions.
//!
//! `cargo run --release -p perfkit-profilers --example profile_section`

use std::time::{Duration, Instant};

#[inline(never)]
fn fib(n: u64) -> u64 {
    if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
}

fn main() {
    // Not profiled: only the closure is.
    let warm = fib(20);
    let (value, profile) = perfkit_profilers::perf::profile_section(|| {
        let deadline = Instant::now() + Duration::from_millis(500);
        let mut total = warm;
        while Instant::now() < deadline {
            total = total.wrapping_add(fib(std::hint::black_box(25)));
        }
        total
    });
    match profile {
        Ok(profile) => {
            for note in &profile.notes {
                eprintln!("note: {note}");
            }
            println!(
                "result {value}; {} samples in {:?} ({})",
                profile.folded.total(),
                profile.wall,
                profile.event.name
            );
            for f in profile.folded.hot_functions(5) {
                println!(
                    "{:6.1}% self {:6.1}% total  {}",
                    f.self_percent, f.inclusive_percent, f.name
                );
            }
        }
        Err(e) => {
            eprintln!("result {value}; profiling failed: {e}");
            std::process::exit(1);
        }
    }
}
