"""The client across ``os.fork()``, multiprocessing (fork and spawn), and threads.

A forked child inherits the parent's runtime memory but not its threads; a client that reuses
it hangs forever. Every fork scenario therefore runs inside a ``sys.executable`` child process
with a hard timeout, and the forking process itself watches its own child with a watchdog, so
a hang fails the test instead of blocking pytest. The emulator lives in the forking process:
its runtime keeps serving there while the forked child talks to it over HTTP.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from _helpers import TOKEN, ids_of
from fabric_jobs import JobsClient

#: Hard limit for a whole child process (the in-child watchdogs are shorter).
SUBPROCESS_TIMEOUT = 60.0

# Lists once in the parent (sync, and in "async" mode also with asyncio.run), forks, and in the
# child lists with the parent's client and with a new client; the parent polls waitpid with a
# 20 s watchdog, then lists again itself. Prints "RESULT <child exit code> <parent ok>
# <requests seen by the emulator>".
FORK_SCRIPT = r"""
import asyncio, os, signal, sys, time, traceback
from fabric_jobs import JobsClient
from fabric_jobs.testing import FabricEmulator

mode = sys.argv[1]
emu = FabricEmulator(page_size=10)
[(ws, item)] = emu.seed(jobs_per_item=25)
expected = [job["id"] for job in emu.job_instances(ws, item)]
client = JobsClient(token="fork-token", base_url=emu.base_url, max_retries=0, timeout=10)


async def collect(c):
    return [job.id async for job in c.list_item_job_instances(ws, item)]


def listing(c):
    if mode == "async":
        return asyncio.run(collect(c))
    return [job.id for job in c.list_item_job_instances(ws, item)]


assert [job.id for job in client.list_item_job_instances(ws, item)] == expected
if mode == "async":
    assert asyncio.run(collect(client)) == expected

pid = os.fork()
if pid == 0:
    code = 1
    try:
        inherited = listing(client)
        fresh = listing(JobsClient(token="fork-token", base_url=emu.base_url, timeout=10))
        if inherited == expected and fresh == expected:
            code = 0
        else:
            print("child got wrong ids", len(inherited), len(fresh), file=sys.stderr)
            code = 2
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

deadline = time.monotonic() + 20
while True:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    if time.monotonic() > deadline:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        print("RESULT hung", flush=True)
        sys.exit(4)
    time.sleep(0.02)
child_code = os.waitstatus_to_exitcode(status)
parent_ok = listing(client) == expected
print("RESULT", child_code, parent_ok, len(emu.requests), flush=True)
# Skip interpreter finalization: exiting right after async listings can crash there, a
# separate bug pinned by test_interpreter_exit_after_async_listings_does_not_crash
# (test_interrupts.py).
os._exit(0)
"""

# multiprocessing: a Pool(2) maps a listing over four items. "fork": the workers use the global
# client the parent created and used before the pool existed. "spawn": each worker builds its
# own client from the base URL. Prints "RESULT <all correct> <listings>".
POOL_SCRIPT = r"""
import multiprocessing, sys
from fabric_jobs import JobsClient
from fabric_jobs.testing import FabricEmulator

CLIENT = None


def list_ids(args):
    base_url, ws, item = args
    client = CLIENT if CLIENT is not None else JobsClient(token="pool-token", base_url=base_url)
    return [job.id for job in client.list_item_job_instances(ws, item)]


if __name__ == "__main__":
    method = sys.argv[1]
    emu = FabricEmulator(page_size=7)
    pairs = emu.seed(workspaces=2, items_per_workspace=2, jobs_per_item=20)
    for n, (ws, item) in enumerate(pairs):
        emu.generate_job_instances(ws, item, n * 3)  # different lengths per item
    expected = [[j["id"] for j in emu.job_instances(ws, item)] for ws, item in pairs]
    if method == "fork":
        CLIENT = JobsClient(token="pool-token", base_url=emu.base_url, max_retries=0, timeout=10)
        assert list_ids((emu.base_url, *pairs[0])) == expected[0]  # the parent used it
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(2) as pool:
        try:
            got = pool.map_async(list_ids, [(emu.base_url, ws, item) for ws, item in pairs]).get(
                timeout=20
            )
        except multiprocessing.TimeoutError:
            pool.terminate()
            print("RESULT hung", flush=True)
            sys.exit(4)
    print("RESULT", got == expected, len(got), flush=True)
