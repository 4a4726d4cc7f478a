//! `cargo xtask`: perfkit's build automation, run through the alias in `.cargo/config.toml`.
//!
//! ```text
//! cargo xtask ci      # what .ci/run checks, minus installing system packages
//! cargo xtask pgo     # profile-guided build of perfkit, trained and verified
//! cargo xtask lto     # fat LTO + 1 codegen unit, measured against release
//! cargo xtask bench   # criterion groups, ratios against peers, --check the targets
//! ```

mod bench;
mod bolt;
mod cargo;
mod lto;
mod measure;
mod pgo;
mod workload;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
usage: cargo xtask <task> [options]

tasks:
  ci      run the checks of .ci/run (minus package installs): cargo fmt --check,
          clippy -D warnings on every target, the workspace tests, and compile the
          benchmarks without running them
  pgo     profile-guided optimisation of a binary (perfkit by default):
            1. find an llvm-profdata of rustc's LLVM major ($LLVM_PROFDATA, rustup's
               llvm-tools, llvm-profdata-<major>, /usr/lib/llvm-<major>/bin, PATH)
            2. build instrumented into target/pgo/gen (--target <host>, your RUSTFLAGS kept)
            3. run the training workloads, each must write a non-empty .profraw
            4. merge, report functions covered, counts, hottest functions, warnings
            5. build optimised into target/pgo/use, count rustc's profile warnings
            6. time it against a plain build (target/pgo/base), interleaved, and write
               target/pgo/report.json
          options: --workloads FILE (default xtask/workloads.toml), --package P, --bin B,
                   --train NAME,..  --eval NAME,..  --rounds N (15), --min-speedup X
                   (default: fail only when significantly slower), --no-verify,
                   --target-dir DIR (default target/pgo), --bolt (then BOLT in
                   instrumentation mode: llvm-bolt-<major>, merge-fdata-<major>; timed
                   against the PGO build)
  lto     build [profile.release-lto] (fat LTO, codegen-units 1) and release into
          target/lto, report both sizes and the speed-up on the evaluation workloads
          options: --workloads FILE, --eval NAME,..  --rounds N (15), --min-speedup X
  bench   run the criterion groups of perfkit-benches, print every contender against the
          fastest, and the ratios benches/targets.toml requires
          options: --check (exit 1 when a target is missed), --no-run (report the results
                   already in target/criterion), GROUP... (only these groups)
  help    print this message

Exit codes: 0 success, 1 a check failed (a missed target, a speed-up below --min-speedup),
2 anything else.";

/// Command-line options after the task name.
struct Args {
    rest: Vec<String>,
}

impl Args {
    /// Removes `--name` and returns whether it was there.
    fn flag(&mut self, name: &str) -> bool {
        let before = self.rest.len();
        self.rest.retain(|a| a != name);
        self.rest.len() != before
    }

    /// Removes `--name VALUE` (or `--name=VALUE`) and returns the value.
    fn value(&mut self, name: &str) -> Result<Option<String>> {
        let prefix = format!("{name}=");
        if let Some(i) = self.rest.iter().position(|a| a.starts_with(&prefix)) {
            let v = self.rest.remove(i)[prefix.len()..].to_string();
            return Ok(Some(v));
        }
        match self.rest.iter().position(|a| a == name) {
            Some(i) if i + 1 < self.rest.len() => {
                self.rest.remove(i);
                Ok(Some(self.rest.remove(i)))
            }
            Some(_) => bail!("{name} needs a value"),
            None => Ok(None),
        }
    }

    fn list(&mut self, name: &str) -> Result<Vec<String>> {
        Ok(self
            .value(name)?
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default())
    }

    fn number<T: std::str::FromStr>(&mut self, name: &str) -> Result<Option<T>> {
        self.value(name)?
            .map(|v| {
                v.parse()
                    .map_err(|_| anyhow::anyhow!("{name} {v}: not a number"))
            })
            .transpose()
    }

    /// Errors on anything left over.
    fn done(self) -> Result<Vec<String>> {
        if let Some(unknown) = self.rest.iter().find(|a| a.starts_with('-')) {
            bail!("unknown option '{unknown}'\n\n{USAGE}");
        }
        Ok(self.rest)
    }
}

