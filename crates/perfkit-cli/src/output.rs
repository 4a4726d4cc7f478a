//! Writing results: the macros that print through `perfkit_sys::stdout`, notes, progress
//! bars; and the standard input measured runs get.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub(crate) use perfkit_sys::stdout::{StdoutError, print};

/// `println!` that returns a [`StdoutError`] instead of panicking.
macro_rules! outln {
    () => {
        $crate::output::print("\n")
    };
    ($($arg:tt)*) => {
        $crate::output::print(format!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` that returns a [`StdoutError`] instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::print(format!($($arg)*))
    };
}

/// `eprintln!` that ignores a failed write: perfkit's notes must never turn a result into a
/// panic when standard error is closed or full.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

/// A progress indicator on stderr, hidden when `quiet` or stderr is not a terminal. It starts
/// as a spinner; [`RunProgress`] turns it into a bar once the total is known.
pub(crate) fn progress_bar(quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner:.green} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// Measured runs' progress on a bar: the phase, with the command's name when `names` has it
/// and one command is measured at a time, and a step per run.
pub(crate) struct RunProgress<'a> {
    pub(crate) bar: &'a ProgressBar,
    pub(crate) names: Vec<String>,
}

impl perfkit_sys::BenchObserver for RunProgress<'_> {
    fn phase(&mut self, phase: perfkit_sys::Phase, target: usize) {
        use perfkit_sys::Phase;
        let what = match phase {
            Phase::Setup => "setup",
            Phase::Warmup => "warm-up",
            Phase::Measure => "measuring",
            Phase::Cleanup => "cleanup",
        };
        let interleaved = matches!(phase, Phase::Measure) && self.names.len() > 1;
        self.bar.set_message(match self.names.get(target) {
            Some(name) if !interleaved => format!("{what}: {name}"),
            _ => what.to_string(),
        });
    }

    /// Switches the spinner to a bar of `total` steps (fits in 80 columns).
    fn planned(&mut self, total: u64) {
        if self.bar.length().is_none() {
            self.bar.set_style(
                ProgressStyle::with_template(
                    "{spinner:.green} {msg:<24!} [{bar:25.cyan/blue}] {pos}/{len} ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
        }
        self.bar.set_length(total);
    }

    fn measured(&mut self, _target: usize, _outcome: &perfkit_sys::RunOutcome) {
        self.bar.inc(1);
    }
}

impl perfkit_analyze::AnalyzeObserver for RunProgress<'_> {
    fn step(&mut self, what: &str) {
        self.bar.set_message(what.to_string());
    }
}

/// The standard input every measured run gets ([`perfkit_sys::StdinSource::for_runs`]), and
/// notes on the choice unless `quiet`: a pipe is left to whoever feeds it (a `while read`
/// loop's list is not the program's input), and said.
pub(crate) fn run_input(input: Option<&Path>, quiet: bool) -> Result<perfkit_sys::StdinSource> {
    use perfkit_sys::{StdinNote, StdinSource};
    Ok(StdinSource::for_runs(input, &mut |said| match said {
        _ if quiet => {}
        StdinNote::Waiting => note!(
            "perfkit: --input -: reading standard input to its end, to give every run the same"
        ),
        StdinNote::Replayed { what, chosen: true } => {
            note!("perfkit: every run's standard input: {what}");
        }
        StdinNote::Replayed {
            what,
            chosen: false,
        } => note!(
            "perfkit: every run's standard input: {what} (--input FILE chooses another, --input /dev/null none)"
        ),
        StdinNote::ReadingFifo(fifo) => note!(
            "perfkit: --input {fifo} is a FIFO: reading it to its end (waiting for a writer if none is there yet), to give every run the same"
        ),
        StdinNote::LeftAlone(what) => note!(
            "perfkit: standard input is {what}: the runs get /dev/null; --input - gives them what it holds (read once, replayed to every run), --input FILE a file"
        ),
    })?)
}
