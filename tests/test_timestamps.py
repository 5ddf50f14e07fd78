"""Every timestamp form Fabric sends: 0..7 fractional digits, no zone (= UTC), ``Z``,
``+00:00``, other offsets, null. Object mode gives tz-aware UTC datetimes (7th digit
truncated to microseconds); dict mode keeps the exact strings."""

from __future__ import annotations

import datetime as dt

import pytest
from _helpers import drain, guid, wire_job
from fabric_jobs import InvalidResponseError, JobInstance

UTC = dt.timezone.utc


def _utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def _read_start_times(pager) -> list:
    return [job.start_time_utc for job in pager]


FORMS = [
    # no zone designator: UTC; 0 to 7 fractional digits
    ("2024-06-22T06:35:00", _utc(2024, 6, 22, 6, 35, 0)),
    ("2024-06-22T06:35:00.7", _utc(2024, 6, 22, 6, 35, 0, 700000)),
    ("2026-04-22T13:24:32.45", _utc(2026, 4, 22, 13, 24, 32, 450000)),
    ("2024-06-22T06:35:00.781", _utc(2024, 6, 22, 6, 35, 0, 781000)),
    ("2024-06-22T06:35:00.7812", _utc(2024, 6, 22, 6, 35, 0, 781200)),
    ("2024-06-22T06:35:00.78121", _utc(2024, 6, 22, 6, 35, 0, 781210)),
    ("2024-06-22T06:35:00.781215", _utc(2024, 6, 22, 6, 35, 0, 781215)),
    ("2024-06-22T06:35:00.7812154", _utc(2024, 6, 22, 6, 35, 0, 781215)),
    # the 7th digit is truncated, never rounded up into the next second
    ("2024-12-31T23:59:59.9999999", _utc(2024, 12, 31, 23, 59, 59, 999999)),
    ("2024-06-22T06:35:00.0000009", _utc(2024, 6, 22, 6, 35, 0, 0)),
    # with Z
    ("2024-06-22T06:35:00Z", _utc(2024, 6, 22, 6, 35, 0)),
    ("2024-06-22T06:35:00.1234567Z", _utc(2024, 6, 22, 6, 35, 0, 123456)),
    # with +00:00
    ("2025-03-25T06:43:12.3457658+00:00", _utc(2025, 3, 25, 6, 43, 12, 345765)),
    ("2025-03-25T06:43:12+00:00", _utc(2025, 3, 25, 6, 43, 12)),
    # other offsets are converted to UTC (also across a date boundary)
    ("2025-03-25T08:43:12+02:00", _utc(2025, 3, 25, 6, 43, 12)),
    ("2025-03-25T01:43:12.5-05:00", _utc(2025, 3, 25, 6, 43, 12, 500000)),
    ("2025-03-25T23:30:00-01:00", _utc(2025, 3, 26, 0, 30, 0)),
    ("2025-03-25T05:13:12+05:30", _utc(2025, 3, 24, 23, 43, 12)),
    # .NET's DateTime.MinValue, the usual "not set" value
    ("0001-01-01T00:00:00", _utc(1, 1, 1, 0, 0, 0)),
]


@pytest.mark.parametrize(("text", "expected"), FORMS, ids=[text for text, _ in FORMS])
def test_timestamp_forms_in_object_and_dict_mode(emulator, client, make_item, text, expected):
    wire = wire_job(1, startTimeUtc=text, endTimeUtc=text)
    item = make_item(instances=[wire])

    [job] = list(client.list_item_job_instances(item.workspace_id, item.item_id))
    [raw] = list(client.list_item_job_instances(item.workspace_id, item.item_id, as_dict=True))

    for value in (job.start_time_utc, job.end_time_utc):
        assert isinstance(value, dt.datetime)
        assert value.tzinfo is not None
        assert value.utcoffset() == dt.timedelta(0)
        assert value == expected
        assert value.replace(tzinfo=None) == expected.replace(tzinfo=None)  # same UTC wall time
    assert raw["startTimeUtc"] == text
    assert raw["endTimeUtc"] == text
    assert job.to_dict()["startTimeUtc"] == text


def test_datetimes_use_the_utc_timezone_object(emulator, client, make_item):
    item = make_item(instances=[wire_job(1)])
    [job] = list(client.list_item_job_instances(item.workspace_id, item.item_id))
    assert job.start_time_utc.tzinfo == UTC
    assert job.start_time_utc.tzname() == "UTC"


