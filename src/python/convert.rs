//! Rust values -> Python objects.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString};
use serde::Serialize;

/// A wire string as a member of an open str-enum (`JobStatus`, `InvokeType`) when it is a known
/// value, else the plain string: the API adds values over time and they must never raise.
pub fn open_enum<'py>(
    py: Python<'py>,
    cache: &PyOnceLock<Py<PyDict>>,
    enum_name: &str,
    value: Option<&str>,
) -> PyResult<Bound<'py, PyAny>> {
    let Some(value) = value else {
        return Ok(py.None().into_bound(py));
    };
    let members = cache.get_or_try_init(py, || -> PyResult<Py<PyDict>> {
        let class = py.import("fabric_jobs.enums")?.getattr(enum_name)?;
        Ok(class
            .getattr("_value2member_map_")?
            .cast_into::<PyDict>()?
            .unbind())
    })?;
    match members.bind(py).get_item(value)? {
        Some(member) => Ok(member),
        None => Ok(value.into_pyobject(py)?.into_any()),
    }
}

/// Any serde value (a wire dict, a model) as plain Python data.
pub fn to_python<'py, T: Serialize + ?Sized>(
    py: Python<'py>,
    value: &T,
) -> PyResult<Bound<'py, PyAny>> {
    pythonize::pythonize(py, value).map_err(PyErr::from)
}

/// Plain Python data (dicts, lists, str, numbers, None) as a JSON value.
pub fn from_python(data: &Bound<'_, PyAny>) -> PyResult<serde_json::Value> {
    pythonize::depythonize(data).map_err(|e| {
        pyo3::exceptions::PyTypeError::new_err(format!(
            "expected JSON-like data (dict, list, str, int, float, bool, None): {e}"
        ))
    })
}

/// A workspace/item id given as `str` or `uuid.UUID`, as text.
pub fn id_text(what: &str, value: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(text) = value.cast::<PyString>() {
        return text.extract::<String>();
    }
    let uuid_class = value.py().import("uuid")?.getattr("UUID")?;
    if value.is_instance(&uuid_class)? {
        return value.str()?.extract::<String>();
    }
    Err(PyValueError::new_err(format!(
        "{what} must be a GUID as str or uuid.UUID, got {}",
        value.get_type().name()?
    )))
}
