//! The emulator's data and knobs. Thread-safe: one `std::sync::Mutex` inside, `&self` methods.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};

use serde_json::Value;
use uuid::Uuid;

use super::generate;

/// How paged responses advertise the next page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContinuationStyle {
    /// Both `continuationToken` and `continuationUri` (what Fabric documents).
    Both,
    /// Only `continuationToken` (breaks clients that follow only the URI).
    TokenOnly,
    /// Only `continuationUri` (breaks clients that follow only the token).
    UriOnly,
    /// Every non-last page repeats the token it was requested with: an endless loop for a
    /// client without loop detection.
    RepeatToken,
}

impl ContinuationStyle {
    const VALID: &'static str = "\"both\", \"token\", \"uri\", \"repeat-token\"";

    /// The name accepted by [`FromStr`].
    pub fn as_str(self) -> &'static str {
        match self {
            ContinuationStyle::Both => "both",
            ContinuationStyle::TokenOnly => "token",
            ContinuationStyle::UriOnly => "uri",
            ContinuationStyle::RepeatToken => "repeat-token",
        }
    }
}

impl fmt::Display for ContinuationStyle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ContinuationStyle {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "both" => Ok(ContinuationStyle::Both),
            "token" => Ok(ContinuationStyle::TokenOnly),
            "uri" => Ok(ContinuationStyle::UriOnly),
            "repeat-token" => Ok(ContinuationStyle::RepeatToken),
            other => Err(format!(
                "unknown continuation style {other:?}; valid values: {}",
                ContinuationStyle::VALID
            )),
        }
    }
}

/// Settings for [`super::Emulator::start`].
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// Job instances per page (at least 1).
    pub page_size: usize,
    /// `None`: any non-empty bearer token is accepted; `Some(t)`: only `t`.
    pub accepted_token: Option<String>,
    /// How pages point at the next page.
    pub continuation: ContinuationStyle,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            page_size: 100,
            accepted_token: None,
            continuation: ContinuationStyle::Both,
        }
    }
}

/// An injected failure, see [`EmulatorState::fail_next`].
#[derive(Clone, Debug)]
pub struct Fault {
    /// HTTP status (an invalid code is answered as 500).
    pub status: u16,
    /// `errorCode`; default depends on the status (429 -> RequestBlocked, ...).
    pub error_code: Option<String>,
    /// `message`; default is a realistic text for the status.
    pub message: Option<String>,
    /// Extra response headers (e.g. `("Retry-After", "53")`); they replace defaults of the same
    /// name. Names or values that are not valid HTTP are skipped.
    pub headers: Vec<(String, String)>,
    /// Body sent verbatim instead of the Fabric error JSON (Content-Type `text/html; charset=utf-8`
    /// unless `headers` set one).
    pub raw_body: Option<String>,
    /// How many consecutive requests get this fault (0: none).
    pub count: usize,
}

/// One received request, in arrival order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path as received (not percent-decoded).
    pub path: String,
    /// The raw, undecoded query string (without `?`).
    pub query: Option<String>,
    /// Whether the request had a well-formed, accepted bearer token.
    pub authorized: bool,
}

/// Errors from the emulator's setup API.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("unknown workspace {0}: add it with add_workspace first")]
    UnknownWorkspace(Uuid),
    #[error("unknown item {1} in workspace {0}: add it with add_item first")]
    UnknownItem(Uuid, Uuid),
    #[error("invalid job instance: {0}")]
    InvalidInstance(String),
    #[error("invalid emulator configuration: {0}")]
    InvalidConfig(String),
}

struct Item {
    item_type: String,
    #[allow(dead_code)]
    display_name: String,
    instances: Vec<Value>,
}

#[derive(Default)]
struct Workspace {
    items: HashMap<Uuid, Item>,
}

struct Inner {
    page_size: usize,
    accepted_token: Option<String>,
    continuation: ContinuationStyle,
    workspaces: HashMap<Uuid, Workspace>,
    faults: VecDeque<Fault>,
    requests: Vec<RequestRecord>,
}

