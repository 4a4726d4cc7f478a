//! A CPU sampler inside the program: no `perf` binary, no `perf_event_open`, no privileges.
//!
//! [`Sampler::start`] gives every thread of the process a timer on that thread's own CPU-time
//! clock (`timer_create` on the thread's clock, delivered to the thread with
//! `SIGEV_THREAD_ID`), so a thread is sampled in proportion to the CPU time it uses on any
//! kernel (before Linux 6.3 a process-wide timer's signal favours the main thread). A thread of the sampler watches `/proc/self/task`
//! every 20 ms to arm timers for new threads, drains samples and keeps their counts;
//! names are looked up only when a profile is taken, on the caller's thread.
//!
//! The `SIGPROF` handler reads the interrupted registers, follows frame pointers inside the
//! thread's stack (bounded by the memory map, checked to climb) and writes the addresses into
//! a queue allocated up front. It takes no lock and allocates nothing, so it cannot deadlock
//! with `malloc` or any lock the interrupted code holds. Its only system calls ask the kernel,
//! one per page, whether a stack page can be read before it reads it: the memory map may be a
//! second old, and a register that is not a frame pointer may point anywhere in it.
//!
//! **Build with frame pointers** for whole stacks: `RUSTFLAGS="-C force-frame-pointers=yes"`.
//! Without them the interrupted function is still right, its callers are missing, and the
//! profile says so in its notes. Frames inside libraries built without frame pointers (a
//! distribution's libc) end the walk there.
//!
//! ```no_run
//! use perfkit_profilers::sampler::{Sampler, SamplerOptions};
//!
//! let sampler = Sampler::start(SamplerOptions { frequency: 999, ..SamplerOptions::default() })?;
//! let busy: u64 = (0..50_000_000u64).map(|i| i % 7).sum();
//! let profile = sampler.stop();
//! println!("{busy}: {} samples", profile.stats.samples);
//! for f in profile.stacks.hot_functions(3) {
//!     println!("{:5.1}% {}", f.self_percent, f.name);
//! }
//! # Ok::<(), perfkit_profilers::ProfilerError>(())
//! ```
//!
//! Threads that start while sampling are usually found within 20 ms, at most 200 ms; one that
//! lives shorter than that may go unsampled. Programs that switch stacks themselves
//! (coroutines) get only their innermost frame for stacks mapped since the map was last read.

mod signal;
mod symbols;
mod threads;

#[cfg(feature = "criterion")]
mod criterion;
#[cfg(feature = "criterion")]
pub use criterion::SamplingProfiler;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::perf::{CountUnit, Event, PerfFold, SectionProfile};
use crate::pprof::{Description, ValueType};
use crate::{Empty, FoldedStacks, ProfilerError, Setting};
use signal::{ACTIVE, IN_HANDLER, RawSample, Reader, Shared, Walk};
use symbols::Symbols;
use threads::Timers;

/// How often the sampler's thread drains samples and looks for new threads. The queue's
/// default capacity holds this long of samples of dozens of busy threads at 999 Hz.
const DRAIN_EVERY: Duration = Duration::from_millis(20);

/// The most memory ranges the handler can bound walks with.
const MAP_CAPACITY: usize = 1 << 16;

/// How many samplers this process has started: each one's epoch.
static EPOCH: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// The span of one bucket of the recent history.
const BUCKET: Duration = Duration::from_secs(1);

/// Why the in-process sampler cannot start or answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SamplerError {
    /// A sampler is already running in this process.
    #[error(
        "a sampler is already running in this process: stop it before starting another (or take profiles from the running one)"
    )]
    Busy,
    /// Something else handles `SIGPROF`.
    #[error(
        "SIGPROF already has a handler in this process, probably another profiler (pprof-rs, gperftools): stop that profiler first"
    )]
    HandlerTaken,
    /// The kernel refused what the sampler needs.
    #[error(
        "{what}: {}; the sampler needs timer_create and SIGPROF, which a seccomp profile may block",
        perfkit_sys::os_reason(source)
    )]
    Kernel {
        /// What was being done.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// The history asked for is longer than the sampler keeps.
    #[error(
        "the sampler keeps the last {kept:?} of samples, not {asked:?}: start it with a longer SamplerOptions::history"
    )]
    History {
        /// The window asked for.
        asked: Duration,
        /// The window kept.
        kept: Duration,
    },
}

