//! The optional BOLT step of `cargo xtask pgo --bolt`, in instrumentation mode: on VMs like
//! ours perf has no branch sampling (no LBR), so the profile comes from an instrumented copy of
//! the binary running the training workloads.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::cargo::tail;
use crate::workload::{self, Places, Workload};
use perfkit_profilers::llvm::{self, Rustc};

/// What the BOLT step did.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct BoltSummary {
    /// The llvm-bolt used.
    pub(crate) llvm_bolt: String,
    /// `.fdata` files merged.
    pub(crate) profiles_merged: usize,
    /// The optimised binary.
    pub(crate) binary: String,
    /// BOLT's own summary lines (`BOLT-INFO`) about the profile it applied.
    pub(crate) info: Vec<String>,
}

/// Finds `name` (llvm-bolt, merge-fdata) of rustc's LLVM major.
fn find_tool(rustc: &Rustc, name: &str, env_var: &str) -> Result<PathBuf> {
    let list = llvm::candidates(
        name,
        std::env::var_os(env_var).map(PathBuf::from),
        None,
        &rustc.host,
        rustc.llvm_major,
        &llvm::find_program,
    );
    llvm::find(name, env_var, &list, rustc.llvm_major, &|p: &Path| {
        llvm::tool_version(p, &["--version"])
    })
    .map_err(|e| {
        anyhow::Error::new(e).context(format!(
            "BOLT needs {name} of LLVM {}: `apt-get install bolt-{}`",
            rustc.llvm_major, rustc.llvm_major
        ))
    })
}

/// Instruments `binary` (linked with `-Wl,-q`), trains it, and writes the BOLT-optimised copy
/// into `dir`.
pub(crate) fn optimise(
    rustc: &Rustc,
    binary: &Path,
    train: &[Workload],
    places: &Places,
    dir: &Path,
) -> Result<BoltSummary> {
    let bolt = find_tool(rustc, "llvm-bolt", "LLVM_BOLT")?;
    let merge_fdata = find_tool(rustc, "merge-fdata", "MERGE_FDATA")?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir)?;
    let name = binary
        .file_name()
        .context("the binary has no file name")?
        .to_string_lossy()
        .into_owned();
    let instrumented = dir.join(format!("{name}-instrumented"));
    let profile_prefix = dir.join("train");
    run_tool(
        Command::new(&bolt)
            .arg(binary)
            .arg("-instrument")
            .arg("-o")
            .arg(&instrumented)
            .arg(format!(
                "--instrumentation-file={}",
                profile_prefix.display()
            ))
            .arg("--instrumentation-file-append-pid"),
        "llvm-bolt -instrument",
    )?;
    for w in train {
        workload::run(&instrumented, w, places, &[])?;
    }
    let profiles: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("train"))
                && std::fs::metadata(p).is_ok_and(|m| m.len() > 0)
        })
        .collect();
    if profiles.is_empty() {
        bail!("the BOLT-instrumented binary wrote no profile during training");
    }
    let merged = dir.join("merged.fdata");
    let out = Command::new(&merge_fdata)
        .args(&profiles)
        .arg("-o")
        .arg(&merged)
        .output()
        .with_context(|| format!("cannot run {}", merge_fdata.display()))?;
    if !out.status.success() {
        bail!(
            "merge-fdata failed: {}",
            tail(&String::from_utf8_lossy(&out.stderr), 10)
        );
    }
    let optimised = dir.join(&name);
    let log = run_tool(
        Command::new(&bolt)
            .arg(binary)
            .arg("-o")
            .arg(&optimised)
            .arg(format!("-data={}", merged.display()))
            .args([
                "-reorder-blocks=ext-tsp",
                "-reorder-functions=cdsort",
                "-split-functions",
                "-split-all-cold",
                "-split-eh",
                "-dyno-stats",
            ]),
        "llvm-bolt",
    )?;
    let info = log
        .lines()
        .filter(|l| l.contains("BOLT-INFO") && (l.contains("profile") || l.contains("functions")))
        .take(8)
        .map(|l| l.trim().to_string())
        .collect();
    Ok(BoltSummary {
        llvm_bolt: bolt.display().to_string(),
        profiles_merged: profiles.len(),
        binary: optimised.display().to_string(),
        info,
    })
}

/// Runs an LLVM tool; returns its standard output and error together.
fn run_tool(command: &mut Command, what: &str) -> Result<String> {
    let out = command
        .output()
        .with_context(|| format!("cannot run {what}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        bail!("{what} failed ({}):\n{}", out.status, tail(&text, 15));
    }
    Ok(text)
}
