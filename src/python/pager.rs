//! The iterators returned by `list_item_job_instances`: items (sync and async) and pages.
//!
//! Both directions drive the same core [`Pager`]; only page boundaries go through the runtime.
//! Items of a received page wait in a buffer and are handed out without touching it. With
//! `prefetch=N` a producer task fetches up to N pages ahead while Python consumes.

use crate::core::error::Error;
use crate::core::paging::Pager;
use crate::core::sync::lock;
use crate::python::awaiting::{next_after, Ready};
use crate::python::errors::to_py_err;
use crate::python::logging::refresh_debug_enabled;
use crate::python::models::Page;
use crate::python::rows::{next_rows, parse_rows, Rows};
use crate::python::runtime::{awaitable, wait_for};
use pyo3::prelude::*;
use pyo3::types::PyList;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll, Waker};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

/// A page's rows and the token that resumes after it.
struct Fetched {
    rows: Rows,
    continuation_token: Option<String>,
}

/// A page converted to Python objects.
pub struct ReceivedPage {
    items: Vec<Py<PyAny>>,
    continuation_token: Option<String>,
}

impl ReceivedPage {
    fn into_page(self, py: Python<'_>) -> PyResult<Page> {
        Ok(Page::new(
            PyList::new(py, self.items)?.unbind(),
            self.continuation_token,
        ))
    }
}

impl Fetched {
    fn into_python(self, py: Python<'_>) -> PyResult<ReceivedPage> {
        Ok(ReceivedPage {
            items: self.rows.into_python(py)?,
            continuation_token: self.continuation_token,
        })
    }
}

/// Where the next page comes from.
enum Feed {
    /// Fetched on demand (`prefetch=0`), or no producer running right now.
    Idle,
    /// A producer task fetches up to `prefetch` pages ahead.
    Streaming(Box<Stream>),
    Finished,
}

struct Stream {
    receiver: mpsc::Receiver<Result<Pending, Error>>,
    /// A page taken from the channel whose items are still being parsed. Kept here, not on
    /// the consumer's stack, so a consumer cancelled while waiting for it loses nothing.
    current: Option<Pending>,
}

type Parsed = Result<Result<Rows, Error>, tokio::task::JoinError>;

/// A page's item parse: running on another task, or finished.
enum Parse {
    Running(tokio::task::JoinHandle<Result<Rows, Error>>),
    Done(Parsed),
}

/// A received page whose items are being parsed on another task while the next request goes
/// out: per page, the wait is the round trip or the parsing, whichever is longer, not both.
struct Pending {
    parse: Parse,
    continuation_token: Option<String>,
    /// The pager as it was before this page, restored if its items turn out invalid.
    before: Box<Pager>,
}

impl Pending {
    /// Ready once the parse finished; its result then waits in `Parse::Done`. Cancel-safe.
    fn poll_parse(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Parse::Running(handle) = &mut self.parse {
            let parsed = ready!(Pin::new(handle).poll(cx));
            self.parse = Parse::Done(parsed);
        }
        Poll::Ready(())
    }

    /// Whether the parse finished with items (not with an error), checked without waiting.
    fn has_rows_now(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        self.poll_parse(&mut cx).is_ready() && matches!(self.parse, Parse::Done(Ok(Ok(_))))
    }
}

type SharedPager = Arc<tokio::sync::Mutex<Pager>>;

/// Fetches pages ahead of the consumer: a slot is reserved before each request, so at most
/// `capacity` pages are in flight or waiting, and nothing more is requested once nobody reads.
/// The pager's cursor advances only after a page's continuation was read, so aborting this
/// task (Ctrl-C, a cancelled asyncio task, `close()`) loses nothing: pages already sent stay in
/// the channel, and the next producer resumes at the page that was in flight.
async fn produce(pager: SharedPager, pages: mpsc::Sender<Result<Pending, Error>>, as_dict: bool) {
    loop {
        let Ok(slot) = pages.reserve().await else {
            return;
        };
        let mut pager = pager.lock().await;
        let before = Box::new(pager.clone());
        match pager.next_raw_page().await {
            Ok(Some(raw)) => {
                let continuation_token = pager.continuation_token();
                drop(pager);
                let parse = tokio::spawn(async move { parse_rows(&raw, as_dict) });
                slot.send(Ok(Pending {
                    parse: Parse::Running(parse),
                    continuation_token,
                    before,
                }));
            }
            Ok(None) => return,
            Err(error) => {
                slot.send(Err(error));
                return;
            }
        }
    }
}

