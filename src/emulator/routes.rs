//! The axum router. Every request passes [`gate`] first: it is logged, then an injected fault
//! (if queued) answers it, then the bearer token is checked; only then is it routed.

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
use super::state::{ContinuationStyle, EmulatorError, EmulatorState, RequestRecord};

pub(crate) const LIST_JOB_INSTANCES: &str =
    "/v1/workspaces/{workspace_id}/items/{item_id}/jobs/instances";

pub(crate) fn router(state: Arc<EmulatorState>) -> Router {
    Router::new()
        .route(
            LIST_JOB_INSTANCES,
            get(list_job_instances).fallback(method_not_allowed),
        )
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state)
}

/// Log, then faults, then auth.
async fn gate(State(state): State<Arc<EmulatorState>>, req: Request, next: Next) -> Response {
    let auth = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let authorized = state.is_authorized(auth);
    let record = RequestRecord {
        method: req.method().to_string(),
        path: req.uri().path().to_string(),
        query: req.uri().query().map(str::to_string),
        authorized,
    };
    if let Some(fault) = state.record_and_take_fault(record) {
        return responses::fault(&fault);
    }
    if !authorized {
        return responses::unauthorized();
    }
    next.run(req).await
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

/// `GET /v1/workspaces/{workspaceId}/items/{itemId}/jobs/instances[?continuationToken=...]`.
async fn list_job_instances(
    State(state): State<Arc<EmulatorState>>,
    path: Result<Path<(String, String)>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let Ok(Path((ws_raw, item_raw))) = path else {
        return responses::error(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "The request path parameters are invalid.",
            None,
        );
    };
    let Ok(workspace) = Uuid::parse_str(&ws_raw) else {
        return invalid_guid("workspaceId", &ws_raw);
    };
    let Ok(item) = Uuid::parse_str(&item_raw) else {
        return invalid_guid("itemId", &item_raw);
    };

    // One URL decode of the query value (`%3D` -> `=`), as any web framework does.
    let token: Option<String> = query.as_deref().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "continuationToken")
            .map(|(_, v)| v.into_owned())
    });
    let offset = match token.as_deref() {
        None => 0,
        Some(raw) => match continuation::decode(raw) {
            Some(decoded) => decoded.offset,
            None => return invalid_token(),
        },
    };

    let page = match state.page(workspace, item, offset) {
        Ok(page) => page,
        Err(EmulatorError::UnknownWorkspace(_)) => {
            return responses::error(
                StatusCode::NOT_FOUND,
                "WorkspaceNotFound",
                "The requested workspace was not found",
                Some(Related {
                    resource_id: workspace.to_string(),
                    resource_type: "Workspace",
                }),
            )
        }
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

    let mut body = Map::new();
    body.insert("value".into(), Value::Array(page.value));
    if let Some(next) = page.next_offset {
        let encoded = match (page.style, token.as_deref()) {
            (ContinuationStyle::RepeatToken, Some(incoming)) => {
                continuation::percent_encode(incoming)
            }
            _ => continuation::encode(next, page.page_size),
        };
        if page.style != ContinuationStyle::UriOnly {
            body.insert("continuationToken".into(), Value::String(encoded.clone()));
        }
        if page.style != ContinuationStyle::TokenOnly {
            let uri = format!(
                "{}/v1/workspaces/{workspace}/items/{item}/jobs/instances?continuationToken={encoded}",
                state.origin()
            );
            body.insert("continuationUri".into(), Value::String(uri));
        }
    }
    responses::json_response(StatusCode::OK, &Value::Object(body))
}
