//! Workloads that train and evaluate an optimised build: commands run with the binary under
//! test, from a small TOML file (`xtask/workloads.toml` by default).
//!
//! ```toml
//! package = "perfkit-cli"     # what to build
//! bin = "perfkit"
//! # manifest = "app/Cargo.toml"   # for a package outside this workspace
//!
//! [[train]]                   # runs of the instrumented binary whose profile is merged
//! name = "check"
//! args = ["check", "--baseline", "{root}/a.json", "--current", "{root}/b.json"]
//! expect_exit = 1             # default 0
//! timeout_s = 60              # default 120
//! stdin = "{inputs}/lines.txt"
//! env = { RUST_LOG = "off" }
//!
//! [[eval]]                    # runs timed to verify the speed-up
//! name = "flamegraph"
//! args = ["flamegraph", "{inputs}/big.folded", "-o", "{tmp}/flame.svg"]
//! ```
//!
//! Placeholders: `{root}` the workspace, `{inputs}` the inputs xtask generates
//! (`big.folded`: 40,000 stacks, 26 MB; `lines.txt`), `{tmp}` a scratch directory.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// The workload file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Spec {
    /// The package's manifest, relative to the workload file, when it is not a member of this
    /// workspace.
    pub(crate) manifest: Option<PathBuf>,
    /// The package to build.
    pub(crate) package: String,
    /// The binary of that package the workloads run.
    pub(crate) bin: String,
    /// Training workloads.
    #[serde(default)]
    pub(crate) train: Vec<Workload>,
    /// Evaluation workloads.
    #[serde(default)]
    pub(crate) eval: Vec<Workload>,
}

/// One command line run with the binary under test.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Workload {
    /// Name, unique within its list.
    pub(crate) name: String,
    /// Arguments after the binary, with placeholders.
    pub(crate) args: Vec<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub(crate) env: BTreeMap<String, String>,
    /// Kill it after this many seconds.
    #[serde(default = "default_timeout")]
    pub(crate) timeout_s: u64,
    /// The exit code it must end with.
    #[serde(default)]
    pub(crate) expect_exit: i32,
    /// A file fed to its standard input (default: nothing).
    pub(crate) stdin: Option<String>,
}

fn default_timeout() -> u64 {
    120
}

impl Spec {
    /// Reads and checks a workload file.
    pub(crate) fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the workload file {}", path.display()))?;
        let mut spec = Spec::parse(&text)
            .with_context(|| format!("{} is not a valid workload file", path.display()))?;
        if let (Some(m), Some(dir)) = (&spec.manifest, path.parent()) {
            spec.manifest = Some(dir.join(m));
        }
        Ok(spec)
    }

    /// Parses and checks the text of a workload file (the manifest stays relative).
    pub(crate) fn parse(text: &str) -> Result<Self> {
        let spec: Spec = toml::from_str(text)?;
        for (what, list) in [("train", &spec.train), ("eval", &spec.eval)] {
            if list.is_empty() {
                bail!("no [[{what}]] workload");
            }
            let mut names = std::collections::HashSet::new();
            for w in list {
                if !names.insert(&w.name) {
                    bail!("two [[{what}]] workloads are called '{}'", w.name);
                }
            }
        }
        Ok(spec)
    }
}

