//! Human-readable numbers: durations with adaptive units, byte sizes, rates.

use std::time::Duration;

/// Formats a duration given in nanoseconds with an adaptive unit (ns, µs, ms, s) and four
/// significant digits: `850 ns`, `12.34 µs`, `1.500 s`. Nothing is clamped: negative values keep
/// their sign, and sub-nanosecond values print as fractions of a nanosecond.
///
/// ```
/// use perfkit_metrics::format_duration;
/// assert_eq!(format_duration(850.0), "850.0 ns");
/// assert_eq!(format_duration(12_345.0), "12.35 µs");
/// assert_eq!(format_duration(10_620_000.0), "10.62 ms");
/// assert_eq!(format_duration(1.5e9), "1.500 s");
/// ```
#[must_use]
pub fn format_duration(nanos: f64) -> String {
    if !nanos.is_finite() {
        return "n/a".to_string();
    }
    if nanos == 0.0 {
        return "0 ns".to_string();
    }
    let (unit_ns, unit) = duration_unit(nanos);
    format!("{} {unit}", four_digits(nanos / unit_ns))
}

/// The unit a duration of `nanos` prints in, and its size in nanoseconds.
#[must_use]
pub fn duration_unit(nanos: f64) -> (f64, &'static str) {
    let magnitude = nanos.abs();
    if magnitude < 1e3 {
        (1.0, "ns")
    } else if magnitude < 1e6 {
        (1e3, "µs")
    } else if magnitude < 1e9 {
        (1e6, "ms")
    } else {
        (1e9, "s")
    }
}

/// [`format_duration`] for a value measured to `resolution_ns` (strace times calls to the
/// microsecond): rounded to it, and never printed with digits finer than it.
///
/// ```
/// use perfkit_metrics::format_duration_to;
/// assert_eq!(format_duration_to(4_001.0, 1_000.0), "4 µs");
/// assert_eq!(format_duration_to(1_234_567.0, 1_000.0), "1.235 ms");
/// assert_eq!(format_duration_to(999.0, 1_000.0), "1 µs");
/// ```
#[must_use]
pub fn format_duration_to(nanos: f64, resolution_ns: f64) -> String {
    if !(nanos.is_finite() && resolution_ns.is_finite() && resolution_ns > 0.0) {
        return format_duration(nanos);
    }
    let rounded = (nanos / resolution_ns).round() * resolution_ns;
    if rounded == 0.0 {
        return format!("< {}", format_duration(resolution_ns));
    }
    let (unit_ns, unit) = duration_unit(rounded);
    let scaled = rounded / unit_ns;
    let finest = (unit_ns / resolution_ns).log10().floor().max(0.0) as usize;
    let decimals = four_digit_decimals(scaled).min(finest);
    format!("{scaled:.decimals$} {unit}")
}

/// [`format_duration`] for a [`Duration`].
#[must_use]
pub fn format_std_duration(d: Duration) -> String {
    format_duration(d.as_nanos() as f64)
}

/// Formats `value` with four significant digits (at least one decimal).
fn four_digits(value: f64) -> String {
    let decimals = four_digit_decimals(value);
    format!("{value:.decimals$}")
}

/// The decimals that give `value` four significant digits (at least one).
fn four_digit_decimals(value: f64) -> usize {
    let magnitude = value.abs();
    if magnitude >= 100.0 {
        1
    } else if magnitude >= 10.0 {
        2
    } else {
        3
    }
}

/// Formats a byte count with binary units: `512 B`, `1.50 KiB`, `100.0 MiB`.
///
/// ```
/// use perfkit_metrics::format_bytes;
/// assert_eq!(format_bytes(512), "512 B");
/// assert_eq!(format_bytes(100 << 20), "100.0 MiB");
/// ```
#[must_use]
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let decimals = if value >= 100.0 { 1 } else { 2 };
    format!("{value:.decimals$} {}", UNITS[unit])
}

/// Formats a rate in bytes per second with decimal units (`MB/s`, `GB/s`), as storage and
/// network rates are usually quoted.
///
/// ```
/// use perfkit_metrics::format_rate;
/// assert_eq!(format_rate(2.25e9), "2.25 GB/s");
/// ```
#[must_use]
pub fn format_rate(bytes_per_second: f64) -> String {
    if !bytes_per_second.is_finite() {
        return "n/a".to_string();
    }
    let m = bytes_per_second.abs();
    let (scaled, unit) = if m < 1e3 {
        (bytes_per_second, "B/s")
    } else if m < 1e6 {
        (bytes_per_second / 1e3, "kB/s")
    } else if m < 1e9 {
        (bytes_per_second / 1e6, "MB/s")
    } else {
        (bytes_per_second / 1e9, "GB/s")
    };
    format!("{scaled:.2} {unit}")
}

/// A whole number with a comma between groups of three digits: `1,234,567`.
///
/// ```
/// assert_eq!(perfkit_metrics::group_thousands(-1_234_567), "-1,234,567");
/// ```
#[must_use]
pub fn group_thousands(v: i64) -> String {
    let digits = v.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0 { format!("-{out}") } else { out }
}

/// `text` cut to at most `max` characters by replacing its middle with `…`, so that both the
/// start and the end of a long name stay readable.
///
/// ```
/// let short = perfkit_metrics::shorten_middle(&"x".repeat(300), 21);
/// assert_eq!(short.chars().count(), 21);
/// assert_eq!(perfkit_metrics::shorten_middle("abc", 10), "abc");
/// ```
#[must_use]
pub fn shorten_middle(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let keep = max.saturating_sub(1) / 2;
    let head: String = text.chars().take(keep).collect();
    let tail: Vec<char> = text.chars().rev().take(keep).collect();
    let tail: String = tail.into_iter().rev().collect();
    format!("{head}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_adapt_and_never_clamp() {
        assert_eq!(format_duration(0.0), "0 ns");
        assert_eq!(format_duration(0.25), "0.250 ns");
        assert_eq!(format_duration(-1500.0), "-1.500 µs");
        assert_eq!(format_duration(999.0), "999.0 ns");
        assert_eq!(format_duration(3.6e12), "3600.0 s");
        assert_eq!(format_duration(f64::NAN), "n/a");
    }

    #[test]
    fn bytes() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(1536), "1.50 KiB");
        assert_eq!(format_bytes(u64::MAX), "16.00 EiB");
    }
}
