"""Paging with the sync iterators: sizes and order as stored, one request per page, every
continuation style, tokens sent back exactly as received, loop detection, resuming."""

from __future__ import annotations

import json
import urllib.parse

import pytest
from _helpers import (
    TOKEN,
    OneShotHttpServer,
    drain,
    guid,
    http_response,
    ids_of,
    listing_requests,
    page_count,
)
from fabric_jobs import (
    BadRequestError,
    JobInstance,
    JobsClient,
    Page,
    PagingError,
    ServerError,
)


def _continuation_queries(requests):
    return [r["query"] for r in requests[1:]]


# ---------------------------------------------------------------- the basics


def test_sync_iteration_yields_every_item_in_stored_order(emulator, client, make_item):
    emulator.set_page_size(10)
    item = make_item(35)

    jobs = list(client.list_item_job_instances(item.workspace_id, item.item_id))

    assert all(isinstance(job, JobInstance) for job in jobs)
    assert ids_of(jobs) == item.ids
    assert len(set(ids_of(jobs))) == 35
    assert [job.to_dict() for job in jobs] == item.instances


def test_each_page_is_requested_exactly_once(emulator, client, make_item):
    emulator.set_page_size(10)
    item = make_item(35)
    emulator.clear_requests()

    list(client.list_item_job_instances(item.workspace_id, item.item_id))

    requests = listing_requests(emulator)
    assert len(requests) == 4
    assert all(r["method"] == "GET" and r["path"] == item.path for r in requests)
    assert all(r["authorized"] for r in requests)
    assert requests[0]["query"] is None
    queries = [r["query"] for r in requests]
    assert len(set(queries)) == len(queries), f"a page was requested twice: {queries}"


def test_creating_a_pager_sends_no_request(emulator, client, make_item):
    item = make_item(5)
    emulator.clear_requests()

    pager = client.list_item_job_instances(item.workspace_id, item.item_id)
    pages = pager.by_page()
    assert iter(pager) is pager
    assert iter(pages) is pages
    assert pager.continuation_token is None

    assert emulator.requests == []
    next(pager)
    assert len(emulator.requests) == 1


def test_by_page_sizes_and_contents_match_storage(emulator, client, make_item):
    emulator.set_page_size(10)
    item = make_item(35)
    emulator.clear_requests()

    pages = list(client.list_item_job_instances(item.workspace_id, item.item_id).by_page())

    assert all(isinstance(page, Page) for page in pages)
    assert [len(page) for page in pages] == [10, 10, 10, 5]
    for number, page in enumerate(pages):
        assert isinstance(page.items, list)
        assert ids_of(page.items) == item.ids[number * 10 : (number + 1) * 10]
        assert ids_of(list(page)) == ids_of(page.items)
    assert len(emulator.requests) == 4


def test_page_tokens_are_the_tokens_of_the_next_requests(emulator, client, make_item):
    emulator.set_page_size(4)
    item = make_item(10)
    emulator.clear_requests()

    pages = list(client.list_item_job_instances(item.workspace_id, item.item_id).by_page())

    tokens = [page.continuation_token for page in pages]
    assert tokens[-1] is None
    assert all(token for token in tokens[:-1])
    assert _continuation_queries(emulator.requests) == [
        f"continuationToken={token}" for token in tokens[:-1]
    ]


def test_dict_mode_by_page_returns_wire_dicts(emulator, client, make_item):
    emulator.set_page_size(3)
    item = make_item(7)

    pages = list(
        client.list_item_job_instances(item.workspace_id, item.item_id, as_dict=True).by_page()
    )

    assert [len(page) for page in pages] == [3, 3, 1]
    assert [job for page in pages for job in page.items] == item.instances


def test_mixing_item_and_page_iteration_loses_nothing(emulator, client, make_item):
    emulator.set_page_size(10)
    item = make_item(25)
    emulator.clear_requests()

    pager = client.list_item_job_instances(item.workspace_id, item.item_id)
    first = next(pager)
    pages = list(pager.by_page())

    # The rest of the first page comes back as a page of its own, then the remaining pages.
    assert [len(page) for page in pages] == [9, 10, 5]
    assert [first.id] + [job.id for page in pages for job in page] == item.ids
    assert len(emulator.requests) == 3


def test_page_repr_shows_size_and_token(emulator, client, make_item):
    emulator.set_page_size(2)
    item = make_item(3)
    pages = list(client.list_item_job_instances(item.workspace_id, item.item_id).by_page())
    assert "2 items" in repr(pages[0])
    assert pages[0].continuation_token in repr(pages[0])
    assert "None" in repr(pages[-1])


