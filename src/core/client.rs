//! The HTTP client: one connection pool per process, retries, token refresh, deadlines.

use crate::core::auth::{TokenCache, TokenProvider};
use crate::core::config::ClientConfig;
use crate::core::error::{Error, Result};
use crate::core::ids::parse_guid;
use crate::core::limiter::RateLimiter;
use crate::core::observe::{Observer, RequestEvent, RetryEvent};
use crate::core::paging::Pager;
use crate::core::response::{describe_chain, receive, transport_error, Received};
use crate::core::retry::retryable;
use crate::core::secret::Secret;
use crate::core::sync::lock;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use url::Url;

const USER_AGENT: &str = concat!("fabric-jobs/", env!("CARGO_PKG_VERSION"));

/// Cheap to clone; clones share the connection pool, the token cache and the settings.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: ClientConfig,
    tokens: TokenCache,
    observer: Arc<dyn Observer>,
    root_certificates: Vec<reqwest::Certificate>,
    limiter: Option<RateLimiter>,
    /// The reqwest client and the pid that built it: a forked child must not reuse the
    /// parent's pool (its connections and runtime threads are not there).
    http: Mutex<Option<(u32, reqwest::Client)>>,
}

fn read_ca_bundle(config: &ClientConfig) -> Result<Vec<reqwest::Certificate>> {
    let Some(path) = &config.ca_bundle else {
        return Ok(Vec::new());
    };
    let pem = std::fs::read(path).map_err(|e| {
        Error::InvalidArgument(format!("cannot read ca_bundle {}: {e}", path.display()))
    })?;
    let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        Error::InvalidArgument(format!(
            "ca_bundle {} is not a PEM certificate bundle: {}",
            path.display(),
            describe_chain(&e)
        ))
    })?;
    if certificates.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "ca_bundle {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certificates)
}

fn is_token_expired(error: &Error) -> bool {
    matches!(error, Error::Api(api) if api.status == 401 && api.error_code() == Some("TokenExpired"))
}

