"""JobInstance and the error models: dict/object equivalence, exact wire dicts, open enums,
immutability, equality, hashing, pickling, from_dict/from_json."""

from __future__ import annotations

import datetime as dt
import json
import pickle
import random

import pytest
from _helpers import TOKEN, guid, ids_of, wire_job
from fabric_jobs import (
    ErrorDetail,
    ErrorResponse,
    InvokeType,
    JobInstance,
    JobsClient,
    JobStatus,
    RelatedResource,
)

FAILED_JOB = wire_job(
    1,
    status="Failed",
    failureReason={
        "requestId": guid("failure-request"),
        "errorCode": "JobExecutionFailed",
        "message": "Operation on target Copy data1 failed",
        "moreDetails": [
            {
                "errorCode": "UserErrorSourceFileNotExist",
                "message": "The required file does not exist.",
                "relatedResource": {"resourceId": guid("file"), "resourceType": "File"},
            }
        ],
        "relatedResource": {"resourceId": guid("pipeline"), "resourceType": "DataPipeline"},
        "isRetriable": False,
    },
)

# Key order, nulls, 7-digit timestamps, unknown values and fields, nested objects: all must
# survive dict mode exactly. Modelled on Microsoft's beta notebook example (``properties``).
ODD_JOB = {
    "status": "Paused",
    "id": guid("odd"),
    "invokeType": "Triggered",
    "startTimeUtc": "2024-06-22T06:35:00.7812154",
    "endTimeUtc": None,
    "failureReason": None,
    "properties": {
        "exitValue": None,
        "compute": "Jupyter",
        "computeDetails": {
            "activityId": guid("activity"),
            "monitoringInfo": {"executionSnapshotUrl": "https://app.fabric.microsoft.com/x?y=1"},
        },
        "numbers": [0, -1, 18446744073709551615, -9223372036854775808, 0.1, 1e300],
        "flags": [True, False, None],
        "text": 'é 漢字 🎉 "quoted" \\ back',
    },
    "zzzLast": "kept",
    "aaaAfter": {"empty": {}, "list": []},
}


# ---------------------------------------------------------------- dict / object equivalence


def test_objects_and_dicts_describe_the_same_stored_instances(emulator, client, make_item):
    emulator.set_page_size(25)
    item = make_item(80, seed=3, item_id=guid("generated-80"))
    assert any(i["status"] == "Failed" for i in item.instances), "seed should include failures"
    assert any(i["endTimeUtc"] is None for i in item.instances), "seed should include running"

    objects = list(client.list_item_job_instances(item.workspace_id, item.item_id))
    dicts = list(client.list_item_job_instances(item.workspace_id, item.item_id, as_dict=True))

    assert [job.to_dict() for job in objects] == dicts
    assert dicts == item.instances
    assert [json.loads(job.to_json()) for job in objects] == item.instances


def test_object_attributes_match_the_wire_fields(emulator, client, make_item):
    item = make_item(60, seed=5)
    for job, wire in zip(
        client.list_item_job_instances(item.workspace_id, item.item_id), item.instances
    ):
        assert job.id == wire["id"]
        assert job.item_id == wire["itemId"] == item.item_id
        assert job.job_type == wire["jobType"] == "Pipeline"
        assert job.invoke_type == wire["invokeType"]
        assert job.status == wire["status"]
        assert job.root_activity_id == wire["rootActivityId"]
        assert isinstance(job.start_time_utc, dt.datetime)
        assert job.start_time_utc.utcoffset() == dt.timedelta(0)
        if wire["endTimeUtc"] is None:
            assert job.end_time_utc is None
        else:
            assert job.end_time_utc >= job.start_time_utc - dt.timedelta(seconds=1)
        if wire["failureReason"] is None:
            assert job.failure_reason is None
        else:
            assert job.failure_reason.error_code == wire["failureReason"]["errorCode"]
            assert job.failure_reason.message == wire["failureReason"]["message"]
            assert job.failure_reason.request_id == wire["failureReason"]["requestId"]


