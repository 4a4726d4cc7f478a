//! Benchmark whole commands: the engine behind `perfkit bench`.
//!
//! Each run is measured with [`crate::run`] (wall, user/sys CPU, peak RSS, faults, context
//! switches, I/O), runs are scheduled interleaved (A B A B …, which cancels slow drift such as
//! thermal throttling or a noisy neighbour), sequentially or in a seeded random order, and the
//! report gives exact percentiles of the wall times plus each command's speed relative to the
//! fastest with a bootstrap confidence interval.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use perfkit_metrics::stats::{Interval, Statistic, bootstrap_ratio};
use perfkit_metrics::{Histogram, Summary};
use serde::{Deserialize, Serialize};

use crate::SysError;
use crate::process::{ExitKind, RunOptions, RunOutcome};

pub mod affinity;
pub mod export;
pub mod metric;
pub mod params;
mod plot;
mod render;
pub mod shell;
use crate::stdio::{ProgramIo, ProgramOutput};
use params::{Parameter, Parameters};
pub use render::BenchWarning;
use shell::Shell;

/// The version of the [`BenchReport`] JSON format (see `docs/formats.md`).
pub const BENCH_SCHEMA_VERSION: u32 = 1;

/// Bootstrap resamples for relative-speed intervals.
const RESAMPLES: usize = 2000;

/// The most measured runs (or warm-up runs) per command a plan may ask for. Every measured
/// run's numbers are kept for the report and its JSON, so a count beyond this is a mistake
/// (a typo, an overflowed script variable) rather than a benchmark.
pub const MAX_RUNS: u64 = 1_000_000;

/// A command to run: a program and its arguments, run without a shell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandSpec {
    argv: Vec<String>,
    text: String,
}

/// Words that a shell would treat as operators; run without a shell, they are plain arguments.
const SHELL_OPERATORS: &[&str] = &[
    "|", "||", "&&", ";", "&", ">", ">>", "<", "2>", "2>&1", "&>",
];

impl CommandSpec {
    /// Splits `text` into arguments with POSIX shell quoting rules (no expansion, no
    /// operators). With `shell`, runs `sh -c text` instead, so pipes, redirections and builtins
    /// work (and the shell's start-up time is part of every measurement).
    ///
    /// ```
    /// use perfkit_sys::CommandSpec;
    /// let c = CommandSpec::parse("grep -c 'a b' file.txt", false).unwrap();
    /// assert_eq!(c.argv(), ["grep", "-c", "a b", "file.txt"]);
    /// let s = CommandSpec::parse("ls | wc -l", true).unwrap();
    /// assert_eq!(s.argv(), ["sh", "-c", "ls | wc -l"]);
    /// ```
    pub fn parse(text: &str, shell: bool) -> Result<Self, SysError> {
        let shell = if shell {
            Shell::Program(vec!["sh".to_owned()])
        } else {
            Shell::None
        };
        Self::parse_in(text, &shell)
    }

    /// `text` run as `shell` says: through it, or split into words and started directly.
    ///
    /// # Errors
    /// As [`CommandSpec::parse`].
    pub fn parse_in(text: &str, shell: &Shell) -> Result<Self, SysError> {
        Ok(Self {
            argv: shell.argv(text)?,
            text: text.to_string(),
        })
    }

    /// A command from an argument vector (the first element is the program).
    pub fn from_argv(argv: Vec<String>) -> Result<Self, SysError> {
        if argv.is_empty() || argv[0].is_empty() {
            return Err(SysError::EmptyCommand);
        }
        let text =
            shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| argv.join(" "));
        Ok(Self { argv, text })
    }

    /// The program and its arguments.
    #[must_use]
    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    /// Arguments that look like shell operators (`|`, `>`, `&&`, ...): a sign the user meant
    /// to run it through a shell.
    #[must_use]
    pub fn shell_operators(&self) -> Vec<&str> {
        if self.argv.first().is_some_and(|p| p == "sh")
            && self.argv.get(1).is_some_and(|a| a == "-c")
        {
            return Vec::new();
        }
        self.argv
            .iter()
            .skip(1)
            .map(String::as_str)
            .filter(|a| SHELL_OPERATORS.contains(a))
            .collect()
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.argv[0]);
        c.args(&self.argv[1..]);
        c
    }

    /// Where a program named without a `/` is on `path`, the `PATH` a run's variables set:
    /// the standard library gives up `posix_spawn` for a fork when it has to search a changed
    /// `PATH` itself, and a fork's start-up time grows with perfkit's memory. `None` leaves
    /// the search to the run: a path given, nothing found, or a file that is neither a
    /// binary nor a `#!` script, which execvp runs through sh.
    fn found_on(&self, path: &str) -> Option<PathBuf> {
        let program = &self.argv[0];
        (!program.contains('/'))
            .then(|| crate::find_program_on(program, path.as_ref()))
            .flatten()
            .filter(|found| starts_directly(found))
    }

    /// [`CommandSpec::command`] started from `found` when there is one, the program still
    /// seeing the name it was given as its `argv[0]`.
    fn command_from(&self, found: Option<&Path>) -> Command {
        use std::os::unix::process::CommandExt as _;
        let Some(found) = found else {
            return self.command();
        };
        let mut c = Command::new(found);
        c.arg0(&self.argv[0]).args(&self.argv[1..]);
        c
    }
}

/// Whether the kernel starts `path` itself: an ELF binary or a `#!` script. Anything else
/// fails with `ENOEXEC` under `posix_spawn`, where execvp would have run it through sh.
fn starts_directly(path: &Path) -> bool {
    use std::io::Read as _;
    let mut head = [0u8; 4];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| head.starts_with(b"#!") || head == *b"\x7fELF")
}

impl fmt::Display for CommandSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// One command to benchmark, with its optional helper commands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BenchTarget {
    /// Name shown in reports (the command text by default).
    pub name: String,
    /// The benchmarked command.
    pub command: CommandSpec,
    /// Run before every run (warm-up and measured), untimed: e.g. dropping caches.
    pub prepare: Option<CommandSpec>,
    /// Run once before this command's first run.
    pub setup: Option<CommandSpec>,
    /// Run once after this command's last run (also after a failure).
    pub cleanup: Option<CommandSpec>,
    /// Run after every run (warm-up and measured), untimed: e.g. stopping a server the
    /// prepare command started.
    pub conclude: Option<CommandSpec>,
    /// The parameter values this benchmark was made with (`-P`, `-L`); empty without.
    pub parameters: Vec<Parameter>,
    /// The name without the parameters the command does not mention, which `name` lists
    /// after it (`sleep 1 (mode = a)`); `None` when there are none.
    pub base_name: Option<String>,
    /// Variables set for the command and its helpers (`--env`).
    pub env: Vec<(String, String)>,
    /// Where this command's output goes, when not where the plan's goes (hyperfine's
    /// `--output` given once per command).
    pub output: Option<ProgramOutput>,
}

impl BenchTarget {
    /// What to say when the command runs without a shell yet holds words a shell would take
    /// as operators (`|`, `>`, `&&`, …): the user most likely meant a pipeline.
    #[must_use]
    pub fn operators_warning(&self) -> Option<String> {
        let operators = self.command.shell_operators();
        (!operators.is_empty()).then(|| {
            let quoted: Vec<String> = operators.iter().map(|o| format!("'{o}'")).collect();
            format!(
                "'{}' contains {} which a shell would interpret, but -N runs it without a shell: leave -N out if you meant a pipeline or redirection",
                self.command,
                quoted.join(", ")
            )
        })
    }

    /// A target named after its command, without helper commands.
    #[must_use]
    pub fn new(command: CommandSpec) -> Self {
        Self {
            name: command.to_string(),
            command,
            prepare: None,
            setup: None,
            cleanup: None,
            conclude: None,
            parameters: Vec::new(),
            base_name: None,
            env: Vec::new(),
            output: None,
        }
    }
}

/// Which failed runs of a benchmarked command the benchmark goes on after (hyperfine's
/// `--ignore-failure`); they are counted in `failed_runs` and included in the statistics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum IgnoreFailure {
    /// None: the first failed run stops the benchmark.
    #[default]
    None,
    /// Every failure: a non-zero exit, a signal, a timeout.
    AllNonZero,
    /// Exits with these codes only.
    Codes(Vec<i32>),
}

impl IgnoreFailure {
    /// hyperfine's value: `all-non-zero`, or exit codes separated by commas (`1,2`).
    ///
    /// # Errors
    /// [`SysError::InvalidPlan`] for anything else.
    pub fn parse(value: &str) -> Result<IgnoreFailure, SysError> {
        // hyperfine takes an empty value (`--ignore-failure=`) as every failure.
        if matches!(value.trim(), "all-non-zero" | "") {
            return Ok(IgnoreFailure::AllNonZero);
        }
        value
            .split(',')
            .map(|code| code.trim().parse::<i32>().ok().filter(|c| (0..=255).contains(c)))
            .collect::<Option<Vec<i32>>>()
            .map(IgnoreFailure::Codes)
            .ok_or_else(|| SysError::InvalidPlan {
                detail: format!(
                    "--ignore-failure={value}: give exit codes from 0 to 255 separated by commas (--ignore-failure=1,2), or all-non-zero"
                ),
            })
    }

    /// Whether a run that ended so lets the benchmark go on.
    #[must_use]
    pub fn accepts(&self, status: ExitKind) -> bool {
        match (self, status) {
            (_, status) if status.success() => true,
            (IgnoreFailure::AllNonZero, _) => true,
            (IgnoreFailure::Codes(codes), ExitKind::Exited { code }) => codes.contains(&code),
            (IgnoreFailure::None | IgnoreFailure::Codes(_), _) => false,
        }
    }
}

/// How many measured runs each command gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunCount {
    /// Exactly this many.
    Exact(u64),
    /// As many as fit in `duration` per command (estimated from the first run), but at least
    /// `min` and at most `max`.
    Auto {
        /// Fewest runs.
        min: u64,
        /// Most runs (`None`: no cap).
        max: Option<u64>,
        /// Time budget per command.
        #[serde(with = "perfkit_metrics::serde_ns")]
        duration: Duration,
    },
}

