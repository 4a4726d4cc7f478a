//! The process tree from strace traces of programs nobody here wrote: threads are not
//! processes, failed PATH lookups start nothing, wrappers are seen through.

use std::path::Path;

use perfkit_profilers::strace::ProcessTrace;

fn trace(name: &str) -> ProcessTrace {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/strace")
        .join(name);
    let file = std::fs::File::open(&path).expect("fixture");
    ProcessTrace::from_reader(std::io::BufReader::new(file)).expect("parses")
}

#[test]
fn ripgreps_worker_threads_are_threads() {
    // rg -j4 over a directory: four worker threads, no process.
    let t = trace("processes-rg-threads.txt");
    assert_eq!((t.threads, t.processes, t.execs), (4, 0, 1));
    assert_eq!(t.spawn_share(), 0.0);
    assert_eq!(t.command_chain, ["/usr/bin/rg"]);
}

#[test]
fn node_s_helper_threads_are_threads_and_its_child_a_process() {
    // node -e "execSync('true')": libuv and V8 threads, one shell started for the child.
    let t = trace("processes-node.txt");
    assert_eq!(t.threads, 6);
    assert_eq!(t.processes, 1);
    assert!(t.spawn_share() < 0.05, "{t:?}");
}

#[test]
fn a_shell_loop_of_expr_is_mostly_process_starts() {
    // sh -c 'for i in 1 2 3 4 5 6 7 8; do expr $i + 1; done'
    let t = trace("processes-sh-loop.txt");
    assert_eq!((t.processes, t.execs, t.failed_execs), (8, 9, 0));
    assert!(t.spawn_share() > 0.5, "{t:?}");
    assert_eq!(t.programs[0].program, "/usr/bin/expr");
    assert_eq!(t.programs[0].starts, 8);
    assert!(t.exec_ns < t.spawn_ns);
}

#[test]
fn a_pyenv_shim_is_a_chain_of_programs_ending_in_python() {
    // python3 through pyenv's shim: bash scripts exec each other, fork subshells and look
    // programs up along PATH before the interpreter runs.
    let t = trace("processes-pyenv-shim.txt");
    assert_eq!(t.command_chain.len(), 7, "{:?}", t.command_chain);
    assert_eq!(t.command_chain[0], "/root/.pyenv/shims/python3");
    assert!(
        t.final_program()
            .is_some_and(|p| p.ends_with("/versions/3.11.7/bin/python3"))
    );
    // Failed PATH lookups start nothing.
    assert_eq!(t.failed_execs, 212);
    assert_eq!(t.execs, 40);
    assert_eq!(t.threads, 1);
    assert!(t.wrapper_ns > 0 && t.wrapper_ns < t.traced_ns);
    // Nearly every process start is the shim's own, before Python runs; Python's one child
    // (`true`) is not.
    assert!(
        t.wrapper_spawn_ns > 0 && t.wrapper_spawn_ns < t.spawn_ns,
        "{t:?}"
    );
    assert!(t.wrapper_spawn_ns as f64 > 0.9 * t.spawn_ns as f64, "{t:?}");
}

#[test]
fn gcc_starts_each_pass_once() {
    // gcc -O1 hello.c: cc1, as, collect2, ld, each once, after PATH lookups.
    let t = trace("processes-gcc.txt");
    assert_eq!((t.processes, t.failed_execs), (4, 8));
    assert!(t.programs.iter().all(|p| p.starts == 1), "{:?}", t.programs);
    assert_eq!(t.spawn_ns, t.exec_ns);
}
