//! Kernel parameters (sysctl) the careful way: read everything first, plan, never lower a limit
//! unless asked, apply only on request with a rollback file written before the first change,
//! verify each write by reading it back, and restore exactly what was there.
//!
//! The `/proc/sys` root is a parameter ([`Sysctl::at`]), so all of this runs on a temporary
//! tree in tests.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Version of the rollback file format.
pub const ROLLBACK_SCHEMA_VERSION: u32 = 1;

/// Errors of kernel tuning. Each says which parameter and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TuneError {
    /// No profile of that name.
    #[error("no tuning profile '{name}': use one of {}", PROFILES.iter().map(|p| p.name).collect::<Vec<_>>().join(", "))]
    UnknownProfile {
        /// The name asked for.
        name: String,
    },
    /// The parameter does not exist on this kernel (or in this container).
    #[error("{name}: not present on this kernel ({})", path.display())]
    Missing {
        /// The parameter.
        name: String,
        /// Its file.
        path: PathBuf,
    },
    /// Reading or writing a parameter failed.
    #[error("{name}: cannot {action} {}: {source}{}", path.display(), permission_hint(source))]
    Io {
        /// The parameter.
        name: String,
        /// `read` or `write`.
        action: &'static str,
        /// Its file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The value read is not what the parameter should hold.
    #[error("{name}: unexpected value {value:?} (expected whitespace-separated integers)")]
    BadValue {
        /// The parameter.
        name: String,
        /// What was read.
        value: String,
    },
    /// A write was accepted but reading back gives something else (the kernel clamps some
    /// values).
    #[error(
        "{name}: wrote {wrote} but the kernel now reports {read}: it refused or clamped the value"
    )]
    NotApplied {
        /// The parameter.
        name: String,
        /// The value written.
        wrote: String,
        /// The value read back.
        read: String,
    },
    /// Some parameters cannot be written: nothing was changed.
    #[error("nothing was changed: {}{hint}", problems.join("; "))]
    CannotApply {
        /// One short line per parameter.
        problems: Vec<String>,
        /// What to do, once (e.g. run as root).
        hint: &'static str,
    },
    /// Applying stopped part-way; the parameters before the failure are changed.
    #[error("stopped after changing {} of {} parameters ({}): {source}; restore them with `perfkit tune rollback {}`", applied.len(), total, applied.join(", "), rollback.display())]
    PartlyApplied {
        /// The parameters changed.
        applied: Vec<String>,
        /// How many changes were planned.
        total: usize,
        /// The rollback file (already written).
        rollback: PathBuf,
        /// What stopped it.
        #[source]
        source: Box<TuneError>,
    },
    /// Rolling back stopped at a parameter the kernel refused; the parameters written before
    /// it were set back to the values they had, so the rollback changed nothing (unless
    /// `not_undone` names some).
    #[error("rolling back stopped: {source}; {}", if not_undone.is_empty() { format!("{undone} parameter(s) were set back to their values before the rollback, so nothing changed") } else { format!("could not set back {}", not_undone.join(", ")) })]
    RollbackStopped {
        /// How many written parameters were set back.
        undone: usize,
        /// Parameters that could not be set back.
        not_undone: Vec<String>,
        /// What stopped it.
        #[source]
        source: Box<TuneError>,
    },
    /// Parameters of the profile that this kernel lacks or hides; the rest was applied.
    #[error("not applied: {} (everything else in profile '{profile}' is in place)", skipped.join("; "))]
    Skipped {
        /// The profile.
        profile: String,
        /// Each parameter, with why.
        skipped: Vec<String>,
    },
    /// A parameter name that is not a dotted sysctl name.
    #[error("{name:?} is not a sysctl parameter name: {reason}")]
    BadName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A parameter whose file, after symlinks, is outside the sysctl tree.
    #[error("{name}: its file {} is outside {}: refused", path.display(), root.display())]
    OutsideRoot {
        /// The parameter.
        name: String,
        /// Where its file leads.
        path: PathBuf,
        /// The sysctl tree.
        root: PathBuf,
    },
    /// A value that does not have the form of the parameter's current value.
    #[error("{name}: {value:?} does not fit: the parameter holds {expected} (now {current:?})")]
    ValueForm {
        /// The parameter.
        name: String,
        /// The value that would have been written.
        value: String,
        /// What the parameter holds, in words.
        expected: String,
        /// Its current value.
        current: String,
    },
    /// The rollback file belongs to another sysctl tree.
    #[error("the rollback file is for {}, not {}: nothing was changed", file_root.display(), root.display())]
    WrongRoot {
        /// The tree recorded in the file.
        file_root: PathBuf,
        /// The tree in use.
        root: PathBuf,
    },
    /// The rollback file cannot be written or read.
    #[error("rollback file {}: {detail}", path.display())]
    RollbackFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