def test_null_and_absent_end_time_is_none(emulator, client, make_item):
    running = wire_job(1, status="InProgress", endTimeUtc=None)
    absent = wire_job(2, status="NotStarted", endTimeUtc=..., startTimeUtc=...)
    item = make_item(instances=[running, absent])

    a, b = list(client.list_item_job_instances(item.workspace_id, item.item_id))
    raw_a, raw_b = list(
        client.list_item_job_instances(item.workspace_id, item.item_id, as_dict=True)
    )

    assert a.end_time_utc is None
    assert a.start_time_utc == _utc(2024, 6, 22, 6, 1, 0, 781215)
    assert b.end_time_utc is None
    assert b.start_time_utc is None
    assert raw_a["endTimeUtc"] is None
    assert "endTimeUtc" not in raw_b
    assert "startTimeUtc" not in raw_b


def test_empty_timestamp_string_is_none_in_object_mode(emulator, client, make_item):
    item = make_item(instances=[wire_job(1, endTimeUtc="")])
    [job] = list(client.list_item_job_instances(item.workspace_id, item.item_id))
    [raw] = list(client.list_item_job_instances(item.workspace_id, item.item_id, as_dict=True))
    assert job.end_time_utc is None
    assert raw["endTimeUtc"] == ""


def test_generated_timestamps_parse_in_every_precision(emulator, client, make_item):
    item = make_item(200, seed=4, item_id=guid("generated-200"))
    digits = set()
    jobs = list(client.list_item_job_instances(item.workspace_id, item.item_id))
    for job, wire in zip(jobs, item.instances):
        text = wire["startTimeUtc"]
        digits.add(len(text.split(".")[1]) if "." in text else 0)
        whole, _, fraction = text.partition(".")
        expected = dt.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(
            microsecond=int((fraction + "000000")[:6]), tzinfo=UTC
        )
        assert job.start_time_utc == expected
    assert {0, 2, 7} <= digits


@pytest.mark.parametrize(
    "bad",
    ["yesterday", "2024-13-01T00:00:00", "2024-06-22", "22/06/2024 06:35", 1719038100, True],
)
def test_unreadable_timestamp_raises_invalid_response_in_object_mode(
    emulator, client, make_item, bad
):
    emulator.set_page_size(2)
    good = [wire_job(1), wire_job(2)]
    broken = wire_job(3, startTimeUtc=bad)
    item = make_item(instances=[*good, broken])

    pager = client.list_item_job_instances(item.workspace_id, item.item_id)
    received = []
    with pytest.raises(InvalidResponseError) as caught:
        drain(pager, received)

    # The good page came through first; the broken one is reported, not half-delivered.
    assert [job.id for job in received] == [good[0]["id"], good[1]["id"]]
    error = caught.value
    assert item.path in error.url
    assert error.request_id  # the RequestId of the 200 response that carried it
    assert "timestamp" in str(error) or "startTimeUtc" in str(error) or "item 0" in str(error)

    # Dict mode does not interpret timestamps: the same data lists fine, exactly as stored.
    dicts = list(client.list_item_job_instances(item.workspace_id, item.item_id, as_dict=True))
    assert dicts == [*good, broken]
    assert dicts[2]["startTimeUtc"] == bad


@pytest.mark.parametrize(
    "text",
    [
        "9999-12-31T23:59:59-01:00",  # year 10000 in UTC
        "0001-01-01T00:00:00+01:00",  # year 0 in UTC
    ],
)
def test_timestamp_outside_the_datetime_range_is_an_invalid_response(
    emulator, client, make_item, text
):
    """A timestamp that parses but has no Python ``datetime`` must surface as the documented
    InvalidResponseError (like any unreadable timestamp), not as a bare ValueError raised later
    by an attribute getter."""
    item = make_item(instances=[wire_job(1, startTimeUtc=text)])
    pager = client.list_item_job_instances(item.workspace_id, item.item_id)
    with pytest.raises(InvalidResponseError):
        _read_start_times(pager)


def test_from_dict_reads_timestamps_like_the_listing():
    job = JobInstance.from_dict(
        {"id": guid("x"), "startTimeUtc": "2024-06-22T08:35:00.7812154+02:00", "endTimeUtc": None}
    )
    assert job.start_time_utc == _utc(2024, 6, 22, 6, 35, 0, 781215)
    assert job.end_time_utc is None
    assert job.to_dict()["startTimeUtc"] == "2024-06-22T08:35:00.7812154+02:00"
