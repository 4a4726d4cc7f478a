//! The in-process sampler on real workloads: its shares against perf's on the same binary,
//! no deadlock under allocation-heavy threads, and no need for perf or its permission.
//!
//! A test binary of its own: the sampler handles `SIGPROF` for the whole process, so its tests
//! take turns, and child processes (this binary run again, see [`workload_child`]) give perf
//! and the unprivileged runs a program to watch.

use std::hint::black_box;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use perfkit_profilers::FoldedStacks;
use perfkit_profilers::perf::{FoldOptions, PerfEnvironment, fold_perf_data};
use perfkit_profilers::sampler::{
    Sampler, SamplerError, SamplerOptions, SectionMode, profile_section, profile_section_with,
};
use perfkit_profilers::{ProfilerError, Setting};
use perfkit_testkit::{have_perf, skip, tools_required};

/// One sampler per process: the tests take turns.
fn turn() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the child does, from `PERFKIT_SAMPLER_CHILD`: `split SECONDS` runs the 60/40
/// workload, `sampled SECONDS` the same under the sampler, printing its folded stacks.
const CHILD: &str = "PERFKIT_SAMPLER_CHILD";

/// Work both hot functions do, per unit, inlined so that each is where its own time goes.
#[allow(
    clippy::inline_always,
    reason = "each hot function must hold its own time"
)]
#[inline(always)]
fn spin(units: u64) -> u64 {
    let mut x = black_box(0x9e37_79b9_7f4a_7c15u64);
    for i in 0..units * 1000 {
        x = x.rotate_left(7) ^ i.wrapping_mul(0x2545_f491_4f6c_dd1d);
    }
    x
}

#[inline(never)]
fn hot_sixty(units: u64) -> u64 {
    let mut x = black_box(1u64);
    for _ in 0..units {
        x ^= spin(black_box(1));
    }
    x
}

#[inline(never)]
fn hot_forty(units: u64) -> u64 {
    let mut x = black_box(2u64);
    for _ in 0..units {
        x ^= spin(black_box(1));
    }
    x
}

/// The CPU time this thread has used.
fn thread_cpu() -> Duration {
    clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// The CPU time this process has used.
fn process_cpu() -> Duration {
    clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn clock(id: libc::clockid_t) -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is valid for writing.
    unsafe { libc::clock_gettime(id, &raw mut now) };
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// Runs the two hot functions, 60 units of work to 40, until this thread has used `seconds`
/// of CPU time (not wall time: on a loaded machine the samples still add up).
fn split_workload(seconds: f64) -> u64 {
    let until = thread_cpu() + Duration::from_secs_f64(seconds);
    let mut acc = 0;
    while thread_cpu() < until {
        acc ^= hot_sixty(black_box(60));
        acc ^= hot_forty(black_box(40));
    }
    acc
}

/// [`split_workload`] on two threads at once: twice the samples in the same wall time.
fn split_on_two_threads(seconds: f64) -> u64 {
    std::thread::scope(|scope| {
        let other = scope.spawn(|| split_workload(seconds));
        split_workload(seconds) ^ other.join().expect("the second thread")
    })
}

/// The entry point of the child processes the tests start (ignored in normal runs).
#[test]
#[ignore = "run by the other tests of this file as a child process"]
fn workload_child() {
    let Ok(task) = std::env::var(CHILD) else {
        return;
    };
    let (mode, seconds) = task.split_once(' ').expect("MODE SECONDS");
    let seconds: f64 = seconds.parse().expect("seconds");
    println!("perf_event_open: {}", perf_event_open_result());
    match mode {
        "split" => {
            black_box(split_on_two_threads(seconds));
        }
        "sampled" => {
            let sampler = Sampler::start(SamplerOptions {
                frequency: 999,
                ..SamplerOptions::default()
            })
            .expect("the sampler starts");
            black_box(split_on_two_threads(seconds));
            let profile = sampler.stop();
            println!("--- folded");
            print!("{}", profile.stacks.to_text());
            println!("--- end");
        }
        other => panic!("unknown child mode {other}"),
    }
}

/// What `perf_event_open` says to a software `cpu-clock` counter on this process: `allowed` or
/// the error.
fn perf_event_open_result() -> String {
    // The start of `struct perf_event_attr` (version 0 layout, 64 bytes): type, size, config.
    let mut attr = [0u8; 64];
    attr[0..4].copy_from_slice(&1u32.to_ne_bytes()); // PERF_TYPE_SOFTWARE
    attr[4..8].copy_from_slice(&64u32.to_ne_bytes());
    attr[8..16].copy_from_slice(&0u64.to_ne_bytes()); // PERF_COUNT_SW_CPU_CLOCK
    // SAFETY: perf_event_open reads `attr` (valid for its stated size) and returns a file
    // descriptor or -1.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            attr.as_ptr(),
            0,
            -1,
            -1,
            libc::c_ulong::from(0u8),
        )
    };
    if fd < 0 {
        return std::io::Error::last_os_error().to_string();
    }
    // SAFETY: `fd` was just opened and is closed once.
    unsafe { libc::close(fd as libc::c_int) };
    "allowed".into()
}