def test_dict_mode_keeps_the_wire_exactly(emulator, client, make_item):
    item = make_item(instances=[ODD_JOB, FAILED_JOB])

    dicts = list(client.list_item_job_instances(item.workspace_id, item.item_id, as_dict=True))

    assert dicts == [ODD_JOB, FAILED_JOB]
    assert list(dicts[0]) == list(ODD_JOB)  # key order
    assert list(dicts[0]["properties"]) == list(ODD_JOB["properties"])
    assert dicts[0]["startTimeUtc"] == "2024-06-22T06:35:00.7812154"
    assert dicts[0]["endTimeUtc"] is None
    assert "endTimeUtc" in dicts[0]
    assert dicts[0]["status"] == "Paused"
    assert type(dicts[0]["status"]) is str
    big = dicts[0]["properties"]["numbers"]
    assert big[2] == 18446744073709551615
    assert type(big[2]) is int
    assert big[4] == 0.1
    assert type(big[4]) is float
    assert all("_" not in key for key in dicts[1])  # camelCase, not snake_case
    assert list(dicts[1]["failureReason"]) == list(FAILED_JOB["failureReason"])


def random_json(rng: random.Random, depth: int = 0) -> object:
    """Any JSON value: nested containers, escapes, non-BMP text, extreme numbers."""
    kinds = ["null", "bool", "int", "float", "str"] + (["list", "dict"] * 2 if depth < 5 else [])
    kind = rng.choice(kinds)
    if kind == "null":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.choice([rng.randint(-(2**63), 2**64 - 1), rng.randint(-1000, 1000), 0])
    if kind == "float":
        return rng.choice(
            [rng.uniform(-1e300, 1e300), rng.random(), 0.1, -0.0, 5e-324, 1.7976931348623157e308]
        )
    if kind == "str":
        return random_text(rng)
    if kind == "list":
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {random_text(rng): random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def random_text(rng: random.Random) -> str:
    alphabet = 'abcXYZ09 "\\/\b\f\n\r\t\x00\x1f\x7fé€\U0001f600\u2028'
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))


def test_dict_mode_reads_any_json_exactly(emulator, client, make_item):
    """Dict mode and to_dict() build Python objects straight from the JSON text: any value
    (escapes, surrogate pairs, 64-bit integers, extreme floats, nesting, key order) must come
    out as json.loads would give it."""
    rng = random.Random(20261204)
    instances = [
        {
            "id": guid(f"random-{n}"),
            "status": "Completed",
            **{random_text(rng): random_json(rng) for _ in range(rng.randint(0, 5))},
        }
        for n in range(300)
    ]
    item = make_item(instances=instances)

    dicts = list(client.list_item_job_instances(item.workspace_id, item.item_id, as_dict=True))
    jobs = list(client.list_item_job_instances(item.workspace_id, item.item_id))

    expected = json.dumps(instances)  # key order and float repr included
    assert json.dumps(dicts) == expected
    assert json.dumps([job.to_dict() for job in jobs]) == expected
    assert [json.loads(job.to_json()) for job in jobs] == instances


ESCAPED_WIRE = (
    r'{"id":"a\u00e9\/b","jobType":"\u0050ipeline","status":"Fa\u0069led",'
    r'"s":"\ud83d\ude00 \u2028","k\u0041":1,"dup":1,"dup":2,'
    r'"esc":"\"\\\b\f\n\r\t\u0000","f":1e308,"tiny":5e-324,"e":1.5E-3,'
    r'"u64":18446744073709551615,"i64":-9223372036854775808,'
    r'"nested":[[[{"x":[],"y":{}}]]],"t":true,"n":null}'
)


