"""Retries against the emulator: what is retried (429, 408, 5xx, dropped / truncated / hung
responses), how long the client waits (Retry-After in every form, else the backoff), what
bounds the retries (max_retries, max_retry_wait, deadline), and that after a failure the
same pager, or a new one resumed from its continuation_token, loses and repeats nothing.

Every wait here is real but short: retry_backoff is tiny and Retry-After is 1 s at most.
Timings are asserted only as a lower bound where a wait is the point of the test, or as a
generous upper bound proving that nothing hung.
"""

from __future__ import annotations

import datetime
import email.utils
import time

import pytest
from _helpers import TOKEN, adrain, drain, ids_of, page_count
from fabric_jobs import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    FabricApiError,
    FabricTimeoutError,
    JobsClient,
    NotFoundError,
    PermissionDeniedError,
    ServerError,
    ThrottledError,
)

#: Whatever the machine's load, a listing of a few pages with at most a ~2 s wait finishes in this.
DID_NOT_HANG = 15.0


def make_client(emulator, **kwargs):
    """A client for ``emulator`` that retries with a tiny backoff unless told otherwise."""
    kwargs.setdefault("retry_backoff", 0.01)
    return JobsClient(token=TOKEN, base_url=emulator.base_url, **kwargs)


def statuses(emulator):
    return [r["status"] for r in emulator.requests]


def queries(emulator):
    return [r["query"] for r in emulator.requests]


def assert_complete_once(jobs, item):
    got = ids_of(jobs)
    assert got == item.ids
    assert len(set(got)) == len(got)


# ---------------------------------------------------------------- 429 and Retry-After


def test_429_with_retry_after_is_waited_then_succeeds(emulator, make_item):
    emulator.set_page_size(5)
    item = make_item(12)
    emulator.clear_requests()
    emulator.fail_next(429, headers={"Retry-After": "1"})

    started = time.monotonic()
    jobs = list(make_client(emulator).list_item_job_instances(item.workspace_id, item.item_id))
    elapsed = time.monotonic() - started

    assert_complete_once(jobs, item)
    assert elapsed >= 0.95, f"Retry-After: 1 was not waited ({elapsed:.3f} s)"
    assert elapsed < DID_NOT_HANG
    assert statuses(emulator) == [429, 200, 200, 200]
    assert queries(emulator)[:2] == [None, None]  # page 1 twice


def test_429_mid_listing_is_retried_without_duplicates(emulator, make_item):
    emulator.set_page_size(5)
    item = make_item(12)
    emulator.clear_requests()

    pages = (
        make_client(emulator)
        .list_item_job_instances(item.workspace_id, item.item_id, prefetch=0)
        .by_page()
    )
    first = next(pages)
    emulator.fail_next(429, headers={"Retry-After": "0"})
    rest = list(pages)

    assert_complete_once([*first, *(job for page in rest for job in page)], item)
    assert statuses(emulator) == [200, 429, 200, 200]
    assert queries(emulator)[1] == queries(emulator)[2] is not None


def test_retry_after_as_an_http_date_is_honoured(emulator, make_item):
    item = make_item(3)
    emulator.clear_requests()
    # HTTP-dates have whole seconds: "now + 2 s" truncated is between 1 and 2 s ahead.
    ahead = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=2)
    emulator.fail_next(429, headers={"Retry-After": email.utils.format_datetime(ahead, True)})

    started = time.monotonic()
    # The backoff alone would retry after at most 10 ms.
    jobs = list(make_client(emulator).list_item_job_instances(item.workspace_id, item.item_id))
    elapsed = time.monotonic() - started

    assert_complete_once(jobs, item)
    assert elapsed >= 0.9, f"the HTTP-date Retry-After was not waited ({elapsed:.3f} s)"
    assert elapsed < DID_NOT_HANG
    assert statuses(emulator) == [429, 200]


def test_429_without_retry_after_uses_the_backoff(emulator, make_item):
    item = make_item(3)
    emulator.clear_requests()
    # The emulator's message says "blocked until <60 s from now>", but there is no header.
    emulator.fail_next(429, count=2)

    started = time.monotonic()
    jobs = list(
        make_client(emulator, max_retries=3).list_item_job_instances(
            item.workspace_id, item.item_id
        )
    )
    elapsed = time.monotonic() - started

    assert_complete_once(jobs, item)
    assert statuses(emulator) == [429, 429, 200]
    assert elapsed < 5.0  # a few ms of backoff, not the message's minute


