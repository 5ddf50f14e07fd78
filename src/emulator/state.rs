//! The emulator's data and knobs. Thread-safe: one `std::sync::Mutex` inside, `&self` methods.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

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

/// What a queued fault does to one request, see [`EmulatorState::inject_next`].
#[derive(Clone, Debug)]
pub enum FaultKind {
    /// Answer with this error response (its `count` field is ignored here).
    Respond(Fault),
    /// Close the TCP connection without sending a single response byte.
    Drop,
    /// Serve the request normally, but send only about half of the body after headers that
    /// announce the full `Content-Length`, then close the connection.
    Truncate,
    /// Never answer: the request stays open until the client gives up or the emulator stops.
    Hang,
}

/// A fixed-window request quota per bearer token, like Fabric's 200 calls per minute per
/// identity. See [`EmulatorState::set_quota`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Requests allowed per window and token.
    pub calls: u32,
    /// Window length; a token's window starts with its first counted request.
    pub per: Duration,
    /// Whether a 429 carries `Retry-After` (integer seconds until the window ends, rounded up).
    pub retry_after: bool,
}

/// One received request, in arrival order.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestRecord {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path as received (not percent-decoded).
    pub path: String,
    /// The raw, undecoded query string (without `?`).
    pub query: Option<String>,
    /// Whether the request had a well-formed, accepted bearer token.
    pub authorized: bool,
    /// The HTTP status answered; 0 while unanswered and for dropped or hung requests.
    pub status: u16,
    /// When the request arrived, in seconds since the emulator started.
    pub at: f64,
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
    display_name: String,
    description: Option<String>,
    folder_id: Option<Uuid>,
    instances: Vec<Value>,
}

impl Item {
    /// The Core API `Item` object: id, type, displayName, description, workspaceId, folderId?.
    fn to_json(&self, workspace: Uuid, id: Uuid) -> Value {
        let mut item = serde_json::Map::new();
        item.insert("id".into(), Value::String(id.to_string()));
        item.insert("type".into(), Value::String(self.item_type.clone()));
        item.insert(
            "displayName".into(),
            Value::String(self.display_name.clone()),
        );
        item.insert(
            "description".into(),
            Value::String(self.description.clone().unwrap_or_default()),
        );
        item.insert("workspaceId".into(), Value::String(workspace.to_string()));
        if let Some(folder) = self.folder_id {
            item.insert("folderId".into(), Value::String(folder.to_string()));
        }
        Value::Object(item)
    }
}

#[derive(Default)]
struct Workspace {
    items: HashMap<Uuid, Item>,
    /// Item ids in insertion order (the List Items order).
    order: Vec<Uuid>,
}

/// A token's current quota window.
struct Window {
    start: Instant,
    used: u32,
}

struct Inner {
    page_size: usize,
    accepted_token: Option<String>,
    continuation: ContinuationStyle,
    workspaces: HashMap<Uuid, Workspace>,
    /// FIFO of (fault, remaining count); the count is at least 1.
    faults: VecDeque<(FaultKind, usize)>,
    /// (sequence number, record), in arrival order.
    requests: Vec<(u64, RequestRecord)>,
    next_seq: u64,
    latency: Duration,
    quota: Option<Quota>,
    windows: HashMap<String, Window>,
    trailing_token_quirk: Option<u16>,
}

/// The emulator's seeded data, knobs, fault queue and request log.
pub struct EmulatorState {
    /// `http://127.0.0.1:PORT`, used to build absolute continuation URIs.
    origin: String,
    /// When the emulator started (the zero of [`RequestRecord::at`]).
    started: Instant,
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
    /// Length of the whole (filtered) list.
    pub total: usize,
    /// The trailing-token quirk's status (job instance listings only).
    pub trailing_token_quirk: Option<u16>,
}

