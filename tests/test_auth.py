"""Token sources against the emulator: ``credential=`` (azure-identity's TokenCredential
protocol), ``token_provider=`` (str, JWT, ``(token, expires_on)``, AccessToken-like), the
token cache (5-minute refresh margin, JWT ``exp``, concurrency), the one refresh after
``401 TokenExpired``, credential failures (``CredentialError``) and argument validation."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import threading
import time
from types import SimpleNamespace
from typing import Any, Callable, NamedTuple

import pytest
from _helpers import TOKEN, adrain, drain, ids_of, page_count
from fabric_jobs import AuthenticationError, CredentialError, FabricError, JobsClient

FABRIC_SCOPE = "https://api.fabric.microsoft.com/.default"
HOUR = 3600


class AccessToken(NamedTuple):
    """The shape of ``azure.core.credentials.AccessToken``."""

    token: str
    expires_on: int | None


def jwt(exp: int | None, **claims: Any) -> str:
    """A JWT-looking token (``header.payload.signature``, base64url without padding)."""

    def b64(data: dict[str, Any]) -> str:
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    payload: dict[str, Any] = {"aud": "https://api.fabric.microsoft.com", **claims}
    if exp is not None:
        payload["exp"] = exp
    return f"{b64({'alg': 'RS256', 'typ': 'JWT'})}.{b64(payload)}.c2lnbmF0dXJl"


def in_seconds(seconds: float) -> int:
    return int(time.time() + seconds)


class CountingCredential:
    """A TokenCredential: records every ``get_token`` call (its scopes) and answers with
    ``make(n)`` for the n-th call (1-based)."""

    def __init__(self, make: Callable[[int], Any], delay: float = 0.0) -> None:
        self.make = make
        self.delay = delay
        self.scopes: list[tuple[Any, ...]] = []
        self.kwargs: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def get_token(self, *scopes: Any, **kwargs: Any) -> Any:
        with self._lock:
            self.scopes.append(scopes)
            self.kwargs.append(kwargs)
            n = len(self.scopes)
        if self.delay:
            time.sleep(self.delay)
        return self.make(n)

    @property
    def calls(self) -> int:
        return len(self.scopes)


class CountingProvider:
    """A ``token_provider=`` callable answering ``make(n)`` for the n-th call (1-based)."""

    def __init__(self, make: Callable[[int], Any], delay: float = 0.0) -> None:
        self.make = make
        self.delay = delay
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> Any:
        with self._lock:
            self.calls += 1
            n = self.calls
        if self.delay:
            time.sleep(self.delay)
        return self.make(n)


def listed(client: JobsClient, item: Any) -> list[Any]:
    return ids_of(list(client.list_item_job_instances(item.workspace_id, item.item_id)))


def statuses(emulator: Any) -> list[int]:
    return [r["status"] for r in emulator.requests]


@pytest.fixture
def paged_item(emulator, make_item):
    """8 instances served 3 per page: every listing is 3 requests."""
    emulator.set_page_size(3)
    item = make_item(8)
    emulator.clear_requests()
    return item


PAGES = page_count(8, 3)


# ------------------------------------------------------------------ credential=


def test_credential_is_asked_for_the_fabric_scope_once_for_many_listings(emulator, paged_item):
    credential = CountingCredential(lambda n: AccessToken(f"cred-{n}", in_seconds(HOUR)))
    emulator.set_token("cred-1")  # only the credential's token is accepted
    client = JobsClient(credential=credential, base_url=emulator.base_url, max_retries=0)

    for _ in range(20):
        assert listed(client, paged_item) == paged_item.ids

    assert credential.calls == 1
    assert credential.scopes == [(FABRIC_SCOPE,)]
    assert credential.kwargs == [{}]
    requests = emulator.requests
    assert len(requests) == 20 * PAGES
    assert all(r["authorized"] and r["status"] == 200 for r in requests)


def test_credential_token_inside_the_refresh_margin_is_replaced_on_every_request(
    emulator, paged_item
):
    # Expires in 2 minutes: inside the 5-minute margin, so never reused.
    credential = CountingCredential(lambda n: AccessToken("short-lived", in_seconds(120)))
    emulator.set_token("short-lived")
    client = JobsClient(credential=credential, base_url=emulator.base_url, max_retries=0)

    assert listed(client, paged_item) == paged_item.ids
    assert credential.calls == PAGES == len(emulator.requests)
    assert listed(client, paged_item) == paged_item.ids
    assert credential.calls == 2 * PAGES == len(emulator.requests)
    assert set(credential.scopes) == {(FABRIC_SCOPE,)}


def test_credential_refreshes_once_when_the_first_token_is_about_to_expire(emulator, paged_item):
    # 1st token: 4 minutes left (inside the margin) -> the 2nd request asks again; the 2nd
    # token lives an hour and is kept for everything after.
    credential = CountingCredential(
        lambda n: AccessToken(f"cred-{n}", in_seconds(240 if n == 1 else HOUR))
    )
    client = JobsClient(credential=credential, base_url=emulator.base_url, max_retries=0)

    # prefetch=0: the second request must not go out before the emulator's token changes.
    pager = client.list_item_job_instances(paged_item.workspace_id, paged_item.item_id, prefetch=0)
    pages = pager.by_page()
    first = next(pages)
    assert credential.calls == 1
    emulator.set_token("cred-2")  # from now on only the refreshed token is accepted
    rest = [job for page in pages for job in page]
    assert ids_of(list(first) + rest) == paged_item.ids
    for _ in range(5):
        assert listed(client, paged_item) == paged_item.ids
    assert credential.calls == 2
    assert all(r["authorized"] for r in emulator.requests)


def test_credential_token_already_expired_is_replaced_on_every_request(emulator, paged_item):
    credential = CountingCredential(lambda n: AccessToken("stale", in_seconds(-60)))
    client = JobsClient(credential=credential, base_url=emulator.base_url, max_retries=0)
    assert listed(client, paged_item) == paged_item.ids
    assert credential.calls == PAGES


def test_credential_without_expiry_is_kept_until_rejected(emulator, paged_item):
    credential = CountingCredential(lambda n: AccessToken(f"cred-{n}", None))
    emulator.set_token("cred-1")
    client = JobsClient(credential=credential, base_url=emulator.base_url, max_retries=0)
    for _ in range(20):
        assert listed(client, paged_item) == paged_item.ids
    assert credential.calls == 1
    assert len(emulator.requests) == 20 * PAGES


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(lambda n: (f"cred-{n}", in_seconds(HOUR)), id="tuple"),
        pytest.param(lambda n: (f"cred-{n}", float(in_seconds(HOUR)) + 0.5), id="tuple-float"),
        pytest.param(
            lambda n: SimpleNamespace(token=f"cred-{n}", expires_on=in_seconds(HOUR)),
            id="object",
        ),
    ],
)
def test_credential_may_answer_a_tuple_or_any_access_token_like_object(
    emulator, paged_item, answer
):
    credential = CountingCredential(answer)
    emulator.set_token("cred-1")
    client = JobsClient(credential=credential, base_url=emulator.base_url, max_retries=0)
    for _ in range(3):
        assert listed(client, paged_item) == paged_item.ids
    assert credential.calls == 1
    assert all(r["authorized"] for r in emulator.requests)


# -------------------------------------------------------------- token_provider=


def test_provider_plain_string_is_sent_and_cached(emulator, paged_item):
    provider = CountingProvider(lambda n: f"plain-{n}")
    emulator.set_token("plain-1")
    client = JobsClient(token_provider=provider, base_url=emulator.base_url, max_retries=0)
    for _ in range(10):
        assert listed(client, paged_item) == paged_item.ids
    # Not a JWT and no expiry: kept until the service says TokenExpired.
    assert provider.calls == 1
    assert all(r["authorized"] for r in emulator.requests)


def test_provider_string_is_trimmed(emulator, paged_item):
    provider = CountingProvider(lambda n: "  padded-token\n")
    emulator.set_token("padded-token")
    client = JobsClient(token_provider=provider, base_url=emulator.base_url, max_retries=0)
    assert listed(client, paged_item) == paged_item.ids
    assert all(r["authorized"] for r in emulator.requests)


def test_provider_jwt_with_a_distant_exp_is_cached(emulator, paged_item):
    token = jwt(in_seconds(HOUR), oid="someone")
    provider = CountingProvider(lambda n: token)
    emulator.set_token(token)
    client = JobsClient(token_provider=provider, base_url=emulator.base_url, max_retries=0)
    for _ in range(10):
        assert listed(client, paged_item) == paged_item.ids
    assert provider.calls == 1
    assert all(r["authorized"] for r in emulator.requests)


def test_provider_jwt_expiring_within_the_margin_is_refreshed_on_every_request(
    emulator, paged_item
):
    token = jwt(in_seconds(60))
    provider = CountingProvider(lambda n: token)
    emulator.set_token(token)
    client = JobsClient(token_provider=provider, base_url=emulator.base_url, max_retries=0)
    assert listed(client, paged_item) == paged_item.ids
    assert provider.calls == PAGES == len(emulator.requests)
    assert listed(client, paged_item) == paged_item.ids
    assert provider.calls == 2 * PAGES


def test_provider_jwt_without_exp_is_cached_until_rejected(emulator, paged_item):
    provider = CountingProvider(lambda n: jwt(None))
    client = JobsClient(token_provider=provider, base_url=emulator.base_url, max_retries=0)
    for _ in range(5):
        assert listed(client, paged_item) == paged_item.ids
    assert provider.calls == 1


@pytest.mark.parametrize(
    ("lifetime", "expected_calls"),
    [(HOUR, 1), (60, 2 * PAGES)],
    ids=["hour", "one-minute"],
)
def test_provider_tuple_expiry_is_honoured(emulator, paged_item, lifetime, expected_calls):
    provider = CountingProvider(lambda n: ("tuple-token", in_seconds(lifetime)))
    emulator.set_token("tuple-token")
    client = JobsClient(token_provider=provider, base_url=emulator.base_url, max_retries=0)
    for _ in range(2):
        assert listed(client, paged_item) == paged_item.ids
    assert provider.calls == expected_calls


@pytest.mark.parametrize(
    ("lifetime", "expected_calls"),
    [(HOUR, 1), (60, 2 * PAGES)],
    ids=["hour", "one-minute"],
)
def test_provider_access_token_object_is_honoured(emulator, paged_item, lifetime, expected_calls):
    provider = CountingProvider(lambda n: AccessToken("object-token", in_seconds(lifetime)))
    emulator.set_token("object-token")
    client = JobsClient(token_provider=provider, base_url=emulator.base_url, max_retries=0)
    for _ in range(2):
        assert listed(client, paged_item) == paged_item.ids
    assert provider.calls == expected_calls


def test_explicit_expiry_wins_over_the_jwt_exp(emulator, paged_item):
    # The JWT says 1 minute, the provider says 1 hour: the explicit expiry is used.
    short_jwt = jwt(in_seconds(60))
    provider = CountingProvider(lambda n: (short_jwt, in_seconds(HOUR)))
    client = JobsClient(token_provider=provider, base_url=emulator.base_url, max_retries=0)
    for _ in range(3):
        assert listed(client, paged_item) == paged_item.ids
    assert provider.calls == 1


def test_unknown_explicit_expiry_falls_back_to_the_jwt_exp(emulator, paged_item):
    short_jwt = jwt(in_seconds(60))
    provider = CountingProvider(lambda n: (short_jwt, None))
    client = JobsClient(token_provider=provider, base_url=emulator.base_url, max_retries=0)
    assert listed(client, paged_item) == paged_item.ids
    assert provider.calls == PAGES


def test_concurrent_threads_share_one_cached_token(emulator, make_item):
    emulator.set_page_size(3)
    items = [make_item(8) for _ in range(8)]
    emulator.clear_requests()
    # A slow provider widens the window in which every thread wants a token.
    provider = CountingProvider(lambda n: (f"shared-{n}", in_seconds(HOUR)), delay=0.2)
    emulator.set_token("shared-1")
    client = JobsClient(token_provider=provider, base_url=emulator.base_url, max_retries=0)
    results: list[list[Any]] = [[] for _ in items]
    errors: list[BaseException] = []
    start = threading.Barrier(len(items))

    def work(index: int) -> None:
        try:
            start.wait(timeout=10)
            drain(
                client.list_item_job_instances(items[index].workspace_id, items[index].item_id),
                results[index],
            )
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(items))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert [ids_of(r) for r in results] == [item.ids for item in items]
    assert provider.calls == 1
    assert len(emulator.requests) == len(items) * PAGES
    assert all(r["authorized"] for r in emulator.requests)


@pytest.mark.asyncio
async def test_concurrent_async_listings_share_one_cached_token(emulator, make_item):
    emulator.set_page_size(3)
    items = [make_item(8) for _ in range(8)]
    emulator.clear_requests()
    credential = CountingCredential(lambda n: AccessToken(f"async-{n}", in_seconds(HOUR)), 0.2)
    emulator.set_token("async-1")
    client = JobsClient(credential=credential, base_url=emulator.base_url, max_retries=0)
    results: list[list[Any]] = [[] for _ in items]

    await asyncio.wait_for(
        asyncio.gather(
            *(
                adrain(client.list_item_job_instances(item.workspace_id, item.item_id), into)
                for item, into in zip(items, results)
            )
        ),
        timeout=30,
    )

    assert [ids_of(r) for r in results] == [item.ids for item in items]
    assert credential.calls == 1
    assert len(emulator.requests) == len(items) * PAGES
    assert all(r["authorized"] for r in emulator.requests)


# ---------------------------------------------------------------- 401 TokenExpired


def test_token_expired_refreshes_once_and_retries_with_the_new_token(emulator, paged_item):
    provider = CountingProvider(lambda n: f"gen-{n}")  # no expiry: cached until rejected
    emulator.set_token("gen-2")  # only the refreshed token is accepted
    emulator.fail_next(401, "TokenExpired")
    # max_retries=0: the refresh is not a retry of the policy.
    client = JobsClient(token_provider=provider, base_url=emulator.base_url, max_retries=0)

    assert listed(client, paged_item) == paged_item.ids

    assert provider.calls == 2
    requests = emulator.requests
    assert [r["status"] for r in requests] == [401] + [200] * PAGES
    assert all(r["authorized"] for r in requests[1:])
    assert requests[0]["query"] == requests[1]["query"]  # the same page was asked again
    # The refreshed token is kept.
    assert listed(client, paged_item) == paged_item.ids
    assert provider.calls == 2


def test_token_expired_with_a_credential_refreshes_too(emulator, paged_item):
    credential = CountingCredential(lambda n: AccessToken(f"cred-{n}", in_seconds(HOUR)))
    client = JobsClient(credential=credential, base_url=emulator.base_url, max_retries=0)
    assert listed(client, paged_item) == paged_item.ids
    assert credential.calls == 1
    # Mid-life, the service says the (not yet locally expired) token expired.
    emulator.clear_requests()
    emulator.set_token("cred-2")
    emulator.fail_next(401, "TokenExpired")
    assert listed(client, paged_item) == paged_item.ids
    assert credential.calls == 2
    assert credential.scopes == [(FABRIC_SCOPE,), (FABRIC_SCOPE,)]
    assert statuses(emulator) == [401] + [200] * PAGES


def test_each_request_may_refresh_once(emulator, paged_item):
    provider = CountingProvider(lambda n: f"gen-{n}")
    client = JobsClient(token_provider=provider, base_url=emulator.base_url, max_retries=0)
    pages = client.list_item_job_instances(
        paged_item.workspace_id, paged_item.item_id, prefetch=0
    ).by_page()
    emulator.fail_next(401, "TokenExpired")
    first = next(pages)
    emulator.fail_next(401, "TokenExpired")  # the second page's request
    second = next(pages)
    rest = [job for page in pages for job in page]
    assert ids_of([*first, *second, *rest]) == paged_item.ids
    assert provider.calls == 3
    assert statuses(emulator) == [401, 200, 401, 200] + [200] * (PAGES - 2)


def test_two_token_expired_in_a_row_is_an_authentication_error(emulator, paged_item):
    provider = CountingProvider(lambda n: f"gen-{n}")
    emulator.fail_next(401, "TokenExpired", count=2)
    client = JobsClient(
        token_provider=provider, base_url=emulator.base_url, max_retries=5, retry_backoff=0.01
    )
    received: list[Any] = []
    with pytest.raises(AuthenticationError) as caught:
        drain(client.list_item_job_instances(paged_item.workspace_id, paged_item.item_id), received)
    assert caught.value.status_code == 401
    assert caught.value.error_code == "TokenExpired"
    assert received == []
    assert provider.calls == 2  # one refresh per request, not a loop
    assert statuses(emulator) == [401, 401]


def test_static_token_is_not_refreshed_on_token_expired(emulator, paged_item):
    emulator.fail_next(401, "TokenExpired")
    client = JobsClient(token=TOKEN, base_url=emulator.base_url, max_retries=5, retry_backoff=0.01)
    with pytest.raises(AuthenticationError) as caught:
        listed(client, paged_item)
    assert caught.value.error_code == "TokenExpired"
    assert statuses(emulator) == [401]  # one request, no retry
    assert TOKEN not in str(caught.value)
    assert TOKEN not in repr(caught.value)


@pytest.mark.parametrize(
    ("error_code", "body"),
    [
        ("InvalidToken", None),
        ("Unauthorized", None),
        (None, "<html><body>401 Authorization Required</body></html>"),  # not a Fabric error
    ],
    ids=["InvalidToken", "Unauthorized", "html"],
)
def test_other_401s_do_not_refresh(emulator, paged_item, error_code, body):
    provider = CountingProvider(lambda n: f"gen-{n}")
    emulator.fail_next(401, error_code, body=body)
    client = JobsClient(
        token_provider=provider, base_url=emulator.base_url, max_retries=5, retry_backoff=0.01
    )
    with pytest.raises(AuthenticationError) as caught:
        listed(client, paged_item)
    assert caught.value.status_code == 401
    assert caught.value.error_code != "TokenExpired"
    assert provider.calls == 1
    assert statuses(emulator) == [401]


def test_rejected_token_without_token_expired_is_not_refreshed(emulator, paged_item):
    # The emulator's own 401 for a token it does not accept says "Unauthorized".
    provider = CountingProvider(lambda n: f"gen-{n}")
    emulator.set_token("something-else")
    client = JobsClient(token_provider=provider, base_url=emulator.base_url, max_retries=0)
    with pytest.raises(AuthenticationError) as caught:
        listed(client, paged_item)
    assert caught.value.error_code == "Unauthorized"
    assert provider.calls == 1
    assert [(r["status"], r["authorized"]) for r in emulator.requests] == [(401, False)]


def test_refresh_that_raises_is_a_credential_error(emulator, paged_item):
    boom = RuntimeError("refresh failed")

    def make(n: int) -> str:
        if n == 1:
            return "first"
        raise boom

    provider = CountingProvider(make)
    emulator.fail_next(401, "TokenExpired")
    client = JobsClient(token_provider=provider, base_url=emulator.base_url, max_retries=0)
    with pytest.raises(CredentialError) as caught:
        listed(client, paged_item)
    assert caught.value.__cause__ is boom
    assert provider.calls == 2
    assert statuses(emulator) == [401]


# ------------------------------------------------------------------ CredentialError


def test_provider_exception_is_chained_and_raised_at_iteration(emulator, paged_item):
    boom = RuntimeError("no login")
    provider = CountingProvider(lambda n: (_ for _ in ()).throw(boom))
    client = JobsClient(token_provider=provider, base_url=emulator.base_url, max_retries=3)
    pager = client.list_item_job_instances(paged_item.workspace_id, paged_item.item_id)
    assert provider.calls == 0  # construction asks for nothing

    with pytest.raises(CredentialError) as caught:
        next(iter(pager))

    assert isinstance(caught.value, FabricError)
    assert caught.value.__cause__ is boom
    assert "no login" in str(caught.value)
    assert "RuntimeError" in str(caught.value)
    assert provider.calls == 1  # a credential failure is not retried
    assert emulator.requests == []  # nothing was sent without a token


def test_credential_exception_is_chained(emulator, paged_item):
    boom = PermissionError("interactive login required")

    class Failing:
        def get_token(self, *scopes: str) -> AccessToken:
            raise boom

    client = JobsClient(credential=Failing(), base_url=emulator.base_url, max_retries=0)
    with pytest.raises(CredentialError) as caught:
        listed(client, paged_item)
    assert caught.value.__cause__ is boom
    assert emulator.requests == []


def test_credential_without_get_token_is_a_credential_error(emulator, paged_item):
    client = JobsClient(credential=object(), base_url=emulator.base_url, max_retries=0)
    with pytest.raises(CredentialError) as caught:
        listed(client, paged_item)
    assert isinstance(caught.value.__cause__, AttributeError)
    assert emulator.requests == []


SECRET_HALF_A = "fjtest-SECRET-left"
SECRET_HALF_B = "right-7f3c9a1e"


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(None, id="None"),
        pytest.param(42, id="int"),
        pytest.param(b"bytes-token", id="bytes"),
        pytest.param("", id="empty"),
        pytest.param("   \n", id="blank"),
        pytest.param(f"{SECRET_HALF_A}\n{SECRET_HALF_B}", id="newline-inside"),
        pytest.param(f"{SECRET_HALF_A} {SECRET_HALF_B}", id="space-inside"),
        pytest.param(f"{SECRET_HALF_A}\u00e9{SECRET_HALF_B}", id="non-ascii"),
        pytest.param((f"{SECRET_HALF_A}{SECRET_HALF_B}",), id="one-tuple"),
        pytest.param((42, in_seconds(HOUR)), id="tuple-int-token"),
        pytest.param((f"{SECRET_HALF_A}{SECRET_HALF_B}", "soon"), id="tuple-str-expiry"),
        pytest.param(SimpleNamespace(token=f"{SECRET_HALF_A}{SECRET_HALF_B}"), id="no-expiry"),
        pytest.param(SimpleNamespace(token=None, expires_on=None), id="token-None"),
        pytest.param(AccessToken("", in_seconds(HOUR)), id="access-token-empty"),
    ],
)
def test_unusable_provider_answers_are_credential_errors(emulator, paged_item, answer):
    provider = CountingProvider(lambda n: answer)
    client = JobsClient(token_provider=provider, base_url=emulator.base_url, max_retries=3)
    pager = client.list_item_job_instances(paged_item.workspace_id, paged_item.item_id)
    assert provider.calls == 0

    # pytest.raises(CredentialError) would not catch a pyo3 PanicException (a BaseException).
    with pytest.raises(CredentialError) as caught:
        list(pager)

    text = f"{caught.value} {caught.value!r}"
    assert SECRET_HALF_A not in text
    assert SECRET_HALF_B not in text
    assert re.search(r"token[ _]provider", str(caught.value))
    assert provider.calls == 1
    assert emulator.requests == []


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(None, id="None"),
        pytest.param("", id="empty-str"),
        pytest.param(f"{SECRET_HALF_A}\n{SECRET_HALF_B}", id="newline-inside"),
        pytest.param(AccessToken(f"{SECRET_HALF_A} {SECRET_HALF_B}", None), id="space-inside"),
        pytest.param(AccessToken("", in_seconds(HOUR)), id="empty-access-token"),
    ],
)
def test_unusable_credential_answers_are_credential_errors(emulator, paged_item, answer):
    credential = CountingCredential(lambda n: answer)
    client = JobsClient(credential=credential, base_url=emulator.base_url, max_retries=0)
    with pytest.raises(CredentialError) as caught:
        listed(client, paged_item)
    text = f"{caught.value} {caught.value!r}"
    assert SECRET_HALF_A not in text
    assert SECRET_HALF_B not in text
    assert credential.calls == 1
    assert emulator.requests == []


@pytest.mark.parametrize(
    ("expires_on", "expected_calls"),
    [
        (float("inf"), 1),
        (10**30, 1),
        (float("nan"), PAGES),
        (float("-inf"), PAGES),
        (-(10**30), PAGES),
    ],
    ids=["inf", "huge", "nan", "-inf", "-huge"],
)
def test_extreme_expiry_values_do_not_break_the_cache(
    emulator, paged_item, expires_on, expected_calls
):
    # Far future: kept; NaN and the far past: treated as expired (asked again every request).
    provider = CountingProvider(lambda n: ("extreme", expires_on))
    client = JobsClient(token_provider=provider, base_url=emulator.base_url, max_retries=0)
    assert listed(client, paged_item) == paged_item.ids
    assert provider.calls == expected_calls


def test_expiry_beyond_a_float_is_a_credential_error(emulator, paged_item):
    provider = CountingProvider(lambda n: ("too-far", 10**400))
    client = JobsClient(token_provider=provider, base_url=emulator.base_url, max_retries=0)
    with pytest.raises(CredentialError, match="expires_on"):
        listed(client, paged_item)
    assert emulator.requests == []


@pytest.mark.asyncio
async def test_credential_error_in_async_iteration(emulator, paged_item):
    boom = RuntimeError("no login")

    def fail() -> str:
        raise boom

    client = JobsClient(token_provider=fail, base_url=emulator.base_url, max_retries=0)
    pager = client.list_item_job_instances(paged_item.workspace_id, paged_item.item_id)
    with pytest.raises(CredentialError) as caught:
        await asyncio.wait_for(adrain(pager, []), timeout=10)
    assert caught.value.__cause__ is boom
    assert emulator.requests == []


def test_a_failing_provider_is_asked_again_by_the_next_listing(emulator, paged_item):
    def make(n: int) -> str:
        if n == 1:
            raise RuntimeError("transient")
        return "second-try"

    provider = CountingProvider(make)
    emulator.set_token("second-try")
    client = JobsClient(token_provider=provider, base_url=emulator.base_url, max_retries=0)
    with pytest.raises(CredentialError):
        listed(client, paged_item)
    assert listed(client, paged_item) == paged_item.ids
    assert provider.calls == 2


# ------------------------------------------------------------ one token source


def _provider() -> str:
    return "from-provider"


class _Credential:
    def get_token(self, *scopes: str) -> AccessToken:
        return AccessToken("from-credential", None)


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"token": TOKEN, "credential": _Credential()}, id="token+credential"),
        pytest.param({"token": TOKEN, "token_provider": _provider}, id="token+provider"),
        pytest.param(
            {"credential": _Credential(), "token_provider": _provider}, id="credential+provider"
        ),
        pytest.param(
            {"token": TOKEN, "credential": _Credential(), "token_provider": _provider}, id="all"
        ),
    ],
)
def test_only_one_token_source(kwargs, monkeypatch):
    monkeypatch.setenv("FABRIC_TOKEN", "from-env")
    with pytest.raises(ValueError, match="only one") as caught:
        JobsClient(**kwargs, base_url="http://127.0.0.1:1/v1")
    assert TOKEN not in str(caught.value)


def test_no_token_source_and_no_environment_is_a_value_error(monkeypatch):
    monkeypatch.delenv("FABRIC_TOKEN", raising=False)
    with pytest.raises(ValueError, match="FABRIC_TOKEN"):
        JobsClient(base_url="http://127.0.0.1:1/v1")


def test_fabric_token_environment_variable_is_the_fallback(emulator, paged_item, monkeypatch):
    monkeypatch.setenv("FABRIC_TOKEN", "env-token\n")
    emulator.set_token("env-token")
    client = JobsClient(base_url=emulator.base_url, max_retries=0)
    assert listed(client, paged_item) == paged_item.ids
    assert all(r["authorized"] for r in emulator.requests)


def test_explicit_provider_wins_over_the_environment(emulator, paged_item, monkeypatch):
    monkeypatch.setenv("FABRIC_TOKEN", "env-token")
    emulator.set_token("from-provider")
    client = JobsClient(token_provider=_provider, base_url=emulator.base_url, max_retries=0)
    assert listed(client, paged_item) == paged_item.ids
    assert all(r["authorized"] for r in emulator.requests)