def test_escapes_on_the_wire_read_like_json_loads(emulator, make_item):
    """Escapes, surrogate pairs and repeated keys exactly as a server may send them (the
    emulator's own output never has them: it re-serialises)."""
    item = make_item(1)
    body = '{"value":[' + ESCAPED_WIRE + "]}"
    expected = json.dumps(json.loads(ESCAPED_WIRE))
    client = JobsClient(token=TOKEN, base_url=emulator.base_url, max_retries=0)
    for as_dict in (True, False):
        emulator.fail_next(200, body=body, headers={"Content-Type": "application/json"})
        [got] = client.list_item_job_instances(item.workspace_id, item.item_id, as_dict=as_dict)
        wire = got if as_dict else got.to_dict()
        assert json.dumps(wire) == expected
        if not as_dict:
            assert got.id == "a\u00e9/b"
            assert got.job_type == "Pipeline"
            assert got.status == "Failed"
            assert JobInstance.from_json(ESCAPED_WIRE).to_dict() == json.loads(ESCAPED_WIRE)


def test_numbers_read_as_serde_json_reads_them():
    """Two documented differences from json.loads: an integer beyond 64 bits becomes a float,
    and -0 becomes -0.0."""
    job = JobInstance.from_json('{"big":18446744073709551616,"negzero":-0,"i":-0.0}')
    assert job.to_dict() == {"big": 18446744073709551616.0, "negzero": -0.0, "i": -0.0}
    assert type(job.to_dict()["big"]) is float


def test_object_mode_keeps_unknown_fields_in_to_dict(emulator, client, make_item):
    item = make_item(instances=[ODD_JOB])
    [job] = list(client.list_item_job_instances(item.workspace_id, item.item_id))
    assert job.to_dict() == ODD_JOB
    assert list(job.to_dict()) == list(ODD_JOB)
    assert json.loads(job.to_json()) == ODD_JOB


def test_known_status_and_invoke_type_are_enum_members(emulator, client, make_item):
    statuses = ["NotStarted", "InProgress", "Completed", "Failed", "Cancelled", "Deduped"]
    instances = [
        wire_job(n, status=status, invokeType=("Scheduled" if n % 2 else "Manual"))
        for n, status in enumerate(statuses)
    ]
    item = make_item(instances=instances)

    jobs = list(client.list_item_job_instances(item.workspace_id, item.item_id))

    for job, wire in zip(jobs, instances):
        assert isinstance(job.status, JobStatus)
        assert job.status is JobStatus(wire["status"])
        assert job.status == wire["status"]
        assert str(job.status) == wire["status"]
        assert isinstance(job.invoke_type, InvokeType)
        assert job.invoke_type == wire["invokeType"]
        assert str(job.invoke_type) == wire["invokeType"]
    assert [job.status.is_terminal for job in jobs] == [False, False, True, True, True, True]


def test_unknown_status_and_invoke_type_are_plain_strings(emulator, client, make_item):
    item = make_item(instances=[ODD_JOB])
    [job] = list(client.list_item_job_instances(item.workspace_id, item.item_id))
    assert type(job.status) is str
    assert job.status == "Paused"
    assert type(job.invoke_type) is str
    assert job.invoke_type == "Triggered"


def test_missing_fields_are_none(emulator, client, make_item):
    item = make_item(instances=[{"id": guid("bare")}, {}])
    bare, empty = list(client.list_item_job_instances(item.workspace_id, item.item_id))
    assert bare.id == guid("bare")
    for job in (bare, empty):
        assert job.item_id is None
        assert job.job_type is None
        assert job.invoke_type is None
        assert job.status is None
        assert job.root_activity_id is None
        assert job.start_time_utc is None
        assert job.end_time_utc is None
        assert job.failure_reason is None
    assert empty.id is None
    assert empty.to_dict() == {}


# ---------------------------------------------------------------- failure_reason


