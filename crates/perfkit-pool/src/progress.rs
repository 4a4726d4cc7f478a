//! A page of memory shared between the pool and one framed worker, through which the worker
//! says which task it is running: one relaxed atomic store per task, no system call. When the
//! worker dies or hangs, the pool reads it to blame exactly the task that was running, even
//! though the worker had not yet written the results of the tasks before it.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::{MmapMut, MmapOptions};

/// The environment variable that tells a worker which descriptor holds its progress page.
pub const PROGRESS_FD_ENV: &str = "PERFKIT_POOL_PROGRESS_FD";

/// The descriptor number the page gets in the worker.
pub(crate) const PROGRESS_FD: RawFd = 3;

/// The size of the shared counter.
const LEN: usize = std::mem::size_of::<AtomicU64>();

/// The shared counter: `0` before the first task, `2n + 1` while the worker runs its `n`-th
/// task (counted from 0 since it started), `2n + 2` once that task is done.
#[derive(Debug)]
pub(crate) struct Progress {
    map: MmapMut,
    /// The memfd behind the page (pool side); `None` in a worker.
    file: Option<File>,
}

impl Progress {
    /// A new page for a worker (pool side): an anonymous memory file, closed on exec (the spawn
    /// duplicates it to [`PROGRESS_FD`] in the child).
    pub(crate) fn create() -> io::Result<Progress> {
        let fd = nix::sys::memfd::memfd_create(
            c"perfkit-pool-progress",
            nix::sys::memfd::MFdFlags::MFD_CLOEXEC,
        )?;
        let file = File::from(fd);
        file.set_len(LEN as u64)?;
        // SAFETY: a fresh memory file only this pool and its worker use; both access the page
        // only through the `AtomicU64` below, never through a plain reference to its bytes.
        let map = unsafe { MmapOptions::new().len(LEN).map_mut(&file)? };
        Ok(Progress {
            map,
            file: Some(file),
        })
    }

    /// The page the pool passed to this worker, if it passed one (worker side).
    pub(crate) fn from_env() -> Option<Progress> {
        let fd: RawFd = std::env::var(PROGRESS_FD_ENV).ok()?.parse().ok()?;
        // SAFETY: the pool's memory file (see `create`), mapped shared; the pool and this
        // worker access it only through the `AtomicU64` below. A descriptor that is not a
        // file of at least 8 bytes makes mmap fail (or later accesses fault), which the
        // environment variable set by the pool rules out.
        let map = unsafe { MmapOptions::new().len(LEN).map_mut(fd).ok()? };
        Some(Progress { map, file: None })
    }

    /// The shared counter.
    pub(crate) fn counter(&self) -> &AtomicU64 {
        // The mapping starts on a page boundary, so the cast is aligned.
        #[allow(clippy::cast_ptr_alignment)]
        let ptr = self.map.as_ptr().cast::<AtomicU64>();
        // SAFETY: the mapping is page-aligned (so aligned for `AtomicU64`), at least `LEN`
        // bytes long and lives as long as `self`; every access, in either process, is atomic.
        unsafe { &*ptr }
    }

    /// The value now (pool side).
    pub(crate) fn get(&self) -> u64 {
        self.counter().load(Ordering::Acquire)
    }

    /// The task the worker is running now, if it is inside one (pool side).
    pub(crate) fn running(&self) -> Option<u64> {
        let p = self.get();
        (p % 2 == 1).then_some(p / 2)
    }

    /// Back to 0, for a new worker (pool side).
    pub(crate) fn reset(&self) {
        self.counter().store(0, Ordering::Release);
    }

    /// The memfd's descriptor in this process (pool side).
    pub(crate) fn raw_fd(&self) -> Option<RawFd> {
        self.file.as_ref().map(AsRawFd::as_raw_fd)
    }
}
