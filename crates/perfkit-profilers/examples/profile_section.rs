//! Profile one section of this program and print its hottest functions: with the in-process
//! sampler, or with perf when given `--perf`.
//!
//! `cargo run --release -p perfkit-profilers --example profile_section [-- --perf]`

use std::time::{Duration, Instant};

use perfkit_profilers::sampler::{SectionMode, profile_section_with};

#[inline(never)]
fn fib(n: u64) -> u64 {
    if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
}

fn main() {
    // Not profiled: only the closure is.
    let warm = fib(20);
    let mode = if std::env::args().any(|a| a == "--perf") {
        SectionMode::Perf
    } else {
        SectionMode::default()
    };
    let (value, profile) = profile_section_with(&mode, || {
        let deadline = Instant::now() + Duration::from_millis(500);
        let mut total = warm;
        while Instant::now() < deadline {
            total = total.wrapping_add(fib(std::hint::black_box(25)));
        }
        total
    });
    match profile {
        Ok(profile) => {
            for note in profile.event.note.iter().chain(&profile.notes) {
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