/// How to sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamplerOptions {
    /// Samples per second of each thread's CPU time (1..=100000; 99 by default). The kernel
    /// checks CPU-time timers on its clock tick, so above the tick rate a sample stands for
    /// several periods and is weighted as such.
    pub frequency: u32,
    /// How much recent history to keep for [`Sampler::recent`] (none by default).
    #[serde(with = "perfkit_metrics::serde_ns")]
    pub history: Duration,
    /// Samples the queue holds between drains (2 to 65,536, each about 1 KiB); more are
    /// counted as dropped.
    pub capacity: usize,
}

impl Default for SamplerOptions {
    fn default() -> SamplerOptions {
        SamplerOptions {
            frequency: 99,
            history: Duration::ZERO,
            capacity: 4096,
        }
    }
}

/// Counts about the samples behind a profile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamplerStats {
    /// Signals handled.
    pub samples: u64,
    /// Sampling periods they stand for (each sample counts the periods that expired before
    /// it was handled): the profile's total.
    pub periods: u64,
    /// Samples whose walk reached the thread's first frame.
    pub complete: u64,
    /// Samples with fewer than three frames: callers missing, the sign of code built without
    /// frame pointers.
    pub shallow: u64,
    /// Samples whose stack was in no memory the sampler knew: only the interrupted function.
    pub unknown_stack: u64,
    /// Samples cut at the most frames a sample holds.
    pub too_deep: u64,
    /// Samples lost because the queue was full, since the sampler started (also in a
    /// [`Sampler::recent`] profile).
    pub dropped: u64,
    /// Threads with a timer when the profile was taken.
    pub threads: usize,
    /// Threads that had no timer when the profile was taken because it could not be created
    /// (a limit on timers, most likely); they are tried again as the threads are listed.
    pub unarmed: u64,
}

impl SamplerStats {
    fn add(&mut self, sample: &RawSample) {
        self.samples += 1;
        self.periods += u64::from(sample.weight);
        self.complete += u64::from(sample.walk == Walk::Root);
        self.shallow += u64::from(sample.depth < 3);
        self.unknown_stack += u64::from(sample.walk == Walk::UnknownStack);
        self.too_deep += u64::from(sample.walk == Walk::TooDeep);
    }

    fn merge(&mut self, other: &SamplerStats) {
        self.samples += other.samples;
        self.periods += other.periods;
        self.complete += other.complete;
        self.shallow += other.shallow;
        self.unknown_stack += other.unknown_stack;
        self.too_deep += other.too_deep;
    }

    /// What the user should know about these samples.
    fn notes(&self) -> Vec<String> {
        let share = |n: u64| 100.0 * n as f64 / self.samples.max(1) as f64;
        let mut notes = Vec::new();
        if self.samples >= 20 && self.shallow * 2 > self.samples {
            notes.push(format!(
                "{:.0}% of samples have fewer than 3 frames, so their callers are missing: build with RUSTFLAGS=\"-C force-frame-pointers=yes\"",
                share(self.shallow)
            ));
        }
        if self.unknown_stack > 0 {
            notes.push(format!(
                "{} samples ran on a stack the sampler had not seen mapped: only their innermost function is known",
                self.unknown_stack
            ));
        }
        if self.dropped > 0 {
            notes.push(format!(
                "{} samples were dropped because the queue filled between drains: raise SamplerOptions::capacity",
                self.dropped
            ));
        }
        if self.unarmed > 0 {
            notes.push(format!(
                "{} threads could not get a CPU-time timer (a limit on timers?) and were not sampled",
                self.unarmed
            ));
        }
        notes
    }
}

/// Sampled stacks by their addresses (the thread's number first), with their counts.
#[derive(Default)]
struct Aggregate {
    stacks: HashMap<Box<[usize]>, u64>,
    stats: SamplerStats,
}

