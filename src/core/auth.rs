//! Where the bearer token comes from, and caching it.
//!
//! A [`TokenProvider`] may be slow (azure-identity goes to the network) and may block, so it is
//! called on a blocking thread, at most once at a time, and only when the cached token is missing,
//! within 5 minutes of expiry, or was just rejected with `401 TokenExpired`.

use crate::core::error::{Error, Result};
use crate::core::secret::Secret;
use base64::Engine;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The scope Fabric tokens are requested for.
pub const FABRIC_SCOPE: &str = "https://api.fabric.microsoft.com/.default";

/// Refresh this long before the token expires.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessToken {
    pub token: Secret,
    /// Unix seconds; `None` when unknown (then the token is kept until the service rejects it).
    pub expires_on: Option<i64>,
}

impl AccessToken {
    /// A token whose expiry is read from its JWT `exp` claim when it is a JWT.
    pub fn from_token(token: Secret) -> Self {
        let expires_on = jwt_expiry(token.expose());
        Self { token, expires_on }
    }

    fn is_fresh(&self, now: i64) -> bool {
        match self.expires_on {
            Some(expires_on) => now + (REFRESH_MARGIN.as_secs() as i64) < expires_on,
            None => true,
        }
    }
}

/// Something that hands out bearer tokens. May block; called on a blocking thread.
pub trait TokenProvider: Send + Sync + fmt::Debug {
    fn get_token(&self) -> Result<AccessToken>;

    /// False for a fixed token: asking again after a 401 would return the same one.
    fn can_refresh(&self) -> bool {
        true
    }
}

/// `token="..."`: one fixed token.
#[derive(Debug)]
pub struct StaticToken(pub Secret);

impl TokenProvider for StaticToken {
    fn get_token(&self) -> Result<AccessToken> {
        Ok(AccessToken::from_token(self.0.clone()))
    }

    fn can_refresh(&self) -> bool {
        false
    }
}

/// Trims surrounding whitespace (a token read from a file ends with a newline) and checks the
/// rest can travel in an `Authorization` header.
pub fn normalize_token(token: &str) -> Result<Secret> {
    let trimmed = token.trim();
    if trimmed.is_empty() {
        return Err(Error::InvalidArgument(
            "the token is empty; pass a Fabric bearer token".to_owned(),
        ));
    }
    if let Some(bad) = trimmed.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(Error::InvalidArgument(format!(
            "the token contains a character that cannot be sent in an HTTP header ({:?}); pass the bare bearer token",
            bad.escape_default().to_string()
        )));
    }
    Ok(Secret::new(trimmed))
}

/// The `exp` claim of a JWT (no signature check: only used to decide when to refresh).
pub fn jwt_expiry(token: &str) -> Option<i64> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("exp")?.as_i64()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Caches the provider's token; shared by all requests of one client.
#[derive(Debug)]
pub struct TokenCache {
    provider: Arc<dyn TokenProvider>,
    cached: tokio::sync::Mutex<Option<AccessToken>>,
}

impl TokenCache {
    pub fn new(provider: Arc<dyn TokenProvider>) -> Self {
        Self {
            provider,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    pub fn can_refresh(&self) -> bool {
        self.provider.can_refresh()
    }

    async fn fetch(&self) -> Result<AccessToken> {
        let provider = Arc::clone(&self.provider);
        let fetched = tokio::task::spawn_blocking(move || provider.get_token())
            .await
            .map_err(|e| Error::Internal(format!("the token provider task failed: {e}")))??;
        match normalize_token(fetched.token.expose()) {
            Ok(token) => Ok(AccessToken {
                token,
                expires_on: fetched.expires_on,
            }),
            Err(error) => Err(Error::Credential {
                message: format!(
                    "the credential or token_provider returned an unusable token: {error}"
                ),
                cause: None,
            }),
        }
    }

    /// A valid token: the cached one, or a new one when missing or about to expire.
    pub async fn token(&self) -> Result<Secret> {
        let mut cached = self.cached.lock().await;
        if let Some(current) = cached.as_ref() {
            if current.is_fresh(unix_now()) {
                return Ok(current.token.clone());
            }
        }
        let fresh = self.fetch().await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// After the service rejected `rejected` as expired: a new token, unless another request
    /// already replaced it meanwhile (then that one).
    pub async fn refresh(&self, rejected: &Secret) -> Result<Secret> {
        let mut cached = self.cached.lock().await;
        if let Some(current) = cached.as_ref() {
            if &current.token != rejected {
                return Ok(current.token.clone());
            }
        }
        let fresh = self.fetch().await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn jwt(exp: i64) -> String {
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.sig",
            engine.encode(br#"{"alg":"none"}"#),
            engine.encode(format!(
                r#"{{"aud":"https://api.fabric.microsoft.com","exp":{exp}}}"#
            ))
        )
    }

    #[test]
    fn tokens_are_trimmed_and_checked() {
        assert_eq!(normalize_token(" abc.def\n").unwrap().expose(), "abc.def");
        for bad in ["", " \n", "ab\ncd", "ab cd", "ab\u{0}", "tökén"] {
            let err = normalize_token(bad).unwrap_err().to_string();
            assert!(
                !err.contains(bad.trim()) || bad.trim().is_empty(),
                "token leaked: {err}"
            );
        }
    }

    #[test]
    fn reads_jwt_expiry() {
        assert_eq!(jwt_expiry(&jwt(1_900_000_000)), Some(1_900_000_000));
        assert_eq!(jwt_expiry("not-a-jwt"), None);
        assert_eq!(jwt_expiry("a.!!!.c"), None);
        assert_eq!(jwt_expiry(""), None);
    }

    #[derive(Debug)]
    struct Counting {
        calls: AtomicUsize,
        lifetime: i64,
    }

    impl TokenProvider for Counting {
        fn get_token(&self) -> Result<AccessToken> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(AccessToken {
                token: Secret::new(format!("token-{n}")),
                expires_on: Some(unix_now() + self.lifetime),
            })
        }
    }

    #[tokio::test]
    async fn caches_until_close_to_expiry_and_refreshes_once() {
        let provider = Arc::new(Counting {
            calls: AtomicUsize::new(0),
            lifetime: 3600,
        });
        let cache = TokenCache::new(provider.clone());
        for _ in 0..10 {
            assert_eq!(cache.token().await.unwrap().expose(), "token-0");
        }
        assert_eq!(provider.calls.load(Ordering::SeqCst), 1);
        let rejected = Secret::new("token-0");
        assert_eq!(cache.refresh(&rejected).await.unwrap().expose(), "token-1");
        // A second request that saw the same rejection reuses the refreshed token.
        assert_eq!(cache.refresh(&rejected).await.unwrap().expose(), "token-1");
        assert_eq!(provider.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_token_inside_the_margin_is_replaced() {
        let provider = Arc::new(Counting {
            calls: AtomicUsize::new(0),
            lifetime: 60, // expires in 1 minute: within the 5-minute margin
        });
        let cache = TokenCache::new(provider.clone());
        cache.token().await.unwrap();
        cache.token().await.unwrap();
        assert_eq!(provider.calls.load(Ordering::SeqCst), 2);
    }
}
