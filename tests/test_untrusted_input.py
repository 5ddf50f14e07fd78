"""A 2xx response is untrusted input: whatever its body (malformed or truncated JSON, the wrong
shapes, absurd item types, a huge body, bytes that are not UTF-8, a proxy's HTML page), the
client raises InvalidResponseError, a FabricError (never a Rust panic), whose message and
``request_id`` name the RequestId of that very response. Dict mode only needs a valid page
structure: items are handed over as they came.

The bad bodies are served by the emulator (``fail_next(200, body=...)`` with a known
``RequestId`` header); only bytes that are not UTF-8, which the emulator's ``body: str`` cannot
carry, come from the raw one-shot server of ``_helpers``.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
from _helpers import TOKEN, OneShotHttpServer, guid, http_response, ids_of, wire_job
from fabric_jobs import FabricError, InvalidResponseError, JobInstance, JobsClient

JSON = "application/json; charset=utf-8"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

#: Bodies whose page structure is broken: InvalidResponseError in object and dict mode.
BROKEN_PAGES = {
    "malformed JSON": '{"value": [}',
    "truncated JSON": json.dumps({"value": [wire_job(1), wire_job(2)]})[:150],
    "empty body": "",
    "whitespace only": "  \r\n ",
    "JSON null": "null",
    "JSON string": '"value"',
    "value is an object": json.dumps({"value": wire_job(1)}),
    "value is a string": '{"value": "[]"}',
    "value is a number": '{"value": 3}',
    "value is null": '{"value": null}',
    "value missing": "{}",
    "value missing, items instead": json.dumps({"items": [wire_job(1)]}),
    "continuationToken is a number": '{"value": [], "continuationToken": 5}',
    "continuationToken is an object": '{"value": [], "continuationToken": {"t": "x"}}',
    "continuationUri is a list": '{"value": [], "continuationUri": ["http://x"]}',
    "trailing garbage": '{"value": []} <html>',
    "NaN literal": '{"value": [NaN]}',
    "duplicate value key": '{"value": [], "value": [1]}',
    "nested 10000 deep": '{"value": [' + "[" * 10_000 + "]" * 10_000 + "]}",
    "number out of range": '{"value": [{"id": 1e999999}]}',
    "lone surrogate escape": '{"value": [{"id": "\\ud800"}]}',
    "byte order mark": '\ufeff{"value": []}',
}

#: Items of absurd types in an otherwise valid page: object mode refuses them, dict mode not.
ABSURD_ITEMS = {
    "id is a number": wire_job(1, id=7),
    "status is an object": wire_job(1, status={"value": "Completed"}),
    "startTimeUtc is a list": wire_job(1, startTimeUtc=[2024, 6, 22]),
    "endTimeUtc is a bool": wire_job(1, endTimeUtc=True),
    "jobType is a list": wire_job(1, jobType=["Pipeline"]),
    "startTimeUtc is not a time": wire_job(1, startTimeUtc="yesterday"),
    "item is a number": 42,
    "item is null": None,
    "item is a list": [wire_job(1)],
}


def make_client(emulator, **kwargs):
    return JobsClient(token=TOKEN, base_url=emulator.base_url, **kwargs)


def serve_once(emulator, body, *, content_type=JSON):
    """The next response is a 200 with ``body``; returns its RequestId."""
    request_id = str(uuid.uuid4())
    emulator.fail_next(
        200, body=body, headers={"RequestId": request_id, "Content-Type": content_type}
    )
    return request_id


def first_error(pager):
    """The exception the next item raises, whatever it is (a panic included)."""
    try:
        item = next(pager)
    except BaseException as exc:
        return exc
    pytest.fail(f"no exception; the first item was {item!r}")


def assert_invalid_response(exc, request_id, base_url):
    names = [cls.__name__ for cls in type(exc).__mro__]
    assert "PanicException" not in names, f"a Rust panic reached Python: {exc!r}"
    assert type(exc) is InvalidResponseError, f"{type(exc).__name__}: {exc}"
    assert isinstance(exc, FabricError)
    assert exc.request_id == request_id
    assert f"request id {request_id}" in str(exc)
    assert exc.url.startswith(base_url)
    assert TOKEN not in str(exc)


# ---------------------------------------------------------------- broken page structure


@pytest.mark.parametrize("as_dict", [False, True], ids=["objects", "dicts"])
@pytest.mark.parametrize("body", BROKEN_PAGES.values(), ids=BROKEN_PAGES.keys())
def test_broken_page_is_an_invalid_response(emulator, make_item, body, as_dict):
    item = make_item(3)
    emulator.clear_requests()
    request_id = serve_once(emulator, body)

    # Retries are on: an invalid 2xx body is not a transient failure and is not retried.
    client = make_client(emulator, max_retries=3, retry_backoff=0.01)
    pager = client.list_item_job_instances(item.workspace_id, item.item_id, as_dict=as_dict)
    exc = first_error(pager)

    assert_invalid_response(exc, request_id, emulator.base_url)
    assert len(emulator.requests) == 1


def test_truncated_json_names_its_own_request(emulator, make_item):
    """A real page cut in half (complete HTTP, incomplete JSON) on page 2."""
    emulator.set_page_size(4)
    item = make_item(10)
    real = json.dumps({"value": item.instances[4:8], "continuationToken": "x"})
    pager = make_client(emulator, max_retries=0).list_item_job_instances(
        item.workspace_id, item.item_id, prefetch=0
    )
    got = [next(pager) for _ in range(4)]
    request_id = serve_once(emulator, real[: len(real) // 2])

    exc = first_error(pager)

    assert_invalid_response(exc, request_id, emulator.base_url)
    assert "continuationToken=" in exc.url  # the URL of page 2, not page 1
    assert ids_of(got) == item.ids[:4]


@pytest.mark.parametrize("as_dict", [False, True], ids=["objects", "dicts"])
@pytest.mark.parametrize(
    "body",
    [
        json.dumps([[wire_job(1)]]),
        json.dumps([[wire_job(1)], "LDEsMTAwMDAwLDA%3D"]),
    ],
    ids=["[value]", "[value, token]"],
)
def test_top_level_array_is_not_a_page(emulator, make_item, body, as_dict):
    """The API documents a page as a JSON object. A top-level array must not be read as one
    (serde maps a sequence ``[value, continuationToken, continuationUri]`` onto the fields
    of a struct unless told not to)."""
    item = make_item(3)
    request_id = serve_once(emulator, body)
    pager = make_client(emulator, max_retries=0).list_item_job_instances(
        item.workspace_id, item.item_id, as_dict=as_dict
    )

    try:
        first = next(pager)
    except BaseException as exc:
        assert_invalid_response(exc, request_id, emulator.base_url)
    else:
        pytest.fail(f"the body {body[:40]}... was accepted as a page; first item: {first!r}")


def test_html_proxy_page_with_status_200(emulator, make_item):
    item = make_item(3)
    html = (
        "<!DOCTYPE html>\n<html><head><title>Sign in</title></head>\n"
        "<body><form action='/login'>Corporate proxy: please sign in</form></body></html>"
    )
    request_id = serve_once(emulator, html, content_type="text/html; charset=utf-8")
    pager = make_client(emulator, max_retries=3, retry_backoff=0.01).list_item_job_instances(
        item.workspace_id, item.item_id
    )

    exc = first_error(pager)

    assert_invalid_response(exc, request_id, emulator.base_url)
    assert len(emulator.requests) == 1


# ---------------------------------------------------------------- absurd item types


@pytest.mark.parametrize("bad", ABSURD_ITEMS.values(), ids=ABSURD_ITEMS.keys())
def test_absurd_item_fails_in_object_mode(emulator, make_item, bad):
    item = make_item(3)
    request_id = serve_once(emulator, json.dumps({"value": [wire_job(0), bad]}))
    pager = make_client(emulator, max_retries=0).list_item_job_instances(
        item.workspace_id, item.item_id
    )

    exc = first_error(pager)

    assert_invalid_response(exc, request_id, emulator.base_url)
    assert "item 1" in str(exc)  # says which item of the page is wrong


@pytest.mark.parametrize("bad", ABSURD_ITEMS.values(), ids=ABSURD_ITEMS.keys())
def test_absurd_item_is_handed_over_verbatim_in_dict_mode(emulator, make_item, bad):
    item = make_item(3)
    serve_once(emulator, json.dumps({"value": [wire_job(0), bad]}))
    pager = make_client(emulator, max_retries=0).list_item_job_instances(
        item.workspace_id, item.item_id, as_dict=True
    )

    assert list(pager) == [wire_job(0), bad]


def test_absurd_item_on_page_two_keeps_page_one(emulator, make_item):
    emulator.set_page_size(4)
    item = make_item(10)
    for as_dict in (False, True):
        pager = make_client(emulator, max_retries=0).list_item_job_instances(
            item.workspace_id, item.item_id, as_dict=as_dict, prefetch=0
        )
        got = [next(pager) for _ in range(4)]
        bad_page = {"value": [wire_job(5, status={"x": 1}), wire_job(6, id=6)]}
        request_id = serve_once(emulator, json.dumps(bad_page))
        if as_dict:
            got.extend(pager)
            assert got[4:] == bad_page["value"]  # no token on the bad page: the listing ends
        else:
            exc = first_error(pager)
            assert_invalid_response(exc, request_id, emulator.base_url)
            assert all(isinstance(job, JobInstance) for job in got)
        assert ids_of(got[:4]) == item.ids[:4]


# ---------------------------------------------------------------- body size


def test_body_over_max_body_bytes_is_refused(emulator, make_item):
    emulator.set_page_size(50)
    item = make_item(50)
    body = json.dumps({"value": item.instances})
    assert len(body) > 2000
    request_id = serve_once(emulator, body)
    client = make_client(emulator, max_retries=3, retry_backoff=0.01, max_body_bytes=2000)
    listing = client.list_item_job_instances(item.workspace_id, item.item_id)
    emulator.clear_requests()

    exc = first_error(listing)

    assert_invalid_response(exc, request_id, emulator.base_url)
    assert "2000" in str(exc)
    assert len(emulator.requests) == 1  # refusing is not retried


@pytest.mark.parametrize("as_dict", [False, True], ids=["objects", "dicts"])
def test_real_page_over_max_body_bytes_is_refused(emulator, make_item, as_dict):
    emulator.set_page_size(50)
    item = make_item(50)
    client = make_client(emulator, max_retries=0, max_body_bytes=2000)

    exc = first_error(
        client.list_item_job_instances(item.workspace_id, item.item_id, as_dict=as_dict)
    )

    assert type(exc) is InvalidResponseError
    assert exc.request_id is not None
    assert UUID_RE.match(exc.request_id)
    assert f"request id {exc.request_id}" in str(exc)


def test_pages_under_max_body_bytes_still_work(emulator, make_item):
    emulator.set_page_size(2)
    item = make_item(7)  # each page is well under 2000 bytes
    client = make_client(emulator, max_retries=0, max_body_bytes=2000)

    assert ids_of(list(client.list_item_job_instances(item.workspace_id, item.item_id))) == (
        item.ids
    )


# ---------------------------------------------------------------- bytes that are not UTF-8

RAW_REQUEST_ID = "11111111-2222-3333-4444-555555555555"  # what http_response sends


@pytest.mark.parametrize(
    "body",
    [
        b'{"value": [{"id": "\xff\xfe"}]}',
        b'{"value": [{"status": "Compl\xe9ted"}]}',  # Latin-1, not UTF-8
        b'{"value": [], "continuationToken": "\xc3"}',  # a cut UTF-8 sequence
        b"\xff\xfe{\x00}\x00",  # UTF-16 with a BOM
    ],
    ids=["invalid bytes", "latin-1", "cut sequence", "utf-16"],
)
@pytest.mark.parametrize("as_dict", [False, True], ids=["objects", "dicts"])
def test_body_that_is_not_utf8_is_an_invalid_response(body, as_dict):
    with OneShotHttpServer(http_response("200 OK", body)) as server:
        client = JobsClient(token=TOKEN, base_url=server.base_url, max_retries=0)
        pager = client.list_item_job_instances(guid("w"), guid("i"), as_dict=as_dict)
        exc = first_error(pager)
    assert_invalid_response(exc, RAW_REQUEST_ID, server.base_url)
