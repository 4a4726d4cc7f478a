//! The worker of the pool benchmarks: `perfkit_pool::worker::serve_into` echoing each task
//! (`pool_tiny_tasks`), or squaring a decimal integer with `--square` (`pool_vs_python.sh`).

use std::io::Write;

fn main() -> std::io::Result<()> {
    let square = std::env::args().nth(1).as_deref() == Some("--square");
    perfkit_pool::worker::serve_into(|input, out| {
        if !square {
            out.extend_from_slice(input);
            return Ok(());
        }
        let n: i64 = std::str::from_utf8(input)
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .ok_or_else(|| format!("not an integer: {:?}", String::from_utf8_lossy(input)))?;
        let squared = n
            .checked_mul(n)
            .ok_or_else(|| format!("{n} squared overflows"))?;
        write!(out, "{squared}").map_err(|e| e.to_string())
    })
}
