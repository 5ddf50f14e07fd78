//! The iterators returned by `list_item_job_instances`: items (sync and async) and pages.
//!
//! Both directions drive the same core [`Pager`]; only page boundaries go through the runtime.
//! Items of a received page wait in a buffer and are handed out without touching it.

use crate::core::models::{JobInstance as CoreJobInstance, Page as CorePage};
use crate::core::paging::Pager;
use crate::python::errors::to_py_err;
use crate::python::models::{JobInstance, Page};
use crate::python::runtime::{awaitable, wait_for};
use pyo3::exceptions::{PyStopAsyncIteration, PyStopIteration};
use pyo3::prelude::*;
use pyo3::types::PyList;
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// A page converted to Python objects.
pub struct ReceivedPage {
    items: Vec<Py<PyAny>>,
    continuation_token: Option<String>,
}

/// What one listing shares between its item iterator, its page iterator and in-flight requests.
pub struct Listing {
    engine: tokio::sync::Mutex<Pager>,
    /// Items of received pages not yet handed out.
    buffer: Mutex<VecDeque<Py<PyAny>>>,
    /// The engine's continuation token, readable while a request holds the engine.
    continuation_token: Mutex<Option<String>>,
    closed: AtomicBool,
    as_dict: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn convert_page(
    py: Python<'_>,
    page: PageOfEither,
    token: Option<String>,
) -> PyResult<ReceivedPage> {
    let items = match page {
        PageOfEither::Objects(items) => items
            .into_iter()
            .map(|job| Py::new(py, JobInstance(job)).map(Py::into_any))
            .collect::<PyResult<Vec<_>>>()?,
        PageOfEither::Dicts(items) => items
            .iter()
            .map(|value| crate::python::convert::to_python(py, value).map(Bound::unbind))
            .collect::<PyResult<Vec<_>>>()?,
    };
    Ok(ReceivedPage {
        items,
        continuation_token: token,
    })
}

enum PageOfEither {
    Objects(Vec<CoreJobInstance>),
    Dicts(Vec<Value>),
}

impl Listing {
    pub fn new(engine: Pager, as_dict: bool) -> Arc<Self> {
        let token = engine.continuation_token();
        Arc::new(Self {
            engine: tokio::sync::Mutex::new(engine),
            buffer: Mutex::new(VecDeque::new()),
            continuation_token: Mutex::new(token),
            closed: AtomicBool::new(false),
            as_dict,
        })
    }

    fn pop_buffered(&self) -> Option<Py<PyAny>> {
        lock(&self.buffer).pop_front()
    }

    fn take_buffered(&self) -> Vec<Py<PyAny>> {
        lock(&self.buffer).drain(..).collect()
    }

