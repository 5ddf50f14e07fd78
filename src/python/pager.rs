//! The iterators returned by `list_item_job_instances`: items (sync and async) and pages.
//!
//! Both directions drive the same core [`Pager`]; only page boundaries go through the runtime.
//! Items of a received page wait in a buffer and are handed out without touching it. With
//! `prefetch=N` a producer task fetches up to N pages ahead while Python consumes.

use crate::core::error::Error;
use crate::core::paging::Pager;
use crate::python::errors::to_py_err;
use crate::python::models::Page;
use crate::python::rows::{next_rows, Rows};
use crate::python::runtime::{awaitable, wait_for};
use pyo3::exceptions::{PyStopAsyncIteration, PyStopIteration};
use pyo3::prelude::*;
use pyo3::types::PyList;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

/// A page converted to Python objects.
pub struct ReceivedPage {
    items: Vec<Py<PyAny>>,
    continuation_token: Option<String>,
}

/// Where the next page comes from.
enum Feed {
    /// Fetched on demand (`prefetch=0`), or between a failure and the next attempt.
    Idle(Box<Pager>),
    /// A producer task fetches up to `prefetch` pages ahead into this channel.
    Streaming(mpsc::Receiver<Fetched>),
    Finished,
}

enum Fetched {
    Page {
        rows: Rows,
        continuation_token: Option<String>,
    },
    /// The producer stopped at a failed page and hands the pager back, still pointing at it.
    Failed { error: Error, pager: Box<Pager> },
}

/// Fetches pages ahead of the consumer: a slot is reserved before each request, so at most
/// `capacity` pages are in flight or waiting, and nothing more is requested once nobody reads.
async fn produce(mut pager: Box<Pager>, pages: mpsc::Sender<Fetched>, as_dict: bool) {
    loop {
        let Ok(slot) = pages.reserve().await else {
            return;
        };
        match next_rows(&mut pager, as_dict).await {
            Ok(Some(rows)) => slot.send(Fetched::Page {
                rows,
                continuation_token: pager.continuation_token(),
            }),
            Ok(None) => return,
            Err(error) => {
                slot.send(Fetched::Failed { error, pager });
                return;
            }
        }
    }
}

/// What one listing shares between its item iterator, its page iterator and in-flight requests.
pub struct Listing {
    feed: tokio::sync::Mutex<Feed>,
    producer: Mutex<Option<AbortHandle>>,
    /// Items of received pages not yet handed out.
    buffer: Mutex<VecDeque<Py<PyAny>>>,
    /// The token that resumes after the last page handed to the caller.
    continuation_token: Mutex<Option<String>>,
    closed: AtomicBool,
    as_dict: bool,
    prefetch: usize,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Drop for Listing {
    fn drop(&mut self) {
        self.stop_producer();
    }
}

impl Listing {
    pub fn new(engine: Pager, as_dict: bool, prefetch: usize) -> Arc<Self> {
        let token = engine.continuation_token();
        Arc::new(Self {
            feed: tokio::sync::Mutex::new(Feed::Idle(Box::new(engine))),
            producer: Mutex::new(None),
            buffer: Mutex::new(VecDeque::new()),
            continuation_token: Mutex::new(token),
            closed: AtomicBool::new(false),
            as_dict,
            prefetch,
        })
    }

    fn stop_producer(&self) {
        if let Some(producer) = lock(&self.producer).take() {
            producer.abort();
        }
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
        let mut feed = self.feed.lock().await;
        // Every await below leaves `feed` valid, so a cancelled fetch loses nothing.
        let (rows, token) = loop {
            match &mut *feed {
                Feed::Finished => return Ok(None),
                Feed::Idle(pager) if self.prefetch == 0 => {
                    let rows = next_rows(pager, self.as_dict).await.map_err(to_py_err)?;
                    let token = pager.continuation_token();
                    match rows {
                        Some(rows) => break (rows, token),
                        None => {
                            *feed = Feed::Finished;
                            return Ok(None);
                        }
                    }
                }
                Feed::Idle(_) => {
                    if let Feed::Idle(pager) = std::mem::replace(&mut *feed, Feed::Finished) {
                        let (pages, receiver) = mpsc::channel(self.prefetch);
                        let producer = tokio::spawn(produce(pager, pages, self.as_dict));
                        *lock(&self.producer) = Some(producer.abort_handle());
                        *feed = Feed::Streaming(receiver);
                    }
                }
                Feed::Streaming(receiver) => match receiver.recv().await {
                    Some(Fetched::Page {
                        rows,
                        continuation_token,
                    }) => break (rows, continuation_token),
                    Some(Fetched::Failed { error, pager }) => {
                        *feed = Feed::Idle(pager);
                        return Err(to_py_err(error));
                    }
                    None => {
                        *feed = Feed::Finished;
                        return Ok(None);
                    }
                },
            }
        };
        drop(feed);
        *lock(&self.continuation_token) = token.clone();
        let items = Python::attach(|py| rows.into_python(py))?;
        Ok(Some(ReceivedPage {
            items,
            continuation_token: token,
        }))
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

    /// Stops the listing: the request in flight (if any) is dropped, no further requests are
    /// sent, and iteration ends.
    fn close(&self) {
        self.listing.closed.store(true, Ordering::SeqCst);
        self.listing.stop_producer();
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