/// Gathers the reasons parameters cannot be changed into one error, the advice given once.
fn cannot_apply(errors: Vec<TuneError>) -> TuneError {
    // The usual case, every parameter refused for the same reason, in one line.
    let same: Option<Vec<(&str, String)>> = errors
        .iter()
        .map(|e| match e {
            TuneError::Io { name, source, .. } => Some((name.as_str(), source.to_string())),
            _ => None,
        })
        .collect();
    if let Some(list) = same
        && list.len() > 1
        && list.iter().all(|(_, why)| *why == list[0].1)
    {
        let hint = match &errors[0] {
            TuneError::Io { source, .. } => permission_hint(source),
            _ => "",
        };
        let names: Vec<&str> = list.iter().map(|(n, _)| *n).collect();
        return TuneError::CannotApply {
            problems: vec![format!(
                "cannot write {} parameters ({}): {}",
                names.len(),
                list[0].1,
                names.join(", ")
            )],
            hint,
        };
    }
    let mut hint = "";
    let problems = errors
        .into_iter()
        .map(|e| match e {
            TuneError::Io {
                name,
                action,
                source,
                ..
            } => {
                if hint.is_empty() {
                    hint = permission_hint(&source);
                }
                format!("{name}: cannot {action} ({source})")
            }
            other => other.to_string(),
        })
        .collect();
    TuneError::CannotApply { problems, hint }
}

fn permission_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => {
            " (run as root, e.g. with sudo; in a container /proc/sys is usually read-only)"
        }
        std::io::ErrorKind::ReadOnlyFilesystem => {
            " (/proc/sys is read-only here, as in most containers: set it on the host)"
        }
        _ => "",
    }
}

/// A `/proc/sys` tree.
#[derive(Clone, Debug)]
pub struct Sysctl {
    root: PathBuf,
}

impl Default for Sysctl {
    fn default() -> Self {
        Self::live()
    }
}

impl Sysctl {
    /// The real `/proc/sys`.
    #[must_use]
    pub fn live() -> Self {
        Self::at("/proc/sys")
    }

