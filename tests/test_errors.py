"""Every error status maps to its exception with all fields; transport failures map to
FabricConnectionError / FabricTimeoutError; exceptions pickle; no message leaks the token."""

from __future__ import annotations

import datetime
import email.utils
import json
import pickle
import time
import uuid

import pytest
from _helpers import TOKEN, HangingServer, OneShotHttpServer, guid, http_response
from fabric_jobs import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ErrorDetail,
    ErrorResponse,
    FabricApiError,
    FabricConnectionError,
    FabricError,
    FabricTimeoutError,
    InvalidResponseError,
    JobsClient,
    NotFoundError,
    PagingError,
    PermissionDeniedError,
    RelatedResource,
    ServerError,
    ThrottledError,
)

STATUS_CASES = [
    (400, BadRequestError, "InvalidParameter", False),
    (401, AuthenticationError, "TokenExpired", False),
    (403, PermissionDeniedError, "InsufficientPrivileges", False),
    (404, NotFoundError, "ItemNotFound", False),
    (409, ConflictError, "JobAlreadyCompleted", False),
    (429, ThrottledError, "RequestBlocked", True),
    (500, ServerError, "InternalServerError", True),
    (502, ServerError, "BadGateway", True),
    (503, ServerError, "ServiceUnavailable", True),
    (418, FabricApiError, "ImATeapot", False),
]

DEFAULT_CODES = [
    (400, "BadRequest"),
    (401, "TokenExpired"),
    (403, "InsufficientPrivileges"),
    (404, "ItemNotFound"),
    (409, "Conflict"),
    (429, "RequestBlocked"),
    (500, "InternalServerError"),
    (503, "ServiceUnavailable"),
    (418, "Error"),
]


def _first_error(client, item):
    """Starts a listing and returns the exception its first page raises."""
    pager = client.list_item_job_instances(item.workspace_id, item.item_id)
    with pytest.raises(FabricError) as caught:
        next(pager)
    return caught.value


def _assert_no_token(exc):
    assert TOKEN not in str(exc)
    assert TOKEN not in repr(exc)
    for name, value in vars(exc).items():
        assert TOKEN not in repr(value), f"the token leaks through {name}"


@pytest.mark.parametrize(("status", "cls", "code", "retriable"), STATUS_CASES)
def test_status_maps_to_exception_with_all_fields(
    emulator, client, make_item, status, cls, code, retriable
):
    item = make_item(3)
    message = f"Something about {code}."
    emulator.fail_next(status, code, message)

    exc = _first_error(client, item)

    assert type(exc) is cls
    assert isinstance(exc, FabricApiError)
    assert isinstance(exc, FabricError)
    assert isinstance(exc, Exception)
    assert exc.status_code == status
    assert exc.error_code == code
    assert exc.error_message == message
    assert exc.is_retriable is retriable
    assert exc.method == "GET"
    assert exc.url.endswith(item.path)
    assert exc.response_text is None
    assert exc.retry_after is None
    assert exc.more_details == []
    assert exc.related_resource is None
    # request_id: from the body, equal to the RequestId header
    assert str(uuid.UUID(exc.request_id)) == exc.request_id
    assert exc.headers["requestid"] == exc.request_id
    assert exc.headers["x-ms-public-api-error-code"] == code
    assert exc.headers["content-type"] == "application/json; charset=utf-8"
    # the parsed body
    assert isinstance(exc.error, ErrorResponse)
    assert exc.error.error_code == code
    assert exc.error.message == message
    assert exc.error.request_id == exc.request_id
    # the message names status and code and never the token
    text = str(exc)
    assert str(status) in text
    assert code in text
    assert exc.request_id in text
    assert exc.message == text
    _assert_no_token(exc)


@pytest.mark.parametrize(("status", "code"), DEFAULT_CODES)
def test_default_error_codes_of_the_emulator(emulator, client, make_item, status, code):
    item = make_item(1)
    emulator.fail_next(status)
    exc = _first_error(client, item)
    assert exc.status_code == status
    assert exc.error_code == code
    assert exc.error_message


