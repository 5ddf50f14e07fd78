"""Prefetch: while Python consumes page k, page k+1 is already being fetched.

Correctness only (no loss, no duplication, bounded look-ahead, early break, failures and
resumption); speed is measured by benches/, not here.
"""

from __future__ import annotations

import asyncio
import random
import time

import pytest
from _helpers import TOKEN, ids_of, listing_requests
from fabric_jobs import JobsClient, ServerError


def make_client(emulator, **kwargs):
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("rate_limit", None)
    return JobsClient(token=TOKEN, base_url=emulator.base_url, **kwargs)


@pytest.mark.parametrize("prefetch", [0, 1, 2, 5])
@pytest.mark.parametrize("as_dict", [False, True])
def test_every_item_exactly_once_in_order(make_emulator, make_item, prefetch, as_dict):
    emu = make_emulator(page_size=7)
    item = make_item(100, emu=emu)
    jobs = list(
        make_client(emu).list_item_job_instances(
            item.workspace_id, item.item_id, as_dict=as_dict, prefetch=prefetch
        )
    )
    got = [j["id"] for j in jobs] if as_dict else ids_of(jobs)
    assert got == [j["id"] for j in item.instances]
    # 15 pages of 7, each requested once.
    assert len(listing_requests(emu, item)) == 15


@pytest.mark.asyncio
@pytest.mark.parametrize("prefetch", [0, 1, 3])
async def test_async_every_item_exactly_once(make_emulator, make_item, prefetch):
    emu = make_emulator(page_size=9)
    item = make_item(50, emu=emu)
    pager = make_client(emu).list_item_job_instances(
        item.workspace_id, item.item_id, prefetch=prefetch
    )
    got = [job.id async for job in pager]
    assert got == [j["id"] for j in item.instances]
    assert len(listing_requests(emu, item)) == 6


@pytest.mark.parametrize("prefetch", [1, 2])
def test_the_next_page_is_requested_while_the_current_one_is_consumed(
    make_emulator, make_item, prefetch
):
    emu = make_emulator(page_size=10)
    item = make_item(100, emu=emu)
    pager = make_client(emu).list_item_job_instances(
        item.workspace_id, item.item_id, prefetch=prefetch
    )
    next(pager)  # page 1 received
    deadline = time.monotonic() + 5
    while len(listing_requests(emu, item)) < 1 + prefetch and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # give a runaway producer time to show itself
    # Exactly `prefetch` pages ahead, not more.
    assert len(listing_requests(emu, item)) == 1 + prefetch


def test_prefetch_zero_fetches_only_on_demand(make_emulator, make_item):
    emu = make_emulator(page_size=10)
    item = make_item(100, emu=emu)
    pager = make_client(emu).list_item_job_instances(item.workspace_id, item.item_id, prefetch=0)
    next(pager)
    time.sleep(0.2)
    assert len(listing_requests(emu, item)) == 1


def test_nothing_is_requested_before_iteration(make_emulator, make_item):
    emu = make_emulator(page_size=10)
    item = make_item(100, emu=emu)
    make_client(emu).list_item_job_instances(item.workspace_id, item.item_id, prefetch=3)
    time.sleep(0.2)
    assert listing_requests(emu, item) == []


def test_breaking_out_costs_at_most_the_request_in_flight(make_emulator, make_item):
    emu = make_emulator(page_size=10, latency=0.05)
    item = make_item(200, emu=emu)
    pager = make_client(emu).list_item_job_instances(item.workspace_id, item.item_id, prefetch=1)
    for _job in pager:
        break
    time.sleep(0.5)
    assert len(listing_requests(emu, item)) <= 2


def test_dropping_the_pager_stops_the_producer(make_emulator, make_item):
    emu = make_emulator(page_size=10, latency=0.05)
    item = make_item(200, emu=emu)
    pager = make_client(emu).list_item_job_instances(item.workspace_id, item.item_id, prefetch=3)
    next(pager)
    del pager
    time.sleep(0.2)
    settled = len(listing_requests(emu, item))
    time.sleep(0.5)
    assert len(listing_requests(emu, item)) == settled <= 4


