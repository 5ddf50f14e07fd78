//! The axum router. Every request passes [`gate`] first: it is logged, then an injected fault
//! (if queued) answers it, then the bearer token is checked, then the token's quota; only then
//! is it routed. The answer waits for the configured latency, and its status goes to the log.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::header::{ALLOW, AUTHORIZATION};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::continuation;
use super::responses::{self, Related};
use super::server::{self, ConnCtl};
use super::state::{Action, ContinuationStyle, EmulatorError, EmulatorState, PageSlice};

pub(crate) const LIST_JOB_INSTANCES: &str =
    "/v1/workspaces/{workspace_id}/items/{item_id}/jobs/instances";
pub(crate) const LIST_ITEMS: &str = "/v1/workspaces/{workspace_id}/items";

pub(crate) fn router(state: Arc<EmulatorState>) -> Router {
    Router::new()
        .route(
            LIST_JOB_INSTANCES,
            get(list_job_instances).fallback(method_not_allowed),
        )
        .route(LIST_ITEMS, get(list_items).fallback(method_not_allowed))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state)
}

/// Closes the request's connection without answering (the handler is dropped with it).
async fn close_connection(ctl: Option<&ConnCtl>) -> Response {
    match ctl {
        Some(ctl) => {
            ctl.abort();
            match server::forever().await {}
        }
        // Only reachable if the router were served by something other than `server::serve`.
        None => responses::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "Connection faults need the emulator's own server.",
            None,
        ),
    }
}

async fn until_shutdown(ctl: Option<&ConnCtl>) {
    match ctl {
        Some(ctl) => ctl.until_shutdown().await,
        None => match server::forever().await {},
    }
}

/// Log and decide, wait the latency, then answer (fault, 401, 429 or the route).
async fn gate(State(state): State<Arc<EmulatorState>>, req: Request, next: Next) -> Response {
    let ctl = req.extensions().get::<Arc<ConnCtl>>().cloned();
    let ctl = ctl.as_deref();
    let admission = {
        let auth = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        state.admit(
            req.method().as_str(),
            req.uri().path(),
            req.uri().query(),
            auth,
        )
    };
    if !admission.latency.is_zero() {
        tokio::select! {
            () = tokio::time::sleep(admission.latency) => {}
            // Shutting down: do not hold it up.
            () = until_shutdown(ctl) => return close_connection(ctl).await,
        }
    }
    let resp = match admission.action {
        Action::Respond(fault) => responses::fault(&fault),
        Action::Drop => return close_connection(ctl).await,
        Action::Hang => {
            // The client giving up closes the connection, which drops this future.
            until_shutdown(ctl).await;
            return close_connection(ctl).await;
        }
        Action::Unauthorized => responses::unauthorized(),
        Action::Throttled(throttle) => responses::throttled(&throttle),
        Action::Route => next.run(req).await,
    };
    state.set_status(admission.seq, resp.status().as_u16());
    if admission.truncate {
        server::truncate(resp).await
    } else {
        resp
    }
}

async fn not_found(req: Request) -> Response {
    responses::error(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!(
            "The requested resource was not found: {} {}",
            req.method(),
            req.uri().path()
        ),
        None,
    )
}

async fn method_not_allowed(req: Request) -> Response {
    let mut resp = responses::error(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        &format!(
            "The HTTP method {} is not supported for this resource.",
            req.method()
        ),
        None,
    );
    resp.headers_mut()
        .insert(ALLOW, HeaderValue::from_static("GET"));
    resp
}

fn invalid_guid(name: &str, value: &str) -> Response {
    responses::error(
        StatusCode::BAD_REQUEST,
        "InvalidParameter",
        &format!("The parameter '{name}' is not a valid GUID: '{value}'."),
        None,
    )
}

fn invalid_token() -> Response {
    responses::error(
        StatusCode::BAD_REQUEST,
        "InvalidContinuationToken",
        "The continuation token is malformed. Pass the continuationToken value exactly as returned by the previous page.",
        None,
    )
}

fn workspace_not_found(workspace: Uuid) -> Response {
    responses::error(
        StatusCode::NOT_FOUND,
        "WorkspaceNotFound",
        "The requested workspace was not found",
        Some(Related {
            resource_id: workspace.to_string(),
            resource_type: "Workspace",
        }),
    )
}

fn invalid_path() -> Response {
    responses::error(
        StatusCode::BAD_REQUEST,
        "InvalidParameter",
        "The request path parameters are invalid.",
        None,
    )
}

/// The value of query parameter `name` after one URL decode (`%3D` -> `=`), as any web
/// framework does.
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query.and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    })
}

/// The offset a `continuationToken` points at (0 without one); `None` if it is malformed.
fn offset_of(token: Option<&str>) -> Option<usize> {
    match token {
        None => Some(0),
        Some(raw) => continuation::decode(raw).map(|decoded| decoded.offset),
    }
}