def test_pager_repr_shows_the_token_python_style(emulator, client, make_item):
    emulator.set_page_size(2)
    item = make_item(3)
    pager = client.list_item_job_instances(item.workspace_id, item.item_id)
    assert repr(pager) == "<JobInstancePager open as_dict=False continuation_token=None>"
    next(pager)
    token = pager.continuation_token
    # Like Page's repr: a Python string literal, not Rust's Debug form `Some("...")`.
    assert repr(pager) == (f"<JobInstancePager open as_dict=False continuation_token='{token}'>")


# ---------------------------------------------------------------- sizes


def test_empty_item_yields_nothing_with_one_request(emulator, client, make_item):
    item = make_item(0)
    emulator.clear_requests()

    pager = client.list_item_job_instances(item.workspace_id, item.item_id)
    assert list(pager) == []
    assert pager.continuation_token is None
    assert len(emulator.requests) == 1

    pages = list(client.list_item_job_instances(item.workspace_id, item.item_id).by_page())
    assert sum(len(page) for page in pages) == 0
    assert len(pages) <= 1
    assert all(page.continuation_token is None for page in pages)


def test_page_size_one_many_pages(emulator, client, make_item):
    emulator.set_page_size(1)
    item = make_item(40)
    emulator.clear_requests()

    pages = list(client.list_item_job_instances(item.workspace_id, item.item_id).by_page())

    assert [len(page) for page in pages] == [1] * 40
    assert [page.items[0].id for page in pages] == item.ids
    assert len(emulator.requests) == 40
    assert len({r["query"] for r in emulator.requests}) == 40


def test_more_than_a_thousand_pages_do_not_hit_a_recursion_limit(emulator, client, make_item):
    # msfabricpysdkcore paginates by recursion and dies at ~1000 pages (NOTES.md section 2).
    emulator.set_page_size(1)
    item = make_item(1100)
    emulator.clear_requests()

    jobs = list(client.list_item_job_instances(item.workspace_id, item.item_id, as_dict=True))

    assert ids_of(jobs) == item.ids
    assert len(emulator.requests) == 1100


