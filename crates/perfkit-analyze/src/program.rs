//! What the analysed program is, so that advice fits it: a build of the workspace the user
//! is in, a system program, an interpreter running a script, or something else.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::HotFunction;

/// The program a command runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProgramInfo {
    /// Its path (after wrappers and symbolic links).
    pub path: String,
    /// What it is.
    pub kind: ProgramKind,
    /// Whether the ELF file has no symbol table (`None`: not an ELF file, or unreadable).
    pub stripped: Option<bool>,
}

/// What kind of program it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ProgramKind {
    /// Built in the Cargo workspace around the current directory (under its target directory).
    Workspace {
        /// The workspace's root.
        root: String,
    },
    /// An interpreter running a script (Python, Ruby, Node.js, Perl, Java).
    Interpreter {
        /// The language.
        language: String,
    },
    /// Installed by the system's package manager (under `/usr` or `/bin`, not `/usr/local`).
    System {
        /// The Debian package that owns it, when dpkg says.
        package: Option<String>,
    },
    /// Anything else.
    Other,
}

/// The most bytes of section names read from a binary (real ones hold a few hundred).
const MAX_SECTION_NAMES: usize = 1 << 20;

impl ProgramInfo {
    /// Works out what `program` is (the path the command ran, after wrappers), using the hot
    /// functions to recognise interpreters that are not named like one.
    #[must_use]
    pub fn detect(program: &str, hot: &[HotFunction]) -> Option<ProgramInfo> {
        let found = perfkit_sys::find_program(program)?;
        let path = std::fs::canonicalize(&found).unwrap_or_else(|_| found.clone());
        let stripped = has_symbol_table(&path).map(|symbols| !symbols);
        let kind = if let Some(language) = interpreter_of(&path, hot) {
            ProgramKind::Interpreter { language }
        } else if let Some(root) = workspace_owning(&path) {
            ProgramKind::Workspace {
                root: root.display().to_string(),
            }
        } else if is_system_path(&path) {
            ProgramKind::System {
                // dpkg knows a file by the path it installed, which on a merged /usr may be
                // /bin/X for what resolves to /usr/bin/X.
                package: [found.clone(), path.clone()]
                    .into_iter()
                    .chain(
                        path.strip_prefix("/usr")
                            .ok()
                            .map(|p| Path::new("/").join(p)),
                    )
                    .find_map(|p| dpkg_owner(&p)),
            }
        } else {
            ProgramKind::Other
        };
        Some(ProgramInfo {
            path: path.display().to_string(),
            kind,
            stripped,
        })
    }

    /// A note for the evidence when the binary has no symbols: its functions then show as its
    /// file name in brackets.
    #[must_use]
    pub fn symbols_note(&self) -> Option<String> {
        if self.stripped != Some(true) {
            return None;
        }
        let name = Path::new(&self.path)
            .file_name()
            .map_or_else(|| self.path.clone(), |n| n.to_string_lossy().into_owned());
        Some(format!(
            "{} is stripped (no symbol table): its own functions show as [{name}] and the profile cannot say which is hot",
            self.path
        ))
    }
}

/// The profiler that names a language's own functions, and the perfkit part that helps.
#[must_use]
pub fn language_profiler(language: &str) -> (String, String) {
    let record = "`perfkit record` shows the interpreter's frames".to_string();
    match language {
        "Python" => (
            "py-spy (py-spy record -o profile.svg -- python3 script.py) samples Python frames"
                .into(),
            "`perfkit record` after `python3 -X perf` (Python 3.12 and later) names Python functions in the flamegraph".into(),
        ),
        "Ruby" => (
            "rbspy (rbspy record -- ruby script.rb) samples Ruby frames".into(),
            record,
        ),
        "Node.js" => (
            "node --cpu-prof script.js writes a profile of JavaScript functions (open it in Chrome's DevTools); node --perf-basic-prof lets perf name them".into(),
            "`perfkit record` of `node --perf-basic-prof script.js` names JavaScript functions".into(),
        ),
        "Perl" => (
            "Devel::NYTProf (perl -d:NYTProf script.pl) profiles Perl subroutines".into(),
            record,
        ),
        "Java" => (
            "async-profiler or JDK Flight Recorder (java -XX:+FlightRecorder) sample Java methods"
                .into(),
            "`perfkit record` with a perf map (-XX:+UnlockDiagnosticVMOptions -XX:+DumpPerfMapAtExit) names JIT-compiled methods".into(),
        ),
        other => (
            format!("a {other} profiler samples the script's own functions"),
            record,
        ),
    }
}

/// The language an interpreter at `path` runs, by its name or by its hot functions.
fn interpreter_of(path: &Path, hot: &[HotFunction]) -> Option<String> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    let by_name = [
        ("python", "Python"),
        ("pypy", "Python"),
        ("ruby", "Ruby"),
        ("node", "Node.js"),
        ("nodejs", "Node.js"),
        ("perl", "Perl"),
        ("java", "Java"),
    ]
    .iter()
    .find(|(prefix, _)| {
        name.strip_prefix(prefix)
            .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit() || c == '.'))
    })
    .map(|(_, language)| (*language).to_string());
    if by_name.is_some() {
        return by_name;
    }
    // Interpreters under other names (an embedded CPython, a renamed node).
    let frames = [
        ("_PyEval_EvalFrame", "Python"),
        ("PyEval_EvalCode", "Python"),
        ("vm_exec_core", "Ruby"),
        ("rb_vm_exec", "Ruby"),
        ("Builtins_", "Node.js"),
        ("v8::internal::", "Node.js"),
        ("Perl_runops", "Perl"),
        ("JavaCalls::call", "Java"),
    ];
    hot.iter().find_map(|f| {
        frames
            .iter()
            .find(|(marker, _)| f.name.contains(marker))
            .map(|(_, language)| (*language).to_string())
    })
}