impl Default for RunCount {
    fn default() -> Self {
        RunCount::Auto {
            min: 10,
            max: None,
            duration: Duration::from_secs(3),
        }
    }
}

/// The order of measured runs when several commands are compared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// A B A B …: drift over time hits every command alike. Every command gets the same
    /// number of runs (an `Auto` budget is shared: commands × duration in total).
    #[default]
    Interleaved,
    /// All runs of A, then all runs of B (each with its own `Auto` budget).
    Sequential,
    /// Every command the same number of times, in a shuffled order (seeded).
    Random,
}

/// Everything `perfkit bench` needs to know.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchPlan {
    /// The commands, at least one.
    pub targets: Vec<BenchTarget>,
    /// Number of measured runs.
    pub runs: RunCount,
    /// Untimed runs per command before measuring.
    pub warmup: u64,
    /// Kill a run after this long; a timed-out run is a failed run.
    pub timeout: Option<Duration>,
    /// File fed to every run's standard input (otherwise `/dev/null`).
    pub input: Option<PathBuf>,
    /// Where the runs' standard output and error go, helpers' included (as in hyperfine).
    pub output: ProgramOutput,
    /// With the output on `/dev/null`, run each command once more into a pipe and report in
    /// [`CommandReport::output_probe`] whether it behaves differently.
    pub probe_output: bool,
    /// Which failed runs to keep going after, and include in the statistics (timed-out runs
    /// are counted but never included: their time is cut short).
    pub ignore_failure: IgnoreFailure,
    /// Order of measured runs.
    pub order: Order,
    /// The target the others are compared with (`--reference`); the fastest without one.
    pub reference: Option<usize>,
    /// The CPUs the benchmarked commands (not their helpers) are pinned to.
    pub affinity: Option<affinity::CpuSet>,
    /// Give every run `HYPERFINE_RANDOMIZED_ENVIRONMENT_OFFSET`, a variable of random length
    /// (drawn from `seed`), as hyperfine does: the environment sits above the stack, so its
    /// size moves where the stack starts, and no single memory layout biases every run.
    pub randomize_environment: bool,
    /// Seed of the random order, the environment offsets and the bootstrap.
    pub seed: u64,
}

/// The commands of a benchmark as the user wrote them: each helper list holds nothing, one
/// command for every benchmark, or one per benchmark; names are fewer than the commands, or
/// with parameters one for all or one per benchmark.
#[derive(Clone, Copy, Debug)]
pub struct CommandTexts<'a> {
    /// The benchmarked commands.
    pub commands: &'a [String],
    /// Their names.
    pub names: &'a [String],
    /// Run before each run.
    pub prepare: &'a [String],
    /// Run after each run.
    pub conclude: &'a [String],
    /// Run once before a command's runs.
    pub setup: &'a [String],
    /// Run once after a command's runs.
    pub cleanup: &'a [String],
    /// Which commands (helpers included) run through a shell.
    pub shell: &'a Shell,
    /// The parameters every command is run over; `None` is one benchmark per command.
    pub parameters: Option<&'a Parameters>,
    /// hyperfine's `--reference` and `--reference-name`: a command benchmarked first, without
    /// parameters, that the others are compared with, and its name. With parameters it is
    /// instead the full name of the benchmark to compare with, as in hyperfine 1.21.
    pub reference: Option<(&'a str, Option<&'a str>)>,
    /// Variables for the commands and helpers (`--env 'A=1 B="x y"'`): one for all, or one
    /// per benchmark.
    pub env: &'a [String],
}

/// Commands run through a shell only when they need one.
static AUTO: Shell = Shell::Auto;

impl Default for CommandTexts<'_> {
    fn default() -> Self {
        CommandTexts {
            commands: &[],
            names: &[],
            prepare: &[],
            conclude: &[],
            setup: &[],
            cleanup: &[],
            shell: &AUTO,
            parameters: None,
            reference: None,
            env: &[],
        }
    }
}

impl BenchTarget {
    /// One target per command and set of parameter values, with its name and helper
    /// commands, in hyperfine's order: for each set of values, every command.
    ///
    /// Every `{name}` of a parameter is replaced by its value in the command, its name and
    /// its helpers. A benchmark's name is its name as given, or its command; the parameters
    /// its command does not mention follow it in brackets.
    ///
    /// # Errors
    /// [`SysError::HelperCount`] or [`SysError::NameCount`] when a list fits no count,
    /// [`SysError::Parameter`] for parameters that make no benchmark or too many, or the
    /// error of a command that cannot be split into arguments.
    pub fn from_texts(texts: &CommandTexts<'_>) -> Result<Vec<BenchTarget>, SysError> {
        let k = texts.commands.len();
        let combinations = match texts.parameters {
            Some(parameters) => parameters.combinations()?,
            None => vec![Vec::new()],
        };
        let total = combinations
            .len()
            .checked_mul(k)
            .filter(|&n| n <= params::MAX_BENCHMARKS)
            .ok_or_else(|| SysError::Parameter {
                detail: format!(
                    "{k} commands over {} sets of parameter values make more than {} benchmarks",
                    combinations.len(),
                    params::MAX_BENCHMARKS
                ),
            })?;
        // Helpers count a reference command as a benchmark, as hyperfine does; with
        // parameters the reference is one of the benchmarks.
        let separate = texts.reference.filter(|_| texts.parameters.is_none());
        let with_reference = total + usize::from(separate.is_some());
        texts.check_counts(total, with_reference)?;
        let parse = |text: &str| CommandSpec::parse_in(text, texts.shell);
        // Helpers always run through a shell, hyperfine 2's rule: sh when commands run without.
        let helper_shell = texts.shell.for_helpers();
        // The helper of benchmark `b` (the reference's is 0), its parameters replaced.
        let helper = |values: &[String], b: usize, combination: &[Parameter]| {
            let text = values
                .get(b)
                .or_else(|| values.first().filter(|_| values.len() == 1));
            text.map(|t| CommandSpec::parse_in(&params::substitute(t, combination), &helper_shell))
                .transpose()
        };
        // `--env` is split into assignments before parameters are replaced in the values, so
        // that a value never becomes two assignments.
        let envs = texts
            .env
            .iter()
            .map(|text| parse_env(text))
            .collect::<Result<Vec<_>, _>>()?;
        let env_of = |b: usize| {
            envs.get(b)
                .or_else(|| envs.first().filter(|_| envs.len() == 1))
        };
        let helpers = |target: &mut BenchTarget, b: usize, combination: &[Parameter]| {
            target.prepare = helper(texts.prepare, b, combination)?;
            target.conclude = helper(texts.conclude, b, combination)?;
            target.setup = helper(texts.setup, b, combination)?;
            target.cleanup = helper(texts.cleanup, b, combination)?;
            if let Some(env) = env_of(b) {
                target.env = env
                    .iter()
                    .map(|(name, value)| (name.clone(), params::substitute(value, combination)))
                    .collect();
            }
            Ok::<_, SysError>(())
        };
        let mut targets = Vec::with_capacity(with_reference);
        if let Some((command, name)) = separate {
            let mut target = BenchTarget::new(parse(command)?);
            if let Some(name) = name {
                name.clone_into(&mut target.name);
            }
            helpers(&mut target, 0, &[])?;
            targets.push(target);
        }
        let first = targets.len();
        for combination in &combinations {
            for template in texts.commands {
                let b = targets.len() - first;
                let mut target =
                    BenchTarget::new(parse(&params::substitute(template, combination))?);
                helpers(&mut target, b + first, combination)?;
                let name = texts.names.get(b).or_else(|| {
                    texts
                        .names
                        .first()
                        .filter(|_| texts.parameters.is_some() && texts.names.len() == 1)
                });
                // Unnamed, a benchmark with variables is named as a shell would run it:
                // `OMP_NUM_THREADS=1 cmd`, as hyperfine 2 names it.
                let base = name.map_or_else(
                    || {
                        let assignments = target.env.iter().map(|(k, v)| {
                            format!("{k}={}", shlex::try_quote(v).unwrap_or_else(|_| v.into()))
                        });
                        let words: Vec<String> = assignments.chain([target.name.clone()]).collect();
                        words.join(" ")
                    },
                    |n| params::substitute(n, combination),
                );
                // A parameter used in --env's values is used.
                let env_values: String = (env_of(b + first).into_iter().flatten())
                    .map(|(_, v)| v.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                let unused =
                    params::unused_suffix(&format!("{template} {env_values}"), combination);
                target.name = format!("{base}{unused}");
                target.base_name = (!unused.is_empty()).then_some(base);
                target.parameters.clone_from(combination);
                targets.push(target);
            }
        }
        Ok(targets)
    }
}

impl CommandTexts<'_> {
    /// Which of `targets` (made by [`BenchTarget::from_texts`] from these texts) is the
    /// reference: the reference command, first, or with parameters the one benchmark whose
    /// full name is the `--reference` text, as hyperfine 1.21 selects it.
    ///
    /// # Errors
    /// [`SysError::InvalidPlan`] when no benchmark or several have that name, or for
    /// `--reference-name` with parameters.
    pub fn reference_index(&self, targets: &[BenchTarget]) -> Result<Option<usize>, SysError> {
        let Some((text, name)) = self.reference else {
            return Ok(None);
        };
        if self.parameters.is_none() {
            return Ok(Some(0));
        }
        let invalid = |detail: String| SysError::InvalidPlan { detail };
        if name.is_some() {
            return Err(invalid(
                "with parameters, --reference names one of the benchmarks rather than a command of its own, so --reference-name has nothing to name: give the benchmarks names with --command-name".into(),
            ));
        }
        let matching: Vec<usize> = (0..targets.len())
            .filter(|&i| targets[i].name == text)
            .collect();
        match matching[..] {
            [i] => Ok(Some(i)),
            [] => {
                let names: Vec<String> = targets
                    .iter()
                    .take(5)
                    .map(|t| format!("'{}'", t.name))
                    .collect();
                let more = if targets.len() > 5 { ", …" } else { "" };
                Err(invalid(format!(
                    "--reference '{text}' is not the name of a benchmark; with parameters it selects one by its full name: {}{more}",
                    names.join(", ")
                )))
            }
            _ => Err(invalid(format!(
                "--reference '{text}' names {} benchmarks; give them distinct names with --command-name",
                matching.len()
            ))),
        }
    }

