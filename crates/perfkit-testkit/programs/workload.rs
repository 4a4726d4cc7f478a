//! A small program with known behaviour, profiled for real by perfkit's tests: known hot
//! functions, a known allocation, known syscall counts, and chosen exit codes.
//!
//! Usage: workload STEP [STEP ...], where each STEP is one of
//!   cpu MS        burn CPU for MS milliseconds: ~80% in `perfkit_hot_primes`,
//!                 ~20% in `perfkit_warm_mix`
//!   alloc BYTES   allocate BYTES in one block (`perfkit_big_allocation`), touch it, free it
//!   small N       N separate 64-byte allocations, freed at once (malloc/free calls)
//!   syscalls N    N × (open /dev/null, write 1 byte, close) and N × getcwd
//!   sleep MS      sleep
//!   exit CODE     exit with CODE
//!   panic         panic (exit code 101)
//!   abort         abort (SIGABRT)
//!   stderr        write a line to stderr
use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

#[inline(never)]
fn perfkit_hot_primes(limit: u64) -> u64 {
    let mut count = 0;
    for n in 2..limit {
        let mut prime = true;
        let mut d = 2;
        while d * d <= n {
            if n % d == 0 {
                prime = false;
                break;
            }
            d += 1;
        }
        count += u64::from(prime);
    }
    black_box(count)
}

#[inline(never)]
fn perfkit_warm_mix(rounds: u64) -> u64 {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..rounds {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x = x.wrapping_add(black_box(i));
    }
    black_box(x)
}

#[inline(never)]
fn burn(ms: u64) {
    let deadline = Instant::now() + Duration::from_millis(ms);
    while Instant::now() < deadline {
        // Calibrated so that primes take ~4× as long as the mix.
        perfkit_hot_primes(black_box(6_000));
        perfkit_warm_mix(black_box(12_000));
    }
}

#[inline(never)]
fn perfkit_big_allocation(bytes: usize) -> Vec<u8> {
    let mut block = Vec::with_capacity(bytes);
    block.resize(bytes, 1u8);
    block
}

#[inline(never)]
fn small_allocations(n: usize) {
    let blocks: Vec<Box<[u8; 64]>> = (0..n).map(|i| Box::new([i as u8; 64])).collect();
    black_box(&blocks);
}

#[inline(never)]
fn syscalls(n: usize) {
    for _ in 0..n {
        let mut f = std::fs::OpenOptions::new().write(true).open("/dev/null").unwrap();
        f.write_all(b"x").unwrap();
        drop(f);
        black_box(std::env::current_dir().unwrap());
    }
}

fn number(args: &[String], i: usize) -> u64 {
    args.get(i)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("step {:?} needs a number", args[i - 1]))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "cpu" => burn(number(&args, i + 1)),
            "alloc" => {
                let block = perfkit_big_allocation(number(&args, i + 1) as usize);
                // Hold it across some work so that massif takes snapshots with it live.
                perfkit_warm_mix(2_000_000);
                black_box(&block);
                drop(block);
            }
            "small" => small_allocations(number(&args, i + 1) as usize),
            "syscalls" => syscalls(number(&args, i + 1) as usize),
            "sleep" => std::thread::sleep(Duration::from_millis(number(&args, i + 1))),
            "stdout" => {
                // Bytes that are not text, so that any mixing-in is visible.
                let bytes: Vec<u8> = (0..number(&args, i + 1)).map(|b| (b % 251) as u8).collect();
                std::io::stdout().write_all(&bytes).unwrap();
            }
            "exit" => std::process::exit(number(&args, i + 1) as i32),
            "panic" => panic!("perfkit workload panics on purpose"),
            "abort" => std::process::abort(),
            "stderr" => {
                eprintln!("workload: a line on stderr");
                i += 1;
                continue;
            }
            other => {
                eprintln!("workload: unknown step {other:?}");
                std::process::exit(2);
            }
        }
        i += if args[i] == "panic" || args[i] == "abort" { 1 } else { 2 };
    }
}
