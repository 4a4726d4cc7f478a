//! The integration tests of perfkit-zerocopy: the zero-copy paths, on real files, pipes and
//! sockets. One test binary, so that the crate links its tests once.

mod mmap_and_pipes;
mod prop;
mod transfer;
