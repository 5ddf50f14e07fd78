//! End-to-end tests of the knobs: latency, quota, connection faults, the trailing-token quirk,
//! List Items and the request log's status/time. A real server and reqwest or raw sockets.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use uuid::Uuid;

use super::e2e_tests::{assert_error, client, follow_uris, get, header, seeded};
use super::*;

/// Sends one raw HTTP/1.1 GET and reads until the server closes (or `limit` passes).
/// Returns (bytes read, whether EOF was reached before the limit).
async fn raw_get(emu: &Emulator, path_and_query: &str, limit: Duration) -> (Vec<u8>, bool) {
    let mut stream = TcpStream::connect(("127.0.0.1", emu.port())).await.unwrap();
    let request = format!(
        "GET {path_and_query} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer raw\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    match tokio::time::timeout(limit, stream.read_to_end(&mut buf)).await {
        Ok(Ok(_)) => (buf, true),
        // A reset after the last byte still means the server closed it.
        Ok(Err(_)) => (buf, true),
        Err(_) => (buf, false),
    }
}

fn split_response(raw: &[u8]) -> (String, Vec<u8>) {
    let text = String::from_utf8_lossy(raw);
    let end = text.find("\r\n\r\n").expect("no end of headers");
    (text[..end].to_string(), raw[end + 4..].to_vec())
}

fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().unwrap())
        })
        .expect("no Content-Length")
}