/// The emulator's seeded data, knobs, fault queue and request log.
pub struct EmulatorState {
    /// `http://127.0.0.1:PORT`, used to build absolute continuation URIs.
    origin: String,
    inner: Mutex<Inner>,
}

impl fmt::Debug for EmulatorState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorState")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// One page of a listing, cut under the lock.
pub(crate) struct PageSlice {
    pub value: Vec<Value>,
    /// Offset of the next page, `None` on the last page.
    pub next_offset: Option<usize>,
    pub page_size: usize,
    pub style: ContinuationStyle,
}

/// `(start, end, next_offset)` of the page at `offset` in a list of `len` (`page_size` >= 1).
pub(crate) fn page_window(
    len: usize,
    offset: usize,
    page_size: usize,
) -> (usize, usize, Option<usize>) {
    let start = offset.min(len);
    let end = start.saturating_add(page_size.max(1)).min(len);
    let next = (end < len).then_some(end);
    (start, end, next)
}

/// The token of an `Authorization: Bearer <token>` header value, if well-formed and non-empty.
pub(crate) fn bearer_token(header: Option<&str>) -> Option<&str> {
    let header = header?.trim();
    let (scheme, token) = header.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl EmulatorState {
    pub(crate) fn new(
        config: &EmulatorConfig,
        origin: String,
    ) -> Result<EmulatorState, EmulatorError> {
        if config.page_size == 0 {
            return Err(EmulatorError::InvalidConfig(
                "page_size must be at least 1".into(),
            ));
        }
        Ok(EmulatorState {
            origin,
            inner: Mutex::new(Inner {
                page_size: config.page_size,
                accepted_token: config.accepted_token.clone(),
                continuation: config.continuation,
                workspaces: HashMap::new(),
                faults: VecDeque::new(),
                requests: Vec::new(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }

    /// Adds a workspace (a random id when `None`); adding an existing id is a no-op.
    pub fn add_workspace(&self, id: Option<Uuid>) -> Uuid {
        let id = id.unwrap_or_else(Uuid::new_v4);
        self.lock().workspaces.entry(id).or_default();
        id
    }

    /// Adds an item to a known workspace (a random id when `None`). Re-adding an existing id
    /// updates its type and name and keeps its job instances.
    pub fn add_item(
        &self,
        workspace: Uuid,
        id: Option<Uuid>,
        item_type: &str,
        display_name: Option<String>,
    ) -> Result<Uuid, EmulatorError> {
        let mut inner = self.lock();
        let ws = inner
            .workspaces
            .get_mut(&workspace)
            .ok_or(EmulatorError::UnknownWorkspace(workspace))?;
        let id = id.unwrap_or_else(Uuid::new_v4);
        let display_name =
            display_name.unwrap_or_else(|| format!("{item_type} {}", ws.items.len() + 1));
        let item = ws.items.entry(id).or_insert_with(|| Item {
            item_type: String::new(),
            display_name: String::new(),
            instances: Vec::new(),
        });
        item.item_type = item_type.to_string();
        item.display_name = display_name;
        Ok(id)
    }

    fn item_mut(
        inner: &mut Inner,
        workspace: Uuid,
        item: Uuid,
    ) -> Result<&mut Item, EmulatorError> {
        inner
            .workspaces
            .get_mut(&workspace)
            .ok_or(EmulatorError::UnknownWorkspace(workspace))?
            .items
            .get_mut(&item)
            .ok_or(EmulatorError::UnknownItem(workspace, item))
    }

    /// Appends job instances exactly as given (any JSON objects), served in this order after
    /// the ones already stored (the list is newest first). Nothing is added if any element is
    /// not an object.
    pub fn add_job_instances(
        &self,
        workspace: Uuid,
        item: Uuid,
        instances: Vec<Value>,
    ) -> Result<(), EmulatorError> {
        if let Some((i, bad)) = instances.iter().enumerate().find(|(_, v)| !v.is_object()) {
            let kind = match bad {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                Value::Array(_) => "an array",
                Value::Object(_) => "an object",
            };
            return Err(EmulatorError::InvalidInstance(format!(
                "element {i} is {kind}, expected a JSON object"
            )));
        }
        let mut inner = self.lock();
        Self::item_mut(&mut inner, workspace, item)?
            .instances
            .extend(instances);
        Ok(())
    }

    /// Appends `count` generated instances (deterministic for a seed and item), newest first.
    /// On an empty item they end just before 2026-11-30T12:00:00 and the newest one or two are
    /// still running; otherwise they continue below the oldest stored start time.
    pub fn generate_job_instances(
        &self,
        workspace: Uuid,
        item: Uuid,
        count: usize,
        seed: u64,
    ) -> Result<(), EmulatorError> {
        let mut inner = self.lock();
        let stored = Self::item_mut(&mut inner, workspace, item)?;
        let include_active = stored.instances.is_empty();
        let start_before = stored
            .instances
            .last()
            .and_then(|v| v.get("startTimeUtc"))
            .and_then(Value::as_str)
            .and_then(generate::parse_timestamp)
            .unwrap_or_else(generate::reference_time);
        let new = generate::generate(
            item,
            &stored.item_type,
            count,
            seed,
            start_before,
            include_active,
        );
        stored.instances.extend(new);
        Ok(())
    }

    /// A copy of an item's stored job instances, in serving order.
    pub fn job_instances(&self, workspace: Uuid, item: Uuid) -> Result<Vec<Value>, EmulatorError> {
        let mut inner = self.lock();
        Ok(Self::item_mut(&mut inner, workspace, item)?
            .instances
            .clone())
    }

    /// Sets the page size (0 is rejected).
    pub fn set_page_size(&self, n: usize) -> Result<(), EmulatorError> {
        if n == 0 {
            return Err(EmulatorError::InvalidConfig(
                "page_size must be at least 1".into(),
            ));
        }
        self.lock().page_size = n;
        Ok(())
    }

    pub fn set_continuation_style(&self, style: ContinuationStyle) {
        self.lock().continuation = style;
    }

    /// `None`: any non-empty bearer token is accepted.
    pub fn set_accepted_token(&self, token: Option<String>) {
        self.lock().accepted_token = token;
    }

    /// The next `fault.count` requests (any route, before auth) get this fault. Faults queue FIFO.
    pub fn fail_next(&self, fault: Fault) {
        if fault.count > 0 {
            self.lock().faults.push_back(fault);
        }
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.lock().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }

    /// Whether an `Authorization` header value is a well-formed, accepted bearer token.
    pub(crate) fn is_authorized(&self, header: Option<&str>) -> bool {
        let Some(token) = bearer_token(header) else {
            return false;
        };
        match &self.lock().accepted_token {
            Some(accepted) => accepted == token,
            None => true,
        }
    }

    /// Records a request and takes the next pending fault, if any, in one step.
    pub(crate) fn record_and_take_fault(&self, record: RequestRecord) -> Option<Fault> {
        let mut inner = self.lock();
        inner.requests.push(record);
        let front = inner.faults.front_mut()?;
        let fault = front.clone();
        front.count = front.count.saturating_sub(1);
        if front.count == 0 {
            inner.faults.pop_front();
        }
        Some(fault)
    }

    /// The page of an item's instances starting at `offset`.
    pub(crate) fn page(
        &self,
        workspace: Uuid,
        item: Uuid,
        offset: usize,
    ) -> Result<PageSlice, EmulatorError> {
        let mut inner = self.lock();
        let page_size = inner.page_size;
        let style = inner.continuation;
        let stored = Self::item_mut(&mut inner, workspace, item)?;
        let (start, end, next_offset) = page_window(stored.instances.len(), offset, page_size);
        Ok(PageSlice {
            value: stored
                .instances
                .get(start..end)
                .unwrap_or_default()
                .to_vec(),
            next_offset,
            page_size,
            style,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn count_pages(len: usize, page_size: usize) -> (usize, Vec<usize>) {
        let mut offset = 0;
        let mut pages = 0;
        let mut sizes = Vec::new();
        loop {
            let (s, e, next) = page_window(len, offset, page_size);
            pages += 1;
            sizes.push(e - s);
            match next {
                Some(n) => offset = n,
                None => return (pages, sizes),
            }
        }
    }

    #[test]
    fn paging_math() {
        assert_eq!(count_pages(250, 100), (3, vec![100, 100, 50]));
        assert_eq!(count_pages(200, 100), (2, vec![100, 100]));
        assert_eq!(count_pages(100, 100), (1, vec![100]));
        assert_eq!(count_pages(0, 100), (1, vec![0]));
        assert_eq!(count_pages(1, 1), (1, vec![1]));
        // Offset beyond the end: empty, no continuation.
        assert_eq!(page_window(10, 500, 100), (10, 10, None));
    }

    #[test]
    fn styles_parse() {
        for s in [
            ContinuationStyle::Both,
            ContinuationStyle::TokenOnly,
            ContinuationStyle::UriOnly,
            ContinuationStyle::RepeatToken,
        ] {
            assert_eq!(s.as_str().parse::<ContinuationStyle>(), Ok(s));
        }
        let err = "nope".parse::<ContinuationStyle>().unwrap_err();
        assert!(
            err.contains("repeat-token") && err.contains("both"),
            "{err}"
        );
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer_token(Some("Bearer ")), None);
        assert_eq!(bearer_token(Some("Basic abc")), None);
        assert_eq!(bearer_token(Some("Bearerabc")), None);
        assert_eq!(bearer_token(None), None);
    }

    #[test]
    fn seeding_and_faults() {
        let state = EmulatorState::new(&EmulatorConfig::default(), "http://x".into()).unwrap();
        let ws = state.add_workspace(None);
        let missing = Uuid::new_v4();
        assert!(matches!(
            state.add_item(missing, None, "Notebook", None),
            Err(EmulatorError::UnknownWorkspace(_))
        ));
        let item = state.add_item(ws, None, "Notebook", None).unwrap();
        assert!(matches!(
            state.job_instances(ws, missing),
            Err(EmulatorError::UnknownItem(..))
        ));
        let err = state
            .add_job_instances(ws, item, vec![json!({"id": 1}), json!(3)])
            .unwrap_err();
        assert!(matches!(err, EmulatorError::InvalidInstance(_)));
        assert!(state.job_instances(ws, item).unwrap().is_empty());
        state
            .add_job_instances(ws, item, vec![json!({"z": 1, "a": 2})])
            .unwrap();
        state.generate_job_instances(ws, item, 3, 1).unwrap();
        let all = state.job_instances(ws, item).unwrap();
        assert_eq!(all.len(), 4);
        assert_eq!(serde_json::to_string(&all[0]).unwrap(), r#"{"z":1,"a":2}"#);
        assert!(state.set_page_size(0).is_err());
        state.set_page_size(3).unwrap();
        let page = state.page(ws, item, 0).unwrap();
        assert_eq!((page.value.len(), page.next_offset), (3, Some(3)));

        let fault = |status, count| Fault {
            status,
            error_code: None,
            message: None,
            headers: vec![],
            raw_body: None,
            count,
        };
        state.fail_next(fault(429, 2));
        state.fail_next(fault(500, 0));
        state.fail_next(fault(503, 1));
        let rec = RequestRecord {
            method: "GET".into(),
            path: "/".into(),
            query: None,
            authorized: false,
        };
        let got: Vec<Option<u16>> = (0..5)
            .map(|_| state.record_and_take_fault(rec.clone()).map(|f| f.status))
            .collect();
        assert_eq!(got, [Some(429), Some(429), Some(503), None, None]);
        assert_eq!(state.requests().len(), 5);
        state.clear_requests();
        assert!(state.requests().is_empty());
    }
}
