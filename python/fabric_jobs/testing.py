"""Test helpers: the bundled Fabric emulator.

>>> from fabric_jobs import JobsClient
>>> from fabric_jobs.testing import FabricEmulator
>>> with FabricEmulator(page_size=50) as emulator:
...     [(workspace, item)] = emulator.seed(jobs_per_item=120)
...     client = JobsClient(token="any-token", base_url=emulator.base_url)
...     len(list(client.list_item_job_instances(workspace, item)))
120
"""

from __future__ import annotations

from fabric_jobs._core import FabricEmulator

__all__ = ["FabricEmulator"]
