//! Core events -> the `fabric_jobs` Python logger: DEBUG per request, WARNING per retry.
//! The URL never holds the token (it travels in a header), so records are safe to ship.

use crate::core::observe::{Observer, RequestEvent, RetryEvent};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyString, PyTuple};

const DEBUG: u8 = 10;
const WARNING: u8 = 30;

static LOGGER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn log(level: u8, build: impl FnOnce() -> (String, Vec<String>)) {
    Python::attach(|py| {
        let logger = match LOGGER.get_or_try_init(py, || {
            py.import("logging")?
                .call_method1("getLogger", ("fabric_jobs",))
                .map(Bound::unbind)
        }) {
            Ok(logger) => logger.bind(py),
            Err(_) => return,
        };
        // Cheap check first: most of the time nobody listens at DEBUG.
        let enabled = logger
            .call_method1("isEnabledFor", (level,))
            .and_then(|v| v.is_truthy())
            .unwrap_or(false);
        if !enabled {
            return;
        }
        let (format, args) = build();
        let mut call_args: Vec<Bound<'_, PyAny>> = Vec::with_capacity(args.len() + 2);
        call_args.push(
            level
                .into_pyobject(py)
                .map(Bound::into_any)
                .unwrap_or_else(|never| match never {}),
        );
        call_args.push(PyString::new(py, &format).into_any());
        call_args.extend(args.iter().map(|arg| PyString::new(py, arg).into_any()));
        let Ok(tuple) = PyTuple::new(py, call_args) else {
            return;
        };
        // A failing handler must not break the request that is being logged.
        if let Err(error) = logger.call_method1("log", tuple) {
            error.write_unraisable(py, Some(logger));
        }
    });
}

#[derive(Debug, Default)]
pub struct PythonLogging;

impl Observer for PythonLogging {
    fn request(&self, event: &RequestEvent<'_>) {
        log(DEBUG, || {
            let status = event
                .status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "no response".to_owned());
            (
                "%s %s -> %s in %s ms (request id %s, attempt %s)".to_owned(),
                vec![
                    event.method.to_owned(),
                    event.url.to_owned(),
                    status,
                    format!("{:.1}", event.elapsed.as_secs_f64() * 1000.0),
                    event.request_id.unwrap_or("-").to_owned(),
                    event.attempt.to_string(),
                ],
            )
        });
    }

    fn retry(&self, event: &RetryEvent<'_>) {
        log(WARNING, || {
            (
                "%s %s failed (%s); retry %s of %s in %s s".to_owned(),
                vec![
                    event.method.to_owned(),
                    event.url.to_owned(),
                    event.reason.to_owned(),
                    event.retry.to_string(),
                    event.max_retries.to_string(),
                    format!("{:.2}", event.wait.as_secs_f64()),
                ],
            )
        });
    }
}
