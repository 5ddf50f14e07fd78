"""The emulator's knobs, driven through ``FabricEmulator`` and checked with the standard library
only (``http.client`` and raw sockets), independent of the fabric_jobs client."""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from fabric_jobs import cli
from fabric_jobs.testing import FabricEmulator

BLOCKED = re.compile(
    r"^Request is blocked by the upstream service until: "
    r"\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}:\d{2} (AM|PM)$"
)


class Answer:
    def __init__(self, response: http.client.HTTPResponse, body: bytes) -> None:
        self.status = response.status
        self.headers = response.headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


def _target(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _open(
    emulator: FabricEmulator, url: str, token: str | None, timeout: float
) -> http.client.HTTPConnection:
    conn = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=timeout)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    conn.request("GET", _target(url), headers=headers)
    return conn


def get(
    emulator: FabricEmulator, url: str, token: str | None = "t", timeout: float = 10.0
) -> Answer:
    conn = _open(emulator, url, token, timeout)
    try:
        response = conn.getresponse()
        return Answer(response, response.read())
    finally:
        conn.close()


def assert_error(answer: Answer, status: int, code: str) -> dict[str, Any]:
    assert answer.status == status, answer.body
    assert answer.headers["x-ms-public-api-error-code"] == code
    body: dict[str, Any] = answer.json()
    assert body["errorCode"] == code
    assert body["requestId"] == answer.headers["RequestId"]
    assert body["isRetriable"] is (status == 429 or status >= 500)
    return body


def follow(emulator: FabricEmulator, url: str) -> Iterator[dict[str, Any]]:
    """Yields every page, following continuationUri."""
    next_url: str | None = url
    for _ in range(100):
        if next_url is None:
            return
        answer = get(emulator, next_url)
        assert answer.status == 200, answer.body
        page: dict[str, Any] = answer.json()
        yield page
        next_url = page.get("continuationUri")
    raise AssertionError("runaway paging")


@pytest.fixture
def emulator() -> Iterator[FabricEmulator]:
    with FabricEmulator(page_size=10) as emu:
        yield emu


@pytest.fixture
def jobs_url(emulator: FabricEmulator) -> str:
    [(workspace, item)] = emulator.seed(jobs_per_item=25)
    return f"{emulator.base_url}/workspaces/{workspace}/items/{item}/jobs/instances"


def statuses(emulator: FabricEmulator) -> list[int]:
    return [record["status"] for record in emulator.requests]


# ---------------------------------------------------------------- latency


def test_latency_keyword_and_setter(jobs_url: str, emulator: FabricEmulator) -> None:
    emulator.set_latency(0.3)
    started = time.perf_counter()
    assert get(emulator, jobs_url).status == 200
    assert time.perf_counter() - started >= 0.3
    # Errors wait as well.
    started = time.perf_counter()
    assert get(emulator, jobs_url, token=None).status == 401
    assert time.perf_counter() - started >= 0.3
    emulator.set_latency(0)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="seconds"):
            emulator.set_latency(bad)

    with FabricEmulator(latency=0.25) as slow:
        started = time.perf_counter()
        assert get(slow, f"{slow.base_url}/nowhere").status == 404
        assert time.perf_counter() - started >= 0.25
    with pytest.raises(ValueError, match="latency"):
        FabricEmulator(latency=-0.5)


def test_close_does_not_wait_for_latency() -> None:
    emu = FabricEmulator(latency=30.0)
    conn = _open(emu, f"{emu.base_url}/nowhere", "t", timeout=10.0)
    time.sleep(0.2)
    started = time.perf_counter()
    emu.close()
    assert time.perf_counter() - started < 2.0
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        conn.getresponse()
    conn.close()


# ---------------------------------------------------------------- quota


def test_quota_429_retry_after_and_recovery(jobs_url: str, emulator: FabricEmulator) -> None:
    emulator.set_quota(2, 1.0)
    window_started = time.monotonic()
    assert get(emulator, jobs_url, token="a").status == 200
    assert get(emulator, jobs_url, token=None).status == 401  # not counted
    assert get(emulator, jobs_url, token="a").status == 200
    for _ in range(2):
        answer = get(emulator, jobs_url, token="a")
        body = assert_error(answer, 429, "RequestBlocked")
        assert answer.headers["Retry-After"] == "1"
        assert BLOCKED.match(body["message"]), body["message"]
    assert get(emulator, jobs_url, token="b").status == 200  # its own window

    time.sleep(max(0.0, 1.1 - (time.monotonic() - window_started)))
    # The 429s did not count: two calls again.
    assert [get(emulator, jobs_url, token="a").status for _ in range(3)] == [200, 200, 429]

    emulator.set_quota(1, 60, retry_after=False)
    assert get(emulator, jobs_url, token="a").status == 200
    answer = get(emulator, jobs_url, token="a")
    assert_error(answer, 429, "RequestBlocked")
    assert answer.headers["Retry-After"] is None

    emulator.set_quota(0, per_seconds=59.5)
    assert get(emulator, jobs_url, token="c").headers["Retry-After"] == "60"

    emulator.set_quota(None)
    assert get(emulator, jobs_url, token="a").status == 200
    assert statuses(emulator) == [200, 401, 200, 429, 429, 200, 200, 200, 429, 200, 429, 429, 200]
    with pytest.raises(ValueError, match="per_seconds"):
        emulator.set_quota(5, 0)


