//! `perf stat -x,`.

use std::ffi::OsString;
use std::time::Duration;

use perfkit_sys::ExitKind;
use serde::{Deserialize, Serialize};

use super::PerfEnvironment;
use crate::runner::{Invocation, Ran, run_guarded, scratch_dir, target_builders};
use crate::{ProfilerError, Setting, Target, Tool};

/// A counter's value. `<not supported>` (no such hardware counter here) and `<not counted>`
/// (the counter never ran) are kept as such: they are not zero.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum StatValue {
    /// The counted value (in the counter's unit).
    Count(f64),
    /// The event does not exist on this machine (typical for hardware events in VMs).
    Unsupported,
    /// The event exists but was not counted (multiplexing starved it, or the program ended first).
    NotCounted,
}

/// One line of `perf stat`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatCounter {
    /// The event name as perf prints it (`task-clock`, `cycles:u`, ...).
    pub event: String,
    /// The value.
    pub value: StatValue,
    /// The value's unit (`msec` for the clocks), if any.
    pub unit: Option<String>,
    /// Relative standard deviation across repeats, in percent (with `--repeat`).
    pub variance_percent: Option<f64>,
    /// Nanoseconds the counter ran.
    pub run_time_ns: Option<u64>,
    /// Percentage of the time the counter was enabled (below 100 when multiplexed).
    pub enabled_percent: Option<f64>,
    /// perf's derived metric, e.g. `0.52 CPUs utilized` or `1.9 insn per cycle`.
    pub metric: Option<Metric>,
}

/// A derived metric perf prints beside a counter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// The number.
    pub value: f64,
    /// What it is (`CPUs utilized`, `/sec`, `insn per cycle`, ...).
    pub unit: String,
}

impl StatCounter {
    /// The counted value, `None` when unsupported or not counted.
    #[must_use]
    pub fn count(&self) -> Option<f64> {
        match self.value {
            StatValue::Count(v) => Some(v),
            _ => None,
        }
    }
}

/// A `perf stat` run.
///
/// ```no_run
/// use perfkit_profilers::perf::{PerfEnvironment, Stat};
///
/// let env = PerfEnvironment::detect()?;
/// let outcome = Stat::command(["gzip", "-k", "-f", "big.txt"]).repeat(3).run(&env)?;
/// for c in &outcome.counters {
///     println!("{:>20} {:?}", c.event, c.value);
/// }
/// # Ok::<(), perfkit_profilers::ProfilerError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Stat {
    inv: Invocation,
    events: Vec<String>,
    repeat: u32,
    launcher: Option<Vec<OsString>>,
}

/// The result of a `perf stat` run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StatOutcome {
    /// How the (last) run of the program ended.
    pub status: ExitKind,
    /// The counters in perf's order.
    pub counters: Vec<StatCounter>,
    /// Wall time of the whole `perf stat` run.
    #[serde(rename = "wall_ns", with = "perfkit_metrics::serde_ns")]
    pub wall: Duration,
    /// How many times the program ran.
    pub repeat: u32,
    /// With repeats: the elapsed time of one run, mean and spread (`wall` is all of them).
    #[serde(default)]
    pub per_run: Option<PerRun>,
    /// What perf said besides the counters (warnings), when it could be told apart from the
    /// program's own standard error.
    #[serde(default)]
    pub notes: Vec<String>,
}

impl StatOutcome {
    /// The counter whose event name is `event` (ignoring a `:u`/`:k` modifier).
    #[must_use]
    pub fn counter(&self, event: &str) -> Option<&StatCounter> {
        self.counters
            .iter()
            .find(|c| c.event == event || c.event.split(':').next() == Some(event))
    }
}

impl Stat {
    target_builders!(Stat);

    /// Counts events of `target` (see [`Target::command`] and [`Target::pids`]).
    #[must_use]
    pub fn new(target: Target) -> Stat {
        Stat {
            inv: Invocation::new(target),
            events: Vec::new(),
            repeat: 1,
            launcher: None,
        }
    }

