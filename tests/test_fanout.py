"""Listing many items at once: results tagged with their item, errors isolated, rate limit
respected against the emulator's quota."""

from __future__ import annotations

import asyncio
import random
import time
import uuid

import pytest
from _helpers import TOKEN
from fabric_jobs import (
    FabricError,
    ItemJobInstances,
    JobInstance,
    JobsClient,
    NotFoundError,
    ThrottledError,
)


def make_client(emulator, **kwargs):
    kwargs.setdefault("rate_limit", None)
    kwargs.setdefault("max_retries", 0)
    return JobsClient(token=TOKEN, base_url=emulator.base_url, **kwargs)


def by_item(results):
    return {r.item_id: r for r in results}


@pytest.mark.parametrize("concurrency", [1, 4, 32])
@pytest.mark.parametrize("as_dict", [False, True])
def test_every_item_once_tagged_with_its_workspace_and_item(make_emulator, concurrency, as_dict):
    emu = make_emulator(page_size=7)
    pairs = emu.seed(workspaces=2, items_per_workspace=6, jobs_per_item=15)
    results = list(
        make_client(emu).list_job_instances_many(pairs, concurrency=concurrency, as_dict=as_dict)
    )
    assert sorted((r.workspace_id, r.item_id) for r in results) == sorted(pairs)
    for result in results:
        assert isinstance(result, ItemJobInstances)
        assert result.ok
        assert result.error is None
        result.raise_for_error()
        stored = emu.job_instances(result.workspace_id, result.item_id)
        if as_dict:
            assert result.job_instances == stored
        else:
            assert all(isinstance(j, JobInstance) for j in result)
            assert [j.to_dict() for j in result.job_instances] == stored
            assert {j.item_id for j in result} == {result.item_id}
        assert len(result) == 15
    # Each item's 3 pages were requested once.
    assert len([r for r in emu.requests if r["path"].endswith("/jobs/instances")]) == 12 * 3


@pytest.mark.asyncio
async def test_async_iteration_yields_the_same(make_emulator):
    emu = make_emulator(page_size=10)
    pairs = emu.seed(items_per_workspace=10, jobs_per_item=12)
    client = make_client(emu)
    results = [r async for r in client.list_job_instances_many(pairs, concurrency=4)]
    assert sorted(r.item_id for r in results) == sorted(item for _, item in pairs)
    assert all(len(r) == 12 for r in results)


def test_results_arrive_as_they_complete(make_emulator):
    """A slow item does not hold back the others: with concurrency, fast items come first."""
    emu = make_emulator(page_size=100)
    [(ws, slow)] = emu.seed(jobs_per_item=250)  # 3 pages
    fast = [emu.add_item(ws) for _ in range(3)]
    for item in fast:
        emu.generate_job_instances(ws, item, 5)
    emu.set_latency(0.1)
    order = [
        r.item_id
        for r in make_client(emu).list_job_instances_many(
            [(ws, slow), *((ws, f) for f in fast)], concurrency=4
        )
    ]
    assert order[-1] == slow
    assert sorted(order[:3]) == sorted(fast)


def test_one_failing_item_does_not_lose_the_others(make_emulator):
    emu = make_emulator(page_size=10)
    pairs = emu.seed(items_per_workspace=5, jobs_per_item=20)
    ws = pairs[0][0]
    missing_item = str(uuid.uuid4())
    missing_workspace = str(uuid.uuid4())
    targets = [*pairs, (ws, missing_item), (missing_workspace, str(uuid.uuid4()))]
    results = by_item(make_client(emu).list_job_instances_many(targets, concurrency=3))
    assert len(results) == 7
    failed = results[missing_item]
    assert not failed.ok
    assert isinstance(failed.error, NotFoundError)
    assert failed.error.error_code == "ItemNotFound"
    assert failed.job_instances == []
    with pytest.raises(NotFoundError):
        failed.raise_for_error()
    assert "NotFoundError" in repr(failed)
    other = [r for r in results.values() if r.workspace_id == missing_workspace]
    assert other[0].error.error_code == "WorkspaceNotFound"
    assert all(results[item].ok and len(results[item]) == 20 for _, item in pairs)


