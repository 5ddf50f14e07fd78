//! End-to-end: a real server on 127.0.0.1 and a real reqwest client.

use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use uuid::Uuid;

use super::*;

const CT_JSON: &str = "application/json; charset=utf-8";

pub(super) fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

pub(super) struct Got {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Got {
    pub(super) fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap()
    }
}

pub(super) async fn get(url: &str, token: Option<&str>) -> Got {
    let mut req = client().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    Got {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        text: resp.text().await.unwrap(),
    }
}

pub(super) fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Checks the Fabric error shape and returns the body.
pub(super) fn assert_error(got: &Got, status: u16, code: &str) -> Value {
    assert_eq!(got.status, status, "{}", got.text);
    assert_eq!(header(&got.headers, "content-type"), Some(CT_JSON));
    assert_eq!(
        header(&got.headers, "x-ms-public-api-error-code"),
        Some(code)
    );
    let body = got.json();
    let request_id = header(&got.headers, "requestid").unwrap();
    Uuid::parse_str(request_id).unwrap();
    assert_eq!(body["requestId"], request_id);
    assert_eq!(body["errorCode"], code);
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(body["isRetriable"], status == 429 || status >= 500);
    body
}

pub(super) async fn seeded(config: EmulatorConfig, count: usize) -> (Emulator, Uuid, Uuid, String) {
    let emu = Emulator::start(config).await.unwrap();
    let state = emu.state();
    let ws = state.add_workspace(None);
    let item = state.add_item(ws, None, "Notebook", None).unwrap();
    state.generate_job_instances(ws, item, count, 42).unwrap();
    let url = format!(
        "{}/workspaces/{ws}/items/{item}/jobs/instances",
        emu.base_url()
    );
    (emu, ws, item, url)
}

