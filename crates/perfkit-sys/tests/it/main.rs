//! The integration tests of perfkit-sys: the OS layer, on real processes and sysctl trees. One
//! test binary, so that the crate links its tests once.

mod procfs_props;
mod run;
mod tune;
