//! Parameters of a benchmark: a numeric scan (`-P NAME MIN MAX [-D STEP]`) or lists of values
//! (`-L NAME A,B,C`, several as a cartesian product), substituted for `{NAME}` in the commands,
//! their names and their helper commands, with the meaning hyperfine gives these flags.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::SysError;

/// The most benchmarks one set of parameters may make.
pub const MAX_BENCHMARKS: usize = 100_000;

/// One parameter's value in one benchmark.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parameter {
    /// The name, as `{name}` appears in commands.
    pub name: String,
    /// The value, as substituted.
    pub value: String,
}

/// The parameters a benchmark is run over.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Parameters {
    /// No parameters: each command is one benchmark.
    #[default]
    None,
    /// `-P NAME MIN MAX [-D STEP]`: every value from MIN to MAX, STEP apart (1 without it).
    Scan {
        /// The parameter's name.
        name: String,
        /// The first value, as written.
        min: String,
        /// The last value, as written.
        max: String,
        /// The step, as written; required when a bound has decimals.
        step: Option<String>,
    },
    /// `-L NAME VALUES`, once or more: every combination of the lists' values.
    Lists(Vec<(String, Vec<String>)>),
}

impl Parameters {
    /// A list's values from hyperfine's comma-separated form: `\,` is a comma inside a value,
    /// `\\` a backslash; an empty text is one empty value.
    #[must_use]
    pub fn split_list(values: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut value = String::new();
        let mut chars = values.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(escaped @ (',' | '\\')) => value.push(escaped),
                    Some(other) => {
                        value.push('\\');
                        value.push(other);
                    }
                    None => value.push('\\'),
                },
                ',' => out.push(std::mem::take(&mut value)),
                _ => value.push(c),
            }
        }
        out.push(value);
        out
    }

    /// Every benchmark's parameters, in hyperfine's order: for a scan, value after value; for
    /// lists, the first list's values change fastest. `commands` templates are run for each
    /// (commands change fastest of all; see [`expand_commands`]).
    ///
    /// # Errors
    /// [`SysError::Parameter`] for a scan whose bounds or step are not numbers, an empty range,
    /// a zero or negative step, a decimal scan without a step, duplicate list names, or more
    /// than [`MAX_BENCHMARKS`] benchmarks.
    pub fn combinations(&self) -> Result<Vec<Vec<Parameter>>, SysError> {
        match self {
            Parameters::None => Ok(vec![Vec::new()]),
            Parameters::Scan {
                name,
                min,
                max,
                step,
            } => {
                let values = scan(min, max, step.as_deref())?;
                Ok(values
                    .into_iter()
                    .map(|value| {
                        vec![Parameter {
                            name: name.clone(),
                            value,
                        }]
                    })
                    .collect())
            }
            Parameters::Lists(lists) => {
                let mut seen = std::collections::BTreeSet::new();
                let duplicates: Vec<&str> = lists
                    .iter()
                    .filter(|(name, _)| !seen.insert(name.as_str()))
                    .map(|(name, _)| name.as_str())
                    .collect();
                if !duplicates.is_empty() {
                    return Err(parameter_error(format!(
                        "the parameter {} is listed twice with -L: give each list its own name",
                        duplicates.join(", ")
                    )));
                }
                let total = lists
                    .iter()
                    .try_fold(1usize, |n, (_, values)| n.checked_mul(values.len()))
                    .filter(|&n| n <= MAX_BENCHMARKS)
                    .ok_or_else(|| {
                        parameter_error(format!(
                            "the lists make more than {MAX_BENCHMARKS} combinations"
                        ))
                    })?;
                let mut out = Vec::with_capacity(total);
                for mut index in 0..total {
                    let mut combination = Vec::with_capacity(lists.len());
                    for (name, values) in lists {
                        combination.push(Parameter {
                            name: name.clone(),
                            value: values[index % values.len()].clone(),
                        });
                        index /= values.len();
                    }
                    out.push(combination);
                }
                Ok(out)
            }
        }
    }
}

