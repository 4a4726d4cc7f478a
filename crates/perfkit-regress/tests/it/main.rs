//! The integration tests of perfkit-regress: the regression checks, on files other tools wrote.
//! One test binary, so that the crate links its tests once.

mod criterion_versions;
mod error_rates;
mod importers;
mod properties;
