//! Fabric-style responses: JSON with `RequestId` and `Content-Type: application/json; charset=utf-8`
//! headers; errors add `x-ms-public-api-error-code` and an ErrorResponse body whose `requestId`
//! equals the header.

use axum::body::Body;
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::state::{Fault, Throttle};

pub(crate) const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";
const HTML_CONTENT_TYPE: &str = "text/html; charset=utf-8";
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("requestid");
pub(crate) const ERROR_CODE: HeaderName = HeaderName::from_static("x-ms-public-api-error-code");

/// The `relatedResource` of an error body.
pub(crate) struct Related<'a> {
    pub resource_id: String,
    pub resource_type: &'a str,
}

fn header_value(s: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(s).ok()
}

fn base(
    status: StatusCode,
    request_id: Uuid,
    content_type: &'static str,
    body: Vec<u8>,
) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    if let Some(v) = header_value(&request_id.to_string()) {
        headers.insert(REQUEST_ID, v);
    }
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// A 200 (or other) JSON response with a fresh `RequestId`.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    base(status, Uuid::new_v4(), JSON_CONTENT_TYPE, bytes)
}

/// The ErrorResponse body: requestId, errorCode, message, relatedResource?, isRetriable.
fn error_body(
    request_id: Uuid,
    code: &str,
    message: &str,
    related: Option<Related<'_>>,
    retriable: bool,
) -> Value {
    let mut body = Map::new();
    body.insert("requestId".into(), Value::String(request_id.to_string()));
    body.insert("errorCode".into(), Value::String(code.into()));
    body.insert("message".into(), Value::String(message.into()));
    if let Some(r) = related {
        body.insert(
            "relatedResource".into(),
            json!({"resourceId": r.resource_id, "resourceType": r.resource_type}),
        );
    }
    body.insert("isRetriable".into(), Value::Bool(retriable));
    Value::Object(body)
}

fn is_retriable(status: u16) -> bool {
    status == 429 || status >= 500
}

/// A Fabric error response.
pub(crate) fn error(
    status: StatusCode,
    code: &str,
    message: &str,
    related: Option<Related<'_>>,
) -> Response {
    let request_id = Uuid::new_v4();
    let body = error_body(
        request_id,
        code,
        message,
        related,
        is_retriable(status.as_u16()),
    );
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut resp = base(status, request_id, JSON_CONTENT_TYPE, bytes);
    if let Some(v) = header_value(code) {
        resp.headers_mut().insert(ERROR_CODE, v);
    }
    resp
}

/// 401 for a missing, malformed or unaccepted bearer token.
pub(crate) fn unauthorized() -> Response {
    let mut resp = error(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "The request has no valid bearer token. Pass Authorization: Bearer <token>.",
        None,
    );
    resp.headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    resp
}

/// The `until:` time of a 429 message, `M/D/YYYY h:mm:ss AM/PM` in UTC, `wait` from now.
fn blocked_message(wait: chrono::TimeDelta) -> String {
    let now = chrono::Utc::now();
    let until = now.checked_add_signed(wait).unwrap_or(now);
    format!(
        "Request is blocked by the upstream service until: {}",
        until.format("%-m/%-d/%Y %-I:%M:%S %p")
    )
}

/// 429 `RequestBlocked` for a token over its quota, with `Retry-After` (whole seconds, rounded
/// up) unless the quota says otherwise.
pub(crate) fn throttled(t: &Throttle) -> Response {
    let wait = chrono::TimeDelta::from_std(t.wait).unwrap_or(chrono::TimeDelta::MAX);
    let mut resp = error(
        StatusCode::TOO_MANY_REQUESTS,
        "RequestBlocked",
        &blocked_message(wait),
        None,
    );
    if t.retry_after {
        let secs = t.wait.as_secs() + u64::from(t.wait.subsec_nanos() > 0);
        resp.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// The default `errorCode` for an injected fault of this status.
pub(crate) fn default_error_code(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        401 => "TokenExpired",
        403 => "InsufficientPrivileges",
        404 => "ItemNotFound",
        409 => "Conflict",
        429 => "RequestBlocked",
        500 => "InternalServerError",
        503 => "ServiceUnavailable",
        _ => "Error",
    }
}

fn retry_after_seconds(headers: &[(String, String)]) -> Option<i64> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
        .and_then(|(_, v)| v.trim().parse().ok())
}

