//! `cargo xtask`: perfkit's build automation, run through the alias in `.cargo/config.toml`.
//!
//! ```text
//! cargo xtask ci      # what .ci/run checks, minus installing system packages
//! ```

use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  ci      run the checks of .ci/run (minus package installs): cargo fmt --check,
          clippy -D warnings on every target, the workspace tests, and compile the
          benchmarks without running them
  help    print this message";

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
    &["bench", "--workspace", "--no-run"],
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("help" | "-h" | "--help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(anyhow::anyhow!("unknown task '{other}'\n\n{USAGE}")),
        None => Err(anyhow::anyhow!("no task given\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::from(2)
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
