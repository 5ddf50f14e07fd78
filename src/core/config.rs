//! Client settings, validated once at construction.

use crate::core::error::{Error, Result};
use crate::core::limiter::RateLimit;
use crate::core::retry::RetryPolicy;
use std::path::PathBuf;
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
    /// Per request: connect + send + full response.
    pub timeout: Duration,
    /// For a whole listing, all pages and retries included.
    pub deadline: Option<Duration>,
    pub retry: RetryPolicy,
    pub max_body_bytes: usize,
    /// Extra trusted root certificates (PEM), for private CAs and TLS-inspecting proxies.
    pub ca_bundle: Option<PathBuf>,
    /// Client-side rate limit shared by all calls; `None` turns it off.
    pub rate_limit: Option<RateLimit>,
}

/// Fabric's documented Job Scheduler quota: 200 calls per minute per identity.
pub const DEFAULT_RATE_LIMIT: RateLimit = RateLimit {
    calls: 200,
    period: Duration::from_secs(60),
};

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
    /// Defaults for everything but the base URL.
    pub fn new(base_url: &str) -> Result<Self> {
        Ok(Self {
            base_url: parse_base_url(base_url)?,
            timeout: DEFAULT_TIMEOUT,
            deadline: None,
            retry: RetryPolicy::default(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            ca_bundle: None,
            rate_limit: Some(DEFAULT_RATE_LIMIT),
        })
    }

    /// Checks the values a caller may have set.
    pub fn validate(&self) -> Result<()> {
        let positive = |name: &str, d: Duration| {
            if d.is_zero() {
                Err(Error::InvalidArgument(format!(
                    "{name} must be a positive number of seconds"
                )))
            } else {
                Ok(())
            }
        };
        positive("timeout", self.timeout)?;
        if let Some(deadline) = self.deadline {
            positive("deadline", deadline)?;
        }
        if let Some(limit) = self.rate_limit {
            positive("rate_limit_period", limit.period)?;
            if limit.calls == 0 {
                return Err(Error::InvalidArgument(
                    "rate_limit must be at least 1 call per period (or None to turn it off)"
                        .to_owned(),
                ));
            }
        }
        if self.max_body_bytes == 0 {
            return Err(Error::InvalidArgument(
                "max_body_bytes must be at least 1".to_owned(),
            ));
        }
        Ok(())
    }
}

/// Seconds from Python (or a CLI) as a `Duration`: finite and not negative.
pub fn seconds(name: &str, value: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        Error::InvalidArgument(format!(
            "{name} must be a non-negative number of seconds, got {value}"
        ))
    })
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
    fn bad_durations_are_refused() {
        let mut config = ClientConfig::new(DEFAULT_BASE_URL).unwrap();
        assert!(config.validate().is_ok());
        config.timeout = Duration::ZERO;
        assert!(config.validate().is_err());
        assert!(seconds("timeout", -1.0).is_err());
        assert!(seconds("timeout", f64::NAN).is_err());
        assert_eq!(
            seconds("timeout", 1.5).ok(),
            Some(Duration::from_millis(1500))
        );
    }
}