/// Follows `continuationUri` to the end; returns (ids, pages).
pub(super) async fn follow_uris(first: &str) -> (Vec<String>, Vec<Value>) {
    let mut url = first.to_string();
    let mut ids = Vec::new();
    let mut pages = Vec::new();
    loop {
        let got = get(&url, Some("tok")).await;
        assert_eq!(got.status, 200, "{}", got.text);
        assert_eq!(header(&got.headers, "content-type"), Some(CT_JSON));
        Uuid::parse_str(header(&got.headers, "requestid").unwrap()).unwrap();
        let body = got.json();
        for v in body["value"].as_array().unwrap() {
            ids.push(v["id"].as_str().unwrap_or_default().to_string());
        }
        let next = body
            .get("continuationUri")
            .and_then(Value::as_str)
            .map(String::from);
        pages.push(body);
        match next {
            Some(n) => url = n,
            None => return (ids, pages),
        }
        assert!(pages.len() < 100, "runaway paging");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_follow_continuation_uri_to_the_end() {
    let (emu, ws, item, url) = seeded(EmulatorConfig::default(), 250).await;
    assert!(emu.base_url().starts_with("http://127.0.0.1:"));
    assert_eq!(
        emu.base_url(),
        format!("http://127.0.0.1:{}/v1", emu.port())
    );

    let (ids, pages) = follow_uris(&url).await;
    assert_eq!(pages.len(), 3);
    let stored = emu.state().job_instances(ws, item).unwrap();
    let expected: Vec<String> = stored
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, expected);
    // Non-last pages carry both keys, the token percent-encoded, the URI absolute.
    let token = pages[0]["continuationToken"].as_str().unwrap();
    assert!(token.ends_with("%3D"), "{token}");
    assert_eq!(
        pages[0]["continuationUri"],
        format!("{url}?continuationToken={token}")
    );
    let keys: Vec<&str> = pages[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["value", "continuationToken", "continuationUri"]);
    // Last page: both keys absent.
    let last = pages[2].as_object().unwrap();
    assert_eq!(last.keys().collect::<Vec<_>>(), ["value"]);
    assert_eq!(last["value"].as_array().unwrap().len(), 50);

    // The token route gives the same page as the URI route.
    let by_token = get(&format!("{url}?continuationToken={token}"), Some("tok")).await;
    assert_eq!(by_token.json()["value"], pages[1]["value"]);

    // Request log: raw query as received, auth recorded.
    let log = emu.state().requests();
    assert_eq!(log.len(), 4);
    assert_eq!(log[0].query, None);
    assert_eq!(
        log[1].query.as_deref(),
        Some(format!("continuationToken={token}").as_str())
    );
    assert!(log.iter().all(|r| r.authorized && r.method == "GET"));
    assert_eq!(
        log[0].path,
        format!("/v1/workspaces/{ws}/items/{item}/jobs/instances")
    );

    // Double-encoded token -> 400 InvalidContinuationToken.
    let double = token.replace("%3D", "%253D");
    let got = get(&format!("{url}?continuationToken={double}"), Some("tok")).await;
    assert_error(&got, 400, "InvalidContinuationToken");
    let got = get(&format!("{url}?continuationToken=garbage"), Some("tok")).await;
    assert_error(&got, 400, "InvalidContinuationToken");

    // Offset beyond the end: empty page, no continuation.
    let far = continuation::encode(10_000, 100);
    let got = get(&format!("{url}?continuationToken={far}"), Some("tok")).await;
    assert_eq!(got.json(), json!({"value": []}));

    emu.shutdown().await;
}

#[tokio::test]
async fn exact_boundary_and_raw_instances() {
    let emu = Emulator::start(EmulatorConfig {
        page_size: 2,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let state = emu.state();
    let ws = state.add_workspace(Some(
        Uuid::parse_str("4b218778-e7a5-4d73-8187-f10824047715").unwrap(),
    ));
    let item = state
        .add_item(ws, None, "Lakehouse", Some("lh".into()))
        .unwrap();
    let raw = vec![
        json!({"id": "a", "status": "Weird", "extra": {"x": [1, 2]}, "startTimeUtc": "2026-04-22T13:24:32.45"}),
        json!({"zzz": null, "aaa": 1}),
        json!({"id": "c"}),
        json!({}),
    ];
    state.add_job_instances(ws, item, raw.clone()).unwrap();
    let url = format!(
        "{}/workspaces/{}/items/{item}/jobs/instances",
        emu.base_url(),
        ws.to_string().to_uppercase()
    );
    let (_, pages) = follow_uris(&url).await;
    assert_eq!(pages.len(), 2);
    // Path ids echoed lower-case.
    assert!(pages[0]["continuationUri"]
        .as_str()
        .unwrap()
        .contains(&ws.to_string()));
    let served: Vec<Value> = pages
        .iter()
        .flat_map(|p| p["value"].as_array().unwrap().clone())
        .collect();
    assert_eq!(served, raw);
    // Byte-faithful key order.
    let text = get(&url, Some("t")).await.text;
    assert!(text.contains(r#"{"zzz":null,"aaa":1}"#), "{text}");
    emu.shutdown().await;
}

#[tokio::test]
async fn continuation_styles() {
    let (emu, _ws, _item, url) = seeded(
        EmulatorConfig {
            page_size: 10,
            continuation: ContinuationStyle::TokenOnly,
            ..EmulatorConfig::default()
        },
        25,
    )
    .await;
    let first = get(&url, Some("t")).await.json();
    assert!(first.get("continuationUri").is_none());
    assert!(first["continuationToken"].is_string());

    emu.state()
        .set_continuation_style(ContinuationStyle::UriOnly);
    let first = get(&url, Some("t")).await.json();
    assert!(first.get("continuationToken").is_none());
    assert!(first["continuationUri"].is_string());

    emu.state()
        .set_continuation_style(ContinuationStyle::RepeatToken);
    let first = get(&url, Some("t")).await.json();
    let token = first["continuationToken"].as_str().unwrap().to_string();
    assert_eq!(token, continuation::encode(10, 10));
    let second = get(first["continuationUri"].as_str().unwrap(), Some("t"))
        .await
        .json();
    assert_eq!(second["continuationToken"], token.as_str());
    assert_eq!(second["continuationUri"], first["continuationUri"]);

    // Page size changes take effect; the last page still ends paging.
    emu.state().set_page_size(100).unwrap();
    let only = get(&url, Some("t")).await.json();
    assert_eq!(only.as_object().unwrap().len(), 1);
    assert_eq!(only["value"].as_array().unwrap().len(), 25);
    emu.shutdown().await;
}

#[tokio::test]
async fn auth_and_not_found() {
    let (emu, ws, item, url) = seeded(EmulatorConfig::default(), 3).await;

    let got = get(&url, None).await;
    assert_error(&got, 401, "Unauthorized");
    assert_eq!(header(&got.headers, "www-authenticate"), Some("Bearer"));
    let got = client()
        .get(&url)
        .header("Authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(got.status().as_u16(), 401);

    emu.state().set_accepted_token(Some("secret".into()));
    assert_error(&get(&url, Some("other")).await, 401, "Unauthorized");
    assert_eq!(get(&url, Some("secret")).await.status, 200);
    emu.state().set_accepted_token(None);
    let log = emu.state().requests();
    assert_eq!(
        log.iter().map(|r| r.authorized).collect::<Vec<_>>(),
        [false, false, false, true]
    );

    let base = emu.base_url();
    let unknown = Uuid::new_v4();
    let got = get(
        &format!("{base}/workspaces/{unknown}/items/{item}/jobs/instances"),
        Some("t"),
    )
    .await;
    assert_error(&got, 404, "WorkspaceNotFound");
    let got = get(
        &format!("{base}/workspaces/{ws}/items/{unknown}/jobs/instances"),
        Some("t"),
    )
    .await;
    let body = assert_error(&got, 404, "ItemNotFound");
    assert_eq!(body["message"], "The requested item was not found");
    assert_eq!(
        body["relatedResource"],
        json!({"resourceId": unknown.to_string(), "resourceType": "Item"})
    );
    let got = get(
        &format!("{base}/workspaces/not-a-guid/items/{item}/jobs/instances"),
        Some("t"),
    )
    .await;
    assert_error(&got, 400, "InvalidParameter");
    let got = get(&format!("{base}/workspaces/{ws}/folders"), Some("t")).await;
    assert_error(&got, 404, "NotFound");
    let got = client().post(&url).bearer_auth("t").send().await.unwrap();
    assert_eq!(got.status().as_u16(), 405);
    assert_eq!(header(got.headers(), "allow"), Some("GET"));
    assert_eq!(
        header(got.headers(), "x-ms-public-api-error-code"),
        Some("MethodNotAllowed")
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn injected_faults() {
    let (emu, _ws, _item, url) = seeded(EmulatorConfig::default(), 3).await;
    let state = emu.state();
    state.fail_next(Fault {
        status: 429,
        error_code: None,
        message: None,
        headers: vec![("Retry-After".into(), "53".into())],
        raw_body: None,
        count: 2,
    });
    state.fail_next(Fault {
        status: 502,
        error_code: None,
        message: None,
        headers: vec![],
        raw_body: Some("<html><body>502 Bad Gateway</body></html>".into()),
        count: 1,
    });
    state.fail_next(Fault {
        status: 401,
        error_code: None,
        message: Some("custom".into()),
        headers: vec![],
        raw_body: None,
        count: 1,
    });

    for _ in 0..2 {
        // Faults come before auth: no token needed.
        let got = get(&url, None).await;
        let body = assert_error(&got, 429, "RequestBlocked");
        assert_eq!(header(&got.headers, "retry-after"), Some("53"));
        assert!(body["message"]
            .as_str()
            .unwrap()
            .starts_with("Request is blocked by the upstream service until: "));
    }
    let got = get(&url, Some("t")).await;
    assert_eq!(got.status, 502);
    assert_eq!(got.text, "<html><body>502 Bad Gateway</body></html>");
    assert_eq!(
        header(&got.headers, "content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(header(&got.headers, "requestid").is_some());

    let got = get(&format!("{}/nowhere", emu.base_url()), Some("t")).await;
    let body = assert_error(&got, 401, "TokenExpired");
    assert_eq!(body["message"], "custom");

    assert_eq!(get(&url, Some("t")).await.status, 200);
    assert_eq!(state.requests().len(), 5);
    emu.shutdown().await;
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let url = format!("{}/anything", emu.base_url());
    // Keep a connection alive across shutdown: it must not block it beyond the bound.
    let c = client();
    assert_eq!(
        c.get(&url)
            .bearer_auth("t")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    let started = std::time::Instant::now();
    emu.shutdown().await;
    assert!(started.elapsed() < std::time::Duration::from_millis(1500));
    assert!(client().get(&url).send().await.is_err());

    let bad = Emulator::start(EmulatorConfig {
        page_size: 0,
        ..EmulatorConfig::default()
    })
    .await;
    assert_eq!(bad.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
}
