//! `JobsClient`: the entry point. Holds the core client (connection pool, token, settings).

use crate::core::config::{ClientConfig, DEFAULT_BASE_URL};
use crate::core::secret::Secret;
use crate::core::Client;
use crate::python::convert::id_text;
use crate::python::errors::to_py_err;
use crate::python::pager::{JobInstancePager, Listing};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::time::Duration;

pub const TOKEN_ENV: &str = "FABRIC_TOKEN";

/// A client for the Fabric Job Scheduler API. Thread-safe; share one per identity.
#[pyclass(frozen, module = "fabric_jobs._core")]
pub struct JobsClient {
    client: Client,
}

#[pymethods]
impl JobsClient {
    #[new]
    #[pyo3(signature = (token=None, *, base_url=None, timeout=60.0))]
    fn new(token: Option<String>, base_url: Option<String>, timeout: f64) -> PyResult<Self> {
        let token = match token {
            Some(token) => token,
            None => std::env::var(TOKEN_ENV).map_err(|_| {
                PyValueError::new_err(format!(
                    "no token: pass JobsClient(token=...) or set {TOKEN_ENV}"
                ))
            })?,
        };
        let timeout = Duration::try_from_secs_f64(timeout).map_err(|_| {
            PyValueError::new_err(format!(
                "timeout must be a positive number of seconds, got {timeout}"
            ))
        })?;
        let base_url = base_url.unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        let config =
            ClientConfig::new(&base_url, Secret::new(token), timeout).map_err(to_py_err)?;
        Ok(Self {
            client: Client::new(config),
        })
    }

    #[getter]
    fn base_url(&self) -> String {
        self.client.config().base_url.as_str().to_owned()
    }

    #[getter]
    fn timeout(&self) -> f64 {
        self.client.config().timeout.as_secs_f64()
    }

    /// Job instances of one item (newest first), fetched lazily page by page.
    #[pyo3(signature = (workspace_id, item_id, as_dict=false, continuation_token=None))]
    fn list_item_job_instances(
        &self,
        workspace_id: &Bound<'_, PyAny>,
        item_id: &Bound<'_, PyAny>,
        as_dict: bool,
        continuation_token: Option<String>,
    ) -> PyResult<JobInstancePager> {
        let workspace_id = id_text("workspace_id", workspace_id)?;
        let item_id = id_text("item_id", item_id)?;
        let engine = self
            .client
            .list_item_job_instances(&workspace_id, &item_id, continuation_token.as_deref())
            .map_err(to_py_err)?;
        Ok(JobInstancePager::new(Listing::new(engine, as_dict)))
    }

    fn __repr__(&self) -> String {
        format!(
            "JobsClient(base_url='{}', timeout={:?})",
            self.base_url(),
            self.timeout()
        )
    }
}
