//! `JobsClient`: the entry point. Holds the core client (connection pool, token, settings).

use crate::core::auth::{normalize_token, StaticToken, TokenProvider};
use crate::core::config::{self, ClientConfig, DEFAULT_BASE_URL};
use crate::core::fanout::{self, Target};
use crate::core::ids::parse_guid;
use crate::core::limiter::RateLimit;
use crate::core::models::JobInstance as CoreJobInstance;
use crate::core::models::WireText;
use crate::core::retry::RetryPolicy;
use crate::core::Client;
use crate::python::auth::{CallableProvider, CredentialProvider};
use crate::python::convert::id_text;
use crate::python::errors::to_py_err;
use crate::python::fanout::{JobInstanceFanOut, Results};
use crate::python::logging::PythonLogging;
use crate::python::pager::{JobInstancePager, Listing};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub const TOKEN_ENV: &str = "FABRIC_TOKEN";

// The signature below spells the default out so Python's help() shows it.
const _: () = assert!(config::DEFAULT_MAX_BODY_BYTES == 67108864);

/// A client for the Fabric Job Scheduler API. Thread-safe; share one per identity.
#[pyclass(frozen, module = "fabric_jobs._core")]
pub struct JobsClient {
    client: Client,
}

fn seconds(name: &str, value: f64) -> PyResult<Duration> {
    config::seconds(name, value).map_err(to_py_err)
}

/// The one token source: `token=`, `credential=`, `token_provider=`, else `$FABRIC_TOKEN`.
fn token_source(
    token: Option<String>,
    credential: Option<Py<PyAny>>,
    token_provider: Option<Py<PyAny>>,
) -> PyResult<Arc<dyn TokenProvider>> {
    match (token, credential, token_provider) {
        (Some(token), None, None) => Ok(Arc::new(StaticToken(
            normalize_token(&token).map_err(to_py_err)?,
        ))),
        (None, Some(credential), None) => Ok(Arc::new(CredentialProvider(credential))),
        (None, None, Some(provider)) => Ok(Arc::new(CallableProvider(provider))),
        (None, None, None) => match std::env::var(TOKEN_ENV) {
            Ok(token) => Ok(Arc::new(StaticToken(
                normalize_token(&token).map_err(to_py_err)?,
            ))),
            Err(_) => Err(PyValueError::new_err(format!(
                "no token: pass token=, credential= or token_provider=, or set {TOKEN_ENV}"
            ))),
        },
        _ => Err(PyValueError::new_err(
            "pass only one of token=, credential= and token_provider=",
        )),
    }
}

fn positive_concurrency(concurrency: usize) -> PyResult<usize> {
    if concurrency == 0 {
        return Err(PyValueError::new_err("concurrency must be at least 1"));
    }
    Ok(concurrency)
}

