//! Immutable Python views of the core models: `JobInstance`, `ErrorResponse`, `ErrorDetail`,
//! `RelatedResource` and `Page`. Attribute values are built on access from the parsed struct.

use crate::core::models as core;
use crate::python::convert::{from_python, open_enum, to_python};
use crate::python::json::JsonToPython;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyTuple, PyType};
use std::hash::{Hash, Hasher};

fn repr_str(value: Option<&str>) -> String {
    match value {
        Some(v) => format!("{v:?}").replace('"', "'"),
        None => "None".to_owned(),
    }
}

fn invalid(what: &str, error: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(format!("not a valid {what}: {error}"))
}

/// `data` as a JSON object, or a ValueError naming `what`.
fn dict_of(
    data: &Bound<'_, PyAny>,
    what: &str,
) -> PyResult<serde_json::Map<String, serde_json::Value>> {
    match from_python(data)? {
        serde_json::Value::Object(map) => Ok(map),
        _ => Err(invalid(what, "expected a dict")),
    }
}

/// Builds `cls.from_dict(self.to_dict())` as the pickle recipe.
fn reduce_via_dict<'py>(
    py: Python<'py>,
    class: Bound<'py, PyType>,
    dict: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyTuple>> {
    let rebuild = class.getattr("from_dict")?;
    PyTuple::new(py, [rebuild, PyTuple::new(py, [dict])?.into_any()])
}

// ---------------------------------------------------------------- RelatedResource

/// The resource an error is about (`ErrorRelatedResource`).
#[pyclass(frozen, eq, module = "fabric_jobs._core")]
#[derive(Clone, PartialEq)]
pub struct RelatedResource(pub core::RelatedResource);

impl From<core::RelatedResource> for RelatedResource {
    fn from(inner: core::RelatedResource) -> Self {
        Self(inner)
    }
}

#[pymethods]
impl RelatedResource {
    #[getter]
    fn resource_id(&self) -> Option<&str> {
        self.0.resource_id.as_deref()
    }

    #[getter]
    fn resource_type(&self) -> Option<&str> {
        self.0.resource_type.as_deref()
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.0)
    }

    #[classmethod]
    fn from_dict(_cls: &Bound<'_, PyType>, data: &Bound<'_, PyAny>) -> PyResult<Self> {
        dict_of(data, "RelatedResource").map(|map| Self(core::RelatedResource::from_map(map)))
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        reduce_via_dict(py, slf.get_type(), slf.get().to_dict(py)?)
    }

    fn __repr__(&self) -> String {
        format!(
            "RelatedResource(resource_id={}, resource_type={})",
            repr_str(self.resource_id()),
            repr_str(self.resource_type())
        )
    }
}

// ---------------------------------------------------------------- ErrorDetail

/// One entry of `ErrorResponse.more_details` (`ErrorResponseDetails`).
#[pyclass(frozen, eq, module = "fabric_jobs._core")]
#[derive(Clone, PartialEq)]
pub struct ErrorDetail(pub core::ErrorDetail);

impl From<core::ErrorDetail> for ErrorDetail {
    fn from(inner: core::ErrorDetail) -> Self {
        Self(inner)
    }
}

#[pymethods]
impl ErrorDetail {
    #[getter]
    fn error_code(&self) -> Option<&str> {
        self.0.error_code.as_deref()
    }

    #[getter]
    fn message(&self) -> Option<&str> {
        self.0.message.as_deref()
    }

    #[getter]
    fn related_resource(&self) -> Option<RelatedResource> {
        self.0.related_resource.clone().map(RelatedResource)
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.0)
    }

    #[classmethod]
    fn from_dict(_cls: &Bound<'_, PyType>, data: &Bound<'_, PyAny>) -> PyResult<Self> {
        dict_of(data, "ErrorDetail").map(|map| Self(core::ErrorDetail::from_map(map)))
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        reduce_via_dict(py, slf.get_type(), slf.get().to_dict(py)?)
    }

    fn __repr__(&self) -> String {
        format!(
            "ErrorDetail(error_code={}, message={})",
            repr_str(self.error_code()),
            repr_str(self.message())
        )
    }
}

// ---------------------------------------------------------------- ErrorResponse

/// A Fabric error body, or a failed job's `failure_reason`.
#[pyclass(frozen, eq, module = "fabric_jobs._core")]
#[derive(Clone, PartialEq)]
pub struct ErrorResponse(pub core::ErrorResponse);

impl From<core::ErrorResponse> for ErrorResponse {
    fn from(inner: core::ErrorResponse) -> Self {
        Self(inner)
    }
}

#[pymethods]
impl ErrorResponse {
    #[getter]
    fn error_code(&self) -> Option<&str> {
        self.0.error_code.as_deref()
    }

    #[getter]
    fn message(&self) -> Option<&str> {
        self.0.message.as_deref()
    }

    #[getter]
    fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }

    #[getter]
    fn more_details(&self) -> Vec<ErrorDetail> {
        self.0
            .more_details
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(ErrorDetail)
            .collect()
    }

    #[getter]
    fn related_resource(&self) -> Option<RelatedResource> {
        self.0.related_resource.clone().map(RelatedResource)
    }

    #[getter]
    fn is_retriable(&self) -> Option<bool> {
        self.0.is_retriable
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.0)
    }

    #[classmethod]
    fn from_dict(_cls: &Bound<'_, PyType>, data: &Bound<'_, PyAny>) -> PyResult<Self> {
        let map = dict_of(data, "ErrorResponse")?;
        Ok(Self(core::ErrorResponse::from_value(
            serde_json::Value::Object(map),
        )))
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        reduce_via_dict(py, slf.get_type(), slf.get().to_dict(py)?)
    }

    fn __repr__(&self) -> String {
        format!(
            "ErrorResponse(error_code={}, message={}, request_id={})",
            repr_str(self.error_code()),
            repr_str(self.message()),
            repr_str(self.request_id())
        )
    }
}

