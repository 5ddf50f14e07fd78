"""Plain helpers shared by the test modules (fixtures are in conftest.py)."""

from __future__ import annotations

import socket
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

#: A distinctive bearer token: no test output, repr or exception may ever contain it.
TOKEN = "fjtest-SECRET-bearer-7f3c9a1e-do-not-print"

_NAMESPACE = uuid.UUID("6f1c3f4e-2a7b-4c55-9d0e-0123456789ab")


def guid(name: str) -> str:
    """A deterministic GUID for a readable name."""
    return str(uuid.uuid5(_NAMESPACE, name))


@dataclass(frozen=True)
class SeededItem:
    workspace_id: str
    item_id: str
    #: The instances as the emulator stores and serves them (wire dicts, newest first).
    instances: list[dict[str, Any]] = field(repr=False)

    @property
    def ids(self) -> list[Any]:
        return [instance.get("id") for instance in self.instances]

    @property
    def path(self) -> str:
        """The request path of this item's listing, as the emulator records it."""
        return f"/v1/workspaces/{self.workspace_id}/items/{self.item_id}/jobs/instances"


def wire_job(n: int, **overrides: Any) -> dict[str, Any]:
    """A complete ItemJobInstance wire dict in Fabric's key order; ``overrides`` replace or add
    keys (a value of ``...`` removes the key)."""
    job: dict[str, Any] = {
        "id": guid(f"job-{n}"),
        "itemId": guid("item"),
        "jobType": "Pipeline",
        "invokeType": "Manual",
        "status": "Completed",
        "rootActivityId": guid(f"activity-{n}"),
        "startTimeUtc": f"2024-06-22T06:{n % 60:02d}:00.7812154",
        "endTimeUtc": f"2024-06-22T07:{n % 60:02d}:00.8033333",
        "failureReason": None,
    }
    for key, value in overrides.items():
        if value is ...:
            job.pop(key, None)
        else:
            job[key] = value
    return job


def ids_of(jobs: list[Any]) -> list[Any]:
    """Ids of JobInstance objects or wire dicts."""
    return [job["id"] if isinstance(job, dict) else job.id for job in jobs]


def listing_requests(emulator: Any, item: SeededItem | None = None) -> list[dict[str, Any]]:
    """The emulator's recorded requests (optionally only those for one item's listing)."""
    requests = list(emulator.requests)
    if item is None:
        return requests
    return [r for r in requests if r["path"] == item.path]


def page_count(total: int, page_size: int) -> int:
    """How many pages the emulator serves for ``total`` instances (an empty item is one page)."""
    return max(1, -(-total // page_size))


class HangingServer:
    """A TCP server on 127.0.0.1 that accepts connections and never answers.

    ``with HangingServer() as server: ... server.base_url ...``
    """

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.02)
        self._accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.port: int = self._sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (socket.timeout, OSError):
                continue
            self._accepted.append(conn)  # hold it open, read nothing, answer nothing

    @property
    def connections(self) -> int:
        return len(self._accepted)

    def __enter__(self) -> HangingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for conn in self._accepted:
            conn.close()
        self._sock.close()


class OneShotHttpServer:
    """A TCP server on 127.0.0.1 that answers every request with the raw HTTP ``response``
    (which may be replaced while it runs) and records the raw request bytes it received."""

    def __init__(self, response: bytes = b"") -> None:
        self.response = response
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.02)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.received: list[bytes] = []
        self.port: int = self._sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (socket.timeout, OSError):
                continue
            with conn:
                conn.settimeout(2)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    self.received.append(data)
                    conn.sendall(self.response)
                except OSError:
                    pass

    def __enter__(self) -> OneShotHttpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()


def drain(iterable: Any, into: list[Any]) -> None:
    """Appends every item of ``iterable`` to ``into`` (what was received before an error
    stays in ``into``)."""
    for element in iterable:
        into.append(element)


async def adrain(aiterable: Any, into: list[Any]) -> None:
    """``drain`` for ``async for``."""
    async for element in aiterable:
        into.append(element)


def http_response(status: str, body: bytes, content_type: str = "application/json") -> bytes:
    """A complete raw HTTP/1.1 response that closes the connection."""
    head = (
        f"HTTP/1.1 {status}\r\n"
        f"Content-Type: {content_type}\r\n"
        "RequestId: 11111111-2222-3333-4444-555555555555\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body