/// `{"value": [...], "continuationToken"?, "continuationUri"?}`. `uri_prefix` is the absolute
/// URI up to and including `?` plus any other query parameters to keep (ending in `&`).
/// `trailing` adds a continuation to the last page too (the trailing-token quirk).
fn paged_body(page: PageSlice, incoming: Option<&str>, uri_prefix: &str, trailing: bool) -> Value {
    let mut body = Map::new();
    body.insert("value".into(), Value::Array(page.value));
    let next = match page.next_offset {
        Some(next) => Some(continuation::encode(next, page.page_size)),
        // The quirk's token points just past the end, whatever the style.
        None if trailing => Some(continuation::encode(page.total, page.page_size)),
        None => None,
    };
    if let Some(mut encoded) = next {
        if let (ContinuationStyle::RepeatToken, Some(incoming), Some(_)) =
            (page.style, incoming, page.next_offset)
        {
            encoded = continuation::percent_encode(incoming);
        }
        if page.style != ContinuationStyle::UriOnly {
            body.insert("continuationToken".into(), Value::String(encoded.clone()));
        }
        if page.style != ContinuationStyle::TokenOnly {
            let uri = format!("{uri_prefix}continuationToken={encoded}");
            body.insert("continuationUri".into(), Value::String(uri));
        }
    }
    Value::Object(body)
}

/// The answer to the token the trailing-token quirk put on a last page.
fn trailing_token_error(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match status.as_u16() {
        400 => responses::error(
            status,
            "InvalidContinuationToken",
            "The continuation token is invalid or has expired.",
            None,
        ),
        code => responses::error(
            status,
            responses::default_error_code(code),
            &responses::default_message(code, &[]),
            None,
        ),
    }
}

/// `GET /v1/workspaces/{workspaceId}/items/{itemId}/jobs/instances[?continuationToken=...]`.
async fn list_job_instances(
    State(state): State<Arc<EmulatorState>>,
    path: Result<Path<(String, String)>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let Ok(Path((ws_raw, item_raw))) = path else {
        return invalid_path();
    };
    let Ok(workspace) = Uuid::parse_str(&ws_raw) else {
        return invalid_guid("workspaceId", &ws_raw);
    };
    let Ok(item) = Uuid::parse_str(&item_raw) else {
        return invalid_guid("itemId", &item_raw);
    };

    let token = query_param(query.as_deref(), "continuationToken");
    let Some(offset) = offset_of(token.as_deref()) else {
        return invalid_token();
    };

    let page = match state.page(workspace, item, offset) {
        Ok(page) => page,
        Err(EmulatorError::UnknownWorkspace(_)) => return workspace_not_found(workspace),
        Err(_) => {
            return responses::error(
                StatusCode::NOT_FOUND,
                "ItemNotFound",
                "The requested item was not found",
                Some(Related {
                    resource_id: item.to_string(),
                    resource_type: "Item",
                }),
            )
        }
    };
    let quirk = page.trailing_token_quirk;
    if let (Some(status), Some(_)) = (quirk, token.as_deref()) {
        if offset >= page.total {
            return trailing_token_error(status);
        }
    }
    let prefix = format!(
        "{}/v1/workspaces/{workspace}/items/{item}/jobs/instances?",
        state.origin()
    );
    let body = paged_body(page, token.as_deref(), &prefix, quirk.is_some());
    responses::json_response(StatusCode::OK, &body)
}

/// `GET /v1/workspaces/{workspaceId}/items[?type=...][&continuationToken=...]` (Core API).
/// The `type` filter is exact (case-sensitive); the token is positional over the filtered
/// list, and `continuationUri` keeps the filter.
async fn list_items(
    State(state): State<Arc<EmulatorState>>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let Ok(Path(ws_raw)) = path else {
        return invalid_path();
    };
    let Ok(workspace) = Uuid::parse_str(&ws_raw) else {
        return invalid_guid("workspaceId", &ws_raw);
    };
    let token = query_param(query.as_deref(), "continuationToken");
    let item_type = query_param(query.as_deref(), "type");
    let Some(offset) = offset_of(token.as_deref()) else {
        return invalid_token();
    };
    let page = match state.items_page(workspace, item_type.as_deref(), offset) {
        Ok(page) => page,
        Err(_) => return workspace_not_found(workspace),
    };
    let mut prefix = format!("{}/v1/workspaces/{workspace}/items?", state.origin());
    if let Some(item_type) = &item_type {
        prefix.push_str("type=");
        prefix.extend(url::form_urlencoded::byte_serialize(item_type.as_bytes()));
        prefix.push('&');
    }
    let body = paged_body(page, token.as_deref(), &prefix, false);
    responses::json_response(StatusCode::OK, &body)
}