/// Runs this test binary again as the child doing `task`.
fn child(task: &str) -> Command {
    child_of(&std::env::current_exe().expect("the test binary"), task)
}

/// Runs `program`, a copy of this test binary, as the child doing `task`.
fn child_of(program: &Path, task: &str) -> Command {
    let mut command = Command::new(program);
    command
        .args([
            "--exact",
            "workload_child",
            "--ignored",
            "--nocapture",
            "-q",
        ])
        .env(CHILD, task);
    command
}

/// The folded stacks a `sampled` child printed.
fn folded_of(output: &Output) -> FoldedStacks {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the child failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let (_, folded) = stdout.split_once("--- folded\n").expect("folded stacks");
    let (stacks, _) = folded
        .split_once("--- end\n")
        .expect("the end of the stacks");
    FoldedStacks::parse(stacks).expect("folded stacks parse")
}

/// The shares, in percent, of the two hot functions with what is inlined into them: perf
/// names the function an address is in, the sampler also the functions inlined there.
fn shares(folded: &FoldedStacks) -> (f64, f64) {
    let hot = folded.hot_functions(usize::MAX);
    let share = |name: &str| {
        hot.iter()
            .filter(|f| f.name.ends_with(name))
            .map(|f| f.inclusive_percent)
            .sum::<f64>()
    };
    (share("::hot_sixty"), share("::hot_forty"))
}

#[test]
fn shares_match_perfs_on_the_same_binary() {
    let _turn = turn();
    if !have_perf() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("perf.data");
    let recorded = Command::new("perf")
        .args(["record", "-q", "-e", "cpu-clock", "-F", "999", "-g", "-o"])
        .arg(&data)
        .arg("--")
        .args(child("split 10").get_program().to_str())
        .args(child("split 10").get_args())
        .env(CHILD, "split 10")
        .output()
        .unwrap();
    assert!(recorded.status.success(), "{recorded:?}");
    let env = PerfEnvironment::detect().unwrap();
    let perf = fold_perf_data(&env.perf, &data, &FoldOptions::default()).unwrap();
    // Below the kernel's tick rate (250 Hz here) a sample stands for several periods, so
    // the sampler takes fewer, weightier samples than perf: 20 s of CPU time keep their
    // shares' error near half a point.
    let sampled = folded_of(&child("sampled 10").output().unwrap());
    let (perf_sixty, perf_forty) = shares(&perf.stacks);
    let (ours_sixty, ours_forty) = shares(&sampled);
    eprintln!(
        "perf: {perf_sixty:.1}% / {perf_forty:.1}% of {} samples; sampler: {ours_sixty:.1}% / {ours_forty:.1}% of {}",
        perf.stacks.total(),
        sampled.total()
    );
    assert!(perf.stacks.total() > 15_000 && sampled.total() > 15_000);
    // The workload is what it claims: both near 60/40 of the CPU time.
    assert!((perf_sixty - 60.0).abs() < 8.0, "perf: {perf_sixty:.1}%");
    for (ours, theirs) in [(ours_sixty, perf_sixty), (ours_forty, perf_forty)] {
        assert!(
            (ours - theirs).abs() <= 3.0,
            "the sampler's {ours:.1}% is more than 3 points from perf's {theirs:.1}%"
        );
    }
}

#[test]
fn frame_pointers_give_whole_stacks_and_sections_use_the_sampler() {
    let _turn = turn();
    let (value, profile) = profile_section(|| split_workload(0.5));
    black_box(value);
    let profile = profile.unwrap();
    assert_eq!(profile.event.name, "cpu-clock");
    let total = profile.folded.total();
    assert!(total > 250, "{total} samples in {:?}", profile.wall);
    // This workspace builds with frame pointers: the callers are there, in order.
    let whole = profile
        .folded
        .iter()
        .filter(|(stack, _)| stack.contains("::split_workload;") && stack.contains("::hot_"))
        .map(|(_, n)| n)
        .sum::<u64>();
    assert!(
        whole * 10 >= total * 9,
        "{whole} of {total}:\n{}",
        profile.folded.to_text()
    );
    assert!(
        !profile
            .notes
            .iter()
            .any(|n| n.contains("fewer than 3 frames")),
        "{:?}",
        profile.notes
    );
}

