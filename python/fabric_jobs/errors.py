"""The exceptions fabric-jobs raises: one tree under :class:`FabricError`.

::

    FabricError                      anything fabric-jobs raises on purpose
    ├── FabricApiError               the service answered with a non-2xx status
    │   ├── BadRequestError          400
    │   ├── AuthenticationError      401  (missing, invalid or expired token)
    │   ├── PermissionDeniedError    403
    │   ├── NotFoundError            404  (ItemNotFound, WorkspaceNotFound, ...)
    │   ├── ConflictError            409
    │   ├── ThrottledError           429  (see ``retry_after``)
    │   └── ServerError              5xx
    ├── InvalidResponseError         a 2xx response whose body is not what the API documents
    ├── PagingError                  the service repeated a continuation (would loop forever)
    ├── CredentialError              the credential / token_provider failed (original chained)
    ├── FabricConnectionError        also a builtin ``ConnectionError``
    └── FabricTimeoutError           also a builtin ``TimeoutError``

Invalid arguments (an id that is not a GUID, an http base URL to another host) raise the
builtin ``ValueError`` before any request is sent.

Branch on ``error_code`` (the API's stable contract), not on ``message`` (meant for people).
No exception message or attribute contains the bearer token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fabric_jobs._core import ErrorDetail, ErrorResponse, RelatedResource

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "CredentialError",
    "FabricApiError",
    "FabricConnectionError",
    "FabricError",
    "FabricTimeoutError",
    "InvalidResponseError",
    "NotFoundError",
    "PagingError",
    "PermissionDeniedError",
    "ServerError",
    "ThrottledError",
]


class FabricError(Exception):
    """Base class of every exception fabric-jobs raises on purpose."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self._details = details
        for name, value in details.items():
            setattr(self, name, value)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self._details))

    def __str__(self) -> str:
        return self.message


def _rebuild(cls: type[FabricError], message: str, details: dict[str, Any]) -> FabricError:
    return cls(message, **details)


class FabricApiError(FabricError):
    """The service answered with a non-2xx status.

    Attributes: ``status_code``, ``error_code`` (e.g. ``"ItemNotFound"``), ``error_message``
    (the service's ``message``), ``request_id`` (body, else the ``RequestId`` header),
    ``more_details``, ``related_resource``, ``is_retriable``, ``retry_after`` (seconds or None),
    ``headers`` (dict), ``method``, ``url``, ``response_text`` (a short excerpt when the body
    was not a Fabric error, e.g. an HTML proxy page) and ``error`` (the parsed ErrorResponse).
    """

    status_code: int
    error_code: str | None
    error_message: str | None
    request_id: str | None
    more_details: Sequence[ErrorDetail]
    related_resource: RelatedResource | None
    is_retriable: bool | None
    retry_after: float | None
    headers: Mapping[str, str]
    method: str | None
    url: str | None
    response_text: str | None
    error: ErrorResponse | None

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error_code: str | None = None,
        error_message: str | None = None,
        request_id: str | None = None,
        more_details: Sequence[ErrorDetail] = (),
        related_resource: RelatedResource | None = None,
        is_retriable: bool | None = None,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
        method: str | None = None,
        url: str | None = None,
        response_text: str | None = None,
        error: ErrorResponse | None = None,
    ) -> None:
        super().__init__(
            message,
            status_code=status_code,
            error_code=error_code,
            error_message=error_message,
            request_id=request_id,
            more_details=list(more_details),
            related_resource=related_resource,
            is_retriable=is_retriable,
            retry_after=retry_after,
            headers=dict(headers or {}),
            method=method,
            url=url,
            response_text=response_text,
            error=error,
        )


class BadRequestError(FabricApiError):
    """400: the request was malformed (bad id, bad continuation token, ...)."""


class AuthenticationError(FabricApiError):
    """401: the token is missing, invalid or expired (``error_code`` e.g. ``TokenExpired``)."""


class PermissionDeniedError(FabricApiError):
    """403: the identity may not access this workspace or item."""


class NotFoundError(FabricApiError):
    """404: ``ItemNotFound``, ``WorkspaceNotFound``, ..."""


class ConflictError(FabricApiError):
    """409: the resource is in a conflicting state."""


class ThrottledError(FabricApiError):
    """429: throttled (``RequestBlocked``); ``retry_after`` says how long to wait, if known."""


class ServerError(FabricApiError):
    """5xx: a service-side failure; usually worth retrying later."""


class InvalidResponseError(FabricError):
    """A 2xx response whose body is not what the API documents. Has ``url``, ``request_id``."""

    url: str | None
    request_id: str | None


class PagingError(FabricError):
    """The service returned the continuation it was just given; has ``url``,
    ``continuation_token``. The listing is incomplete."""

    url: str | None
    continuation_token: str | None


class CredentialError(FabricError):
    """``credential=`` or ``token_provider=`` failed or returned something unusable; the
    original exception, if any, is ``__cause__``."""


class FabricConnectionError(FabricError, ConnectionError):
    """The service could not be reached, or the connection broke mid-response. Has ``url``."""

    url: str | None


class FabricTimeoutError(FabricError, TimeoutError):
    """No complete response within ``timeout`` seconds (then ``timeout`` is set), or the whole
    listing ran past ``deadline`` (then ``deadline`` is set). Has ``url``."""

    url: str | None
    timeout: float | None
    deadline: float | None