def test_a_failure_mid_item_is_that_items_error(make_emulator):
    emu = make_emulator(page_size=5)
    pairs = emu.seed(items_per_workspace=1, jobs_per_item=20)
    emu.fail_next(500, count=1)
    [result] = list(make_client(emu).list_job_instances_many(pairs))
    assert isinstance(result.error, FabricError)
    assert result.job_instances == []  # never a silently partial item


def test_invalid_targets_raise_before_any_request(emulator):
    client = make_client(emulator)
    good = (str(uuid.uuid4()), str(uuid.uuid4()))
    for bad in ([good, ("not-a-guid", good[1])], [good, (good[0],)], [good, 42]):
        with pytest.raises(ValueError, match=r"GUID|pairs"):
            client.list_job_instances_many(bad)
    with pytest.raises(ValueError, match="concurrency"):
        client.list_job_instances_many([good], concurrency=0)
    assert emulator.requests == []


def test_uuid_objects_and_empty_targets(make_emulator):
    emu = make_emulator()
    [(ws, item)] = emu.seed(jobs_per_item=3)
    client = make_client(emu)
    [result] = list(client.list_job_instances_many([(uuid.UUID(ws), uuid.UUID(item))]))
    assert (result.workspace_id, result.item_id, len(result)) == (ws, item, 3)
    assert list(client.list_job_instances_many([])) == []


def test_nothing_is_requested_before_iteration_and_close_stops_everything(make_emulator):
    emu = make_emulator(page_size=5, latency=0.05)
    pairs = emu.seed(items_per_workspace=40, jobs_per_item=20)
    fan = make_client(emu).list_job_instances_many(pairs, concurrency=2)
    time.sleep(0.2)
    assert emu.requests == []
    next(fan)
    fan.close()
    time.sleep(0.2)
    settled = len(emu.requests)
    time.sleep(0.4)
    assert len(emu.requests) == settled < 40 * 4
    assert list(fan) == []


def test_workspace_listing_enumerates_items_and_filters_by_type(make_emulator):
    emu = make_emulator(page_size=4)
    ws = emu.add_workspace()
    pipelines = [emu.add_item(ws, item_type="DataPipeline") for _ in range(6)]
    notebooks = [emu.add_item(ws, item_type="Notebook") for _ in range(5)]
    for item in pipelines + notebooks:
        emu.generate_job_instances(ws, item, 6)
    client = make_client(emu)

    everything = by_item(client.list_workspace_job_instances(ws, concurrency=3))
    assert set(everything) == set(pipelines + notebooks)
    assert {everything[i].item_type for i in pipelines} == {"DataPipeline"}
    assert all(everything[i].item_name for i in everything)
    assert all(len(r) == 6 and r.ok for r in everything.values())

    only_pipelines = list(client.list_workspace_job_instances(ws, "DataPipeline", as_dict=True))
    assert sorted(r.item_id for r in only_pipelines) == sorted(pipelines)
    assert all(isinstance(j, dict) for r in only_pipelines for j in r)
    # 11 items at page size 4: 3 pages of items; the type filter travels with the continuation.
    item_requests = [r for r in emu.requests if r["path"].endswith("/items")]
    assert len(item_requests) == 3 + 2
    assert all("type=DataPipeline" in (r["query"] or "") for r in item_requests[3:])


def test_workspace_that_cannot_be_enumerated_is_one_error_result(emulator):
    results = list(make_client(emulator).list_workspace_job_instances(str(uuid.uuid4())))
    [result] = results
    assert result.item_id is None
    assert isinstance(result.error, NotFoundError)
    assert result.error.error_code == "WorkspaceNotFound"
    with pytest.raises(ValueError, match="GUID"):
        make_client(emulator).list_workspace_job_instances("nope")


def test_client_rate_limit_keeps_a_fan_out_within_the_servers_quota(make_emulator):
    """Quota 10 calls/s on the server, the same limit on the client: no 429 at all, and the
    work still finishes (3 windows for 30 calls)."""
    emu = make_emulator(page_size=100)
    pairs = emu.seed(items_per_workspace=30, jobs_per_item=5)
    emu.set_quota(10, 1.0)
    client = make_client(emu, rate_limit=10, rate_limit_period=1.0, max_retries=5)
    started = time.monotonic()
    results = list(client.list_job_instances_many(pairs, concurrency=16))
    elapsed = time.monotonic() - started
    assert all(r.ok for r in results)
    assert len(results) == 30
    statuses = [r["status"] for r in emu.requests]
    assert statuses.count(429) == 0
    assert len(statuses) == 30
    # 30 calls at 10 per second cannot take less than two full windows.
    assert elapsed >= 2.0