@pytest.mark.asyncio
async def test_async_listing_retries_too(emulator, make_item):
    emulator.set_page_size(4)
    item = make_item(10)
    emulator.clear_requests()
    emulator.fail_next(503)
    emulator.fail_next(429, headers={"Retry-After": "0"})

    jobs = [
        job
        async for job in make_client(emulator).list_item_job_instances(
            item.workspace_id, item.item_id
        )
    ]

    assert_complete_once(jobs, item)
    assert statuses(emulator) == [503, 429, 200, 200, 200]


# ---------------------------------------------------------------- which statuses are retried


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
def test_transient_status_is_retried(emulator, make_item, status):
    emulator.set_page_size(5)
    item = make_item(8)
    emulator.clear_requests()
    emulator.fail_next(status, count=2)

    jobs = list(make_client(emulator).list_item_job_instances(item.workspace_id, item.item_id))

    assert_complete_once(jobs, item)
    assert statuses(emulator) == [status, status, 200, 200]
    assert queries(emulator)[:3] == [None, None, None]


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),  # TokenExpired, but a static token cannot be refreshed
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
    ],
)
def test_client_errors_are_not_retried(emulator, make_item, status, cls):
    item = make_item(3)
    emulator.clear_requests()
    emulator.fail_next(status, count=5)

    pager = make_client(emulator, max_retries=5).list_item_job_instances(
        item.workspace_id, item.item_id
    )
    with pytest.raises(cls) as caught:
        next(pager)

    assert caught.value.status_code == status
    assert len(emulator.requests) == 1


# ---------------------------------------------------------------- transport failures


@pytest.mark.parametrize("fault", ["drop", "truncate"])
def test_broken_first_page_is_retried(emulator, make_item, fault):
    emulator.set_page_size(5)
    item = make_item(12)
    emulator.clear_requests()
    getattr(emulator, f"{fault}_next")()

    jobs = list(make_client(emulator).list_item_job_instances(item.workspace_id, item.item_id))

    assert_complete_once(jobs, item)
    assert len(emulator.requests) == page_count(12, 5) + 1
    assert queries(emulator)[:2] == [None, None]
    if fault == "drop":
        assert statuses(emulator)[0] == 0  # closed without an answer


@pytest.mark.parametrize("fault", ["drop", "truncate"])
def test_broken_page_mid_listing_is_retried(emulator, make_item, fault):
    emulator.set_page_size(5)
    item = make_item(14)
    emulator.clear_requests()

    pager = make_client(emulator).list_item_job_instances(
        item.workspace_id, item.item_id, prefetch=0
    )
    got = [next(pager) for _ in range(5)]  # exactly page 1
    getattr(emulator, f"{fault}_next")(2)  # page 2 breaks twice
    got.extend(pager)

    assert_complete_once(got, item)
    assert len(emulator.requests) == page_count(14, 5) + 2
    page2 = queries(emulator)[1]
    assert page2 is not None
    assert queries(emulator)[1:4] == [page2, page2, page2]


def test_hung_request_is_retried_after_the_timeout(emulator, make_item):
    emulator.set_page_size(5)
    item = make_item(7)
    emulator.clear_requests()
    emulator.hang_next()

    started = time.monotonic()
    jobs = list(
        make_client(emulator, timeout=0.3).list_item_job_instances(item.workspace_id, item.item_id)
    )
    elapsed = time.monotonic() - started

    assert_complete_once(jobs, item)
    assert elapsed >= 0.28, f"retried before the 0.3 s timeout ({elapsed:.3f} s)"
    assert elapsed < DID_NOT_HANG
    assert statuses(emulator) == [0, 200, 200]
    assert queries(emulator)[:2] == [None, None]


# ---------------------------------------------------------------- bounds


def test_max_retries_bounds_the_attempts(emulator, make_item):
    item = make_item(3)
    emulator.clear_requests()
    emulator.fail_next(503, count=10)

    pager = make_client(emulator, max_retries=2).list_item_job_instances(
        item.workspace_id, item.item_id
    )
    with pytest.raises(ServerError) as caught:
        next(pager)

    assert caught.value.status_code == 503
    assert statuses(emulator) == [503, 503, 503]


def test_max_retries_zero_sends_one_request(emulator, make_item):
    item = make_item(3)
    emulator.clear_requests()
    emulator.fail_next(503, count=10)

    pager = make_client(emulator, max_retries=0).list_item_job_instances(
        item.workspace_id, item.item_id
    )
    with pytest.raises(ServerError):
        next(pager)

    assert statuses(emulator) == [503]