impl Aggregate {
    /// Counts `sample`, whose key is built in `key` (reused, so that a stack already seen
    /// costs no allocation).
    fn add(&mut self, sample: &RawSample, key: &mut Vec<usize>) {
        key.clear();
        key.push(sample.thread as usize);
        key.extend_from_slice(&sample.frames[..sample.depth as usize]);
        let weight = u64::from(sample.weight);
        match self.stacks.get_mut(key.as_slice()) {
            Some(count) => *count += weight,
            None => {
                self.stacks.insert(key.as_slice().into(), weight);
            }
        }
        self.stats.add(sample);
    }

    fn merge(&mut self, other: &Aggregate) {
        for (key, count) in &other.stacks {
            *self.stacks.entry(key.clone()).or_insert(0) += count;
        }
        self.stats.merge(&other.stats);
    }
}

/// What the sampler's thread and the API share, behind a lock the signal handler never takes.
struct State {
    reader: Reader,
    total: Aggregate,
    history: VecDeque<(Instant, Aggregate)>,
    keep: Duration,
    names: Vec<String>,
    threads: usize,
    unarmed: u64,
}

impl State {
    /// Drains the queue and takes the threads' names and counts from `timers`.
    fn update(&mut self, shared: &Shared, timers: &Timers) {
        self.drain(shared);
        if self.names != timers.names {
            self.names.clone_from(&timers.names);
        }
        self.threads = timers.threads();
        self.unarmed = timers.unarmed() as u64;
    }

    fn drain(&mut self, shared: &Shared) {
        let mut sample = RawSample::EMPTY;
        let now = Instant::now();
        if !self.keep.is_zero() {
            if self
                .history
                .back()
                .is_none_or(|(start, _)| now.duration_since(*start) >= BUCKET)
            {
                self.history.push_back((now, Aggregate::default()));
            }
            while self.history.front().is_some_and(|(start, _)| {
                now.duration_since(*start) > self.keep.saturating_add(BUCKET)
            }) {
                self.history.pop_front();
            }
        }
        let mut key = Vec::with_capacity(signal::MAX_DEPTH + 1);
        while self.reader.pop(&shared.queue, &mut sample) {
            self.total.add(&sample, &mut key);
            if let Some((_, bucket)) = self.history.back_mut() {
                bucket.add(&sample, &mut key);
            }
        }
    }
}

/// A running in-process sampler. Dropping it stops it.
#[derive(Debug)]
pub struct Sampler {
    running: Option<Running>,
}

struct Running {
    shared: Arc<Shared>,
    state: Arc<Mutex<State>>,
    stop: mpsc::Sender<()>,
    /// The sampler's thread, until stopped.
    thread: Option<JoinHandle<()>>,
    started: Instant,
    started_at: SystemTime,
    frequency: u32,
    /// The process that started it (a forked child has a copy of this value).
    pid: u32,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("frequency", &self.frequency)
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}

impl Sampler {
    /// Starts sampling every thread of this process. The threads that exist now have their
    /// timers when this returns.
    ///
    /// # Errors
    /// [`ProfilerError::InvalidSetting`] for a frequency outside 1..=100000 Hz;
    /// [`ProfilerError::Sampler`] when another sampler runs, another profiler handles
    /// `SIGPROF`, or the kernel refuses timers.
    pub fn start(options: SamplerOptions) -> Result<Sampler, ProfilerError> {
        if !(1..=100_000).contains(&options.frequency) {
            return Err(ProfilerError::InvalidSetting(Setting::Frequency(
                options.frequency,
            )));
        }
        let shared = Arc::new(Shared {
            epoch: EPOCH.fetch_add(1, Ordering::Relaxed) & 0xffff,
            queue: signal::Queue::new(options.capacity),
            stacks: signal::StackMap::new(MAP_CAPACITY, main_stack_limit()),
        });
        let raw = Arc::as_ptr(&shared).cast_mut();
        if ACTIVE
            .compare_exchange(
                std::ptr::null_mut(),
                raw,
                Ordering::SeqCst,
                Ordering::SeqCst,
            )
            .is_err()
        {
            return Err(SamplerError::Busy.into());
        }
        let started = install_handler().and_then(|()| spawn(&shared, &options));
        match started {
            Ok((state, stop, thread)) => Ok(Sampler {
                running: Some(Running {
                    shared,
                    state,
                    stop,
                    thread: Some(thread),
                    started: Instant::now(),
                    started_at: SystemTime::now(),
                    frequency: options.frequency,
                    pid: std::process::id(),
                }),
            }),
            Err(e) => {
                quiesce();
                Err(e.into())
            }
        }
    }