def test_without_a_client_limit_the_fan_out_gets_throttled(make_emulator):
    """The contrast case: no client-side limit, same quota -> the server answers 429s (then
    the retries honour Retry-After, and the adaptive limiter calms down)."""
    emu = make_emulator(page_size=100)
    pairs = emu.seed(items_per_workspace=30, jobs_per_item=5)
    emu.set_quota(10, 1.0)
    client = make_client(emu, rate_limit=None, max_retries=0)
    results = list(client.list_job_instances_many(pairs, concurrency=16))
    throttled = [r for r in results if isinstance(r.error, ThrottledError)]
    assert throttled, "expected some items to be throttled without a client-side limit"
    assert all(r.error.retry_after is not None for r in throttled)


def quiet_after_first_429(emu):
    """Requests that arrived between 0.1 s and 0.9 s after the first 429 (whose Retry-After
    is at least 1 s); the first 0.1 s leaves room for requests already in flight."""
    log = emu.requests
    first = min(r["at"] for r in log if r["status"] == 429)
    return [r for r in log if first + 0.1 < r["at"] < first + 0.9]


def test_after_a_429_every_call_waits_for_retry_after(make_emulator):
    """The client thinks it may send 100/s but the server allows 5/s: the first 429 pauses
    every call of the client until Retry-After instead of each item trying on its own."""
    emu = make_emulator(page_size=100)
    pairs = emu.seed(items_per_workspace=20, jobs_per_item=2)
    emu.set_quota(5, 1.0)
    client = make_client(emu, rate_limit=100, rate_limit_period=1.0, max_retries=10)
    results = list(client.list_job_instances_many(pairs, concurrency=8))
    assert all(r.ok for r in results)
    assert len(results) == 20
    assert quiet_after_first_429(emu) == []


def test_the_limit_is_shared_by_all_calls_of_one_client(make_emulator):
    emu = make_emulator(page_size=100)
    pairs = emu.seed(items_per_workspace=12, jobs_per_item=2)
    emu.set_quota(6, 1.0)
    client = make_client(emu, rate_limit=6, rate_limit_period=1.0, max_retries=5)

    async def main():
        halves = [pairs[:6], pairs[6:]]
        fans = [client.list_job_instances_many(half, concurrency=6) for half in halves]

        async def drain(fan):
            return [r async for r in fan]

        return await asyncio.gather(*(drain(f) for f in fans))

    a, b = asyncio.run(main())
    assert all(r.ok for r in a + b)
    assert len(a + b) == 12
    assert [r["status"] for r in emu.requests].count(429) == 0


def test_rate_limit_settings_are_validated_and_visible(emulator):
    client = JobsClient(token=TOKEN, base_url=emulator.base_url)
    assert (client.rate_limit, client.rate_limit_period) == (200, 60.0)
    assert JobsClient(token=TOKEN, rate_limit=None).rate_limit is None
    with pytest.raises(ValueError, match="rate_limit"):
        JobsClient(token=TOKEN, rate_limit=0)
    with pytest.raises(ValueError, match="rate_limit_period"):
        JobsClient(token=TOKEN, rate_limit_period=0)


def test_timeouts_at_any_moment_lose_no_result(make_emulator):
    """asyncio.wait_for around every __anext__, timing out at random moments (some just as a
    result arrives): every item's result still comes exactly once. (A version that converted
    the result inside the runtime's future lost it when the task was cancelled between the
    future finishing and the event loop delivering it.)"""
    emu = make_emulator(page_size=5, latency=0.01)
    targets = emu.seed(items_per_workspace=150, jobs_per_item=2)
    fan_out = make_client(emu).list_job_instances_many(targets, concurrency=4)
    rng = random.Random(3)

    async def main() -> list[str | None]:
        got: list[str | None] = []
        while True:
            try:
                result = await asyncio.wait_for(fan_out.__anext__(), timeout=rng.uniform(0, 0.01))
            except asyncio.TimeoutError:
                continue
            except StopAsyncIteration:
                return got
            assert result.ok
            got.append(result.item_id)

    got = asyncio.run(main())
    assert sorted(got) == sorted(item for _, item in targets)
