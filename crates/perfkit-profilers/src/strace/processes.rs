//! Who started what: processes, threads and programs from `strace -f -ttt -T -e trace=%process`.
//!
//! A `clone` is a thread when its flags hold `CLONE_THREAD`; only the rest are processes. An
//! `execve` that fails (a `PATH` lookup trying each directory) starts nothing.
//!
//! What starting processes costs is measured two ways. "Fork to exec-complete" runs from the
//! `clone` or `fork` in the parent to the end of the child's first successful `execve` (the
//! `clone` call alone for a child that never calls `exec`): a lower bound, since the new
//! program's loading, linking and exit come after. The start-up estimate adds those: a program
//! started more than once costs, each time, its shortest whole run in the trace (fork to
//! exit) — what it takes to start and end it with the least work done; a program started once
//! counts fork to exec-complete.

use std::collections::HashMap;
use std::io::BufRead;

use serde::{Deserialize, Serialize};

use crate::ProfilerError;

/// The process tree of one traced run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessTrace {
    /// Processes started (`fork`, `vfork`, `clone` without `CLONE_THREAD`), successful only.
    pub processes: u64,
    /// Threads started (`clone`/`clone3` with `CLONE_THREAD`).
    pub threads: u64,
    /// Successful `execve`/`execveat` calls: programs run (the first is the command itself).
    pub execs: u64,
    /// `execve` calls that failed (mostly `PATH` lookups: `ENOENT` for each directory tried).
    pub failed_execs: u64,
    /// Fork to exec-complete summed over started processes, nanoseconds (under strace).
    pub exec_ns: u64,
    /// Time during which a process was starting, by the start-up estimate (see the module
    /// notes), nanoseconds: starts that overlap count once.
    pub spawn_ns: u64,
    /// From the first traced event to the last, nanoseconds.
    pub traced_ns: u64,
    /// The programs started most often, with their starts and shortest run, costliest first
    /// (at most five).
    pub programs: Vec<ProgramStarts>,
    /// The programs the first process ran, in order: more than one when the command is a
    /// wrapper or a script that `exec`s another program (`env`, pyenv and rbenv shims).
    pub command_chain: Vec<String>,
    /// From the first traced event to the end of the first process's last successful `exec`,
    /// nanoseconds, when `command_chain` has more than one program: what the wrappers cost
    /// before the real program ran.
    pub wrapper_ns: u64,
    /// The part of `spawn_ns` spent on processes the wrappers started before the real program
    /// ran (a shim's helpers), nanoseconds.
    #[serde(default)]
    pub wrapper_spawn_ns: u64,
}

/// How often one program was started as a new process.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProgramStarts {
    /// The program's path; a child that never ran a program is `fork of PARENT`.
    pub program: String,
    /// Processes that ran it.
    pub starts: u64,
    /// Its shortest whole run (fork to exit), nanoseconds.
    pub shortest_ns: u64,
    /// What its starts cost by the start-up estimate, nanoseconds.
    pub cost_ns: u64,
}

impl ProcessTrace {
    /// Process starts (the start-up estimate) as a share of the traced run, 0–1.
    #[must_use]
    pub fn spawn_share(&self) -> f64 {
        if self.traced_ns == 0 {
            return 0.0;
        }
        (self.spawn_ns as f64 / self.traced_ns as f64).min(1.0)
    }

    /// The program the command ended up running, when the command is a wrapper.
    #[must_use]
    pub fn final_program(&self) -> Option<&str> {
        (self.command_chain.len() > 1)
            .then(|| self.command_chain.last().map(String::as_str))
            .flatten()
    }

    /// Reads `strace -f -ttt -T` output of process calls (PID first on every line, as `-o`
    /// writes it).
    ///
    /// # Errors
    /// [`ProfilerError::Parse`] when no line has the `PID SECONDS.MICROS call` form.
    pub fn from_reader(reader: impl BufRead) -> Result<ProcessTrace, ProfilerError> {
        let mut state = State::default();
        for line in reader.lines() {
            let line = line.map_err(|e| ProfilerError::io("reading strace output", e))?;
            state.line(&line);
        }
        state.finish()
    }
}

/// A call of one process, between its `<unfinished ...>` line and its `resumed` line.
#[derive(Clone, Debug)]
struct Started {
    name: String,
    at_us: u64,
    args: String,
}

