//! The one paging engine. Both Python iterators (sync and async) drive a [`Pager`].
//!
//! Rules (see NOTES.md: peers break on each of these):
//! - follow `continuationUri` when present and on the same origin as `base_url`;
//! - otherwise build the next request from `continuationToken`, without encoding an
//!   already-encoded token again;
//! - stop when neither is present (absent, null and "" alike);
//! - a continuation equal to the one just used is an error, not an endless loop;
//! - the cursor advances only after a page was received and parsed completely, so an error or a
//!   cancelled request leaves the pager where it was and the next call retries the same page.

use crate::core::client::Client;
use crate::core::config::same_origin;
use crate::core::error::{Error, Result};
use crate::core::models::{body_text, Envelope, Page, PageItem, ScannedPage};
use crate::core::token_encoding::{encode_query_value, raw_query_param};
use std::time::{Duration, Instant};
use url::Url;

pub const TOKEN_PARAM: &str = "continuationToken";

#[derive(Debug, Clone)]
enum Cursor {
    /// The next request to send and the continuation token it carries (None for the first page).
    Next {
        url: Url,
        token: Option<String>,
    },
    Done,
    /// The last page was delivered, but its continuation cannot be followed.
    Broken(Error),
}

#[derive(Debug, Clone)]
pub struct Pager {
    client: Client,
    first_url: Url,
    cursor: Cursor,
    /// When the whole listing must be done, fixed by the first request.
    deadline: Option<(Instant, Duration)>,
}

/// A received page, checked and scanned, whose items are not parsed yet.
#[derive(Debug)]
pub struct RawPage {
    url: String,
    request_id: Option<String>,
    body: String,
    scanned: ScannedPage,
}

impl RawPage {
    /// Parses the items (CPU work, no I/O).
    pub fn parse<T: PageItem>(&self) -> Result<Page<T>> {
        self.scanned
            .page(&self.body)
            .map_err(|detail| Error::InvalidResponse {
                url: self.url.clone(),
                request_id: self.request_id.clone(),
                detail,
            })
    }
}

/// `first_url` with `continuationToken=<token>` appended (other query parameters kept).
pub fn url_with_token(first_url: &Url, token: &str) -> Url {
    let mut url = first_url.clone();
    let pair = format!("{TOKEN_PARAM}={}", encode_query_value(token));
    let query = match first_url.query() {
        Some(existing) if !existing.is_empty() => format!("{existing}&{pair}"),
        _ => pair,
    };
    // `set_query` leaves `%XX` escapes alone, which is what keeps the token single-encoded.
    url.set_query(Some(&query));
    url
}