/// Aborts the producer if the consumer waiting for it goes away (Ctrl-C, a cancelled task),
/// so the request in flight is dropped with it.
struct AbortProducerOnDrop<'a> {
    producer: &'a Mutex<Option<AbortHandle>>,
    armed: bool,
}

impl Drop for AbortProducerOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed {
            if let Some(producer) = lock(self.producer).take() {
                producer.abort();
            }
        }
    }
}

/// What one listing shares between its item iterator, its page iterator and in-flight requests.
pub struct Listing {
    pager: SharedPager,
    feed: tokio::sync::Mutex<Feed>,
    producer: Mutex<Option<AbortHandle>>,
    /// Items of received pages not yet handed out.
    buffer: Mutex<VecDeque<Py<PyAny>>>,
    /// The token that resumes after the last page handed to the caller.
    continuation_token: Mutex<Option<String>>,
    closed: AtomicBool,
    /// A page a finished fetch kept for the caller, who may have gone away meanwhile (Ctrl-C,
    /// a cancelled task): it is taken from here, so it is never lost with the caller.
    arrived: Mutex<Option<Fetched>>,
    /// Pages taken by the fast path (`take_ready_page`); read by tests only.
    pages_taken_without_waiting: AtomicUsize,
    as_dict: bool,
    prefetch: usize,
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
            pager: Arc::new(tokio::sync::Mutex::new(engine)),
            feed: tokio::sync::Mutex::new(Feed::Idle),
            producer: Mutex::new(None),
            buffer: Mutex::new(VecDeque::new()),
            continuation_token: Mutex::new(token),
            closed: AtomicBool::new(false),
            arrived: Mutex::new(None),
            pages_taken_without_waiting: AtomicUsize::new(0),
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

    /// The next page if the producer already received and parsed it, taken without waiting
    /// and without a round trip through the runtime (spawning, waking threads, and for
    /// `async for` the event loop's wake-up); also a failed request the producer already
    /// reported. `None`: nothing there yet, or what [`Listing::fetch`] must handle (the end,
    /// items that failed to parse).
    fn take_ready_page(&self) -> Option<Result<Fetched, Error>> {
        if self.is_closed() {
            return None;
        }
        if let Some(kept) = lock(&self.arrived).take() {
            return Some(Ok(kept));
        }
        let mut feed = self.feed.try_lock().ok()?;
        let Feed::Streaming(stream) = &mut *feed else {
            return None;
        };
        if stream.current.is_none() {
            match stream.receiver.try_recv() {
                Ok(Ok(pending)) => stream.current = Some(pending),
                Ok(Err(error)) => {
                    // As in `fetch`: the producer stopped at the failed page; the next call
                    // starts a new one there.
                    *feed = Feed::Idle;
                    return Some(Err(error));
                }
                Err(_empty_or_ended) => return None,
            }
        }
        if !stream.current.as_mut()?.has_rows_now() {
            return None;
        }
        let pending = stream.current.take()?;
        let rows = match pending.parse {
            Parse::Done(Ok(Ok(rows))) => rows,
            parse => {
                // Not reached (checked above); put it back rather than lose a page.
                stream.current = Some(Pending { parse, ..pending });
                return None;
            }
        };
        // Published before `feed` is released, so a second consumer cannot get in between.
        *lock(&self.continuation_token) = pending.continuation_token.clone();
        drop(feed);
        self.pages_taken_without_waiting
            .fetch_add(1, Ordering::Relaxed);
        Some(Ok(Fetched {
            rows,
            continuation_token: pending.continuation_token,
        }))
    }