def test_close_stops_the_producer(make_emulator, make_item):
    emu = make_emulator(page_size=10, latency=0.05)
    item = make_item(200, emu=emu)
    pager = make_client(emu).list_item_job_instances(item.workspace_id, item.item_id, prefetch=3)
    next(pager)
    pager.close()
    time.sleep(0.2)
    settled = len(listing_requests(emu, item))
    time.sleep(0.5)
    assert len(listing_requests(emu, item)) == settled
    assert list(pager) == []


@pytest.mark.parametrize("prefetch", [1, 3])
def test_a_failed_prefetched_page_surfaces_in_order_and_iteration_resumes(
    make_emulator, make_item, prefetch
):
    """Pages received before the failure are all yielded first; iterating again retries the
    failed page; nothing is lost or duplicated."""
    emu = make_emulator(page_size=10)
    item = make_item(60, emu=emu)
    pager = make_client(emu).list_item_job_instances(
        item.workspace_id, item.item_id, prefetch=prefetch
    )
    got = [next(pager).id]  # page 1 received; the producer runs ahead
    emu.fail_next(503)  # the next request the producer sends fails
    with pytest.raises(ServerError):
        got.extend(job.id for job in pager)
    got.extend(job.id for job in pager)
    assert got == [j["id"] for j in item.instances]


def wait_until_requested(emu, item, count: int, timeout: float = 10.0) -> None:
    """Until the emulator received `count` listing requests (it records them on arrival), plus
    a moment for the last answer to arrive and be parsed."""
    deadline = time.monotonic() + timeout
    while len(listing_requests(emu, item)) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"the producer did not send request {count} within {timeout} s")
        time.sleep(0.01)
    time.sleep(0.1)


@pytest.mark.parametrize("as_dict", [False, True])
def test_a_slow_consumer_takes_pages_that_are_already_here(make_emulator, make_item, as_dict):
    """A consumer slower than the network finds the next page already received and parsed and
    takes it without a round trip through the runtime: same items, order and tokens."""
    emu = make_emulator(page_size=10)
    item = make_item(45, emu=emu)  # 5 pages
    expected = [j["id"] for j in item.instances]
    pager = make_client(emu).list_item_job_instances(
        item.workspace_id, item.item_id, as_dict=as_dict, prefetch=2
    )
    got, tokens = [], []
    for page in range(5):
        if page:
            # Page `page` is consumed: the producer holds pages up to page + 2.
            wait_until_requested(emu, item, min(page + 2, 5))
        for _ in range(10 if page < 4 else 5):
            job = next(pager)
            got.append(job["id"] if as_dict else job.id)
        tokens.append(pager.continuation_token)
    assert list(pager) == []
    assert got == expected
    # Pages 2-5 were all here when asked for (a slow machine may miss one).
    assert pager._pages_taken_without_waiting >= 3
    assert tokens[-1] is None
    assert len(set(tokens[:-1])) == 4
    assert len(listing_requests(emu, item)) == 5
    # Each token resumes right after the page it was read after.
    client = make_client(emu)
    for page, token in enumerate(tokens[:-1], start=1):
        rest = client.list_item_job_instances(
            item.workspace_id, item.item_id, continuation_token=token
        )
        assert ids_of(rest) == expected[page * 10 :]


@pytest.mark.asyncio
async def test_async_slow_consumer_takes_pages_that_are_already_here(make_emulator, make_item):
    emu = make_emulator(page_size=10)
    item = make_item(35, emu=emu)
    pager = make_client(emu).list_item_job_instances(item.workspace_id, item.item_id, prefetch=3)
    got = []
    async for job in pager:
        got.append(job.id)
        if len(got) % 10 == 1:
            await asyncio.sleep(0.1)  # the producer runs ahead meanwhile
    assert got == [j["id"] for j in item.instances]
    assert len(listing_requests(emu, item)) == 4
    assert pager._pages_taken_without_waiting >= 2

    pager = make_client(emu).list_item_job_instances(item.workspace_id, item.item_id, prefetch=3)
    sizes = []
    async for page in pager.by_page():
        sizes.append(len(page))
        await asyncio.sleep(0.1)
    assert sizes == [10, 10, 10, 5]
    assert pager._pages_taken_without_waiting >= 2