    fn buffer_page(&self, page: ReceivedPage) {
        lock(&self.buffer).extend(page.items);
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Requests the next page (`None` at the end). Runs on the runtime; converts with the GIL.
    async fn fetch(self: Arc<Self>) -> PyResult<Option<ReceivedPage>> {
        if self.is_closed() {
            return Ok(None);
        }
        let mut engine = self.engine.lock().await;
        let page = if self.as_dict {
            engine
                .next_page::<Value>()
                .await
                .map(|p| p.map(|CorePage { items, .. }| PageOfEither::Dicts(items)))
        } else {
            engine
                .next_page::<CoreJobInstance>()
                .await
                .map(|p| p.map(|CorePage { items, .. }| PageOfEither::Objects(items)))
        }
        .map_err(to_py_err)?;
        let token = engine.continuation_token();
        drop(engine);
        *lock(&self.continuation_token) = token.clone();
        match page {
            None => Ok(None),
            Some(page) => Python::attach(|py| convert_page(py, page, token)).map(Some),
        }
    }

    /// The next item, fetching pages as needed; `None` at the end.
    fn next_item_blocking(self: &Arc<Self>, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        loop {
            if let Some(item) = self.pop_buffered() {
                return Ok(Some(item));
            }
            match wait_for(py, Arc::clone(self).fetch())? {
                Some(page) => self.buffer_page(page),
                None => return Ok(None),
            }
        }
    }

    /// Like `next_item_blocking`, as a future for `__anext__`.
    async fn next_item(self: Arc<Self>) -> PyResult<Py<PyAny>> {
        loop {
            if let Some(item) = self.pop_buffered() {
                return Ok(item);
            }
            match Arc::clone(&self).fetch().await? {
                Some(page) => self.buffer_page(page),
                None => return Err(PyStopAsyncIteration::new_err(())),
            }
        }
    }

    /// The next page: items still buffered come first, as a page of their own.
    fn next_page_blocking(self: &Arc<Self>, py: Python<'_>) -> PyResult<Option<Page>> {
        let buffered = self.take_buffered();
        if !buffered.is_empty() {
            let token = lock(&self.continuation_token).clone();
            return Ok(Some(Page::new(PyList::new(py, buffered)?.unbind(), token)));
        }
        match wait_for(py, Arc::clone(self).fetch())? {
            Some(page) => Ok(Some(Page::new(
                PyList::new(py, page.items)?.unbind(),
                page.continuation_token,
            ))),
            None => Ok(None),
        }
    }

    async fn next_page(self: Arc<Self>) -> PyResult<Page> {
        let buffered = self.take_buffered();
        let (items, token) = if buffered.is_empty() {
            match Arc::clone(&self).fetch().await? {
                Some(page) => (page.items, page.continuation_token),
                None => return Err(PyStopAsyncIteration::new_err(())),
            }
        } else {
            (buffered, lock(&self.continuation_token).clone())
        };
        Python::attach(|py| Ok(Page::new(PyList::new(py, items)?.unbind(), token)))
    }
}

/// An awaitable that is already complete: `__anext__` returns it for buffered items, so
/// those never go through the event loop or the runtime.
#[pyclass(frozen, module = "fabric_jobs._core")]
pub struct Ready {
    value: Py<PyAny>,
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
        Err(PyStopIteration::new_err((self.value.clone_ref(py),)))
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

/// Job instances of one item, page by page, lazily. `for` and `async for` both work.
#[pyclass(frozen, module = "fabric_jobs._core")]
pub struct JobInstancePager {
    listing: Arc<Listing>,
}

impl JobInstancePager {
    pub fn new(listing: Arc<Listing>) -> Self {
        Self { listing }
    }
}

#[pymethods]
impl JobInstancePager {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.listing.next_item_blocking(py)
    }

    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if let Some(item) = self.listing.pop_buffered() {
            return Ok(Bound::new(py, Ready { value: item })?.into_any());
        }
        awaitable(py, Arc::clone(&self.listing).next_item())
    }

    /// Iterate page by page (`for` or `async for`) over the same listing.
    fn by_page(&self) -> PageIterator {
        PageIterator {
            listing: Arc::clone(&self.listing),
        }
    }

    /// Pass it as `continuation_token=` to a new listing to resume after the pages received so far.
    #[getter]
    fn continuation_token(&self) -> Option<String> {
        lock(&self.listing.continuation_token).clone()
    }

    /// Stops the listing: no further requests; iteration ends.
    fn close(&self) {
        self.listing.closed.store(true, Ordering::SeqCst);
        lock(&self.listing.buffer).clear();
    }

    fn __repr__(&self) -> String {
        let state = if self.listing.is_closed() {
            "closed"
        } else {
            "open"
        };
        let token = match lock(&self.listing.continuation_token).as_deref() {
            Some(token) => format!("'{token}'"),
            None => "None".to_owned(),
        };
        let as_dict = if self.listing.as_dict {
            "True"
        } else {
            "False"
        };
        format!("<JobInstancePager {state} as_dict={as_dict} continuation_token={token}>")
    }
}

/// Pages of a listing, from `JobInstancePager.by_page()`.
#[pyclass(frozen, module = "fabric_jobs._core")]
pub struct PageIterator {
    listing: Arc<Listing>,
}

#[pymethods]
impl PageIterator {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Page>> {
        self.listing.next_page_blocking(py)
    }

    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, Arc::clone(&self.listing).next_page())
    }

    #[getter]
    fn continuation_token(&self) -> Option<String> {
        lock(&self.listing.continuation_token).clone()
    }
}