#[test]
fn threads_started_while_sampling_are_sampled_and_recent_history_is_kept() {
    let _turn = turn();
    let sampler = Sampler::start(SamplerOptions {
        frequency: 499,
        history: Duration::from_secs(5),
        ..SamplerOptions::default()
    })
    .unwrap();
    let worker = std::thread::Builder::new()
        .name("late-worker".into())
        .spawn(|| split_workload(0.6))
        .unwrap();
    black_box(worker.join().unwrap());
    let recent = sampler.recent(Duration::from_secs(5)).unwrap();
    let asked = Duration::from_secs(6);
    match sampler.recent(asked) {
        Err(ProfilerError::Sampler(SamplerError::History { kept, .. })) => {
            assert_eq!(kept, Duration::from_secs(5));
        }
        other => panic!("expected a history error, got {other:?}"),
    }
    let running = sampler.profile();
    let profile = sampler.stop();
    let late = |p: &FoldedStacks| {
        p.iter()
            .filter(|(s, _)| s.starts_with("late-worker;"))
            .map(|(_, n)| n)
            .sum::<u64>()
    };
    // About 300 samples of its 0.6 s of CPU time: allow for the sampler finding it late.
    assert!(late(&profile.stacks) > 200, "{}", profile.stacks.to_text());
    assert!(late(&recent.stacks) > 200);
    assert!(running.stacks.total() <= profile.stacks.total());
    assert_eq!(profile.stats.periods, profile.stacks.total());
    assert!(profile.stats.samples <= profile.stats.periods);
    assert_eq!(profile.frequency, 499);
    // The pprof file is gzip.
    assert_eq!(profile.to_pprof().unwrap()[..2], [0x1f, 0x8b]);
}

#[test]
fn one_sampler_at_a_time_a_sane_frequency_and_no_foreign_handler() {
    // Another profiler's handler, to be left alone.
    extern "C" fn foreign(_: libc::c_int) {}
    let _turn = turn();
    for hz in [0, 100_001] {
        assert!(matches!(
            Sampler::start(SamplerOptions {
                frequency: hz,
                ..SamplerOptions::default()
            }),
            Err(ProfilerError::InvalidSetting(Setting::Frequency(f))) if f == hz
        ));
    }
    // Absurd settings are clamped or refused, not a panic.
    let absurd = Sampler::start(SamplerOptions {
        frequency: 100_000,
        history: Duration::MAX,
        capacity: usize::MAX,
    })
    .unwrap();
    black_box(split_workload(0.05));
    assert!(absurd.recent(Duration::MAX).is_ok());
    drop(absurd);
    let first = Sampler::start(SamplerOptions::default()).unwrap();
    let second = Sampler::start(SamplerOptions::default());
    assert!(matches!(
        second,
        Err(ProfilerError::Sampler(SamplerError::Busy))
    ));
    drop(first);
    // SAFETY: replacing and then restoring SIGPROF's action with valid structs; no timer is
    // armed between the two calls.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = foreign as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigaction(libc::SIGPROF, &raw const action, &raw mut old);
        let refused = Sampler::start(SamplerOptions::default());
        libc::sigaction(libc::SIGPROF, &raw const old, std::ptr::null_mut());
        assert!(
            matches!(
                refused,
                Err(ProfilerError::Sampler(SamplerError::HandlerTaken))
            ),
            "{refused:?}"
        );
    }
    // A section falls back to nothing: the error, and the work still done.
    let (value, profile) = profile_section_with(
        &SectionMode::Sampler(SamplerOptions {
            frequency: 0,
            ..SamplerOptions::default()
        }),
        || 7,
    );
    assert_eq!(value, 7);
    assert!(profile.is_err());
}

/// Allocates and frees in a tight loop: what deadlocks a handler that allocates or unwinds
/// through the allocator's locks.
#[inline(never)]
fn churn(seed: usize, stop: &std::sync::atomic::AtomicBool) -> usize {
    let mut kept: Vec<Vec<u8>> = Vec::new();
    let mut n = seed;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        n = n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let size = 1 + (n >> 40) % 4096;
        let mut v = vec![0u8; size];
        v[size - 1] = n as u8;
        if kept.len() < 64 {
            kept.push(v);
        } else {
            kept[(n >> 20) % 64] = v;
        }
        let text = format!("{n:x}");
        black_box(text);
    }
    kept.iter().map(Vec::len).sum()
}

