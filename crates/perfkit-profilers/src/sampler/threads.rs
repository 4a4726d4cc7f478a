//! The sampler's timers, one per thread of the process, each counting that thread's CPU time
//! and signalling that thread, and the memory map the handler bounds its walks with.

use std::collections::{HashMap, HashSet};
use std::io;
use std::time::{Duration, Instant};

use super::signal::{StackMap, timer_value};

/// How often the memory map is read again when no thread has appeared, so that stacks a
/// program maps itself (coroutines) are known.
const MAP_REFRESH: Duration = Duration::from_secs(1);

/// How often the threads are listed even though their number did not change (one may have
/// ended and another started in between).
const LIST_EVERY: Duration = Duration::from_millis(200);

/// How long after arming a thread its name is read again.
const YOUNG: Duration = Duration::from_secs(1);

/// A POSIX timer's id: a number the kernel gave, safe to use from any thread.
struct Timer(libc::timer_t);

// SAFETY: a `timer_t` is an id for system calls, not memory this process reads through.
unsafe impl Send for Timer {}

impl Drop for Timer {
    fn drop(&mut self) {
        // SAFETY: the id came from `timer_create` and is deleted once, here.
        unsafe {
            libc::timer_delete(self.0);
        }
    }
}

/// The timers of the process's threads, kept in step with `/proc/self/task`.
pub(super) struct Timers {
    armed: HashMap<i32, Timer>,
    /// The sampler's own thread, never sampled.
    own: i32,
    /// The sampler's epoch, sent with every signal.
    epoch: u32,
    period: libc::timespec,
    /// Thread names by the sampler's number for the thread (the signal's value).
    pub(super) names: Vec<String>,
    /// Threads armed less than [`YOUNG`] ago, by number: a new thread may name itself only
    /// after it started (Rust's threads do), so their names are read again.
    young: Vec<(usize, i32, Instant)>,
    /// Threads whose timer could not be created (tried again at each listing).
    failed: HashSet<i32>,
    mapped: Option<Instant>,
    /// When the threads were last listed, and the link count of `/proc/self/task` then.
    listed: Option<(Instant, u64)>,
}

impl Timers {
    pub(super) fn new(frequency: u32, own: i32, epoch: u32) -> Timers {
        let nanos = 1_000_000_000 / i64::from(frequency.max(1));
        Timers {
            armed: HashMap::new(),
            own,
            epoch,
            period: libc::timespec {
                tv_sec: nanos / 1_000_000_000,
                tv_nsec: nanos % 1_000_000_000,
            },
            names: Vec::new(),
            young: Vec::new(),
            failed: HashSet::new(),
            mapped: None,
            listed: None,
        }
    }

    /// Arms a timer for each thread that appeared since the last call, after publishing a
    /// memory map that holds its stack, and deletes the timers of threads that ended.
    ///
    /// `/proc/self/task` has two links more than the process has threads, so one `stat`
    /// tells whether their number changed; the threads are listed only then, or after
    /// [`LIST_EVERY`].
    pub(super) fn sync(&mut self, stacks: &StackMap) -> io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        let links = std::fs::metadata(TASKS)?.nlink();
        let stale = self.mapped.is_none_or(|at| at.elapsed() >= MAP_REFRESH);
        let unchanged = self
            .listed
            .is_some_and(|(at, before)| before == links && at.elapsed() < LIST_EVERY);
        if unchanged && !stale {
            return Ok(());
        }
        self.listed = Some((Instant::now(), links));
        let tids = task_ids()?;
        let new: Vec<i32> = tids
            .iter()
            .copied()
            .filter(|t| *t != self.own && !self.armed.contains_key(t))
            .collect();
        self.armed.retain(|tid, _| tids.contains(tid));
        self.failed.retain(|tid| tids.contains(tid));
        self.young.retain(|(number, tid, armed)| {
            if let (Some(name), Some(now)) = (self.names.get_mut(*number), read_name(*tid)) {
                *name = now;
            }
            armed.elapsed() < YOUNG
        });
        if !new.is_empty() || stale {
            let (ranges, main) = writable_ranges()?;
            stacks.publish(&ranges, main);
            self.mapped = Some(Instant::now());
        }
        // The main thread's id is the process's.
        let main = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
        for tid in new {
            let number = self.names.len();
            let value = timer_value(self.epoch, number as u32, tid == main);
            match arm(tid, value, self.period) {
                Ok(timer) => {
                    self.failed.remove(&tid);
                    self.names
                        .push(read_name(tid).unwrap_or_else(|| format!("thread-{tid}")));
                    self.young.push((number, tid, Instant::now()));
                    self.armed.insert(tid, timer);
                }
                // The thread ended between listing and arming.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
                // A limit on timers, most likely: tried again at the next listing.
                Err(_) => {
                    self.failed.insert(tid);
                }
            }
        }
        Ok(())
    }

    /// How many threads have no timer now because it could not be created.
    pub(super) fn unarmed(&self) -> usize {
        self.failed.len()
    }

    /// How many threads have a timer now.
    pub(super) fn threads(&self) -> usize {
        self.armed.len()
    }

    /// Deletes every timer. Signals already sent may still arrive.
    pub(super) fn disarm(&mut self) {
        self.armed.clear();
    }
}

