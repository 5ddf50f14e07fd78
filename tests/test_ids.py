"""Workspace and item ids: anything that is not a GUID is a ValueError before any request;
``uuid.UUID`` objects and the common GUID spellings are accepted and sent canonically."""

from __future__ import annotations

import uuid

import pytest
from fabric_jobs import NotFoundError

GOOD = "4b218778-e7a5-4d73-8187-f10824047715"

NOT_GUIDS = [
    "not-a-guid",
    "",
    "   ",
    "4b218778-e7a5-4d73-8187",
    "4b218778-e7a5-4d73-8187-f1082404771g",
    "4b218778-e7a5-4d73-8187-f10824047715-00",
    "../../admin",
    "4b218778-e7a5-4d73-8187-f10824047715/../x",
    "my workspace",
    123,
    0,
    None,
    1.5,
    b"4b218778-e7a5-4d73-8187-f10824047715",
    ["4b218778-e7a5-4d73-8187-f10824047715"],
    {"id": GOOD},
]


@pytest.mark.parametrize("bad", NOT_GUIDS, ids=repr)
def test_invalid_workspace_id_is_rejected_before_any_request(emulator, client, bad):
    with pytest.raises(ValueError, match="workspace_id"):
        client.list_item_job_instances(bad, GOOD)
    assert emulator.requests == []


@pytest.mark.parametrize("bad", NOT_GUIDS, ids=repr)
def test_invalid_item_id_is_rejected_before_any_request(emulator, client, bad):
    with pytest.raises(ValueError, match="item_id"):
        client.list_item_job_instances(GOOD, bad)
    with pytest.raises(ValueError, match="item_id"):
        client.list_item_job_instances(GOOD, bad, as_dict=True)
    assert emulator.requests == []


def test_message_shows_the_rejected_value(client):
    with pytest.raises(ValueError, match="my-workspace") as caught:
        client.list_item_job_instances("my-workspace", GOOD)
    assert "GUID" in str(caught.value)


def _spellings(value: str) -> list[object]:
    parsed = uuid.UUID(value)
    return [
        parsed,  # uuid.UUID object
        value.upper(),
        "{" + value + "}",
        "{" + value.upper() + "}",
        parsed.hex,  # no hyphens
        parsed.urn,  # urn:uuid:...
        f"  {value}  ",
    ]


@pytest.mark.parametrize("form", range(7))
def test_guid_spellings_are_accepted_and_sent_canonically(emulator, client, make_item, form):
    item = make_item(3)
    workspace = _spellings(item.workspace_id)[form]
    item_id = _spellings(item.item_id)[form]
    emulator.clear_requests()

    jobs = list(client.list_item_job_instances(workspace, item_id))

    assert [job.id for job in jobs] == item.ids
    assert [r["path"] for r in emulator.requests] == [item.path]


def test_uuid_objects_in_dict_mode(emulator, client, make_item):
    item = make_item(2)
    workspace, item_id = uuid.UUID(item.workspace_id), uuid.UUID(item.item_id)
    assert list(client.list_item_job_instances(workspace, item_id, as_dict=True)) == (
        item.instances
    )


def test_unknown_but_valid_guids_reach_the_server(emulator, client):
    # Validation is about shape only; existence is the service's answer (404).
    with pytest.raises(NotFoundError):
        list(client.list_item_job_instances(uuid.uuid4(), uuid.uuid4()))
    assert len(emulator.requests) == 1