    /// The command that runs a launcher ([`perfkit_sys::launch::run_launcher`]; perfkit's is
    /// `perfkit launch`). perf stat exits 0 when its program dies of a signal; with a
    /// launcher between perf and the program, and perf ≥ 5.10 (control channel, events
    /// enabled only once the launcher is ready), the program's real status is known and its
    /// standard error stays free of perf's messages. Used for a command run once.
    #[must_use]
    pub fn launcher<I, S>(mut self, argv: I) -> Stat
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.launcher = Some(argv.into_iter().map(Into::into).collect());
        self
    }

    /// Events to count (default: perf's default set).
    #[must_use]
    pub fn events<I, S>(mut self, events: I) -> Stat
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.events.extend(events.into_iter().map(Into::into));
        self
    }

    /// Run the program `n` times and report means with their variance. Processes perf
    /// attaches to cannot be started again: [`Stat::validate`] refuses repeats of them.
    #[must_use]
    pub fn repeat(mut self, n: u32) -> Stat {
        self.repeat = n.max(1);
        self
    }

    /// Checks the settings and the target (the program exists, the PIDs are alive) without
    /// running anything.
    ///
    /// # Errors
    /// [`Setting::RepeatAttached`] for repeats of attached processes, or what the target's
    /// check finds.
    pub fn validate(&self) -> Result<(), ProfilerError> {
        if self.repeat > 1 && matches!(self.inv.target, Target::Pids { .. }) {
            return Err(ProfilerError::InvalidSetting(Setting::RepeatAttached));
        }
        self.inv.validate(Tool::Perf)
    }

    /// Runs `perf stat`. The counters go to a private file, so the program's own stderr never
    /// mixes with them.
    ///
    /// # Errors
    /// As [`Stat::validate`]; perf cannot start or its counters cannot be read.
    pub fn run(&self, env: &PerfEnvironment) -> Result<StatOutcome, ProfilerError> {
        self.validate()?;
        let dir = scratch_dir(Tool::Perf)?;
        let out = dir.path().join("stat.csv");
        let mut command = env.perf.command();
        command.args(["stat", "-x,", "-o"]).arg(&out);
        for event in self.event_list() {
            command.args(["-e", &event]);
        }
        if self.repeat > 1 {
            command.args(["-r", &self.repeat.to_string()]);
        }
        self.inv.apply_io(&mut command)?;
        let launch = match (&self.launcher, &self.inv.target) {
            (Some(launcher), Target::Command(argv))
                if self.repeat == 1 && env.perf.version.at_least(5, 10) =>
            {
                Some((launcher, argv))
            }
            _ => None,
        };
        let (outcome, launched, perf_said) = match launch {
            None => {
                command.args(self.inv.tail_args(Tool::Perf));
                (self.inv.run(&mut command, Tool::Perf)?, None, String::new())
            }
            Some((launcher, argv)) => {
                command.args(&self.inv.extra_args);
                let said = dir.path().join("perf.err");
                run_launched(&mut command, launcher, argv, &said)?
            }
        };
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        let counters = parse_stat_csv(&text)?;
        if counters.is_empty() {
            let reason = text
                .lines()
                .chain(perf_said.lines())
                .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
                .map_or_else(
                    || "its message is above".to_owned(),
                    |l| format!("it said {l:?}"),
                );
            return Err(ProfilerError::ToolFailed {
                tool: Tool::Perf,
                detail: format!("perf stat counted nothing ({}); {reason}", outcome.status),
            });
        }
        let notes = perf_said
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("Events "))
            .map(str::to_owned)
            .collect();
        let per_run = (self.repeat > 1)
            .then(|| counters.iter().find(|c| c.event == "duration_time"))
            .flatten()
            .and_then(|c| {
                Some(PerRun {
                    mean_ns: c.count()?,
                    variance_percent: c.variance_percent,
                })
            });
        Ok(StatOutcome {
            status: launched.unwrap_or(outcome.status),
            counters,
            wall: outcome.wall,
            repeat: self.repeat,
            per_run,
            notes,
        })
    }

    /// The events to ask perf for: the user's, or perf's default set spelled out when the
    /// elapsed time per run must be added (an `-e` replaces the defaults); with repeats,
    /// `duration_time`, whose mean and spread over the runs are the time per run.
    fn event_list(&self) -> Vec<String> {
        let mut events = self.events.clone();
        if self.repeat > 1 {
            if events.is_empty() {
                events = DEFAULT_EVENTS.iter().map(ToString::to_string).collect();
            }
            if !events
                .iter()
                .any(|e| e.split(':').next() == Some("duration_time"))
            {
                events.push("duration_time".into());
            }
        }
        events
    }
}