/// The default `message` for an injected fault of this status.
pub(crate) fn default_message(status: u16, headers: &[(String, String)]) -> String {
    match status {
        400 => "The request is invalid.".into(),
        401 => "Access token has expired, resubmit with a new access token".into(),
        403 => "The caller does not have sufficient permissions to perform this operation".into(),
        404 => "The requested item was not found".into(),
        409 => "The request conflicts with the current state of the resource.".into(),
        429 => {
            let wait = retry_after_seconds(headers).unwrap_or(60).clamp(0, 86_400);
            blocked_message(chrono::TimeDelta::seconds(wait))
        }
        500 => "An internal error occurred. Please retry the request later.".into(),
        503 => "The service is temporarily unavailable. Please retry the request later.".into(),
        _ => format!("The request failed with status {status}."),
    }
}

/// The response for an injected [`Fault`].
pub(crate) fn fault(f: &Fault) -> Response {
    let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let code = f
        .error_code
        .clone()
        .unwrap_or_else(|| default_error_code(status.as_u16()).to_string());
    let request_id = Uuid::new_v4();
    let mut resp = match &f.raw_body {
        Some(raw) => {
            let mut resp = base(
                status,
                request_id,
                HTML_CONTENT_TYPE,
                raw.clone().into_bytes(),
            );
            // A raw body imitates a proxy/gateway page: only an explicit code gets the header.
            if let Some(v) = f.error_code.as_deref().and_then(header_value) {
                resp.headers_mut().insert(ERROR_CODE, v);
            }
            resp
        }
        None => {
            let message = f
                .message
                .clone()
                .unwrap_or_else(|| default_message(status.as_u16(), &f.headers));
            let body = error_body(
                request_id,
                &code,
                &message,
                None,
                is_retriable(status.as_u16()),
            );
            let bytes = serde_json::to_vec(&body).unwrap_or_default();
            let mut resp = base(status, request_id, JSON_CONTENT_TYPE, bytes);
            if let Some(v) = header_value(&code) {
                resp.headers_mut().insert(ERROR_CODE, v);
            }
            resp
        }
    };
    apply_extra_headers(resp.headers_mut(), &f.headers);
    resp
}

/// Adds `extra`; a name present in `extra` replaces the default of that name. Invalid names or
/// values are skipped.
fn apply_extra_headers(headers: &mut HeaderMap, extra: &[(String, String)]) {
    let parsed: Vec<(HeaderName, HeaderValue)> = extra
        .iter()
        .filter_map(|(k, v)| {
            let name = HeaderName::from_bytes(k.trim().as_bytes()).ok()?;
            Some((name, header_value(v)?))
        })
        .collect();
    for (name, _) in &parsed {
        headers.remove(name);
    }
    for (name, value) in parsed {
        headers.append(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_headers_override_and_append() {
        let f = Fault {
            status: 502,
            error_code: None,
            message: None,
            headers: vec![
                ("Content-Type".into(), "text/plain".into()),
                ("X-A".into(), "1".into()),
                ("X-A".into(), "2".into()),
                ("bad header".into(), "x".into()),
            ],
            raw_body: Some("<html>Bad gateway</html>".into()),
            count: 1,
        };
        let r = fault(&f);
        assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(r.headers()[CONTENT_TYPE], "text/plain");
        assert_eq!(r.headers().get_all("x-a").iter().count(), 2);
        assert!(r.headers().contains_key(REQUEST_ID));
        assert!(!r.headers().contains_key(ERROR_CODE));
    }

    #[test]
    fn defaults() {
        assert_eq!(default_error_code(429), "RequestBlocked");
        assert_eq!(default_error_code(418), "Error");
        let m = default_message(429, &[("Retry-After".into(), "53".into())]);
        assert!(
            m.starts_with("Request is blocked by the upstream service until: "),
            "{m}"
        );
        assert!(m.ends_with("AM") || m.ends_with("PM"), "{m}");
    }
}
