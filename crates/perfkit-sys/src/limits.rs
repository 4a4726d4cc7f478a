//! Resource limits of this process (`getrlimit`/`setrlimit`).

use serde::{Deserialize, Serialize};

use crate::SysError;

/// One resource limit; `None` means unlimited.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceLimit {
    /// `RLIMIT_NOFILE`, `RLIMIT_NPROC`, `RLIMIT_CORE`.
    pub name: String,
    /// What it limits, in words.
    pub about: String,
    /// The soft limit (what applies now).
    pub soft: Option<u64>,
    /// The hard limit (how far an unprivileged process may raise the soft one).
    pub hard: Option<u64>,
}

/// `perfkit tune --rlimits --json`: this process's limits.
#[derive(Debug, Serialize)]
pub struct LimitsReport<'a> {
    /// Each limit.
    pub limits: &'a [ResourceLimit],
}

/// The limits as a table (name, soft, hard, what each limits) and how to raise them.
#[must_use]
pub fn limits_text(limits: &[ResourceLimit]) -> String {
    use std::fmt::Write as _;
    let show = |v: Option<u64>| v.map_or_else(|| "unlimited".to_string(), |n| n.to_string());
    let mut out = format!("{:14}  {:>12}  {:>12}  What\n", "Limit", "Soft", "Hard");
    for l in limits {
        let _ = writeln!(
            out,
            "{:14}  {:>12}  {:>12}  {}",
            l.name,
            show(l.soft),
            show(l.hard),
            l.about
        );
    }
    out.push_str(
        "\nA process may raise its soft limit up to the hard one without privilege: programs call\n\
         perfkit_sys::raise_nofile_limit() at start-up; in a shell, `ulimit -n $(ulimit -Hn)`.\n\
         Raising a hard limit needs root (limits.conf, systemd LimitNOFILE=, or fs.nr_open).\n",
    );
    out
}

#[cfg(target_os = "linux")]
mod imp {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};

    use super::ResourceLimit;
    use crate::SysError;

    const RESOURCES: [(Resource, &str, &str); 3] = [
        (
            Resource::RLIMIT_NOFILE,
            "RLIMIT_NOFILE",
            "open files per process",
        ),
        (
            Resource::RLIMIT_NPROC,
            "RLIMIT_NPROC",
            "processes and threads per user",
        ),
        (
            Resource::RLIMIT_CORE,
            "RLIMIT_CORE",
            "core dump size in bytes",
        ),
    ];

    fn finite(v: u64) -> Option<u64> {
        (v != libc::RLIM_INFINITY).then_some(v)
    }

    fn read(resource: Resource, name: &str, about: &str) -> Result<ResourceLimit, SysError> {
        let (soft, hard) = getrlimit(resource).map_err(|e| SysError::Proc {
            path: format!("getrlimit({name})"),
            source: e.into(),
        })?;
        Ok(ResourceLimit {
            name: name.to_string(),
            about: about.to_string(),
            soft: finite(soft),
            hard: finite(hard),
        })
    }

    pub(super) fn all() -> Result<Vec<ResourceLimit>, SysError> {
        RESOURCES
            .iter()
            .map(|(r, name, about)| read(*r, name, about))
            .collect()
    }

    pub(super) fn raise_nofile() -> Result<(ResourceLimit, ResourceLimit), SysError> {
        let (_, name, about) = RESOURCES[0];
        let before = read(Resource::RLIMIT_NOFILE, name, about)?;
        let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| SysError::Proc {
            path: "getrlimit(RLIMIT_NOFILE)".into(),
            source: e.into(),
        })?;
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).map_err(|e| SysError::Proc {
            path: "setrlimit(RLIMIT_NOFILE)".into(),
            source: e.into(),
        })?;
        Ok((before, read(Resource::RLIMIT_NOFILE, name, about)?))
    }
}

/// `RLIMIT_NOFILE`, `RLIMIT_NPROC` and `RLIMIT_CORE` of this process.
///
/// ```
/// let limits = perfkit_sys::resource_limits().unwrap();
/// assert_eq!(limits[0].name, "RLIMIT_NOFILE");
/// ```
pub fn resource_limits() -> Result<Vec<ResourceLimit>, SysError> {
    #[cfg(target_os = "linux")]
    {
        imp::all()
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(SysError::Unsupported {
            what: "resource limits",
        })
    }
}

/// Raises this process's soft `RLIMIT_NOFILE` to its hard limit (which needs no privilege),
/// as servers and process pools do at start-up; children inherit it. Returns the limit before
/// and after.
///
/// ```
/// let (before, after) = perfkit_sys::raise_nofile_limit().unwrap();
/// assert_eq!(after.soft, before.hard);
/// ```
pub fn raise_nofile_limit() -> Result<(ResourceLimit, ResourceLimit), SysError> {
    #[cfg(target_os = "linux")]
    {
        imp::raise_nofile()
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(SysError::Unsupported {
            what: "resource limits",
        })
    }
}