@pytest.mark.parametrize(("total", "page_size"), [(30, 10), (10, 10), (1, 1), (8, 4)])
def test_exact_multiple_of_page_size_sends_no_extra_request(
    emulator, client, make_item, total, page_size
):
    emulator.set_page_size(page_size)
    item = make_item(total)
    emulator.clear_requests()

    pages = list(client.list_item_job_instances(item.workspace_id, item.item_id).by_page())

    assert [len(page) for page in pages] == [page_size] * (total // page_size)
    assert len(emulator.requests) == page_count(total, page_size)
    assert pages[-1].continuation_token is None


def test_single_page_when_everything_fits(emulator, client, make_item):
    item = make_item(99)  # default page size 100
    emulator.clear_requests()
    assert ids_of(list(client.list_item_job_instances(item.workspace_id, item.item_id))) == (
        item.ids
    )
    assert [r["query"] for r in emulator.requests] == [None]


# ---------------------------------------------------------------- continuation styles


@pytest.mark.parametrize("style", ["both", "token", "uri"])
def test_every_continuation_style_lists_everything_once(make_emulator, make_item, style):
    emu = make_emulator(page_size=4, continuation=style)
    item = make_item(18, emu=emu)
    client = JobsClient(token=TOKEN, base_url=emu.base_url, max_retries=0)
    emu.clear_requests()

    jobs = list(client.list_item_job_instances(item.workspace_id, item.item_id))

    assert ids_of(jobs) == item.ids
    queries = [r["query"] for r in emu.requests]
    assert len(queries) == 5
    assert len(set(queries)) == 5


@pytest.mark.parametrize("style", ["token", "uri"])
def test_set_continuation_switches_style_at_runtime(emulator, client, make_item, style):
    emulator.set_page_size(5)
    emulator.set_continuation(style)
    item = make_item(12)
    emulator.clear_requests()

    pages = list(client.list_item_job_instances(item.workspace_id, item.item_id).by_page())

    assert [len(page) for page in pages] == [5, 5, 2]
    assert [job.id for page in pages for job in page] == item.ids
    assert len(emulator.requests) == 3
    # The page token is known in both styles (for "uri", it is read from the URI).
    assert all(page.continuation_token for page in pages[:-1])


@pytest.mark.parametrize("style", ["both", "token", "uri"])
def test_tokens_are_sent_back_once_encoded(make_emulator, make_item, style):
    emu = make_emulator(page_size=3, continuation=style)
    item = make_item(10, emu=emu)
    client = JobsClient(token=TOKEN, base_url=emu.base_url, max_retries=0)
    emu.clear_requests()

    list(client.list_item_job_instances(item.workspace_id, item.item_id))

    continuation = _continuation_queries(emu.requests)
    assert len(continuation) == 3
    for query in continuation:
        assert query.startswith("continuationToken=")
        assert "%3D" in query, query
        assert "%25" not in query, f"token was encoded twice: {query}"
        assert "=" not in query.split("=", 1)[1], f"token was decoded: {query}"


def test_unknown_continuation_style_is_rejected(make_emulator, emulator):
    with pytest.raises(ValueError, match="repeat-token"):
        make_emulator(continuation="sideways")
    with pytest.raises(ValueError, match="repeat-token"):
        emulator.set_continuation("sideways")


# ---------------------------------------------------------------- a repeated token


def test_repeated_token_raises_paging_error_after_the_first_pages(make_emulator, make_item):
    emu = make_emulator(page_size=3, continuation="repeat-token")
    item = make_item(10, emu=emu)
    client = JobsClient(token=TOKEN, base_url=emu.base_url, max_retries=0)
    emu.clear_requests()

    pager = client.list_item_job_instances(item.workspace_id, item.item_id)
    received = []
    with pytest.raises(PagingError) as caught:
        drain(pager, received)

    # Page 1 (no token) and page 2 (whose token was handed back unchanged) were delivered.
    assert ids_of(received) == item.ids[:6]
    assert len(emu.requests) == 2
    error = caught.value
    assert error.continuation_token
    assert error.continuation_token in emu.requests[1]["query"]
    assert item.path in error.url
    assert TOKEN not in str(error)

    # The pager stays broken: asking again raises again without sending anything.
    with pytest.raises(PagingError):
        next(pager)
    assert len(emu.requests) == 2
    assert pager.continuation_token is None


def test_repeated_token_with_by_page(emulator, client, make_item):
    emulator.set_page_size(4)
    emulator.set_continuation("repeat-token")
    item = make_item(20)
    emulator.clear_requests()

    pages = client.list_item_job_instances(item.workspace_id, item.item_id).by_page()
    first, second = next(pages), next(pages)
    with pytest.raises(PagingError):
        next(pages)
    assert [job.id for job in [*first, *second]] == item.ids[:8]
    assert len(emulator.requests) == 2


# ---------------------------------------------------------------- resuming


def test_resume_from_the_pager_continuation_token(emulator, client, make_item):
    emulator.set_page_size(4)
    item = make_item(10)
    emulator.clear_requests()

    pager = client.list_item_job_instances(item.workspace_id, item.item_id, prefetch=0)
    first_page = []
    for page in pager.by_page():
        first_page = page.items
        break
    token = pager.continuation_token
    assert token is not None
    assert len(emulator.requests) == 1

    resumed = client.list_item_job_instances(
        item.workspace_id, item.item_id, continuation_token=token
    )
    assert resumed.continuation_token == token  # known before the first request
    rest = list(resumed)

    union = ids_of(first_page) + ids_of(rest)
    assert union == item.ids
    assert len(set(union)) == len(union)
    assert resumed.continuation_token is None
    assert emulator.requests[1]["query"] == f"continuationToken={token}"
    assert len(emulator.requests) == 3


def test_resume_after_consuming_a_whole_page_of_items(emulator, client, make_item):
    emulator.set_page_size(5)
    item = make_item(12)

    pager = client.list_item_job_instances(item.workspace_id, item.item_id, as_dict=True)
    first = [next(pager) for _ in range(5)]
    token = pager.continuation_token

    rest = list(
        client.list_item_job_instances(
            item.workspace_id, item.item_id, as_dict=True, continuation_token=token
        )
    )
    assert first + rest == item.instances


def test_resume_from_a_page_token_of_by_page(emulator, client, make_item):
    emulator.set_page_size(3)
    item = make_item(9)

    pages = client.list_item_job_instances(item.workspace_id, item.item_id).by_page()
    next(pages)
    second = next(pages)
    assert pages.continuation_token == second.continuation_token

    rest = list(
        client.list_item_job_instances(
            item.workspace_id, item.item_id, continuation_token=second.continuation_token
        )
    )
    assert ids_of(rest) == item.ids[6:]


def test_continuation_token_is_none_before_start_and_at_the_end(emulator, client, make_item):
    emulator.set_page_size(2)
    item = make_item(5)

    pager = client.list_item_job_instances(item.workspace_id, item.item_id)
    assert pager.continuation_token is None
    seen_tokens = []
    for _ in pager.by_page():
        seen_tokens.append(pager.continuation_token)
    assert len(seen_tokens) == 3
    assert all(seen_tokens[:-1])
    assert seen_tokens[-1] is None
    assert pager.continuation_token is None
    assert "continuation_token=None" in repr(pager)


# ---------------------------------------------------------------- errors and close mid-listing


def test_a_failed_page_is_retried_by_the_next_call(emulator, client, make_item):
    emulator.set_page_size(5)
    item = make_item(12)
    emulator.clear_requests()

    pages = client.list_item_job_instances(item.workspace_id, item.item_id, prefetch=0).by_page()
    first = next(pages)
    token = pages.continuation_token
    emulator.fail_next(503)
    with pytest.raises(ServerError):
        next(pages)
    assert pages.continuation_token == token  # the cursor did not move
    rest = list(pages)

    assert [job.id for page in [first, *rest] for job in page] == item.ids
    queries = [r["query"] for r in emulator.requests]
    # page 1, page 2 (failed), page 2 again, page 3
    assert queries[0] is None
    assert queries[1] == queries[2] == f"continuationToken={token}"
    assert len(queries) == 4


def test_item_iteration_continues_after_an_error(emulator, client, make_item):
    emulator.set_page_size(4)
    item = make_item(9)

    pager = client.list_item_job_instances(item.workspace_id, item.item_id, prefetch=0)
    got = [next(pager) for _ in range(4)]
    emulator.fail_next(500)
    with pytest.raises(ServerError):
        next(pager)
    got.extend(pager)
    assert ids_of(got) == item.ids


def test_close_stops_the_listing(emulator, client, make_item):
    emulator.set_page_size(3)
    item = make_item(9)
    emulator.clear_requests()

    pager = client.list_item_job_instances(item.workspace_id, item.item_id, prefetch=0)
    next(pager)
    pager.close()
    assert list(pager) == []
    assert list(pager.by_page()) == []
    assert "closed" in repr(pager)
    assert len(emulator.requests) == 1


def test_two_listings_are_independent(emulator, client, make_item):
    emulator.set_page_size(3)
    item = make_item(7)

    a = client.list_item_job_instances(item.workspace_id, item.item_id)
    b = client.list_item_job_instances(item.workspace_id, item.item_id)
    interleaved_a, interleaved_b = [], []
    for _ in range(7):
        interleaved_a.append(next(a))
        interleaved_b.append(next(b))
    assert ids_of(interleaved_a) == ids_of(interleaved_b) == item.ids
    assert list(a) == []
    assert list(b) == []


# ---------------------------------------------------------------- resume tokens in other forms


def test_resume_with_the_url_decoded_token_is_encoded_once(emulator, client, make_item):
    emulator.set_page_size(4)
    item = make_item(10)
    pages = client.list_item_job_instances(item.workspace_id, item.item_id).by_page()
    next(pages)
    token = pages.continuation_token
    decoded = urllib.parse.unquote(token)
    assert decoded.endswith("=")
    emulator.clear_requests()

    rest = list(
        client.list_item_job_instances(item.workspace_id, item.item_id, continuation_token=decoded)
    )

    assert ids_of(rest) == item.ids[4:]
    assert emulator.requests[0]["query"] == f"continuationToken={token}"


@pytest.mark.parametrize("empty", ["", "   "])
def test_an_empty_resume_token_starts_from_the_beginning(emulator, client, make_item, empty):
    item = make_item(3)
    emulator.clear_requests()
    jobs = list(
        client.list_item_job_instances(item.workspace_id, item.item_id, continuation_token=empty)
    )
    assert ids_of(jobs) == item.ids
    assert emulator.requests[0]["query"] is None


def test_a_rejected_resume_token_is_a_bad_request(emulator, client, make_item):
    item = make_item(3)
    pager = client.list_item_job_instances(
        item.workspace_id, item.item_id, continuation_token="bm9wZQ%3D%3D"
    )
    with pytest.raises(BadRequestError) as caught:
        next(pager)
    assert caught.value.error_code == "InvalidContinuationToken"


# ---------------------------------------------------------------- a server that loops


def _looping_page(server_port: int, style: str) -> bytes:
    path = f"/v1/workspaces/{guid('w')}/items/{guid('i')}/jobs/instances"
    page = {"value": [{"id": guid("looping")}]}
    if style in ("token", "both"):
        page["continuationToken"] = "LOOP%3D"
    if style in ("uri", "both"):
        page["continuationUri"] = f"http://127.0.0.1:{server_port}{path}?continuationToken=LOOP%3D"
    return json.dumps(page).encode()


@pytest.mark.parametrize("style", ["token", "uri", "both"])
def test_a_server_repeating_its_continuation_is_stopped(style):
    """Every response carries the same continuation: the second one repeats the token that
    was just used, which must end in PagingError, not an endless loop."""
    with OneShotHttpServer() as server:
        server.response = http_response("200 OK", _looping_page(server.port, style))
        client = JobsClient(token=TOKEN, base_url=server.base_url, max_retries=0)
        received = []
        with pytest.raises(PagingError) as caught:
            drain(client.list_item_job_instances(guid("w"), guid("i"), as_dict=True), received)
        requests = list(server.received)

    assert len(received) == 2
    assert len(requests) == 2
    assert b"continuationToken=LOOP%3D " in requests[1]
    assert caught.value.continuation_token
