"""Shared fixtures: a real emulator on loopback, a client pointed at it, seeded items.

Everything here talks real HTTP to the bundled emulator (``fabric_jobs.testing``); nothing is
mocked. Helpers that are not fixtures live in ``_helpers.py``.

Tests that inject a fault after consuming part of a listing list with ``prefetch=0``: with the
default look-ahead the next page has already been requested by then (``test_prefetch.py``
covers failures with look-ahead).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable

import pytest
from _helpers import TOKEN, SeededItem
from fabric_jobs import JobsClient
from fabric_jobs.testing import FabricEmulator


@pytest.fixture(autouse=True)
def _no_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests pass tokens explicitly; a developer's real FABRIC_TOKEN must never leak in."""
    monkeypatch.delenv("FABRIC_TOKEN", raising=False)


@pytest.fixture
def emulator() -> Iterator[FabricEmulator]:
    """A started emulator (page size 100, any token accepted, both continuation fields)."""
    emu = FabricEmulator()
    try:
        yield emu
    finally:
        emu.close()


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., FabricEmulator]]:
    """Factory for extra emulators with custom settings; all are closed at teardown."""
    created: list[FabricEmulator] = []

    def make(**kwargs: Any) -> FabricEmulator:
        emu = FabricEmulator(**kwargs)
        created.append(emu)
        return emu

    yield make
    for emu in created:
        emu.close()


@pytest.fixture
def client(emulator: FabricEmulator) -> JobsClient:
    """A client for ``emulator`` using the distinctive test token.

    It does not retry and has no client-side rate limit: these tests check what a single
    response maps to, and some list a thousand pages. Retries and throttling have their own
    tests (``test_retries.py``), the rate limit too (``test_fanout.py``).
    """
    return JobsClient(token=TOKEN, base_url=emulator.base_url, max_retries=0, rate_limit=None)


@pytest.fixture
def make_item(emulator: FabricEmulator) -> Callable[..., SeededItem]:
    """``make_item(count=0, *, instances=None, seed=0, item_type=..., item_id=None, emu=None)``.

    Adds a workspace and an item to ``emu`` (default: the ``emulator`` fixture), stores the
    explicit ``instances`` first (verbatim), then ``count`` generated ones, and returns the
    ids plus the stored instances as the emulator serves them. Generated data is a pure
    function of (item id, item type, count, seed): pass a fixed ``item_id`` when a test relies
    on what the data contains (e.g. "some job failed").
    """

    def make(
        count: int = 0,
        *,
        instances: list[dict[str, Any]] | None = None,
        seed: int = 0,
        item_type: str = "DataPipeline",
        item_id: str | None = None,
        emu: FabricEmulator | None = None,
    ) -> SeededItem:
        target = emulator if emu is None else emu
        workspace_id = target.add_workspace()
        item_id = target.add_item(workspace_id, item_id, item_type=item_type)
        if instances is not None:
            target.add_job_instances(workspace_id, item_id, instances)
        if count:
            target.generate_job_instances(workspace_id, item_id, count, seed=seed)
        return SeededItem(workspace_id, item_id, target.job_instances(workspace_id, item_id))

    return make