/// This thread's id.
pub(super) fn own_tid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// The directory of this process's threads.
const TASKS: &str = "/proc/self/task";

/// The ids of the threads of this process.
fn task_ids() -> io::Result<Vec<i32>> {
    let mut tids = Vec::new();
    for entry in std::fs::read_dir(TASKS)? {
        if let Some(tid) = entry?.file_name().to_str().and_then(|n| n.parse().ok()) {
            tids.push(tid);
        }
    }
    Ok(tids)
}

/// Thread `tid`'s name, if it still runs.
fn read_name(tid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/comm"))
        .map(|n| n.trim_end().replace(';', ":"))
        .ok()
        .filter(|n| !n.is_empty())
}

/// A timer on thread `tid`'s CPU-time clock that sends that thread `SIGPROF` every `period` of
/// the CPU time it uses, with `value` as the signal's value.
fn arm(tid: i32, value: usize, period: libc::timespec) -> io::Result<Timer> {
    // The kernel's encoding of a thread's CPU-time clock (what `pthread_getcpuclockid` gives
    // for a thread, built from the thread id so any thread of the process can be named):
    // the inverted id shifted left by 3, the per-thread bit (4) and the scheduler clock (2).
    let clock: libc::clockid_t = ((!tid) << 3) | 4 | 2;
    // SAFETY: an all-zero `sigevent` is valid; the fields that matter are set below.
    let mut event: libc::sigevent = unsafe { std::mem::zeroed() };
    event.sigev_notify = libc::SIGEV_THREAD_ID;
    event.sigev_signo = libc::SIGPROF;
    event.sigev_notify_thread_id = tid;
    event.sigev_value = libc::sigval {
        sival_ptr: value as *mut libc::c_void,
    };
    let mut id: libc::timer_t = std::ptr::null_mut();
    // SAFETY: `event` and `id` are valid for the call.
    if unsafe { libc::timer_create(clock, &raw mut event, &raw mut id) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let timer = Timer(id);
    let spec = libc::itimerspec {
        it_interval: period,
        it_value: period,
    };
    // SAFETY: `timer` was just created; `spec` is valid and the old value is not asked for.
    if unsafe { libc::timer_settime(timer.0, 0, &raw const spec, std::ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(timer)
}

/// Sorted address ranges, and the index of the one that holds the main thread's stack.
type Ranges = (Vec<(usize, usize)>, Option<usize>);

/// The process's anonymous private writable memory (where stacks live) as sorted ranges, one
/// per mapping, and the index of the range that holds the main thread's stack. Adjacent mappings are kept apart: a walk
/// then stays inside the one mapping that holds the stack, which lives as long as its thread,
/// and never reaches a neighbour unmapped since the map was read.
fn writable_ranges() -> io::Result<Ranges> {
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    Ok(parse_maps(&maps))
}

fn parse_maps(maps: &str) -> Ranges {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    let mut main = None;
    for line in maps.lines() {
        let mut fields = line.split_ascii_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        // Anonymous private writable memory only, as every thread's stack is: a mapping of a
        // file can shrink under a reader (SIGBUS).
        let (_offset, _device, inode, path) =
            (fields.next(), fields.next(), fields.next(), fields.next());
        if perms != "rw-p" || inode != Some("0") {
            continue;
        }
        let Some((start, end)) = range.split_once('-').and_then(|(s, e)| {
            Some((
                usize::from_str_radix(s, 16).ok()?,
                usize::from_str_radix(e, 16).ok()?,
            ))
        }) else {
            continue;
        };
        ranges.push((start, end));
        if path == Some("[stack]") {
            main = Some(ranges.len() - 1);
        }
    }
    (ranges, main)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_keep_anonymous_writable_ranges_and_find_the_main_stack() {
        // The shape of a real /proc/self/maps (x86-64, glibc, one extra thread).
        let maps = "\
55d0c0a00000-55d0c0a3e000 r--p 00000000 fd:01 1234   /usr/bin/prog
55d0c0b80000-55d0c0b90000 rw-p 00180000 fd:01 1234   /usr/bin/prog
55d0c0b90000-55d0c0b91000 rw-p 00000000 00:00 0
7f1c2a000000-7f1c2a001000 ---p 00000000 00:00 0
7f1c2a001000-7f1c2a801000 rw-p 00000000 00:00 0
7ffd5e1f0000-7ffd5e211000 rw-p 00000000 00:00 0                          [stack]
7ffd5e3a2000-7ffd5e3a6000 r--p 00000000 00:00 0                          [vvar]
garbage line
";
        let (ranges, main) = parse_maps(maps);
        assert_eq!(
            ranges,
            [
                (0x55d0_c0b9_0000, 0x55d0_c0b9_1000),
                (0x7f1c_2a00_1000, 0x7f1c_2a80_1000),
                (0x7ffd_5e1f_0000, 0x7ffd_5e21_1000),
            ]
        );
        assert_eq!(main, Some(2));
    }

    #[test]
    fn this_process_has_a_main_stack_and_its_threads() {
        let (ranges, main) = writable_ranges().unwrap();
        assert!(main.is_some());
        let local = 0u8;
        let here = &raw const local as usize;
        assert!(ranges.iter().any(|&(s, e)| s <= here && here < e));
        assert!(task_ids().unwrap().contains(&own_tid()));
    }
}
