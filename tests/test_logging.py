"""The ``fabric_jobs`` logger: one DEBUG record per HTTP attempt (method, URL, status, elapsed
ms, request id, attempt), one WARNING per retry (reason and wait), nothing at all created below
the logger's level; and the bearer token never appears in a log record, a repr, an exception
or an exception's attributes.
"""

from __future__ import annotations

import logging
import re
import time
import types
import uuid
from collections.abc import Iterator

import pytest
from _helpers import TOKEN, drain, guid
from fabric_jobs import (
    AuthenticationError,
    BadRequestError,
    CredentialError,
    FabricConnectionError,
    FabricError,
    FabricTimeoutError,
    InvalidResponseError,
    JobsClient,
    NotFoundError,
    PagingError,
    ServerError,
    ThrottledError,
)

LOGGER = "fabric_jobs"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DEBUG_RE = re.compile(
    r"^GET (?P<url>\S+) -> (?P<status>\d{3}|no response) in (?P<ms>\d+(?:\.\d+)?) ms "
    r"\(request id (?P<rid>[^,]+), attempt (?P<attempt>\d+)\)$"
)
WARNING_RE = re.compile(
    r"^GET (?P<url>\S+) failed \((?P<reason>.+)\); "
    r"retry (?P<retry>\d+) of (?P<max>\d+) in (?P<wait>\d+(?:\.\d+)?) s$"
)


def make_client(emulator, **kwargs):
    kwargs.setdefault("retry_backoff", 0.01)
    return JobsClient(token=TOKEN, base_url=emulator.base_url, **kwargs)


def ours(caplog, level=None):
    return [r for r in caplog.records if r.name == LOGGER and (level is None or r.levelno == level)]


def parse(regex, record):
    match = regex.match(record.getMessage())
    assert match, f"unexpected log message: {record.getMessage()!r}"
    return match


def request_url(emulator, request):
    """The full URL of a request the emulator recorded."""
    origin = emulator.base_url.removesuffix("/v1")
    query = request["query"]
    return origin + request["path"] + (f"?{query}" if query else "")


@pytest.fixture
def debug_logs(caplog) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    return caplog


@pytest.fixture
def created_records() -> Iterator[list[logging.LogRecord]]:
    """Every LogRecord of the ``fabric_jobs`` logger that gets created at all (even if a
    handler or level would drop it later)."""
    created: list[logging.LogRecord] = []
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        if record.name == LOGGER:
            created.append(record)
        return record

    logging.setLogRecordFactory(factory)
    try:
        yield created
    finally:
        logging.setLogRecordFactory(previous)


# ---------------------------------------------------------------- DEBUG per attempt


def test_one_debug_record_per_attempt(emulator, make_item, debug_logs):
    emulator.set_page_size(5)
    item = make_item(12)
    emulator.set_latency(0.05)
    emulator.clear_requests()
    known_id = str(uuid.uuid4())
    # A gateway's HTML 503: no body requestId, so the RequestId header is the request id.
    emulator.fail_next(
        503, body="<html>Service Unavailable</html>", headers={"RequestId": known_id}
    )

    jobs = list(make_client(emulator).list_item_job_instances(item.workspace_id, item.item_id))
    assert len(jobs) == 12

    requests = emulator.requests
    records = ours(debug_logs, logging.DEBUG)
    assert len(records) == len(requests) == 4
    seen_ids = []
    for record, request in zip(records, requests):
        assert record.levelname == "DEBUG"
        m = parse(DEBUG_RE, record)
        assert m["url"] == request_url(emulator, request)
        assert m["status"] == str(request["status"])
        assert float(m["ms"]) >= 45.0  # the emulator's 50 ms latency is in it
        seen_ids.append(m["rid"])
    assert [int(parse(DEBUG_RE, r)["attempt"]) for r in records] == [1, 2, 1, 1]
    assert [r["status"] for r in requests] == [503, 200, 200, 200]
    assert seen_ids[0] == known_id  # the RequestId header of that very response
    assert all(UUID_RE.match(rid) for rid in seen_ids[1:])
    assert len(set(seen_ids)) == 4