def test_throttled_with_retry_after(emulator, client, make_item):
    item = make_item(1)
    emulator.fail_next(429, headers={"Retry-After": "53"})

    exc = _first_error(client, item)

    assert type(exc) is ThrottledError
    assert exc.retry_after == 53.0
    assert isinstance(exc.retry_after, float)
    assert exc.error_code == "RequestBlocked"
    assert exc.error_message.startswith("Request is blocked by the upstream service until: ")
    assert exc.headers["retry-after"] == "53"
    assert exc.is_retriable is True
    assert "429" in str(exc)
    assert "RequestBlocked" in str(exc)


def test_throttled_without_retry_after(emulator, client, make_item):
    item = make_item(1)
    emulator.fail_next(429)
    exc = _first_error(client, item)
    assert type(exc) is ThrottledError
    assert exc.retry_after is None
    assert "retry-after" not in exc.headers


def test_odd_status_is_a_plain_fabric_api_error(emulator, client, make_item):
    item = make_item(1)
    emulator.fail_next(418)
    exc = _first_error(client, item)
    assert type(exc) is FabricApiError
    assert exc.status_code == 418
    assert exc.error_code == "Error"
    assert "418" in str(exc)


def test_non_json_body_still_gives_server_error(emulator, client, make_item):
    item = make_item(1)
    emulator.fail_next(502, body="<html>Bad gateway</html>")

    exc = _first_error(client, item)

    assert type(exc) is ServerError
    assert exc.status_code == 502
    assert exc.response_text == "<html>Bad gateway</html>"
    assert exc.error_code is None
    assert exc.error_message is None
    assert exc.error is None
    assert exc.is_retriable is None
    assert exc.request_id == exc.headers["requestid"]  # from the header: there is no body id
    assert exc.headers["content-type"].startswith("text/html")
    assert "502" in str(exc)
    assert "Bad gateway" in str(exc)
    _assert_no_token(exc)


def test_long_non_json_body_is_excerpted(emulator, client, make_item):
    item = make_item(1)
    page = "<html>\n<body>\n" + "upstream proxy failure " * 200 + "\n</body></html>"
    emulator.fail_next(503, body=page)
    exc = _first_error(client, item)
    assert type(exc) is ServerError
    assert exc.response_text.startswith("<html> <body> upstream proxy failure")
    assert "\n" not in exc.response_text
    assert len(exc.response_text) < 300
    assert len(str(exc)) < 1000


def test_more_details_and_related_resource_are_exposed(emulator, client, make_item):
    item = make_item(1)
    request_id = guid("request")
    body = {
        "requestId": request_id,
        "errorCode": "InsufficientPrivileges",
        "message": "The caller does not have sufficient permissions.",
        "moreDetails": [
            {
                "errorCode": "MissingScope",
                "message": "Item.Read.All is required",
                "relatedResource": {"resourceId": item.item_id, "resourceType": "Item"},
            },
            {"errorCode": "Second", "message": "another detail"},
        ],
        "relatedResource": {"resourceId": item.workspace_id, "resourceType": "Workspace"},
        "isRetriable": False,
    }
    emulator.fail_next(
        403,
        body=json.dumps(body),
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "x-ms-public-api-error-code": "InsufficientPrivileges",
        },
    )

    exc = _first_error(client, item)

    assert type(exc) is PermissionDeniedError
    assert exc.request_id == request_id  # the body's id wins over the header
    assert exc.error_code == "InsufficientPrivileges"
    assert exc.is_retriable is False
    assert [type(d) for d in exc.more_details] == [ErrorDetail, ErrorDetail]
    assert [d.error_code for d in exc.more_details] == ["MissingScope", "Second"]
    assert exc.more_details[0].message == "Item.Read.All is required"
    assert exc.more_details[0].related_resource.resource_id == item.item_id
    assert exc.more_details[0].related_resource.resource_type == "Item"
    assert exc.more_details[1].related_resource is None
    assert isinstance(exc.related_resource, RelatedResource)
    assert exc.related_resource.resource_id == item.workspace_id
    assert exc.related_resource.resource_type == "Workspace"
    assert exc.error.to_dict() == body


