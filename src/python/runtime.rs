//! Running core futures from Python: blocking (sync iterators) and awaitable (async iterators),
//! both on the core's fork-aware runtime.

use crate::core::runtime::runtime;
use crate::python::errors::{internal_error, to_py_err};
use crate::python::logging::refresh_debug_enabled;
use pyo3::prelude::*;
use pyo3_async_runtimes::generic::{self, ContextExt, JoinError, Runtime as AsyncRuntime};
use pyo3_async_runtimes::TaskLocals;
use std::any::Any;
use std::cell::OnceCell;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// How often a blocked sync call wakes up to let Ctrl-C through.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// Runs `future` on the runtime while the calling thread waits without the GIL.
/// Ctrl-C (or any pending signal handler that raises) aborts the request and propagates.
pub fn wait_for<F, T>(py: Python<'_>, future: F) -> PyResult<T>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: Send + 'static,
{
    let runtime = runtime().map_err(to_py_err)?;
    refresh_debug_enabled(py)?;
    let mut handle = runtime.spawn(future);
    loop {
        let waited = py.detach(|| {
            runtime.block_on(async { tokio::time::timeout(SIGNAL_POLL, &mut handle).await })
        });
        match waited {
            Ok(Ok(result)) => return result,
            Ok(Err(join_error)) => {
                return Err(internal_error(&format!(
                    "the request task failed: {join_error}"
                )))
            }
            Err(_still_running) => {
                if let Err(interrupt) = py.check_signals() {
                    // Dropping the task closes its connection: the server sees the request end.
                    handle.abort();
                    return Err(interrupt);
                }
            }
        }
    }
}

/// Wraps `future` as an asyncio awaitable running on our runtime. Cancelling the asyncio
/// task drops the Rust future (and with it the in-flight request).
pub fn awaitable<F, T>(py: Python<'_>, future: F) -> PyResult<Bound<'_, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'py> IntoPyObject<'py> + Send + 'static,
{
    runtime().map_err(to_py_err)?;
    refresh_debug_enabled(py)?;
    generic::future_into_py::<ForkAwareTokio, F, T>(py, future)
}

/// Stops the runtime before the interpreter finalises (registered with `atexit` by
/// `fabric_jobs/__init__.py`): a runtime thread that touches Python during finalisation
/// crashes the process. Waits without the GIL so blocking tasks that need it can finish.
#[pyfunction]
pub fn _shutdown_runtime(py: Python<'_>) {
    py.detach(|| crate::core::runtime::shutdown(Duration::from_secs(2)));
}

/// pyo3-async-runtimes' tokio adapter, pointed at our pid-keyed runtime instead of its own
/// process-global one (which hangs forever in a forked child).
pub struct ForkAwareTokio;

pub struct TaskFailed(Option<tokio::task::JoinError>);

impl JoinError for TaskFailed {
    fn is_panic(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(tokio::task::JoinError::is_panic)
    }

    fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        match self.0 {
            Some(error) if error.is_panic() => error.into_panic(),
            Some(error) => Box::new(error.to_string()),
            None => Box::new("the I/O runtime is unavailable"),
        }
    }
}

type Handle = Pin<Box<dyn Future<Output = Result<(), TaskFailed>> + Send>>;

fn handle_of(spawned: Option<tokio::task::JoinHandle<()>>) -> Handle {
    Box::pin(async move {
        match spawned {
            Some(handle) => handle.await.map_err(|e| TaskFailed(Some(e))),
            None => Err(TaskFailed(None)),
        }
    })
}

impl AsyncRuntime for ForkAwareTokio {
    type JoinError = TaskFailed;
    type JoinHandle = Handle;

    fn spawn<F>(fut: F) -> Self::JoinHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // Spawn eagerly: the caller may drop the handle without polling it.
        handle_of(runtime().ok().map(|rt| rt.spawn(fut)))
    }

    fn spawn_blocking<F>(f: F) -> Self::JoinHandle
    where
        F: FnOnce() + Send + 'static,
    {
        handle_of(runtime().ok().map(|rt| rt.spawn_blocking(f)))
    }
}

tokio::task_local! {
    static TASK_LOCALS: OnceCell<TaskLocals>;
}

impl ContextExt for ForkAwareTokio {
    fn scope<F, R>(locals: TaskLocals, fut: F) -> Pin<Box<dyn Future<Output = R> + Send>>
    where
        F: Future<Output = R> + Send + 'static,
    {
        let cell = OnceCell::new();
        let _ = cell.set(locals);
        Box::pin(TASK_LOCALS.scope(cell, fut))
    }

    fn get_task_locals() -> Option<TaskLocals> {
        TASK_LOCALS
            .try_with(|cell| cell.get().cloned())
            .unwrap_or_default()
    }
}