fn path_of(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap();
    rest[rest.find('/').unwrap()..].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_delays_every_answer_and_log_has_status_and_time() {
    let (emu, _ws, _item, url) = seeded(EmulatorConfig::default(), 3).await;
    let state = emu.state();
    assert_eq!(state.latency(), Duration::ZERO);
    let started = Instant::now();
    assert_eq!(get(&url, Some("t")).await.status, 200);
    let fast = started.elapsed();

    state.set_latency(Duration::from_millis(300));
    for (token, status) in [(Some("t"), 200), (None, 401)] {
        let started = Instant::now();
        assert_eq!(get(&url, token).await.status, status);
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(300), "{took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
    }
    // Faults wait too.
    state.fail_next(Fault {
        status: 503,
        error_code: None,
        message: None,
        headers: vec![],
        raw_body: None,
        count: 1,
    });
    let started = Instant::now();
    assert_eq!(get(&url, Some("t")).await.status, 503);
    assert!(started.elapsed() >= Duration::from_millis(300));
    state.set_latency(Duration::ZERO);

    let log = state.requests();
    assert_eq!(
        log.iter().map(|r| r.status).collect::<Vec<_>>(),
        [200, 200, 401, 503]
    );
    assert!(log[0].at >= 0.0);
    assert!(log.windows(2).all(|w| w[0].at <= w[1].at));
    // `at` is the arrival: the second request arrived after the first was answered.
    assert!(log[1].at - log[0].at >= fast.as_secs_f64() * 0.5);
    assert!(log[2].at - log[1].at >= 0.29, "{log:?}");

    // A request still waiting is logged with status 0, and shutdown does not wait for it.
    state.set_latency(Duration::from_secs(30));
    let pending = tokio::spawn(async move { client().get(&url).bearer_auth("t").send().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(state.requests().last().unwrap().status, 0);
    let started = Instant::now();
    emu.shutdown().await;
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert!(pending.await.unwrap().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_blocks_per_token_and_recovers_after_the_window() {
    let (emu, _ws, _item, url) = seeded(EmulatorConfig::default(), 3).await;
    let state = emu.state();
    state.set_quota(Some(Quota {
        calls: 2,
        per: Duration::from_secs(1),
        retry_after: true,
    }));
    let window_started = Instant::now();
    assert_eq!(get(&url, Some("a")).await.status, 200);
    // Unauthenticated requests are not counted.
    assert_eq!(get(&url, None).await.status, 401);
    assert_eq!(get(&url, Some("a")).await.status, 200);
    for _ in 0..2 {
        let got = get(&url, Some("a")).await;
        let body = assert_error(&got, 429, "RequestBlocked");
        assert_eq!(header(&got.headers, "retry-after"), Some("1"));
        let message = body["message"].as_str().unwrap();
        let until = message
            .strip_prefix("Request is blocked by the upstream service until: ")
            .unwrap();
        // M/D/YYYY h:mm:ss AM/PM
        let parsed = chrono::NaiveDateTime::parse_from_str(until, "%m/%d/%Y %I:%M:%S %p");
        assert!(parsed.is_ok(), "{until}");
        assert_eq!(body["isRetriable"], true);
    }
    // Another identity has its own window.
    assert_eq!(get(&url, Some("b")).await.status, 200);

    // After the window: the 429s did not count, two calls again.
    let elapsed = window_started.elapsed();
    if elapsed < Duration::from_millis(1100) {
        tokio::time::sleep(Duration::from_millis(1100) - elapsed).await;
    }
    assert_eq!(get(&url, Some("a")).await.status, 200);
    assert_eq!(get(&url, Some("a")).await.status, 200);
    assert_eq!(get(&url, Some("a")).await.status, 429);

    // Without Retry-After.
    state.set_quota(Some(Quota {
        calls: 1,
        per: Duration::from_secs(60),
        retry_after: false,
    }));
    assert_eq!(get(&url, Some("a")).await.status, 200);
    let got = get(&url, Some("a")).await;
    assert_error(&got, 429, "RequestBlocked");
    assert_eq!(header(&got.headers, "retry-after"), None);

    // A long window rounds up.
    state.set_quota(Some(Quota {
        calls: 0,
        per: Duration::from_millis(59_500),
        retry_after: true,
    }));
    let got = get(&url, Some("c")).await;
    assert_eq!(header(&got.headers, "retry-after"), Some("60"));

    state.set_quota(None);
    assert_eq!(get(&url, Some("a")).await.status, 200);
    let statuses: Vec<u16> = state.requests().iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [200, 401, 200, 429, 429, 200, 200, 200, 429, 200, 429, 429, 200]
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_closes_the_connection_without_a_byte() {
    let (emu, ws, item, url) = seeded(EmulatorConfig::default(), 3).await;
    let state = emu.state();
    state.drop_next(2);
    let err = client()
        .get(&url)
        .bearer_auth("t")
        .send()
        .await
        .unwrap_err();
    assert!(err.status().is_none(), "{err:?}");
    assert!(!err.is_timeout(), "{err:?}");

    let path = format!("/v1/workspaces/{ws}/items/{item}/jobs/instances");
    let (bytes, closed) = raw_get(&emu, &path, Duration::from_secs(5)).await;
    assert!(closed);
    assert!(bytes.is_empty(), "{}", String::from_utf8_lossy(&bytes));

    // Then the queue is empty again, and the log says 0 for the dropped ones.
    assert_eq!(get(&url, Some("t")).await.status, 200);
    let statuses: Vec<u16> = state.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [0, 0, 200]);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncate_sends_half_the_announced_body() {
    let (emu, ws, item, url) = seeded(EmulatorConfig::default(), 20).await;
    let state = emu.state();
    let full = get(&url, Some("t")).await.text;

    state.truncate_next(1);
    let resp = client().get(&url).bearer_auth("t").send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.content_length(), Some(full.len() as u64));
    assert!(resp.bytes().await.is_err());

    state.truncate_next(1);
    let path = format!("/v1/workspaces/{ws}/items/{item}/jobs/instances");
    let (bytes, closed) = raw_get(&emu, &path, Duration::from_secs(5)).await;
    assert!(closed);
    let (head, body) = split_response(&bytes);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(content_length(&head), full.len());
    assert_eq!(body.len(), full.len() / 2);
    assert_eq!(&body[..], &full.as_bytes()[..full.len() / 2]);

    assert_eq!(get(&url, Some("t")).await.text, full);
    let statuses: Vec<u16> = state.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 200, 200]);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hang_never_answers_but_shutdown_is_fast() {
    let (emu, ws, item, url) = seeded(EmulatorConfig::default(), 3).await;
    let state = emu.state();
    state.hang_next(2);
    let impatient = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = impatient
        .get(&url)
        .bearer_auth("t")
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));

    // A second hung request stays open on a raw socket while others are served.
    let path = format!("/v1/workspaces/{ws}/items/{item}/jobs/instances");
    let mut stream = TcpStream::connect(("127.0.0.1", emu.port())).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = [0u8; 64];
    assert!(
        tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf))
            .await
            .is_err(),
        "a hung request was answered"
    );
    assert_eq!(get(&url, Some("t")).await.status, 200);
    let statuses: Vec<u16> = state.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [0, 0, 200]);

    let started = Instant::now();
    emu.shutdown().await;
    assert!(started.elapsed() < Duration::from_millis(1500));
    // The hung connection was closed without an answer.
    let n = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_of_all_kinds_share_one_queue() {
    let (emu, _ws, _item, url) = seeded(EmulatorConfig::default(), 3).await;
    let state = emu.state();
    state.inject_next(FaultKind::Drop, 1);
    state.fail_next(Fault {
        status: 500,
        error_code: None,
        message: None,
        headers: vec![],
        raw_body: None,
        count: 1,
    });
    state.inject_next(FaultKind::Truncate, 1);
    assert!(client().get(&url).bearer_auth("t").send().await.is_err());
    assert_eq!(get(&url, Some("t")).await.status, 500);
    let resp = client().get(&url).bearer_auth("t").send().await.unwrap();
    assert!(resp.bytes().await.is_err());
    assert_eq!(get(&url, Some("t")).await.status, 200);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trailing_token_quirk() {
    let (emu, ws, _item, url) = seeded(
        EmulatorConfig {
            page_size: 10,
            ..EmulatorConfig::default()
        },
        25,
    )
    .await;
    let state = emu.state();
    assert_eq!(state.trailing_token_quirk(), None);
    state.set_trailing_token_quirk(Some(400));
    let first = get(&url, Some("t")).await.json();
    let second = get(first["continuationUri"].as_str().unwrap(), Some("t"))
        .await
        .json();
    let last = get(second["continuationUri"].as_str().unwrap(), Some("t"))
        .await
        .json();
    assert_eq!(last["value"].as_array().unwrap().len(), 5);
    let token = last["continuationToken"].as_str().unwrap();
    assert_eq!(token, continuation::encode(25, 10));
    let trailing_uri = last["continuationUri"].as_str().unwrap().to_string();
    assert_eq!(trailing_uri, format!("{url}?continuationToken={token}"));
    assert_error(
        &get(&trailing_uri, Some("t")).await,
        400,
        "InvalidContinuationToken",
    );

    state.set_trailing_token_quirk(Some(404));
    let body = assert_error(&get(&trailing_uri, Some("t")).await, 404, "ItemNotFound");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));

    // Also on a single (empty) page.
    let empty = state.add_item(ws, None, "Notebook", None).unwrap();
    let empty_url = format!(
        "{}/workspaces/{ws}/items/{empty}/jobs/instances",
        emu.base_url()
    );
    let only = get(&empty_url, Some("t")).await.json();
    assert_eq!(only["value"], json!([]));
    let uri = only["continuationUri"].as_str().unwrap();
    assert_error(&get(uri, Some("t")).await, 404, "ItemNotFound");

    // Off again: the last page ends paging, as before.
    state.set_trailing_token_quirk(None);
    let (ids, pages) = follow_uris(&url).await;
    assert_eq!((ids.len(), pages.len()), (25, 3));
    assert_eq!(pages[2].as_object().unwrap().len(), 1);
    // The List Items API is not affected.
    state.set_trailing_token_quirk(Some(400));
    let items = get(
        &format!("{}/workspaces/{ws}/items", emu.base_url()),
        Some("t"),
    )
    .await
    .json();
    assert!(items.get("continuationToken").is_none());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_items_pages_filters_and_404s() {
    let emu = Emulator::start(EmulatorConfig {
        page_size: 2,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let state = emu.state();
    let ws = state.add_workspace(None);
    let mut ids = Vec::new();
    for item_type in [
        "DataPipeline",
        "Notebook",
        "DataPipeline",
        "Lakehouse",
        "DataPipeline",
    ] {
        ids.push(state.add_item(ws, None, item_type, None).unwrap());
    }
    state
        .set_item_details(ws, ids[1], Some("Nightly ETL".into()), Some(ws))
        .unwrap();
    let url = format!("{}/workspaces/{ws}/items", emu.base_url());
    let (got_ids, pages) = follow_uris(&url).await;
    assert_eq!(pages.len(), 3);
    let expected: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    assert_eq!(got_ids, expected);
    assert_eq!(
        pages[0]["value"][0],
        json!({
            "id": ids[0].to_string(),
            "type": "DataPipeline",
            "displayName": "Pipeline 1",
            "description": "",
            "workspaceId": ws.to_string(),
        })
    );
    let keys: Vec<&str> = pages[0]["value"][1]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "type",
            "displayName",
            "description",
            "workspaceId",
            "folderId"
        ]
    );
    assert_eq!(pages[0]["value"][1]["description"], "Nightly ETL");
    assert_eq!(pages[2]["value"][0]["displayName"], "Pipeline 3");
    let token = pages[0]["continuationToken"].as_str().unwrap();
    assert_eq!(
        pages[0]["continuationUri"],
        format!("{url}?continuationToken={token}")
    );
    assert_eq!(pages[2].as_object().unwrap().len(), 1);
    let all: Vec<Value> = pages
        .iter()
        .flat_map(|p| p["value"].as_array().unwrap().clone())
        .collect();
    assert_eq!(all, state.items(ws).unwrap());

    // Type filter: exact and case-sensitive; the continuation URI keeps it.
    let (pipelines, pages) = follow_uris(&format!("{url}?type=DataPipeline")).await;
    assert_eq!(
        pipelines,
        [
            expected[0].clone(),
            expected[2].clone(),
            expected[4].clone()
        ]
    );
    assert!(pages[0]["continuationUri"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{url}?type=DataPipeline&continuationToken=")));
    // The token with the filter gives the same second page.
    let token = pages[0]["continuationToken"].as_str().unwrap();
    let second = get(
        &format!("{url}?type=DataPipeline&continuationToken={token}"),
        Some("t"),
    )
    .await
    .json();
    assert_eq!(second["value"], pages[1]["value"]);
    let none = get(&format!("{url}?type=datapipeline"), Some("t"))
        .await
        .json();
    assert_eq!(none, json!({"value": []}));

    // Errors.
    let unknown = Uuid::new_v4();
    let body = assert_error(
        &get(
            &format!("{}/workspaces/{unknown}/items", emu.base_url()),
            Some("t"),
        )
        .await,
        404,
        "WorkspaceNotFound",
    );
    assert_eq!(body["relatedResource"]["resourceId"], unknown.to_string());
    assert_error(
        &get(
            &format!("{}/workspaces/nope/items", emu.base_url()),
            Some("t"),
        )
        .await,
        400,
        "InvalidParameter",
    );
    assert_error(
        &get(&format!("{url}?continuationToken=garbage"), Some("t")).await,
        400,
        "InvalidContinuationToken",
    );
    assert_error(&get(&url, None).await, 401, "Unauthorized");
    let resp = client().delete(&url).bearer_auth("t").send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 405);

    // Same knobs as every route: latency, faults, quota.
    state.drop_next(1);
    assert!(client().get(&url).bearer_auth("t").send().await.is_err());
    state.set_quota(Some(Quota {
        calls: 1,
        per: Duration::from_secs(60),
        retry_after: true,
    }));
    assert_eq!(get(&url, Some("q")).await.status, 200);
    assert_eq!(get(&url, Some("q")).await.status, 429);
    assert_eq!(
        path_of(&url),
        state.requests().last().map(|r| r.path.clone()).unwrap()
    );
    emu.shutdown().await;
}