/// The Cargo workspace around the current directory whose target directory holds `path`.
fn workspace_owning(path: &Path) -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    // The outermost Cargo.toml above the current directory is the workspace root (a member's
    // own manifest sits below it).
    let root = cwd
        .ancestors()
        .filter(|dir| dir.join("Cargo.toml").is_file())
        .last()?
        .to_path_buf();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), |t| root.join(PathBuf::from(t)));
    let target = std::fs::canonicalize(&target).ok()?;
    path.starts_with(&target).then_some(root)
}

/// Under the directories a package manager installs to (not `/usr/local`, not `/opt`).
fn is_system_path(path: &Path) -> bool {
    !path.starts_with("/usr/local")
        && ["/usr/", "/bin/", "/sbin/", "/lib/"]
            .iter()
            .any(|dir| path.starts_with(dir))
}

/// The Debian package that owns `path` (`dpkg -S`), when dpkg is there and knows it.
fn dpkg_owner(path: &Path) -> Option<String> {
    let dpkg = perfkit_sys::find_program("dpkg-query")?;
    let out = std::process::Command::new(dpkg)
        .arg("-S")
        .arg(path)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let package = text.lines().next()?.split(':').next()?.trim();
    (!package.is_empty() && !package.contains(' ')).then(|| package.to_string())
}

/// Whether the 64-bit little-endian ELF file at `path` has a `.symtab` section, reading only
/// its headers and section names (a binary may be hundreds of megabytes). `None` for anything
/// else.
fn has_symbol_table(path: &Path) -> Option<bool> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut read_at = |offset: u64, len: usize| -> Option<Vec<u8>> {
        let mut bytes = vec![0; len];
        file.seek(SeekFrom::Start(offset)).ok()?;
        file.read_exact(&mut bytes).ok()?;
        Some(bytes)
    };
    let header = read_at(0, 64)?;
    if header.get(..4)? != b"\x7fELF" || header[4] != 2 || header[5] != 1 {
        return None;
    }
    let u16_at = |b: &[u8], o: usize| Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |b: &[u8], o: usize| Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?));
    let u64_at = |b: &[u8], o: usize| Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?));
    let shoff = u64_at(&header, 40)?;
    let entsize = usize::from(u16_at(&header, 58)?);
    let count = usize::from(u16_at(&header, 60)?);
    let names_index = usize::from(u16_at(&header, 62)?);
    if entsize < 64 || count == 0 || names_index >= count {
        return None;
    }
    let table = read_at(shoff, entsize.checked_mul(count)?)?;
    let section = |i: usize| table.get(i * entsize..(i + 1) * entsize);
    let names = section(names_index)?;
    let names_size = usize::try_from(u64_at(names, 32)?).ok()?;
    if names_size > MAX_SECTION_NAMES {
        return None;
    }
    let names = read_at(u64_at(names, 24)?, names_size)?;
    Some((0..count).any(|i| {
        section(i).is_some_and(|h| {
            let name = u32_at(h, 0).and_then(|n| names.get(n as usize..));
            // SHT_SYMTAB is 2.
            u32_at(h, 4) == Some(2) && name.is_some_and(|n| n.starts_with(b".symtab\0"))
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hot(name: &str) -> Vec<HotFunction> {
        vec![HotFunction {
            name: name.into(),
            self_count: 50,
            inclusive_count: 90,
            self_percent: 50.0,
            inclusive_percent: 90.0,
        }]
    }

    #[test]
    fn interpreters_are_known_by_name_or_by_their_frames() {
        assert_eq!(
            interpreter_of(Path::new("/usr/bin/python3.11"), &[]),
            Some("Python".into())
        );
        assert_eq!(
            interpreter_of(Path::new("/usr/bin/perl"), &[]),
            Some("Perl".into())
        );
        assert_eq!(interpreter_of(Path::new("/usr/bin/pythonista"), &[]), None);
        assert_eq!(
            interpreter_of(
                Path::new("/opt/app/bin/server"),
                &hot("_PyEval_EvalFrameDefault")
            ),
            Some("Python".into())
        );
        assert_eq!(
            interpreter_of(Path::new("/usr/bin/gzip"), &hot("deflate")),
            None
        );
    }

    #[test]
    fn system_paths_exclude_local_installs() {
        assert!(is_system_path(Path::new("/usr/bin/gzip")));
        assert!(is_system_path(Path::new("/bin/sh")));
        assert!(!is_system_path(Path::new("/usr/local/bin/rg")));
        assert!(!is_system_path(Path::new("/root/.cargo/bin/rg")));
    }

    #[test]
    fn symbol_tables_are_found_from_the_headers_alone() {
        // The test binary itself has symbols; a text file is not ELF.
        let me = std::env::current_exe().unwrap();
        assert_eq!(has_symbol_table(&me), Some(true));
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("script.sh");
        std::fs::write(&text, "#!/bin/sh\n").unwrap();
        assert_eq!(has_symbol_table(&text), None);
        // A stripped copy has none.
        let stripped = dir.path().join("stripped");
        let ok = std::process::Command::new("strip")
            .arg("-o")
            .arg(&stripped)
            .arg(&me)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "strip (binutils) is needed");
        assert_eq!(has_symbol_table(&stripped), Some(false));
    }

    #[test]
    fn a_stripped_binary_is_noted() {
        let info = ProgramInfo {
            path: "/usr/bin/gzip".into(),
            kind: ProgramKind::System { package: None },
            stripped: Some(true),
        };
        assert!(info.symbols_note().unwrap().contains("[gzip]"));
        let with = ProgramInfo {
            stripped: Some(false),
            ..info
        };
        assert!(with.symbols_note().is_none());
    }
}