// ---------------------------------------------------------------- JobInstance

static JOB_STATUS_MEMBERS: PyOnceLock<Py<PyDict>> = PyOnceLock::new();
static INVOKE_TYPE_MEMBERS: PyOnceLock<Py<PyDict>> = PyOnceLock::new();

/// One run of an item's job (`ItemJobInstance`). Immutable; `to_dict()` is the exact wire dict.
#[pyclass(frozen, module = "fabric_jobs._core")]
pub struct JobInstance(pub core::JobInstance);

impl JobInstance {
    fn parse(text: &str) -> PyResult<Self> {
        core::JobInstance::from_json(text)
            .map(Self)
            .map_err(|e| invalid("JobInstance", e))
    }
}

#[pymethods]
impl JobInstance {
    #[getter]
    fn id(&self) -> Option<&str> {
        self.0.id()
    }

    #[getter]
    fn item_id(&self) -> Option<&str> {
        self.0.item_id()
    }

    #[getter]
    fn job_type(&self) -> Option<&str> {
        self.0.job_type()
    }

    /// `InvokeType` member, or the plain string for values added to the API later.
    #[getter]
    fn invoke_type<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        open_enum(py, &INVOKE_TYPE_MEMBERS, "InvokeType", self.0.invoke_type())
    }

    /// `JobStatus` member, or the plain string for values added to the API later.
    #[getter]
    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        open_enum(py, &JOB_STATUS_MEMBERS, "JobStatus", self.0.status())
    }

    #[getter]
    fn root_activity_id(&self) -> Option<&str> {
        self.0.root_activity_id()
    }

    #[getter]
    fn start_time_utc(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.0.start_time_utc
    }

    #[getter]
    fn end_time_utc(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.0.end_time_utc
    }

    #[getter]
    fn failure_reason(&self) -> Option<ErrorResponse> {
        self.0.failure_reason.as_deref().cloned().map(ErrorResponse)
    }

    /// The instance exactly as the API sent it: camelCase keys, original strings, nulls and
    /// fields this version does not know about.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        JsonToPython::new(py)
            .convert(self.0.raw())
            .map_err(|e| invalid("JobInstance", e))
    }

    /// The instance's JSON text exactly as received.
    fn to_json(&self) -> &str {
        self.0.raw()
    }

    #[classmethod]
    fn from_dict(_cls: &Bound<'_, PyType>, data: &Bound<'_, PyAny>) -> PyResult<Self> {
        let map = dict_of(data, "JobInstance")?;
        Self::parse(&serde_json::Value::Object(map).to_string())
    }

    #[classmethod]
    fn from_json(_cls: &Bound<'_, PyType>, text: &str) -> PyResult<Self> {
        Self::parse(text)
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let rebuild = slf.get_type().getattr("from_json")?;
        PyTuple::new(
            py,
            [rebuild, PyTuple::new(py, [slf.get().to_json()])?.into_any()],
        )
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<JobInstance>()
            .is_ok_and(|other| self.0 == other.get().0)
    }

    fn __hash__(&self) -> u64 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (self.0.id(), self.0.status(), &self.0.end_time_utc).hash(&mut hasher);
        hasher.finish()
    }

    fn __repr__(&self) -> String {
        let time = |t: Option<chrono::DateTime<chrono::Utc>>| match t {
            Some(t) => format!(
                "'{}'",
                t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            ),
            None => "None".to_owned(),
        };
        let failure = match &self.0.failure_reason {
            Some(reason) => repr_str(reason.error_code.as_deref().or(Some("?"))),
            None => "None".to_owned(),
        };
        format!(
            "JobInstance(id={}, job_type={}, invoke_type={}, status={}, start_time_utc={}, end_time_utc={}, failure_reason={})",
            repr_str(self.id()),
            repr_str(self.job_type()),
            repr_str(self.0.invoke_type()),
            repr_str(self.0.status()),
            time(self.0.start_time_utc),
            time(self.0.end_time_utc),
            failure
        )
    }
}

// ---------------------------------------------------------------- Page

/// One page of results: `items` and the token that resumes after it (`None` on the last page).
#[pyclass(frozen, module = "fabric_jobs._core")]
pub struct Page {
    items: Py<PyList>,
    continuation_token: Option<String>,
}

impl Page {
    pub fn new(items: Py<PyList>, continuation_token: Option<String>) -> Self {
        Self {
            items,
            continuation_token,
        }
    }
}

#[pymethods]
impl Page {
    #[getter]
    fn items(&self, py: Python<'_>) -> Py<PyList> {
        self.items.clone_ref(py)
    }

    #[getter]
    fn continuation_token(&self) -> Option<&str> {
        self.continuation_token.as_deref()
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.items.bind(py).len()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.items.bind(py).try_iter()?.into_any())
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Page(items=<{} items>, continuation_token={})",
            self.items.bind(py).len(),
            repr_str(self.continuation_token.as_deref())
        )
    }
}