    /// A tree rooted elsewhere (tests, a chroot).
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file of a dotted name: `net.ipv4.tcp_fin_timeout` → `<root>/net/ipv4/tcp_fin_timeout`.
    /// The name is not checked; reading and writing go through [`Sysctl::resolve`].
    #[must_use]
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name.replace('.', "/"))
    }

    /// The file of parameter `name`, only if `name` is a dotted sysctl name
    /// ([`validate_name`]) and its file, after following symlinks, lies inside the tree.
    ///
    /// # Errors
    /// [`TuneError::BadName`], [`TuneError::OutsideRoot`], or [`TuneError::Missing`] when
    /// the parameter does not exist.
    pub fn resolve(&self, name: &str) -> Result<PathBuf, TuneError> {
        validate_name(name)?;
        let path = self.path(name);
        let real = std::fs::canonicalize(&path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                TuneError::Missing {
                    name: name.to_string(),
                    path: path.clone(),
                }
            } else {
                TuneError::Io {
                    name: name.to_string(),
                    action: "read",
                    path: path.clone(),
                    source,
                }
            }
        })?;
        let root = std::fs::canonicalize(&self.root).unwrap_or_else(|_| self.root.clone());
        if !real.starts_with(&root) || !std::fs::metadata(&real).is_ok_and(|m| m.is_file()) {
            return Err(TuneError::OutsideRoot {
                name: name.to_string(),
                path: real,
                root,
            });
        }
        Ok(real)
    }

    /// The value of `name` in the live `/proc/sys`, whitespace-normalised; `None` when it is
    /// missing, unreadable or empty. For code that only looks at a setting.
    #[must_use]
    pub fn value(name: &str) -> Option<String> {
        Self::live().read(name).ok().filter(|v| !v.is_empty())
    }

    /// The current value, whitespace-normalised (`32768\t60999` → `32768 60999`).
    pub fn read(&self, name: &str) -> Result<String, TuneError> {
        let path = self.resolve(name)?;
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(text.split_whitespace().collect::<Vec<_>>().join(" ")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(TuneError::Missing {
                name: name.to_string(),
                path,
            }),
            Err(source) => Err(TuneError::Io {
                name: name.to_string(),
                action: "read",
                path,
                source,
            }),
        }
    }

    /// Writes `value` and reads it back; the kernel must report exactly `value`. The value
    /// must have the form of the current one ([`Sysctl::check_value`]); nothing is written
    /// otherwise.
    pub fn write(&self, name: &str, value: &str) -> Result<(), TuneError> {
        self.check_value(name, value)?;
        let path = self.resolve(name)?;
        let io = |source| TuneError::Io {
            name: name.to_string(),
            action: "write",
            path: path.clone(),
            source,
        };
        // /proc/sys files are written in one write(2) without truncation semantics; a
        // regular file (a test tree) must be truncated.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .map_err(io)?;
        file.write_all(format!("{value}\n").as_bytes())
            .map_err(io)?;
        drop(file);
        let read = self.read(name)?;
        if parse(name, &read)? != parse(name, value)? {
            return Err(TuneError::NotApplied {
                name: name.to_string(),
                wrote: value.to_string(),
                read,
            });
        }
        Ok(())
    }

    /// Checks that `value` can be written to `name`: integers separated by single spaces,
    /// as many as the parameter holds now (one for a limit, two for a range).
    ///
    /// # Errors
    /// [`TuneError::ValueForm`], or the errors of [`Sysctl::read`].
    pub fn check_value(&self, name: &str, value: &str) -> Result<(), TuneError> {
        let current = self.read(name)?;
        let count = parse(name, &current)?.len();
        let fits = value.split(' ').all(|w| {
            let digits = w.strip_prefix('-').unwrap_or(w);
            !digits.is_empty() && digits.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit())
        }) && value.split(' ').count() == count;
        if fits {
            return Ok(());
        }
        Err(TuneError::ValueForm {
            name: name.to_string(),
            value: value.to_string(),
            expected: if count == 1 {
                "one integer".to_string()
            } else {
                format!("{count} integers separated by spaces")
            },
            current,
        })
    }

    /// Whether this process may write the parameter (without writing it).
    pub fn writable(&self, name: &str) -> Result<(), TuneError> {
        let path = self.resolve(name)?;
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map(drop)
            .map_err(|source| TuneError::Io {
                name: name.to_string(),
                action: "write",
                path,
                source,
            })
    }
}

/// Checks that `name` is a dotted sysctl name such as `net.ipv4.tcp_fin_timeout`: segments of
/// ASCII letters, digits, `_` and `-`, separated by single dots. Slashes, empty segments,
/// `..` and absolute paths are refused, so a name can never lead out of the sysctl tree.
///
/// ```
/// use perfkit_sys::tune::validate_name;
/// assert!(validate_name("fs.pipe-max-size").is_ok());
/// for bad in ["", "/etc/passwd", "fs..file-max", "fs/file-max", ".fs", "fs.", "a b"] {
///     assert!(validate_name(bad).is_err(), "{bad}");
/// }
/// ```
pub fn validate_name(name: &str) -> Result<(), TuneError> {
    let bad = |reason| {
        Err(TuneError::BadName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > 256 {
        return bad("it is too long");
    }
    if name.split('.').any(str::is_empty) {
        return bad("it has an empty segment (a leading, trailing or double dot)");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return bad("only letters, digits, '_', '-' and '.' may appear");
    }
    if name.split('.').any(|segment| segment.starts_with('-')) {
        return bad("a segment starts with '-'");
    }
    Ok(())
}

/// Which way a parameter should move.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// A limit: bigger is better; lowering it needs `allow_lower`.
    Higher,
    /// Smaller is better (a timeout, a restriction level).
    Lower,
    /// A switch: exactly this value.
    Exact,
    /// A range of two numbers: wider is better (the low end lower, the high end higher).
    Wider,
}

/// One parameter of a profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param {
    /// Dotted sysctl name.
    pub name: &'static str,
    /// The value wanted (integers separated by spaces).
    pub target: &'static str,
    /// Which way is better.
    pub direction: Direction,
    /// Why, in one line.
    pub reason: &'static str,
}

