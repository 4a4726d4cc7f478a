//! Sieves primes and sorts pseudo-random numbers, sized by the arguments; exits 3 when asked.

fn sieve(limit: usize) -> usize {
    let mut composite = vec![false; limit + 1];
    let mut count = 0;
    for n in 2..=limit {
        if !composite[n] {
            count += 1;
            let mut m = n * n;
            while m <= limit {
                composite[m] = true;
                m += n;
            }
        }
    }
    count
}

fn sort(n: usize) -> u64 {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut v: Vec<u64> = (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % 1_000_000
        })
        .collect();
    v.sort_unstable();
    v[n / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let size = |i: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    match args.first().map(String::as_str) {
        Some("sieve") => println!("{}", sieve(size(1))),
        Some("sort") => println!("{}", sort(size(1))),
        Some("fail") => std::process::exit(3),
        _ => {
            eprintln!("usage: pgo-fixture sieve|sort N | fail");
            std::process::exit(2);
        }
    }
}