fn parameter_error(detail: String) -> SysError {
    SysError::Parameter { detail }
}

/// A decimal number as hyperfine's scan reads it: digits, a sign, at most one point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Decimal {
    /// The value times `10^scale`.
    units: i128,
    /// Digits after the point.
    scale: u32,
}

/// The most digits after the point a scan keeps.
const MAX_SCALE: u32 = 18;

impl Decimal {
    /// A number as hyperfine reads a scan's bounds and step: digits with an optional sign,
    /// point and exponent (`1e-1` is 0.1, `1.5E1` is 15).
    fn parse(text: &str) -> Option<Decimal> {
        let Some((mantissa, exponent)) = text.split_once(['e', 'E']) else {
            return Self::parse_plain(text);
        };
        let exponent: i32 = exponent.parse().ok()?;
        let plain = Self::parse_plain(mantissa)?;
        let scale = i64::from(plain.scale) - i64::from(exponent);
        if scale >= 0 {
            let scale = u32::try_from(scale).ok().filter(|&s| s <= MAX_SCALE)?;
            return Some(Decimal { scale, ..plain });
        }
        let factor = 10i128.checked_pow(u32::try_from(-scale).ok()?)?;
        Some(Decimal {
            units: plain.units.checked_mul(factor)?,
            scale: 0,
        })
    }

    fn parse_plain(text: &str) -> Option<Decimal> {
        let (int, frac) = text.split_once('.').unwrap_or((text, ""));
        let (negative, int) = match int.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, int.strip_prefix('+').unwrap_or(int)),
        };
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
            return None;
        }
        let scale = u32::try_from(frac.len()).ok().filter(|&s| s <= MAX_SCALE)?;
        let mut units: i128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            units = units.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
        }
        Some(Decimal {
            units: if negative { -units } else { units },
            scale,
        })
    }

    /// The same value with `scale` digits after the point.
    fn rescaled(self, scale: u32) -> Option<Decimal> {
        let factor = 10i128.checked_pow(scale.checked_sub(self.scale)?)?;
        Some(Decimal {
            units: self.units.checked_mul(factor)?,
            scale,
        })
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.scale == 0 {
            return write!(f, "{}", self.units);
        }
        let factor = 10u128.pow(self.scale);
        let sign = if self.units < 0 { "-" } else { "" };
        let magnitude = self.units.unsigned_abs();
        write!(
            f,
            "{sign}{}.{:0width$}",
            magnitude / factor,
            magnitude % factor,
            width = self.scale as usize
        )
    }
}

/// The values of a scan from `min` to `max`, `step` apart: whole numbers when all three are
/// whole (a missing step is 1), else decimals with as many digits after the point as the most
/// precise of them (the first value keeps its own, as hyperfine prints it).
fn scan(min: &str, max: &str, step: Option<&str>) -> Result<Vec<String>, SysError> {
    let number = |what: &str, text: &str| {
        Decimal::parse(text).ok_or_else(|| {
            parameter_error(format!(
                "the scan's {what} '{text}' is not a number (write it as 10, -3, 0.25 or 1e-3, at most 18 digits after the point)"
            ))
        })
    };
    let (low, high) = (number("minimum", min)?, number("maximum", max)?);
    // Only whole numbers written as such scan in steps of 1 by default, as in hyperfine.
    let whole = |text: &str| !text.contains(['.', 'e', 'E']);
    let step = match step {
        Some(text) => number("step (-D)", text)?,
        None if whole(min) && whole(max) => Decimal { units: 1, scale: 0 },
        None => {
            return Err(parameter_error(format!(
                "a scan from {min} to {max} needs a step: add -D/--parameter-step-size, e.g. -D 0.1"
            )));
        }
    };
    if step.units <= 0 {
        return Err(parameter_error(format!(
            "the scan's step {step} must be above zero"
        )));
    }
    let scale = low.scale.max(high.scale).max(step.scale);
    let too_precise = || parameter_error(format!("the scan from {min} to {max} is too precise"));
    let (first, last, delta) = (
        low.rescaled(scale).ok_or_else(too_precise)?,
        high.rescaled(scale).ok_or_else(too_precise)?,
        step.rescaled(scale).ok_or_else(too_precise)?,
    );
    if last.units < first.units {
        return Err(parameter_error(format!(
            "the scan's range {min}..{max} is empty: the minimum must not be above the maximum"
        )));
    }
    let count = last
        .units
        .checked_sub(first.units)
        .map_or(i128::MAX, |span| span / delta.units + 1);
    if count > MAX_BENCHMARKS as i128 {
        return Err(parameter_error(format!(
            "the scan from {min} to {max} in steps of {step} makes {count} benchmarks, more than {MAX_BENCHMARKS}"
        )));
    }
    // Values carry the decimals of the minimum or the step, whichever has more, as
    // hyperfine's decimal sums do (0 to 2.50 by 0.5 is 0, 0.5, … 2.5); every value is a
    // whole number of those units, so dropping the rest is exact.
    let shown = low.scale.max(step.scale);
    let drop = 10i128.pow(scale - shown);
    Ok((0..count)
        .map(|k| {
            if k == 0 {
                low.to_string()
            } else {
                Decimal {
                    units: (first.units + k * delta.units) / drop,
                    scale: shown,
                }
                .to_string()
            }
        })
        .collect())
}