def test_unknown_workspace_is_workspace_not_found(emulator, client):
    workspace, item = guid("missing-workspace"), guid("missing-item")
    with pytest.raises(NotFoundError) as caught:
        list(client.list_item_job_instances(workspace, item))
    exc = caught.value
    assert exc.status_code == 404
    assert exc.error_code == "WorkspaceNotFound"
    assert exc.error_message
    assert exc.related_resource.resource_id == workspace
    assert exc.related_resource.resource_type == "Workspace"
    assert exc.is_retriable is False
    assert exc.request_id == exc.headers["requestid"]
    assert "WorkspaceNotFound" in str(exc)
    assert "404" in str(exc)


def test_unknown_item_is_item_not_found(emulator, client):
    workspace = emulator.add_workspace()
    item = guid("missing-item")
    with pytest.raises(NotFoundError) as caught:
        list(client.list_item_job_instances(workspace, item))
    exc = caught.value
    assert exc.error_code == "ItemNotFound"
    assert exc.related_resource.resource_id == item
    assert exc.related_resource.resource_type == "Item"
    assert exc.headers["x-ms-public-api-error-code"] == "ItemNotFound"
    assert "ItemNotFound" in str(exc)


def test_wrong_token_is_authentication_error(make_emulator, make_item):
    emu = make_emulator(token="right")
    item = make_item(2, emu=emu)
    wrong = JobsClient(token=TOKEN, base_url=emu.base_url, max_retries=0)

    exc = _first_error(wrong, item)

    assert type(exc) is AuthenticationError
    assert exc.status_code == 401
    assert exc.error_code == "Unauthorized"
    assert exc.headers["www-authenticate"] == "Bearer"
    assert exc.request_id == exc.headers["requestid"]
    assert [r["authorized"] for r in emu.requests] == [False]
    _assert_no_token(exc)

    right = JobsClient(token="right", base_url=emu.base_url, max_retries=0)
    assert len(list(right.list_item_job_instances(item.workspace_id, item.item_id))) == 2
    assert emu.requests[-1]["authorized"] is True


def test_set_token_changes_what_is_accepted(emulator, client, make_item):
    item = make_item(1)
    emulator.set_token("only-this-one")
    assert type(_first_error(client, item)) is AuthenticationError
    emulator.set_token(None)
    assert len(list(client.list_item_job_instances(item.workspace_id, item.item_id))) == 1


def test_fault_count_applies_to_consecutive_requests(emulator, client, make_item):
    item = make_item(2)
    emulator.fail_next(503, count=2)
    pager = client.list_item_job_instances(item.workspace_id, item.item_id)
    for _ in range(2):
        with pytest.raises(ServerError):
            next(pager)
    assert len(list(pager)) == 2
    assert len(emulator.requests) == 3


def test_error_on_a_later_page_comes_after_the_earlier_items(emulator, client, make_item):
    emulator.set_page_size(3)
    item = make_item(7)
    pager = client.list_item_job_instances(item.workspace_id, item.item_id, prefetch=0)
    received = [next(pager) for _ in range(3)]
    emulator.fail_next(404, "ItemNotFound")
    with pytest.raises(NotFoundError):
        next(pager)
    assert [job.id for job in received] == item.ids[:3]


# ---------------------------------------------------------------- transport failures


