"""fabric-jobs: a fast, correct client for the Microsoft Fabric Job Scheduler API.

>>> from fabric_jobs import JobsClient
>>> client = JobsClient(token="...")                      # doctest: +SKIP
>>> for job in client.list_item_job_instances(workspace_id, item_id):   # doctest: +SKIP
...     print(job.status, job.start_time_utc)

See :mod:`fabric_jobs.errors` for the exception tree.
"""

from __future__ import annotations

import atexit

from fabric_jobs._core import (
    ErrorDetail,
    ErrorResponse,
    ItemJobInstances,
    JobInstance,
    JobInstanceFanOut,
    JobInstancePager,
    JobsClient,
    Page,
    PageIterator,
    RelatedResource,
    __version__,
    _shutdown_runtime,
)
from fabric_jobs.enums import InvokeType, JobStatus
from fabric_jobs.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    CredentialError,
    FabricApiError,
    FabricConnectionError,
    FabricError,
    FabricTimeoutError,
    InvalidResponseError,
    NotFoundError,
    PagingError,
    PermissionDeniedError,
    ServerError,
    ThrottledError,
)

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "CredentialError",
    "ErrorDetail",
    "ErrorResponse",
    "FabricApiError",
    "FabricConnectionError",
    "FabricError",
    "FabricTimeoutError",
    "InvalidResponseError",
    "InvokeType",
    "ItemJobInstances",
    "JobInstance",
    "JobInstanceFanOut",
    "JobInstancePager",
    "JobStatus",
    "JobsClient",
    "NotFoundError",
    "Page",
    "PageIterator",
    "PagingError",
    "PermissionDeniedError",
    "RelatedResource",
    "ServerError",
    "ThrottledError",
    "__version__",
]

# Stop the I/O runtime before the interpreter finalises: a runtime thread that touches Python
# during finalisation crashes the process (seen after async listings at exit).
atexit.register(_shutdown_runtime)