    /// The profile of everything sampled since the start. Sampling goes on.
    #[must_use]
    pub fn profile(&self) -> SamplerProfile {
        let Some(running) = self.here() else {
            return SamplerProfile::empty();
        };
        let snapshot = {
            let mut state = running.lock();
            state.drain(&running.shared);
            state.snapshot(&state.total, &running.shared)
        };
        running.profile(&snapshot, running.started)
    }

    /// The profile of about the last `window` of samples (to within a second), such as a
    /// service's `/debug/pprof/profile?seconds=30`. Sampling goes on.
    ///
    /// # Errors
    /// [`SamplerError::History`] when `window` is longer than [`SamplerOptions::history`].
    pub fn recent(&self, window: Duration) -> Result<SamplerProfile, ProfilerError> {
        let Some(running) = self.here() else {
            return Ok(SamplerProfile::empty());
        };
        let (snapshot, since) = {
            let mut state = running.lock();
            if window > state.keep {
                return Err(SamplerError::History {
                    asked: window,
                    kept: state.keep,
                }
                .into());
            }
            state.drain(&running.shared);
            let now = Instant::now();
            let mut merged = Aggregate::default();
            let mut since = now;
            for (start, bucket) in &state.history {
                if now.duration_since(*start) <= window.saturating_add(BUCKET / 2) {
                    merged.merge(bucket);
                    since = since.min(*start);
                }
            }
            (state.snapshot(&merged, &running.shared), since)
        };
        Ok(running.profile(&snapshot, since))
    }

    /// The running sampler, unless this is a child forked while it ran: the child has no
    /// sampler's thread, and the lock it would take may have been held at the fork.
    fn here(&self) -> Option<&Running> {
        self.running
            .as_ref()
            .filter(|r| r.pid == std::process::id())
    }

    /// Stops sampling and returns the profile of everything sampled.
    #[must_use]
    pub fn stop(mut self) -> SamplerProfile {
        match self.running.take() {
            Some(running) => running.finish(),
            None => SamplerProfile::empty(),
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        if let Some(mut running) = self.running.take() {
            running.halt();
        }
    }
}

impl Running {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops the timers and the sampler's thread, then waits until no handler uses the queue;
    /// false in a child forked while sampling, which has neither thread nor timer and whose
    /// own sampler (if any) is not this one: nothing to stop, and nothing more to read.
    fn halt(&mut self) -> bool {
        let Some(thread) = self.thread.take() else {
            return false;
        };
        if std::process::id() != self.pid {
            std::mem::forget(thread);
            return false;
        }
        let _ = self.stop.send(());
        let _ = thread.join();
        quiesce();
        true
    }

    fn finish(mut self) -> SamplerProfile {
        let wall = self.started.elapsed();
        if !self.halt() {
            return SamplerProfile::empty();
        }
        let snapshot = {
            let mut state = self.lock();
            // Samples written between the thread's last drain and the end of the last handler.
            state.drain(&self.shared);
            state.snapshot(&state.total, &self.shared)
        };
        build(&snapshot, self.frequency, (self.started_at, wall))
    }