def test_closed_port_is_a_connection_error(make_emulator, make_item):
    emu = make_emulator()
    item = make_item(1, emu=emu)
    base_url = emu.base_url
    emu.close()
    client = JobsClient(token=TOKEN, base_url=base_url, max_retries=0)

    pager = client.list_item_job_instances(item.workspace_id, item.item_id)
    with pytest.raises(FabricConnectionError) as caught:
        next(pager)

    exc = caught.value
    assert isinstance(exc, ConnectionError)
    assert isinstance(exc, OSError)
    assert isinstance(exc, FabricError)
    assert exc.url.startswith(base_url)
    assert item.path in exc.url
    assert "could not reach" in str(exc)
    _assert_no_token(exc)


def test_connection_error_is_catchable_as_builtin(make_emulator, make_item):
    emu = make_emulator()
    item = make_item(1, emu=emu)
    emu.close()
    client = JobsClient(token=TOKEN, base_url=emu.base_url, max_retries=0)
    with pytest.raises(ConnectionError):
        list(client.list_item_job_instances(item.workspace_id, item.item_id))


def test_closed_emulator_refuses_setup_calls(make_emulator):
    emu = make_emulator()
    emu.close()
    emu.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        emu.add_workspace()


def test_no_answer_is_a_timeout_error():
    with HangingServer() as server:
        client = JobsClient(token=TOKEN, base_url=server.base_url, timeout=0.5, max_retries=0)
        assert client.timeout == 0.5
        pager = client.list_item_job_instances(guid("w"), guid("i"))
        started = time.monotonic()
        with pytest.raises(FabricTimeoutError) as caught:
            next(pager)
        elapsed = time.monotonic() - started
        assert server.connections >= 1

    exc = caught.value
    assert isinstance(exc, TimeoutError)
    assert isinstance(exc, FabricError)
    assert exc.timeout == 0.5
    assert exc.url.startswith(server.base_url)
    assert 0.4 <= elapsed < 5
    assert "0.5" in str(exc)
    _assert_no_token(exc)


# ---------------------------------------------------------------- pickling


def _round_trip(exc):
    clone = pickle.loads(pickle.dumps(exc))
    assert type(clone) is type(exc)
    assert str(clone) == str(exc)
    assert clone.args == exc.args
    return clone


API_ATTRIBUTES = [
    "status_code",
    "error_code",
    "error_message",
    "request_id",
    "more_details",
    "related_resource",
    "is_retriable",
    "retry_after",
    "headers",
    "method",
    "url",
    "response_text",
    "error",
]


@pytest.mark.parametrize(
    ("status", "kwargs"),
    [
        (429, {"headers": {"Retry-After": "53"}}),
        (404, {}),
        (502, {"body": "<html>Bad gateway</html>"}),
        (418, {}),
    ],
)
def test_api_exceptions_pickle_with_their_attributes(emulator, client, make_item, status, kwargs):
    item = make_item(1)
    emulator.fail_next(status, **kwargs)
    exc = _first_error(client, item)

    clone = _round_trip(exc)

    for name in API_ATTRIBUTES:
        assert getattr(clone, name) == getattr(exc, name), name


def test_api_exception_with_details_pickles(emulator, client, make_item):
    item = make_item(1)
    body = {
        "requestId": guid("r"),
        "errorCode": "X",
        "message": "m",
        "moreDetails": [
            {
                "errorCode": "D",
                "message": "d",
                "relatedResource": {"resourceId": "a", "resourceType": "B"},
            }
        ],
        "relatedResource": {"resourceId": "c", "resourceType": "D"},
        "isRetriable": True,
    }
    emulator.fail_next(409, body=json.dumps(body))
    exc = _first_error(client, item)
    clone = _round_trip(exc)
    assert type(clone) is ConflictError
    assert clone.more_details == exc.more_details
    assert clone.more_details[0].related_resource.resource_type == "B"
    assert clone.related_resource == exc.related_resource
    assert clone.error == exc.error