def test_attempt_without_a_response_is_logged_too(emulator, make_item, debug_logs):
    item = make_item(3)
    emulator.clear_requests()
    emulator.drop_next()
    emulator.hang_next()

    client = make_client(emulator, timeout=0.3)
    assert len(list(client.list_item_job_instances(item.workspace_id, item.item_id))) == 3

    records = ours(debug_logs, logging.DEBUG)
    assert len(records) == len(emulator.requests) == 3
    parsed = [parse(DEBUG_RE, r) for r in records]
    assert [m["status"] for m in parsed] == ["no response", "no response", "200"]
    assert [m["rid"] for m in parsed[:2]] == ["-", "-"]
    assert [m["attempt"] for m in parsed] == ["1", "2", "3"]
    assert float(parsed[1]["ms"]) >= 280.0  # the hung attempt lasted the 0.3 s timeout


def test_invalid_2xx_body_is_logged_with_its_status_and_request_id(emulator, make_item, debug_logs):
    item = make_item(3)
    known_id = str(uuid.uuid4())
    emulator.fail_next(200, body="<html>proxy</html>", headers={"RequestId": known_id})

    pager = make_client(emulator).list_item_job_instances(item.workspace_id, item.item_id)
    with pytest.raises(InvalidResponseError):
        next(pager)

    (record,) = ours(debug_logs, logging.DEBUG)
    m = parse(DEBUG_RE, record)
    assert (m["status"], m["rid"]) == ("200", known_id)


def test_oversized_body_attempt_is_logged_with_its_status_and_request_id(
    emulator, make_item, debug_logs
):
    """The exception names the response's request id; the DEBUG record of the same attempt
    should too (and its status 200), not "no response ... request id -"."""
    emulator.set_page_size(50)
    item = make_item(50)
    client = make_client(emulator, max_body_bytes=2000)

    pager = client.list_item_job_instances(item.workspace_id, item.item_id)
    with pytest.raises(InvalidResponseError) as caught:
        next(pager)

    (record,) = ours(debug_logs, logging.DEBUG)
    m = parse(DEBUG_RE, record)
    assert caught.value.request_id is not None
    assert (m["status"], m["rid"]) == ("200", caught.value.request_id), record.getMessage()


# ---------------------------------------------------------------- WARNING per retry


def test_one_warning_per_retry_with_reason_and_wait(emulator, make_item, debug_logs):
    item = make_item(3)
    emulator.clear_requests()
    emulator.fail_next(503, count=2)
    emulator.fail_next(429, headers={"Retry-After": "0.5"})

    client = make_client(emulator, max_retries=5)
    assert len(list(client.list_item_job_instances(item.workspace_id, item.item_id))) == 3

    records = ours(debug_logs)
    assert [r.levelname for r in records] == [
        "DEBUG", "WARNING", "DEBUG", "WARNING", "DEBUG", "WARNING", "DEBUG"
    ]  # fmt: skip
    warnings = [parse(WARNING_RE, r) for r in ours(debug_logs, logging.WARNING)]
    url = request_url(emulator, emulator.requests[0])
    assert all(m["url"] == url for m in warnings)
    assert [m["reason"] for m in warnings] == [
        "HTTP 503 ServiceUnavailable",
        "HTTP 503 ServiceUnavailable",
        "HTTP 429 RequestBlocked",
    ]
    assert [(m["retry"], m["max"]) for m in warnings] == [("1", "5"), ("2", "5"), ("3", "5")]
    # Backoff waits are full jitter under 10 ms, then 20 ms; Retry-After: 0.5 is waited as is.
    assert float(warnings[0]["wait"]) <= 0.01
    assert float(warnings[1]["wait"]) <= 0.02
    assert warnings[2]["wait"] == "0.50"


def test_warnings_name_transport_failures(emulator, make_item, debug_logs):
    item = make_item(3)
    emulator.drop_next()
    emulator.hang_next()

    client = make_client(emulator, timeout=0.3)
    assert len(list(client.list_item_job_instances(item.workspace_id, item.item_id))) == 3

    reasons = [parse(WARNING_RE, r)["reason"] for r in ours(debug_logs, logging.WARNING)]
    assert len(reasons) == 2
    assert reasons[0].startswith("connection failed")
    assert reasons[1] == "no response within 0.3 s"


def test_no_warning_when_the_retry_is_not_taken(emulator, make_item, debug_logs):
    item = make_item(3)
    emulator.fail_next(429, headers={"Retry-After": "30"})

    pager = make_client(emulator, max_retry_wait=5.0).list_item_job_instances(
        item.workspace_id, item.item_id
    )
    with pytest.raises(ThrottledError):
        next(pager)

    assert ours(debug_logs, logging.WARNING) == []
    assert len(ours(debug_logs, logging.DEBUG)) == 1