/// A named set of parameters.
#[derive(Clone, Copy, Debug)]
pub struct Profile {
    /// Its name on the command line.
    pub name: &'static str,
    /// What it is for.
    pub about: &'static str,
    /// The parameters.
    pub params: &'static [Param],
}

const CLASSIC: [Param; 4] = [
    Param {
        name: "fs.file-max",
        target: "1000000",
        direction: Direction::Higher,
        reason: "system-wide open files: a pool of workers and their pipes needs many",
    },
    Param {
        name: "net.ipv4.tcp_fin_timeout",
        target: "30",
        direction: Direction::Lower,
        reason: "free sockets in FIN-WAIT-2 sooner under many short connections",
    },
    Param {
        name: "net.ipv4.tcp_tw_reuse",
        target: "1",
        direction: Direction::Exact,
        reason: "reuse TIME-WAIT sockets for new outgoing connections",
    },
    Param {
        name: "kernel.pid_max",
        target: "4194304",
        direction: Direction::Higher,
        reason: "room for many worker processes and threads",
    },
];

const SERVER_EXTRA: [Param; 6] = [
    Param {
        name: "fs.nr_open",
        target: "1048576",
        direction: Direction::Higher,
        reason: "the ceiling of a process's RLIMIT_NOFILE",
    },
    Param {
        name: "net.core.somaxconn",
        target: "4096",
        direction: Direction::Higher,
        reason: "listen backlog: bursts of connections are not dropped",
    },
    Param {
        name: "net.ipv4.ip_local_port_range",
        target: "1024 65535",
        direction: Direction::Wider,
        reason: "more ephemeral ports for outgoing connections",
    },
    Param {
        name: "vm.max_map_count",
        target: "262144",
        direction: Direction::Higher,
        reason: "memory maps per process (mmap-heavy programs, allocators, JVMs)",
    },
    Param {
        name: "fs.pipe-max-size",
        target: "16777216",
        direction: Direction::Higher,
        reason: "lets zero-copy pipes grow to 16 MiB, for copies through large pipes",
    },
    Param {
        name: "net.core.netdev_max_backlog",
        target: "16384",
        direction: Direction::Higher,
        reason: "packets queued per CPU before the kernel drops them",
    },
];

const PROFILING: [Param; 2] = [
    Param {
        name: "kernel.perf_event_paranoid",
        target: "1",
        direction: Direction::Lower,
        reason: "perf record/stat by non-root users, kernel samples included",
    },
    Param {
        name: "kernel.kptr_restrict",
        target: "0",
        direction: Direction::Lower,
        reason: "kernel symbol addresses visible, so profiles name kernel functions",
    },
];

const SERVER: [Param; 10] = [
    CLASSIC[0],
    CLASSIC[1],
    CLASSIC[2],
    CLASSIC[3],
    SERVER_EXTRA[0],
    SERVER_EXTRA[1],
    SERVER_EXTRA[2],
    SERVER_EXTRA[3],
    SERVER_EXTRA[4],
    SERVER_EXTRA[5],
];

/// The profiles: `server` (the default: the classic four parameters and the usual limits for
/// process managers and servers), `minimal` (exactly the classic four), `profiling`.
pub const PROFILES: [Profile; 3] = [
    Profile {
        name: "server",
        about: "the classic four parameters and the usual limits for process pools and servers",
        params: &SERVER,
    },
    Profile {
        name: "minimal",
        about: "exactly the classic four: fs.file-max, tcp_fin_timeout, tcp_tw_reuse, pid_max",
        params: &CLASSIC,
    },
    Profile {
        name: "profiling",
        about: "perf without root, kernel symbols in profiles",
        params: &PROFILING,
    },
];

