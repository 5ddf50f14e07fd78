//! The PyO3 binding layer, built as `fabric_jobs._core`. Conversion, iterators and exception
//! mapping only; every decision lives in `crate::core`.

mod auth;
mod awaiting;
mod client;
mod convert;
mod emulator;
mod errors;
mod fanout;
mod json;
mod logging;
mod models;
mod pager;
mod rows;
mod runtime;

use pyo3::prelude::*;

/// mimalloc for the extension's own (Rust) allocations: pages are parsed on runtime threads
/// and freed on the Python thread, a pattern glibc's malloc handles slowly (its arena
/// consolidation showed in profiles). Python's own objects still use Python's allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[pymodule]
mod _core {
    #[pymodule_export]
    use super::awaiting::Ready;
    #[pymodule_export]
    use super::client::JobsClient;
    #[pymodule_export]
    use super::emulator::FabricEmulator;
    #[pymodule_export]
    use super::fanout::{ItemJobInstances, JobInstanceFanOut};
    #[pymodule_export]
    use super::models::{ErrorDetail, ErrorResponse, JobInstance, Page, RelatedResource};
    #[pymodule_export]
    use super::pager::{JobInstancePager, PageIterator};
    #[pymodule_export]
    use super::runtime::_shutdown_runtime;

    #[allow(non_upper_case_globals)]
    #[pymodule_export]
    const __version__: &str = env!("CARGO_PKG_VERSION");
}
