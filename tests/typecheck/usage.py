"""Typical user code, checked with `mypy --strict` (not run by pytest): if the stubs or the
typed Python modules drift from how people use the package, this file stops type-checking."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from typing import Any

from fabric_jobs import (
    ErrorResponse,
    FabricApiError,
    FabricError,
    FabricTimeoutError,
    InvokeType,
    JobInstance,
    JobsClient,
    JobStatus,
    NotFoundError,
    Page,
    ThrottledError,
)
from fabric_jobs.testing import FabricEmulator


def durations(client: JobsClient, workspace: str, item: uuid.UUID) -> list[float]:
    seconds: list[float] = []
    for job in client.list_item_job_instances(workspace, item):
        start: datetime.datetime | None = job.start_time_utc
        end: datetime.datetime | None = job.end_time_utc
        if start is not None and end is not None:
            seconds.append((end - start).total_seconds())
        status: JobStatus | str | None = job.status
        if status == JobStatus.FAILED and job.failure_reason is not None:
            reason: ErrorResponse = job.failure_reason
            code: str | None = reason.error_code
            print(code, [d.error_code for d in reason.more_details])
        if job.invoke_type == InvokeType.SCHEDULED:
            print(job.to_dict()["invokeType"])
    return seconds


def rows(client: JobsClient) -> list[dict[str, Any]]:
    pager = client.list_item_job_instances("ws", "item", as_dict=True)
    first: list[dict[str, Any]] = []
    for page in pager.by_page():
        typed_page: Page[dict[str, Any]] = page
        first.extend(typed_page.items)
        token: str | None = page.continuation_token
        print(token)
        break
    resumed = client.list_item_job_instances(
        "ws", "item", as_dict=True, continuation_token=pager.continuation_token
    )
    return first + list(resumed)


async def newest(client: JobsClient) -> JobInstance | None:
    async for job in client.list_item_job_instances("ws", "item"):
        return job
    async for page in client.list_item_job_instances("ws", "item").by_page():
        return page.items[0] if page.items else None
    return None


def errors(client: JobsClient) -> None:
    try:
        list(client.list_item_job_instances("ws", "item"))
    except NotFoundError as e:
        print(e.status_code, e.error_code, e.request_id, e.headers.get("requestid"))
    except ThrottledError as e:
        wait: float | None = e.retry_after
        print(wait)
    except FabricApiError as e:
        print(e.more_details, e.related_resource, e.is_retriable)
    except (FabricTimeoutError, TimeoutError) as e:
        print(e)
    except FabricError as e:
        print(e.message)


def with_emulator() -> int:
    with FabricEmulator(page_size=10) as emulator:
        [(workspace, item)] = emulator.seed(jobs_per_item=30)
        emulator.fail_next(429, headers={"Retry-After": "1"})
        client = JobsClient(token="t", base_url=emulator.base_url, timeout=5.0)
        job = JobInstance.from_dict({"id": "x", "status": "Completed"})
        print(job, emulator.requests)
        return len(list(client.list_item_job_instances(workspace, item)))


if __name__ == "__main__":
    print(with_emulator())
    asyncio.run(newest(JobsClient(token="t")))