/// The profile called `name`.
pub fn profile(name: &str) -> Result<&'static Profile, TuneError> {
    PROFILES
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| TuneError::UnknownProfile {
            name: name.to_string(),
        })
}

/// Parses a value into its integers.
fn parse(name: &str, value: &str) -> Result<Vec<i128>, TuneError> {
    let numbers: Result<Vec<i128>, _> = value.split_whitespace().map(str::parse).collect();
    match numbers {
        Ok(n) if !n.is_empty() => Ok(n),
        _ => Err(TuneError::BadValue {
            name: name.to_string(),
            value: value.to_string(),
        }),
    }
}

/// What the plan says about one parameter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Change it.
    Change {
        /// The value to write.
        to: String,
    },
    /// Already at or beyond the target.
    Keep,
    /// The target would lower a limit; skipped without `allow_lower`.
    WouldLower {
        /// The target that was not applied.
        target: String,
    },
    /// Not on this kernel.
    Missing,
    /// Could not be read.
    Unreadable {
        /// Why.
        error: String,
    },
}

/// One line of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanEntry {
    /// Dotted name.
    pub name: String,
    /// The current value (`None` when missing or unreadable).
    pub current: Option<String>,
    /// The profile's target.
    pub target: String,
    /// Which way is better.
    pub direction: Direction,
    /// What to do.
    pub action: Action,
    /// Why the parameter is in the profile.
    pub reason: String,
}

impl PlanEntry {
    /// Name, current value, proposed value, action: a row of [`Plan::to_text`].
    fn row(&self) -> [String; 4] {
        let current = self.current.clone().unwrap_or_else(|| "—".into());
        let (proposed, what) = match &self.action {
            Action::Change { to } => (to.clone(), "change".to_string()),
            Action::Keep => (self.target.clone(), format!("keep ({})", self.direction)),
            Action::WouldLower { target } => (
                target.clone(),
                "keep: the target would lower this limit".to_string(),
            ),
            Action::Missing => ("—".into(), "skip: not on this kernel".to_string()),
            Action::Unreadable { error } => ("—".into(), format!("skip: {error}")),
        };
        [self.name.clone(), current, proposed, what]
    }
}

/// A tuning plan: every parameter of a profile with its current value and what to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The profile.
    pub profile: String,
    /// The `/proc/sys` root.
    pub root: PathBuf,
    /// Whether lowering limits was allowed.
    pub allow_lower: bool,
    /// One entry per parameter, in profile order.
    pub entries: Vec<PlanEntry>,
}

