//! A service that keeps the in-process sampler running and serves pprof's
//! `/debug/pprof/profile?seconds=N` from its own HTTP listener, the way Go services do:
//!
//! ```text
//! cargo run --release -p perfkit-profilers --example sampler_service -- 127.0.0.1:6060
//! go tool pprof -top -seconds 5 http://127.0.0.1:6060/debug/pprof/profile
//! ```
//!
//! The request waits N seconds and answers with the profile of those seconds, so any client
//! of Go's endpoint (pprof, Pyroscope's and Parca's scrapers) works unchanged. The server here
//! is a few lines of `std`; a real service would mount the same handler in its own router.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use perfkit_profilers::sampler::{Sampler, SamplerOptions};

/// The longest profile a request may ask for.
const HISTORY: Duration = Duration::from_secs(60);

#[inline(never)]
fn busy_hashing(rounds: u64) -> u64 {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..rounds {
        x = x.rotate_left(9) ^ i.wrapping_mul(0x2545_f491_4f6c_dd1d);
    }
    x
}

#[inline(never)]
fn busy_sorting(n: usize) -> usize {
    let mut v: Vec<u64> = (0..n as u64)
        .map(|i| i.wrapping_mul(2_654_435_761) % 1000)
        .collect();
    v.sort_unstable();
    v.len()
}

/// What the service does all day: two kinds of work on a thread of its own.
fn work_forever() {
    std::thread::Builder::new()
        .name("worker".into())
        .spawn(|| {
            let mut acc = 0u64;
            loop {
                acc ^= busy_hashing(std::hint::black_box(3_000_000));
                acc ^= busy_sorting(std::hint::black_box(100_000)) as u64;
                std::hint::black_box(acc);
            }
        })
        .expect("a worker thread");
}

/// The seconds a `GET /debug/pprof/profile?seconds=N` asks for (30 without the parameter,
/// as in Go), or `None` for any other request.
fn seconds_asked(request_line: &str) -> Option<u64> {
    let path = request_line.strip_prefix("GET ")?.split(' ').next()?;
    let (route, query) = path.split_once('?').unwrap_or((path, ""));
    if route != "/debug/pprof/profile" {
        return None;
    }
    let seconds = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("seconds="))
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    Some(seconds)
}

fn answer(sampler: &Sampler, mut stream: TcpStream) -> std::io::Result<()> {
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line)?;
    let Some(seconds) = seconds_asked(&line) else {
        return stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    };
    let window = Duration::from_secs(seconds).min(HISTORY);
    std::thread::sleep(window);
    let body = sampler
        .recent(window)
        .and_then(|profile| profile.to_pprof())
        .map_err(std::io::Error::other)?;
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )?;
    stream.write_all(&body)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:6060".into());
    let sampler = Sampler::start(SamplerOptions {
        frequency: 99,
        history: HISTORY,
        ..SamplerOptions::default()
    })?;
    work_forever();
    let listener = TcpListener::bind(&address)?;
    eprintln!(
        "serving http://{}/debug/pprof/profile",
        listener.local_addr()?
    );
    for stream in listener.incoming() {
        if let Err(e) = stream.and_then(|s| answer(&sampler, s)) {
            eprintln!("request failed: {e}");
        }
    }
    Ok(())
}