@pytest.mark.parametrize(("status", "cls"), [(429, ThrottledError), (503, ServerError)])
def test_retry_after_longer_than_max_retry_wait_raises_at_once(emulator, make_item, status, cls):
    item = make_item(3)
    emulator.clear_requests()
    emulator.fail_next(status, headers={"Retry-After": "30"})

    pager = make_client(emulator, max_retries=5, max_retry_wait=5.0).list_item_job_instances(
        item.workspace_id, item.item_id
    )
    started = time.monotonic()
    with pytest.raises(cls) as caught:
        next(pager)
    elapsed = time.monotonic() - started

    assert caught.value.retry_after == 30.0
    assert len(emulator.requests) == 1
    assert elapsed < 2.0, f"slept before raising ({elapsed:.3f} s)"


def test_quota_is_honoured_through_retry_after(emulator, make_item):
    emulator.set_page_size(5)
    item = make_item(40)  # 8 pages; the quota lets 3 through per second
    emulator.clear_requests()
    emulator.set_quota(3, 1.0)

    started = time.monotonic()
    jobs = list(make_client(emulator).list_item_job_instances(item.workspace_id, item.item_id))
    elapsed = time.monotonic() - started

    assert_complete_once(jobs, item)
    codes = statuses(emulator)
    assert codes.count(200) == 8
    assert set(codes) == {200, 429}
    assert codes.count(429) >= 2  # 8 pages at 3 per window need at least 3 windows
    assert 1.0 <= elapsed < DID_NOT_HANG


def test_quota_without_retry_after_is_ridden_out_by_the_backoff(emulator, make_item):
    emulator.set_page_size(5)
    item = make_item(40)
    emulator.clear_requests()
    emulator.set_quota(3, 1.0, retry_after=False)

    started = time.monotonic()
    client = make_client(emulator, max_retries=30, retry_backoff=0.02)
    jobs = list(client.list_item_job_instances(item.workspace_id, item.item_id))
    elapsed = time.monotonic() - started

    assert_complete_once(jobs, item)
    codes = statuses(emulator)
    assert codes.count(200) == 8
    assert set(codes) == {200, 429}
    assert 1.0 <= elapsed < DID_NOT_HANG


def test_deadline_bounds_the_whole_listing(emulator, make_item):
    emulator.set_page_size(1)
    item = make_item(10)
    emulator.clear_requests()
    emulator.set_latency(0.2)

    pager = make_client(emulator, deadline=0.7).list_item_job_instances(
        item.workspace_id, item.item_id
    )
    got: list = []
    started = time.monotonic()
    with pytest.raises(FabricTimeoutError) as caught:
        drain(pager, got)
    elapsed = time.monotonic() - started

    exc = caught.value
    assert isinstance(exc, TimeoutError)
    assert exc.deadline == 0.7
    assert elapsed < 5.0
    assert 1 <= len(got) < 10
    assert ids_of(got) == item.ids[: len(got)]
    sent = len(emulator.requests)
    assert sent <= 5  # 0.7 s at 0.2 s a page
    time.sleep(0.5)
    assert len(emulator.requests) == sent, "requests went on after the deadline"


# ---------------------------------------------------------------- the same pager after a failure


def _fail_after_page_two(emulator, pager_items, got):
    """Takes 7 items (pages 1 and 2 of 5 received), makes page 3 fail with 503."""
    for _ in range(7):
        got.append(next(pager_items))
    emulator.fail_next(503)


def test_same_pager_continues_after_a_failure(emulator, make_item):
    emulator.set_page_size(5)
    item = make_item(18)
    emulator.clear_requests()

    pager = make_client(emulator, max_retries=0).list_item_job_instances(
        item.workspace_id, item.item_id, prefetch=0
    )
    got: list = []
    _fail_after_page_two(emulator, pager, got)
    with pytest.raises(ServerError):
        drain(pager, got)
    assert ids_of(got) == item.ids[:10]  # the rest of page 2 came before the error
    drain(pager, got)

    assert_complete_once(got, item)
    q = queries(emulator)
    assert statuses(emulator) == [200, 200, 503, 200, 200]
    assert q[2] == q[3] is not None  # the failed page, and only it, was asked again