    /// Checks that every list fits the benchmarks: `total` of them, `with_reference` counting
    /// the reference (helpers and `--env` count it; names do not).
    fn check_counts(&self, total: usize, with_reference: usize) -> Result<(), SysError> {
        let k = self.commands.len();
        let check = |values: &[String], role: Role| match values.len() {
            0 | 1 => Ok(()),
            n if n == with_reference => Ok(()),
            given => Err(SysError::HelperCount {
                role,
                given,
                commands: with_reference,
            }),
        };
        check(self.prepare, Role::Prepare)?;
        check(self.conclude, Role::Conclude)?;
        check(self.setup, Role::Setup)?;
        check(self.cleanup, Role::Cleanup)?;
        if !matches!(self.env.len(), 0 | 1) && self.env.len() != with_reference {
            return Err(SysError::InvalidPlan {
                detail: format!(
                    "{} --env given for {with_reference} benchmarks: give one for all, or one per benchmark",
                    self.env.len()
                ),
            });
        }
        let named = self.names.len();
        let names_fit = if self.parameters.is_some() {
            named <= 1 || named == total
        } else {
            named <= k
        };
        if !names_fit {
            return Err(SysError::NameCount {
                given: named,
                commands: total,
            });
        }
        Ok(())
    }
}

/// `--env`'s assignments: words as a shell splits them (quotes, no expansion), each
/// `NAME=VALUE`.
fn parse_env(text: &str) -> Result<Vec<(String, String)>, SysError> {
    let invalid = |why: &str| SysError::InvalidPlan {
        detail: format!(
            "--env '{text}': {why}; write NAME=VALUE pairs, e.g. --env 'OMP_NUM_THREADS=8 CFLAGS=\"-O3\"'"
        ),
    };
    let words = shlex::split(text).ok_or_else(|| invalid("unbalanced quotes"))?;
    words
        .into_iter()
        .map(|word| {
            let (name, value) = word
                .split_once('=')
                .ok_or_else(|| invalid("a word without ="))?;
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(invalid(
                    "a variable name is letters, digits and _, not starting with a digit",
                ));
            }
            Ok((name.to_owned(), value.to_owned()))
        })
        .try_fold(Vec::new(), |mut out: Vec<(String, String)>, pair| {
            // A name given twice takes its last value, as a shell's assignments do.
            let (name, value) = pair?;
            out.retain(|(n, _)| *n != name);
            out.push((name, value));
            Ok(out)
        })
}

impl BenchPlan {
    /// Checks the plan as [`run_bench`] does first (settings, outputs, that every program
    /// can start), without running anything: for a caller with work to do before the runs,
    /// such as reading a FIFO, that a mistake found later would waste.
    ///
    /// # Errors
    /// As [`run_bench`]'s before the first run.
    pub fn check(&self) -> Result<(), SysError> {
        validate(self, &ProcessExecutor::default())
    }

    /// Every file the benchmarked commands write their output to: no export may be one.
    #[must_use]
    pub fn output_files(&self) -> Vec<&Path> {
        std::iter::once(&self.output)
            .chain(self.targets.iter().filter_map(|t| t.output.as_ref()))
            .filter_map(|o| match o {
                ProgramOutput::File(path) => Some(path.as_path()),
                _ => None,
            })
            .collect()
    }

    /// The first name two targets share: a baseline, which keeps one entry per name, cannot
    /// hold both.
    #[must_use]
    pub fn duplicate_name(&self) -> Option<&str> {
        let mut seen = std::collections::HashSet::new();
        (self.targets.iter())
            .find(|t| !seen.insert(t.name.as_str()))
            .map(|t| t.name.as_str())
    }

    /// A plan with default settings (automatic run count, no warm-up, interleaved).
    #[must_use]
    pub fn new(targets: Vec<BenchTarget>) -> Self {
        Self {
            targets,
            runs: RunCount::default(),
            warmup: 0,
            timeout: None,
            input: None,
            output: ProgramOutput::Null,
            probe_output: false,
            ignore_failure: IgnoreFailure::None,
            order: Order::default(),
            reference: None,
            affinity: None,
            randomize_environment: false,
            seed: 0,
        }
    }
}

/// The stage a benchmark is in, for progress display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Running setup commands.
    Setup,
    /// Warm-up runs.
    Warmup,
    /// Measured runs.
    Measure,
    /// Running cleanup commands.
    Cleanup,
}

/// Receives progress while a benchmark runs. Every method has an empty default.
pub trait BenchObserver {
    /// The benchmark entered `phase` for target `target`.
    fn phase(&mut self, phase: Phase, target: usize) {
        let _ = (phase, target);
    }
    /// The expected total of measured runs is now `total` (it changes as run counts are
    /// estimated).
    fn planned(&mut self, total: u64) {
        let _ = total;
    }
    /// A measured run of `target` finished.
    fn measured(&mut self, target: usize, outcome: &RunOutcome) {
        let _ = (target, outcome);
    }
}

/// A [`BenchObserver`] that ignores everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoObserver;

impl BenchObserver for NoObserver {}

/// The result of [`run_bench`]; serialised as `perfkit bench --json` (see `docs/formats.md`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// Format version, [`BENCH_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Version of the perfkit that measured.
    pub perfkit_version: String,
    /// When the benchmark finished, in seconds since the Unix epoch.
    pub created_unix_s: u64,
    /// Order of the measured runs.
    pub order: Order,
    /// Seed used for the random order and the bootstrap.
    pub seed: u64,
    /// One entry per command, in the order given.
    pub commands: Vec<CommandReport>,
    /// Speed of each command relative to the fastest (empty for a single command).
    pub relative: Vec<RelativeSpeed>,
    /// Which command is the reference (`--reference`), even when it is the only one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<usize>,
}

/// Statistics of one benchmarked command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommandReport {
    /// Display name.
    pub name: String,
    /// The name without the parameters the command does not mention, when `name` lists
    /// some ([`BenchTarget::base_name`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_name: Option<String>,
    /// The parameter values of this benchmark (`-P`, `-L`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<Parameter>,
    /// The argument vector that was run.
    pub command: Vec<String>,
    /// The command as given, after parameter substitution (hyperfine 2's `command`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_line: Option<String>,
    /// The variables `--env` set for it, after parameter substitution.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    /// Runs included in the statistics.
    pub runs: u64,
    /// Runs that exited non-zero or were killed by a signal (included only with
    /// `ignore_failure`).
    pub failed_runs: u64,
    /// Runs killed at the timeout (never included).
    pub timed_out_runs: u64,
    /// Exact summary of wall times, in nanoseconds.
    pub wall: Summary,
    /// Mean user CPU time per run, in nanoseconds.
    pub user_mean_ns: f64,
    /// Mean system CPU time per run, in nanoseconds.
    pub system_mean_ns: f64,
    /// Largest peak RSS of any run, in bytes.
    pub peak_rss_bytes: u64,
    /// perfkit's own peak RSS when it spawned the runs: the kernel's floor under
    /// `peak_rss_bytes` (see [`RunOutcome::max_rss_bytes`]).
    pub rss_floor_bytes: Option<u64>,
    /// Histogram of wall times in nanoseconds (3 significant digits), for merging and
    /// regression checks.
    pub histogram: Histogram,
    /// Every measured run, in the order they ran.
    pub samples: Vec<RunOutcome>,
    /// One run into `/dev/null` against one into a pipe ([`BenchPlan::probe_output`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_probe: Option<OutputProbe>,
}

/// One run with the output on `/dev/null` against one into a pipe. Some programs check where
/// their output goes: GNU grep stops at the first match when it is `/dev/null`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputProbe {
    /// Wall time into `/dev/null`, nanoseconds.
    pub null_wall_ns: u64,
    /// Wall time into a pipe, nanoseconds.
    pub pipe_wall_ns: u64,
    /// Bytes read into `/dev/null` (`rchar`), when known.
    pub null_read_bytes: Option<u64>,
    /// Bytes read into a pipe, when known.
    pub pipe_read_bytes: Option<u64>,
    /// Whether the two differ enough to say the program skips work into `/dev/null`: it
    /// read at least twice as much (and 1 MiB more) into the pipe, or took at least twice as
    /// long (and 20 ms more).
    pub differs: bool,
}

impl OutputProbe {
    /// Compares a run into `/dev/null` with one into a pipe.
    #[must_use]
    pub fn new(null: &RunOutcome, pipe: &RunOutcome) -> OutputProbe {
        let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let (null_wall_ns, pipe_wall_ns) = (ns(null.wall), ns(pipe.wall));
        let null_read_bytes = null.io.map(|io| io.rchar);
        let pipe_read_bytes = pipe.io.map(|io| io.rchar);
        let reads_more = matches!((null_read_bytes, pipe_read_bytes),
            (Some(n), Some(p)) if p >= n.saturating_mul(2) && p - n >= 1 << 20);
        let takes_longer = pipe_wall_ns >= null_wall_ns.saturating_mul(2)
            && pipe_wall_ns - null_wall_ns >= 20_000_000;
        // A run into a pipe also pays for its output (and waits while the pipe is drained,
        // slowly on a busy machine), so a longer wall time alone says little when both runs
        // read the same: then only more time in the program's own code counts.
        let (null_user, pipe_user) = (ns(null.user), ns(pipe.user));
        let computes_more =
            pipe_user >= null_user.saturating_mul(2) && pipe_user - null_user >= 20_000_000;
        let reads_known = null_read_bytes.is_some() && pipe_read_bytes.is_some();
        OutputProbe {
            null_wall_ns,
            pipe_wall_ns,
            null_read_bytes,
            pipe_read_bytes,
            differs: reads_more || (takes_longer && (!reads_known || computes_more)),
        }
    }

