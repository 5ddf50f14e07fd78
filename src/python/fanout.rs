//! `list_job_instances_many` / `list_workspace_job_instances`: results per item, as they arrive.

use crate::core::fanout::ItemResult;
use crate::core::models::JobInstance as CoreJobInstance;
use crate::core::models::WireText;
use crate::core::runtime::runtime;
use crate::core::sync::lock;
use crate::python::awaiting::{next_after, Ready};
use crate::python::errors::to_py_err;
use crate::python::rows::Rows;
use crate::python::runtime::{awaitable, wait_for};
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
    /// A result a finished wait kept for the caller, who may have gone away meanwhile (Ctrl-C,
    /// a cancelled task); it is converted and handed out from here, so it is never lost.
    kept: Arc<Mutex<Option<Received>>>,
}

impl JobInstanceFanOut {
    pub fn new(work: Work, results: Results) -> Self {
        Self {
            state: Arc::new(tokio::sync::Mutex::new(State {
                work: Some(work),
                results,
            })),
            running: Arc::new(Mutex::new(None)),
            kept: Arc::new(Mutex::new(None)),
        }
    }

    /// Aborts the fan-out task, and with it every listing it runs.
    fn stop_running(&self) {
        if let Some(handle) = lock(&self.running).take() {
            handle.abort();
        }
    }

    /// The kept result, converted on the calling thread.
    fn take_kept(&self, py: Python<'_>) -> PyResult<Option<ItemJobInstances>> {
        let Some(result) = lock(&self.kept).take() else {
            return Ok(None);
        };
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
    }

    /// Waits for the next result and keeps it (`false` once every item is done).
    fn wait_for_result(&self) -> impl Future<Output = PyResult<bool>> + Send + 'static {
        let state = Arc::clone(&self.state);
        let running = Arc::clone(&self.running);
        let kept = Arc::clone(&self.kept);
        async move {
            let mut state = state.lock().await;
            if let Some(work) = state.work.take() {
                let handle = runtime().map_err(to_py_err)?.spawn(work);
                *lock(&running) = Some(handle.abort_handle());
            }
            if lock(&kept).is_some() {
                return Ok(true);
            }
            // `recv` is cancel-safe, and nothing is awaited between receiving and keeping.
            let Some(result) = state.results.recv().await else {
                return Ok(false);
            };
            *lock(&kept) = Some(result);
            Ok(true)
        }
    }
}

impl Drop for JobInstanceFanOut {
    fn drop(&mut self) {
        self.stop_running();
    }
}

#[pymethods]
impl JobInstanceFanOut {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<ItemJobInstances>> {
        loop {
            if let Some(result) = self.take_kept(py)? {
                return Ok(Some(result));
            }
            if !wait_for(py, self.wait_for_result())? {
                return Ok(None);
            }
        }
    }

    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let fan_out = slf.get();
        match fan_out.take_kept(py) {
            Ok(Some(result)) => {
                let result = Bound::new(py, result).map(|r| r.into_any().unbind());
                Ready::awaitable(py, result)
            }
            Ok(None) => {
                let wait = awaitable(py, fan_out.wait_for_result())?;
                next_after(py, wait, slf.clone().into_any())
            }
            Err(error) => Ready::awaitable(py, Err(error)),
        }
    }

    /// Stops every listing still running; iteration ends.
    fn close(&self) {
        self.stop_running();
        lock(&self.kept).take();
        if let Ok(mut state) = self.state.try_lock() {
            state.work = None;
            state.results = Results::Dicts(mpsc::channel(1).1);
        }
    }
}
