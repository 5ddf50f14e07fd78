//! `list_job_instances_many` / `list_workspace_job_instances`: results per item, as they arrive.

use crate::core::fanout::ItemResult;
use crate::core::models::JobInstance as CoreJobInstance;
use crate::core::models::WireText;
use crate::core::runtime::runtime;
use crate::python::errors::to_py_err;
use crate::python::rows::Rows;
use crate::python::runtime::{awaitable, wait_for};
use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use pyo3::types::PyList;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

/// The job instances of one item, or why they could not be listed.
#[pyclass(frozen, module = "fabric_jobs._core")]
pub struct ItemJobInstances {
    workspace_id: String,
    item_id: Option<String>,
    item_type: Option<String>,
    item_name: Option<String>,
    job_instances: Py<PyList>,
    error: Option<Py<PyAny>>,
}

#[pymethods]
impl ItemJobInstances {
    #[getter]
    fn workspace_id(&self) -> &str {
        &self.workspace_id
    }

    /// `None` only when the workspace's items could not be enumerated.
    #[getter]
    fn item_id(&self) -> Option<&str> {
        self.item_id.as_deref()
    }

    /// Known when the items came from `list_workspace_job_instances`.
    #[getter]
    fn item_type(&self) -> Option<&str> {
        self.item_type.as_deref()
    }

    /// The item's display name, when known.
    #[getter]
    fn item_name(&self) -> Option<&str> {
        self.item_name.as_deref()
    }

    /// Every job instance of the item (empty when `error` is set).
    #[getter]
    fn job_instances(&self, py: Python<'_>) -> Py<PyList> {
        self.job_instances.clone_ref(py)
    }

    /// The `FabricError` that stopped this item's listing, else `None`.
    #[getter]
    fn error(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.error.as_ref().map(|e| e.clone_ref(py))
    }

    #[getter]
    fn ok(&self) -> bool {
        self.error.is_none()
    }

    /// Raises `error` if there is one.
    fn raise_for_error(&self, py: Python<'_>) -> PyResult<()> {
        match &self.error {
            Some(error) => Err(PyErr::from_value(error.bind(py).clone())),
            None => Ok(()),
        }
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.job_instances.bind(py).len()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.job_instances.bind(py).try_iter()?.into_any())
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let outcome = match &self.error {
            Some(error) => format!(
                "error={}",
                error
                    .bind(py)
                    .get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ),
            None => format!(
                "job_instances=<{} items>",
                self.job_instances.bind(py).len()
            ),
        };
        format!(
            "ItemJobInstances(workspace_id='{}', item_id={}, {outcome})",
            self.workspace_id,
            self.item_id
                .as_deref()
                .map(|id| format!("'{id}'"))
                .unwrap_or_else(|| "None".to_owned())
        )
    }
}

/// A result stream of either item form.
pub enum Results {
    Objects(mpsc::Receiver<ItemResult<CoreJobInstance>>),
    Dicts(mpsc::Receiver<ItemResult<WireText>>),
}

struct Received {
    workspace_id: String,
    item_id: Option<String>,
    item_type: Option<String>,
    item_name: Option<String>,
    outcome: crate::core::Result<Rows>,
}

fn received<T>(result: ItemResult<T>, rows: fn(Vec<T>) -> Rows) -> Received {
    Received {
        workspace_id: result.workspace_id,
        item_id: result.item_id,
        item_type: result.item_type,
        item_name: result.display_name,
        outcome: result.outcome.map(rows),
    }
}

impl Results {
    async fn recv(&mut self) -> Option<Received> {
        match self {
            Results::Objects(rx) => rx.recv().await.map(|r| received(r, Rows::Objects)),
            Results::Dicts(rx) => rx.recv().await.map(|r| received(r, Rows::Dicts)),
        }
    }
}

type Work = Pin<Box<dyn Future<Output = ()> + Send>>;

struct State {
    /// The fan-out, until the first read starts it (no request before iteration).
    work: Option<Work>,
    results: Results,
}

/// Iterates `ItemJobInstances` results (sync or async) in completion order.
#[pyclass(frozen, module = "fabric_jobs._core")]
pub struct JobInstanceFanOut {
    state: Arc<tokio::sync::Mutex<State>>,
    running: Arc<Mutex<Option<AbortHandle>>>,
}

impl JobInstanceFanOut {
    pub fn new(work: Work, results: Results) -> Self {
        Self {
            state: Arc::new(tokio::sync::Mutex::new(State {
                work: Some(work),
                results,
            })),
            running: Arc::new(Mutex::new(None)),
        }
    }
}

impl JobInstanceFanOut {
    /// Aborts the fan-out task, and with it every listing it runs.
    fn stop_running(&self) {
        if let Some(handle) = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            handle.abort();
        }
    }
}

impl Drop for JobInstanceFanOut {
    fn drop(&mut self) {
        self.stop_running();
    }
}

async fn next_result(
    state: Arc<tokio::sync::Mutex<State>>,
    running: Arc<Mutex<Option<AbortHandle>>>,
) -> PyResult<Option<ItemJobInstances>> {
    let mut state = state.lock().await;
    if let Some(work) = state.work.take() {
        let handle = runtime().map_err(to_py_err)?.spawn(work);
        *running.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle.abort_handle());
    }
    let Some(result) = state.results.recv().await else {
        return Ok(None);
    };
    drop(state);
    Python::attach(|py| {
        let (items, error) = match result.outcome {
            Ok(rows) => (rows.into_python(py)?, None),
            Err(error) => (Vec::new(), Some(to_py_err(error).into_value(py).into_any())),
        };
        Ok(Some(ItemJobInstances {
            workspace_id: result.workspace_id,
            item_id: result.item_id,
            item_type: result.item_type,
            item_name: result.item_name,
            job_instances: PyList::new(py, items)?.unbind(),
            error,
        }))
    })
}

#[pymethods]
impl JobInstanceFanOut {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<ItemJobInstances>> {
        wait_for(
            py,
            next_result(Arc::clone(&self.state), Arc::clone(&self.running)),
        )
    }

    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let state = Arc::clone(&self.state);
        let running = Arc::clone(&self.running);
        awaitable(py, async move {
            match next_result(state, running).await? {
                Some(result) => Ok(result),
                None => Err(PyStopAsyncIteration::new_err(())),
            }
        })
    }

    /// Stops every listing still running; iteration ends.
    fn close(&self) {
        self.stop_running();
        if let Ok(mut state) = self.state.try_lock() {
            state.work = None;
            state.results = Results::Dicts(mpsc::channel(1).1);
        }
    }
}