impl Plan {
    /// The plan as a table: each parameter's current and proposed value and what happens to
    /// it, with the reason under each change. `about` describes the profile.
    #[must_use]
    pub fn to_text(&self, about: &str) -> String {
        use std::fmt::Write as _;
        // Long values overflow their own row instead of widening every row.
        const COLUMN_MAX: usize = 100;
        let mut out = format!(
            "Profile '{}': {about} ({})\n\n",
            self.profile,
            self.root.display()
        );
        let rows: Vec<[String; 4]> = self.entries.iter().map(PlanEntry::row).collect();
        let width = |i: usize| {
            (rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
                .max(["Parameter", "Current", "Proposed"][i].len())
                .min(COLUMN_MAX)
        };
        let (w0, w1, w2) = (width(0), width(1), width(2));
        let _ = writeln!(
            out,
            "{:w0$}  {:>w1$}  {:>w2$}  Action",
            "Parameter", "Current", "Proposed"
        );
        for (row, e) in rows.iter().zip(&self.entries) {
            let _ = writeln!(
                out,
                "{:w0$}  {:>w1$}  {:>w2$}  {}",
                row[0], row[1], row[2], row[3]
            );
            if matches!(e.action, Action::Change { .. }) {
                let _ = writeln!(out, "{:w0$}  └ {}", "", e.reason);
            }
        }
        out
    }

    /// [`TuneError::Skipped`] when the profile names parameters this kernel lacks or hides,
    /// which applying leaves out.
    ///
    /// # Errors
    /// As said.
    pub fn check_complete(&self) -> Result<(), TuneError> {
        let skipped: Vec<String> = (self.entries.iter())
            .filter_map(|e| match &e.action {
                Action::Missing => Some(format!("{} (not on this kernel)", e.name)),
                Action::Unreadable { error } => Some(format!("{} ({error})", e.name)),
                _ => None,
            })
            .collect();
        if skipped.is_empty() {
            return Ok(());
        }
        Err(TuneError::Skipped {
            profile: self.profile.clone(),
            skipped,
        })
    }

    /// Whether the profile would lower a limit it was not allowed to.
    #[must_use]
    pub fn would_lower(&self) -> bool {
        (self.entries.iter()).any(|e| matches!(e.action, Action::WouldLower { .. }))
    }

    /// The entries that change something.
    pub fn changes(&self) -> impl Iterator<Item = (&PlanEntry, &str)> {
        self.entries.iter().filter_map(|e| match &e.action {
            Action::Change { to } => Some((e, to.as_str())),
            _ => None,
        })
    }
}

/// Reads every parameter of `profile` and decides what to change. Never proposes a lower value
/// for a [`Direction::Higher`] limit (or a narrower range) unless `allow_lower`.
#[must_use]
pub fn plan(sysctl: &Sysctl, profile: &Profile, allow_lower: bool) -> Plan {
    let entries = profile
        .params
        .iter()
        .map(|p| {
            let (current, action) = match sysctl.read(p.name) {
                Ok(current) => {
                    let action =
                        decide(p, &current, allow_lower).unwrap_or_else(|e| Action::Unreadable {
                            error: e.to_string(),
                        });
                    (Some(current), action)
                }
                Err(TuneError::Missing { .. }) => (None, Action::Missing),
                Err(e) => (
                    None,
                    Action::Unreadable {
                        error: e.to_string(),
                    },
                ),
            };
            PlanEntry {
                name: p.name.to_string(),
                current,
                target: p.target.to_string(),
                direction: p.direction,
                action,
                reason: p.reason.to_string(),
            }
        })
        .collect();
    Plan {
        profile: profile.name.to_string(),
        root: sysctl.root().to_path_buf(),
        allow_lower,
        entries,
    }
}

fn decide(p: &Param, current: &str, allow_lower: bool) -> Result<Action, TuneError> {
    use std::cmp::Ordering;
    let now = parse(p.name, current)?;
    let want = parse(p.name, p.target)?;
    let target = || Action::Change {
        to: p.target.to_string(),
    };
    Ok(match p.direction {
        Direction::Exact if now == want => Action::Keep,
        Direction::Exact => target(),
        Direction::Higher => match one(p, &now, current)?.cmp(&one(p, &want, p.target)?) {
            Ordering::Less => target(),
            Ordering::Equal => Action::Keep,
            Ordering::Greater if allow_lower => target(),
            Ordering::Greater => Action::WouldLower {
                target: p.target.to_string(),
            },
        },
        // Smaller is better: lower it to the target, never raise it back.
        Direction::Lower if one(p, &now, current)? > one(p, &want, p.target)? => target(),
        Direction::Lower => Action::Keep,
        Direction::Wider => {
            let [lo, hi] = two(p, &now, current)?;
            let [want_lo, want_hi] = two(p, &want, p.target)?;
            let wider = [lo.min(want_lo), hi.max(want_hi)];
            if allow_lower && [lo, hi] != [want_lo, want_hi] {
                target()
            } else if wider == [lo, hi] {
                Action::Keep
            } else {
                Action::Change {
                    to: format!("{} {}", wider[0], wider[1]),
                }
            }
        }
    })
}

fn one(p: &Param, v: &[i128], text: &str) -> Result<i128, TuneError> {
    match v {
        [a] => Ok(*a),
        _ => Err(TuneError::BadValue {
            name: p.name.to_string(),
            value: text.to_string(),
        }),
    }
}

fn two(p: &Param, v: &[i128], text: &str) -> Result<[i128; 2], TuneError> {
    match v {
        [a, b] => Ok([*a, *b]),
        _ => Err(TuneError::BadValue {
            name: p.name.to_string(),
            value: text.to_string(),
        }),
    }
}

/// The values a plan's changes replace, saved before the first write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollback {
    /// Format version, [`ROLLBACK_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// When it was written, seconds since the Unix epoch.
    pub created_unix_s: u64,
    /// The `/proc/sys` root the values belong to.
    pub root: PathBuf,
    /// The profile applied.
    pub profile: String,
    /// Each changed parameter and its previous value.
    pub previous: Vec<Saved>,
}

