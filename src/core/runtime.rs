//! The process-wide tokio runtime: built on first use, rebuilt after `fork()`, shut down at exit.
//!
//! A forked child inherits the runtime's memory but not its threads, so using it hangs forever.
//! The runtime is therefore keyed by process id: a new process builds its own and leaks the
//! inherited one (dropping it would try to join threads that do not exist in the child).
//! Callers get a [`Handle`]; the runtime itself stays here so [`shutdown`] can stop it before the
//! Python interpreter finalises (a runtime thread touching Python then crashes the process).

use crate::core::error::{Error, Result};
use crate::core::sync::lock;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::runtime::{Builder, Handle, Runtime};

static RUNTIME: Mutex<Option<(u32, Runtime)>> = Mutex::new(None);

fn slot() -> MutexGuard<'static, Option<(u32, Runtime)>> {
    lock(&RUNTIME)
}

/// Forgets a runtime inherited through `fork()`: its threads are not in this process.
fn forget_inherited(slot: &mut Option<(u32, Runtime)>, pid: u32) {
    if slot.as_ref().is_some_and(|(owner, _)| *owner != pid) {
        if let Some((_, inherited)) = slot.take() {
            std::mem::forget(inherited);
        }
    }
}

/// A handle to the runtime of the current process, built on first use.
pub fn runtime() -> Result<Handle> {
    let pid = std::process::id();
    let mut slot = slot();
    forget_inherited(&mut slot, pid);
    if let Some((_, runtime)) = slot.as_ref() {
        return Ok(runtime.handle().clone());
    }
    let runtime = Builder::new_multi_thread()
        .enable_all()
        .thread_name("fabric-jobs")
        .build()
        .map_err(|e| Error::Internal(format!("could not start the I/O runtime: {e}")))?;
    let handle = runtime.handle().clone();
    *slot = Some((pid, runtime));
    Ok(handle)
}

/// Stops the runtime: pending requests are dropped, worker threads end (waiting at most
/// `timeout` for blocking ones). Must not be called from a runtime thread. A later
/// [`runtime`] call builds a new one.
pub fn shutdown(timeout: Duration) {
    let pid = std::process::id();
    let taken = {
        let mut slot = slot();
        forget_inherited(&mut slot, pid);
        slot.take()
    };
    if let Some((_, runtime)) = taken {
        runtime.shutdown_timeout(timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_runtime_per_process_until_shut_down() {
        let a = runtime().unwrap();
        let b = runtime().unwrap();
        assert_eq!(a.id(), b.id());
        assert_eq!(a.block_on(async { 41 + 1 }), 42);
        shutdown(Duration::from_secs(1));
        let c = runtime().unwrap();
        assert_ne!(a.id(), c.id());
        assert_eq!(c.block_on(async { 7 }), 7);
    }
}