    /// The warning to print before the numbers, when the runs differ.
    #[must_use]
    pub fn warning(&self, name: &str) -> Option<String> {
        if !self.differs {
            return None;
        }
        let reads = match (self.null_read_bytes, self.pipe_read_bytes) {
            (Some(n), Some(p)) if p > n => format!(
                ", reading {} instead of {}",
                perfkit_metrics::format_bytes(p),
                perfkit_metrics::format_bytes(n)
            ),
            _ => String::new(),
        };
        Some(format!(
            "'{name}' does less when its output goes to /dev/null: one run into a pipe took {} against {}{reads}. It may check where its output goes (GNU grep stops at the first match): measure the real work with its output into a pipe, or keep /dev/null on purpose",
            perfkit_metrics::format_duration(self.pipe_wall_ns as f64),
            perfkit_metrics::format_duration(self.null_wall_ns as f64),
        ))
    }
}

/// How much slower a command is than the fastest one, or than the reference.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RelativeSpeed {
    /// The command's name.
    pub name: String,
    /// Whether this is the fastest command (by mean wall time).
    pub fastest: bool,
    /// Whether this is the reference the others are compared with (`--reference`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reference: bool,
    /// Mean wall time divided by the reference's mean, or without one the fastest command's
    /// (1 for that command).
    pub ratio: f64,
    /// 95% percentile-bootstrap interval of `ratio`; `None` for the command compared with, or
    /// when no interval can be computed (e.g. a mean of 0).
    pub interval: Option<Interval>,
}

/// Runs the benchmark described by `plan`.
///
/// Errors: a command that cannot start (`CommandNotFound`, ...), bad plan or input file, and —
/// unless `ignore_failure` — [`SysError::CommandFailed`] for the first failing run. Cleanup
/// commands run even after an error (their own failures are then ignored).
///
/// ```
/// use perfkit_sys::{BenchPlan, BenchTarget, CommandSpec, NoObserver, RunCount, run_bench};
///
/// let mut plan = BenchPlan::new(vec![BenchTarget::new(CommandSpec::parse("true", false).unwrap())]);
/// plan.runs = RunCount::Exact(3);
/// let report = run_bench(&plan, &mut NoObserver).unwrap();
/// assert_eq!(report.commands[0].runs, 3);
/// ```
pub fn run_bench(
    plan: &BenchPlan,
    observer: &mut dyn BenchObserver,
) -> Result<BenchReport, SysError> {
    run_bench_with(plan, observer, &mut ProcessExecutor::default())
}

/// [`run_bench`] with the runs made by `executor` instead of real processes: the schedule,
/// the run count, failures and the report are the same.
///
/// # Errors
/// As [`run_bench`].
pub fn run_bench_with(
    plan: &BenchPlan,
    observer: &mut dyn BenchObserver,
    executor: &mut dyn Executor,
) -> Result<BenchReport, SysError> {
    validate(plan, executor)?;
    let mut runner = Runner {
        plan,
        observer,
        executor,
        outcomes: vec![Vec::new(); plan.targets.len()],
        setup_done: vec![false; plan.targets.len()],
        rng: fastrand::Rng::with_seed(plan.seed),
        // Apart from the order's generator, so that the order a seed gives stays the same,
        // and seeded differently for every seed (a rotation leaves 0 as it is), so that the
        // two never draw in step.
        offsets: fastrand::Rng::with_seed(plan.seed ^ OFFSET_SEED),
        warm_outcome: vec![None; plan.targets.len()],
        probes: vec![None; plan.targets.len()],
    };
    let result = runner.schedule();
    // Clean up whatever was set up, even after an error.
    let cleanup = runner.cleanup_all();
    result?;
    cleanup?;
    let outcomes = std::mem::take(&mut runner.outcomes);
    let mut report = build_report(plan, outcomes)?;
    for (c, probe) in report.commands.iter_mut().zip(runner.probes) {
        c.output_probe = probe;
    }
    Ok(report)
}

fn validate(plan: &BenchPlan, executor: &dyn Executor) -> Result<(), SysError> {
    let invalid = |detail: &str| {
        Err(SysError::InvalidPlan {
            detail: detail.to_string(),
        })
    };
    if plan.targets.is_empty() {
        return invalid("no command to benchmark");
    }
    let too_many = |what: &str, n: u64| {
        Err(SysError::InvalidPlan {
            detail: format!(
                "{n} {what} per command is more than the {MAX_RUNS} perfkit keeps (every run's measurements are kept in memory and in the report)"
            ),
        })
    };
    match plan.runs {
        RunCount::Exact(n) if n > MAX_RUNS => return too_many("runs", n),
        RunCount::Auto { min, .. } if min > MAX_RUNS => return too_many("runs", min),
        _ => {}
    }
    if plan.warmup > MAX_RUNS {
        return too_many("warm-up runs", plan.warmup);
    }
    match plan.runs {
        RunCount::Exact(0) => return invalid("the number of runs must be at least 1"),
        RunCount::Auto {
            min,
            max: Some(max),
            ..
        } if max < min => {
            return Err(SysError::InvalidPlan {
                detail: format!("max runs ({max}) is below min runs ({min})"),
            });
        }
        RunCount::Auto { min: 0, .. } => {
            return invalid("the minimum number of runs must be at least 1");
        }
        _ => {}
    }
    if plan.timeout == Some(Duration::ZERO) {
        return invalid("the timeout must be longer than 0");
    }
    if plan.reference.is_some_and(|i| i >= plan.targets.len()) {
        return invalid("the reference is not one of the commands");
    }
    if let Some(path) = &plan.input {
        File::open(path).map_err(|source| SysError::Input {
            path: path.clone(),
            source,
        })?;
    }
    plan.output.check(plan.input.as_deref())?;
    for output in plan.targets.iter().filter_map(|t| t.output.as_ref()) {
        output.check(plan.input.as_deref())?;
    }
    if let Some(cpus) = &plan.affinity {
        cpus.check()?;
    }
    // Fail before anything runs (setup commands included) if a program cannot be found.
    for t in &plan.targets {
        for spec in [
            Some(&t.command),
            t.prepare.as_ref(),
            t.conclude.as_ref(),
            t.setup.as_ref(),
            t.cleanup.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            executor.check(spec, &t.env)?;
        }
    }
    Ok(())
}

/// Mixed into `--seed` for the environment offsets' generator (the golden ratio's bits).
const OFFSET_SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// `HYPERFINE_RANDOMIZED_ENVIRONMENT_OFFSET` is shorter than this, as in hyperfine.
const ENVIRONMENT_OFFSET_LIMIT: usize = 4096;

/// One run the benchmark asks for.
#[derive(Clone, Copy, Debug)]
pub struct Execution<'a> {
    /// The command.
    pub command: &'a CommandSpec,
    /// What the run is for: [`Role::Benchmark`] and [`Role::Warmup`] runs are of the
    /// benchmarked command, the others of its helpers.
    pub role: Role,
    /// The standard input of the run, benchmarked or helper (hyperfine gives its helpers the
    /// benchmark's `--input` too).
    pub input: Option<&'a Path>,
    /// Where the run's standard output and error go, benchmarked or helper (hyperfine's
    /// `--show-output` shows its helpers' output too).
    pub output: &'a ProgramOutput,
    /// The benchmarked command's time limit; helpers have none.
    pub timeout: Option<Duration>,
    /// Which run of the benchmarked command this is, or which run a prepare or conclude
    /// command belongs to; `None` for setup and cleanup.
    pub iteration: Option<Iteration>,
    /// Variables set for this run (`--env`), benchmarked or helper.
    pub env: &'a [(String, String)],
    /// The CPUs the benchmarked command is pinned to; helpers run anywhere.
    pub affinity: Option<&'a affinity::CpuSet>,
    /// The length of `HYPERFINE_RANDOMIZED_ENVIRONMENT_OFFSET` for this run, if it has one.
    pub environment_offset: Option<usize>,
}

/// Which run of a benchmarked command a process is (or its prepare or conclude command
/// belongs to), told to it in the environment as `HYPERFINE_ITERATION` and
/// `PERFKIT_ITERATION`: `warmup-0`, `warmup-1`, … for runs before the measured ones (the
/// output check's runs included), then `0`, `1`, … for measured runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Iteration {
    /// An unmeasured run before the measured ones, counted from 0.
    Warmup(u64),
    /// A measured run, counted from 0.
    Measured(u64),
}

impl Iteration {
    /// The environment variables that carry it.
    pub const VARIABLES: [&'static str; 2] = ["HYPERFINE_ITERATION", "PERFKIT_ITERATION"];

    /// The value the variables take.
    #[must_use]
    pub fn value(self) -> String {
        match self {
            Iteration::Warmup(n) => format!("warmup-{n}"),
            Iteration::Measured(n) => n.to_string(),
        }
    }
}

impl Execution<'_> {
    /// Whether this is a run of the benchmarked command rather than of a helper.
    #[must_use]
    pub fn benchmarked(&self) -> bool {
        matches!(self.role, Role::Benchmark | Role::Warmup)
    }
}

/// What makes the runs of a benchmark: [`ProcessExecutor`] starts and measures processes;
/// a test can script the outcomes instead, to check the schedule without spawning anything.
pub trait Executor {
    /// Checks, before anything runs, that `command` can be started with `env` (`--env`) set:
    /// a `PATH` there is where the program is looked for, as it will be when it starts.
    ///
    /// # Errors
    /// The program is missing or not executable.
    fn check(&self, command: &CommandSpec, env: &[(String, String)]) -> Result<(), SysError> {
        let program = &command.argv()[0];
        match path_in(env) {
            Some(path) => crate::check_program_on(program, path.as_ref()).map(drop),
            None => crate::check_program(program).map(drop),
        }
    }