    /// The next page's rows (`None` at the end), without the GIL: parsing happens here, on the
    /// runtime; the caller converts to Python objects on its own thread when it can.
    async fn fetch(self: Arc<Self>) -> PyResult<Option<Fetched>> {
        if self.is_closed() {
            return Ok(None);
        }
        let mut feed = self.feed.lock().await;
        // Every await below leaves `feed` valid, so a cancelled fetch loses nothing.
        let fetched = loop {
            match &mut *feed {
                Feed::Finished => return Ok(None),
                Feed::Idle if self.prefetch == 0 => {
                    let mut pager = self.pager.lock().await;
                    let rows = next_rows(&mut pager, self.as_dict)
                        .await
                        .map_err(to_py_err)?;
                    match rows {
                        Some(rows) => {
                            break Fetched {
                                rows,
                                continuation_token: pager.continuation_token(),
                            }
                        }
                        None => {
                            *feed = Feed::Finished;
                            return Ok(None);
                        }
                    }
                }
                Feed::Idle => {
                    let (pages, receiver) = mpsc::channel(self.prefetch);
                    let producer =
                        tokio::spawn(produce(Arc::clone(&self.pager), pages, self.as_dict));
                    *lock(&self.producer) = Some(producer.abort_handle());
                    *feed = Feed::Streaming(Box::new(Stream {
                        receiver,
                        current: None,
                    }));
                }
                Feed::Streaming(stream) => {
                    let mut guard = AbortProducerOnDrop {
                        producer: &self.producer,
                        armed: true,
                    };
                    if stream.current.is_none() {
                        match stream.receiver.recv().await {
                            Some(Ok(pending)) => stream.current = Some(pending),
                            Some(Err(error)) => {
                                guard.armed = false;
                                *feed = Feed::Idle;
                                return Err(to_py_err(error));
                            }
                            // The producer ended: the listing is complete, or it was aborted
                            // and a new one resumes where it stopped.
                            None => {
                                guard.armed = false;
                                *feed = if self.pager.lock().await.is_done() {
                                    Feed::Finished
                                } else {
                                    Feed::Idle
                                };
                                continue;
                            }
                        }
                    }
                    let Some(pending) = stream.current.as_mut() else {
                        continue;
                    };
                    std::future::poll_fn(|cx| pending.poll_parse(cx)).await;
                    guard.armed = false;
                    let Some(pending) = stream.current.take() else {
                        continue;
                    };
                    let Parse::Done(parsed) = pending.parse else {
                        return Err(crate::python::errors::internal_error(
                            "a page's parse result went missing",
                        ));
                    };
                    match parsed {
                        Ok(Ok(rows)) => {
                            break Fetched {
                                rows,
                                continuation_token: pending.continuation_token,
                            }
                        }
                        Ok(Err(error)) => {
                            // Invalid items: go back to before this page, so iterating again
                            // asks for it again instead of skipping it.
                            self.stop_producer();
                            *self.pager.lock().await = *pending.before;
                            *feed = Feed::Idle;
                            return Err(to_py_err(error));
                        }
                        Err(join_error) => {
                            self.stop_producer();
                            *self.pager.lock().await = *pending.before;
                            *feed = Feed::Idle;
                            return Err(crate::python::errors::internal_error(&format!(
                                "parsing a page failed: {join_error}"
                            )));
                        }
                    }
                }
            }
        };
        *lock(&self.continuation_token) = fetched.continuation_token.clone();
        drop(feed);
        Ok(Some(fetched))
    }

