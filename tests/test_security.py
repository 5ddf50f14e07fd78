"""Configuration and token safety: plain http only to loopback, the token never printed,
never sent to another origin, FABRIC_TOKEN handling, timeout validation."""

from __future__ import annotations

import pytest
from _helpers import TOKEN, OneShotHttpServer, drain, guid
from fabric_jobs import (
    AuthenticationError,
    FabricApiError,
    FabricError,
    InvalidResponseError,
    JobsClient,
    NotFoundError,
    ServerError,
)

# ---------------------------------------------------------------- base_url


@pytest.mark.parametrize(
    "base_url",
    [
        "http://example.com/v1",
        "http://api.fabric.microsoft.com/v1",
        "http://10.0.0.1/v1",
        "http://192.168.1.10:8080/v1",
        "http://localhost.evil.example/v1",
        "http://127.0.0.1.nip.io/v1",
        "ftp://127.0.0.1/v1",
        "file:///etc/passwd",
        "not a url",
        "",
        "https://api.fabric.microsoft.com/v1?x=1",
        "https://api.fabric.microsoft.com/v1#frag",
    ],
)
def test_unsafe_or_invalid_base_url_is_rejected(base_url):
    with pytest.raises(ValueError, match="base_url") as caught:
        JobsClient(token=TOKEN, base_url=base_url)
    assert TOKEN not in str(caught.value)


def test_plain_http_to_another_host_explains_why():
    with pytest.raises(ValueError, match="http") as caught:
        JobsClient(token=TOKEN, base_url="http://example.com/v1")
    assert "example.com" in str(caught.value)


@pytest.mark.parametrize(
    ("base_url", "normalised"),
    [
        ("http://127.0.0.1/v1", "http://127.0.0.1/v1"),
        ("http://127.0.0.1:8080/v1/", "http://127.0.0.1:8080/v1"),
        ("http://127.5.6.7:1/v1", "http://127.5.6.7:1/v1"),
        ("http://localhost/v1", "http://localhost/v1"),
        ("http://localhost:9/v1", "http://localhost:9/v1"),
        ("http://[::1]:9/v1", "http://[::1]:9/v1"),
        ("https://api.fabric.microsoft.com/v1", "https://api.fabric.microsoft.com/v1"),
        ("https://api.fabric.microsoft.com/v1/", "https://api.fabric.microsoft.com/v1"),
    ],
)
def test_https_anywhere_and_http_on_loopback_are_allowed(base_url, normalised):
    client = JobsClient(token=TOKEN, base_url=base_url)
    assert client.base_url == normalised


def test_default_base_url_is_the_fabric_api():
    assert JobsClient(token=TOKEN).base_url == "https://api.fabric.microsoft.com/v1"


def test_listing_through_localhost_works(emulator, make_item):
    emulator.set_page_size(3)
    item = make_item(8)
    client = JobsClient(token=TOKEN, base_url=f"http://localhost:{emulator.port}/v1")
    emulator.clear_requests()
    # Same-origin continuationUri is 127.0.0.1, not localhost: the token is followed instead.
    assert [job.id for job in client.list_item_job_instances(item.workspace_id, item.item_id)] == (
        item.ids
    )
    assert len(emulator.requests) == 3


