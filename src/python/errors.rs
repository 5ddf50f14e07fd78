//! The one mapping from core errors to the Python exception tree defined in
//! `python/fabric_jobs/errors.py` (documented there).

use crate::core::error::{ApiError, Error};
use crate::python::auth::PythonCause;
use crate::python::models::{ErrorDetail, ErrorResponse, RelatedResource};
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};

const ERRORS_MODULE: &str = "fabric_jobs.errors";

fn exception_class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let module = MODULE.get_or_try_init(py, || py.import(ERRORS_MODULE).map(Bound::unbind))?;
    Ok(module.bind(py).getattr(name)?.cast_into::<PyType>()?)
}

/// The exception class for an HTTP status.
fn api_class_name(status: u16) -> &'static str {
    match status {
        400 => "BadRequestError",
        401 => "AuthenticationError",
        403 => "PermissionDeniedError",
        404 => "NotFoundError",
        409 => "ConflictError",
        429 => "ThrottledError",
        500..=599 => "ServerError",
        _ => "FabricApiError",
    }
}

fn build(py: Python<'_>, class: &str, message: String, kwargs: &Bound<'_, PyDict>) -> PyErr {
    let made =
        exception_class(py, class).and_then(|cls| cls.call((message.clone(),), Some(kwargs)));
    match made {
        Ok(instance) => PyErr::from_value(instance),
        // The Python half of the package is broken (e.g. errors.py missing): still say what happened.
        Err(import_error) => PyException::new_err(format!("{message} ({import_error})")),
    }
}

fn api_error(py: Python<'_>, error: &ApiError) -> PyResult<PyErr> {
    let kwargs = PyDict::new(py);
    kwargs.set_item("status_code", error.status)?;
    kwargs.set_item("error_code", error.error_code())?;
    kwargs.set_item("error_message", error.message())?;
    kwargs.set_item("request_id", error.request_id.as_deref())?;
    let body = error.body.clone().unwrap_or_default();
    let details: Vec<ErrorDetail> = body
        .more_details
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(ErrorDetail::from)
        .collect();
    kwargs.set_item("more_details", details)?;
    kwargs.set_item(
        "related_resource",
        body.related_resource.clone().map(RelatedResource::from),
    )?;
    kwargs.set_item("is_retriable", body.is_retriable)?;
    kwargs.set_item("retry_after", error.retry_after)?;
    let headers = PyDict::new(py);
    for (name, value) in &error.headers {
        headers.set_item(name, value)?;
    }
    kwargs.set_item("headers", headers)?;
    kwargs.set_item("method", &error.method)?;
    kwargs.set_item("url", &error.url)?;
    kwargs.set_item("response_text", error.text_excerpt.as_deref())?;
    kwargs.set_item("error", error.body.clone().map(ErrorResponse::from))?;
    Ok(build(
        py,
        api_class_name(error.status),
        error.to_string(),
        &kwargs,
    ))
}

fn convert(py: Python<'_>, error: Error) -> PyResult<PyErr> {
    let message = error.to_string();
    let kwargs = PyDict::new(py);
    Ok(match error {
        Error::InvalidArgument(_) => PyValueError::new_err(message),
        Error::Api(api) => api_error(py, &api)?,
        Error::Connection { url, .. } => {
            kwargs.set_item("url", url)?;
            build(py, "FabricConnectionError", message, &kwargs)
        }
        Error::Timeout { url, after } => {
            kwargs.set_item("url", url)?;
            kwargs.set_item("timeout", after.as_secs_f64())?;
            build(py, "FabricTimeoutError", message, &kwargs)
        }
        Error::InvalidResponse {
            url, request_id, ..
        } => {
            kwargs.set_item("url", url)?;
            kwargs.set_item("request_id", request_id)?;
            build(py, "InvalidResponseError", message, &kwargs)
        }
        Error::RepeatedContinuation { url, token } => {
            kwargs.set_item("url", url)?;
            kwargs.set_item("continuation_token", token)?;
            build(py, "PagingError", message, &kwargs)
        }
        Error::Deadline { url, deadline } => {
            kwargs.set_item("url", url)?;
            kwargs.set_item("deadline", deadline.as_secs_f64())?;
            build(py, "FabricTimeoutError", message, &kwargs)
        }
        Error::Credential { cause, .. } => {
            let error = build(py, "CredentialError", message, &kwargs);
            // Chain the credential's own exception, so its type and traceback are not lost.
            if let Some(original) = cause
                .as_deref()
                .and_then(|c| c.downcast_ref::<PythonCause>())
            {
                error.set_cause(py, Some(original.0.clone_ref(py)));
            }
            error
        }
        Error::Internal(_) => build(py, "FabricError", message, &kwargs),
    })
}

/// Converts a core error into the matching Python exception.
pub fn to_py_err(error: Error) -> PyErr {
    Python::attach(|py| convert(py, error).unwrap_or_else(|e| e))
}

/// A failure inside the client itself, as a `FabricError`.
pub fn internal_error(message: &str) -> PyErr {
    to_py_err(Error::Internal(message.to_owned()))
}