    /// `fetch`, keeping the page in the listing (`arrived`) instead of handing it over: no
    /// await comes between receiving it and keeping it, so a caller that goes away (Ctrl-C, a
    /// cancelled task) loses nothing. `false` at the end of the listing.
    async fn fetch_and_keep(self: Arc<Self>) -> PyResult<bool> {
        match Arc::clone(&self).fetch().await? {
            Some(fetched) => {
                *lock(&self.arrived) = Some(fetched);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// For `__anext__` when nothing is at hand: waits for the next page on the runtime, then
    /// takes the next element from `iterator` on the event loop's thread.
    fn next_after_fetch<'py>(
        self: &Arc<Self>,
        py: Python<'py>,
        iterator: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let wait = awaitable(py, Arc::clone(self).fetch_and_keep())?;
        next_after(py, wait, iterator)
    }

    /// A page that is already here, converted on the calling thread (see `take_ready_page`).
    fn ready_page(&self, py: Python<'_>) -> PyResult<Option<ReceivedPage>> {
        // Taking a page frees a slot and the producer sends its next request at once: refresh
        // its view of the log level first, as handing work to the runtime would.
        refresh_debug_enabled(py)?;
        match self.take_ready_page().transpose().map_err(to_py_err)? {
            Some(fetched) => fetched.into_python(py).map(Some),
            None => Ok(None),
        }
    }

    /// `fetch` for the sync iterators: waits without the GIL, converts on the calling thread.
    fn fetch_blocking(self: &Arc<Self>, py: Python<'_>) -> PyResult<Option<ReceivedPage>> {
        loop {
            if let Some(page) = self.ready_page(py)? {
                return Ok(Some(page));
            }
            if !wait_for(py, Arc::clone(self).fetch_and_keep())? {
                return Ok(None);
            }
        }
    }

    /// The next item, fetching pages as needed; `None` at the end.
    fn next_item_blocking(self: &Arc<Self>, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        loop {
            if let Some(item) = self.pop_buffered() {
                return Ok(Some(item));
            }
            match self.fetch_blocking(py)? {
                Some(page) => self.buffer_page(page),
                None => return Ok(None),
            }
        }
    }

    /// The next page if it can be had without waiting: buffered items, or a page already here.
    fn page_now(&self, py: Python<'_>) -> PyResult<Option<Page>> {
        if let Some(page) = self.buffered_page(py)? {
            return Ok(Some(page));
        }
        self.ready_page(py)?
            .map(|page| page.into_page(py))
            .transpose()
    }

    /// The next page: items still buffered come first, as a page of their own.
    fn next_page_blocking(self: &Arc<Self>, py: Python<'_>) -> PyResult<Option<Page>> {
        if let Some(page) = self.buffered_page(py)? {
            return Ok(Some(page));
        }
        self.fetch_blocking(py)?
            .map(|page| page.into_page(py))
            .transpose()
    }

    /// Items of received pages not handed out yet, as a page of their own.
    fn buffered_page(&self, py: Python<'_>) -> PyResult<Option<Page>> {
        let buffered = self.take_buffered();
        if buffered.is_empty() {
            return Ok(None);
        }
        let token = lock(&self.continuation_token).clone();
        Ok(Some(Page::new(PyList::new(py, buffered)?.unbind(), token)))
    }
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

    fn __anext__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let listing = &slf.get().listing;
        if let Some(item) = listing.pop_buffered() {
            return Ready::awaitable(py, Ok(item));
        }
        match listing.ready_page(py) {
            Ok(Some(page)) => {
                listing.buffer_page(page);
                if let Some(item) = listing.pop_buffered() {
                    return Ready::awaitable(py, Ok(item));
                }
            }
            Ok(None) => {}
            Err(error) => return Ready::awaitable(py, Err(error)),
        }
        listing.next_after_fetch(py, slf.clone().into_any())
    }

    /// How many pages were taken without waiting because they had already arrived (for tests).
    #[getter]
    fn _pages_taken_without_waiting(&self) -> usize {
        self.listing
            .pages_taken_without_waiting
            .load(Ordering::Relaxed)
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

    fn __anext__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let listing = &slf.get().listing;
        match listing.page_now(py) {
            Ok(Some(page)) => {
                let page = page.into_pyobject(py).map(|p| p.into_any().unbind());
                Ready::awaitable(py, page)
            }
            Ok(None) => listing.next_after_fetch(py, slf.clone().into_any()),
            Err(error) => Ready::awaitable(py, Err(error)),
        }
    }

    #[getter]
    fn continuation_token(&self) -> Option<String> {
        lock(&self.listing.continuation_token).clone()
    }
}
