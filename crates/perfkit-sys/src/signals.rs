//! What perfkit does when it is told to stop: `SIGINT` (Ctrl-C), `SIGTERM` and `SIGHUP`.
//!
//! By default such a signal ends the process at once, which would leave half-written
//! temporary files behind (a copy of gigabytes under a hidden name, a report being written).
//! After [`install`], a dedicated thread receives these signals instead. Unless a
//! [`Deferral`] is alive, it removes every file registered with [`remove_on_signal`] and then
//! ends the process *by that signal*, so the parent (a shell, a CI runner) sees the usual
//! "killed by SIGINT" and exit status 130.
//!
//! A command that has its own way to stop cleanly (a pool writing the results it already has,
//! a profiler letting perf finish writing its data) holds a [`Deferral`] while it works: the
//! signal is then only noted ([`Deferral::pending`]), `SIGTERM` and `SIGHUP` are passed on to
//! the processes registered with [`forward_to`] (a terminal's Ctrl-C already reaches the whole
//! foreground process group, so `SIGINT` is not passed on), and the command calls
//! [`die_of`] once it has saved what it can.
//!
//! ```no_run
//! perfkit_sys::signals::install()?;
//! let tmp = std::path::Path::new(".out.json.tmp");
//! let _cleanup = perfkit_sys::signals::remove_on_signal(tmp);
//! // ... write `tmp`, rename it into place; Ctrl-C in between removes it.
//! # Ok::<(), perfkit_sys::SysError>(())
//! ```

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};

use crate::SysError;

/// The signals handled: interrupt, terminate, hang-up.
pub const HANDLED: [i32; 3] = [
    libc_consts::SIGINT,
    libc_consts::SIGTERM,
    libc_consts::SIGHUP,
];

/// Signal numbers (the same on every Linux architecture).
mod libc_consts {
    pub(super) const SIGHUP: i32 = 1;
    pub(super) const SIGINT: i32 = 2;
    pub(super) const SIGTERM: i32 = 15;
}

/// What the signal thread acts on, each kept for as long as its [`Registration`] lives.
#[derive(Debug, Clone, PartialEq)]
enum Entry {
    /// A temporary file or directory to remove before dying of a signal.
    Temporary(PathBuf),
    /// A process that receives a forwarded `SIGTERM`/`SIGHUP` (and so do its descendants).
    Forward(i32),
    /// A process group that gets the signal perfkit dies of.
    Group(i32),
    /// A process that gets the signal perfkit dies of, and so do its descendants.
    Tree(i32),
    /// Every process perfkit started, and what they started: forwarded signals and the one
    /// perfkit dies of.
    Children,
}

static ENTRIES: Mutex<Vec<(u64, Entry)>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
/// How many [`Deferral`]s are alive.
static DEFERRALS: AtomicUsize = AtomicUsize::new(0);
/// The first signal that arrived while deferred (0: none).
static PENDING: AtomicI32 = AtomicI32::new(0);
/// Whether the handling thread runs.
static INSTALLED: Mutex<bool> = Mutex::new(false);

/// Starts the thread that handles `SIGINT`, `SIGTERM` and `SIGHUP` (once; later calls do
/// nothing). Children spawned afterwards still start with the default dispositions, but for a
/// signal that was ignored when this was called: it stays ignored, for perfkit and for them.
///
/// # Errors
/// [`SysError::Signals`] when the handlers cannot be installed.
pub fn install() -> Result<(), SysError> {
    let mut installed = INSTALLED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if *installed {
        return Ok(());
    }
    imp::start().map_err(|source| SysError::Signals { source })?;
    *installed = true;
    Ok(())
}

/// Removes `path` (if it still exists; a directory with its contents) before the process dies
/// of a handled signal, for as long as the returned guard lives. Register a temporary file
/// right after creating it and drop the guard once it has been renamed into place or deleted.
#[must_use = "the file is only removed on a signal while the guard lives"]
pub fn remove_on_signal(path: &Path) -> Registration {
    register(Entry::Temporary(path.to_path_buf()))
}

/// A private temporary directory (mode 0700), removed when dropped and, while it lives,
/// before the process dies of a handled signal.
#[derive(Debug)]
pub struct PrivateDir {
    // Removed before the registration is dropped, so that no signal finds it left behind.
    dir: tempfile::TempDir,
    _registration: Registration,
}