/// The workspace root: xtask's parent directory.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn pgo_task(mut args: Args) -> Result<bool> {
    let root = root();
    let opts = pgo::PgoOptions {
        workloads: args
            .value("--workloads")?
            .map_or_else(|| root.join("xtask/workloads.toml"), PathBuf::from),
        package: args.value("--package")?,
        bin: args.value("--bin")?,
        train: args.list("--train")?,
        eval: args.list("--eval")?,
        rounds: args.number("--rounds")?.unwrap_or(15),
        min_speedup: args.number("--min-speedup")?,
        no_verify: args.flag("--no-verify"),
        work_dir: args.value("--target-dir")?.map(PathBuf::from),
        bolt: args.flag("--bolt"),
    };
    no_positionals(&args.done()?)?;
    pgo::run(&root, &opts).map(|_| true)
}

fn lto_task(mut args: Args) -> Result<bool> {
    let root = root();
    let opts = lto::LtoOptions {
        workloads: args
            .value("--workloads")?
            .map_or_else(|| root.join("xtask/workloads.toml"), PathBuf::from),
        eval: args.list("--eval")?,
        rounds: args.number("--rounds")?.unwrap_or(15),
        min_speedup: args.number("--min-speedup")?,
    };
    no_positionals(&args.done()?)?;
    lto::run(&root, &opts).map(|_| true)
}

fn bench_task(mut args: Args) -> Result<bool> {
    let check = args.flag("--check");
    let no_run = args.flag("--no-run");
    let groups = args.done()?;
    bench::run(
        &root(),
        &bench::BenchOptions {
            check,
            no_run,
            groups,
        },
    )
}

fn no_positionals(rest: &[String]) -> Result<()> {
    match rest.first() {
        Some(extra) => bail!("unexpected argument '{extra}'\n\n{USAGE}"),
        None => Ok(()),
    }
}

/// The steps of `cargo xtask ci`, in order. `.ci/run` runs the same commands.
const CI_STEPS: &[&[&str]] = &[
    &["fmt", "--all", "--", "--check"],
    &[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ],
    &["test", "--workspace"],
    // The allocator's counter slots under shuttle's scheduler (a feature, so that normal
    // builds keep std's atomics).
    &[
        "clippy",
        "-p",
        "perfkit-alloc",
        "--features",
        "shuttle",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ],
    &[
        "test",
        "-p",
        "perfkit-alloc",
        "--features",
        "shuttle",
        "--lib",
        "model",
    ],
    &["bench", "--workspace", "--no-run"],
];

fn main() -> ExitCode {
    let mut all: Vec<String> = std::env::args().skip(1).collect();
    let task = if all.is_empty() {
        None
    } else {
        Some(all.remove(0))
    };
    if all.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let args = Args { rest: all };
    let result = match task.as_deref() {
        Some("ci") => ci().map(|()| true),
        Some("pgo") => pgo_task(args),
        Some("lto") => lto_task(args),
        Some("bench") => bench_task(args),
        Some("help" | "-h" | "--help") => {
            println!("{USAGE}");
            Ok(true)
        }
        Some(other) => Err(anyhow::anyhow!("unknown task '{other}'\n\n{USAGE}")),
        None => Err(anyhow::anyhow!("no task given\n\n{USAGE}")),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("xtask: {e:#}");
            // A speed-up below the bar is a failed check, like a missed target.
            if e.to_string().contains("speed-up") || e.to_string().contains("slower than the plain")
            {
                ExitCode::from(1)
            } else {
                ExitCode::from(2)
            }
        }
    }
}

fn ci() -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    for step in CI_STEPS {
        let shown = format!("cargo {}", step.join(" "));
        eprintln!("xtask ci: {shown}");
        let start = Instant::now();
        let status = Command::new(&cargo)
            .args(*step)
            .status()
            .with_context(|| format!("cannot run {shown}"))?;
        if !status.success() {
            bail!("`{shown}` failed ({status})");
        }
        eprintln!("xtask ci: ok in {:.1} s", start.elapsed().as_secs_f64());
    }
    eprintln!("xtask ci: all checks passed");
    Ok(())
}
