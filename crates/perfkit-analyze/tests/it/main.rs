//! The integration tests of perfkit-analyze: the analyser, on programs with a known bottleneck.
//! One test binary, so that the crate links its tests once.

mod bottlenecks;
mod io_bound;
mod report;