"""


def run_python(args: list[str]) -> list[str]:
    """Runs ``sys.executable *args`` with a hard timeout; the words of its RESULT line."""
    try:
        done = subprocess.run(
            [sys.executable, *args],
            capture_output=True,
            text=True,
            timeout=SUBPROCESS_TIMEOUT,
        )
    except subprocess.TimeoutExpired as hung:
        pytest.fail(f"the scenario hung for {SUBPROCESS_TIMEOUT} s; stderr:\n{hung.stderr}")
    results = [line.split()[1:] for line in done.stdout.splitlines() if line.startswith("RESULT")]
    assert results, f"no result (exit {done.returncode}); stderr:\n{done.stderr}"
    assert done.returncode == 0, f"{results[-1]}; stderr:\n{done.stderr}"
    return results[-1]


# --- os.fork() ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_listing_in_a_forked_child_with_the_parents_client_and_a_new_one(mode):
    child_code, parent_ok, requests = run_python(["-c", FORK_SCRIPT, mode])

    assert child_code == "0", "the forked child failed (see its stderr above)"
    assert parent_ok == "True", "the parent's client broke after the fork"
    # 3 pages per listing: parent before (1 or 2 listings), child (2), parent after (1); the
    # child's listings reached the parent's emulator.
    listings_before = 2 if mode == "async" else 1
    assert int(requests) == 3 * (listings_before + 2 + 1)


# --- multiprocessing ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_multiprocessing_pool_lists_correctly(method, tmp_path):
    # A file, not -c: spawn workers re-import the main module to find list_ids.
    script = tmp_path / "pool_scenario.py"
    script.write_text(POOL_SCRIPT, encoding="utf-8")

    all_correct, listings = run_python([str(script), method])

    assert (all_correct, listings) == ("True", "4")


# --- threads --------------------------------------------------------------------------------------


def test_one_client_shared_by_eight_threads(emulator, make_item):
    emulator.set_page_size(5)
    emulator.set_latency(0.005)
    items = [make_item(n % 13 + 1, seed=n) for n in range(32)]
    client = JobsClient(token=TOKEN, base_url=emulator.base_url, max_retries=0, timeout=20)
    emulator.clear_requests()

    def ids_for(index):
        item = items[index]
        return ids_of(list(client.list_item_job_instances(item.workspace_id, item.item_id)))

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(ids_for, range(32), timeout=30))

    assert results == [item.ids for item in items]
    assert len(emulator.requests) == sum(-(-len(item.ids) // 5) for item in items)


def test_the_gil_is_released_while_waiting_for_a_response(emulator, make_item):
    item = make_item(10)
    emulator.set_latency(0.5)
    client = JobsClient(token=TOKEN, base_url=emulator.base_url, max_retries=0, timeout=20)
    counter = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            counter[0] += 1

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    try:
        start_count, started = counter[0], time.monotonic()
        jobs = list(client.list_item_job_instances(item.workspace_id, item.item_id))
        during_listing, listing_took = counter[0] - start_count, time.monotonic() - started

        start_count = counter[0]
        time.sleep(listing_took)
        during_sleep = counter[0] - start_count
    finally:
        stop.set()
        spinner.join(timeout=5)

    assert ids_of(jobs) == item.ids
    assert listing_took >= 0.45  # one page, held by the latency
    print(f"\nspinner: {during_listing} during the listing, {during_sleep} during a sleep")
    assert during_listing > 10_000, "the background thread starved: the GIL was held"
    assert during_listing >= 0.1 * during_sleep
