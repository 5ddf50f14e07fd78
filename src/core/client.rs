//! The HTTP client: one pooled connection set per process, one request per call.

use crate::core::config::ClientConfig;
use crate::core::error::{Error, Result};
use crate::core::ids::parse_guid;
use crate::core::paging::Pager;
use crate::core::response::{receive, transport_error, Received};
use std::sync::{Arc, Mutex};
use url::Url;

const USER_AGENT: &str = concat!("fabric-jobs/", env!("CARGO_PKG_VERSION"));

/// Cheap to clone; clones share the connection pool.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: ClientConfig,
    /// The reqwest client and the pid that built it: a forked child must not reuse the
    /// parent's pool (its connections and runtime threads are not there).
    http: Mutex<Option<(u32, reqwest::Client)>>,
}

impl Client {
    pub fn new(config: ClientConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                http: Mutex::new(None),
            }),
        }
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    fn http(&self) -> Result<reqwest::Client> {
        let pid = std::process::id();
        let mut slot = self
            .inner
            .http
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((owner, client)) = slot.as_ref() {
            if *owner == pid {
                return Ok(client.clone());
            }
        }
        let config = &self.inner.config;
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            // Fabric's GETs do not redirect; never carry the token somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Internal(format!("could not build the HTTP client: {e}")))?;
        *slot = Some((pid, client.clone()));
        Ok(client)
    }

    /// `GET url` with the bearer token; 2xx bodies come back whole, anything else as `Error::Api`.
    pub async fn get(&self, url: &Url) -> Result<Received> {
        let config = &self.inner.config;
        let shown_url = url.as_str();
        let response = self
            .http()?
            .get(url.clone())
            .bearer_auth(config.token.expose())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| transport_error(&e, shown_url, config.timeout))?;
        receive(
            response,
            "GET",
            shown_url,
            config.max_body_bytes,
            config.timeout,
        )
        .await
    }

    /// `{base_url}/{path}` where `path` has no leading slash.
    fn endpoint(&self, path: &str) -> Result<Url> {
        let base = self.inner.config.base_url.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}/{path}"))
            .map_err(|e| Error::InvalidArgument(format!("cannot build a URL for {path}: {e}")))
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