/// `text` with every `{name}` replaced by its value. Replacements are not scanned again: a
/// value that itself holds `{other}` stays as it is.
#[must_use]
pub fn substitute(text: &str, parameters: &[Parameter]) -> String {
    let keys: Vec<(String, &str)> = parameters
        .iter()
        .map(|p| (format!("{{{}}}", p.name), p.value.as_str()))
        .collect();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'next: while let Some(c) = rest.chars().next() {
        for (key, value) in &keys {
            if let Some(after) = rest.strip_prefix(key.as_str()) {
                out.push_str(value);
                rest = after;
                continue 'next;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The parameters `template` does not mention, as hyperfine shows them after a name:
/// ` (name = value, …)`, or nothing.
#[must_use]
pub fn unused_suffix(template: &str, parameters: &[Parameter]) -> String {
    let unused: Vec<String> = parameters
        .iter()
        .filter(|p| !template.contains(&format!("{{{}}}", p.name)))
        .map(|p| format!("{} = {}", p.name, p.value))
        .collect();
    if unused.is_empty() {
        String::new()
    } else {
        format!(" ({})", unused.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(p: &Parameters) -> Vec<Vec<String>> {
        p.combinations()
            .unwrap()
            .into_iter()
            .map(|c| c.into_iter().map(|p| p.value).collect())
            .collect()
    }

    fn scan_of(min: &str, max: &str, step: Option<&str>) -> Result<Vec<String>, SysError> {
        scan(min, max, step)
    }

    #[test]
    fn scans_whole_numbers_and_decimals_as_hyperfine_prints_them() {
        assert_eq!(scan_of("1", "4", None).unwrap(), ["1", "2", "3", "4"]);
        assert_eq!(scan_of("0", "10", Some("3")).unwrap(), ["0", "3", "6", "9"]);
        assert_eq!(scan_of("-2", "0", None).unwrap(), ["-2", "-1", "0"]);
        assert_eq!(
            scan_of("0.3", "0.7", Some("0.2")).unwrap(),
            ["0.3", "0.5", "0.7"]
        );
        let tenths = scan_of("0", "1", Some("0.1")).unwrap();
        assert_eq!(tenths.len(), 11);
        assert_eq!((tenths[0].as_str(), tenths[1].as_str()), ("0", "0.1"));
        assert_eq!(tenths[10], "1.0");
        assert_eq!(scan_of("5", "5", None).unwrap(), ["5"]);
        // Exponents, as hyperfine 2.0.0 reads them (its output for -P n 0 1 -D …).
        let e = scan_of("0", "1", Some("1e-1")).unwrap();
        assert_eq!(&e[..4], ["0", "0.1", "0.2", "0.3"]);
        assert_eq!(scan_of("0", "1", Some(".5")).unwrap(), ["0", "0.5", "1.0"]);
        assert_eq!(scan_of("0", "1", Some("1E1")).unwrap(), ["0"]);
        assert_eq!(scan_of("10", "30", Some("1.5e1")).unwrap(), ["10", "25"]);
        // The maximum's decimals do not show: hyperfine prints 0, 0.5, … 2.5.
        assert_eq!(
            scan_of("0", "2.50", Some("0.5")).unwrap(),
            ["0", "0.5", "1.0", "1.5", "2.0", "2.5"]
        );
    }

    #[test]
    fn refuses_scans_that_make_no_sense() {
        for (min, max, step, says) in [
            ("3", "1", None, "is empty"),
            ("1", "3", Some("0"), "above zero"),
            ("1", "3", Some("-1"), "above zero"),
            ("0.1", "1", None, "needs a step"),
            ("a", "3", None, "not a number"),
            ("1", "3", Some("x"), "not a number"),
            ("1", "1e3", None, "needs a step"),
            ("1", "2", Some("1e"), "not a number"),
            ("1", "2", Some("1e-40"), "not a number"),
            ("1", "2", Some("1e99999999999"), "not a number"),
            ("0", "1000000", None, "more than 100000"),
            ("0", "1", Some("0.0000000000000000001"), "not a number"),
            ("-", "1", None, "not a number"),
            (".", "1", None, "not a number"),
        ] {
            let error = scan_of(min, max, step).unwrap_err().to_string();
            assert!(error.contains(says), "{min} {max} {step:?}: {error}");
        }
        // Absurd bounds are refused, not overflowed.
        let huge = "9".repeat(60);
        assert!(scan_of("0", &huge, None).is_err());
        let max = i128::MAX.to_string();
        let error = scan_of(&format!("-{max}"), &max, None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("more than 100000"), "{error}");
    }

    #[test]
    fn lists_combine_with_the_first_changing_fastest() {
        let lists = Parameters::Lists(vec![
            ("a".into(), vec!["1".into(), "2".into()]),
            ("b".into(), vec!["x".into(), "y".into(), "z".into()]),
        ]);
        assert_eq!(
            values(&lists),
            [
                ["1", "x"],
                ["2", "x"],
                ["1", "y"],
                ["2", "y"],
                ["1", "z"],
                ["2", "z"]
            ]
        );
        let twice = Parameters::Lists(vec![
            ("a".into(), vec!["1".into()]),
            ("a".into(), vec!["2".into()]),
        ]);
        assert!(
            twice
                .combinations()
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
        let empty = Parameters::Lists(vec![("a".into(), Vec::new())]);
        assert!(empty.combinations().unwrap().is_empty());
    }

    #[test]
    fn list_values_split_on_unescaped_commas() {
        assert_eq!(Parameters::split_list(""), [""]);
        assert_eq!(Parameters::split_list("gcc,clang"), ["gcc", "clang"]);
        assert_eq!(
            Parameters::split_list(r"hello\, world!,b"),
            ["hello, world!", "b"]
        );
        assert_eq!(Parameters::split_list(r"a\\,b"), [r"a\", "b"]);
        assert_eq!(Parameters::split_list(r"a\nb\"), [r"a\nb\"]);
        assert_eq!(Parameters::split_list("a,,b,"), ["a", "", "b", ""]);
    }

    #[test]
    fn substitution_does_not_rescan_what_it_put_in() {
        let p = |name: &str, value: &str| Parameter {
            name: name.into(),
            value: value.into(),
        };
        let params = [p("foo", "{bar} baz"), p("bar", "quux")];
        assert_eq!(
            substitute("echo {foo} {bar}", &params),
            "echo {bar} baz quux"
        );
        assert_eq!(
            substitute("{foo}{foo}é{x}", &params[..1]),
            "{bar} baz{bar} bazé{x}"
        );
        assert_eq!(unused_suffix("echo {foo}", &params), " (bar = quux)");
        assert_eq!(unused_suffix("echo {foo} {bar}", &params), "");
    }
}
