//! Python token sources: azure-identity style credentials and plain callables.

use crate::core::auth::{AccessToken, TokenProvider, FABRIC_SCOPE};
use crate::core::error::{Error, Result};
use crate::core::secret::Secret;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};
use std::fmt;
use std::sync::Arc;

/// A Python exception raised by a credential, carried through the core so the binding can
/// chain the original exception.
#[derive(Debug)]
pub struct PythonCause(pub PyErr);

impl fmt::Display for PythonCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Python::attach(|py| {
            let name = self
                .0
                .get_type(py)
                .name()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "Exception".to_owned());
            write!(f, "{name}: {}", self.0.value(py))
        })
    }
}

impl std::error::Error for PythonCause {}

fn credential_error(context: &str, error: PyErr) -> Error {
    let cause = PythonCause(error);
    Error::Credential {
        message: format!("{context} raised {cause}"),
        cause: Some(Arc::new(cause)),
    }
}

fn malformed(context: &str, what: &str) -> Error {
    Error::Credential {
        message: format!("{context} returned {what}; expected a token string, an AccessToken (with .token and .expires_on) or a (token, expires_on) tuple"),
        cause: None,
    }
}

/// Reads `str`, `(token, expires_on)` or an object with `.token` / `.expires_on`.
fn read_token(context: &str, value: &Bound<'_, PyAny>) -> Result<AccessToken> {
    if let Ok(text) = value.cast::<PyString>() {
        let token: String = text.extract().map_err(|e| credential_error(context, e))?;
        return Ok(AccessToken::from_token(Secret::new(token)));
    }
    let (token, expires_on) = if let Ok(pair) = value.cast::<PyTuple>() {
        if pair.len() < 2 {
            return Err(malformed(
                context,
                "a tuple that is not (token, expires_on)",
            ));
        }
        (
            pair.get_item(0).map_err(|e| credential_error(context, e))?,
            pair.get_item(1).map_err(|e| credential_error(context, e))?,
        )
    } else {
        match (value.getattr("token"), value.getattr("expires_on")) {
            (Ok(token), Ok(expires_on)) => (token, expires_on),
            _ => {
                let type_name = value
                    .get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default();
                return Err(malformed(
                    context,
                    &format!("an object of type {type_name}"),
                ));
            }
        }
    };
    let token: String = token
        .extract()
        .map_err(|_| malformed(context, "a token that is not a string"))?;
    let expires_on: Option<i64> = if expires_on.is_none() {
        None
    } else {
        Some(
            expires_on
                .extract::<f64>()
                .map_err(|_| malformed(context, "an expires_on that is not a number"))?
                as i64,
        )
    };
    let mut access = AccessToken::from_token(Secret::new(token));
    if expires_on.is_some() {
        access.expires_on = expires_on;
    }
    Ok(access)
}

/// `credential=`: any object with `get_token(*scopes)` (azure-identity's TokenCredential).
pub struct CredentialProvider(pub Py<PyAny>);

impl fmt::Debug for CredentialProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CredentialProvider")
    }
}

impl TokenProvider for CredentialProvider {
    fn get_token(&self) -> Result<AccessToken> {
        const CONTEXT: &str = "credential.get_token()";
        Python::attach(|py| {
            let value = self
                .0
                .bind(py)
                .call_method1("get_token", (FABRIC_SCOPE,))
                .map_err(|e| credential_error(CONTEXT, e))?;
            read_token(CONTEXT, &value)
        })
    }
}

/// `token_provider=`: a callable returning a token (or `(token, expires_on)` / an AccessToken).
pub struct CallableProvider(pub Py<PyAny>);

impl fmt::Debug for CallableProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallableProvider")
    }
}

impl TokenProvider for CallableProvider {
    fn get_token(&self) -> Result<AccessToken> {
        const CONTEXT: &str = "token_provider()";
        Python::attach(|py| {
            let value = self
                .0
                .bind(py)
                .call0()
                .map_err(|e| credential_error(CONTEXT, e))?;
            read_token(CONTEXT, &value)
        })
    }
}