impl Pager {
    pub fn new(client: Client, first_url: Url, resume_token: Option<&str>) -> Self {
        let cursor = match resume_token.filter(|t| !t.trim().is_empty()) {
            Some(token) => Cursor::Next {
                url: url_with_token(&first_url, token),
                token: Some(token.to_owned()),
            },
            None => Cursor::Next {
                url: first_url.clone(),
                token: None,
            },
        };
        Self {
            client,
            first_url,
            cursor,
            deadline: None,
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(self.cursor, Cursor::Done)
    }

    /// The token that resumes this listing at the next page not yet received
    /// (`None` at the end, or before the first page of a listing started from scratch).
    pub fn continuation_token(&self) -> Option<String> {
        match &self.cursor {
            Cursor::Next { token, .. } => token.clone(),
            Cursor::Done | Cursor::Broken(_) => None,
        }
    }

    /// The request for the next page, or `None` when the listing is complete.
    fn next_request(&mut self) -> Result<Option<(Url, Option<String>)>> {
        let (url, token) = match &self.cursor {
            Cursor::Done => return Ok(None),
            Cursor::Broken(error) => return Err(error.clone()),
            Cursor::Next { url, token } => (url.clone(), token.clone()),
        };
        if self.deadline.is_none() {
            self.deadline = self
                .client
                .config()
                .deadline
                .map(|total| (Instant::now() + total, total));
        }
        Ok(Some((url, token)))
    }

    fn advance(&mut self, used_url: &Url, used_token: Option<&str>, envelope: &Envelope) {
        self.cursor = self.follow(
            used_url,
            used_token,
            envelope.continuation_token.as_deref(),
            envelope.continuation_uri.as_deref(),
        );
    }

    /// Fetches the next page; `Ok(None)` once the listing is complete.
    pub async fn next_page<T: PageItem>(&mut self) -> Result<Option<Page<T>>> {
        let Some((url, token)) = self.next_request()? else {
            return Ok(None);
        };
        let received = self.client.get(&url, self.deadline).await?;
        let page = Page::<T>::parse(&received.body).map_err(|detail| Error::InvalidResponse {
            url: url.to_string(),
            request_id: received.request_id.clone(),
            detail,
        })?;
        self.advance(&url, token.as_deref(), &page.envelope());
        Ok(Some(page))
    }

    /// Fetches the next page and reads only its continuation, so the request after it can be
    /// sent while this page's items are parsed ([`RawPage::parse`]). Unlike
    /// [`Pager::next_page`] the cursor moves on before the items were checked: a caller that
    /// finds them invalid restores a clone of the pager taken before this call.
    pub async fn next_raw_page(&mut self) -> Result<Option<RawPage>> {
        let Some((url, token)) = self.next_request()? else {
            return Ok(None);
        };
        let received = self.client.get(&url, self.deadline).await?;
        let request_id = received.request_id;
        let scanned = body_text(received.body).and_then(|body| {
            let scanned = ScannedPage::scan(&body)?;
            Ok((body, scanned))
        });
        let (body, scanned) = scanned.map_err(|detail| Error::InvalidResponse {
            url: url.to_string(),
            request_id: request_id.clone(),
            detail,
        })?;
        self.advance(&url, token.as_deref(), &scanned.envelope);
        Ok(Some(RawPage {
            url: url.to_string(),
            request_id,
            body,
            scanned,
        }))
    }

    /// Where the listing goes after a page that came from `used_url` carrying `used_token`.
    fn follow(
        &self,
        used_url: &Url,
        used_token: Option<&str>,
        token: Option<&str>,
        uri: Option<&str>,
    ) -> Cursor {
        if token.is_none() && uri.is_none() {
            return Cursor::Done;
        }
        let uri_token = uri.and_then(|u| raw_query_param(u, TOKEN_PARAM));
        let next_token = token.or(uri_token);
        let repeated = match (used_token, next_token) {
            (Some(used), Some(next)) => used == next,
            _ => false,
        } || uri == Some(used_url.as_str());
        if repeated {
            return Cursor::Broken(Error::RepeatedContinuation {
                url: used_url.to_string(),
                token: next_token.or(uri).unwrap_or_default().to_owned(),
            });
        }
        if let Some(uri) = uri {
            let base = &self.client.config().base_url;
            match base.join(uri) {
                Ok(next_url) if same_origin(base, &next_url) => {
                    return Cursor::Next {
                        url: next_url,
                        token: next_token.map(str::to_owned),
                    }
                }
                _ if token.is_some() => {} // fall back to the token on base_url below
                _ => {
                    return Cursor::Broken(Error::InvalidResponse {
                        url: used_url.to_string(),
                        request_id: None,
                        detail: format!(
                            "continuationUri {uri:?} is not on {base} and there is no continuationToken; the bearer token is not sent to other hosts, so the listing stops here incomplete"
                        ),
                    })
                }
            }
        }
        match token {
            Some(token) => Cursor::Next {
                url: url_with_token(&self.first_url, token),
                token: Some(token.to_owned()),
            },
            None => Cursor::Done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::auth::StaticToken;
    use crate::core::config::ClientConfig;
    use crate::core::observe::Silent;
    use crate::core::secret::Secret;
    use std::sync::Arc;

    fn client() -> Client {
        let config = ClientConfig::new("https://api.fabric.microsoft.com/v1").unwrap();
        Client::new(
            config,
            Arc::new(StaticToken(Secret::new("t"))),
            Arc::new(Silent),
        )
        .unwrap()
    }

    const FIRST: &str = "https://api.fabric.microsoft.com/v1/workspaces/4b218778-e7a5-4d73-8187-f10824047715/items/431e8d7b-4a95-4c02-8ccd-6faef5ba1bd7/jobs/instances";

    fn pager() -> Pager {
        Pager::new(client(), Url::parse(FIRST).unwrap(), None)
    }

    fn next_url(cursor: &Cursor) -> Option<String> {
        match cursor {
            Cursor::Next { url, .. } => Some(url.to_string()),
            _ => None,
        }
    }

    fn first() -> Url {
        Url::parse(FIRST).unwrap()
    }

    #[test]
    fn stops_when_neither_is_present() {
        assert!(matches!(
            pager().follow(&first(), None, None, None),
            Cursor::Done
        ));
    }

    #[test]
    fn token_only_builds_the_url_without_double_encoding() {
        let c = pager().follow(&first(), None, Some("LDEsMTAwMDAwLDA%3D"), None);
        assert_eq!(
            next_url(&c),
            Some(format!("{FIRST}?continuationToken=LDEsMTAwMDAwLDA%3D"))
        );
    }

    #[test]
    fn raw_base64_token_is_encoded_once() {
        let c = pager().follow(&first(), None, Some("ab+c/d=="), None);
        assert_eq!(
            next_url(&c),
            Some(format!("{FIRST}?continuationToken=ab%2Bc/d%3D%3D"))
        );
    }

    #[test]
    fn uri_is_followed_when_present() {
        let uri = format!("{FIRST}?continuationToken=LDEsMTAwMDAwLDA%3D&extra=1");
        let c = pager().follow(&first(), None, None, Some(&uri));
        assert_eq!(next_url(&c), Some(uri));
        if let Cursor::Next { token, .. } = c {
            assert_eq!(token.as_deref(), Some("LDEsMTAwMDAwLDA%3D"));
        }
    }

    #[test]
    fn uri_wins_over_token() {
        let uri = format!("{FIRST}?continuationToken=B");
        let c = pager().follow(&first(), None, Some("A"), Some(&uri));
        assert_eq!(next_url(&c), Some(uri));
    }

    #[test]
    fn foreign_uri_falls_back_to_token_or_stops_with_an_error() {
        let evil = "https://evil.example/v1/steal?continuationToken=X";
        let c = pager().follow(&first(), None, Some("X"), Some(evil));
        assert_eq!(next_url(&c), Some(format!("{FIRST}?continuationToken=X")));
        let c = pager().follow(&first(), None, None, Some(evil));
        assert!(matches!(c, Cursor::Broken(Error::InvalidResponse { .. })));
        let downgrade = FIRST.replace("https", "http");
        let c = pager().follow(&first(), None, None, Some(&downgrade));
        assert!(matches!(c, Cursor::Broken(_)));
    }

    #[test]
    fn repeated_token_or_uri_is_an_error() {
        let c = pager().follow(&first(), Some("T"), Some("T"), None);
        assert!(matches!(
            c,
            Cursor::Broken(Error::RepeatedContinuation { .. })
        ));
        let used = url_with_token(&first(), "T");
        let c = pager().follow(&used, Some("T"), None, Some(used.as_str()));
        assert!(matches!(
            c,
            Cursor::Broken(Error::RepeatedContinuation { .. })
        ));
    }

    #[test]
    fn resume_token_starts_at_that_page() {
        let p = Pager::new(client(), first(), Some("LDEsMTAwMDAwLDA%3D"));
        assert_eq!(
            next_url(&p.cursor),
            Some(format!("{FIRST}?continuationToken=LDEsMTAwMDAwLDA%3D"))
        );
        assert_eq!(
            p.continuation_token().as_deref(),
            Some("LDEsMTAwMDAwLDA%3D")
        );
    }

    #[test]
    fn existing_query_parameters_are_kept() {
        let with_query = Url::parse("https://h/v1/workspaces/w/items?type=Notebook").unwrap();
        assert_eq!(
            url_with_token(&with_query, "a%3D").as_str(),
            "https://h/v1/workspaces/w/items?type=Notebook&continuationToken=a%3D"
        );
    }
}