/// Keeps the workloads named in `only` (all when empty); an unknown name is an error.
pub(crate) fn select(list: &[Workload], only: &[String], what: &str) -> Result<Vec<Workload>> {
    if only.is_empty() {
        return Ok(list.to_vec());
    }
    only.iter()
        .map(|name| {
            list.iter()
                .find(|w| &w.name == name)
                .cloned()
                .with_context(|| {
                    format!(
                        "no {what} workload '{name}': the file has {}",
                        list.iter()
                            .map(|w| w.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
        })
        .collect()
}

/// Directories the placeholders stand for.
#[derive(Clone, Debug)]
pub(crate) struct Places {
    /// `{root}`.
    pub(crate) root: PathBuf,
    /// `{inputs}`.
    pub(crate) inputs: PathBuf,
    /// `{tmp}`.
    pub(crate) tmp: PathBuf,
}

impl Places {
    fn expand(&self, text: &str) -> String {
        text.replace("{root}", &self.root.display().to_string())
            .replace("{inputs}", &self.inputs.display().to_string())
            .replace("{tmp}", &self.tmp.display().to_string())
    }
}

/// Runs a workload with `binary`, extra environment `env`; checks its exit code; returns its
/// wall time.
pub(crate) fn run(
    binary: &Path,
    w: &Workload,
    places: &Places,
    env: &[(&str, String)],
) -> Result<Duration> {
    let args: Vec<String> = w.args.iter().map(|a| places.expand(a)).collect();
    let mut command = Command::new(binary);
    command
        .args(&args)
        .envs(w.env.iter().map(|(k, v)| (k.clone(), places.expand(v))))
        .envs(env.iter().map(|(k, v)| (*k, v.clone())))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    match &w.stdin {
        Some(path) => {
            let path = places.expand(path);
            let file = std::fs::File::open(&path)
                .with_context(|| format!("workload '{}': cannot open stdin {path}", w.name))?;
            command.stdin(file);
        }
        None => {
            command.stdin(Stdio::null());
        }
    }
    let start = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot run {}", binary.display()))?;
    let stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut s) = stderr {
            let _ = std::io::Read::read_to_string(&mut s, &mut text);
        }
        text
    });
    let deadline = start + Duration::from_secs(w.timeout_s);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "workload '{}' ran over its {} s timeout",
                w.name,
                w.timeout_s
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let elapsed = start.elapsed();
    let stderr = reader.join().unwrap_or_default();
    if status.code() != Some(w.expect_exit) {
        let mut msg = format!(
            "workload '{}' ended with {status}, expected exit code {}: {} {}",
            w.name,
            w.expect_exit,
            binary.display(),
            args.join(" ")
        );
        if !stderr.trim().is_empty() {
            let tail: Vec<&str> = stderr.trim().lines().rev().take(5).collect();
            let _ = write!(
                msg,
                "\nits last words:\n  {}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n  ")
            );
        }
        bail!(msg);
    }
    Ok(elapsed)
}

/// Writes the generated inputs into `dir` (once: kept when present with the right size).
pub(crate) fn generate_inputs(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    write_once(&dir.join("big.folded"), &folded_stacks(40_000))?;
    let mut lines = String::new();
    for i in 0..200_000u64 {
        let _ = writeln!(lines, "{}", i * 7919 % 1_000_003);
    }
    write_once(&dir.join("lines.txt"), &lines)?;
    Ok(())
}

fn write_once(path: &Path, text: &str) -> Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() == text.len() as u64) {
        return Ok(());
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// `lines` folded stacks (`a;b;c count`) drawn from a fixed pseudo-random sequence: 400
/// function names, depths 4 to 40, like a large application profile.
pub(crate) fn folded_stacks(lines: usize) -> String {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let mut out = String::with_capacity(lines * 120);
    for _ in 0..lines {
        let depth = 4 + next(37);
        let mut frame = next(20);
        for d in 0..depth {
            if d > 0 {
                out.push(';');
            }
            let _ = write!(
                out,
                "crate{}::module{}::function_{frame}",
                frame % 7,
                frame % 13
            );
            // Stacks share prefixes: most children come from a narrow set per parent.
            frame = (frame * 31 + next(if d < 3 { 4 } else { 40 })) % 400;
        }
        let _ = writeln!(out, " {}", 1 + next(500));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_fuzz_corpus_parses_without_panicking() {
        // The inputs `fuzz/fuzz_targets/workload_toml.rs` found or started from.
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/workload_toml");
        let mut count = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let data = std::fs::read(entry.unwrap().path()).unwrap();
            if let Ok(text) = std::str::from_utf8(&data) {
                let _ = Spec::parse(text);
            }
            count += 1;
        }
        assert!(count > 0);
    }

    use super::*;

    #[test]
    fn the_default_workload_file_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("workloads.toml");
        let spec = Spec::load(&path).unwrap();
        assert_eq!(spec.bin, "perfkit");
        assert!(!spec.train.is_empty() && !spec.eval.is_empty());
        assert!(select(&spec.train, &["nope".into()], "training").is_err());
    }

    #[test]
    fn folded_stacks_are_deterministic_and_well_formed() {
        let a = folded_stacks(100);
        assert_eq!(a, folded_stacks(100));
        assert_eq!(a.lines().count(), 100);
        assert!(a.lines().all(|l| {
            l.rsplit_once(' ')
                .is_some_and(|(_, n)| n.parse::<u64>().is_ok())
        }));
    }
}