    fn profile(&self, snapshot: &Snapshot, since: Instant) -> SamplerProfile {
        let started = self.started_at + since.saturating_duration_since(self.started);
        build(snapshot, self.frequency, (started, since.elapsed()))
    }
}

/// What a profile is built from, copied out of the lock so that looking up names (slow the
/// first time) does not hold up draining.
struct Snapshot {
    stacks: Vec<(Box<[usize]>, u64)>,
    names: Vec<String>,
    stats: SamplerStats,
}

impl State {
    fn snapshot(&self, aggregate: &Aggregate, shared: &Shared) -> Snapshot {
        let mut stats = aggregate.stats;
        stats.threads = self.threads;
        stats.unarmed = self.unarmed;
        stats.dropped = shared.queue.dropped.load(Ordering::Relaxed);
        Snapshot {
            stacks: aggregate
                .stacks
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            names: self.names.clone(),
            stats,
        }
    }
}

/// The profile of `snapshot`, which covers `span` (its start and length).
fn build(snapshot: &Snapshot, frequency: u32, span: (SystemTime, Duration)) -> SamplerProfile {
    let mut symbols = Symbols::default();
    let stacks = symbols.fold(
        snapshot.stacks.iter().map(|(k, v)| (&k[..], *v)),
        &snapshot.names,
    );
    SamplerProfile {
        stacks,
        frequency,
        wall: span.1,
        started: span.0,
        notes: snapshot.stats.notes(),
        stats: snapshot.stats,
    }
}

/// How far the main thread's stack may grow: its size limit, at most
/// [`signal::MAX_MAIN_STACK_GROWTH`].
fn main_stack_limit() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is valid for writing.
    let read = unsafe { libc::getrlimit(libc::RLIMIT_STACK, &raw mut limit) } == 0;
    match usize::try_from(limit.rlim_cur) {
        Ok(bytes) if read && limit.rlim_cur != libc::RLIM_INFINITY => {
            bytes.min(signal::MAX_MAIN_STACK_GROWTH)
        }
        _ => signal::MAX_MAIN_STACK_GROWTH,
    }
}

/// In a child forked while sampling: no timer or sampler's thread came along, so the child
/// may start a sampler of its own.
extern "C" fn forget_in_child() {
    ACTIVE.store(std::ptr::null_mut(), Ordering::SeqCst);
    IN_HANDLER.store(0, Ordering::SeqCst);
}

/// Clears the running sampler and waits until no handler still reads its memory. Signals
/// that arrive later find no sampler and return at once.
fn quiesce() {
    ACTIVE.store(std::ptr::null_mut(), Ordering::SeqCst);
    while IN_HANDLER.load(Ordering::SeqCst) != 0 {
        std::thread::yield_now();
    }
}

