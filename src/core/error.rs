//! The one error type of the core. The Python layer maps each variant to one exception class
//! (see `python/fabric_jobs/errors.py` for the documented tree).

use crate::core::models::ErrorResponse;
use std::fmt;
use std::time::Duration;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// A caller-supplied value is unusable (not a GUID, bad base URL, ...). Python: `ValueError`.
    #[error("{0}")]
    InvalidArgument(String),

    /// The service answered with a non-2xx status.
    #[error("{0}")]
    Api(Box<ApiError>),

    /// The request could not be sent or the connection broke before a full response arrived.
    #[error("could not reach {url}: {cause}. Check the network, proxy settings and base_url.")]
    Connection {
        url: String,
        cause: String,
        /// Retrying cannot help (the server's TLS certificate was rejected, say).
        permanent: bool,
    },

    /// No complete response within the configured timeout.
    #[error("no response from {url} within {:.1} s (timeout). Retry, or raise `timeout=`.", .after.as_secs_f64())]
    Timeout { url: String, after: Duration },

    /// A 2xx response whose body is not what the API documents.
    #[error("invalid response from {url}{}: {detail}", request_id_suffix(.request_id))]
    InvalidResponse {
        url: String,
        request_id: Option<String>,
        detail: String,
    },

    /// The service handed back the continuation it was just given: following it would loop forever.
    #[error("the service returned the same continuation token again ({token:?}) at {url}; stopping instead of looping forever. The listing may be incomplete; retry later.")]
    RepeatedContinuation { url: String, token: String },

    /// The whole listing ran past its `deadline`.
    #[error("the listing did not finish within its deadline of {:.1} s (at {url}). Raise `deadline=`, or resume later from `continuation_token`.", .deadline.as_secs_f64())]
    Deadline { url: String, deadline: Duration },

    /// The credential or token provider failed to hand out a token.
    #[error("could not get a token: {message}")]
    Credential {
        message: String,
        /// The provider's own error, kept so the Python layer can chain the original exception.
        cause: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
    },

    /// Something inside the client failed (runtime could not start, ...).
    #[error("internal error: {0}")]
    Internal(String),
}

fn request_id_suffix(request_id: &Option<String>) -> String {
    request_id
        .as_deref()
        .map(|id| format!(" (request id {id})"))
        .unwrap_or_default()
}

/// Everything known about a non-2xx response.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub method: String,
    /// The request URL; it never holds the token (the token travels in a header).
    pub url: String,
    /// The parsed Fabric error body, when the body was one.
    pub body: Option<ErrorResponse>,
    /// From the body, else the `RequestId` header.
    pub request_id: Option<String>,
    /// `Retry-After` in seconds.
    pub retry_after: Option<f64>,
    pub headers: Vec<(String, String)>,
    /// A short excerpt of a body that is not a Fabric error (an HTML proxy page, say).
    pub text_excerpt: Option<String>,
}

impl ApiError {
    pub fn error_code(&self) -> Option<&str> {
        self.body.as_ref().and_then(|b| b.error_code.as_deref())
    }

    pub fn message(&self) -> Option<&str> {
        self.body.as_ref().and_then(|b| b.message.as_deref())
    }

    /// What the user can do about it, by status.
    fn advice(&self) -> &'static str {
        match self.status {
            400 => "Check the arguments (ids, continuation token).",
            401 => "The token is missing, invalid or expired: get a new one (audience https://api.fabric.microsoft.com/.default).",
            403 => "The identity lacks permission on this workspace or item.",
            404 => "Check the workspace and item ids, and that the identity can see them.",
            408 => "The service timed out; retry later.",
            409 => "The resource is in a conflicting state.",
            429 => "Throttled by Fabric (200 Job Scheduler calls per minute per identity); wait and retry.",
            500..=599 => "A Fabric service error; retry later.",
            _ => "",
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {} from {} {}", self.status, self.method, self.url)?;
        match (self.error_code(), self.message()) {
            (Some(code), Some(msg)) => write!(f, ": {code}: {msg}")?,
            (Some(code), None) => write!(f, ": {code}")?,
            (None, Some(msg)) => write!(f, ": {msg}")?,
            (None, None) => {
                if let Some(text) = &self.text_excerpt {
                    write!(f, ": {text:?}")?;
                }
            }
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        if let Some(seconds) = self.retry_after {
            write!(f, " Retry after {seconds} s.")?;
        }
        let advice = self.advice();
        if !advice.is_empty() {
            write!(f, " {advice}")?;
        }
        Ok(())
    }
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        Error::Api(Box::new(e))
    }
}
