//! The metrics of every benchmarked run, in hyperfine 2's names, labels and units, and the
//! `--metrics` list that chooses which of them the text shows and the exports lead with.

use crate::SysError;
use crate::process::RunOutcome;

/// A quantity perfkit bench measures of every run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Wall-clock time (`time_wall_clock`).
    WallClock,
    /// User plus system CPU time (`time_cpu`).
    Cpu,
    /// User CPU time (`time_user`).
    User,
    /// System CPU time (`time_system`).
    System,
    /// Peak resident memory (`memory_peak_resident`).
    PeakMemory,
}

impl Metric {
    /// Every metric, in hyperfine 2's order.
    pub const ALL: [Metric; 5] = [
        Metric::WallClock,
        Metric::Cpu,
        Metric::User,
        Metric::System,
        Metric::PeakMemory,
    ];

    /// The name in hyperfine 2's JSON and on its command line.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Metric::WallClock => "time_wall_clock",
            Metric::Cpu => "time_cpu",
            Metric::User => "time_user",
            Metric::System => "time_system",
            Metric::PeakMemory => "memory_peak_resident",
        }
    }

    /// The label hyperfine 2's tables give it.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Metric::WallClock => "Wall Time",
            Metric::Cpu => "CPU time",
            Metric::User => "User time",
            Metric::System => "System time",
            Metric::PeakMemory => "Memory",
        }
    }

    /// Whether it is a time (the others are byte counts).
    #[must_use]
    pub fn is_time(self) -> bool {
        self != Metric::PeakMemory
    }

    /// The unit of its values in the JSON: `second` or `byte`.
    #[must_use]
    pub fn json_unit(self) -> &'static str {
        if self.is_time() { "second" } else { "byte" }
    }

    /// Its value for one run, in seconds or bytes.
    #[must_use]
    pub fn value(self, run: &RunOutcome) -> f64 {
        match self {
            Metric::WallClock => run.wall.as_secs_f64(),
            Metric::Cpu => (run.user + run.system).as_secs_f64(),
            Metric::User => run.user.as_secs_f64(),
            Metric::System => run.system.as_secs_f64(),
            Metric::PeakMemory => run.max_rss_bytes as f64,
        }
    }

    fn base_unit(self) -> Unit {
        if self.is_time() {
            TIME_UNITS[3]
        } else {
            MEMORY_UNITS[0]
        }
    }

    fn units(self) -> &'static [Unit] {
        if self.is_time() {
            TIME_UNITS
        } else {
            MEMORY_UNITS
        }
    }

    fn named(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// A unit a metric is shown in: its symbol and how many seconds or bytes it holds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Unit {
    /// `ms`, `MiB`, …
    pub symbol: &'static str,
    /// Seconds or bytes in one of it.
    pub scale: f64,
}

impl Unit {
    const fn new(symbol: &'static str, scale: f64) -> Unit {
        Unit { symbol, scale }
    }

    /// `value` (seconds or bytes) in this unit, with hyperfine 2's decimals: three for
    /// seconds, one otherwise.
    #[must_use]
    pub fn format_value(self, value: f64) -> String {
        let decimals = if self.symbol == "s" { 3 } else { 1 };
        format!("{:.decimals$}", value / self.scale)
    }
}

/// Time units, smallest first; [`super::export::TimeUnit`] names five of them.
pub(crate) const TIME_UNITS: &[Unit] = &[
    Unit::new("ns", 1e-9),
    Unit::new("µs", 1e-6),
    Unit::new("ms", 1e-3),
    Unit::new("s", 1.0),
    Unit::new("min", 60.0),
    Unit::new("h", 3600.0),
];

/// Memory units a user may ask for; an automatic choice takes the binary ones.
const MEMORY_UNITS: &[Unit] = &[
    Unit::new("B", 1.0),
    Unit::new("kB", 1e3),
    Unit::new("MB", 1e6),
    Unit::new("GB", 1e9),
    Unit::new("TB", 1e12),
    Unit::new("KiB", 1024.0),
    Unit::new("MiB", 1_048_576.0),
    Unit::new("GiB", 1_073_741_824.0),
    Unit::new("TiB", 1_099_511_627_776.0),
];

const BINARY_MEMORY_UNITS: &[Unit] = &[
    MEMORY_UNITS[0],
    MEMORY_UNITS[5],
    MEMORY_UNITS[6],
    MEMORY_UNITS[7],
    MEMORY_UNITS[8],
];

/// A metric and the unit asked for it (`time_cpu:ms`), if any.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MetricSelection {
    /// The metric.
    pub metric: Metric,
    /// The unit asked for; chosen from the values without one.
    pub unit: Option<Unit>,
}

impl MetricSelection {
    /// The unit to show values around `mean` in: the one asked for, else the largest unit
    /// not above `mean` (binary units for memory), as hyperfine 2 chooses.
    #[must_use]
    pub fn display_unit(self, mean: f64) -> Unit {
        if let Some(unit) = self.unit {
            return unit;
        }
        if mean == 0.0 || !mean.is_finite() {
            return self.metric.base_unit();
        }
        let units = if self.metric.is_time() {
            TIME_UNITS
        } else {
            BINARY_MEMORY_UNITS
        };
        units
            .iter()
            .rev()
            .find(|unit| mean.abs() >= unit.scale)
            .copied()
            .unwrap_or(units[0])
    }

    /// The unit of CSV columns: the one asked for, else seconds or bytes (CSV is never
    /// scaled automatically).
    #[must_use]
    pub fn csv_unit(self) -> Unit {
        self.unit.unwrap_or_else(|| self.metric.base_unit())
    }
}

