//! The integration tests of perfkit-cli: the `perfkit` binary, run as a user runs it. One test
//! binary, so that the crate links its tests once.

mod analyze_cli;
mod bench_cli;
mod ci_tools;
mod copy_cli;
mod docs;
mod doctor_cli;
mod fuzz_corpora;
mod heap_cli;
mod hyperfine_cli;
mod pool_cli;
mod profile_cli;
mod real_programs;
mod regress_cli;
mod safety_cli;
mod tune_cli;
