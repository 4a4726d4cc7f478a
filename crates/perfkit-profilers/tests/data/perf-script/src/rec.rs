// Rust with generics, closures, recursion and an iterator chain.
use std::collections::HashMap;
#[inline(never)]
fn fib(n: u64) -> u64 { if n < 2 { n } else { fib(n - 1) + fib(n - 2) } }
#[inline(never)]
fn count_words<I: Iterator<Item = String>>(words: I) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for w in words { *m.entry(w).or_insert(0) += 1; }
    m
}
fn main() {
    let f = fib(32);
    let m = count_words((0..1_500_000u64).map(|i| format!("w{}", i % 9973)));
    let mut v: Vec<u64> = (0..2_000_000u64).map(|i| i.wrapping_mul(2654435761) % 1_000_003).collect();
    v.sort_unstable();
    println!("{f} {} {}", m.len(), v[17]);
}
