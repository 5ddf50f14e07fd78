//! Core events -> the `fabric_jobs` Python logger: DEBUG per request, WARNING per retry.
//! The URL never holds the token (it travels in a header), so records are safe to ship.
//!
//! Requests are sent from runtime threads. Asking the logger whether DEBUG is on would take
//! the GIL there for every request, and while the consumer holds the GIL that stalls the next
//! request (the prefetch pipeline then runs in lockstep with the consumer). So the answer is
//! kept in an atomic that Python threads refresh whenever they hand work to the runtime
//! ([`refresh_debug_enabled`]); a level change shows from the next request Python asks for.

use crate::core::observe::{Observer, RequestEvent, RetryEvent};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyString, PyTuple};
use std::sync::atomic::{AtomicBool, Ordering};

const DEBUG: u8 = 10;
const WARNING: u8 = 30;

static LOGGER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Whether the `fabric_jobs` logger took DEBUG records when a Python thread last looked.
static DEBUG_ENABLED: AtomicBool = AtomicBool::new(false);

fn logger(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    LOGGER
        .get_or_try_init(py, || {
            py.import("logging")?
                .call_method1("getLogger", ("fabric_jobs",))
                .map(Bound::unbind)
        })
        .map(|logger| logger.bind(py))
}

fn is_enabled_for(logger: &Bound<'_, PyAny>, level: u8) -> PyResult<bool> {
    logger.call_method1("isEnabledFor", (level,))?.is_truthy()
}

/// Re-reads whether DEBUG records are wanted. Called on a Python thread (it holds the GIL
/// anyway) each time it hands work to the runtime; costs one cached `isEnabledFor` call.
///
/// This runs Python code, where a pending Ctrl-C is delivered: the error is the caller's to
/// raise (swallowing it would lose the KeyboardInterrupt), and the flag stays as it was.
pub fn refresh_debug_enabled(py: Python<'_>) -> PyResult<()> {
    let enabled = is_enabled_for(logger(py)?, DEBUG)?;
    DEBUG_ENABLED.store(enabled, Ordering::Relaxed);
    Ok(())
}

fn log(level: u8, build: impl FnOnce() -> (String, Vec<String>)) {
    Python::attach(|py| {
        // On a runtime thread there is nobody to raise to: an error means no record.
        let Ok(logger) = logger(py) else {
            return;
        };
        if !is_enabled_for(logger, level).unwrap_or(false) {
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
        if !DEBUG_ENABLED.load(Ordering::Relaxed) {
            return;
        }
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
