//! The integration tests of perfkit-pool: the process pool, with real worker processes. One
//! test binary, so that the crate links its tests once.

mod pool;