/// hyperfine 2's `--metrics`: which metrics, in which order and unit.
#[derive(Clone, Debug, PartialEq)]
pub struct Metrics {
    /// The metrics, the primary one first; never empty, which only this module's
    /// constructors ensure.
    selected: Vec<MetricSelection>,
    /// Whether this is the `default` preset, which leaves perfkit's own text as it is.
    pub is_default: bool,
}

impl Default for Metrics {
    /// hyperfine 2's default: wall-clock time and peak memory.
    fn default() -> Metrics {
        Metrics {
            selected: [Metric::WallClock, Metric::PeakMemory]
                .map(|metric| MetricSelection { metric, unit: None })
                .to_vec(),
            is_default: true,
        }
    }
}

/// hyperfine 2's hardware counters, which `perfkit stat` counts and `perfkit bench` does not.
const COUNTERS: [&str; 5] = [
    "cpu_cycles",
    "instructions",
    "cache_references",
    "cache_misses",
    "branch_misses",
];

impl Metrics {
    /// A preset (`default`, `time`, `all`) or a list of `METRIC[:UNIT]` (`time_cpu:ms,
    /// memory_peak_resident:MiB`), as hyperfine 2 reads `--metrics`; `us` is `µs`.
    ///
    /// # Errors
    /// [`SysError::InvalidPlan`] for an unknown metric or unit, a metric named twice, an
    /// empty list, or a hardware counter.
    pub fn parse(text: &str) -> Result<Metrics, SysError> {
        let invalid = |why: String| SysError::InvalidPlan {
            detail: format!("--metrics {text}: {why}"),
        };
        let all = |metrics: &[Metric]| Metrics {
            selected: metrics
                .iter()
                .map(|&metric| MetricSelection { metric, unit: None })
                .collect(),
            is_default: false,
        };
        match text.trim() {
            "default" => return Ok(Metrics::default()),
            "time" => return Ok(all(&Metric::ALL[..4])),
            "all" => return Ok(all(&Metric::ALL)),
            _ => {}
        }
        let mut selected: Vec<MetricSelection> = Vec::new();
        for item in text.split(',') {
            let item = item.trim();
            let (name, unit) = match item.split_once(':') {
                Some((name, unit)) => (name, Some(unit)),
                None => (item, None),
            };
            let Some(metric) = Metric::named(name) else {
                return Err(invalid(if COUNTERS.contains(&name) {
                    format!(
                        "perfkit bench does not count {name}; perfkit stat counts hardware events"
                    )
                } else {
                    let names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
                    format!(
                        "unknown metric '{name}'; perfkit bench measures {} (or use a preset: default, time, all)",
                        names.join(", ")
                    )
                }));
            };
            if selected.iter().any(|s| s.metric == metric) {
                return Err(invalid(format!("{name} is named more than once")));
            }
            let unit = match unit {
                None => None,
                Some(unit) => {
                    let symbol = if unit == "us" { "µs" } else { unit };
                    let Some(&unit) = metric.units().iter().find(|u| u.symbol == symbol) else {
                        let symbols: Vec<&str> = metric.units().iter().map(|u| u.symbol).collect();
                        return Err(invalid(format!(
                            "'{unit}' is not a unit of {name}; use one of {}",
                            symbols.join(", ")
                        )));
                    };
                    Some(unit)
                }
            };
            selected.push(MetricSelection { metric, unit });
        }
        Ok(Metrics {
            selected,
            is_default: false,
        })
    }

    /// The metrics, in order, the primary one first; never empty.
    #[must_use]
    pub fn selected(&self) -> &[MetricSelection] {
        &self.selected
    }

    /// The first metric: the JSON's `primary_metric` and the one the tables show.
    #[must_use]
    pub fn primary(&self) -> MetricSelection {
        self.selected[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_presets_read_as_hyperfine_2_reads_them() {
        let m = Metrics::parse("memory_peak_resident:MiB,time_wall_clock:us").unwrap();
        assert_eq!(m.primary().metric, Metric::PeakMemory);
        assert_eq!(m.primary().unit.unwrap().symbol, "MiB");
        assert_eq!(m.selected[1].unit.unwrap().symbol, "µs");
        assert!(!m.is_default);
        assert_eq!(Metrics::parse("time").unwrap().selected.len(), 4);
        assert_eq!(Metrics::parse("all").unwrap().selected.len(), 5);
        assert!(Metrics::parse("default").unwrap().is_default);
        for (bad, why) in [
            ("instructions", "perfkit stat"),
            ("time_wall", "unknown metric 'time_wall'"),
            ("time_cpu:MiB", "not a unit of time_cpu"),
            ("time_cpu:", "'' is not a unit of time_cpu"),
            ("time_cpu,time_cpu", "more than once"),
            ("", "unknown metric ''"),
        ] {
            let error = Metrics::parse(bad).unwrap_err().to_string();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }

    #[test]
    fn units_are_chosen_as_hyperfine_2_chooses_them() {
        let auto = |metric| MetricSelection { metric, unit: None };
        let wall = auto(Metric::WallClock);
        assert_eq!(wall.display_unit(0.0025).symbol, "ms");
        assert_eq!(wall.display_unit(2.5).symbol, "s");
        assert_eq!(wall.display_unit(4e-7).symbol, "ns");
        assert_eq!(wall.display_unit(0.0).symbol, "s");
        assert_eq!(wall.display_unit(f64::NAN).symbol, "s");
        let memory = auto(Metric::PeakMemory);
        assert_eq!(memory.display_unit(2_949_120.0).symbol, "MiB");
        assert_eq!(memory.display_unit(512.0).symbol, "B");
        assert_eq!(memory.csv_unit().symbol, "B");
        assert_eq!(wall.display_unit(0.0025).format_value(0.0025), "2.5");
        assert_eq!(wall.display_unit(2.5).format_value(2.5), "2.500");
    }
}