def test_other_exceptions_pickle(make_emulator, make_item):
    emu = make_emulator(page_size=2, continuation="repeat-token")
    item = make_item(6, emu=emu)
    client = JobsClient(token=TOKEN, base_url=emu.base_url, max_retries=0)
    with pytest.raises(PagingError) as paging:
        list(client.list_item_job_instances(item.workspace_id, item.item_id))
    clone = _round_trip(paging.value)
    assert clone.continuation_token == paging.value.continuation_token
    assert clone.url == paging.value.url

    emu.close()
    with pytest.raises(FabricConnectionError) as connection:
        list(client.list_item_job_instances(item.workspace_id, item.item_id))
    clone = _round_trip(connection.value)
    assert isinstance(clone, ConnectionError)
    assert clone.url == connection.value.url

    with HangingServer() as server:
        slow = JobsClient(token=TOKEN, base_url=server.base_url, timeout=0.3, max_retries=0)
        with pytest.raises(FabricTimeoutError) as timeout:
            list(slow.list_item_job_instances(item.workspace_id, item.item_id))
    clone = _round_trip(timeout.value)
    assert isinstance(clone, TimeoutError)
    assert clone.timeout == 0.3
    assert clone.url == timeout.value.url


def test_exception_tree():
    for cls in (
        BadRequestError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        ConflictError,
        ThrottledError,
        ServerError,
    ):
        assert issubclass(cls, FabricApiError)
    assert issubclass(FabricApiError, FabricError)
    assert issubclass(FabricConnectionError, ConnectionError)
    assert issubclass(FabricTimeoutError, TimeoutError)
    assert issubclass(PagingError, FabricError)
    assert not issubclass(PagingError, FabricApiError)


# ---------------------------------------------------------------- Retry-After forms


def test_retry_after_as_an_http_date(emulator, client, make_item):
    item = make_item(1)
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=120)
    emulator.fail_next(429, headers={"Retry-After": email.utils.format_datetime(future, True)})
    exc = _first_error(client, item)
    assert type(exc) is ThrottledError
    assert 100 <= exc.retry_after <= 121


@pytest.mark.parametrize(
    ("header", "expected"),
    [("0", 0.0), ("1.5", 1.5), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0), ("soon", None)],
)
def test_retry_after_forms(emulator, client, make_item, header, expected):
    item = make_item(1)
    emulator.fail_next(503, headers={"Retry-After": header})
    exc = _first_error(client, item)
    assert type(exc) is ServerError
    assert exc.retry_after == expected


# ---------------------------------------------------------------- 2xx bodies that are not pages


@pytest.mark.parametrize(
    "body",
    [
        b"<html>proxy login</html>",
        b'{"items": []}',
        b'{"value": null}',
        b'{"value": {"id": "x"}}',
        b'{"value": [], "continuationToken": 5}',
        b'{"value": [',
        b"\xff\xfe",
    ],
)
def test_a_2xx_body_that_is_not_a_page_is_an_invalid_response(body):
    with OneShotHttpServer(http_response("200 OK", body)) as server:
        client = JobsClient(token=TOKEN, base_url=server.base_url, max_retries=0)
        for as_dict in (False, True):
            pager = client.list_item_job_instances(guid("w"), guid("i"), as_dict=as_dict)
            with pytest.raises(InvalidResponseError) as caught:
                next(pager)
            exc = caught.value
            assert exc.url.startswith(server.base_url)
            assert exc.request_id == "11111111-2222-3333-4444-555555555555"
            assert TOKEN not in str(exc)


def test_an_item_of_the_wrong_shape_fails_only_in_object_mode():
    body = b'{"value": [{"id": 7, "status": ["Completed"]}]}'
    with OneShotHttpServer(http_response("200 OK", body)) as server:
        client = JobsClient(token=TOKEN, base_url=server.base_url, max_retries=0)
        with pytest.raises(InvalidResponseError, match="item 0"):
            list(client.list_item_job_instances(guid("w"), guid("i")))
        dicts = list(client.list_item_job_instances(guid("w"), guid("i"), as_dict=True))
    assert dicts == [{"id": 7, "status": ["Completed"]}]
