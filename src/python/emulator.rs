//! `fabric_jobs.testing.FabricEmulator`: the bundled fake Fabric server, driven from Python.

use crate::core::sync::lock;
use crate::emulator::{
    ContinuationStyle, Emulator, EmulatorConfig, EmulatorError, EmulatorState, Fault, Quota,
};
use crate::python::convert::{from_python, id_text, to_python};
use crate::python::runtime::wait_for;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

fn value_error(e: EmulatorError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn guid(what: &str, value: &Bound<'_, PyAny>) -> PyResult<Uuid> {
    let text = id_text(what, value)?;
    Uuid::parse_str(text.trim())
        .map_err(|_| PyValueError::new_err(format!("{what} must be a GUID, got {text:?}")))
}

/// A non-negative, finite number of seconds.
fn duration(what: &str, value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        PyValueError::new_err(format!(
            "{what} must be a finite number of seconds >= 0, got {value}"
        ))
    })
}

fn optional_guid(what: &str, value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Uuid>> {
    value.map(|v| guid(what, v)).transpose()
}

/// A local fake Fabric server on 127.0.0.1 (free port), started on construction.
/// Use it as a context manager, or call `close()`.
#[pyclass(frozen, module = "fabric_jobs._core")]
pub struct FabricEmulator {
    server: Mutex<Option<Emulator>>,
    state: Arc<EmulatorState>,
    base_url: String,
    port: u16,
}

impl FabricEmulator {
    fn running(&self) -> PyResult<&EmulatorState> {
        let running = lock(&self.server).is_some();
        if running {
            Ok(&self.state)
        } else {
            Err(PyRuntimeError::new_err("the emulator is closed"))
        }
    }
}

#[pymethods]
impl FabricEmulator {
    #[new]
    #[pyo3(signature = (*, page_size=100, token=None, continuation="both", latency=0.0))]
    fn new(
        py: Python<'_>,
        page_size: usize,
        token: Option<String>,
        continuation: &str,
        latency: f64,
    ) -> PyResult<Self> {
        let style: ContinuationStyle = continuation.parse().map_err(PyValueError::new_err)?;
        if page_size == 0 {
            return Err(PyValueError::new_err("page_size must be at least 1"));
        }
        let latency = duration("latency", latency)?;
        let config = EmulatorConfig {
            page_size,
            accepted_token: token,
            continuation: style,
        };
        let server = wait_for(py, async move {
            Emulator::start(config)
                .await
                .map_err(|e| PyRuntimeError::new_err(format!("could not start the emulator: {e}")))
        })?;
        server.state().set_latency(latency);
        Ok(Self {
            state: server.state(),
            base_url: server.base_url(),
            port: server.port(),
            server: Mutex::new(Some(server)),
        })
    }

    /// `http://127.0.0.1:PORT/v1`: pass it as `JobsClient(base_url=...)`.
    #[getter]
    fn base_url(&self) -> &str {
        &self.base_url
    }

    #[getter]
    fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (idempotent).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let server = lock(&self.server).take();
        if let Some(server) = server {
            wait_for(py, async move {
                server.shutdown().await;
                Ok(())
            })?;
        }
        Ok(())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    /// Adds a workspace (a random id unless given) and returns its id.
    #[pyo3(signature = (workspace_id=None))]
    fn add_workspace(&self, workspace_id: Option<&Bound<'_, PyAny>>) -> PyResult<String> {
        let id = optional_guid("workspace_id", workspace_id)?;
        Ok(self.running()?.add_workspace(id).to_string())
    }

    /// Adds an item to a workspace and returns its id. Without `display_name` it is named
    /// like "Pipeline 3"; `description` and `folder_id` show in the List Items API.
    #[pyo3(signature = (workspace_id, item_id=None, *, item_type="Notebook", display_name=None, description=None, folder_id=None))]
    fn add_item(
        &self,
        workspace_id: &Bound<'_, PyAny>,
        item_id: Option<&Bound<'_, PyAny>>,
        item_type: &str,
        display_name: Option<String>,
        description: Option<String>,
        folder_id: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<String> {
        let workspace = guid("workspace_id", workspace_id)?;
        let id = optional_guid("item_id", item_id)?;
        let folder = optional_guid("folder_id", folder_id)?;
        let state = self.running()?;
        let id = state
            .add_item(workspace, id, item_type, display_name)
            .map_err(value_error)?;
        if description.is_some() || folder.is_some() {
            state
                .set_item_details(workspace, id, description, folder)
                .map_err(value_error)?;
        }
        Ok(id.to_string())
    }

    /// A workspace's items as the List Items API serves them (wire dicts, insertion order).
    fn items<'py>(
        &self,
        py: Python<'py>,
        workspace_id: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let workspace = guid("workspace_id", workspace_id)?;
        let values = self.running()?.items(workspace).map_err(value_error)?;
        to_python(py, &values)
    }

    /// Appends job instances exactly as given (dicts in wire form, newest first).
    fn add_job_instances(
        &self,
        workspace_id: &Bound<'_, PyAny>,
        item_id: &Bound<'_, PyAny>,
        instances: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let workspace = guid("workspace_id", workspace_id)?;
        let item = guid("item_id", item_id)?;
        let values = match from_python(instances)? {
            serde_json::Value::Array(values) => values,
            _ => return Err(PyValueError::new_err("instances must be a list of dicts")),
        };
        self.running()?
            .add_job_instances(workspace, item, values)
            .map_err(value_error)
    }

    /// Appends `count` realistic generated job instances (deterministic for a seed).
    #[pyo3(signature = (workspace_id, item_id, count, *, seed=0))]
    fn generate_job_instances(
        &self,
        workspace_id: &Bound<'_, PyAny>,
        item_id: &Bound<'_, PyAny>,
        count: usize,
        seed: u64,
    ) -> PyResult<()> {
        let workspace = guid("workspace_id", workspace_id)?;
        let item = guid("item_id", item_id)?;
        self.running()?
            .generate_job_instances(workspace, item, count, seed)
            .map_err(value_error)
    }

    /// Creates `workspaces` x `items_per_workspace` items with `jobs_per_item` generated
    /// instances each; returns the `(workspace_id, item_id)` pairs.
    #[pyo3(signature = (*, workspaces=1, items_per_workspace=1, jobs_per_item=25, item_type="DataPipeline", seed=0))]
    fn seed(
        &self,
        workspaces: usize,
        items_per_workspace: usize,
        jobs_per_item: usize,
        item_type: &str,
        seed: u64,
    ) -> PyResult<Vec<(String, String)>> {
        let state = self.running()?;
        let mut pairs = Vec::with_capacity(workspaces * items_per_workspace);
        for _ in 0..workspaces {
            let workspace = state.add_workspace(None);
            for _ in 0..items_per_workspace {
                let item = state
                    .add_item(workspace, None, item_type, None)
                    .map_err(value_error)?;
                let item_seed = seed.wrapping_add(pairs.len() as u64);
                state
                    .generate_job_instances(workspace, item, jobs_per_item, item_seed)
                    .map_err(value_error)?;
                pairs.push((workspace.to_string(), item.to_string()));
            }
        }
        Ok(pairs)
    }

    /// The stored job instances of an item, as served (wire dicts).
    fn job_instances<'py>(
        &self,
        py: Python<'py>,
        workspace_id: &Bound<'py, PyAny>,
        item_id: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let workspace = guid("workspace_id", workspace_id)?;
        let item = guid("item_id", item_id)?;
        let values = self
            .running()?
            .job_instances(workspace, item)
            .map_err(value_error)?;
        to_python(py, &values)
    }

    fn set_page_size(&self, page_size: usize) -> PyResult<()> {
        self.running()?
            .set_page_size(page_size)
            .map_err(value_error)
    }

    /// "both" (default), "token", "uri" or "repeat-token".
    fn set_continuation(&self, style: &str) -> PyResult<()> {
        let style: ContinuationStyle = style.parse().map_err(PyValueError::new_err)?;
        self.running()?.set_continuation_style(style);
        Ok(())
    }

    /// Only this bearer token is accepted (`None`: any non-empty token).
    #[pyo3(signature = (token))]
    fn set_token(&self, token: Option<String>) -> PyResult<()> {
        self.running()?.set_accepted_token(token);
        Ok(())
    }

    /// Answers the next `count` requests with `status` and a Fabric error body (or `body`
    /// verbatim), plus `headers` (e.g. `{"Retry-After": "53"}`).
    #[pyo3(signature = (status, error_code=None, message=None, *, count=1, headers=None, body=None))]
    fn fail_next(
        &self,
        status: u16,
        error_code: Option<String>,
        message: Option<String>,
        count: usize,
        headers: Option<&Bound<'_, PyDict>>,
        body: Option<String>,
    ) -> PyResult<()> {
        let headers = match headers {
            Some(headers) => headers
                .iter()
                .map(|(k, v)| Ok((k.str()?.extract::<String>()?, v.str()?.extract::<String>()?)))
                .collect::<PyResult<Vec<_>>>()?,
            None => Vec::new(),
        };
        self.running()?.fail_next(Fault {
            status,
            error_code,
            message,
            headers,
            raw_body: body,
            count,
        });
        Ok(())
    }

    /// Closes the connection of each of the next `count` requests without any response byte.
    #[pyo3(signature = (count=1))]
    fn drop_next(&self, count: usize) -> PyResult<()> {
        self.running()?.drop_next(count);
        Ok(())
    }

    /// Answers the next `count` requests normally but sends only about half of the body that
    /// `Content-Length` announces, then closes the connection.
    #[pyo3(signature = (count=1))]
    fn truncate_next(&self, count: usize) -> PyResult<()> {
        self.running()?.truncate_next(count);
        Ok(())
    }

    /// Never answers the next `count` requests (until the client gives up or `close()`).
    #[pyo3(signature = (count=1))]
    fn hang_next(&self, count: usize) -> PyResult<()> {
        self.running()?.hang_next(count);
        Ok(())
    }

    /// Every request waits this many seconds (after being logged) before it is answered.
    fn set_latency(&self, seconds: f64) -> PyResult<()> {
        let latency = duration("seconds", seconds)?;
        self.running()?.set_latency(latency);
        Ok(())
    }

    /// At most `calls` requests per `per_seconds` fixed window per bearer token (Fabric: 200
    /// per 60 s per identity); over it, 429 RequestBlocked with `Retry-After` (unless
    /// `retry_after=False`). `None` disables it. Windows restart on every call.
    #[pyo3(signature = (calls, per_seconds=60.0, *, retry_after=true))]
    fn set_quota(&self, calls: Option<u32>, per_seconds: f64, retry_after: bool) -> PyResult<()> {
        let per = duration("per_seconds", per_seconds)?;
        if per.is_zero() {
            return Err(PyValueError::new_err("per_seconds must be > 0"));
        }
        let quota = calls.map(|calls| Quota {
            calls,
            per,
            retry_after,
        });
        self.running()?.set_quota(quota);
        Ok(())
    }

    /// `status` (e.g. 400 or 404): the last page of a job instance listing also carries a
    /// continuation token, and requesting it answers `status`. `None` turns it off.
    #[pyo3(signature = (status))]
    fn set_trailing_token_quirk(&self, status: Option<u16>) -> PyResult<()> {
        if let Some(code) = status {
            if !(100..=599).contains(&code) {
                return Err(PyValueError::new_err(format!(
                    "status must be an HTTP status (100-599), got {code}"
                )));
            }
        }
        self.running()?.set_trailing_token_quirk(status);
        Ok(())
    }

    /// Every request received so far: dicts with `method`, `path`, `query` (raw), `authorized`,
    /// `status` (answered; 0 if dropped, hung or not answered yet) and `at` (arrival, seconds
    /// since the emulator started).
    #[getter]
    fn requests<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let records = self.state.requests();
        let list = PyList::empty(py);
        for record in records {
            let entry = PyDict::new(py);
            entry.set_item("method", record.method)?;
            entry.set_item("path", record.path)?;
            entry.set_item("query", record.query)?;
            entry.set_item("authorized", record.authorized)?;
            entry.set_item("status", record.status)?;
            entry.set_item("at", record.at)?;
            list.append(entry)?;
        }
        Ok(list)
    }

    fn clear_requests(&self) {
        self.state.clear_requests();
    }

    fn __repr__(&self) -> String {
        format!("<FabricEmulator {}>", self.base_url)
    }
}
