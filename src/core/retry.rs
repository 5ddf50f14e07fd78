//! When to retry a request and how long to wait first.
//!
//! - 429: wait `Retry-After` (or the backoff when absent); 408, 500, 502, 503, 504 and transport
//!   failures on GET: exponential backoff with full jitter (a server `Retry-After` wins).
//! - At most `max_retries` retries; a single wait longer than `max_retry_wait` is not slept:
//!   the error is returned (a `ThrottledError` carries `retry_after`).

use crate::core::error::Error;
use backon::{BackoffBuilder, ExponentialBuilder};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_retries: u32,
    /// The longest single wait accepted.
    pub max_retry_wait: Duration,
    /// The first backoff ceiling; doubles each retry up to `backoff_cap`.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 5,
            max_retry_wait: Duration::from_secs(120),
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(60),
        }
    }
}

/// The exponential schedule of one request's retries (ceilings; full jitter is applied on top).
pub struct Backoff {
    schedule: backon::ExponentialBackoff,
}

impl RetryPolicy {
    pub fn backoff(&self) -> Backoff {
        Backoff {
            schedule: ExponentialBuilder::default()
                .with_min_delay(self.backoff_base)
                .with_max_delay(self.backoff_cap)
                .with_factor(2.0)
                .without_max_times()
                .build(),
        }
    }
}

impl Backoff {
    /// Full jitter: uniformly random in `[0, ceiling]`.
    pub fn next_wait(&mut self) -> Duration {
        let ceiling = self.schedule.next().unwrap_or_default();
        ceiling.mul_f64(fastrand::f64())
    }
}

/// Why a failed attempt may be retried, and the server's requested wait if it gave one.
#[derive(Debug, PartialEq)]
pub struct Retryable {
    pub reason: String,
    pub server_wait: Option<Duration>,
}

const RETRIED_STATUSES: [u16; 6] = [408, 429, 500, 502, 503, 504];

/// `Some` when `error` is worth another try of an idempotent request.
pub fn retryable(error: &Error, idempotent: bool) -> Option<Retryable> {
    match error {
        Error::Api(api) if RETRIED_STATUSES.contains(&api.status) => {
            // A 429 may come without Retry-After; then the backoff decides.
            let server_wait = api
                .retry_after
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64);
            let code = api.error_code().unwrap_or("no error code");
            Some(Retryable {
                reason: format!("HTTP {} {code}", api.status),
                server_wait,
            })
        }
        Error::Connection {
            cause,
            permanent: false,
            ..
        } if idempotent => Some(Retryable {
            reason: format!("connection failed: {cause}"),
            server_wait: None,
        }),
        Error::Timeout { after, .. } if idempotent => Some(Retryable {
            reason: format!("no response within {:.1} s", after.as_secs_f64()),
            server_wait: None,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::error::ApiError;

    fn api(status: u16, retry_after: Option<f64>) -> Error {
        ApiError {
            status,
            method: "GET".into(),
            url: "u".into(),
            body: None,
            request_id: None,
            retry_after,
            headers: vec![],
            text_excerpt: None,
        }
        .into()
    }

    #[test]
    fn classifies_statuses() {
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(retryable(&api(status, None), true).is_some(), "{status}");
        }
        for status in [400, 401, 403, 404, 409, 501] {
            assert!(retryable(&api(status, None), true).is_none(), "{status}");
        }
        assert_eq!(
            retryable(&api(429, Some(53.0)), true).map(|r| r.server_wait),
            Some(Some(Duration::from_secs(53)))
        );
    }

    #[test]
    fn transport_failures_only_for_idempotent_requests() {
        let conn = Error::Connection {
            url: "u".into(),
            cause: "reset".into(),
            permanent: false,
        };
        assert!(retryable(&conn, true).is_some());
        assert!(retryable(&conn, false).is_none());
        let untrusted_certificate = Error::Connection {
            url: "u".into(),
            cause: "invalid peer certificate: UnknownIssuer".into(),
            permanent: true,
        };
        assert!(retryable(&untrusted_certificate, true).is_none());
        let invalid = Error::InvalidResponse {
            url: "u".into(),
            request_id: None,
            detail: "x".into(),
        };
        assert!(retryable(&invalid, true).is_none());
    }

    #[test]
    fn backoff_is_full_jitter_under_a_doubling_ceiling() {
        let policy = RetryPolicy {
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_millis(800),
            ..RetryPolicy::default()
        };
        let mut samples = [Duration::ZERO; 6];
        for _ in 0..200 {
            let mut backoff = policy.backoff();
            for (i, s) in samples.iter_mut().enumerate() {
                let wait = backoff.next_wait();
                let ceiling = Duration::from_millis((100u64 << i).min(800));
                assert!(wait <= ceiling, "retry {i}: {wait:?} > {ceiling:?}");
                *s = (*s).max(wait);
            }
        }
        // Over 200 runs the largest sample gets close to each ceiling.
        assert!(samples[0] > Duration::from_millis(80));
        assert!(samples[5] > Duration::from_millis(640));
    }
}
