//! Pinning a benchmarked command to chosen CPUs (`perfkit bench --affinity 0-3,6`).

use crate::SysError;

/// The most CPUs a set can name: the kernel's `cpu_set_t` holds this many.
const MAX_CPUS: usize = 1024;

/// CPUs a benchmarked command is pinned to, as `taskset -c` writes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuSet(Vec<usize>);

impl CpuSet {
    /// A list such as `0-3,6`: numbers and inclusive ranges, separated by commas.
    ///
    /// # Errors
    /// [`SysError::InvalidPlan`] for anything else, an empty list, or a CPU past the
    /// kernel's 1024.
    pub fn parse(text: &str) -> Result<CpuSet, SysError> {
        let invalid = |why: &str| SysError::InvalidPlan {
            detail: format!(
                "--affinity {text}: {why}; give CPUs as numbers and ranges, e.g. 0-3,6"
            ),
        };
        let number = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| invalid("not a CPU list"))
        };
        let mut cpus = Vec::new();
        for part in text.split(',') {
            let (first, last) = match part.split_once('-') {
                Some((a, b)) => (number(a)?, number(b)?),
                None => (number(part)?, number(part)?),
            };
            if last < first {
                return Err(invalid("a range runs backwards"));
            }
            if last >= MAX_CPUS {
                return Err(invalid("CPUs are numbered below 1024"));
            }
            cpus.extend(first..=last);
        }
        cpus.sort_unstable();
        cpus.dedup();
        Ok(CpuSet(cpus))
    }

    /// The CPUs, in order.
    #[must_use]
    pub fn cpus(&self) -> &[usize] {
        &self.0
    }

    /// Checks that this process may run on every CPU of the set, so that no run fails later.
    ///
    /// # Errors
    /// [`SysError::InvalidPlan`] naming the CPUs that are not available.
    pub fn check(&self) -> Result<(), SysError> {
        let allowed = allowed_cpus();
        let missing: Vec<usize> = self
            .0
            .iter()
            .copied()
            .filter(|cpu| !allowed.contains(cpu))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(SysError::InvalidPlan {
            detail: format!(
                "--affinity: CPU {} is not available to this process (it may run on {})",
                ranges(&missing),
                ranges(&allowed)
            ),
        })
    }

    /// Pins the calling thread to the set until the guard drops, so that a process it starts
    /// meanwhile starts pinned: a child inherits its parent thread's CPUs. Pinning the parent
    /// rather than the child (a hook between fork and exec) keeps the standard library's
    /// `posix_spawn`, whose start-up time does not grow with perfkit's own memory as a
    /// fork's does.
    ///
    /// # Errors
    /// [`SysError::Affinity`] when the kernel refuses the set.
    #[cfg(target_os = "linux")]
    pub(crate) fn pin_this_thread(&self) -> Result<Pinned, SysError> {
        use nix::sched::{sched_getaffinity, sched_setaffinity};
        let this_thread = nix::unistd::Pid::from_raw(0);
        let refused = |errno: nix::errno::Errno| SysError::Affinity {
            cpus: ranges(&self.0),
            source: std::io::Error::from(errno),
        };
        let previous = sched_getaffinity(this_thread).map_err(refused)?;
        let mut set = nix::sched::CpuSet::new();
        for &cpu in &self.0 {
            // `parse` keeps CPUs below 1024, the set's size.
            let _ = set.set(cpu);
        }
        sched_setaffinity(this_thread, &set).map_err(refused)?;
        Ok(Pinned { previous })
    }

    #[cfg(not(target_os = "linux"))]
    pub(crate) fn pin_this_thread(&self) -> Result<Pinned, SysError> {
        Ok(Pinned)
    }
}

/// The calling thread's CPUs before [`CpuSet::pin_this_thread`], given back on drop.
#[cfg(target_os = "linux")]
pub(crate) struct Pinned {
    previous: nix::sched::CpuSet,
}

#[cfg(target_os = "linux")]
impl Drop for Pinned {
    fn drop(&mut self) {
        // The set was this thread's a moment ago; a failure (the CPUs went offline since)
        // leaves the thread pinned, which only narrows where perfkit itself runs.
        let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &self.previous);
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) struct Pinned;

/// Sorted CPUs as `taskset -c` writes them: `0-3,6`.
fn ranges(cpus: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            cpus[i].to_string()
        } else {
            format!("{}-{}", cpus[i], cpus[j])
        });
        i = j + 1;
    }
    out.join(",")
}

/// The CPUs this process may run on.
#[cfg(target_os = "linux")]
fn allowed_cpus() -> Vec<usize> {
    match nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)) {
        Ok(set) => (0..MAX_CPUS)
            .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
            .collect(),
        Err(_) => (0..MAX_CPUS).collect(),
    }
}

#[cfg(not(target_os = "linux"))]
fn allowed_cpus() -> Vec<usize> {
    (0..MAX_CPUS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_read_as_taskset_writes_them() {
        assert_eq!(CpuSet::parse("0").unwrap().cpus(), [0]);
        assert_eq!(CpuSet::parse("3,0-1, 1").unwrap().cpus(), [0, 1, 3]);
        for bad in ["", "a", "3-1", "1-", "0-1024", "-1", "1,,2"] {
            assert!(CpuSet::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_cpus_this_process_may_use_pass() {
        let allowed = allowed_cpus();
        assert!(!allowed.is_empty());
        assert!(CpuSet(vec![allowed[0]]).check().is_ok());
        let error = CpuSet(vec![1023]).check().unwrap_err().to_string();
        assert!(error.contains("CPU 1023 is not available"), "{error}");
        assert_eq!(ranges(&[0, 1, 2, 3, 6, 8, 9]), "0-3,6,8-9");
    }
}