@pytest.mark.parametrize("mode", ["items", "pages", "async"])
def test_a_failure_behind_pages_already_here_comes_after_them(make_emulator, make_item, mode):
    """Pages 2 and 3 are already here when page 4 fails: they come first, then the error (it
    is not dropped on the way), and iterating again resumes at page 4."""
    emu = make_emulator(page_size=10)
    item = make_item(50, emu=emu)
    pager = make_client(emu).list_item_job_instances(item.workspace_id, item.item_id, prefetch=2)
    got = [next(pager).id]  # page 1 taken; the producer fetches pages 2 and 3, then waits
    wait_until_requested(emu, item, 3)
    emu.fail_next(503)  # page 4, requested once page 2 is taken

    def consume() -> None:
        if mode == "items":
            got.extend(job.id for job in pager)
        elif mode == "pages":
            for page in pager.by_page():
                got.extend(job.id for job in page.items)
                time.sleep(0.05)
        else:

            async def collect() -> None:
                async for job in pager:
                    got.append(job.id)
                    await asyncio.sleep(0.002)

            asyncio.run(collect())

    with pytest.raises(ServerError):
        consume()
    assert len(got) == 30
    consume()
    assert got == [j["id"] for j in item.instances]


def test_resume_token_is_after_the_last_page_handed_out(make_emulator, make_item):
    """With pages fetched ahead, continuation_token still resumes after what the caller got."""
    emu = make_emulator(page_size=10)
    item = make_item(50, emu=emu)
    client = make_client(emu)
    pager = client.list_item_job_instances(item.workspace_id, item.item_id, prefetch=3)
    first_page = next(iter(pager.by_page()))
    time.sleep(0.2)  # let the producer fetch ahead
    rest = client.list_item_job_instances(
        item.workspace_id, item.item_id, continuation_token=pager.continuation_token
    )
    got = [j.id for j in first_page.items] + [j.id for j in rest]
    assert got == [j["id"] for j in item.instances]


def test_by_page_with_prefetch(make_emulator, make_item):
    emu = make_emulator(page_size=8)
    item = make_item(30, emu=emu)
    pages = list(
        make_client(emu)
        .list_item_job_instances(item.workspace_id, item.item_id, prefetch=2)
        .by_page()
    )
    assert [len(p) for p in pages] == [8, 8, 8, 6]
    assert pages[-1].continuation_token is None


def test_asyncio_cancellation_with_prefetch_loses_nothing(make_emulator, make_item):
    emu = make_emulator(page_size=10, latency=0.1)
    item = make_item(40, emu=emu)
    pager = make_client(emu).list_item_job_instances(item.workspace_id, item.item_id, prefetch=1)

    async def main():
        got = [(await pager.__anext__()).id]
        for _ in range(9):
            got.append((await pager.__anext__()).id)
        # The next page is in flight; cancel while waiting for it.
        task = asyncio.ensure_future(pager.__anext__())
        await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        got.extend([job.id async for job in pager])
        return got

    assert asyncio.run(main()) == [j["id"] for j in item.instances]


def test_negative_prefetch_is_rejected(emulator, make_item):
    item = make_item(1)
    with pytest.raises(OverflowError):
        make_client(emulator).list_item_job_instances(item.workspace_id, item.item_id, prefetch=-1)


@pytest.mark.parametrize("prefetch", [0, 1])
@pytest.mark.parametrize("by_page", [False, True])
def test_timeouts_at_any_moment_lose_nothing(make_emulator, make_item, prefetch, by_page):
    """asyncio.wait_for around every __anext__, timing out at random moments, some of them
    just as the page arrives: every element still comes exactly once, in order. (A version that
    took the element inside the runtime's future lost it when the task was cancelled between
    the future finishing and the event loop delivering its result.)"""
    emu = make_emulator(page_size=5, latency=0.01)
    item = make_item(250, emu=emu)
    pager = make_client(emu).list_item_job_instances(
        item.workspace_id, item.item_id, prefetch=prefetch
    )
    iterator = pager.by_page() if by_page else pager
    rng = random.Random(7)

    async def main() -> list[str]:
        got: list[str] = []
        while True:
            try:
                element = await asyncio.wait_for(
                    iterator.__anext__(), timeout=rng.uniform(0.0, 0.02)
                )
            except asyncio.TimeoutError:
                continue
            except StopAsyncIteration:
                return got
            if by_page:
                got.extend(j.id for j in element.items)
            else:
                got.append(element.id)

    assert asyncio.run(main()) == [j["id"] for j in item.instances]