#[pymethods]
impl JobsClient {
    #[new]
    #[pyo3(signature = (
        token=None,
        *,
        credential=None,
        token_provider=None,
        base_url=None,
        timeout=60.0,
        deadline=None,
        max_retries=5,
        max_retry_wait=120.0,
        retry_backoff=1.0,
        max_body_bytes=67108864,
        ca_bundle=None,
        rate_limit=Some(200),
        rate_limit_period=60.0,
    ), text_signature = "(token=None, *, credential=None, token_provider=None, base_url=None, timeout=60.0, deadline=None, max_retries=5, max_retry_wait=120.0, retry_backoff=1.0, max_body_bytes=67108864, ca_bundle=None, rate_limit=200, rate_limit_period=60.0)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        token: Option<String>,
        credential: Option<Py<PyAny>>,
        token_provider: Option<Py<PyAny>>,
        base_url: Option<String>,
        timeout: f64,
        deadline: Option<f64>,
        max_retries: u32,
        max_retry_wait: f64,
        retry_backoff: f64,
        max_body_bytes: usize,
        ca_bundle: Option<PathBuf>,
        rate_limit: Option<u32>,
        rate_limit_period: f64,
    ) -> PyResult<Self> {
        let provider = token_source(token, credential, token_provider)?;
        let base_url = base_url.unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        let mut config = ClientConfig::new(&base_url).map_err(to_py_err)?;
        config.timeout = seconds("timeout", timeout)?;
        config.deadline = deadline.map(|d| seconds("deadline", d)).transpose()?;
        config.retry = RetryPolicy {
            max_retries,
            max_retry_wait: seconds("max_retry_wait", max_retry_wait)?,
            backoff_base: seconds("retry_backoff", retry_backoff)?,
            ..RetryPolicy::default()
        };
        config.max_body_bytes = max_body_bytes;
        config.ca_bundle = ca_bundle;
        let period = seconds("rate_limit_period", rate_limit_period)?;
        config.rate_limit = rate_limit.map(|calls| RateLimit { calls, period });
        let client = Client::new(config, provider, Arc::new(PythonLogging)).map_err(to_py_err)?;
        Ok(Self { client })
    }

    #[getter]
    fn base_url(&self) -> String {
        self.client.config().base_url.as_str().to_owned()
    }

    #[getter]
    fn timeout(&self) -> f64 {
        self.client.config().timeout.as_secs_f64()
    }

    #[getter]
    fn deadline(&self) -> Option<f64> {
        self.client.config().deadline.map(|d| d.as_secs_f64())
    }

    #[getter]
    fn max_retries(&self) -> u32 {
        self.client.config().retry.max_retries
    }

    #[getter]
    fn max_retry_wait(&self) -> f64 {
        self.client.config().retry.max_retry_wait.as_secs_f64()
    }

    /// Job instances of one item (newest first), fetched lazily page by page.
    #[pyo3(signature = (workspace_id, item_id, as_dict=false, continuation_token=None, *, prefetch=1))]
    fn list_item_job_instances(
        &self,
        workspace_id: &Bound<'_, PyAny>,
        item_id: &Bound<'_, PyAny>,
        as_dict: bool,
        continuation_token: Option<String>,
        prefetch: usize,
    ) -> PyResult<JobInstancePager> {
        let workspace_id = id_text("workspace_id", workspace_id)?;
        let item_id = id_text("item_id", item_id)?;
        let engine = self
            .client
            .list_item_job_instances(&workspace_id, &item_id, continuation_token.as_deref())
            .map_err(to_py_err)?;
        Ok(JobInstancePager::new(Listing::new(
            engine, as_dict, prefetch,
        )))
    }

    /// Job instances of many `(workspace_id, item_id)` pairs, `concurrency` items at a time,
    /// within the client's rate limit. Yields one `ItemJobInstances` per item as each completes;
    /// an item that fails carries its error instead of stopping the others.
    #[pyo3(signature = (targets, *, concurrency=8, as_dict=false))]
    fn list_job_instances_many(
        &self,
        targets: &Bound<'_, PyAny>,
        concurrency: usize,
        as_dict: bool,
    ) -> PyResult<JobInstanceFanOut> {
        let mut parsed = Vec::new();
        for pair in targets.try_iter()? {
            let pair = pair?;
            let (workspace_id, item_id): (Bound<'_, PyAny>, Bound<'_, PyAny>) =
                pair.extract().map_err(|_| {
                    PyValueError::new_err("targets must be (workspace_id, item_id) pairs")
                })?;
            let workspace_id = id_text("workspace_id", &workspace_id)?;
            let item_id = id_text("item_id", &item_id)?;
            // Validate every id now, before any request.
            let workspace = parse_guid("workspace_id", &workspace_id).map_err(to_py_err)?;
            let item = parse_guid("item_id", &item_id).map_err(to_py_err)?;
            parsed.push(Target::new(workspace.to_string(), item.to_string()));
        }
        let client = self.client.clone();
        let concurrency = positive_concurrency(concurrency)?;
        Ok(if as_dict {
            let (work, results) = fanout::many::<WireText>(client, parsed, concurrency);
            JobInstanceFanOut::new(Box::pin(work), Results::Dicts(results))
        } else {
            let (work, results) = fanout::many::<CoreJobInstance>(client, parsed, concurrency);
            JobInstanceFanOut::new(Box::pin(work), Results::Objects(results))
        })
    }

    /// Job instances of every item of a workspace (optionally only items of `item_type`, e.g.
    /// "DataPipeline"), enumerated with the Core "List Items" API. Yields `ItemJobInstances` as
    /// each item completes; a failure to enumerate the items is a result with `item_id=None`.
    #[pyo3(signature = (workspace_id, item_type=None, *, concurrency=8, as_dict=false))]
    fn list_workspace_job_instances(
        &self,
        workspace_id: &Bound<'_, PyAny>,
        item_type: Option<String>,
        concurrency: usize,
        as_dict: bool,
    ) -> PyResult<JobInstanceFanOut> {
        let workspace_id = id_text("workspace_id", workspace_id)?;
        let workspace = parse_guid("workspace_id", &workspace_id)
            .map_err(to_py_err)?
            .to_string();
        let client = self.client.clone();
        let concurrency = positive_concurrency(concurrency)?;
        Ok(if as_dict {
            let (work, results) =
                fanout::workspace::<WireText>(client, workspace, item_type, concurrency);
            JobInstanceFanOut::new(Box::pin(work), Results::Dicts(results))
        } else {
            let (work, results) =
                fanout::workspace::<CoreJobInstance>(client, workspace, item_type, concurrency);
            JobInstanceFanOut::new(Box::pin(work), Results::Objects(results))
        })
    }

    #[getter]
    fn rate_limit(&self) -> Option<u32> {
        self.client.config().rate_limit.map(|l| l.calls)
    }

    #[getter]
    fn rate_limit_period(&self) -> f64 {
        self.client
            .config()
            .rate_limit
            .map_or(60.0, |l| l.period.as_secs_f64())
    }

    fn __repr__(&self) -> String {
        format!(
            "JobsClient(base_url='{}', timeout={:?})",
            self.base_url(),
            self.timeout()
        )
    }
}
