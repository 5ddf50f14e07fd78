"""The emulator speaks the documented API: its bodies validate against the official swagger
(``shared/spec/jobScheduler.extracted.swagger.json``), its headers are Fabric's, its paging
links are usable. Microsoft's own examples validate too (a check of the validator itself) and
survive a round trip through the emulator and the client unchanged.

The spec lives outside the repository, in ``shared/`` next to it (CI clones the repository
into another folder with a copy of ``shared/`` beside it: ``<clone>/../shared``). A missing
spec is a test failure, never a skip.
"""

from __future__ import annotations

import copy
import functools
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from _helpers import TOKEN

SHARED = Path(__file__).resolve().parents[2] / "shared"
SPEC_DIR = SHARED / "spec"
SWAGGER = SPEC_DIR / "jobScheduler.extracted.swagger.json"
EXAMPLES = SPEC_DIR / "fabric-rest-api-specs"
LIST_EXAMPLES = [
    "platform/examples/platform/ListItemJobInstances.json",
    "platform/examples/platform/ListItemJobInstancesWithContinuation.json",
    "dataPipeline/examples/ListDataPipelineExecuteJobInstances.json",
]
INSTANCE_EXAMPLES = [
    "platform/examples/platform/GetItemJobInstance.json",
    "dataPipeline/examples/GetDataPipelineExecuteJobInstance.json",
    "notebook/examples/GetJupyterNotebookJobInstance.json",
    "notebook/examples/GetSparkNotebookJobInstance.json",
    "notebook/examples/GetDataWarehouseNotebookJobInstance.json",
]
ERROR_EXAMPLES = [
    "platform/examples/gateways/CreateVirtualNetworkGatewayInvalidBothParameters.json",
    "platform/examples/platform/ModifyOneLakeImmutabilityPolicyError.json",
]
JSON_CONTENT_TYPE = "application/json; charset=utf-8"


def _load_json(path: Path) -> Any:
    if not path.is_file():
        pytest.fail(
            f"spec file not found: {path}\n"
            f"The swagger conformance tests need the shared spec folder next to the repository "
            f"(expected {SHARED}, i.e. <repo>/../shared). Copy or check out shared/ there; "
            f"these tests fail rather than skip so that a missing spec cannot go unnoticed.",
            pytrace=False,
        )
    return json.loads(path.read_text(encoding="utf-8"))


def _example(relative: str) -> Any:
    return _load_json(EXAMPLES / relative)