impl Client {
    pub fn new(
        config: ClientConfig,
        provider: Arc<dyn TokenProvider>,
        observer: Arc<dyn Observer>,
    ) -> Result<Self> {
        config.validate()?;
        let root_certificates = read_ca_bundle(&config)?;
        Ok(Self {
            inner: Arc::new(Inner {
                limiter: config.rate_limit.map(RateLimiter::new),
                config,
                tokens: TokenCache::new(provider),
                observer,
                root_certificates,
                http: Mutex::new(None),
            }),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    fn http(&self) -> Result<reqwest::Client> {
        let pid = std::process::id();
        let mut slot = lock(&self.inner.http);
        if let Some((owner, client)) = slot.as_ref() {
            if *owner == pid {
                return Ok(client.clone());
            }
        }
        let config = &self.inner.config;
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(config.timeout)
            // Fabric's GETs do not redirect; never carry the token somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .tls_certs_merge(self.inner.root_certificates.iter().cloned())
            .build()
            .map_err(|e| Error::Internal(format!("could not build the HTTP client: {e}")))?;
        *slot = Some((pid, client.clone()));
        Ok(client)
    }

    /// One attempt: send, read the whole body, classify. Also returns the status and request
    /// id whenever a response head arrived, for the log (even if the body then failed).
    async fn get_once(
        &self,
        url: &Url,
        token: &Secret,
        timeout: Duration,
    ) -> (Option<(u16, Option<String>)>, Result<Received>) {
        let shown_url = url.as_str();
        let http = match self.http() {
            Ok(http) => http,
            Err(error) => return (None, Err(error)),
        };
        let sent = http
            .get(url.clone())
            .bearer_auth(token.expose())
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(timeout)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => return (None, Err(transport_error(&e, shown_url, timeout))),
        };
        let head = Some((
            response.status().as_u16(),
            response
                .headers()
                .get("RequestId")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        ));
        let config = &self.inner.config;
        // The body read shares the attempt's time budget with the send.
        let result = receive(response, "GET", shown_url, config.max_body_bytes, timeout).await;
        (head, result)
    }

    /// `GET url` with the bearer token, retried per the policy; 2xx bodies come back whole,
    /// anything else as `Error::Api`. `deadline` bounds all attempts and waits together.
    pub async fn get(&self, url: &Url, deadline: Option<(Instant, Duration)>) -> Result<Received> {
        let config = &self.inner.config;
        let policy = &config.retry;
        let deadline_error = |total: Duration| Error::Deadline {
            url: url.to_string(),
            deadline: total,
        };
        let mut backoff = policy.backoff();
        let mut retries = 0u32;
        let mut refreshed = false;
        let mut token = self.inner.tokens.token().await?;
        loop {
            let mut timeout = config.timeout;
            let mut deadline_bound = false;
            if let Some((end, total)) = deadline {
                let left = end.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(deadline_error(total));
                }
                if left < timeout {
                    timeout = left;
                    deadline_bound = true;
                }
            }
            if let Some(limiter) = &self.inner.limiter {
                match deadline {
                    Some((end, total)) => {
                        tokio::time::timeout_at(end.into(), limiter.acquire())
                            .await
                            .map_err(|_| deadline_error(total))?;
                    }
                    None => limiter.acquire().await,
                }
            }
            let started = Instant::now();
            let (head, result) = self.get_once(url, &token, timeout).await;
            // A 429 without Retry-After: the backoff picks the wait, for this request's retry
            // and for the pause of every other call alike.
            let mut backoff_wait = None;
            if let Some(limiter) = &self.inner.limiter {
                match &result {
                    Err(Error::Api(api)) if api.status == 429 => {
                        let pause = match api.retry_after {
                            Some(seconds) => Duration::from_secs_f64(seconds),
                            None => *backoff_wait.insert(backoff.next_wait()),
                        };
                        limiter.throttled(Some(pause));
                    }
                    _ => {}
                }
            }
            // An error body's own request id wins over the header, as in the exception.
            let (status, request_id) = match (&result, &head) {
                (Err(Error::Api(api)), _) => (Some(api.status), api.request_id.as_deref()),
                (_, Some((status, request_id))) => (Some(*status), request_id.as_deref()),
                (_, None) => (None, None),
            };
            self.inner.observer.request(&RequestEvent {
                method: "GET",
                url: url.as_str(),
                status,
                elapsed: started.elapsed(),
                request_id,
                attempt: retries + 1,
            });
            let error = match result {
                Ok(received) => return Ok(received),
                Err(Error::Timeout { .. }) if deadline_bound => {
                    return Err(deadline_error(deadline.map(|d| d.1).unwrap_or_default()))
                }
                Err(error) => error,
            };
            if !refreshed && is_token_expired(&error) && self.inner.tokens.can_refresh() {
                refreshed = true;
                token = self.inner.tokens.refresh(&token).await?;
                continue;
            }
            let Some(why) = retryable(&error, true) else {
                return Err(error);
            };
            if retries >= policy.max_retries {
                return Err(error);
            }
            let wait = why
                .server_wait
                .or(backoff_wait)
                .unwrap_or_else(|| backoff.next_wait());
            if wait > policy.max_retry_wait {
                // Do not sleep for an unbounded time; the error carries `retry_after`.
                return Err(error);
            }
            if let Some((end, total)) = deadline {
                if Instant::now() + wait >= end {
                    return Err(deadline_error(total));
                }
            }
            retries += 1;
            self.inner.observer.retry(&RetryEvent {
                method: "GET",
                url: url.as_str(),
                reason: &why.reason,
                wait,
                retry: retries,
                max_retries: policy.max_retries,
            });
            tokio::time::sleep(wait).await;
        }
    }

    /// `{base_url}/{path}` where `path` has no leading slash.
    fn endpoint(&self, path: &str) -> Result<Url> {
        let base = self.inner.config.base_url.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}/{path}"))
            .map_err(|e| Error::InvalidArgument(format!("cannot build a URL for {path}: {e}")))
    }

    /// A pager over `GET /workspaces/{workspace}/items[?type=...]` (the Core "List Items" API).
    pub fn list_items(&self, workspace_id: &str, item_type: Option<&str>) -> Result<Pager> {
        let workspace = parse_guid("workspace_id", workspace_id)?;
        let mut url = self.endpoint(&format!("workspaces/{workspace}/items"))?;
        if let Some(item_type) = item_type {
            url.query_pairs_mut().append_pair("type", item_type);
        }
        Ok(Pager::new(self.clone(), url, None))
    }

    /// A pager over `GET /workspaces/{workspace}/items/{item}/jobs/instances`.
    /// Validates the ids now; no request is sent until the pager is driven.
    pub fn list_item_job_instances(
        &self,
        workspace_id: &str,
        item_id: &str,
        continuation_token: Option<&str>,
    ) -> Result<Pager> {
        let workspace = parse_guid("workspace_id", workspace_id)?;
        let item = parse_guid("item_id", item_id)?;
        let url = self.endpoint(&format!(
            "workspaces/{workspace}/items/{item}/jobs/instances"
        ))?;
        Ok(Pager::new(self.clone(), url, continuation_token))
    }
}
