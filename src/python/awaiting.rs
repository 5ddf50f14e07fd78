//! Awaitables for the async iterators that need no runtime round trip, and the hand-over
//! that takes an element on the event loop's thread once the runtime has kept it.

use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

/// An awaitable that is already complete: `__anext__` returns it for buffered items and
/// pages already here, so those never go through the event loop or the runtime. It can also
/// carry an error, raised when awaited (not by `__anext__` itself, which callers such as
/// `asyncio.wait_for(p.__anext__(), t)` do not expect to raise).
#[pyclass(frozen, module = "fabric_jobs._core")]
pub struct Ready {
    outcome: Result<Py<PyAny>, PyErr>,
}

impl Ready {
    /// `outcome` as an awaitable (an error in getting it included).
    pub fn awaitable<'py>(
        py: Python<'py>,
        outcome: PyResult<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        Ok(Bound::new(py, Ready { outcome })?.into_any())
    }
}

#[pymethods]
impl Ready {
    fn __await__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<()> {
        match &self.outcome {
            Ok(value) => Err(PyStopIteration::new_err((value.clone_ref(py),))),
            Err(error) => Err(error.clone_ref(py)),
        }
    }

    fn send(&self, py: Python<'_>, _value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.__next__(py)
    }

    #[pyo3(signature = (*args))]
    fn throw(&self, args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<()> {
        let first = args.get_item(0)?;
        Err(PyErr::from_value(first))
    }

    fn close(&self) {}
}

/// `fabric_jobs._awaiting.next_after(wait, iterator)`: a coroutine that awaits `wait` (the
/// runtime keeping the next page or result; False at the end) and then takes the next element
/// from `iterator` on the event loop's thread. A task cancelled at any moment loses nothing:
/// what arrived stays kept for the next `__anext__`.
pub fn next_after<'py>(
    py: Python<'py>,
    wait: Bound<'py, PyAny>,
    iterator: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    static NEXT_AFTER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let next_after = NEXT_AFTER.get_or_try_init(py, || {
        py.import("fabric_jobs._awaiting")?
            .getattr("next_after")
            .map(Bound::unbind)
    })?;
    next_after.bind(py).call1((wait, iterator))
}