@pytest.mark.asyncio
async def test_same_async_pager_continues_after_a_failure(emulator, make_item):
    emulator.set_page_size(5)
    item = make_item(18)
    emulator.clear_requests()

    pager = make_client(emulator, max_retries=0).list_item_job_instances(
        item.workspace_id, item.item_id, prefetch=0
    )
    got: list = []
    for _ in range(7):
        got.append(await pager.__anext__())
    emulator.fail_next(503)
    with pytest.raises(ServerError):
        await adrain(pager, got)
    assert ids_of(got) == item.ids[:10]
    await adrain(pager, got)

    assert_complete_once(got, item)
    q = queries(emulator)
    assert statuses(emulator) == [200, 200, 503, 200, 200]
    assert q[2] == q[3] is not None


def test_same_page_iterator_continues_after_a_failure(emulator, make_item):
    emulator.set_page_size(5)
    item = make_item(18)
    emulator.clear_requests()

    pages = (
        make_client(emulator, max_retries=0)
        .list_item_job_instances(item.workspace_id, item.item_id, prefetch=0)
        .by_page()
    )
    got = [next(pages), next(pages)]
    emulator.fail_next(503)
    with pytest.raises(ServerError):
        next(pages)
    got.extend(pages)

    assert [len(page) for page in got] == [5, 5, 5, 3]
    assert_complete_once([job for page in got for job in page], item)
    assert statuses(emulator) == [200, 200, 503, 200, 200]


@pytest.mark.asyncio
async def test_same_async_page_iterator_continues_after_a_failure(emulator, make_item):
    emulator.set_page_size(5)
    item = make_item(18)
    emulator.clear_requests()

    pages = (
        make_client(emulator, max_retries=0)
        .list_item_job_instances(item.workspace_id, item.item_id, prefetch=0)
        .by_page()
    )
    got = [await pages.__anext__(), await pages.__anext__()]
    emulator.fail_next(503)
    with pytest.raises(ServerError):
        await pages.__anext__()
    got.extend([page async for page in pages])

    assert_complete_once([job for page in got for job in page], item)
    assert statuses(emulator) == [200, 200, 503, 200, 200]


def test_a_new_listing_resumes_from_the_token_after_a_failure(emulator, make_item):
    emulator.set_page_size(5)
    item = make_item(18)
    client = make_client(emulator, max_retries=0)
    emulator.clear_requests()

    pager = client.list_item_job_instances(item.workspace_id, item.item_id, prefetch=0)
    got: list = []
    _fail_after_page_two(emulator, pager, got)
    with pytest.raises(ServerError):
        drain(pager, got)
    token = pager.continuation_token
    assert token is not None
    assert queries(emulator)[2] == f"continuationToken={token}"  # the page that failed

    resumed = client.list_item_job_instances(
        item.workspace_id, item.item_id, continuation_token=token
    )
    got.extend(resumed)

    assert_complete_once(got, item)
    assert statuses(emulator) == [200, 200, 503, 200, 200]


# ---------------------------------------------------------------- trailing-token quirk


@pytest.mark.parametrize(("status", "cls"), [(400, BadRequestError), (404, NotFoundError)])
def test_trailing_token_quirk_yields_everything_then_raises(emulator, make_item, status, cls):
    """Fabric sometimes puts a token on the last page and then rejects it. The client yields
    every item and then raises: it never presents a possibly partial listing as complete."""
    emulator.set_page_size(5)
    item = make_item(12)
    emulator.clear_requests()
    emulator.set_trailing_token_quirk(status)

    pager = make_client(emulator, max_retries=5).list_item_job_instances(
        item.workspace_id, item.item_id
    )
    got: list = []
    with pytest.raises(cls) as caught:
        drain(pager, got)

    assert isinstance(caught.value, FabricApiError)
    assert caught.value.status_code == status
    assert_complete_once(got, item)  # everything came before the error
    pages = page_count(12, 5)
    assert statuses(emulator) == [200] * pages + [status]  # the error was not retried
    # The listing is not "done": the trailing token is still there to retry or resume from.
    assert pager.continuation_token is not None
    assert queries(emulator)[-1] == f"continuationToken={pager.continuation_token}"


@pytest.mark.asyncio
async def test_trailing_token_quirk_async_by_page(emulator, make_item):
    emulator.set_page_size(5)
    item = make_item(12)
    emulator.set_trailing_token_quirk(400)

    pages = make_client(emulator).list_item_job_instances(item.workspace_id, item.item_id).by_page()
    got: list = []
    with pytest.raises(BadRequestError):
        await adrain(pages, got)

    assert [len(page) for page in got] == [5, 5, 2]
    assert got[-1].continuation_token is not None
    assert_complete_once([job for page in got for job in page], item)