/// Installs the `SIGPROF` handler unless another one is there. It stays installed after the
/// sampler stops (ignoring signals no running sampler's timer sent), because a timer's last
/// signal may still be on its way and `SIGPROF`'s default action ends the process.
fn install_handler() -> Result<(), SamplerError> {
    static AT_FORK: std::sync::Once = std::sync::Once::new();
    AT_FORK.call_once(|| {
        // SAFETY: registers a handler that only stores to two atomics; failure (ENOMEM)
        // leaves a forked child unable to start a sampler of its own, nothing worse.
        unsafe {
            libc::pthread_atfork(None, None, Some(forget_in_child));
        }
    });
    let ours = signal::on_sigprof as extern "C" fn(_, _, _) as libc::sighandler_t;
    // SAFETY: an all-zero `sigaction` is a valid value to be overwritten by the query.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a query (no new action) into a valid struct.
    if unsafe { libc::sigaction(libc::SIGPROF, std::ptr::null(), &raw mut old) } != 0 {
        return Err(SamplerError::Kernel {
            what: "cannot read SIGPROF's action",
            source: std::io::Error::last_os_error(),
        });
    }
    if old.sa_sigaction == ours {
        return Ok(());
    }
    if old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN {
        return Err(SamplerError::HandlerTaken);
    }
    // SAFETY: as above; every field that matters is set below.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = ours;
    action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
    // SAFETY: `action` is valid; the handler only does what async-signal-safety allows (see
    // `signal`); the mask is emptied before use.
    let installed = unsafe {
        libc::sigemptyset(&raw mut action.sa_mask);
        libc::sigaction(libc::SIGPROF, &raw const action, std::ptr::null_mut())
    };
    if installed != 0 {
        return Err(SamplerError::Kernel {
            what: "cannot install the SIGPROF handler",
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

type Spawned = (Arc<Mutex<State>>, mpsc::Sender<()>, JoinHandle<()>);

/// Starts the sampler's thread, which arms the timers of the threads there are now before
/// this returns.
fn spawn(shared: &Arc<Shared>, options: &SamplerOptions) -> Result<Spawned, SamplerError> {
    let state = Arc::new(Mutex::new(State {
        reader: Reader::default(),
        total: Aggregate::default(),
        history: VecDeque::new(),
        keep: options.history,
        names: Vec::new(),
        threads: 0,
        unarmed: 0,
    }));
    let (stop, stopped) = mpsc::channel::<()>();
    let (ready, armed) = mpsc::sync_channel::<Result<(), std::io::Error>>(1);
    let frequency = options.frequency;
    let (thread_shared, thread_state) = (shared.clone(), state.clone());
    let thread = std::thread::Builder::new()
        .name("perfkit-sampler".into())
        .spawn(move || {
            let mut timers = Timers::new(frequency, threads::own_tid(), thread_shared.epoch);
            let first = timers.sync(&thread_shared.stacks);
            let failed = first.is_err();
            thread_state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .update(&thread_shared, &timers);
            let _ = ready.send(first);
            if failed {
                return;
            }
            run(&thread_shared, &thread_state, &mut timers, &stopped);
        })
        .map_err(|source| SamplerError::Kernel {
            what: "cannot start the sampler's thread",
            source,
        })?;
    match armed.recv() {
        Ok(Ok(())) => Ok((state, stop, thread)),
        Ok(Err(source)) => {
            let _ = thread.join();
            Err(SamplerError::Kernel {
                what: "cannot list this process's threads",
                source,
            })
        }
        Err(_) => {
            let _ = thread.join();
            Err(SamplerError::Kernel {
                what: "the sampler's thread ended while starting",
                source: std::io::Error::other("it panicked"),
            })
        }
    }
}

/// The sampler's thread: every [`DRAIN_EVERY`], timers for new threads and a drain of the
/// queue; at the end, the timers deleted and a last drain.
fn run(shared: &Shared, state: &Mutex<State>, timers: &mut Timers, stopped: &mpsc::Receiver<()>) {
    let lock = || state.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        let stopping = !matches!(
            stopped.recv_timeout(DRAIN_EVERY),
            Err(RecvTimeoutError::Timeout)
        );
        if !stopping {
            // A failed listing leaves the timers as they are until the next try.
            let _ = timers.sync(&shared.stacks);
        }
        lock().update(shared, timers);
        if stopping {
            timers.disarm();
            lock().drain(shared);
            return;
        }
    }
}

/// A profile from the in-process sampler.
#[derive(Clone, Debug, Serialize)]
pub struct SamplerProfile {
    /// The sampled stacks, each rooted at its thread's name, counted in sampling periods of
    /// that thread's CPU time.
    pub stacks: FoldedStacks,
    /// Samples per second of CPU time.
    pub frequency: u32,
    /// The wall-clock time the profile covers.
    #[serde(rename = "wall_ns", with = "perfkit_metrics::serde_ns")]
    pub wall: Duration,
    /// When it started.
    #[serde(skip)]
    pub started: SystemTime,
    /// Counts about the samples.
    pub stats: SamplerStats,
    /// What the user should know (missing frames, dropped samples).
    pub notes: Vec<String>,
}

impl SamplerProfile {
    fn empty() -> SamplerProfile {
        SamplerProfile {
            stacks: FoldedStacks::new(),
            frequency: 0,
            wall: Duration::ZERO,
            started: SystemTime::UNIX_EPOCH,
            stats: SamplerStats::default(),
            notes: Vec::new(),
        }
    }

    /// The CPU time one count stands for.
    #[must_use]
    pub fn period(&self) -> Duration {
        Duration::from_secs(1)
            .checked_div(self.frequency)
            .unwrap_or_default()
    }

    /// The CPU time the profile accounts for.
    #[must_use]
    pub fn cpu_time(&self) -> Duration {
        self.period()
            .saturating_mul(u32::try_from(self.stacks.total()).unwrap_or(u32::MAX))
    }

    /// The profile as perfkit's drawing and export functions take it: counts of samples of
    /// the `cpu-clock`.
    #[must_use]
    pub fn to_fold(&self) -> PerfFold {
        PerfFold {
            stacks: self.stacks.clone(),
            event: "cpu-clock".into(),
            unit: CountUnit::Samples,
        }
    }

    /// What a pprof file of this profile says besides its stacks: samples, each standing for
    /// a period of CPU nanoseconds, when and for how long.
    #[must_use]
    pub fn description(&self) -> Description {
        let mut description = Description::of(ValueType::new("samples", "count"));
        let period = i64::try_from(self.period().as_nanos()).unwrap_or(i64::MAX);
        description.period = Some((ValueType::new("cpu", "nanoseconds"), period));
        description.time_nanos = self
            .started
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(0));
        description.duration_nanos = i64::try_from(self.wall.as_nanos()).unwrap_or(i64::MAX);
        description.comments.push(format!(
            "perfkit in-process sampler, {} Hz of each thread's CPU time",
            self.frequency
        ));
        description
    }

    /// The profile as a gzipped pprof `profile.proto`.
    ///
    /// # Errors
    /// [`ProfilerError::TooLarge`] when the counts exceed what pprof holds.
    pub fn to_pprof(&self) -> Result<Vec<u8>, ProfilerError> {
        crate::pprof::encode_gzipped(&self.stacks, &self.description())
    }

    /// The profile as [`profile_section`] reports it.
    fn into_section(self, wall: Duration) -> Result<SectionProfile, ProfilerError> {
        if self.stacks.is_empty() {
            return Err(ProfilerError::NoSamples(Empty::Section(wall)));
        }
        Ok(SectionProfile {
            folded: self.stacks,
            event: Event {
                name: "cpu-clock".into(),
                note: Some(format!(
                    "sampled in-process at {} Hz of each thread's CPU time",
                    self.frequency
                )),
            },
            wall,
            notes: self.notes,
        })
    }
}

/// Runs `work` once while the in-process sampler samples every thread of this process at
/// 997 Hz, and returns its result together with the profile. See [`profile_section_with`]
/// for perf instead.
///
/// `work` always runs, also when sampling cannot start: the profile is then the error.
///
/// ```
/// # #[inline(never)] fn fib(n: u64) -> u64 { if n < 2 { n } else { fib(n - 1) + fib(n - 2) } }
/// let (value, profile) = perfkit_profilers::sampler::profile_section(|| fib(30));
/// let profile = profile?;
/// println!("fib = {value}; {} samples", profile.folded.total());
/// # Ok::<(), perfkit_profilers::ProfilerError>(())
/// ```
pub fn profile_section<R>(work: impl FnOnce() -> R) -> (R, Result<SectionProfile, ProfilerError>) {
    profile_section_with(&SectionMode::default(), work)
}

/// How [`profile_section_with`] profiles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SectionMode {
    /// The in-process sampler (the default, at 997 Hz): no perf, no privileges.
    Sampler(SamplerOptions),
    /// `perf record` attached to this process: kernel frames and DWARF call graphs, where
    /// perf is installed and allowed (see [`crate::perf::profile_section`]).
    Perf,
}

impl Default for SectionMode {
    fn default() -> SectionMode {
        SectionMode::Sampler(SamplerOptions {
            frequency: 997,
            ..SamplerOptions::default()
        })
    }
}

/// [`profile_section`] with a chosen way of profiling.
pub fn profile_section_with<R>(
    mode: &SectionMode,
    work: impl FnOnce() -> R,
) -> (R, Result<SectionProfile, ProfilerError>) {
    let options = match mode {
        SectionMode::Perf => return crate::perf::profile_section(work),
        SectionMode::Sampler(options) => *options,
    };
    let sampler = match Sampler::start(options) {
        Ok(sampler) => sampler,
        Err(e) => return (work(), Err(e)),
    };
    let started = Instant::now();
    let value = work();
    let wall = started.elapsed();
    (value, sampler.stop().into_section(wall))
}