/// One saved value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    /// Dotted name.
    pub name: String,
    /// The value before the change.
    pub value: String,
}

/// `perfkit tune --json`: the plan, and what was applied.
#[derive(Debug, Serialize)]
pub struct PlanReport<'a> {
    /// The plan.
    pub plan: &'a Plan,
    /// The values replaced, when it was applied.
    pub applied: Option<&'a Rollback>,
    /// Where they were saved.
    pub rollback_file: Option<&'a Path>,
}

/// `perfkit tune rollback --json`: the values restored.
#[derive(Debug, Serialize)]
pub struct RollbackReport<'a> {
    /// Each parameter and the value it has again.
    pub restored: &'a [Saved],
    /// The rollback file they came from.
    #[serde(skip)]
    pub from: &'a Path,
}

impl RollbackReport<'_> {
    /// A line per parameter restored, and how many came from which file.
    #[must_use]
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut text = String::new();
        for s in self.restored {
            let _ = writeln!(text, "restored {} = {}", s.name, s.value);
        }
        let _ = writeln!(
            text,
            "{} parameters restored from {}",
            self.restored.len(),
            self.from.display()
        );
        text
    }
}

impl Rollback {
    /// A new rollback file's name in the current directory, stamped with the time.
    #[must_use]
    pub fn default_path() -> PathBuf {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        PathBuf::from(format!("perfkit-rollback-{now}.json"))
    }

    /// Reads a rollback file.
    pub fn load(path: &Path) -> Result<Self, TuneError> {
        let bad = |detail: String| TuneError::RollbackFile {
            path: path.to_path_buf(),
            detail,
        };
        let text =
            // A rollback file names a few parameters; anything near this size is not one.
            crate::read_text_limited(path, 1 << 20)
                .map_err(|e| bad(format!("cannot read it: {}", crate::os_reason(&e))))?;
        Rollback::from_json(&text).map_err(bad)
    }

    /// Parses the text of a rollback file; the error says what is wrong with it. The entries
    /// are checked against the kernel's parameters only by [`Rollback::validate`].
    pub fn from_json(text: &str) -> Result<Self, String> {
        let r: Rollback =
            serde_json::from_str(text).map_err(|e| format!("not a perfkit rollback file: {e}"))?;
        if r.schema_version > ROLLBACK_SCHEMA_VERSION {
            return Err(format!(
                "schema_version {} is newer than this perfkit reads ({ROLLBACK_SCHEMA_VERSION}): upgrade perfkit",
                r.schema_version
            ));
        }
        Ok(r)
    }

    /// Writes it through [`crate::OutputPath`] (a regular file atomically).
    pub fn save(&self, path: &Path) -> Result<(), TuneError> {
        let bad = |detail: String| TuneError::RollbackFile {
            path: path.to_path_buf(),
            detail,
        };
        let json = serde_json::to_string_pretty(self).map_err(|e| bad(e.to_string()))?;
        crate::write_output(path, format!("{json}\n").as_bytes())
            .map_err(|e| bad(crate::os_reason(&e)))?;
        Ok(())
    }

    /// Checks the whole record against `sysctl` before anything is written: it belongs to
    /// this tree, every name is a sysctl parameter inside it, and every value has the form
    /// of the parameter's current value.
    ///
    /// # Errors
    /// [`TuneError::WrongRoot`], or every problem found gathered in
    /// [`TuneError::CannotApply`].
    pub fn validate(&self, sysctl: &Sysctl) -> Result<(), TuneError> {
        let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        if canonical(&self.root) != canonical(sysctl.root()) {
            return Err(TuneError::WrongRoot {
                file_root: self.root.clone(),
                root: sysctl.root().to_path_buf(),
            });
        }
        let problems: Vec<TuneError> = self
            .previous
            .iter()
            .filter_map(|s| sysctl.check_value(&s.name, &s.value).err())
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(cannot_apply(problems))
        }
    }
}