/// perf stat's default events (without `-e`).
const DEFAULT_EVENTS: &[&str] = &[
    "task-clock",
    "context-switches",
    "cpu-migrations",
    "page-faults",
    "cycles",
    "instructions",
    "branches",
    "branch-misses",
];

/// Elapsed time per run over `perf stat -r N`'s runs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PerRun {
    /// Mean elapsed time of one run, nanoseconds.
    pub mean_ns: f64,
    /// Relative standard deviation over the runs, percent.
    pub variance_percent: Option<f64>,
}

/// `perf stat -D -1 --control … -- LAUNCHER … -- PROGRAM`: perf starts with its events
/// disabled, the launcher says when it is ready, perf's events are enabled through its control
/// channel, and only then does the launcher start the program and, at its end, report its
/// status. perf's own messages go to `said` instead of the program's standard error. Returns
/// perf's run, the program's status (when the launcher reported it) and what perf said.
fn run_launched(
    command: &mut std::process::Command,
    launcher: &[OsString],
    argv: &[OsString],
    said: &std::path::Path,
) -> Result<(Ran, Option<ExitKind>, String), ProfilerError> {
    use perfkit_sys::launch::Channel;
    use std::io::{BufRead, Write};
    let io = |what: &'static str| move |e| ProfilerError::io(what, e);
    let said_file = std::fs::File::create(said).map_err(io("creating perf's message file"))?;
    command
        .args(["-D", "-1", "--control"])
        .arg(format!("fd:{},{}", Channel::TOOL_IN, Channel::TOOL_OUT))
        .arg("--")
        .args(launcher)
        .args(Channel::launcher_args())
        .arg("--")
        .args(argv)
        .stderr(said_file);
    let (channel, child_ends) =
        Channel::attach(command).map_err(io("setting up perf's control channel"))?;
    let handshake = channel.handshake(|to_perf, from_perf| {
        to_perf.write_all(b"enable\n")?;
        let mut ack = String::new();
        if from_perf.read_line(&mut ack)? == 0 {
            // perf ended before it answered.
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    });
    let outcome = run_guarded(command);
    // perf (and the launcher) have ended: with these closed, the handshake ends too.
    drop(child_ends);
    let status = handshake.join().ok().flatten();
    let text = std::fs::read_to_string(said).unwrap_or_default();
    Ok((outcome?, status, text))
}

/// Parses `perf stat -x,` output. Comment lines (`#`), blank lines and perf's messages (lines
/// that are not counters) are skipped; a line that looks like a counter but is malformed is an
/// error.
pub fn parse_stat_csv(text: &str) -> Result<Vec<StatCounter>, ProfilerError> {
    let mut counters = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() < 3 {
            continue;
        }
        let value = match fields[0].trim() {
            "<not supported>" => StatValue::Unsupported,
            "<not counted>" => StatValue::NotCounted,
            v => match v.parse::<f64>() {
                Ok(n) if n.is_finite() => StatValue::Count(n),
                // A message such as "Workload failed: ..." has no counter value: skip it.
                _ => continue,
            },
        };
        let event = fields[2].trim();
        if event.is_empty() {
            return Err(ProfilerError::parse(
                "perf stat output",
                index + 1,
                format!("counter without an event name: {line:.80}"),
            ));
        }
        let mut rest = &fields[3..];
        let variance_percent = match rest.first() {
            Some(f) if f.ends_with('%') => {
                rest = &rest[1..];
                f.trim_end_matches('%').parse().ok()
            }
            _ => None,
        };
        let number = |i: usize| rest.get(i).and_then(|f| f.trim().parse::<f64>().ok());
        let metric = match (number(2), rest.get(3)) {
            (Some(value), Some(unit)) if !unit.trim().is_empty() => Some(Metric {
                value,
                unit: unit.trim().to_owned(),
            }),
            _ => None,
        };
        counters.push(StatCounter {
            event: event.to_owned(),
            value,
            unit: Some(fields[1].trim())
                .filter(|u| !u.is_empty())
                .map(str::to_owned),
            variance_percent,
            run_time_ns: rest.first().and_then(|f| f.trim().parse().ok()),
            enabled_percent: number(1),
            metric,
        });
    }
    Ok(counters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_values_unsupported_and_metrics() {
        let text = "# started on Wed Nov 25 22:57:44 2026\n\n\
            0.89,msec,task-clock,891794,100.00,0.504,CPUs utilized\n\
            62,,page-faults,891794,100.00,69.523,K/sec\n\
            <not supported>,,cycles,0,100.00,,\n\
            <not counted>,,instructions:u,0,0.00,,\n";
        let c = parse_stat_csv(text).unwrap();
        assert_eq!(c.len(), 4);
        assert_eq!(c[0].value, StatValue::Count(0.89));
        assert_eq!(c[0].unit.as_deref(), Some("msec"));
        assert_eq!(c[0].run_time_ns, Some(891_794));
        assert_eq!(c[0].metric.as_ref().unwrap().unit, "CPUs utilized");
        assert_eq!(c[1].value, StatValue::Count(62.0));
        assert_eq!(c[1].unit, None);
        assert_eq!(c[2].value, StatValue::Unsupported);
        assert_eq!(c[2].metric, None);
        assert_eq!(c[3].value, StatValue::NotCounted);
    }

    #[test]
    fn repeat_output_has_a_variance_column() {
        let c = parse_stat_csv("0.53,msec,task-clock,16.57%,529358,100.00,0.396,CPUs utilized\n")
            .unwrap();
        assert_eq!(c[0].variance_percent, Some(16.57));
        assert_eq!(c[0].run_time_ns, Some(529_358));
        assert_eq!(c[0].enabled_percent, Some(100.0));
        assert_eq!(c[0].metric.as_ref().unwrap().value, 0.396);
    }

    #[test]
    fn real_perf_stat_output() {
        let c = parse_stat_csv(include_str!("../../tests/data/perf-stat.csv")).unwrap();
        let clock = c.iter().find(|c| c.event == "task-clock").unwrap();
        assert!(clock.count().unwrap() > 50.0);
        assert!(c.iter().any(|c| c.value == StatValue::Unsupported));
        let c = parse_stat_csv(include_str!("../../tests/data/perf-stat-repeat.csv")).unwrap();
        assert!(c.iter().all(|c| c.variance_percent.is_some()));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "(?s).{0,300}") {
            let _ = parse_stat_csv(&text);
        }

        #[test]
        fn arbitrary_csv_rows_never_panic(fields in proptest::collection::vec("[<>a-z0-9.%: -]{0,12}", 0..10)) {
            let _ = parse_stat_csv(&fields.join(","));
        }
    }

    #[test]
    fn messages_are_skipped_and_bad_counters_rejected() {
        assert!(
            parse_stat_csv("Workload failed: No such file or directory\n")
                .unwrap()
                .is_empty()
        );
        assert!(parse_stat_csv("12,,,1,100\n").is_err());
    }
}