def test_failure_reason_is_a_full_error_response(emulator, client, make_item):
    item = make_item(instances=[FAILED_JOB])
    [job] = list(client.list_item_job_instances(item.workspace_id, item.item_id))

    reason = job.failure_reason
    wire = FAILED_JOB["failureReason"]
    assert isinstance(reason, ErrorResponse)
    assert reason.error_code == "JobExecutionFailed"
    assert reason.message == wire["message"]
    assert reason.request_id == wire["requestId"]
    assert reason.is_retriable is False
    assert isinstance(reason.related_resource, RelatedResource)
    assert reason.related_resource.resource_id == guid("pipeline")
    assert reason.related_resource.resource_type == "DataPipeline"
    [detail] = reason.more_details
    assert isinstance(detail, ErrorDetail)
    assert detail.error_code == "UserErrorSourceFileNotExist"
    assert detail.message == "The required file does not exist."
    assert detail.related_resource == RelatedResource.from_dict(
        {"resourceId": guid("file"), "resourceType": "File"}
    )
    assert reason.to_dict() == wire
    assert "JobExecutionFailed" in repr(reason)
    assert "JobExecutionFailed" in repr(job)


def test_generated_failures_have_a_failure_reason(emulator, client, make_item):
    item = make_item(120, seed=11, item_id=guid("generated-120"))
    jobs = list(client.list_item_job_instances(item.workspace_id, item.item_id))
    failed = [job for job in jobs if job.status == JobStatus.FAILED]
    assert failed
    for job in failed:
        assert isinstance(job.failure_reason, ErrorResponse)
        assert job.failure_reason.error_code
        assert job.failure_reason.message
        assert job.failure_reason.more_details == []
    assert all(job.failure_reason is None for job in jobs if job.status != JobStatus.FAILED)


def test_error_models_are_lenient_and_default_empty():
    reason = ErrorResponse.from_dict({"errorCode": "X", "custom": 1, "isRetriable": "yes"})
    assert reason.error_code == "X"
    assert reason.message is None
    assert reason.request_id is None
    assert reason.more_details == []
    assert reason.related_resource is None
    assert reason.is_retriable is None  # not a bool: not trusted
    assert reason.to_dict()["custom"] == 1


# ---------------------------------------------------------------- JobInstance behaviour


@pytest.fixture
def job(emulator, client, make_item):
    item = make_item(instances=[FAILED_JOB])
    [job] = list(client.list_item_job_instances(item.workspace_id, item.item_id))
    return job


@pytest.mark.parametrize(
    "attribute",
    [
        "id",
        "item_id",
        "job_type",
        "invoke_type",
        "status",
        "root_activity_id",
        "start_time_utc",
        "end_time_utc",
        "failure_reason",
        "something_new",
    ],
)
def test_job_instance_is_immutable(job, attribute):
    with pytest.raises(AttributeError):
        setattr(job, attribute, "changed")
    assert job.status == "Failed"
    assert job.to_dict() == FAILED_JOB


def test_job_instance_attributes_cannot_be_deleted(job):
    with pytest.raises(AttributeError):
        del job.status
    assert job.status == JobStatus.FAILED


def test_error_models_are_immutable(job):
    reason = job.failure_reason
    for target, name in [
        (reason, "error_code"),
        (reason.more_details[0], "message"),
        (reason.related_resource, "resource_id"),
        (reason, "new_attribute"),
    ]:
        with pytest.raises(AttributeError):
            setattr(target, name, "x")
    assert reason.error_code == "JobExecutionFailed"


def test_job_instance_repr_names_id_and_status(job):
    text = repr(job)
    assert text.startswith("JobInstance(")
    assert FAILED_JOB["id"] in text
    assert "Failed" in text


def test_job_instance_equality(job):
    same = JobInstance.from_dict(FAILED_JOB)
    reordered = JobInstance.from_dict(dict(reversed(list(FAILED_JOB.items()))))
    pretty = JobInstance.from_json(json.dumps(FAILED_JOB, indent=4))
    different = JobInstance.from_dict({**FAILED_JOB, "status": "Completed"})

    assert job == same == reordered == pretty
    assert (job != same) is False  # __ne__ is consistent with __eq__
    assert job != different
    assert job != FAILED_JOB  # a dict is not a JobInstance
    assert job != "Failed"


