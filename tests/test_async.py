"""Async iteration (``async for`` over items and pages), sync iteration from inside a running
event loop (a Jupyter cell), ``asyncio.run``, and concurrent listings."""

from __future__ import annotations

import asyncio
import time

import pytest
from _helpers import TOKEN, HangingServer, adrain, ids_of, page_count
from fabric_jobs import (
    FabricTimeoutError,
    JobInstance,
    JobsClient,
    NotFoundError,
    PagingError,
    ServerError,
)


@pytest.mark.asyncio
async def test_async_for_yields_every_item_in_stored_order(emulator, client, make_item):
    emulator.set_page_size(10)
    item = make_item(35)
    emulator.clear_requests()

    pager = client.list_item_job_instances(item.workspace_id, item.item_id)
    assert emulator.requests == []  # creating the pager sends nothing, even in a loop
    jobs = [job async for job in pager]

    assert all(isinstance(job, JobInstance) for job in jobs)
    assert ids_of(jobs) == item.ids
    requests = emulator.requests
    assert len(requests) == 4
    assert len({r["query"] for r in requests}) == 4
    assert pager.continuation_token is None


@pytest.mark.asyncio
async def test_async_by_page(emulator, client, make_item):
    emulator.set_page_size(10)
    item = make_item(35)
    emulator.clear_requests()

    pages = [
        page
        async for page in client.list_item_job_instances(item.workspace_id, item.item_id).by_page()
    ]

    assert [len(page) for page in pages] == [10, 10, 10, 5]
    assert [job.id for page in pages for job in page] == item.ids
    assert all(page.continuation_token for page in pages[:-1])
    assert pages[-1].continuation_token is None
    assert len(emulator.requests) == 4


@pytest.mark.asyncio
async def test_async_dict_mode_equals_storage(emulator, client, make_item):
    emulator.set_page_size(7)
    item = make_item(20)

    dicts = [
        d
        async for d in client.list_item_job_instances(item.workspace_id, item.item_id, as_dict=True)
    ]
    assert dicts == item.instances


@pytest.mark.asyncio
async def test_sync_iteration_inside_a_running_event_loop(emulator, client, make_item):
    """A Jupyter cell runs inside a live asyncio loop; plain ``list(pager)`` must still work."""
    asyncio.get_running_loop()  # we really are inside a running loop
    emulator.set_page_size(6)
    item = make_item(20)
    emulator.clear_requests()

    jobs = list(client.list_item_job_instances(item.workspace_id, item.item_id))
    pages = list(client.list_item_job_instances(item.workspace_id, item.item_id).by_page())

    assert ids_of(jobs) == item.ids
    assert [len(page) for page in pages] == [6, 6, 6, 2]
    assert len(emulator.requests) == 8


def test_async_iteration_under_asyncio_run(emulator, client, make_item):
    emulator.set_page_size(8)
    item = make_item(20)
    emulator.clear_requests()

    async def collect():
        items = [
            job async for job in client.list_item_job_instances(item.workspace_id, item.item_id)
        ]
        pages = [
            page
            async for page in client.list_item_job_instances(
                item.workspace_id, item.item_id
            ).by_page()
        ]
        return items, pages

    items, pages = asyncio.run(collect())

    assert ids_of(items) == item.ids
    assert [len(page) for page in pages] == [8, 8, 4]
    assert len(emulator.requests) == 6


def test_asyncio_run_twice_with_fresh_loops(emulator, client, make_item):
    """The runtime must not be tied to the first event loop it saw."""
    emulator.set_page_size(3)
    item = make_item(7)

    async def collect():
        return [
            job.id async for job in client.list_item_job_instances(item.workspace_id, item.item_id)
        ]

    assert asyncio.run(collect()) == item.ids
    assert asyncio.run(collect()) == item.ids


@pytest.mark.asyncio
async def test_concurrent_async_listings_with_gather(emulator, client, make_item):
    emulator.set_page_size(5)
    items = [make_item(count, seed=count) for count in (0, 1, 5, 12, 23, 40)]
    emulator.clear_requests()

    async def collect(item):
        return [
            job async for job in client.list_item_job_instances(item.workspace_id, item.item_id)
        ]

    results = await asyncio.gather(*(collect(item) for item in items))

    for item, jobs in zip(items, results):
        assert ids_of(jobs) == item.ids
    requests = emulator.requests
    assert len(requests) == sum(page_count(len(item.ids), 5) for item in items)
    keys = [(r["path"], r["query"]) for r in requests]
    assert len(set(keys)) == len(keys), "a page was requested twice"