# ---------------------------------------------------------------- levels


def test_nothing_is_created_at_warning_level_without_retries(
    emulator, make_item, caplog, created_records
):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    emulator.set_page_size(2)
    item = make_item(7)

    jobs = list(make_client(emulator).list_item_job_instances(item.workspace_id, item.item_id))

    assert len(jobs) == 7
    assert len(emulator.requests) == 4
    assert created_records == []  # not even created and then filtered out
    assert ours(caplog) == []


def test_only_warnings_are_created_at_warning_level(emulator, make_item, caplog, created_records):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    item = make_item(3)
    emulator.fail_next(503)

    assert (
        len(list(make_client(emulator).list_item_job_instances(item.workspace_id, item.item_id)))
        == 3
    )

    assert [r.levelno for r in created_records] == [logging.WARNING]
    assert [r.levelno for r in ours(caplog)] == [logging.WARNING]


def test_a_level_change_shows_from_the_next_page_requested(emulator, make_item, caplog):
    """Whether DEBUG is on is read on the Python thread whenever it asks for work (runtime
    threads never take the GIL just to ask): a change applies from the next page Python asks
    for. With prefetch=0 that is exactly the next request."""
    emulator.set_page_size(2)
    item = make_item(6)  # 3 pages
    caplog.set_level(logging.WARNING, logger=LOGGER)
    client = make_client(emulator)

    pager = client.list_item_job_instances(item.workspace_id, item.item_id, prefetch=0)
    next(pager)
    next(pager)  # page 1
    assert ours(caplog) == []
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    assert len(list(pager)) == 4  # pages 2 and 3
    urls = [parse(DEBUG_RE, r)["url"] for r in ours(caplog, logging.DEBUG)]
    assert len(urls) == 2
    assert all("continuationToken=" in url for url in urls)

    caplog.set_level(logging.WARNING, logger=LOGGER)
    caplog.clear()
    assert len(list(client.list_item_job_instances(item.workspace_id, item.item_id))) == 6
    assert ours(caplog) == []

    caplog.set_level(logging.DEBUG, logger=LOGGER)
    assert len(list(client.list_item_job_instances(item.workspace_id, item.item_id))) == 6
    assert len(ours(caplog, logging.DEBUG)) == 3