/// One process start, for the estimate; times in microseconds.
struct Start {
    /// Fork to exec-complete.
    to_exec: u64,
    /// Fork to exit, when the exit was traced.
    life: Option<u64>,
    /// Started by a wrapper before the real program ran.
    by_wrapper: bool,
    /// When the parent's `clone` began.
    born: u64,
}

/// A started process; times in microseconds. A child's own lines may come before its
/// parent's `clone` returns (strace prints them as they happen), so every field fills in
/// whenever its line arrives.
#[derive(Debug, Default)]
struct Child {
    /// When its parent's `clone` began (`None` until the `clone` returns).
    born: Option<u64>,
    /// How long the parent's `clone` call took.
    fork: u64,
    /// The end of its first successful `exec`.
    exec_done: Option<u64>,
    /// When it exited.
    ended: Option<u64>,
}

#[derive(Default)]
struct State {
    first_us: Option<u64>,
    last_us: u64,
    root: Option<u32>,
    /// Calls waiting for their `resumed` line, by PID.
    open: HashMap<u32, Started>,
    /// Started processes, by PID.
    children: HashMap<u32, Child>,
    /// What each process runs now.
    program: HashMap<u32, String>,
    trace: ProcessTrace,
    lines: u64,
}

impl State {
    fn line(&mut self, line: &str) {
        let Some((pid, at_us, rest)) = split_line(line) else {
            return;
        };
        self.lines += 1;
        self.first_us.get_or_insert(at_us);
        self.last_us = self.last_us.max(at_us);
        self.root.get_or_insert(pid);
        if rest.starts_with("+++ exited with ") || rest.starts_with("+++ killed by ") {
            if Some(pid) != self.root {
                self.children.entry(pid).or_default().ended = Some(at_us);
            }
            return;
        }
        if let Some(call) = rest.strip_suffix(" <unfinished ...>") {
            let (name, args) = call.split_once('(').unwrap_or((call, ""));
            self.open.insert(
                pid,
                Started {
                    name: name.to_string(),
                    at_us,
                    args: args.to_string(),
                },
            );
            return;
        }
        let started = if let Some(resumed) = rest.strip_prefix("<... ") {
            let Some((name, tail)) = resumed.split_once(" resumed>") else {
                return;
            };
            let mut started = self.open.remove(&pid).unwrap_or(Started {
                name: name.to_string(),
                at_us,
                args: String::new(),
            });
            started.args.push_str(tail);
            started
        } else {
            let (name, args) = rest.split_once('(').unwrap_or((rest, ""));
            Started {
                name: name.to_string(),
                at_us,
                args: args.to_string(),
            }
        };
        let (result, duration_us) = result_of(&started.args);
        self.call(pid, &started, result, duration_us);
    }

    fn call(&mut self, pid: u32, call: &Started, result: Option<i64>, duration_us: u64) {
        match call.name.as_str() {
            "execve" | "execveat" => {
                if result != Some(0) {
                    self.trace.failed_execs += 1;
                    return;
                }
                self.trace.execs += 1;
                let end = call.at_us.saturating_add(duration_us);
                let path = exec_path(&call.args);
                if Some(pid) != self.root {
                    let child = self.children.entry(pid).or_default();
                    child.exec_done.get_or_insert(end);
                }
                if Some(pid) == self.root {
                    self.trace.command_chain.push(path.clone());
                    self.trace.wrapper_ns = ns(end.saturating_sub(self.first_us.unwrap_or(end)));
                }
                self.program.insert(pid, path);
            }
            "clone" | "clone3" | "fork" | "vfork" => {
                let Some(child) = result
                    .filter(|&r| r > 0)
                    .and_then(|r| u32::try_from(r).ok())
                else {
                    return;
                };
                if call.args.contains("CLONE_THREAD") {
                    self.trace.threads += 1;
                    return;
                }
                self.trace.processes += 1;
                let parent = self
                    .program
                    .get(&pid)
                    .map_or_else(|| "?".to_string(), |p| short_name(p).to_string());
                // The child may have run a program already: its name stays.
                self.program
                    .entry(child)
                    .or_insert_with(|| format!("fork of {parent}"));
                let record = self.children.entry(child).or_default();
                record.born = Some(call.at_us);
                record.fork = duration_us;
            }
            _ => {}
        }
    }

