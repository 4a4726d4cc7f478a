//! The integration tests of perfkit-profilers: the adapters, on real tools and on files other
//! machines recorded. One test binary, so that the crate links its tests once.

mod doctor;
mod export;
mod fixtures;
mod massif_files;
mod perf_script_contract;
mod process_trace;
mod real_tools;