/// Applies a plan's changes: checks every parameter is writable first (nothing is changed
/// otherwise), writes the rollback file with the previous values, then writes and verifies
/// each change in order. Returns the rollback record.
pub fn apply(sysctl: &Sysctl, plan: &Plan, rollback_path: &Path) -> Result<Rollback, TuneError> {
    let changes: Vec<(&PlanEntry, &str)> = plan.changes().collect();
    let problems: Vec<TuneError> = changes
        .iter()
        .filter_map(|(e, to)| {
            sysctl
                .check_value(&e.name, to)
                .and_then(|()| sysctl.writable(&e.name))
                .err()
        })
        .collect();
    if !problems.is_empty() {
        return Err(cannot_apply(problems));
    }
    let mut previous = Vec::with_capacity(changes.len());
    let mut problems = Vec::new();
    for (e, _) in &changes {
        // Read again now: the plan may be older than this moment. A value that cannot be
        // restored later is a reason not to start.
        match sysctl
            .read(&e.name)
            .and_then(|v| parse(&e.name, &v).map(|_| v))
        {
            Ok(value) => previous.push(Saved {
                name: e.name.clone(),
                value,
            }),
            Err(err) => problems.push(err),
        }
    }
    if !problems.is_empty() {
        return Err(cannot_apply(problems));
    }
    let rollback = Rollback {
        schema_version: ROLLBACK_SCHEMA_VERSION,
        created_unix_s: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        root: sysctl.root().to_path_buf(),
        profile: plan.profile.clone(),
        previous,
    };
    rollback.save(rollback_path)?;
    let mut applied = Vec::new();
    for (e, to) in &changes {
        if let Err(err) = sysctl.write(&e.name, to) {
            return Err(TuneError::PartlyApplied {
                applied,
                total: changes.len(),
                rollback: rollback_path.to_path_buf(),
                source: Box::new(err),
            });
        }
        applied.push(e.name.clone());
    }
    Ok(rollback)
}

/// Restores every value of a rollback record (each write verified). Nothing is written unless
/// the whole record passes [`Rollback::validate`] and every parameter is writable. Returns the
/// parameters restored. When the kernel refuses a value part-way, the parameters written
/// before it are set back ([`TuneError::RollbackStopped`]).
pub fn rollback(sysctl: &Sysctl, record: &Rollback) -> Result<Vec<String>, TuneError> {
    record.validate(sysctl)?;
    let problems: Vec<TuneError> = record
        .previous
        .iter()
        .filter_map(|s| sysctl.writable(&s.name).err())
        .collect();
    if !problems.is_empty() {
        return Err(cannot_apply(problems));
    }
    // The values now, so that a value the kernel refuses part-way leaves everything as it was.
    let mut now = Vec::with_capacity(record.previous.len());
    for s in &record.previous {
        now.push(sysctl.read(&s.name)?);
    }
    let mut restored = Vec::new();
    for (i, s) in record.previous.iter().enumerate() {
        if let Err(err) = sysctl.write(&s.name, &s.value) {
            // The failed one too: a value the kernel stored differently was still written.
            let mut not_undone = Vec::new();
            for (done, was) in record.previous[..=i].iter().zip(&now).rev() {
                if sysctl.write(&done.name, was).is_err() {
                    not_undone.push(done.name.clone());
                }
            }
            return Err(TuneError::RollbackStopped {
                undone: (i + 1).saturating_sub(not_undone.len()),
                not_undone,
                source: Box::new(err),
            });
        }
        restored.push(s.name.clone());
    }
    Ok(restored)
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Higher => "higher is better",
            Direction::Lower => "lower is better",
            Direction::Exact => "exactly",
            Direction::Wider => "wider is better",
        })
    }
}