def test_continuation_uri_on_another_origin_is_not_followed(emulator, make_item):
    """URI-only pages whose URI names another origin (127.0.0.1 vs localhost): the listing stops
    with InvalidResponseError instead of sending the bearer token elsewhere."""
    emulator.set_page_size(3)
    emulator.set_continuation("uri")
    item = make_item(8)
    client = JobsClient(token=TOKEN, base_url=f"http://localhost:{emulator.port}/v1")
    emulator.clear_requests()

    received = []
    with pytest.raises(InvalidResponseError) as caught:
        drain(client.list_item_job_instances(item.workspace_id, item.item_id), received)

    assert [job.id for job in received] == item.ids[:3]
    assert len(emulator.requests) == 1
    assert "continuationUri" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_redirects_are_not_followed(emulator, make_item):
    item = make_item(2)
    target = (
        f"{emulator.base_url}/workspaces/{item.workspace_id}/items/{item.item_id}/jobs/instances"
    )
    response = (
        "HTTP/1.1 302 Found\r\n"
        f"Location: {target}\r\n"
        "Content-Length: 0\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    emulator.clear_requests()

    with OneShotHttpServer(response) as server:
        client = JobsClient(token=TOKEN, base_url=server.base_url)
        with pytest.raises(FabricApiError) as caught:
            list(client.list_item_job_instances(item.workspace_id, item.item_id))
        received = list(server.received)

    assert caught.value.status_code == 302
    assert emulator.requests == [], "the redirect was followed (with the bearer token)"
    # The token travels in the Authorization header, never in the URL.
    [raw] = received
    request_line, _, headers = raw.decode("latin-1").partition("\r\n")
    assert TOKEN not in request_line
    assert f"authorization: bearer {TOKEN}".lower() in headers.lower()


def test_the_token_is_sent_as_a_bearer_header(make_emulator, make_item):
    emu = make_emulator(token=TOKEN)
    item = make_item(2, emu=emu)
    client = JobsClient(token=TOKEN, base_url=emu.base_url)
    assert len(list(client.list_item_job_instances(item.workspace_id, item.item_id))) == 2
    assert [r["authorized"] for r in emu.requests] == [True]
    assert all(TOKEN not in (r["query"] or "") + r["path"] for r in emu.requests)


# ---------------------------------------------------------------- the token is never printed


def test_token_not_in_reprs(emulator, client, make_item):
    emulator.set_page_size(2)
    item = make_item(3)
    pager = client.list_item_job_instances(item.workspace_id, item.item_id)
    pages = pager.by_page()
    page = next(pages)

    for text in (repr(client), str(client), repr(pager), repr(pages), repr(page), repr(page.items)):
        assert TOKEN not in text
    assert emulator.base_url in repr(client)


@pytest.mark.parametrize(
    ("status", "cls"), [(401, AuthenticationError), (404, NotFoundError), (500, ServerError)]
)
def test_token_not_in_api_exceptions(emulator, client, make_item, status, cls):
    item = make_item(1)
    emulator.fail_next(status)
    with pytest.raises(cls) as caught:
        list(client.list_item_job_instances(item.workspace_id, item.item_id))
    exc = caught.value
    assert TOKEN not in str(exc)
    assert TOKEN not in repr(exc)
    assert all(TOKEN not in repr(value) for value in vars(exc).values())


def test_token_not_in_validation_errors(client):
    for call, what in (
        (lambda: JobsClient(token=TOKEN, base_url="http://example.com/v1"), "base_url"),
        (lambda: JobsClient(token=TOKEN, timeout=-1), "timeout"),
        (lambda: client.list_item_job_instances("bad", guid("i")), "workspace_id"),
    ):
        with pytest.raises(ValueError, match=what) as caught:
            call()
        assert TOKEN not in str(caught.value)


# ---------------------------------------------------------------- token sources


def test_no_token_and_no_environment_variable_is_a_value_error(monkeypatch):
    monkeypatch.delenv("FABRIC_TOKEN", raising=False)
    with pytest.raises(ValueError, match="FABRIC_TOKEN"):
        JobsClient()


@pytest.mark.parametrize("empty", ["", "   "])
def test_empty_token_is_a_value_error(empty, monkeypatch):
    with pytest.raises(ValueError, match="token"):
        JobsClient(token=empty)
    monkeypatch.setenv("FABRIC_TOKEN", empty)
    with pytest.raises(ValueError, match="token"):
        JobsClient()


def test_token_from_the_environment_is_used(make_emulator, make_item, monkeypatch):
    emu = make_emulator(token="token-from-env")
    item = make_item(3, emu=emu)
    monkeypatch.setenv("FABRIC_TOKEN", "token-from-env")

    client = JobsClient(base_url=emu.base_url)

    assert len(list(client.list_item_job_instances(item.workspace_id, item.item_id))) == 3
    assert [r["authorized"] for r in emu.requests] == [True]
    assert "token-from-env" not in repr(client)


def test_explicit_token_beats_the_environment(make_emulator, make_item, monkeypatch):
    emu = make_emulator(token="explicit")
    item = make_item(1, emu=emu)
    monkeypatch.setenv("FABRIC_TOKEN", "from-env")

    client = JobsClient(token="explicit", base_url=emu.base_url)
    assert len(list(client.list_item_job_instances(item.workspace_id, item.item_id))) == 1

    env_client = JobsClient(base_url=emu.base_url)
    with pytest.raises(AuthenticationError):
        list(env_client.list_item_job_instances(item.workspace_id, item.item_id))


@pytest.mark.parametrize("bad", ["line\nbreak", "carriage\rreturn", "nul\x00byte"])
def test_token_that_cannot_travel_in_a_header_is_a_value_error(bad):
    """Invalid arguments are a ValueError before any request (errors.py), not a
    FabricConnectionError ("could not reach ... check the network") on the first request."""
    with pytest.raises(ValueError, match="token") as caught:
        JobsClient(token=TOKEN + bad)
    assert TOKEN not in str(caught.value)


def test_token_read_from_a_file_with_a_trailing_newline(make_emulator, make_item):
    """``JobsClient(token=Path("token.txt").read_text())`` is common. Stripping the newline or
    rejecting the token up front are both fine; a connection error is not."""
    emu = make_emulator(token=TOKEN)
    item = make_item(2, emu=emu)
    try:
        client = JobsClient(token=TOKEN + "\n", base_url=emu.base_url)
    except ValueError:
        return  # rejected before any request: fine
    jobs = list(client.list_item_job_instances(item.workspace_id, item.item_id))
    assert [job.id for job in jobs] == item.ids
    assert [r["authorized"] for r in emu.requests] == [True]


# ---------------------------------------------------------------- timeout


@pytest.mark.parametrize("timeout", [0, 0.0, -1, -0.5, float("nan"), float("inf")])
def test_invalid_timeout_is_a_value_error(timeout):
    with pytest.raises(ValueError, match="timeout"):
        JobsClient(token=TOKEN, timeout=timeout)


def test_timeout_is_kept():
    assert JobsClient(token=TOKEN, timeout=2.5).timeout == 2.5
    assert JobsClient(token=TOKEN).timeout == 60.0


def test_validation_errors_are_not_fabric_errors():
    # Invalid arguments are the caller's bug: a builtin ValueError, not a service error.
    with pytest.raises(ValueError, match=r"example\.com") as caught:
        JobsClient(token=TOKEN, base_url="http://example.com/v1")
    assert not isinstance(caught.value, FabricError)