@pytest.mark.asyncio
async def test_concurrent_page_listings_of_the_same_item(emulator, client, make_item):
    emulator.set_page_size(4)
    item = make_item(15)

    async def pages():
        return [
            [job.id for job in page]
            async for page in client.list_item_job_instances(
                item.workspace_id, item.item_id
            ).by_page()
        ]

    results = await asyncio.gather(*(pages() for _ in range(4)))
    for result in results:
        assert [len(page) for page in result] == [4, 4, 4, 3]
        assert [i for page in result for i in page] == item.ids


@pytest.mark.asyncio
async def test_async_resume_from_continuation_token(emulator, client, make_item):
    emulator.set_page_size(4)
    item = make_item(10)

    pager = client.list_item_job_instances(item.workspace_id, item.item_id)
    first = []
    async for page in pager.by_page():
        first = page.items
        break
    token = pager.continuation_token
    assert token

    rest = [
        job
        async for job in client.list_item_job_instances(
            item.workspace_id, item.item_id, continuation_token=token
        )
    ]
    union = ids_of(first) + ids_of(rest)
    assert union == item.ids
    assert len(set(union)) == len(union)


@pytest.mark.asyncio
async def test_async_empty_item_stops_immediately(emulator, client, make_item):
    item = make_item(0)
    pager = client.list_item_job_instances(item.workspace_id, item.item_id)
    with pytest.raises(StopAsyncIteration):
        await pager.__anext__()
    assert len(emulator.requests) == 1


@pytest.mark.asyncio
async def test_async_api_error(emulator, client):
    workspace = emulator.add_workspace()
    missing_item = "00000000-0000-0000-0000-000000000001"
    with pytest.raises(NotFoundError) as caught:
        async for _ in client.list_item_job_instances(workspace, missing_item):
            pass
    assert caught.value.error_code == "ItemNotFound"
    assert caught.value.status_code == 404


@pytest.mark.asyncio
async def test_async_iteration_continues_after_an_error(emulator, client, make_item):
    emulator.set_page_size(4)
    item = make_item(10)

    # prefetch=0: the fault must hit page 2, which a prefetching pager has already requested.
    pager = client.list_item_job_instances(item.workspace_id, item.item_id, prefetch=0)
    got = [await pager.__anext__() for _ in range(4)]
    emulator.fail_next(502)
    with pytest.raises(ServerError):
        await pager.__anext__()
    got.extend([job async for job in pager])
    assert ids_of(got) == item.ids


@pytest.mark.asyncio
async def test_async_repeated_token_raises_paging_error(emulator, client, make_item):
    emulator.set_page_size(3)
    emulator.set_continuation("repeat-token")
    item = make_item(10)
    emulator.clear_requests()

    received = []
    with pytest.raises(PagingError):
        await adrain(client.list_item_job_instances(item.workspace_id, item.item_id), received)
    assert ids_of(received) == item.ids[:6]
    assert len(emulator.requests) == 2


@pytest.mark.asyncio
async def test_async_close_stops_the_listing(emulator, client, make_item):
    emulator.set_page_size(2)
    item = make_item(6)
    emulator.clear_requests()

    pager = client.list_item_job_instances(item.workspace_id, item.item_id, prefetch=0)
    await pager.__anext__()
    pager.close()
    assert [job async for job in pager] == []
    assert len(emulator.requests) == 1


@pytest.mark.asyncio
async def test_waiting_for_a_response_does_not_block_the_event_loop():
    """While a request hangs, other tasks keep running; then the timeout fires."""
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    with HangingServer() as server:
        client = JobsClient(token=TOKEN, base_url=server.base_url, timeout=0.5, max_retries=0)
        pager = client.list_item_job_instances(
            "4b218778-e7a5-4d73-8187-f10824047715", "431e8d7b-4a95-4c02-8ccd-6faef5ba1bd7"
        )
        task = asyncio.ensure_future(ticker())
        started = time.monotonic()
        try:
            with pytest.raises(FabricTimeoutError):
                await pager.__anext__()
        finally:
            task.cancel()
        elapsed = time.monotonic() - started

    assert 0.4 <= elapsed < 5
    assert ticks >= 5, f"the event loop was blocked (only {ticks} ticks in {elapsed:.2f} s)"