/// How a request is to be answered, decided when it arrives.
pub(crate) enum Action {
    /// An injected error response.
    Respond(Fault),
    /// Close the connection without answering.
    Drop,
    /// Never answer.
    Hang,
    /// 401: no well-formed, accepted bearer token.
    Unauthorized,
    /// 429: the token's quota is used up until the window ends.
    Throttled(Throttle),
    /// Route it normally.
    Route,
}

/// A quota rejection.
pub(crate) struct Throttle {
    /// Time left in the token's window.
    pub wait: Duration,
    /// Whether to send `Retry-After`.
    pub retry_after: bool,
}

/// The decision for one arriving request, see [`EmulatorState::admit`].
pub(crate) struct Admission {
    /// Identifies the request's log record for [`EmulatorState::set_status`].
    pub seq: u64,
    /// How long to wait before answering.
    pub latency: Duration,
    pub action: Action,
    /// Whether the answer's body is to be cut short (a queued [`FaultKind::Truncate`]).
    pub truncate: bool,
}

/// A friendly display-name stem for an item type ("DataPipeline" -> "Pipeline").
fn display_stem(item_type: &str) -> &str {
    match item_type {
        "DataPipeline" => "Pipeline",
        "SparkJobDefinition" => "Spark job definition",
        "SemanticModel" => "Semantic model",
        "PaginatedReport" => "Paginated report",
        "KQLDatabase" => "KQL database",
        "KQLQueryset" => "KQL queryset",
        "KQLDashboard" => "KQL dashboard",
        "MLExperiment" => "ML experiment",
        "MLModel" => "ML model",
        "SQLEndpoint" => "SQL analytics endpoint",
        "SQLDatabase" => "SQL database",
        "CopyJob" => "Copy job",
        "ApacheAirflowJob" => "Apache Airflow job",
        "UserDataFunction" => "User data function",
        "VariableLibrary" => "Variable library",
        "MirroredDatabase" => "Mirrored database",
        other => other,
    }
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
            started: Instant::now(),
            inner: Mutex::new(Inner {
                page_size: config.page_size,
                accepted_token: config.accepted_token.clone(),
                continuation: config.continuation,
                workspaces: HashMap::new(),
                faults: VecDeque::new(),
                requests: Vec::new(),
                next_seq: 0,
                latency: Duration::ZERO,
                quota: None,
                windows: HashMap::new(),
                trailing_token_quirk: None,
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
    /// updates its type and name and keeps its job instances and its place in the List Items
    /// order. Without a name it gets a numbered one per type, like "Pipeline 3" for the third
    /// `DataPipeline` of the workspace.
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
        let display_name = display_name.unwrap_or_else(|| {
            let same_type = ws
                .items
                .iter()
                .filter(|(other, it)| **other != id && it.item_type == item_type)
                .count();
            format!("{} {}", display_stem(item_type), same_type + 1)
        });
        let item = match ws.items.entry(id) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                ws.order.push(id);
                e.insert(Item {
                    item_type: String::new(),
                    display_name: String::new(),
                    description: None,
                    folder_id: None,
                    instances: Vec::new(),
                })
            }
        };
        item.item_type = item_type.to_string();
        item.display_name = display_name;
        Ok(id)
    }

    /// Sets an item's `description` (served as `""` when `None`) and `folderId` (absent when
    /// `None`) in the List Items API.
    pub fn set_item_details(
        &self,
        workspace: Uuid,
        item: Uuid,
        description: Option<String>,
        folder_id: Option<Uuid>,
    ) -> Result<(), EmulatorError> {
        let mut inner = self.lock();
        let stored = Self::item_mut(&mut inner, workspace, item)?;
        stored.description = description;
        stored.folder_id = folder_id;
        Ok(())
    }

    /// A workspace's items as the List Items API serves them (insertion order).
    pub fn items(&self, workspace: Uuid) -> Result<Vec<Value>, EmulatorError> {
        let inner = self.lock();
        let ws = inner
            .workspaces
            .get(&workspace)
            .ok_or(EmulatorError::UnknownWorkspace(workspace))?;
        Ok(ws
            .order
            .iter()
            .filter_map(|id| ws.items.get(id).map(|it| it.to_json(workspace, *id)))
            .collect())
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

    /// The next `fault.count` requests (any route, before auth) get this fault. Faults queue FIFO,
    /// in one queue with [`EmulatorState::inject_next`]'s.
    pub fn fail_next(&self, fault: Fault) {
        let count = fault.count;
        self.inject_next(FaultKind::Respond(fault), count);
    }

    /// The next `count` requests (any route, before auth and quota) get this fault, after the
    /// faults already queued. A [`FaultKind::Truncate`]d request still goes through auth, quota
    /// and routing; whatever it is answered is cut short.
    pub fn inject_next(&self, kind: FaultKind, count: usize) {
        if count > 0 {
            self.lock().faults.push_back((kind, count));
        }
    }

    /// The next `count` requests get their TCP connection closed without any response byte.
    pub fn drop_next(&self, count: usize) {
        self.inject_next(FaultKind::Drop, count);
    }

    /// The next `count` requests get a response whose body stops after about half of the
    /// announced `Content-Length`, then the connection closes.
    pub fn truncate_next(&self, count: usize) {
        self.inject_next(FaultKind::Truncate, count);
    }

    /// The next `count` requests are never answered (until the client disconnects or the
    /// emulator shuts down).
    pub fn hang_next(&self, count: usize) {
        self.inject_next(FaultKind::Hang, count);
    }

    /// Every request waits this long (after being logged) before it is answered.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    pub fn latency(&self) -> Duration {
        self.lock().latency
    }

    /// `Some`: at most `quota.calls` requests per `quota.per` window per bearer token (requests
    /// without an accepted token are not counted, nor are those answered 429); over quota they
    /// get 429 `RequestBlocked`. `None` disables it. Either way all windows restart.
    pub fn set_quota(&self, quota: Option<Quota>) {
        let mut inner = self.lock();
        inner.quota = quota;
        inner.windows.clear();
    }

    pub fn quota(&self) -> Option<Quota> {
        self.lock().quota
    }

    /// `Some(status)`: the last page of a job instance listing also carries a continuation
    /// token/URI, and requesting it answers `status` (400 `InvalidContinuationToken`, 404
    /// `ItemNotFound`, otherwise the status' default code; an invalid status is answered as
    /// 500). Mimics a reported service bug.
    pub fn set_trailing_token_quirk(&self, status: Option<u16>) {
        self.lock().trailing_token_quirk = status;
    }

    pub fn trailing_token_quirk(&self) -> Option<u16> {
        self.lock().trailing_token_quirk
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.lock()
            .requests
            .iter()
            .map(|(_, record)| record.clone())
            .collect()
    }

    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }

    /// Logs an arriving request and decides, in one step, how it is answered: the next queued
    /// fault, else 401 without an accepted bearer token, else 429 over quota, else routing.
    pub(crate) fn admit(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        authorization: Option<&str>,
    ) -> Admission {
        let now = Instant::now();
        let at = now.saturating_duration_since(self.started).as_secs_f64();
        let token = bearer_token(authorization);
        let mut inner = self.lock();
        let authorized = match (token, &inner.accepted_token) {
            (None, _) => false,
            (Some(token), Some(accepted)) => accepted == token,
            (Some(_), None) => true,
        };
        let seq = inner.next_seq;
        inner.next_seq += 1;
        inner.requests.push((
            seq,
            RequestRecord {
                method: method.to_string(),
                path: path.to_string(),
                query: query.map(str::to_string),
                authorized,
                status: 0,
                at,
            },
        ));
        let fault = Self::take_fault(&mut inner);
        let truncate = matches!(fault, Some(FaultKind::Truncate));
        let action = match fault {
            Some(FaultKind::Respond(fault)) => Action::Respond(fault),
            Some(FaultKind::Drop) => Action::Drop,
            Some(FaultKind::Hang) => Action::Hang,
            Some(FaultKind::Truncate) | None => match token {
                Some(token) if authorized => match Self::charge(&mut inner, token, now) {
                    Some(throttle) => Action::Throttled(throttle),
                    None => Action::Route,
                },
                _ => Action::Unauthorized,
            },
        };
        Admission {
            seq,
            latency: inner.latency,
            action,
            truncate,
        }
    }

    fn take_fault(inner: &mut Inner) -> Option<FaultKind> {
        let (kind, remaining) = inner.faults.front_mut()?;
        let kind = kind.clone();
        *remaining = remaining.saturating_sub(1);
        if *remaining == 0 {
            inner.faults.pop_front();
        }
        Some(kind)
    }

    /// Counts a request against the token's quota window; `Some` when over quota.
    fn charge(inner: &mut Inner, token: &str, now: Instant) -> Option<Throttle> {
        let quota = inner.quota?;
        let window = inner.windows.entry(token.to_string()).or_insert(Window {
            start: now,
            used: 0,
        });
        if now.saturating_duration_since(window.start) >= quota.per {
            *window = Window {
                start: now,
                used: 0,
            };
        }
        if window.used < quota.calls {
            window.used += 1;
            return None;
        }
        Some(Throttle {
            wait: (window.start + quota.per).saturating_duration_since(now),
            retry_after: quota.retry_after,
        })
    }

    /// Stores the status a request was answered with (no-op if the log was cleared since).
    pub(crate) fn set_status(&self, seq: u64, status: u16) {
        let mut inner = self.lock();
        if let Ok(i) = inner.requests.binary_search_by_key(&seq, |(s, _)| *s) {
            if let Some((_, record)) = inner.requests.get_mut(i) {
                record.status = status;
            }
        }
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
        let quirk = inner.trailing_token_quirk;
        let stored = Self::item_mut(&mut inner, workspace, item)?;
        let total = stored.instances.len();
        let (start, end, next_offset) = page_window(total, offset, page_size);
        Ok(PageSlice {
            value: stored
                .instances
                .get(start..end)
                .unwrap_or_default()
                .to_vec(),
            next_offset,
            page_size,
            style,
            total,
            trailing_token_quirk: quirk,
        })
    }

    /// The page of a workspace's items (of `item_type` only, if given) starting at `offset`.
    pub(crate) fn items_page(
        &self,
        workspace: Uuid,
        item_type: Option<&str>,
        offset: usize,
    ) -> Result<PageSlice, EmulatorError> {
        let inner = self.lock();
        let ws = inner
            .workspaces
            .get(&workspace)
            .ok_or(EmulatorError::UnknownWorkspace(workspace))?;
        let matching: Vec<(Uuid, &Item)> = ws
            .order
            .iter()
            .filter_map(|id| ws.items.get(id).map(|it| (*id, it)))
            .filter(|(_, it)| item_type.is_none_or(|t| it.item_type == t))
            .collect();
        let total = matching.len();
        let (start, end, next_offset) = page_window(total, offset, inner.page_size);
        Ok(PageSlice {
            value: matching
                .get(start..end)
                .unwrap_or_default()
                .iter()
                .map(|(id, it)| it.to_json(workspace, *id))
                .collect(),
            next_offset,
            page_size: inner.page_size,
            style: inner.continuation,
            total,
            trailing_token_quirk: None,
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
        state.drop_next(1);
        state.fail_next(fault(503, 1));
        state.truncate_next(1);
        state.hang_next(0);
        state.hang_next(1);
        let describe = |a: Admission| -> String {
            let action = match a.action {
                Action::Respond(f) => f.status.to_string(),
                Action::Drop => "drop".into(),
                Action::Hang => "hang".into(),
                Action::Unauthorized => "401".into(),
                Action::Throttled(_) => "429q".into(),
                Action::Route => "route".into(),
            };
            format!("{action}{}", if a.truncate { "+cut" } else { "" })
        };
        let got: Vec<String> = (0..8)
            .map(|_| describe(state.admit("GET", "/", None, Some("Bearer t"))))
            .collect();
        assert_eq!(
            got,
            [
                "429",
                "429",
                "drop",
                "503",
                "route+cut",
                "hang",
                "route",
                "route"
            ]
        );
        assert_eq!(describe(state.admit("GET", "/", None, None)), "401");
        let log = state.requests();
        assert_eq!(log.len(), 9);
        assert!(log.windows(2).all(|w| w[0].at <= w[1].at));
        assert!(log.iter().all(|r| r.status == 0));
        state.set_status(3, 503);
        assert_eq!(state.requests()[3].status, 503);
        state.clear_requests();
        assert!(state.requests().is_empty());
        // A record cleared before it is answered is not resurrected.
        state.set_status(3, 200);
        assert!(state.requests().is_empty());
    }

    #[test]
    fn quota_windows() {
        let state = EmulatorState::new(&EmulatorConfig::default(), "http://x".into()).unwrap();
        state.set_quota(Some(Quota {
            calls: 2,
            per: Duration::from_secs(60),
            retry_after: true,
        }));
        let admit = |auth: Option<&str>| state.admit("GET", "/", None, auth).action;
        assert!(matches!(admit(Some("Bearer a")), Action::Route));
        assert!(matches!(admit(None), Action::Unauthorized));
        assert!(matches!(admit(Some("Bearer a")), Action::Route));
        match admit(Some("Bearer a")) {
            Action::Throttled(t) => {
                assert!(t.retry_after);
                assert!(t.wait > Duration::from_secs(58) && t.wait <= Duration::from_secs(60));
            }
            _ => panic!("expected a 429"),
        }
        // Another identity has its own window.
        assert!(matches!(admit(Some("Bearer b")), Action::Route));
        // Resetting the quota restarts the windows.
        state.set_quota(state.quota());
        assert!(matches!(admit(Some("Bearer a")), Action::Route));
        state.set_quota(None);
        for _ in 0..5 {
            assert!(matches!(admit(Some("Bearer a")), Action::Route));
        }
    }

    #[test]
    fn items_in_insertion_order_with_names() {
        let state = EmulatorState::new(&EmulatorConfig::default(), "http://x".into()).unwrap();
        let ws = state.add_workspace(None);
        let p1 = state.add_item(ws, None, "DataPipeline", None).unwrap();
        let nb = state.add_item(ws, None, "Notebook", None).unwrap();
        let p2 = state.add_item(ws, None, "DataPipeline", None).unwrap();
        // Re-adding keeps the position.
        state
            .add_item(ws, Some(p1), "DataPipeline", Some("Daily load".into()))
            .unwrap();
        state
            .set_item_details(ws, nb, Some("ETL".into()), Some(ws))
            .unwrap();
        let items = state.items(ws).unwrap();
        let ids: Vec<String> = items
            .iter()
            .map(|v| v["id"].as_str().unwrap().into())
            .collect();
        assert_eq!(ids, [p1.to_string(), nb.to_string(), p2.to_string()]);
        assert_eq!(items[0]["displayName"], "Daily load");
        assert_eq!(items[1]["displayName"], "Notebook 1");
        assert_eq!(items[2]["displayName"], "Pipeline 2");
        assert_eq!(items[1]["description"], "ETL");
        assert_eq!(items[1]["folderId"], ws.to_string());
        assert!(items[0].get("folderId").is_none());
        let page = state.items_page(ws, Some("DataPipeline"), 1).unwrap();
        assert_eq!((page.value.len(), page.total), (1, 2));
        assert!(matches!(
            state.items(Uuid::new_v4()),
            Err(EmulatorError::UnknownWorkspace(_))
        ));
    }
}
