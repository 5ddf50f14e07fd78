//! Turning an HTTP response into bytes or an [`ApiError`].

use crate::core::error::{ApiError, Error, Result};
use crate::core::models::ErrorResponse;
use chrono::{DateTime, Utc};
use std::error::Error as _;

/// A fully received 2xx response.
#[derive(Debug)]
pub struct Received {
    pub body: Vec<u8>,
    pub request_id: Option<String>,
}

/// `Retry-After` as seconds: an integer (Fabric), a decimal, or an HTTP-date.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<f64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then_some(seconds);
    }
    let date = DateTime::parse_from_rfc2822(value).ok()?;
    let millis = (date.with_timezone(&Utc) - now).num_milliseconds().max(0);
    // Millisecond precision is plenty for a wait.
    Some(millis as f64 / 1000.0)
}

/// A short, single-line excerpt of a body that is not a Fabric error (HTML from a proxy, say).
pub fn excerpt(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.is_empty() {
        return None;
    }
    const LIMIT: usize = 200;
    Some(match collapsed.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}...", &collapsed[..cut]),
        None => collapsed,
    })
}

/// The full `source()` chain of a transport error, so "error sending request" says why.
pub fn describe_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// A TLS failure somewhere in the chain (an untrusted or mismatched certificate, a failed
/// handshake): the same request would fail the same way again.
fn is_tls_failure(cause: &(dyn std::error::Error + 'static)) -> bool {
    if cause.downcast_ref::<rustls::Error>().is_some() {
        return true;
    }
    // `io::Error::source()` skips the error it wraps, so look inside explicitly.
    cause
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
}

/// Maps a reqwest failure to `Timeout` or `Connection`.
pub fn transport_error(error: &reqwest::Error, url: &str, timeout: std::time::Duration) -> Error {
    let mut timed_out = error.is_timeout();
    let mut permanent = false;
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            timed_out |= io.kind() == std::io::ErrorKind::TimedOut;
        }
        permanent |= is_tls_failure(cause);
        source = cause.source();
    }
    if timed_out {
        Error::Timeout {
            url: url.to_owned(),
            after: timeout,
        }
    } else {
        // reqwest's own message only repeats the URL ("error sending request for url ...").
        let cause = match error.source() {
            Some(source) => describe_chain(source),
            None => describe_chain(error),
        };
        Error::Connection {
            url: url.to_owned(),
            cause,
            permanent,
        }
    }
}

fn header_string(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Reads the whole body (refusing more than `max_body_bytes`) and classifies the response.
pub async fn receive(
    mut response: reqwest::Response,
    method: &str,
    url: &str,
    max_body_bytes: usize,
    timeout: std::time::Duration,
) -> Result<Received> {
    let status = response.status().as_u16();
    let request_id = header_string(&response, "RequestId");
    let retry_after =
        header_string(&response, "Retry-After").and_then(|v| parse_retry_after(&v, Utc::now()));
    let success = (200..300).contains(&status);
    // Headers are only kept for errors (they go into the exception).
    let headers: Vec<(String, String)> = if success {
        Vec::new()
    } else {
        response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect()
    };

    let expected = response
        .content_length()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0);
    let mut body = Vec::with_capacity(expected.min(max_body_bytes));
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > max_body_bytes {
                    return Err(Error::InvalidResponse {
                        url: url.to_owned(),
                        request_id,
                        detail: format!(
                            "the response body is larger than the {max_body_bytes}-byte limit; refusing it"
                        ),
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => return Err(transport_error(&e, url, timeout)),
        }
    }

    if success {
        return Ok(Received { body, request_id });
    }

    let parsed = ErrorResponse::from_body(&body);
    let text_excerpt = match parsed {
        Some(_) => None,
        None => excerpt(&body),
    };
    let request_id = parsed
        .as_ref()
        .and_then(|b| b.request_id.clone())
        .or(request_id);
    Err(ApiError {
        status,
        method: method.to_owned(),
        url: url.to_owned(),
        body: parsed,
        request_id,
        retry_after,
        headers,
        text_excerpt,
    }
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn retry_after_forms() {
        let now = Utc.with_ymd_and_hms(2015, 10, 21, 7, 27, 0).unwrap();
        assert_eq!(parse_retry_after("53", now), Some(53.0));
        assert_eq!(parse_retry_after(" 1.5 ", now), Some(1.5));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(60.0)
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(0.0)
        );
        assert_eq!(parse_retry_after("-3", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("NaN", now), None);
    }

    #[test]
    fn excerpt_is_short_and_single_line() {
        let html = format!("<html>\n  <body>{}</body>\n</html>", "x".repeat(1000));
        let e = excerpt(html.as_bytes()).unwrap();
        assert!(e.starts_with("<html> <body>xxx"));
        assert!(e.chars().count() <= 203);
        assert_eq!(excerpt(b"  \n "), None);
    }
}