#[test]
fn eight_allocating_threads_at_999_hz_do_not_deadlock() {
    let _turn = turn();
    let seconds: u64 = std::env::var("PERFKIT_SAMPLER_STRESS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // A deadlock would hang the test run: end the process instead, with a message.
    let watchdog = {
        let done = done.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(seconds + 120);
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if Instant::now() > deadline {
                    eprintln!("deadlock: the allocating threads did not finish");
                    std::process::abort();
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let sampler = Sampler::start(SamplerOptions {
        frequency: 999,
        ..SamplerOptions::default()
    })
    .unwrap();
    let cpu_before = process_cpu();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let stop = stop.clone();
            std::thread::spawn(move || churn(i, &stop))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in threads {
        black_box(t.join().unwrap());
    }
    let profile = sampler.stop();
    let cpu = process_cpu().saturating_sub(cpu_before);
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    watchdog.join().unwrap();
    eprintln!("{seconds} s: {:?}", profile.stats);
    // The samples account for the CPU time the threads used (the sampler's own thread, the
    // watchdog and the sleeping main thread use next to none).
    let expected = cpu.as_secs_f64() * 999.0;
    let periods = profile.stats.periods as f64;
    assert!(
        periods > 0.8 * expected && periods < 1.05 * expected + 100.0,
        "{periods} periods for {cpu:?} of CPU time: {:?}",
        profile.stats
    );
    assert!(profile.stacks.contains_function("churn"));
}

/// Restores `kernel.perf_event_paranoid` when dropped.
struct Paranoid(String);

impl Drop for Paranoid {
    fn drop(&mut self) {
        let _ = std::fs::write(PARANOID, &self.0);
    }
}

const PARANOID: &str = "/proc/sys/kernel/perf_event_paranoid";

#[test]
fn works_without_perf_on_path_and_with_perf_events_forbidden() {
    let _turn = turn();
    let empty = tempfile::tempdir().unwrap();
    // As root, the strictest setting and an unprivileged user: perf_event_open is refused.
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let before = std::fs::read_to_string(PARANOID).unwrap_or_default();
    let restore = (root && std::fs::write(PARANOID, "3").is_ok()).then(|| Paranoid(before));
    if restore.is_none() {
        skip("cannot set kernel.perf_event_paranoid=3 here (needs root and a writable /proc/sys)");
        if tools_required() {
            return;
        }
    }
    let program = std::env::current_exe().unwrap();
    // A copy the unprivileged user can run, in a directory it can read.
    let copy = empty.path().join("sampler-test");
    std::fs::copy(&program, &copy).unwrap();
    set_mode(empty.path(), 0o755);
    set_mode(&copy, 0o755);
    let mut command = if restore.is_some() {
        child_of(&copy, "sampled 1")
    } else {
        child("sampled 1")
    };
    command.env("PATH", empty.path()).env_remove("PERF");
    if restore.is_some() {
        use std::os::unix::process::CommandExt;
        command.current_dir(empty.path()).uid(65_534).gid(65_534);
    }
    let output = command.output().unwrap();
    drop(restore);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let folded = folded_of(&output);
    eprintln!(
        "{}",
        stdout
            .lines()
            .find(|l| l.starts_with("perf_event_open"))
            .unwrap_or_default()
    );
    if root {
        assert!(
            !stdout.contains("perf_event_open: allowed"),
            "perf events were allowed:\n{stdout}"
        );
    }
    let (sixty, forty) = shares(&folded);
    assert!(folded.total() > 500, "{}", folded.total());
    assert!(sixty > forty && forty > 20.0, "{sixty:.1}% / {forty:.1}%");
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_child_forked_while_sampling_starts_afresh() {
    let _turn = turn();
    let sampler = Sampler::start(SamplerOptions::default()).unwrap();
    black_box(split_workload(0.05));
    // SAFETY: the child only takes profiles, starts and stops a sampler (glibc's allocator
    // and Rust's thread spawning work after fork) and leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        // The parent's sampler has no thread or timer here: empty profiles, no deadlock on
        // its lock, and room for a sampler of the child's own.
        let inherited = sampler.profile().stats.samples == 0;
        let own = Sampler::start(SamplerOptions::default()).map(Sampler::stop);
        let code = i32::from(!(inherited && own.is_ok()));
        std::mem::forget(sampler);
        // SAFETY: ends the child without running the parent's exit handlers.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        // SAFETY: waits for the child just forked, without blocking.
        let done = unsafe { libc::waitpid(pid, &raw mut status, libc::WNOHANG) };
        if done == pid {
            break;
        }
        if Instant::now() > deadline {
            // SAFETY: the child is ours.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the forked child hung");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "status {status:#x}"
    );
    // The parent's sampler is unharmed.
    black_box(split_workload(0.05));
    assert!(sampler.stop().stats.samples > 0);
}
