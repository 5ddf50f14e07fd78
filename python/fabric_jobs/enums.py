"""Known values of the open string sets the API uses.

The API documents ``status`` and ``invokeType`` as open sets ("may be added over time"):
known values come back as members of these enums (which compare equal to their wire strings),
unknown ones as plain ``str``. Code that compares with either works for both.
"""

from __future__ import annotations

from enum import Enum


class _WireStrEnum(str, Enum):
    def __str__(self) -> str:
        return str(self.value)


class JobStatus(_WireStrEnum):
    """``ItemJobInstance.status``."""

    NOT_STARTED = "NotStarted"
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    DEDUPED = "Deduped"

    @property
    def is_terminal(self) -> bool:
        """True for statuses a job never leaves (Completed, Failed, Cancelled, Deduped)."""
        return self in _TERMINAL


_TERMINAL = frozenset(
    {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.DEDUPED}
)


class InvokeType(_WireStrEnum):
    """``ItemJobInstance.invokeType``."""

    MANUAL = "Manual"
    SCHEDULED = "Scheduled"