    /// Makes one run.
    ///
    /// # Errors
    /// The run could not be made (the program could not start, its input or output could not
    /// be opened). A program that fails is an outcome, not an error.
    fn execute(&mut self, run: &Execution<'_>) -> Result<RunOutcome, SysError>;
}

/// The `PATH` that variables set (the last one wins, as in a process's environment).
fn path_in(env: &[(String, String)]) -> Option<&str> {
    env.iter()
        .rev()
        .find(|(name, _)| name == "PATH")
        .map(|(_, path)| path.as_str())
}

/// The executor of [`run_bench`]: every run is a process, measured by [`crate::run`].
#[derive(Clone, Debug, Default)]
pub struct ProcessExecutor {
    /// Programs looked up in a `PATH` that `--env` sets, by name and `PATH`: once per
    /// benchmark rather than before every run.
    found: std::collections::HashMap<(String, String), Option<PathBuf>>,
}

impl Executor for ProcessExecutor {
    fn execute(&mut self, run: &Execution<'_>) -> Result<RunOutcome, SysError> {
        let found = match path_in(run.env) {
            Some(path) => {
                let key = (run.command.argv()[0].clone(), path.to_owned());
                (self.found.entry(key))
                    .or_insert_with(|| run.command.found_on(path))
                    .clone()
            }
            None => None,
        };
        let mut command = run.command.command_from(found.as_deref());
        if let Some(iteration) = run.iteration {
            let value = iteration.value();
            for variable in Iteration::VARIABLES {
                command.env(variable, &value);
            }
        }
        if let Some(length) = run.environment_offset {
            command.env(
                "HYPERFINE_RANDOMIZED_ENVIRONMENT_OFFSET",
                "X".repeat(length),
            );
        }
        command.envs(run.env.iter().map(|(k, v)| (k, v)));
        ProgramIo {
            input: run.input.map(Path::to_path_buf),
            output: run.output.clone(),
        }
        .apply_measured(&mut command)?;
        // Pinned outside the timed span; the guard gives the thread its CPUs back after the
        // run, so the helpers that follow run anywhere. Giving them back right after the
        // spawn would put a system call inside the span, while the thread only sleeps in
        // wait until then.
        let _pinned = match run.affinity {
            Some(cpus) => Some(cpus.pin_this_thread()?),
            None => None,
        };
        crate::process::run(
            &mut command,
            RunOptions {
                timeout: run.timeout,
                ..RunOptions::default()
            },
        )
    }
}

struct Runner<'a> {
    plan: &'a BenchPlan,
    observer: &'a mut dyn BenchObserver,
    executor: &'a mut dyn Executor,
    outcomes: Vec<Vec<RunOutcome>>,
    setup_done: Vec<bool>,
    rng: fastrand::Rng,
    /// The lengths of `HYPERFINE_RANDOMIZED_ENVIRONMENT_OFFSET`.
    offsets: fastrand::Rng,
    /// Each command's last warm-up run, until the output probe takes it.
    warm_outcome: Vec<Option<RunOutcome>>,
    /// Each command's output probe.
    probes: Vec<Option<OutputProbe>>,
}

/// What a helper or benchmarked command is, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The benchmarked command (measured run).
    Benchmark,
    /// A warm-up run of the benchmarked command.
    Warmup,
    /// The `prepare` command.
    Prepare,
    /// The `conclude` command.
    Conclude,
    /// The `setup` command.
    Setup,
    /// The `cleanup` command.
    Cleanup,
}

impl Role {
    /// The role's one-word name: `benchmark`, `warmup`, `prepare`, `conclude`, `setup`,
    /// `cleanup`.
    #[must_use]
    pub fn kind(self) -> &'static str {
        match self {
            Role::Benchmark => "benchmark",
            Role::Warmup => "warmup",
            Role::Prepare => "prepare",
            Role::Conclude => "conclude",
            Role::Setup => "setup",
            Role::Cleanup => "cleanup",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Benchmark => "benchmarked command",
            Role::Warmup => "warm-up run of",
            Role::Prepare => "prepare command of",
            Role::Conclude => "conclude command of",
            Role::Setup => "setup command of",
            Role::Cleanup => "cleanup command of",
        })
    }
}