impl PrivateDir {
    /// A new directory in the system's temporary directory, its name starting with `prefix`.
    ///
    /// # Errors
    /// The directory cannot be created.
    pub fn new(prefix: &str) -> std::io::Result<PrivateDir> {
        let mut builder = tempfile::Builder::new();
        builder.prefix(prefix);
        // tempfile leaves the mode to the umask (0755 under the usual 022).
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700));
        let dir = builder.tempdir()?;
        let registration = remove_on_signal(dir.path());
        Ok(PrivateDir {
            dir,
            _registration: registration,
        })
    }

    /// Where it is.
    #[must_use]
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Keeps something registered with [`remove_on_signal`], [`forward_to`],
/// [`signal_group_on_exit`], [`signal_tree_on_exit`] or [`signal_children`]; dropping it
/// unregisters it.
#[derive(Debug)]
pub struct Registration {
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&ENTRIES).retain(|(id, _)| *id != self.id);
    }
}

fn register(entry: Entry) -> Registration {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    lock(&ENTRIES).push((id, entry));
    Registration { id }
}

/// The registered entries that `pick` selects.
fn registered<T>(pick: impl Fn(&Entry) -> Option<T>) -> Vec<T> {
    lock(&ENTRIES).iter().filter_map(|(_, e)| pick(e)).collect()
}

/// While alive, a handled signal does not end the process: it is noted, and `SIGTERM` or
/// `SIGHUP` is passed on to the processes registered with [`forward_to`]. Installs the
/// handling thread if needed. Deferrals nest; the process reacts again when the last one is
/// dropped (a signal noted meanwhile is not replayed: check [`Deferral::pending`] and call
/// [`die_of`]).
#[derive(Debug)]
pub struct Deferral {
    installed: bool,
}

impl Deferral {
    /// Starts deferring. If the handlers cannot be installed, signals keep their default
    /// action and [`Deferral::pending`] stays `None`.
    #[must_use]
    pub fn new() -> Deferral {
        let installed = install().is_ok();
        if installed && DEFERRALS.fetch_add(1, Ordering::SeqCst) == 0 {
            PENDING.store(0, Ordering::SeqCst);
        }
        Deferral { installed }
    }

    /// The first handled signal that arrived while deferred.
    #[must_use]
    pub fn pending(&self) -> Option<i32> {
        match PENDING.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }
}

impl Default for Deferral {
    fn default() -> Self {
        Deferral::new()
    }
}