    fn finish(mut self) -> Result<ProcessTrace, ProfilerError> {
        if self.lines == 0 {
            return Err(ProfilerError::Parse {
                what: "strace process trace",
                line: 0,
                message: "no line of the form 'PID SECONDS.MICROS call(...)' (was it written with -f -ttt -T?)".into(),
            });
        }
        // When the first process ran its last program: what the wrappers started before it
        // is theirs.
        let wrapped_at = (self.trace.command_chain.len() > 1).then(|| {
            self.first_us
                .unwrap_or(0)
                .saturating_add(self.trace.wrapper_ns / 1000)
        });
        // Per program: each start's lower bound (fork to exec-complete), whole run, and
        // whether a wrapper started it.
        let mut by_program: HashMap<String, Vec<Start>> = HashMap::new();
        for (pid, child) in &self.children {
            // A process whose start was not traced (its parent was not followed) is skipped.
            let Some(born) = child.born else {
                continue;
            };
            let to_exec = child
                .exec_done
                .map_or(child.fork, |done| done.saturating_sub(born));
            self.trace.exec_ns = self.trace.exec_ns.saturating_add(ns(to_exec));
            let life = child.ended.map(|end| end.saturating_sub(born));
            let program = self.program.get(pid).cloned().unwrap_or_default();
            let by_wrapper = wrapped_at.is_some_and(|at| born < at);
            by_program.entry(program).or_default().push(Start {
                to_exec,
                life,
                by_wrapper,
                born,
            });
        }
        // Starts that overlap (make -j, xargs -P) count once: the time during which any
        // process was starting.
        let mut intervals: Vec<(u64, u64)> = Vec::new();
        let mut wrapper_intervals: Vec<(u64, u64)> = Vec::new();
        let mut programs: Vec<ProgramStarts> = by_program
            .into_iter()
            .map(|(program, starts)| {
                let shortest = starts.iter().filter_map(|start| start.life).min();
                let cost = |start: &Start| match shortest {
                    Some(shortest) if starts.len() > 1 => start
                        .life
                        .unwrap_or(shortest)
                        .min(shortest)
                        .max(start.to_exec),
                    _ => start.to_exec,
                };
                intervals.extend(
                    starts
                        .iter()
                        .map(|start| (start.born, start.born.saturating_add(cost(start)))),
                );
                let cost_us: u64 = starts.iter().map(cost).fold(0, u64::saturating_add);
                wrapper_intervals.extend(
                    starts
                        .iter()
                        .filter(|start| start.by_wrapper)
                        .map(|start| (start.born, start.born.saturating_add(cost(start)))),
                );
                ProgramStarts {
                    program,
                    starts: starts.len() as u64,
                    shortest_ns: ns(shortest.unwrap_or(0)),
                    cost_ns: ns(cost_us),
                }
            })
            .collect();
        self.trace.spawn_ns = ns(union_length(&mut intervals));
        self.trace.wrapper_spawn_ns = ns(union_length(&mut wrapper_intervals));
        programs.sort_by(|a, b| b.cost_ns.cmp(&a.cost_ns).then(a.program.cmp(&b.program)));
        programs.truncate(5);
        self.trace.programs = programs;
        if self.trace.command_chain.len() < 2 {
            self.trace.wrapper_ns = 0;
        }
        self.trace.traced_ns = self
            .last_us
            .saturating_sub(self.first_us.unwrap_or(0))
            .saturating_mul(1000);
        Ok(self.trace)
    }
}

/// The length of the union of `intervals` (start, end).
fn union_length(intervals: &mut [(u64, u64)]) -> u64 {
    intervals.sort_unstable();
    let mut total = 0u64;
    let mut current: Option<(u64, u64)> = None;
    for &(start, end) in intervals.iter() {
        match current {
            Some((s, e)) if start <= e => current = Some((s, e.max(end))),
            Some((s, e)) => {
                total = total.saturating_add(e - s);
                current = Some((start, end));
            }
            None => current = Some((start, end)),
        }
    }
    if let Some((s, e)) = current {
        total = total.saturating_add(e - s);
    }
    total
}

/// Microseconds as nanoseconds, saturating: a hostile trace may hold any timestamp.
fn ns(us: u64) -> u64 {
    us.saturating_mul(1000)
}