# ---------------------------------------------------------------- connection faults


def test_drop_next_closes_without_a_byte(jobs_url: str, emulator: FabricEmulator) -> None:
    emulator.drop_next()
    conn = _open(emulator, jobs_url, "t", timeout=5.0)
    with pytest.raises(http.client.RemoteDisconnected):
        conn.getresponse()
    conn.close()

    emulator.drop_next(count=1)
    raw = socket.create_connection(("127.0.0.1", emulator.port), timeout=5.0)
    with raw:
        raw.sendall(f"GET {_target(jobs_url)} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert raw.recv(1024) == b""

    assert get(emulator, jobs_url).status == 200
    assert statuses(emulator) == [0, 0, 200]


def test_truncate_next_sends_half_the_body(jobs_url: str, emulator: FabricEmulator) -> None:
    full = get(emulator, jobs_url).body
    emulator.truncate_next()
    conn = _open(emulator, jobs_url, "t", timeout=5.0)
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Length") == str(len(full))
    with pytest.raises(http.client.IncompleteRead) as caught:
        response.read()
    assert caught.value.partial == full[: len(full) // 2]
    conn.close()
    assert get(emulator, jobs_url).body == full
    assert statuses(emulator) == [200, 200, 200]


def test_hang_next_times_out_and_close_is_fast() -> None:
    emu = FabricEmulator()
    [(workspace, item)] = emu.seed(jobs_per_item=3)
    url = f"{emu.base_url}/workspaces/{workspace}/items/{item}/jobs/instances"
    emu.hang_next(count=2)
    conn = _open(emu, url, "t", timeout=0.3)
    started = time.perf_counter()
    with pytest.raises(socket.timeout):
        conn.getresponse()
    assert time.perf_counter() - started < 2.0
    conn.close()

    # Another hung request stays open while the emulator serves others.
    raw = socket.create_connection(("127.0.0.1", emu.port), timeout=0.3)
    request = f"GET {_target(url)} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n\r\n"
    raw.sendall(request.encode())
    with pytest.raises(socket.timeout):
        raw.recv(1024)
    assert get(emu, url).status == 200
    assert statuses(emu) == [0, 0, 200]

    started = time.perf_counter()
    emu.close()
    assert time.perf_counter() - started < 2.0
    raw.settimeout(2.0)
    with contextlib.suppress(ConnectionResetError):
        assert raw.recv(1024) == b""  # closed unanswered
    raw.close()


def test_faults_share_one_fifo_queue(jobs_url: str, emulator: FabricEmulator) -> None:
    emulator.fail_next(503, count=2, headers={"Retry-After": "7"})
    emulator.drop_next()
    emulator.fail_next(500)
    answer = get(emulator, jobs_url, token=None)  # faults come before auth
    assert_error(answer, 503, "ServiceUnavailable")
    assert answer.headers["Retry-After"] == "7"
    assert get(emulator, jobs_url).status == 503
    with pytest.raises(http.client.RemoteDisconnected):
        get(emulator, jobs_url)
    assert get(emulator, jobs_url).status == 500
    assert get(emulator, jobs_url).status == 200
    assert statuses(emulator) == [503, 503, 0, 500, 200]


# ---------------------------------------------------------------- trailing-token quirk


def test_trailing_token_quirk(jobs_url: str, emulator: FabricEmulator) -> None:
    emulator.set_trailing_token_quirk(400)
    first = get(emulator, jobs_url).json()
    second = get(emulator, first["continuationUri"]).json()
    last = get(emulator, second["continuationUri"]).json()
    assert len(last["value"]) == 5
    assert last["continuationToken"]
    assert last["continuationUri"].endswith(f"continuationToken={last['continuationToken']}")
    assert_error(get(emulator, last["continuationUri"]), 400, "InvalidContinuationToken")

    emulator.set_trailing_token_quirk(404)
    assert_error(get(emulator, last["continuationUri"]), 404, "ItemNotFound")

    emulator.set_trailing_token_quirk(None)
    pages = list(follow(emulator, jobs_url))
    assert len(pages) == 3
    assert set(pages[-1]) == {"value"}
    with pytest.raises(ValueError, match="status"):
        emulator.set_trailing_token_quirk(42)


# ---------------------------------------------------------------- List Items


def test_list_items(emulator: FabricEmulator) -> None:
    emulator.set_page_size(2)
    workspace = emulator.add_workspace()
    folder = str(uuid.uuid4())
    types = ["DataPipeline", "Notebook", "DataPipeline", "Lakehouse", "DataPipeline"]
    ids = [emulator.add_item(workspace, item_type=t) for t in types]
    emulator.add_item(
        workspace, ids[1], item_type="Notebook", description="Nightly ETL", folder_id=folder
    )
    url = f"{emulator.base_url}/workspaces/{workspace}/items"

    pages = list(follow(emulator, url))
    assert len(pages) == 3
    served = [item for page in pages for item in page["value"]]
    assert [item["id"] for item in served] == ids
    assert served == emulator.items(workspace)
    assert served[0] == {
        "id": ids[0],
        "type": "DataPipeline",
        "displayName": "Pipeline 1",
        "description": "",
        "workspaceId": workspace,
    }
    assert served[1]["folderId"] == folder
    assert served[1]["description"] == "Nightly ETL"
    assert served[1]["displayName"] == "Notebook 1"
    assert served[4]["displayName"] == "Pipeline 3"
    assert pages[0]["continuationUri"] == (
        f"{url}?continuationToken={pages[0]['continuationToken']}"
    )

    pipelines = list(follow(emulator, f"{url}?type=DataPipeline"))
    assert [i["id"] for p in pipelines for i in p["value"]] == [ids[0], ids[2], ids[4]]
    assert "type=DataPipeline&" in pipelines[0]["continuationUri"]
    assert get(emulator, f"{url}?type=datapipeline").json() == {"value": []}

    unknown = str(uuid.uuid4())
    body = assert_error(
        get(emulator, f"{emulator.base_url}/workspaces/{unknown}/items"),
        404,
        "WorkspaceNotFound",
    )
    assert body["relatedResource"]["resourceId"] == unknown
    assert_error(get(emulator, url, token=None), 401, "Unauthorized")
    with pytest.raises(ValueError, match="unknown workspace"):
        emulator.items(unknown)


# ---------------------------------------------------------------- request log


def test_request_log_has_status_and_arrival_time(jobs_url: str, emulator: FabricEmulator) -> None:
    emulator.clear_requests()
    get(emulator, jobs_url)
    get(emulator, jobs_url, token=None)
    get(emulator, f"{emulator.base_url}/nowhere")
    log = emulator.requests
    assert [r["status"] for r in log] == [200, 401, 404]
    assert all(isinstance(r["at"], float) and r["at"] >= 0 for r in log)
    assert [r["at"] for r in log] == sorted(r["at"] for r in log)
    assert set(log[0]) == {"method", "path", "query", "authorized", "status", "at"}


# ---------------------------------------------------------------- CLI flags


def test_cli_emulator_flags_apply_knobs() -> None:
    args = cli._parser().parse_args(
        [
            "emulator",
            "--latency",
            "0.05",
            "--quota",
            "1/60",
            "--no-retry-after",
            "--fail-first",
            "1:503",
            "--drop-first",
            "1",
            "--truncate-first",
            "1",
            "--trailing-token-quirk",
            "404",
        ]
    )
    assert args.quota == (1, 60.0)
    assert args.fail_first == (1, 503)
    with FabricEmulator(page_size=10, latency=args.latency) as emu:
        [(workspace, item)] = emu.seed(jobs_per_item=3)
        notes = cli._apply_knobs(emu, args)
        assert len(notes) == 6
        url = f"{emu.base_url}/workspaces/{workspace}/items/{item}/jobs/instances"
        assert get(emu, url).status == 503
        with pytest.raises(http.client.RemoteDisconnected):
            get(emu, url)
        with pytest.raises(http.client.IncompleteRead):
            get(emu, url)
        answer = get(emu, url)
        assert_error(answer, 429, "RequestBlocked")
        assert answer.headers["Retry-After"] is None
        assert get(emu, url, token="other").json()["continuationToken"]


@pytest.mark.parametrize(
    "flags",
    [
        ["--quota", "200"],
        ["--quota", "x/60"],
        ["--quota", "10/0"],
        ["--fail-first", "3"],
        ["--fail-first", "3:99"],
        ["--drop-first", "-1"],
        ["--latency", "-2"],
        ["--trailing-token-quirk", "abc"],
    ],
)
def test_cli_rejects_bad_knob_values(flags: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli._parser().parse_args(["emulator", *flags])
    assert caught.value.code == 2