def test_job_instances_are_hashable_and_usable_in_sets(emulator, client, make_item):
    emulator.set_page_size(10)
    item = make_item(30)
    first = list(client.list_item_job_instances(item.workspace_id, item.item_id))
    second = list(client.list_item_job_instances(item.workspace_id, item.item_id))

    assert len(set(first)) == 30
    assert set(first) == set(second)
    assert len(set(first) | set(second)) == 30
    for a, b in zip(first, second):
        assert a == b
        assert hash(a) == hash(b)
    lookup = {job: job.id for job in first}
    assert [lookup[job] for job in second] == item.ids


def test_job_instance_pickle_round_trip(job):
    clone = pickle.loads(pickle.dumps(job))
    assert type(clone) is JobInstance
    assert clone == job
    assert hash(clone) == hash(job)
    assert clone.to_json() == job.to_json()
    assert clone.to_dict() == FAILED_JOB
    assert clone.start_time_utc == job.start_time_utc
    assert clone.failure_reason == job.failure_reason


def test_error_models_pickle_round_trip(job):
    reason = job.failure_reason
    detail = reason.more_details[0]
    related = reason.related_resource
    for original in (reason, detail, related, detail.related_resource):
        clone = pickle.loads(pickle.dumps(original))
        assert type(clone) is type(original)
        assert clone == original
        assert clone.to_dict() == original.to_dict()
    assert pickle.loads(pickle.dumps(reason)).more_details[0].related_resource.resource_type == (
        "File"
    )


def test_from_dict_and_from_json(job):
    from_dict = JobInstance.from_dict(FAILED_JOB)
    from_json = JobInstance.from_json(json.dumps(FAILED_JOB))
    assert from_dict == from_json == job
    assert from_dict.to_dict() == FAILED_JOB
    assert from_dict.status is JobStatus.FAILED
    assert from_dict.start_time_utc == dt.datetime(
        2024, 6, 22, 6, 1, 0, 781215, tzinfo=dt.timezone.utc
    )
    text = '{"id": "x",   "status": "Completed"}'
    assert JobInstance.from_json(text).to_json() == text  # kept exactly


@pytest.mark.parametrize(
    "call",
    [
        lambda: JobInstance.from_json("not json"),
        lambda: JobInstance.from_json("[1, 2]"),
        lambda: JobInstance.from_json('{"id": 7}'),
        lambda: JobInstance.from_dict([FAILED_JOB]),
        lambda: JobInstance.from_dict({"startTimeUtc": "tomorrow"}),
        lambda: RelatedResource.from_dict("Workspace"),
        lambda: ErrorDetail.from_dict(["x"]),
        lambda: ErrorResponse.from_dict(3),
    ],
)
def test_invalid_model_input_raises_value_error(call):
    with pytest.raises(ValueError, match="not a valid"):
        call()


def test_job_status_enum_contract():
    assert {s.value for s in JobStatus} == {
        "NotStarted",
        "InProgress",
        "Completed",
        "Failed",
        "Cancelled",
        "Deduped",
    }
    assert {s.value for s in InvokeType} == {"Manual", "Scheduled"}
    terminal = {s for s in JobStatus if s.is_terminal}
    assert terminal == {
        JobStatus.COMPLETED,
        JobStatus.FAILED,
        JobStatus.CANCELLED,
        JobStatus.DEDUPED,
    }
    assert JobStatus.COMPLETED == "Completed"
    assert f"{JobStatus.IN_PROGRESS}" == "InProgress"
    assert {"Completed": 1}[JobStatus.COMPLETED] == 1  # hashes like its wire string


def test_generated_listing_is_newest_first(emulator, client, make_item):
    item = make_item(50, seed=9)
    jobs = list(client.list_item_job_instances(item.workspace_id, item.item_id))
    starts = [job.start_time_utc for job in jobs]
    assert starts == sorted(starts, reverse=True)
    assert ids_of(jobs) == item.ids