impl Drop for Deferral {
    fn drop(&mut self) {
        if self.installed {
            DEFERRALS.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Passes `SIGTERM` and `SIGHUP` that arrive while deferred on to `pid` (for example the
/// profiler that runs the user's program), for as long as the guard lives.
#[must_use = "signals are only forwarded while the guard lives"]
pub fn forward_to(pid: u32) -> Registration {
    register(Entry::Forward(i32::try_from(pid).unwrap_or(0)))
}

/// Sends the signal perfkit dies of to process group `pgid` first, for as long as the guard
/// lives. Children that run in a group of their own (so that a timeout can kill all their
/// descendants) no longer get a terminal's Ctrl-C; this passes it on.
#[must_use = "the group only gets the signal while the guard lives"]
pub fn signal_group_on_exit(pgid: u32) -> Registration {
    register(Entry::Group(i32::try_from(pgid).unwrap_or(0)))
}

/// Sends the signal perfkit dies of to `pid` and its descendants first, for as long as the
/// guard lives: a command perfkit waits for (a benchmarked run) would otherwise outlive it
/// when only perfkit is told to stop (`kill`, a CI runner's timeout).
#[must_use = "the process only gets the signal while the guard lives"]
pub fn signal_tree_on_exit(pid: u32) -> Registration {
    register(Entry::Tree(i32::try_from(pid).unwrap_or(0)))
}

/// Passes every signal that arrives while deferred (`SIGINT` too: `kill -INT` reaches only
/// perfkit) and the signal perfkit dies of on to every process perfkit started, and their
/// descendants, for as long as the guard lives: for a command that starts one process after
/// another.
#[must_use = "the children only get signals while the guard lives"]
pub fn signal_children() -> Registration {
    register(Entry::Children)
}

/// Sends `signal` to what is registered for it: when perfkit is `dying`, the groups, trees and
/// children; else (a deferred signal) the processes to forward it to (not `SIGINT`, which a
/// terminal already sent them) and the children. The registry stays locked while sending, so
/// a registration dropped before its process is reaped cannot race a send to a reused pid.
fn deliver(signal: i32, dying: bool) {
    let entries = lock(&ENTRIES);
    let send_tree = |pid: i32| {
        for member in imp::descendants(pid) {
            imp::send(member, signal);
        }
        imp::send(pid, signal);
    };
    let mut children = false;
    for (_, entry) in entries.iter() {
        match *entry {
            Entry::Group(g) if dying && g > 0 => imp::send(-g, signal),
            Entry::Tree(p) if dying && p > 0 => send_tree(p),
            Entry::Forward(p) if !dying && p > 0 && signal != libc_consts::SIGINT => {
                send_tree(p);
            }
            Entry::Children => children = true,
            _ => {}
        }
    }
    if children {
        for child in imp::descendants(i32::try_from(std::process::id()).unwrap_or(0)) {
            imp::send(child, signal);
        }
    }
}

/// Spawns `command` and registers the child as [`signal_group_on_exit`] (`group`, for a
/// child that leads a process group of its own) or [`signal_tree_on_exit`], with the registry
/// locked throughout: a signal that arrives as the child starts waits for the registration and
/// then reaches the child, instead of finding nothing to pass on and leaving it running.
///
/// # Errors
/// The error of [`std::process::Command::spawn`].
pub fn spawn_signalled_on_exit(
    command: &mut std::process::Command,
    group: bool,
) -> std::io::Result<(std::process::Child, Registration)> {
    let mut entries = lock(&ENTRIES);
    let child = command.spawn()?;
    let pid = i32::try_from(child.id()).unwrap_or(0);
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    entries.push((
        id,
        if group {
            Entry::Group(pid)
        } else {
            Entry::Tree(pid)
        },
    ));
    Ok((child, Registration { id }))
}

/// Set once [`die_of`] has begun: the process is about to end by a signal.
static DYING: AtomicBool = AtomicBool::new(false);

/// Waits for ever if another thread is ending the process by a signal ([`die_of`]), so that
/// the main thread does not exit with some other status first (a command killed by the
/// passed-on signal would otherwise read as a failed command). Returns at once otherwise.
pub fn wait_if_dying() {
    while DYING.load(Ordering::SeqCst) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The shell's exit status for a process that `signal` ended (128 + the number).
#[must_use]
pub fn exit_status_of(signal: i32) -> u8 {
    u8::try_from((128 + signal) & 0xff).unwrap_or(1)
}

/// Passes `signal` to the registered process groups and trees, removes the registered temporary
/// files, then ends the process by `signal` with its
/// default action (a parent sees "killed by signal"; a shell reports 128 + the number). Falls
/// back to exiting with that status if the signal does not end the process.
pub fn die_of(signal: i32) -> ! {
    DYING.store(true, Ordering::SeqCst);
    deliver(signal, true);
    remove_registered_files();
    imp::raise_default(signal);
    std::process::exit(i32::from(exit_status_of(signal)));
}

fn remove_registered_files() {
    let files = registered(|e| match e {
        Entry::Temporary(p) => Some(p.clone()),
        _ => None,
    });
    for path in files {
        // Removing may fail (already renamed into place or gone): nothing else to do.
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
            let _ = std::fs::remove_dir_all(&path);
        } else {
            let _ = std::fs::remove_file(&path);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Called on the handling thread for each signal.
fn on_signal(signal: i32) {
    if DEFERRALS.load(Ordering::SeqCst) > 0 {
        let _ = PENDING.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
        // The tool and what it started: `perf stat`, for one, ends on SIGTERM without ending
        // the program it runs.
        deliver(signal, false);
        return;
    }
    die_of(signal);
}

#[cfg(target_os = "linux")]
mod imp {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    use signal_hook::iterator::Signals;

    pub(super) fn start() -> std::io::Result<()> {
        // A signal ignored when perfkit started (under `nohup`, or in a script's background
        // job) stays ignored, for perfkit and for the programs it starts, which inherit it.
        let handled: Vec<i32> = super::HANDLED
            .into_iter()
            .filter(|&signal| !ignored(signal))
            .collect();
        let mut signals = Signals::new(handled)?;
        std::thread::Builder::new()
            .name("perfkit-signals".into())
            .spawn(move || {
                for signal in signals.forever() {
                    super::on_signal(signal);
                }
            })?;
        Ok(())
    }

    /// Whether `signal` is ignored now.
    fn ignored(signal: i32) -> bool {
        // SAFETY: a query only (no new action); the kernel fills `current`.
        unsafe {
            let mut current: libc::sigaction = std::mem::zeroed();
            libc::sigaction(signal, std::ptr::null(), &raw mut current) == 0
                && current.sa_sigaction == libc::SIG_IGN
        }
    }

    /// Ends perfkit by `signal`'s default action. Through libc rather than nix, whose
    /// `Signal` has no real-time signals: a program killed by one is ended as too.
    pub(super) fn raise_default(signal: i32) {
        // perfkit dies of the signal only to report the program's end; a core dump of
        // perfkit would take the place of the program's own.
        let _ = nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0);
        // SAFETY: installing the default disposition runs no handler code of ours; the mask
        // is a valid sigset_t owned here and changes this thread's only.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
            libc::raise(signal);
            // A blocked signal is delivered when unblocked; make sure this thread can take it.
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&raw mut set);
            libc::sigaddset(&raw mut set, signal);
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &raw const set, std::ptr::null_mut());
        }
    }

    pub(super) fn send(pid: i32, signal: i32) {
        if let Ok(sig) = Signal::try_from(signal) {
            let _ = kill(Pid::from_raw(pid), sig);
        }
    }

    /// The processes below `pid` (children, their children, ...), from each process's
    /// parent in `/proc/<pid>/stat`.
    pub(super) fn descendants(pid: i32) -> Vec<i32> {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        let parents: Vec<(i32, i32)> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter_map(|p| {
                let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
                let after = &stat[stat.rfind(')')? + 1..];
                let parent = after.split_whitespace().nth(1)?.parse::<i32>().ok()?;
                Some((p, parent))
            })
            .collect();
        let mut found = vec![pid];
        let mut i = 0;
        while i < found.len() {
            let parent = found[i];
            found.extend(
                parents
                    .iter()
                    .filter(|(_, pp)| *pp == parent)
                    .map(|(p, _)| *p),
            );
            i += 1;
        }
        found.remove(0);
        found
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    pub(super) fn start() -> std::io::Result<()> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "signal handling needs Linux",
        ))
    }

    pub(super) fn raise_default(_signal: i32) {}

    pub(super) fn send(_pid: i32, _signal: i32) {}

    pub(super) fn descendants(_pid: i32) -> Vec<i32> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_dir_is_registered_while_it_lives_and_removed_after() {
        let dir = PrivateDir::new("perfkit-test-").unwrap();
        let path = dir.path().to_path_buf();
        assert!(path.is_dir());
        // Only its owner may look inside, whatever the umask.
        let mode = std::os::unix::fs::PermissionsExt::mode(&path.metadata().unwrap().permissions());
        assert_eq!(mode & 0o777, 0o700, "{mode:o}");
        let listed = |p: &Path| {
            registered(|e| match e {
                Entry::Temporary(t) => Some(t.clone()),
                _ => None,
            })
            .contains(&p.to_path_buf())
        };
        assert!(listed(&path));
        drop(dir);
        assert!(!path.exists());
        assert!(!listed(&path));
    }

    #[test]
    fn shell_statuses() {
        assert_eq!(exit_status_of(2), 130);
        assert_eq!(exit_status_of(15), 143);
        assert_eq!(exit_status_of(1), 129);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn descendants_are_found_through_their_parents() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .spawn()
            .unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        let mut below = Vec::new();
        for _ in 0..200 {
            below = imp::descendants(pid);
            if !below.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(below.len(), 1, "{below:?}");
        imp::send(below[0], 15);
        let _ = child.wait();
    }

    #[test]
    fn registrations_come_and_go() {
        let path = Path::new("/nonexistent/perfkit-test-temp");
        let entry = Entry::Temporary(path.to_path_buf());
        let guard = remove_on_signal(path);
        assert!(lock(&ENTRIES).iter().any(|(_, e)| *e == entry));
        drop(guard);
        assert!(!lock(&ENTRIES).iter().any(|(_, e)| *e == entry));
    }
}
