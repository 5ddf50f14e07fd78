//! The process-wide tokio runtime, rebuilt after `fork()`.
//!
//! A forked child inherits the runtime's memory but not its threads, so using it hangs forever.
//! The runtime is therefore keyed by process id: a new process builds its own and leaks the
//! inherited one (dropping it would try to join threads that do not exist in the child).

use crate::core::error::{Error, Result};
use std::sync::Mutex;
use tokio::runtime::{Builder, Runtime};

static RUNTIME: Mutex<Option<(u32, &'static Runtime)>> = Mutex::new(None);

/// The runtime of the current process, built on first use.
pub fn runtime() -> Result<&'static Runtime> {
    let pid = std::process::id();
    let mut slot = RUNTIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((owner, runtime)) = *slot {
        if owner == pid {
            return Ok(runtime);
        }
    }
    let runtime = Builder::new_multi_thread()
        .enable_all()
        .thread_name("fabric-jobs")
        .build()
        .map_err(|e| Error::Internal(format!("could not start the I/O runtime: {e}")))?;
    let runtime: &'static Runtime = Box::leak(Box::new(runtime));
    *slot = Some((pid, runtime));
    Ok(runtime)
}

#[cfg(test)]
mod tests {
    #[test]
    fn same_runtime_within_a_process() {
        let a = super::runtime().unwrap() as *const _;
        let b = super::runtime().unwrap() as *const _;
        assert_eq!(a, b);
    }
}
