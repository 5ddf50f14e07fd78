//! Client settings, validated once at construction.

use crate::core::error::{Error, Result};
use crate::core::secret::Secret;
use std::time::Duration;
use url::{Host, Url};

pub const DEFAULT_BASE_URL: &str = "https://api.fabric.microsoft.com/v1";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Refuse bodies larger than this instead of exhausting memory (a page is ~50 kB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Without a trailing slash, e.g. `https://api.fabric.microsoft.com/v1`.
    pub base_url: Url,
    pub token: Secret,
    /// Per request: connect + send + full response.
    pub timeout: Duration,
    pub max_body_bytes: usize,
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Parses and checks a base URL: https anywhere, plain http only to this machine, because
/// the bearer token must never cross a network in clear text.
pub fn parse_base_url(text: &str) -> Result<Url> {
    let trimmed = text.trim().trim_end_matches('/');
    let url = Url::parse(trimmed)
        .map_err(|e| Error::InvalidArgument(format!("base_url {text:?} is not a URL: {e}")))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::InvalidArgument(format!(
            "base_url {text:?} must not have a query or fragment; pass e.g. {DEFAULT_BASE_URL:?}"
        )));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(Error::InvalidArgument(format!(
            "base_url {text:?} uses plain http to another host; the bearer token would travel unencrypted. Use https (plain http is allowed only to localhost / 127.0.0.0/8 / ::1)."
        ))),
        other => Err(Error::InvalidArgument(format!(
            "base_url {text:?} has scheme {other:?}; use https"
        ))),
    }
}

/// True when `candidate` has the same scheme, host and port as `base`.
pub fn same_origin(base: &Url, candidate: &Url) -> bool {
    base.scheme() == candidate.scheme()
        && base.host() == candidate.host()
        && base.port_or_known_default() == candidate.port_or_known_default()
}

impl ClientConfig {
    pub fn new(base_url: &str, token: Secret, timeout: Duration) -> Result<Self> {
        if token.expose().trim().is_empty() {
            return Err(Error::InvalidArgument(
                "the token is empty; pass a Fabric bearer token (or set FABRIC_TOKEN)".to_owned(),
            ));
        }
        if timeout.is_zero() {
            return Err(Error::InvalidArgument(
                "timeout must be a positive number of seconds".to_owned(),
            ));
        }
        Ok(Self {
            base_url: parse_base_url(base_url)?,
            token,
            timeout,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_http_only_on_loopback() {
        for ok in [
            "https://api.fabric.microsoft.com/v1",
            "https://api.fabric.microsoft.com/v1/",
            "http://127.0.0.1:8080/v1",
            "http://127.5.6.7/v1",
            "http://localhost:1/v1",
            "http://[::1]:9/v1",
        ] {
            assert!(parse_base_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://api.fabric.microsoft.com/v1",
            "http://10.0.0.1/v1",
            "ftp://x/v1",
            "not a url",
            "https://h/v1?x=1",
        ] {
            assert!(
                matches!(parse_base_url(bad), Err(Error::InvalidArgument(_))),
                "{bad}"
            );
        }
        assert_eq!(
            parse_base_url("https://api.fabric.microsoft.com/v1/")
                .map(|u| u.to_string())
                .ok()
                .as_deref(),
            Some("https://api.fabric.microsoft.com/v1")
        );
    }

    #[test]
    fn origin_compares_scheme_host_and_port() {
        let base = Url::parse("https://api.fabric.microsoft.com/v1").unwrap();
        let same = Url::parse("https://api.fabric.microsoft.com:443/v1/x?y").unwrap();
        let other_host = Url::parse("https://evil.example/v1/x").unwrap();
        let other_scheme = Url::parse("http://api.fabric.microsoft.com/v1/x").unwrap();
        let other_port = Url::parse("https://api.fabric.microsoft.com:8443/v1/x").unwrap();
        assert!(same_origin(&base, &same));
        assert!(!same_origin(&base, &other_host));
        assert!(!same_origin(&base, &other_scheme));
        assert!(!same_origin(&base, &other_port));
    }

    #[test]
    fn empty_token_and_bad_timeout_are_refused() {
        assert!(ClientConfig::new(DEFAULT_BASE_URL, Secret::new(" "), DEFAULT_TIMEOUT).is_err());
        assert!(ClientConfig::new(DEFAULT_BASE_URL, Secret::new("t"), Duration::ZERO).is_err());
    }
}