def test_a_level_change_with_prefetch(emulator, make_item, caplog):
    """With pages fetched ahead, the change applies from the page Python takes next: its own
    request may or may not be logged (it may still be in flight), every later one is."""
    emulator.set_page_size(2)
    item = make_item(10)  # 5 pages
    caplog.set_level(logging.WARNING, logger=LOGGER)
    pager = make_client(emulator).list_item_job_instances(
        item.workspace_id, item.item_id, prefetch=1
    )
    next(pager)
    next(pager)  # page 1 taken; page 2 is requested now, while DEBUG is off
    deadline = time.monotonic() + 5
    while len(emulator.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    assert len(list(pager)) == 8
    urls = [parse(DEBUG_RE, r)["url"] for r in ours(caplog, logging.DEBUG)]
    requested = [request_url(emulator, r) for r in emulator.requests]
    assert len(requested) == 5
    assert urls in (requested[2:], requested[1:])


@pytest.mark.asyncio
async def test_async_listings_read_the_level_too(emulator, make_item, caplog):
    emulator.set_page_size(2)
    item = make_item(4)
    client = make_client(emulator)
    caplog.set_level(logging.WARNING, logger=LOGGER)
    assert len(list(client.list_item_job_instances(item.workspace_id, item.item_id))) == 4
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    jobs = [j async for j in client.list_item_job_instances(item.workspace_id, item.item_id)]
    assert len(jobs) == 4
    assert len(ours(caplog, logging.DEBUG)) == 2


def test_an_interrupt_while_reading_the_level_is_raised(emulator, make_item, monkeypatch):
    """Reading the level runs Python code, where a pending Ctrl-C is delivered: it must come
    out of the listing, not be swallowed (and the listing continues afterwards)."""
    emulator.set_page_size(2)
    item = make_item(4)
    pager = make_client(emulator).list_item_job_instances(item.workspace_id, item.item_id)

    def interrupted(level: int) -> bool:
        raise KeyboardInterrupt

    monkeypatch.setattr(logging.getLogger(LOGGER), "isEnabledFor", interrupted)
    with pytest.raises(KeyboardInterrupt):
        next(pager)
    monkeypatch.undo()
    assert len(list(pager)) == 4


@pytest.mark.asyncio
async def test_an_error_while_reading_the_level_comes_out_of_the_await(
    emulator, make_item, monkeypatch
):
    emulator.set_page_size(2)
    item = make_item(4)
    pager = make_client(emulator).list_item_job_instances(item.workspace_id, item.item_id)

    def broken(level: int) -> bool:
        raise ZeroDivisionError

    assert (await pager.__anext__()) is not None  # page 1 buffered
    await pager.__anext__()
    monkeypatch.setattr(logging.getLogger(LOGGER), "isEnabledFor", broken)
    pending = pager.__anext__()  # does not raise itself
    with pytest.raises(ZeroDivisionError):
        await pending
    monkeypatch.undo()
    assert len([job async for job in pager]) == 2


# ---------------------------------------------------------------- the token never leaks


def assert_no_token(obj, what, _depth=0):
    """The token is in neither str() nor repr() of ``obj``, nor (for an exception) of its
    args, attributes (header items included), cause and context."""
    assert TOKEN not in str(obj), f"token in str() of {what}"
    assert TOKEN not in repr(obj), f"token in repr() of {what}"
    if _depth > 3:
        return
    if isinstance(obj, BaseException):
        for index, arg in enumerate(obj.args):
            assert_no_token(arg, f"{what}.args[{index}]", _depth + 1)
        for name, value in vars(obj).items():
            assert_no_token(value, f"{what}.{name}", _depth + 1)
        for link in ("__cause__", "__context__"):
            if getattr(obj, link) is not None:
                assert_no_token(getattr(obj, link), f"{what}.{link}", _depth + 1)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            assert_no_token(key, f"{what} key", _depth + 1)
            assert_no_token(value, f"{what}[{key!r}]", _depth + 1)
    elif isinstance(obj, (list, tuple)):
        for index, value in enumerate(obj):
            assert_no_token(value, f"{what}[{index}]", _depth + 1)


def assert_no_token_in_records(records):
    assert records
    for record in records:
        assert TOKEN not in record.getMessage()
        assert TOKEN not in repr(record.args)
        assert TOKEN not in repr(vars(record))


def test_token_never_in_records_or_reprs_of_a_retried_listing(emulator, make_item, debug_logs):
    emulator.set_token(TOKEN)  # only the distinctive token is accepted
    emulator.set_page_size(3)
    item = make_item(10)
    client = make_client(emulator, timeout=0.3)
    assert_no_token(client, "the client")

    pager = client.list_item_job_instances(item.workspace_id, item.item_id)
    pages = pager.by_page()
    assert_no_token(pager, "a fresh pager")
    emulator.fail_next(503)
    emulator.drop_next()
    emulator.fail_next(429, headers={"Retry-After": "0"})
    first = next(pages)
    emulator.truncate_next()
    emulator.hang_next()
    rest = list(pages)

    assert sum(len(page) for page in [first, *rest]) == 10
    for index, page in enumerate([first, *rest]):
        assert_no_token(page, f"page {index}")
        assert_no_token(page.items, f"items of page {index}")
    assert_no_token(pager, "the finished pager")
    assert_no_token(pages, "the page iterator")
    records = ours(debug_logs)
    assert len(ours(debug_logs, logging.WARNING)) == 5
    assert_no_token_in_records(records)


def _error_of(pager):
    with pytest.raises(FabricError) as caught:
        drain(pager, [])
    return caught.value


def test_token_never_in_any_exception(emulator, make_emulator, make_item, debug_logs):
    emulator.set_page_size(2)
    item = make_item(5)
    strict = make_client(emulator, max_retries=0)
    list_item = lambda c, **kw: c.list_item_job_instances(item.workspace_id, item.item_id, **kw)  # noqa: E731
    caught: dict[type, FabricError] = {}

    def collect(cls, exc):
        assert type(exc) is cls, f"{type(exc).__name__}: {exc}"
        caught.setdefault(cls, exc)
        assert_no_token(exc, cls.__name__)

    emulator.fail_next(503, headers={"Retry-After": "7"})
    collect(ServerError, _error_of(list_item(strict)))
    emulator.fail_next(429, headers={"Retry-After": "30"})
    collect(ThrottledError, _error_of(list_item(make_client(emulator, max_retry_wait=1.0))))
    emulator.fail_next(401)  # TokenExpired; a static token is not refreshed
    collect(AuthenticationError, _error_of(list_item(strict)))
    emulator.set_token("another-token")  # a real 401 with WWW-Authenticate
    collect(AuthenticationError, _error_of(list_item(strict)))
    emulator.set_token(None)
    collect(BadRequestError, _error_of(list_item(strict, continuation_token="garbage")))
    collect(NotFoundError, _error_of(strict.list_item_job_instances(item.workspace_id, guid("x"))))
    emulator.drop_next()
    collect(FabricConnectionError, _error_of(list_item(strict)))
    emulator.hang_next()
    collect(
        FabricTimeoutError, _error_of(list_item(make_client(emulator, timeout=0.2, max_retries=0)))
    )
    emulator.fail_next(200, body='{"value": 5}')
    collect(InvalidResponseError, _error_of(list_item(strict)))
    emulator.set_continuation("repeat-token")
    collect(PagingError, _error_of(list_item(strict)))
    emulator.set_continuation("both")

    slow = make_emulator(page_size=1, latency=0.1)
    slow_item = make_item(10, emu=slow)
    deadline_client = JobsClient(token=TOKEN, base_url=slow.base_url, deadline=0.25)
    exc = _error_of(
        deadline_client.list_item_job_instances(slow_item.workspace_id, slow_item.item_id)
    )
    assert type(exc) is FabricTimeoutError
    assert exc.deadline == 0.25
    assert_no_token(exc, "deadline FabricTimeoutError")

    for cls in (ServerError, ThrottledError, AuthenticationError, BadRequestError, NotFoundError):
        api = caught[cls]
        assert api.headers, f"{cls.__name__} has no headers to check"
        for name, value in api.headers.items():
            assert TOKEN not in name
            assert TOKEN not in value
        assert TOKEN not in api.url
    assert TOKEN not in caught[InvalidResponseError].url
    assert_no_token_in_records(ours(debug_logs))


class _FailingVault:
    """A token_provider: hands out the token once, then fails with a message of its own."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> tuple[str, None]:
        self.calls += 1
        if self.calls == 1:
            return (TOKEN, None)  # no expiry, not a JWT: cached until a 401 TokenExpired
        raise RuntimeError("vault unreachable: connection refused")


def test_token_never_in_a_credential_error(emulator, make_item, debug_logs):
    emulator.set_token(TOKEN)
    emulator.set_page_size(2)
    item = make_item(5)
    vault = _FailingVault()
    client = JobsClient(token_provider=vault, base_url=emulator.base_url, max_retries=0)
    pager = client.list_item_job_instances(item.workspace_id, item.item_id, prefetch=0)
    got = [next(pager), next(pager)]  # page 1 with the provider's token

    emulator.fail_next(401, "TokenExpired")
    with pytest.raises(CredentialError) as caught:
        next(pager)

    exc = caught.value
    assert vault.calls == 2  # the refresh asked the provider, which failed
    assert isinstance(exc.__cause__, RuntimeError)
    assert "vault unreachable" in str(exc)
    assert_no_token(exc, "CredentialError")
    assert_no_token(client, "the client")
    assert_no_token(pager, "the pager")
    assert len(got) == 2
    assert_no_token_in_records(ours(debug_logs))


@pytest.mark.parametrize(
    "returned",
    [
        (TOKEN, "soon"),
        {"token": TOKEN},
        types.SimpleNamespace(token=TOKEN),
        (TOKEN,),
    ],
    ids=["expiry not a number", "a dict", "no expires_on", "1-tuple"],
)
def test_token_never_in_a_credential_error_about_a_malformed_result(emulator, make_item, returned):
    item = make_item(1)
    client = JobsClient(token_provider=lambda: returned, base_url=emulator.base_url)

    with pytest.raises(CredentialError) as caught:
        next(client.list_item_job_instances(item.workspace_id, item.item_id))

    assert_no_token(caught.value, "CredentialError")
    assert emulator.requests == []  # nothing was sent with a token that could not be read