/// The last component of a path.
fn short_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// `PID SECONDS.MICROS rest`.
fn split_line(line: &str) -> Option<(u32, u64, &str)> {
    let (pid, rest) = line.trim_start().split_once(' ')?;
    let pid: u32 = pid.parse().ok()?;
    let (time, rest) = rest.trim_start().split_once(' ')?;
    let (secs, micros) = time.split_once('.')?;
    let secs: u64 = secs.parse().ok()?;
    if micros.len() != 6 {
        return None;
    }
    let micros: u64 = micros.parse().ok()?;
    Some((pid, secs.checked_mul(1_000_000)?.checked_add(micros)?, rest))
}

/// The return value and the duration (`<0.000123>`) at the end of a finished call.
fn result_of(tail: &str) -> (Option<i64>, u64) {
    let duration_us = tail
        .rsplit_once('<')
        .and_then(|(_, d)| d.strip_suffix('>'))
        .and_then(|d| {
            let (s, frac) = d.split_once('.')?;
            let frac = format!("{frac:0<6}");
            s.parse::<u64>()
                .ok()?
                .checked_mul(1_000_000)?
                .checked_add(frac.get(..6)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    let result = tail
        .rsplit_once(") = ")
        .or_else(|| tail.rsplit_once(" = "))
        .and_then(|(_, r)| r.split_whitespace().next())
        .and_then(|r| {
            r.strip_prefix("0x")
                .map_or_else(|| r.parse().ok(), |h| i64::from_str_radix(h, 16).ok())
        });
    (result, duration_us)
}

/// The path argument of an `execve("path", [...], ...)` call.
fn exec_path(args: &str) -> String {
    let quoted = args.trim_start();
    // execveat(AT_FDCWD, "path", ...) names the path second.
    let quoted = if quoted.starts_with('"') {
        quoted
    } else {
        quoted.split_once(", ").map_or(quoted, |(_, rest)| rest)
    };
    quoted
        .strip_prefix('"')
        .and_then(|q| q.split_once('"'))
        .map_or_else(|| "?".to_string(), |(path, _)| path.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_processes_and_failed_lookups_are_told_apart() {
        let text = r#"100 1000.000000 execve("/usr/bin/env", ["env", "python3"], 0x7ffc /* 3 vars */) = 0 <0.000300>
100 1000.001000 execve("/root/.cargo/bin/python3", ["python3"], 0x7ffc /* 3 vars */) = -1 ENOENT (No such file or directory) <0.000020>
100 1000.002000 execve("/usr/bin/python3", ["python3"], 0x7ffc /* 3 vars */) = 0 <0.000500>
100 1000.010000 clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM, child_tid=0x7f, exit_signal=0, stack=0x7f, stack_size=0x7fff00, tls=0x7f} => {parent_tid=[101]}, 88) = 101 <0.000100>
101 1000.011000 exit(0)         = ?
100 1000.020000 vfork( <unfinished ...>
102 1000.021000 execve("/usr/bin/true", ["true"], 0x7ffc /* 3 vars */ <unfinished ...>
100 1000.023000 <... vfork resumed>) = 102 <0.003000>
102 1000.023500 <... execve resumed>) = 0 <0.002500>
102 1000.024000 exit_group(0)   = ?
100 1000.030000 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f) = 103 <0.000200>
103 1000.031000 exit_group(0)   = ?
100 1000.100000 exit_group(0)   = ?
"#;
        let t = ProcessTrace::from_reader(text.as_bytes()).unwrap();
        assert_eq!(t.threads, 1);
        assert_eq!(t.processes, 2);
        assert_eq!(t.execs, 3);
        assert_eq!(t.failed_execs, 1);
        // vfork at 20.000 ms to exec complete at 23.500 ms, plus the bare fork's 0.2 ms.
        assert_eq!(t.exec_ns, 3_500_000 + 200_000);
        // Each program started once: the estimate is the same lower bound.
        assert_eq!(t.spawn_ns, t.exec_ns);
        assert_eq!(t.traced_ns, 100_000_000);
        assert_eq!(t.command_chain, ["/usr/bin/env", "/usr/bin/python3"]);
        assert_eq!(t.final_program(), Some("/usr/bin/python3"));
        assert_eq!(t.wrapper_ns, 2_500_000);
        assert!((t.spawn_share() - 0.037).abs() < 1e-9);
    }

    #[test]
    fn a_program_started_again_and_again_costs_its_shortest_run_each_time() {
        use std::fmt::Write as _;
        let mut text = String::from(
            "1 10.000000 execve(\"/bin/sh\", [\"sh\"], 0x1 /* 1 var */) = 0 <0.000100>\n",
        );
        // Three runs of expr lasting 2, 3 and 9 ms, each exec done 0.5 ms after the fork.
        for (i, life_ms) in [2u64, 3, 9].iter().enumerate() {
            let pid = 10 + i;
            let born = 11_000 + 20_000 * i as u64;
            let _ = write!(
                text,
                "1 10.{born:06} clone(child_stack=NULL, flags=SIGCHLD) = {pid} <0.000100>\n\
                 {pid} 10.{:06} execve(\"/usr/bin/expr\", [\"expr\"], 0x1 /* 1 var */) = 0 <0.000100>\n\
                 {pid} 10.{:06} +++ exited with 0 +++\n",
                born + 400,
                born + life_ms * 1000
            );
        }
        text.push_str("1 10.100000 exit_group(0) = ?\n");
        let t = ProcessTrace::from_reader(text.as_bytes()).unwrap();
        assert_eq!((t.processes, t.execs), (3, 4));
        assert_eq!(t.exec_ns, 3 * 500_000);
        assert_eq!(t.spawn_ns, 3 * 2_000_000);
        assert_eq!(t.programs[0].program, "/usr/bin/expr");
        assert_eq!(
            (t.programs[0].starts, t.programs[0].shortest_ns),
            (3, 2_000_000)
        );
        assert_eq!(t.final_program(), None);
        assert_eq!(t.wrapper_ns, 0);
    }

    #[test]
    fn a_childs_exec_printed_before_its_parents_clone_returns_keeps_its_name() {
        let text = r#"1 10.000000 execve("/usr/bin/make", ["make"], 0x1 /* 1 var */) = 0 <0.000100>
1 10.001000 clone(child_stack=NULL, flags=SIGCHLD <unfinished ...>
2 10.001500 execve("/usr/bin/cc", ["cc"], 0x1 /* 1 var */) = 0 <0.000200>
1 10.002000 <... clone resumed>, child_tidptr=0x1) = 2 <0.001000>
2 10.010000 +++ exited with 0 +++
1 10.020000 exit_group(0) = ?
"#;
        let t = ProcessTrace::from_reader(text.as_bytes()).unwrap();
        assert_eq!((t.processes, t.execs), (1, 2));
        assert_eq!(t.programs[0].program, "/usr/bin/cc");
        // From the clone (10.001000) to the end of cc's exec (10.001700).
        assert_eq!(t.exec_ns, 700_000);
    }

    #[test]
    fn starts_that_overlap_count_once() {
        use std::fmt::Write as _;
        // Two workers each start `cc` twice at the same moments (make -j2), every run 4 ms.
        let mut text = String::from(
            "1 10.000000 execve(\"/usr/bin/make\", [\"make\"], 0x1 /* 1 var */) = 0 <0.000100>\n",
        );
        for (pid, born) in [(2u32, 1_000u64), (3, 1_000), (4, 10_000), (5, 10_000)] {
            let _ = write!(
                text,
                "1 10.{born:06} clone(child_stack=NULL, flags=SIGCHLD) = {pid} <0.000100>\n{pid} 10.{:06} execve(\"/usr/bin/cc\", [\"cc\"], 0x1 /* 1 var */) = 0 <0.000100>\n{pid} 10.{:06} +++ exited with 0 +++\n",
                born + 200,
                born + 4_000
            );
        }
        text.push_str("1 10.020000 exit_group(0) = ?\n");
        let t = ProcessTrace::from_reader(text.as_bytes()).unwrap();
        assert_eq!(t.processes, 4);
        assert_eq!(t.programs[0].cost_ns, 16_000_000);
        // Two spans of 4 ms, not four.
        assert_eq!(t.spawn_ns, 8_000_000);
        assert!((t.spawn_share() - 0.4).abs() < 1e-9);
    }

    #[test]
    fn text_without_trace_lines_is_an_error() {
        assert!(ProcessTrace::from_reader("strace: exec failed\n".as_bytes()).is_err());
        assert!(ProcessTrace::from_reader(&b"1 2.5 x\n"[..]).is_err());
    }
}
