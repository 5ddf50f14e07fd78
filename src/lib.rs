//! fabric-jobs: a client for the Microsoft Fabric Job Scheduler REST API.
//!
//! - [`core`]: HTTP, paging, models, errors, runtime. No Python in it.
//! - `emulator` (feature `emulator`): a local fake Fabric server used by tests and demos.
//! - `python` (feature `python`): the thin PyO3 binding layer, built by maturin as `fabric_jobs._core`.

pub mod core;
#[cfg(feature = "emulator")]
pub mod emulator;
#[cfg(feature = "python")]
mod python;