impl Runner<'_> {
    fn schedule(&mut self) -> Result<(), SysError> {
        let k = self.plan.targets.len();
        match self.plan.order {
            Order::Sequential => {
                let mut decided: Vec<Option<u64>> = vec![None; k];
                for i in 0..k {
                    self.setup(i)?;
                    self.warmup(i)?;
                    self.observer.phase(Phase::Measure, i);
                    let n = match self.plan.runs {
                        RunCount::Exact(n) => n,
                        RunCount::Auto { .. } => {
                            self.report_planned(&decided);
                            let one = self.typical_wall(i)?;
                            self.auto_count(one)
                        }
                    };
                    decided[i] = Some(n);
                    self.report_planned(&decided);
                    while (self.outcomes[i].len() as u64) < n {
                        self.measure(i)?;
                    }
                    self.cleanup(i)?;
                }
            }
            Order::Interleaved | Order::Random => {
                for i in 0..k {
                    self.setup(i)?;
                }
                for i in 0..k {
                    self.warmup(i)?;
                }
                self.observer.phase(Phase::Measure, 0);
                let n = match self.plan.runs {
                    RunCount::Exact(n) => n,
                    RunCount::Auto { .. } => {
                        self.observer.planned(k as u64);
                        let mut round = Duration::ZERO;
                        for i in 0..k {
                            round += self.typical_wall(i)?;
                        }
                        // The budget is per command; a round runs every command once.
                        self.auto_count(round / u32::try_from(k).unwrap_or(u32::MAX))
                    }
                };
                self.observer.planned(n.saturating_mul(k as u64));
                // The order is drawn one run at a time, so memory does not depend on the
                // number of runs planned.
                let done = self.outcomes[0].len() as u64;
                let mut remaining = vec![n - done.min(n); k];
                let mut next = 0;
                while let Some(i) = self.next_run(&mut remaining, &mut next) {
                    self.measure(i)?;
                }
            }
        }
        Ok(())
    }

    /// The command of the next interleaved or random run, given how many runs each command
    /// still has. Random order picks a command with probability proportional to its remaining
    /// runs: one uniformly shuffled sequence of all runs, drawn lazily.
    fn next_run(&mut self, remaining: &mut [u64], next: &mut usize) -> Option<usize> {
        let total: u64 = remaining.iter().sum();
        if total == 0 {
            return None;
        }
        let i = if self.plan.order == Order::Random {
            let mut pick = self.rng.u64(0..total);
            remaining
                .iter()
                .position(|&r| {
                    if pick < r {
                        true
                    } else {
                        pick -= r;
                        false
                    }
                })
                .unwrap_or(0)
        } else {
            // A B A B …: the next command (in turn) that still has runs.
            let k = remaining.len();
            let i = (0..k)
                .map(|step| (*next + step) % k)
                .find(|&i| remaining[i] > 0)
                .unwrap_or(0);
            *next = (i + 1) % k;
            i
        };
        remaining[i] -= 1;
        Some(i)
    }

    fn report_planned(&mut self, decided: &[Option<u64>]) {
        let total = decided.iter().map(|d| d.unwrap_or(1)).sum();
        self.observer.planned(total);
    }

    /// One warm run's wall time, to plan the run count by: the first measured run's after a
    /// warm-up; without warm-up the faster of the first two (the first may have found every
    /// cache cold and would plan too few runs).
    fn typical_wall(&mut self, i: usize) -> Result<Duration, SysError> {
        let most = match self.plan.runs {
            RunCount::Auto { max: Some(max), .. } => max,
            _ => u64::MAX,
        };
        let wanted = if self.plan.warmup == 0 && most >= 2 {
            2
        } else {
            1
        };
        while self.outcomes[i].len() < wanted {
            self.measure(i)?;
        }
        Ok(self.outcomes[i]
            .iter()
            .take(wanted)
            .map(|o| o.wall)
            .min()
            .unwrap_or(Duration::ZERO))
    }

    /// Runs for an automatic count given one run's wall time.
    fn auto_count(&self, one_run: Duration) -> u64 {
        let RunCount::Auto { min, max, duration } = self.plan.runs else {
            unreachable!("auto_count is only called for RunCount::Auto")
        };
        let wanted = if one_run.is_zero() {
            u64::MAX
        } else {
            (duration.as_secs_f64() / one_run.as_secs_f64()).ceil() as u64
        };
        // Without an explicit cap, never plan more than MAX_RUNS.
        wanted.clamp(min, max.unwrap_or(MAX_RUNS).min(MAX_RUNS).max(min))
    }

    fn setup(&mut self, i: usize) -> Result<(), SysError> {
        let plan = self.plan;
        if let Some(setup) = &plan.targets[i].setup {
            self.observer.phase(Phase::Setup, i);
            self.helper(i, setup, Role::Setup)?;
        }
        self.setup_done[i] = true;
        Ok(())
    }

    fn warmup(&mut self, i: usize) -> Result<(), SysError> {
        if self.plan.warmup > 0 {
            self.observer.phase(Phase::Warmup, i);
        }
        for w in 0..self.plan.warmup {
            self.prepare(i, Iteration::Warmup(w))?;
            let plan = self.plan;
            let outcome = self.execute(
                i,
                &plan.targets[i].command,
                Role::Warmup,
                Iteration::Warmup(w),
            );
            self.conclude(i, Iteration::Warmup(w))?;
            let outcome = outcome?;
            if !self.plan.ignore_failure.accepts(outcome.status) {
                return Err(self.failed(i, Role::Warmup, outcome.status, 0));
            }
            self.warm_outcome[i] = Some(outcome);
        }
        self.probe_output(i)
    }

    /// With the output on `/dev/null`, runs the command once into a pipe and compares it with
    /// a run into `/dev/null` (the last warm-up run, or one more run): a program that reads
    /// or takes much less when its output is discarded is not measured doing its work.
    fn probe_output(&mut self, i: usize) -> Result<(), SysError> {
        if !self.plan.probe_output
            || self.plan.output != ProgramOutput::Null
            || self.plan.targets[i].output.is_some()
        {
            return Ok(());
        }
        let plan = self.plan;
        let command = &plan.targets[i].command;
        let mut extra = self.plan.warmup;
        let null = if let Some(outcome) = self.warm_outcome[i].take() {
            outcome
        } else {
            self.prepare(i, Iteration::Warmup(extra))?;
            let outcome = self.execute(i, command, Role::Benchmark, Iteration::Warmup(extra));
            self.conclude(i, Iteration::Warmup(extra))?;
            extra += 1;
            outcome?
        };
        self.prepare(i, Iteration::Warmup(extra))?;
        let pipe = self.execute_into(
            i,
            command,
            Role::Benchmark,
            &ProgramOutput::Pipe,
            Some(Iteration::Warmup(extra)),
        );
        self.conclude(i, Iteration::Warmup(extra))?;
        let pipe = pipe?;
        self.probes[i] = Some(OutputProbe::new(&null, &pipe));
        Ok(())
    }

    /// Runs the command's prepare command before its run `iteration`, which it is told.
    fn prepare(&mut self, i: usize, iteration: Iteration) -> Result<(), SysError> {
        let plan = self.plan;
        if let Some(prepare) = &plan.targets[i].prepare {
            self.helper_of(i, prepare, Role::Prepare, Some(iteration))?;
        }
        Ok(())
    }

    /// Runs the command's conclude command after its run `iteration`, which it is told.
    fn conclude(&mut self, i: usize, iteration: Iteration) -> Result<(), SysError> {
        let plan = self.plan;
        if let Some(conclude) = &plan.targets[i].conclude {
            self.helper_of(i, conclude, Role::Conclude, Some(iteration))?;
        }
        Ok(())
    }

    fn measure(&mut self, i: usize) -> Result<(), SysError> {
        let done = self.outcomes[i].len() as u64;
        self.prepare(i, Iteration::Measured(done))?;
        let plan = self.plan;
        let outcome = self.execute(
            i,
            &plan.targets[i].command,
            Role::Benchmark,
            Iteration::Measured(done),
        );
        // Whatever prepare started is stopped, even when the run could not be made.
        self.conclude(i, Iteration::Measured(done))?;
        let outcome = outcome?;
        let run = done + 1;
        if !self.plan.ignore_failure.accepts(outcome.status) {
            return Err(self.failed(i, Role::Benchmark, outcome.status, run));
        }
        self.observer.measured(i, &outcome);
        self.outcomes[i].push(outcome);
        Ok(())
    }

    fn cleanup(&mut self, i: usize) -> Result<(), SysError> {
        if !std::mem::replace(&mut self.setup_done[i], false) {
            return Ok(());
        }
        let plan = self.plan;
        if let Some(cleanup) = &plan.targets[i].cleanup {
            self.observer.phase(Phase::Cleanup, i);
            self.helper(i, cleanup, Role::Cleanup)?;
        }
        Ok(())
    }

    fn cleanup_all(&mut self) -> Result<(), SysError> {
        let mut first_error = None;
        for i in 0..self.plan.targets.len() {
            if let Err(e) = self.cleanup(i) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn helper(&mut self, i: usize, spec: &CommandSpec, role: Role) -> Result<(), SysError> {
        self.helper_of(i, spec, role, None)
    }

    /// A helper run, told `iteration` when it belongs to one run (prepare, conclude).
    fn helper_of(
        &mut self,
        i: usize,
        spec: &CommandSpec,
        role: Role,
        iteration: Option<Iteration>,
    ) -> Result<(), SysError> {
        let plan = self.plan;
        let output = plan.targets[i].output.as_ref().unwrap_or(&plan.output);
        let outcome = self.execute_into(i, spec, role, output, iteration)?;
        if outcome.status.success() {
            Ok(())
        } else {
            Err(self.failed(i, role, outcome.status, 0))
        }
    }

    fn failed(&self, i: usize, role: Role, status: ExitKind, run: u64) -> SysError {
        SysError::CommandFailed {
            name: self.plan.targets[i].name.clone(),
            role,
            status,
            run,
        }
    }

    /// One run of target `i`'s benchmarked command `spec`, into the plan's output.
    fn execute(
        &mut self,
        i: usize,
        spec: &CommandSpec,
        role: Role,
        iteration: Iteration,
    ) -> Result<RunOutcome, SysError> {
        let plan = self.plan;
        let output = plan.targets[i].output.as_ref().unwrap_or(&plan.output);
        self.execute_into(i, spec, role, output, Some(iteration))
    }

    /// One run of `spec`, reading the plan's input and writing to `output`; only a
    /// benchmarked one has a time limit and is pinned.
    fn execute_into(
        &mut self,
        i: usize,
        spec: &CommandSpec,
        role: Role,
        output: &ProgramOutput,
        iteration: Option<Iteration>,
    ) -> Result<RunOutcome, SysError> {
        let plan = self.plan;
        let mut run = Execution {
            command: spec,
            role,
            input: plan.input.as_deref(),
            output,
            timeout: plan.timeout,
            iteration,
            affinity: plan.affinity.as_ref(),
            env: &plan.targets[i].env,
            environment_offset: (plan.randomize_environment)
                .then(|| self.offsets.usize(..ENVIRONMENT_OFFSET_LIMIT)),
        };
        if !run.benchmarked() {
            run.timeout = None;
            run.affinity = None;
        }
        self.executor.execute(&run)
    }
}

fn build_report(plan: &BenchPlan, outcomes: Vec<Vec<RunOutcome>>) -> Result<BenchReport, SysError> {
    let mut commands = Vec::with_capacity(outcomes.len());
    let mut walls: Vec<Vec<f64>> = Vec::with_capacity(outcomes.len());
    for (target, samples) in plan.targets.iter().zip(outcomes) {
        let included: Vec<&RunOutcome> = samples
            .iter()
            .filter(|o| o.status != ExitKind::TimedOut)
            .collect();
        let wall_ns: Vec<u64> = included
            .iter()
            .map(|o| u64::try_from(o.wall.as_nanos()).unwrap_or(u64::MAX))
            .collect();
        let wall = Summary::exact(&wall_ns).ok_or_else(|| SysError::AllRunsTimedOut {
            name: target.name.clone(),
        })?;
        let mut histogram = Histogram::new();
        for &v in &wall_ns {
            histogram.record(v);
        }
        let n = included.len() as f64;
        let mean_of = |f: fn(&RunOutcome) -> Duration| {
            included.iter().map(|o| f(o).as_nanos() as f64).sum::<f64>() / n
        };
        walls.push(wall_ns.iter().map(|&v| v as f64).collect());
        commands.push(CommandReport {
            name: target.name.clone(),
            base_name: target.base_name.clone(),
            parameters: target.parameters.clone(),
            command: target.command.argv().to_vec(),
            command_line: Some(target.command.to_string()),
            environment: target.env.iter().cloned().collect(),
            runs: included.len() as u64,
            failed_runs: included.iter().filter(|o| !o.status.success()).count() as u64,
            timed_out_runs: samples
                .iter()
                .filter(|o| o.status == ExitKind::TimedOut)
                .count() as u64,
            wall,
            user_mean_ns: mean_of(|o| o.user),
            system_mean_ns: mean_of(|o| o.system),
            peak_rss_bytes: included.iter().map(|o| o.max_rss_bytes).max().unwrap_or(0),
            rss_floor_bytes: included.iter().filter_map(|o| o.rss_floor_bytes).max(),
            histogram,
            samples,
            output_probe: None,
        });
    }
    let relative = if commands.len() < 2 {
        Vec::new()
    } else {
        let fastest = (0..commands.len())
            .min_by(|&a, &b| commands[a].wall.mean.total_cmp(&commands[b].wall.mean))
            .unwrap_or(0);
        let base = plan.reference.unwrap_or(fastest);
        let base_mean = commands[base].wall.mean;
        commands
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let interval = (i != base)
                    .then(|| {
                        bootstrap_ratio(
                            &walls[i],
                            &walls[base],
                            Statistic::Mean,
                            0.95,
                            RESAMPLES,
                            plan.seed,
                        )
                    })
                    .flatten();
                let ratio = match (&interval, i == base) {
                    (_, true) => 1.0,
                    (Some(interval), false) => interval.estimate,
                    (None, false) if base_mean > 0.0 => c.wall.mean / base_mean,
                    (None, false) => f64::INFINITY,
                };
                RelativeSpeed {
                    name: c.name.clone(),
                    fastest: i == fastest,
                    reference: plan.reference == Some(i),
                    ratio,
                    interval,
                }
            })
            .collect()
    };
    Ok(BenchReport {
        schema_version: BENCH_SCHEMA_VERSION,
        perfkit_version: env!("CARGO_PKG_VERSION").to_string(),
        created_unix_s: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        order: plan.order,
        seed: plan.seed,
        commands,
        relative,
        reference: plan.reference,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run of `wall_ms` that read `read` bytes (unknown: `None`) with `user_ms` in its own code.
    fn probed(wall_ms: u64, user_ms: u64, read: Option<u64>) -> RunOutcome {
        let mut run =
            RunOutcome::timed(ExitKind::Exited { code: 0 }, Duration::from_millis(wall_ms));
        run.user = Duration::from_millis(user_ms);
        run.io = read.map(|rchar| crate::IoCounters {
            rchar,
            ..crate::IoCounters::default()
        });
        run
    }

    #[test]
    fn the_output_probe_names_less_work_not_the_pipes_cost() {
        let mb = 1 << 20;
        // cat: the same input either way; the pipe run waits for its output to be drained.
        let cat = OutputProbe::new(&probed(3, 1, Some(8 * mb)), &probed(88, 1, Some(8 * mb)));
        assert!(!cat.differs, "{cat:?}");
        // GNU grep into /dev/null stops at the first match.
        let grep = OutputProbe::new(&probed(2, 1, Some(64 << 10)), &probed(30, 20, Some(8 * mb)));
        assert!(grep.differs, "{grep:?}");
        // The same input, but work done only for a real output.
        let formats = OutputProbe::new(&probed(10, 8, Some(mb)), &probed(90, 80, Some(mb)));
        assert!(formats.differs, "{formats:?}");
        // Without I/O counters, the wall time is all there is to go by.
        let unknown = OutputProbe::new(&probed(3, 1, None), &probed(88, 1, None));
        assert!(unknown.differs, "{unknown:?}");
        let alike = OutputProbe::new(&probed(30, 20, None), &probed(35, 21, None));
        assert!(!alike.differs, "{alike:?}");
    }

    #[test]
    fn helper_lists_give_one_for_all_or_one_each() {
        let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let (commands, one, two) = (owned(&["true", "false"]), owned(&["a"]), owned(&["b", "c"]));
        let texts = CommandTexts {
            commands: &commands,
            prepare: &one,
            cleanup: &two,
            names: &two,
            ..CommandTexts::default()
        };
        let targets = BenchTarget::from_texts(&texts).expect("targets");
        let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["b", "c"]);
        assert!(
            targets
                .iter()
                .all(|t| t.prepare.as_ref().is_some_and(|p| p.to_string() == "a"))
        );
        assert_eq!(
            targets[1].cleanup.as_ref().map(ToString::to_string),
            Some("c".into())
        );
        let three = owned(&["x", "y", "z"]);
        let wrong = CommandTexts {
            setup: &three,
            ..texts
        };
        assert!(matches!(
            BenchTarget::from_texts(&wrong),
            Err(SysError::HelperCount {
                role: Role::Setup,
                given: 3,
                commands: 2
            })
        ));
        // Fewer names than commands name the first ones, as hyperfine does; more are refused.
        let partly = BenchTarget::from_texts(&CommandTexts {
            names: &one,
            ..texts
        })
        .expect("targets");
        assert_eq!(
            (partly[0].name.as_str(), partly[1].name.as_str()),
            ("a", "false")
        );
        assert!(matches!(
            BenchTarget::from_texts(&CommandTexts {
                names: &three,
                ..texts
            }),
            Err(SysError::NameCount { .. })
        ));
        let plan = BenchPlan::new(
            BenchTarget::from_texts(&CommandTexts {
                names: &[],
                ..texts
            })
            .expect("targets"),
        );
        assert_eq!(plan.duplicate_name(), None);
        let same = owned(&["true", "true"]);
        let plan = BenchPlan::new(
            BenchTarget::from_texts(&CommandTexts {
                commands: &same,
                names: &[],
                ..texts
            })
            .expect("targets"),
        );
        assert_eq!(plan.duplicate_name(), Some("true"));
    }

    #[test]
    fn parameters_make_one_benchmark_per_value_and_command() {
        let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let commands = owned(&["sleep {t}", "echo {mode}"]);
        let parameters = Parameters::Lists(vec![
            ("t".into(), owned(&["1", "2"])),
            ("mode".into(), owned(&["fast"])),
        ]);
        let texts = CommandTexts {
            commands: &commands,
            prepare: &owned(&["prep {t}"]),
            conclude: &owned(&["stop {mode}"]),
            parameters: Some(&parameters),
            ..CommandTexts::default()
        };
        let targets = BenchTarget::from_texts(&texts).expect("targets");
        let seen: Vec<(&str, Option<&str>, String, String)> = targets
            .iter()
            .map(|t| {
                (
                    t.name.as_str(),
                    t.base_name.as_deref(),
                    t.prepare.as_ref().unwrap().to_string(),
                    t.conclude.as_ref().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                (
                    "sleep 1 (mode = fast)",
                    Some("sleep 1"),
                    "prep 1".into(),
                    "stop fast".into()
                ),
                (
                    "echo fast (t = 1)",
                    Some("echo fast"),
                    "prep 1".into(),
                    "stop fast".into()
                ),
                (
                    "sleep 2 (mode = fast)",
                    Some("sleep 2"),
                    "prep 2".into(),
                    "stop fast".into()
                ),
                (
                    "echo fast (t = 2)",
                    Some("echo fast"),
                    "prep 2".into(),
                    "stop fast".into()
                ),
            ]
        );
        assert_eq!(targets[2].command.argv(), ["sleep", "2"]);
        assert_eq!(targets[3].parameters.len(), 2);
        // One name is every benchmark's, with `{t}` replaced; otherwise one per benchmark.
        let one = owned(&["nap {t}"]);
        let named = BenchTarget::from_texts(&CommandTexts {
            names: &one,
            ..texts
        })
        .expect("targets");
        assert_eq!(named[2].name, "nap 2 (mode = fast)");
        let two = owned(&["a", "b"]);
        assert!(matches!(
            BenchTarget::from_texts(&CommandTexts {
                names: &two,
                ..texts
            }),
            Err(SysError::NameCount {
                given: 2,
                commands: 4
            })
        ));
        // Helpers: one for all or one per benchmark (four here), not one per command.
        assert!(matches!(
            BenchTarget::from_texts(&CommandTexts {
                cleanup: &two,
                ..texts
            }),
            Err(SysError::HelperCount {
                role: Role::Cleanup,
                given: 2,
                commands: 4
            })
        ));
        let scan = Parameters::Scan {
            name: "n".into(),
            min: "1".into(),
            max: "100000".into(),
            step: None,
        };
        assert!(matches!(
            BenchTarget::from_texts(&CommandTexts {
                parameters: Some(&scan),
                ..texts
            }),
            Err(SysError::Parameter { .. })
        ));
    }

    #[test]
    fn conclude_follows_every_run_and_each_run_knows_its_iteration() {
        let mut target = target("work");
        target.prepare = Some(CommandSpec::parse("prep", false).unwrap());
        target.conclude = Some(CommandSpec::parse("stop", false).unwrap());
        let mut plan = BenchPlan::new(vec![target]);
        plan.warmup = 1;
        plan.runs = RunCount::Exact(2);
        let mut script = Script::fast();
        bench(&plan, &mut script).expect("report");
        // Prepare and conclude are told the run they belong to, as hyperfine 1.21 and later
        // tell them.
        let expected = [
            ("prep", Role::Prepare, Some("warmup-0")),
            ("work", Role::Warmup, Some("warmup-0")),
            ("stop", Role::Conclude, Some("warmup-0")),
            ("prep", Role::Prepare, Some("0")),
            ("work", Role::Benchmark, Some("0")),
            ("stop", Role::Conclude, Some("0")),
            ("prep", Role::Prepare, Some("1")),
            ("work", Role::Benchmark, Some("1")),
            ("stop", Role::Conclude, Some("1")),
        ];
        let seen: Vec<(&str, Role, Option<String>)> = script
            .log
            .iter()
            .zip(&script.iterations)
            .map(|((c, r), i)| (c.as_str(), *r, i.map(Iteration::value)))
            .collect();
        let expected: Vec<(&str, Role, Option<String>)> = expected
            .iter()
            .map(|(c, r, i)| (*c, *r, i.map(str::to_owned)))
            .collect();
        assert_eq!(seen, expected);
        // A failed run still has its conclude command run before the benchmark stops.
        let mut failing = Script::new(|c, _| {
            if c == "work" {
                (ExitKind::Exited { code: 3 }, MS)
            } else {
                (OK, MS)
            }
        });
        plan.warmup = 0;
        assert!(bench(&plan, &mut failing).is_err());
        assert_eq!(
            failing.roles(),
            [
                ("prep", Role::Prepare),
                ("work", Role::Benchmark),
                ("stop", Role::Conclude)
            ]
        );
    }

    fn target(text: &str) -> BenchTarget {
        BenchTarget::new(CommandSpec::parse(text, false).unwrap())
    }

    #[derive(Default)]
    struct Recording {
        order: Vec<usize>,
        planned: Vec<u64>,
    }

    impl BenchObserver for Recording {
        fn planned(&mut self, total: u64) {
            self.planned.push(total);
        }
        fn measured(&mut self, target: usize, _: &RunOutcome) {
            self.order.push(target);
        }
    }

    /// The outcome of a scripted run: from the command's text and how many runs of it came
    /// before.
    type Outcomes = Box<dyn FnMut(&str, usize) -> (ExitKind, Duration)>;

    /// Runs nothing: answers each run from `outcome` and logs it.
    struct Script {
        outcome: Outcomes,
        log: Vec<(String, Role)>,
        /// Each logged run's iteration.
        iterations: Vec<Option<Iteration>>,
    }

    const OK: ExitKind = ExitKind::Exited { code: 0 };
    const MS: Duration = Duration::from_millis(1);

    impl Script {
        fn new(outcome: impl FnMut(&str, usize) -> (ExitKind, Duration) + 'static) -> Script {
            Script {
                outcome: Box::new(outcome),
                log: Vec::new(),
                iterations: Vec::new(),
            }
        }

        fn fast() -> Script {
            Script::new(|_, _| (OK, MS))
        }

        fn roles(&self) -> Vec<(&str, Role)> {
            self.log.iter().map(|(c, r)| (c.as_str(), *r)).collect()
        }
    }

    impl Executor for Script {
        fn check(&self, _: &CommandSpec, _: &[(String, String)]) -> Result<(), SysError> {
            Ok(())
        }

        fn execute(&mut self, run: &Execution<'_>) -> Result<RunOutcome, SysError> {
            let name = run.command.to_string();
            let before = self.log.iter().filter(|(c, _)| *c == name).count();
            self.log.push((name.clone(), run.role));
            self.iterations.push(run.iteration);
            let (status, wall) = (self.outcome)(&name, before);
            Ok(RunOutcome::timed(status, wall))
        }
    }

    fn bench(plan: &BenchPlan, script: &mut Script) -> Result<BenchReport, SysError> {
        run_bench_with(plan, &mut NoObserver, script)
    }

    #[test]
    fn parsing_and_operators() {
        assert!(matches!(
            CommandSpec::parse("  ", false),
            Err(SysError::EmptyCommand)
        ));
        assert!(matches!(
            CommandSpec::parse("echo 'oops", false),
            Err(SysError::BadQuoting { .. })
        ));
        assert_eq!(
            CommandSpec::parse("ls | wc", false)
                .unwrap()
                .shell_operators(),
            ["|"]
        );
        assert!(
            CommandSpec::parse("ls | wc", true)
                .unwrap()
                .shell_operators()
                .is_empty()
        );
        let c = CommandSpec::from_argv(vec!["echo".into(), "a b".into()]).unwrap();
        assert_eq!(c.to_string(), "echo 'a b'");
    }

    #[test]
    fn interleaved_runs_alternate() {
        let mut plan = BenchPlan::new(vec![target("a"), target("b")]);
        plan.runs = RunCount::Exact(3);
        let mut rec = Recording::default();
        let mut script = Script::new(|c, _| (OK, if c == "a" { MS } else { 2 * MS }));
        let report = run_bench_with(&plan, &mut rec, &mut script).unwrap();
        assert_eq!(rec.order, [0, 1, 0, 1, 0, 1]);
        assert_eq!(rec.planned, [6]);
        assert_eq!(report.relative.len(), 2);
        assert!(report.relative[0].fastest);
        assert!(
            (report.relative[1].ratio - 2.0).abs() < 1e-9,
            "{:?}",
            report.relative
        );
    }

    #[test]
    fn real_processes_are_measured() {
        let mut plan = BenchPlan::new(vec![target("true"), target("true")]);
        plan.runs = RunCount::Exact(2);
        let report = run_bench(&plan, &mut NoObserver).unwrap();
        assert_eq!(report.commands[1].runs, 2);
        assert!(report.commands[0].wall.min > 0);
    }

    #[test]
    fn sequential_and_random_orders() {
        let mut plan = BenchPlan::new(vec![target("a"), target("b")]);
        plan.runs = RunCount::Exact(4);
        plan.order = Order::Sequential;
        let mut rec = Recording::default();
        run_bench_with(&plan, &mut rec, &mut Script::fast()).unwrap();
        assert_eq!(rec.order, [0, 0, 0, 0, 1, 1, 1, 1]);

        plan.order = Order::Random;
        plan.seed = 7;
        let mut rec = Recording::default();
        run_bench_with(&plan, &mut rec, &mut Script::fast()).unwrap();
        assert_eq!(rec.order.iter().filter(|&&t| t == 0).count(), 4);
        assert_ne!(rec.order, [0, 1, 0, 1, 0, 1, 0, 1]);
    }

    #[test]
    fn auto_count_respects_min_and_max() {
        let mut plan = BenchPlan::new(vec![target("a")]);
        plan.runs = RunCount::Auto {
            min: 2,
            max: Some(5),
            duration: Duration::from_secs(60),
        };
        let report = bench(&plan, &mut Script::fast()).unwrap();
        assert_eq!(report.commands[0].runs, 5);
        plan.runs = RunCount::Auto {
            min: 3,
            max: None,
            duration: Duration::ZERO,
        };
        let report = bench(&plan, &mut Script::fast()).unwrap();
        assert_eq!(report.commands[0].runs, 3);
        plan.runs = RunCount::Auto {
            min: 2,
            max: None,
            duration: Duration::from_millis(100),
        };
        let report = bench(&plan, &mut Script::new(|_, _| (OK, 10 * MS))).unwrap();
        assert_eq!(report.commands[0].runs, 10);
    }

    #[test]
    fn the_run_count_is_planned_from_a_warm_run_not_a_cold_one() {
        // The first run takes a second (a cold cache), the others 10 ms.
        let cold_first =
            || Script::new(|_, before| (OK, if before == 0 { 1000 * MS } else { 10 * MS }));
        let mut plan = BenchPlan::new(vec![target("a")]);
        plan.runs = RunCount::Auto {
            min: 2,
            max: Some(1000),
            duration: Duration::from_millis(1500),
        };
        for warmup in [0, 1] {
            plan.warmup = warmup;
            let report = bench(&plan, &mut cold_first()).unwrap();
            let c = &report.commands[0];
            // Planned from the cold run, 1.5 s would have bought two runs.
            assert_eq!(c.runs, 150, "warm-up {warmup}");
            // With a warm-up, the cold run is not in the statistics.
            assert_eq!(c.wall.max > 900_000_000, warmup == 0, "{:?}", c.wall);
        }
    }

    #[test]
    fn failures_stop_unless_ignored() {
        let failing = || Script::new(|_, _| (ExitKind::Exited { code: 1 }, MS));
        let mut plan = BenchPlan::new(vec![target("a")]);
        plan.runs = RunCount::Exact(2);
        let err = bench(&plan, &mut failing()).unwrap_err();
        assert!(
            matches!(
                err,
                SysError::CommandFailed {
                    role: Role::Benchmark,
                    run: 1,
                    ..
                }
            ),
            "{err}"
        );
        plan.ignore_failure = IgnoreFailure::AllNonZero;
        let report = bench(&plan, &mut failing()).unwrap();
        assert_eq!(report.commands[0].failed_runs, 2);
        // Only the codes listed: the command here exits 1.
        plan.ignore_failure = IgnoreFailure::parse("2,1").unwrap();
        assert_eq!(
            bench(&plan, &mut failing()).unwrap().commands[0].failed_runs,
            2
        );
        plan.ignore_failure = IgnoreFailure::parse("2").unwrap();
        assert!(bench(&plan, &mut failing()).is_err());
    }

    #[test]
    fn timeouts_are_counted_not_timed() {
        let hanging = || Script::new(|_, _| (ExitKind::TimedOut, 50 * MS));
        let mut plan = BenchPlan::new(vec![target("a")]);
        plan.runs = RunCount::Exact(1);
        plan.timeout = Some(50 * MS);
        let err = bench(&plan, &mut hanging()).unwrap_err();
        assert!(
            matches!(
                err,
                SysError::CommandFailed {
                    status: ExitKind::TimedOut,
                    ..
                }
            ),
            "{err}"
        );
        plan.ignore_failure = IgnoreFailure::AllNonZero;
        let err = bench(&plan, &mut hanging()).unwrap_err();
        assert!(matches!(err, SysError::AllRunsTimedOut { .. }), "{err}");
    }

    #[test]
    fn setup_prepare_cleanup_run_in_order() {
        let mut t = target("a");
        t.setup = Some(CommandSpec::parse("setup", false).unwrap());
        t.prepare = Some(CommandSpec::parse("prepare", false).unwrap());
        t.cleanup = Some(CommandSpec::parse("cleanup", false).unwrap());
        let mut plan = BenchPlan::new(vec![t]);
        plan.runs = RunCount::Exact(2);
        plan.warmup = 1;
        let mut script = Script::fast();
        bench(&plan, &mut script).unwrap();
        assert_eq!(
            script.roles(),
            [
                ("setup", Role::Setup),
                ("prepare", Role::Prepare),
                ("a", Role::Warmup),
                ("prepare", Role::Prepare),
                ("a", Role::Benchmark),
                ("prepare", Role::Prepare),
                ("a", Role::Benchmark),
                ("cleanup", Role::Cleanup),
            ]
        );
    }

    #[test]
    fn helpers_share_the_io_but_have_no_time_limit() {
        struct Seen(Vec<(Role, bool, bool)>);
        impl Executor for Seen {
            fn check(&self, _: &CommandSpec, _: &[(String, String)]) -> Result<(), SysError> {
                Ok(())
            }
            fn execute(&mut self, run: &Execution<'_>) -> Result<RunOutcome, SysError> {
                let io = run.input.is_some() || *run.output != ProgramOutput::Null;
                self.0.push((run.role, io, run.timeout.is_some()));
                Ok(RunOutcome::timed(OK, MS))
            }
        }
        let mut t = target("a");
        t.prepare = Some(CommandSpec::parse("prepare", false).unwrap());
        let mut plan = BenchPlan::new(vec![t]);
        plan.runs = RunCount::Exact(1);
        plan.input = Some("/dev/null".into());
        plan.output = ProgramOutput::Inherit;
        plan.timeout = Some(Duration::from_secs(1));
        let mut seen = Seen(Vec::new());
        run_bench_with(&plan, &mut NoObserver, &mut seen).unwrap();
        assert_eq!(
            seen.0,
            [(Role::Prepare, true, false), (Role::Benchmark, true, true)]
        );
    }

    #[test]
    fn cleanup_runs_after_a_failure() {
        let mut t = target("a");
        t.cleanup = Some(CommandSpec::parse("cleanup", false).unwrap());
        let mut plan = BenchPlan::new(vec![t]);
        plan.runs = RunCount::Exact(1);
        let mut script = Script::new(|c, _| {
            let code = i32::from(c == "a");
            (ExitKind::Exited { code }, MS)
        });
        assert!(bench(&plan, &mut script).is_err());
        assert_eq!(script.roles().last(), Some(&("cleanup", Role::Cleanup)));
    }

    #[test]
    fn invalid_plans() {
        let mut plan = BenchPlan::new(vec![]);
        assert!(matches!(
            run_bench(&plan, &mut NoObserver),
            Err(SysError::InvalidPlan { .. })
        ));
        plan.targets.push(target("true"));
        plan.runs = RunCount::Exact(0);
        assert!(matches!(
            run_bench(&plan, &mut NoObserver),
            Err(SysError::InvalidPlan { .. })
        ));
        plan.runs = RunCount::Exact(1);
        plan.input = Some("/nonexistent/input".into());
        assert!(matches!(
            run_bench(&plan, &mut NoObserver),
            Err(SysError::Input { .. })
        ));
        plan.input = None;
        plan.targets[0].setup = Some(CommandSpec::parse("perfkit-missing-setup", false).unwrap());
        assert!(matches!(
            run_bench(&plan, &mut NoObserver),
            Err(SysError::CommandNotFound { .. })
        ));
    }
}