# ---------------------------------------------------------------- swagger -> JSON Schema


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` or JSON null."""
    if "$ref" in schema or "allOf" in schema:
        # In draft 4, keywords beside "$ref" are ignored: wrap instead of annotating.
        return {"anyOf": [{"type": "null"}, schema]}
    schema = dict(schema)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        schema["type"] = [*types, "null"] if "null" not in types else types
    else:
        return {"anyOf": [{"type": "null"}, schema]}
    if "enum" in schema:
        schema["enum"] = [*schema["enum"], None]
    return schema


def _convert(node: Any) -> Any:
    """Swagger 2.0 schema -> draft-4 JSON Schema.

    Swagger 2.0 has no way to say "nullable", yet Microsoft's own examples send
    ``"failureReason": null`` for a property that is declared as an ``ErrorResponse``, and the
    API notes say ``endTimeUtc`` is null while a job runs. So every *optional* property (one
    not listed in ``required``) also accepts null; required ones do not. Everything else
    (types, ``format: uuid``, enums, ``required``, ``allOf``) is kept as the swagger says.
    Unknown extra properties stay allowed, as in swagger (no ``additionalProperties: false``).
    Enums stay closed: ``status``/``invokeType`` are open sets for *clients* (``x-ms-enum``
    ``modelAsString``; see test_models.py), but what the emulator serves must use the
    documented values.
    """
    if isinstance(node, list):
        return [_convert(child) for child in node]
    if not isinstance(node, dict):
        return node
    converted = {
        key: _convert(value)
        for key, value in node.items()
        if not key.startswith("x-ms-") and key not in {"discriminator", "readOnly", "example"}
    }
    properties = converted.get("properties")
    if isinstance(properties, dict):
        required = set(node.get("required", []))
        converted["properties"] = {
            name: (schema if name in required else _nullable(schema))
            for name, schema in properties.items()
        }
    return converted


@functools.cache
def _swagger() -> dict[str, Any]:
    return _load_json(SWAGGER)


def _validator(definition: str) -> jsonschema.Draft4Validator:
    definitions = _convert(copy.deepcopy(_swagger()["definitions"]))
    schema = {"definitions": definitions, "$ref": f"#/definitions/{definition}"}
    jsonschema.Draft4Validator.check_schema(schema)
    checker = jsonschema.FormatChecker()
    assert "uuid" in checker.checkers, "jsonschema's FormatChecker must know 'uuid'"
    return jsonschema.Draft4Validator(schema, format_checker=checker)


def _assert_valid(definition: str, body: Any) -> None:
    errors = sorted(_validator(definition).iter_errors(body), key=lambda e: list(e.path))
    assert not errors, "\n".join(
        f"{definition} at {'/'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in errors
    )


def _page_validator() -> jsonschema.Draft4Validator:
    """The schema of the 200 response of JobScheduler_ListItemJobInstances, read from the path."""
    operation = _swagger()["paths"]["/workspaces/{workspaceId}/items/{itemId}/jobs/instances"]
    ref = operation["get"]["responses"]["200"]["schema"]["$ref"]
    assert ref == "#/definitions/ItemJobInstances"
    return _validator("ItemJobInstances")


# ---------------------------------------------------------------- raw HTTP


class Raw:
    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


def _get(url: str, token: str | None = TOKEN) -> Raw:
    headers = {"Accept": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return Raw(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Raw(error.code, error.headers, error.read())


def _list_url(emulator, item, token: str | None = None) -> str:
    url = f"{emulator.base_url}/workspaces/{item.workspace_id}/items/{item.item_id}/jobs/instances"
    return url if token is None else f"{url}?continuationToken={token}"


def _assert_fabric_headers(raw: Raw) -> None:
    assert raw.headers["Content-Type"] == JSON_CONTENT_TYPE
    request_id = raw.headers["RequestId"]
    assert str(uuid.UUID(request_id)) == request_id


def _assert_fabric_error(raw: Raw, status: int, code: str) -> dict[str, Any]:
    assert raw.status == status
    _assert_fabric_headers(raw)
    body = raw.json()
    _assert_valid("ErrorResponse", body)
    assert body["errorCode"] == code
    assert raw.headers["x-ms-public-api-error-code"] == code
    assert body["requestId"] == raw.headers["RequestId"]
    return body


# ---------------------------------------------------------------- the spec and the validator


def test_spec_is_found_relative_to_the_repository():
    spec = _swagger()
    assert spec["swagger"] == "2.0"
    operation = spec["paths"]["/workspaces/{workspaceId}/items/{itemId}/jobs/instances"]["get"]
    assert operation["operationId"] == "JobScheduler_ListItemJobInstances"
    assert operation["x-ms-pageable"] == {"nextLinkName": "continuationUri"}
    assert {"ItemJobInstance", "ItemJobInstances", "ErrorResponse"} <= set(spec["definitions"])


def test_a_missing_spec_fails_instead_of_skipping(tmp_path):
    with pytest.raises(pytest.fail.Exception, match="spec file not found"):
        _load_json(tmp_path / "shared" / "spec" / "missing.json")


@pytest.mark.parametrize("relative", LIST_EXAMPLES)
def test_microsoft_list_examples_validate(relative):
    body = _example(relative)["responses"]["200"]["body"]
    assert body["value"]
    errors = list(_page_validator().iter_errors(body))
    assert not errors, [e.message for e in errors]


@pytest.mark.parametrize("relative", INSTANCE_EXAMPLES)
def test_microsoft_instance_examples_validate(relative):
    _assert_valid("ItemJobInstance", _example(relative)["responses"]["200"]["body"])


@pytest.mark.parametrize("relative", ERROR_EXAMPLES)
def test_microsoft_error_examples_validate(relative):
    _assert_valid("ErrorResponse", _example(relative)["responses"]["400"]["body"])


@pytest.mark.parametrize(
    ("definition", "body"),
    [
        ("ItemJobInstances", {}),  # "value" is required
        ("ItemJobInstances", {"value": None}),  # required: not nullable
        ("ItemJobInstances", {"value": [{"id": "not-a-guid"}]}),
        ("ItemJobInstances", {"value": [{"status": 3}]}),
        ("ItemJobInstances", {"value": [{"failureReason": {"message": "no code"}}]}),
        ("ItemJobInstances", {"value": [], "continuationToken": 5}),
        ("ItemJobInstance", {"startTimeUtc": 1719038100}),
        ("ItemJobInstance", {"rootActivityId": "{4b218778-e7a5-4d73-8187-f10824047715}"}),
        ("ErrorResponse", {"errorCode": "X"}),
        ("ErrorResponse", {"errorCode": "X", "message": "m", "requestId": "r"}),
        ("ErrorResponse", {"errorCode": "X", "message": "m", "isRetriable": "no"}),
        ("ErrorResponse", {"errorCode": "X", "message": "m", "relatedResource": {}}),
        ("ErrorResponse", {"errorCode": "X", "message": "m", "moreDetails": [{"message": "m"}]}),
    ],
)
def test_the_validator_rejects_what_the_swagger_forbids(definition, body):
    assert not _validator(definition).is_valid(body)


def test_the_validator_accepts_nulls_in_optional_fields():
    _assert_valid(
        "ItemJobInstances",
        {
            "value": [
                {
                    "id": "f2d65699-dd22-4889-980c-15226deb0e1b",
                    "status": "InProgress",
                    "endTimeUtc": None,
                    "failureReason": None,
                    "invokeType": None,
                }
            ],
            "continuationToken": None,
            "continuationUri": None,
        },
    )


# ---------------------------------------------------------------- emulator responses


def test_emulator_pages_validate_and_link_correctly(emulator, make_item):
    emulator.set_page_size(20)
    item = make_item(75, seed=2, item_id=str(uuid.uuid5(uuid.NAMESPACE_URL, "fabric-jobs/75")))
    validator = _page_validator()

    url = _list_url(emulator, item)
    bodies = []
    while url:
        raw = _get(url)
        assert raw.status == 200
        _assert_fabric_headers(raw)
        assert "x-ms-public-api-error-code" not in raw.headers
        body = raw.json()
        errors = list(validator.iter_errors(body))
        assert not errors, [e.message for e in errors]
        bodies.append(body)
        url = body.get("continuationUri")
        if url:
            token = body["continuationToken"]
            # The documented token encoding: already percent-encoded, like LDEsMTAwMDAwLDA%3D.
            assert token.endswith("%3D")
            assert "=" not in token
            assert "%25" not in token
            parts = urllib.parse.urlsplit(url)
            assert parts.scheme == "http"
            assert parts.netloc == f"127.0.0.1:{emulator.port}"
            assert url.startswith(emulator.base_url + "/")
            assert parts.path == item.path
            assert parts.query == f"continuationToken={token}"
        else:
            assert "continuationToken" not in body

    assert [len(body["value"]) for body in bodies] == [20, 20, 20, 15]
    served = [job for body in bodies for job in body["value"]]
    assert served == item.instances
    statuses = {job["status"] for job in served}
    assert "Failed" in statuses
    assert "Completed" in statuses
    assert any(job["failureReason"] for job in served)
    assert any(job["endTimeUtc"] is None for job in served)


@pytest.mark.parametrize("style", ["token", "uri"])
def test_single_field_continuation_styles_validate(emulator, make_item, style):
    emulator.set_page_size(2)
    emulator.set_continuation(style)
    item = make_item(3)
    body = _get(_list_url(emulator, item)).json()
    _assert_valid("ItemJobInstances", body)
    present = {key for key in ("continuationToken", "continuationUri") if key in body}
    assert present == ({"continuationToken"} if style == "token" else {"continuationUri"})


def test_emulator_serves_microsofts_examples_unchanged(emulator, client, make_item):
    examples = [_example(name)["responses"]["200"]["body"] for name in LIST_EXAMPLES]
    instances = [job for body in examples for job in body["value"]]
    instances += [_example(name)["responses"]["200"]["body"] for name in INSTANCE_EXAMPLES]
    item = make_item(instances=instances)

    dicts = list(client.list_item_job_instances(item.workspace_id, item.item_id, as_dict=True))
    objects = list(client.list_item_job_instances(item.workspace_id, item.item_id))

    assert dicts == instances
    assert [list(job) for job in dicts] == [list(job) for job in instances]
    assert [job.to_dict() for job in objects] == instances
    raw = _get(_list_url(emulator, item))
    _assert_valid("ItemJobInstances", raw.json())
    assert raw.json()["value"] == instances


def test_double_encoded_token_is_rejected(emulator, make_item):
    emulator.set_page_size(2)
    item = make_item(5)
    token = _get(_list_url(emulator, item)).json()["continuationToken"]
    assert _get(_list_url(emulator, item, token)).status == 200
    double = token.replace("%", "%25")
    _assert_fabric_error(_get(_list_url(emulator, item, double)), 400, "InvalidContinuationToken")


def test_401_without_token_is_a_fabric_error(emulator, make_item):
    item = make_item(1)
    raw = _get(_list_url(emulator, item), token=None)
    _assert_fabric_error(raw, 401, "Unauthorized")
    assert raw.headers["WWW-Authenticate"] == "Bearer"


def test_404_unknown_item_and_workspace(emulator, make_item):
    item = make_item(1)
    url = f"{emulator.base_url}/workspaces/{item.workspace_id}/items/{uuid.uuid4()}/jobs/instances"
    body = _assert_fabric_error(_get(url), 404, "ItemNotFound")
    assert body["relatedResource"]["resourceType"] == "Item"

    url = f"{emulator.base_url}/workspaces/{uuid.uuid4()}/items/{item.item_id}/jobs/instances"
    body = _assert_fabric_error(_get(url), 404, "WorkspaceNotFound")
    assert body["relatedResource"]["resourceType"] == "Workspace"


def test_429_with_retry_after(emulator, make_item):
    item = make_item(1)
    emulator.fail_next(429, headers={"Retry-After": "53"})
    raw = _get(_list_url(emulator, item))
    body = _assert_fabric_error(raw, 429, "RequestBlocked")
    assert raw.headers["Retry-After"] == "53"
    assert body["isRetriable"] is True
    assert body["message"].startswith("Request is blocked by the upstream service until: ")


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "BadRequest"),
        (403, "InsufficientPrivileges"),
        (500, "InternalServerError"),
        (503, "ServiceUnavailable"),
    ],
)
def test_injected_errors_validate(emulator, make_item, status, code):
    item = make_item(1)
    emulator.fail_next(status)
    _assert_fabric_error(_get(_list_url(emulator, item)), status, code)


def test_invalid_guid_in_the_path_is_a_fabric_400(emulator):
    url = f"{emulator.base_url}/workspaces/not-a-guid/items/{uuid.uuid4()}/jobs/instances"
    body = _assert_fabric_error(_get(url), 400, "InvalidParameter")
    assert "workspaceId" in body["message"]


def test_unknown_route_is_a_fabric_404(emulator):
    _assert_fabric_error(_get(f"{emulator.base_url}/nothing/here"), 404, "NotFound")
