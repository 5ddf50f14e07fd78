"""fabric-jobs benchmark suite (not part of CI). Run it through `bash benches/run.sh`.

    python benches/bench.py [--repeat 5] [--quick] [--only a,b,c,d] [--budget 600]

The emulator runs in a separate process (benches/emulator_server.py); this process is the
client only, so the server's CPU is not counted here and every contender talks to the same
server over loopback. Every contender is measured in the same run, repetitions interleaved
(the order rotates each round), and the tables report medians over the repetitions.

Scenarios:
  a. one item with 1,000 pages of 100 instances: fabric-jobs (objects, dicts, async),
     requests + json, httpx + orjson, a bytes-only http.client loop, microsoft-fabric-api
  b. fan-out over 500 one-page items with 30 ms server latency, concurrency 1 and 32
  c. an emulator quota of Q calls per W seconds with 3*Q items: client-side limit vs 429s
  d. cold start of whole processes (imports, and import + first page)
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import faulthandler
import gc
import http.client
import importlib.metadata
import json
import logging
import math
import os
import platform
import queue
import statistics
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TOKEN = "bench-token"
HTTP_TIMEOUT = 30.0

# ---------------------------------------------------------------- settings


@dataclass
class Settings:
    repeat: int
    quick: bool
    # a
    pages: int = 1000
    page_size: int = 100
    # b
    fan_items: int = 500
    fan_jobs: int = 20
    fan_latency: float = 0.030
    fan_concurrency: tuple[int, ...] = (1, 32)
    # c
    quota_calls: int = 50
    quota_period: float = 2.0
    quota_items: int = 150
    quota_concurrency: int = 8
    # d
    cold_runs: int = 15

    @classmethod
    def make(cls, args: argparse.Namespace) -> Settings:
        if args.quick:
            return cls(
                repeat=args.repeat or 2,
                quick=True,
                pages=100,
                fan_items=100,
                quota_calls=20,
                quota_period=1.0,
                quota_items=60,
                cold_runs=5,
            )
        return cls(repeat=args.repeat or 5, quick=False)


# ---------------------------------------------------------------- time budget


class Budget:
    """The whole run's time limit, shared out between scenarios."""

    def __init__(self, seconds: float) -> None:
        self.start = time.monotonic()
        self.seconds = seconds

    def left(self) -> float:
        return self.seconds - (time.monotonic() - self.start)

    def deadline_for(self, share: float, remaining_shares: float) -> float:
        """A monotonic deadline: this scenario's share of what is left."""
        return time.monotonic() + max(self.left(), 0.0) * share / remaining_shares


# ---------------------------------------------------------------- emulator process


class EmulatorProcess:
    """benches/emulator_server.py in a subprocess; a context manager."""

    def __init__(self, **config: Any) -> None:
        self.config = config
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "emulator_server.py"), json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        hello = self._read(timeout=120.0)
        self.base_url: str = hello["base_url"]
        self.targets: list[tuple[str, str]] = [tuple(t) for t in hello["targets"]]
        split = urllib.parse.urlsplit(self.base_url)
        self.host = split.hostname or "127.0.0.1"
        self.port = split.port or 80
        self.root = f"{split.scheme}://{split.netloc}/"

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _read(self, timeout: float) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"emulator process did not answer within {timeout:.0f} s") from None
        if line is None:
            raise RuntimeError(f"emulator process exited (code {self.proc.poll()})")
        return json.loads(line)

    def command(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._read(timeout=30.0)

    def list_url(self, workspace: str, item: str) -> str:
        return f"{self.base_url}/workspaces/{workspace}/items/{item}/jobs/instances"

    def close(self) -> None:
        try:
            if self.proc.poll() is None and self.proc.stdin is not None:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(timeout=10)

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


# ---------------------------------------------------------------- measuring


@dataclass
class Run:
    seconds: float
    cpu: float
    count: int
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Contender:
    name: str
    run: Callable[[], Run] | None
    unavailable: str | None = None
    runs: list[Run] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.run is not None and self.error is None and bool(self.runs)

    def median(self, key: str = "seconds") -> float:
        if key in ("seconds", "cpu", "count"):
            return statistics.median(getattr(r, key) for r in self.runs)
        return statistics.median(r.extra[key] for r in self.runs)

    def counts(self) -> set[int]:
        return {r.count for r in self.runs}

    def status(self) -> str:
        if self.unavailable:
            return f"unavailable: {self.unavailable}"
        if self.error:
            return f"failed: {self.error}"
        return "not run (time budget)"


def timed(body: Callable[[], tuple[int, dict[str, Any]]]) -> Run:
    """Runs `body` once; wall time and this process's CPU time (all threads)."""
    gc.collect()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    count, extra = body()
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    return Run(seconds, cpu, count, extra)


def measure(
    title: str,
    contenders: list[Contender],
    repeat: int,
    deadline: float,
    before_each: Callable[[], None] | None = None,
) -> int:
    """Runs every available contender `repeat` times, rotating the order each round.

    Stops early (after at least one round) when the next round would pass `deadline`.
    Returns the number of rounds done.
    """
    active = [c for c in contenders if c.run is not None and not c.unavailable]
    rounds = 0
    slowest_round = 0.0
    for index in range(repeat):
        now = time.monotonic()
        if index and now + slowest_round > deadline:
            print(f"  [{title}] time budget: stopping after {index} of {repeat} rounds", flush=True)
            break
        shift = index % max(len(active), 1)
        order = active[shift:] + active[:shift]
        for contender in order:
            if contender.error:
                continue
            try:
                if before_each is not None:
                    before_each()
                assert contender.run is not None
                result = contender.run()
            except Exception as error:  # a contender's failure is a result, not a crash
                contender.error = f"{type(error).__name__}: {error}"[:300]
                print(f"  [{title}] {contender.name} FAILED: {contender.error}", flush=True)
                traceback.print_exc(limit=3)
                continue
            contender.runs.append(result)
            print(
                f"  [{title}] round {index + 1}/{repeat} {contender.name}: "
                f"{result.seconds:.3f} s, {result.count} items",
                flush=True,
            )
        rounds = index + 1
        slowest_round = max(slowest_round, time.monotonic() - now)
    return rounds


def ratio(x: float) -> str:
    return f"{x:.2f}x"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------- scenario a: one long listing


def following(first_url: str, get_json: Callable[[str], dict[str, Any]], max_pages: int) -> list:
    """The usual hand-written loop: follow continuationUri, collect every `value`."""
    rows: list[Any] = []
    url: str | None = first_url
    pages = 0
    while url:
        pages += 1
        if pages > max_pages:
            raise RuntimeError(f"more than {max_pages} pages: not stopping by itself")
        body = get_json(url)
        rows.extend(body.get("value") or ())
        url = body.get("continuationUri")
    return rows


def download_pages(
    emu: EmulatorProcess, conn: http.client.HTTPConnection, first_url: str, max_pages: int
) -> list[bytes]:
    """The bytes-only loop: GET every page over `conn`, finding the next page's path with a byte
    search for `continuationUri` (no JSON parsing). Returns the bodies."""
    marker = b'"continuationUri":"'
    origin_len = len(emu.root) - 1  # "http://127.0.0.1:PORT"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    bodies: list[bytes] = []
    path: str | None = urllib.parse.urlsplit(first_url).path
    while path:
        if len(bodies) >= max_pages:
            raise RuntimeError(f"more than {max_pages} pages")
        conn.request("GET", path, headers=auth)
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}")
        bodies.append(data)
        at = data.rfind(marker)
        if at < 0:
            path = None
        else:
            start = at + len(marker)
            path = data[start + origin_len : data.index(b'"', start)].decode()
    return bodies


def listing_contenders(emu: EmulatorProcess, settings: Settings) -> list[Contender]:
    import fabric_jobs

    workspace, item = emu.targets[0]
    first_url = emu.list_url(workspace, item)
    max_pages = settings.pages * 2 + 10
    auth = {"Authorization": f"Bearer {TOKEN}"}

    def client() -> Any:
        return fabric_jobs.JobsClient(
            token=TOKEN, base_url=emu.base_url, rate_limit=None, deadline=600.0
        )

    def fj(as_dict: bool) -> Callable[[], Run]:
        def run() -> Run:
            c = client()

            def body() -> tuple[int, dict[str, Any]]:
                rows = list(c.list_item_job_instances(workspace, item, as_dict=as_dict))
                return len(rows), {}

            return timed(body)

        return run

    def fj_async() -> Run:
        c = client()

        async def collect() -> list[Any]:
            return [job async for job in c.list_item_job_instances(workspace, item)]

        def body() -> tuple[int, dict[str, Any]]:
            return len(asyncio.run(collect())), {}

        return timed(body)

    def fj_attributes() -> Run:
        c = client()

        def body() -> tuple[int, dict[str, Any]]:
            rows = [
                (
                    j.id,
                    j.item_id,
                    j.job_type,
                    j.invoke_type,
                    j.status,
                    j.root_activity_id,
                    j.start_time_utc,
                    j.end_time_utc,
                    j.failure_reason,
                )
                for j in c.list_item_job_instances(workspace, item)
            ]
            return len(rows), {}

        return timed(body)

    contenders = [
        Contender("fabric-jobs objects (sync)", fj(False)),
        Contender("fabric-jobs dicts (sync)", fj(True)),
        Contender("fabric-jobs objects (async for)", fj_async),
        Contender("fabric-jobs objects + read all 9 attributes", fj_attributes),
    ]

    try:
        import requests

        def requests_json() -> Run:
            with requests.Session() as session:
                session.headers.update(auth)

                def get(url: str) -> dict[str, Any]:
                    response = session.get(url, timeout=HTTP_TIMEOUT)
                    response.raise_for_status()
                    return response.json()

                return timed(lambda: (len(following(first_url, get, max_pages)), {}))

        contenders.append(Contender("requests + json", requests_json))
    except ImportError as error:
        contenders.append(Contender("requests + json", None, unavailable=str(error)))

    try:
        import httpx
        import orjson

        def httpx_orjson() -> Run:
            with httpx.Client(headers=auth, timeout=HTTP_TIMEOUT) as session:

                def get(url: str) -> dict[str, Any]:
                    response = session.get(url)
                    response.raise_for_status()
                    return orjson.loads(response.content)

                return timed(lambda: (len(following(first_url, get, max_pages)), {}))

        contenders.append(Contender("httpx + orjson", httpx_orjson))
    except ImportError as error:
        contenders.append(Contender("httpx + orjson", None, unavailable=str(error)))

    def bytes_loop() -> Run:
        conn = http.client.HTTPConnection(emu.host, emu.port, timeout=HTTP_TIMEOUT)
        bodies: list[bytes] = []

        def body() -> tuple[int, dict[str, Any]]:
            bodies.extend(download_pages(emu, conn, first_url, max_pages))
            return 0, {}

        try:
            result = timed(body)
        finally:
            conn.close()
        # Counted after the clock stopped: the loop itself only downloads.
        result.count = sum(b.count(b'"id":') for b in bodies)
        return result

    contenders.append(Contender("http.client, bytes only (no JSON)", bytes_loop))

    ms_name = "microsoft-fabric-api"
    reason = os.environ.get("BENCH_MSFABRIC_UNAVAILABLE")
    if reason:
        contenders.append(Contender(ms_name, None, unavailable=reason))
    else:
        try:
            from azure.core.credentials import AccessToken
            from microsoft_fabric_api import FabricClient

            class StaticCredential:
                def get_token(self, *_scopes: str, **_kwargs: Any) -> Any:
                    return AccessToken(TOKEN, int(time.time()) + 3600)

            def microsoft() -> Run:
                # base_url must end with "/": the SDK appends "v1/".
                fabric = FabricClient(StaticCredential(), base_url=emu.root)

                def body() -> tuple[int, dict[str, Any]]:
                    pager = fabric.core.job_scheduler.list_item_job_instances(
                        workspace, item, enforce_https=False
                    )
                    rows = []
                    for job in pager:
                        rows.append(job)
                        if len(rows) > max_pages * settings.page_size:
                            raise RuntimeError("more items than were seeded")
                    return len(rows), {}

                return timed(body)

            contenders.append(Contender(ms_name, microsoft))
        except Exception as error:
            contenders.append(
                Contender(
                    ms_name, None, unavailable=f"import failed: {type(error).__name__}: {error}"
                )
            )
    return contenders


def scenario_a(settings: Settings, deadline: float) -> tuple[str, list[tuple[str, bool]]]:
    expected = settings.pages * settings.page_size
    config = {"page_size": settings.page_size, "items": 1, "jobs": expected}
    with EmulatorProcess(**config) as emu:
        contenders = listing_contenders(emu, settings)
        rounds = measure("a", contenders, settings.repeat, deadline)
    by_name = {c.name: c for c in contenders}
    base_req = by_name["requests + json"]
    base_bytes = by_name["http.client, bytes only (no JSON)"]
    rows = []
    checks = []
    for c in contenders:
        if not c.ok:
            rows.append([c.name, c.status(), "", "", "", "", "", "", ""])
            continue
        t = c.median()
        counts = c.counts()
        good = counts == {expected}
        checks.append(f"  check a: {c.name}: {sorted(counts)} items -> {'OK' if good else 'WRONG'}")
        times = [r.seconds for r in c.runs]
        rows.append(
            [
                c.name,
                f"{t:.3f}",
                f"{min(times):.3f}-{max(times):.3f}",
                f"{expected / t:,.0f}",
                f"{c.median('cpu'):.2f}",
                ratio(base_req.median() / t) if base_req.ok else "n/a",
                ratio(base_bytes.median() / t) if base_bytes.ok else "n/a",
                f"{c.median('count'):,.0f} {'✓' if good else '✗'}",
                f"{len(c.runs)}",
            ]
        )
    text = [
        f"### a. Single listing: 1 item, {settings.pages:,} pages x {settings.page_size} "
        f"= {expected:,} instances (rate_limit=None, {rounds} rounds)",
        "",
        table(
            [
                "contender",
                "median s",
                "min-max s",
                "items/s",
                "client CPU s",
                "speed vs requests+json",
                "speed vs http.client bytes",
                "items",
                "runs",
            ],
            rows,
        ),
        "",
        "Speed ratios are (other's median time / this median time): above 1x is faster. "
        "Client CPU is this process's CPU time (all threads) during the listing; the server "
        "runs in another process. Object mode builds `JobInstance` objects whose attributes are "
        "converted on access; the row reading all 9 attributes shows that cost.",
    ]
    print("\n".join(checks))
    obj = by_name["fabric-jobs objects (sync)"]
    targets = []
    if obj.ok and base_bytes.ok:
        targets.append(
            (
                f"a. object mode faster than the bytes-only http.client loop "
                f"({obj.median():.3f} s vs {base_bytes.median():.3f} s)",
                obj.median() < base_bytes.median(),
            )
        )
    if obj.ok and base_req.ok:
        speed = base_req.median() / obj.median()
        targets.append(
            (f"a. object mode >= 4x faster than requests+json ({speed:.2f}x)", speed >= 4)
        )
    all_correct = all(c.counts() == {expected} for c in contenders if c.ok)
    targets.append((f"a. every contender that ran got exactly {expected:,} items", all_correct))
    return "\n".join(text), targets


# ---------------------------------------------------------------- scenario b: fan-out


def scenario_b(settings: Settings, deadline: float) -> tuple[str, list[tuple[str, bool]]]:
    import fabric_jobs

    n, jobs, latency = settings.fan_items, settings.fan_jobs, settings.fan_latency
    expected = n * jobs
    config = {"page_size": 100, "items": n, "jobs": jobs, "latency": latency}
    with EmulatorProcess(**config) as emu:
        targets = emu.targets
        auth = {"Authorization": f"Bearer {TOKEN}"}

        def fj_many(concurrency: int, use_async: bool = False) -> Callable[[], Run]:
            def run() -> Run:
                client = fabric_jobs.JobsClient(
                    token=TOKEN, base_url=emu.base_url, rate_limit=None, deadline=600.0
                )

                def body() -> tuple[int, dict[str, Any]]:
                    fan = client.list_job_instances_many(targets, concurrency=concurrency)
                    if use_async:

                        async def collect() -> list[Any]:
                            return [r async for r in fan]

                        results = asyncio.run(collect())
                    else:
                        results = list(fan)
                    failed = sum(not r.ok for r in results)
                    return sum(len(r) for r in results), {"failed": failed, "items": len(results)}

                return timed(body)

            return run

        def httpx_async(concurrency: int) -> Callable[[], Run]:
            import httpx
            import orjson

            async def collect() -> list[list[Any]]:
                limits = httpx.Limits(
                    max_connections=concurrency, max_keepalive_connections=concurrency
                )
                async with httpx.AsyncClient(
                    headers=auth, timeout=HTTP_TIMEOUT, limits=limits
                ) as session:
                    gate = asyncio.Semaphore(concurrency)

                    async def one(workspace: str, item: str) -> list[Any]:
                        async with gate:
                            rows: list[Any] = []
                            url: str | None = emu.list_url(workspace, item)
                            for _ in range(100):
                                if not url:
                                    break
                                response = await session.get(url)
                                response.raise_for_status()
                                body = orjson.loads(response.content)
                                rows.extend(body.get("value") or ())
                                url = body.get("continuationUri")
                            return rows

                    return await asyncio.gather(*(one(w, i) for w, i in targets))

            def run() -> Run:
                def body() -> tuple[int, dict[str, Any]]:
                    results = asyncio.run(collect())
                    return sum(map(len, results)), {"failed": 0, "items": len(results)}

                return timed(body)

            return run

        contenders: list[tuple[Contender, int]] = []
        for concurrency in settings.fan_concurrency:
            contenders.append(
                (
                    Contender(
                        f"fabric-jobs list_job_instances_many c={concurrency}", fj_many(concurrency)
                    ),
                    concurrency,
                )
            )
        top = max(settings.fan_concurrency)
        contenders.append(
            (
                Contender(
                    f"fabric-jobs list_job_instances_many c={top}, async for", fj_many(top, True)
                ),
                top,
            )
        )
        try:
            contenders.append(
                (Contender(f"httpx.AsyncClient + orjson, semaphore {top}", httpx_async(top)), top)
            )
        except ImportError as error:
            contenders.append(
                (
                    Contender(
                        f"httpx.AsyncClient + orjson, semaphore {top}", None, unavailable=str(error)
                    ),
                    top,
                )
            )
        rounds = measure("b", [c for c, _ in contenders], settings.repeat, deadline)

    rows = []
    targets_out = []
    for c, concurrency in contenders:
        ideal = n * latency / concurrency
        floor = math.ceil(n / concurrency) * latency
        if not c.ok:
            rows.append(
                [
                    c.name,
                    str(concurrency),
                    c.status(),
                    f"{ideal:.3f}",
                    "",
                    f"{floor:.3f}",
                    "",
                    "",
                    "",
                ]
            )
            continue
        t = c.median()
        good = c.counts() == {expected} and all(r.extra["failed"] == 0 for r in c.runs)
        print(f"  check b: {c.name}: {sorted(c.counts())} items -> {'OK' if good else 'WRONG'}")
        rows.append(
            [
                c.name,
                str(concurrency),
                f"{t:.3f}",
                f"{ideal:.3f}",
                ratio(t / ideal),
                f"{floor:.3f}",
                f"{c.median('cpu'):.2f}",
                f"{c.median('count'):,.0f} {'✓' if good else '✗'}",
                str(len(c.runs)),
            ]
        )
        if c.name.startswith("fabric-jobs") and "async" not in c.name:
            targets_out.append(
                (
                    f"b. fan-out c={concurrency} within 1.2x of items x latency / concurrency "
                    f"({t:.3f} s vs {ideal:.3f} s = {t / ideal:.2f}x)",
                    t <= 1.2 * ideal and good,
                )
            )
    text = [
        f"### b. Fan-out: {n} items x 1 page of {jobs} instances, {latency * 1000:.0f} ms server "
        f"latency (rate_limit=None, {rounds} rounds)",
        "",
        table(
            [
                "contender",
                "concurrency",
                "median s",
                "ideal s",
                "ratio to ideal",
                "floor s (whole rounds)",
                "client CPU s",
                "items",
                "runs",
            ],
            rows,
        ),
        "",
        "Ideal = items x latency / concurrency (the target's yardstick); floor = "
        "ceil(items / concurrency) x latency, what whole rounds of requests cannot beat.",
    ]
    return "\n".join(text), targets_out


# ---------------------------------------------------------------- scenario c: quota


def scenario_c(settings: Settings, deadline: float) -> tuple[str, list[tuple[str, bool]]]:
    import fabric_jobs

    q, w, n = settings.quota_calls, settings.quota_period, settings.quota_items
    jobs = 20
    config = {"page_size": 100, "items": n, "jobs": jobs, "quota": [q, w]}
    with EmulatorProcess(**config) as emu:
        targets = emu.targets

        def contender(rate_limit: int | None) -> Callable[[], Run]:
            def run() -> Run:
                # A token of its own: the emulator's quota windows are per token.
                client = fabric_jobs.JobsClient(
                    token=f"bench-{uuid.uuid4()}",
                    base_url=emu.base_url,
                    rate_limit=rate_limit,
                    rate_limit_period=w,
                    deadline=300.0,
                )
                emu.command("clear")

                def body() -> tuple[int, dict[str, Any]]:
                    results = list(
                        client.list_job_instances_many(
                            targets, concurrency=settings.quota_concurrency
                        )
                    )
                    failed = [r for r in results if not r.ok]
                    return sum(len(r) for r in results), {
                        "failed": len(failed),
                        "first_error": repr(failed[0].error)[:200] if failed else None,
                    }

                result = timed(body)
                stats = emu.command("stats")
                result.extra["429"] = stats["by_status"].get("429", 0)
                result.extra["requests"] = stats["requests"]
                return result

            return run

        contenders = [
            Contender(f"fabric-jobs rate_limit={q}, rate_limit_period={w:g}", contender(q)),
            Contender("fabric-jobs rate_limit=None (429 + Retry-After)", contender(None)),
        ]
        rounds = measure("c", contenders, settings.repeat, deadline)

    ideal = n / (q / w)
    floor = (-(-n // q) - 1) * w
    rows = []
    targets_out = []
    for c in contenders:
        if not c.ok:
            rows.append([c.name, c.status()] + [""] * 7)
            continue
        t = c.median()
        good = c.counts() == {n * jobs} and all(r.extra["failed"] == 0 for r in c.runs)
        print(f"  check c: {c.name}: {sorted(c.counts())} items -> {'OK' if good else 'WRONG'}")
        for r in c.runs:
            if r.extra.get("first_error"):
                print(f"    first failed item: {r.extra['first_error']}")
        n429 = [r.extra["429"] for r in c.runs]
        rows.append(
            [
                c.name,
                f"{t:.3f}",
                f"{ideal:.3f}",
                ratio(t / ideal),
                f"{floor:.3f}",
                f"{statistics.median(n429):g} ({min(n429)}-{max(n429)})",
                f"{c.median('requests'):g}",
                f"{c.median('failed'):g}",
                f"{c.median('count'):,.0f} {'✓' if good else '✗'}",
            ]
        )
    limited = contenders[0]
    if limited.ok:
        targets_out.append(
            (
                f"c. (informative) rate_limit={q}/{w:g}s gets no 429 and every item "
                f"(429s: {[r.extra['429'] for r in limited.runs]})",
                all(r.extra["429"] == 0 and r.extra["failed"] == 0 for r in limited.runs),
            )
        )
    text = [
        f"### c. Quota: emulator allows {q} calls per {w:g} s per token (fixed window); "
        f"{n} one-page items, concurrency {settings.quota_concurrency} ({rounds} rounds)",
        "",
        table(
            [
                "contender",
                "median s",
                "ideal s (calls / quota)",
                "ratio to ideal",
                "fixed-window floor s",
                "429s logged, median (min-max)",
                "requests logged",
                "failed items",
                "items",
            ],
            rows,
        ),
        "",
        f"Ideal = {n} calls / ({q} calls per {w:g} s). With a fixed window starting at the first "
        f"call, {n} calls can finish after (ceil({n}/{q}) - 1) x {w:g} s = {floor:g} s at the "
        "earliest (the floor), so a ratio below 1x is possible. 429s come from the emulator's "
        "request log.",
    ]
    return "\n".join(text), targets_out


# ---------------------------------------------------------------- scenario d: cold start


def scenario_d(settings: Settings, deadline: float) -> tuple[str, list[tuple[str, bool]]]:
    py = sys.executable
    first_page = (
        "import sys, fabric_jobs\n"
        "c = fabric_jobs.JobsClient(token='bench', base_url=sys.argv[1], rate_limit=None)\n"
        "page = next(iter(c.list_item_job_instances(sys.argv[2], sys.argv[3]).by_page()))\n"
        "assert len(page) == 100, len(page)\n"
    )
    requests_page = (
        "import sys, requests\n"
        "url = f'{sys.argv[1]}/workspaces/{sys.argv[2]}/items/{sys.argv[3]}/jobs/instances'\n"
        "body = requests.get(url, headers={'Authorization': 'Bearer x'}, timeout=30).json()\n"
        "assert len(body['value']) == 100\n"
    )
    with EmulatorProcess(page_size=100, items=1, jobs=500) as emu:
        workspace, item = emu.targets[0]
        extra = [emu.base_url, workspace, item]
        commands: list[tuple[str, list[str]]] = [
            ("python -c pass", [py, "-c", "pass"]),
            ("import fabric_jobs", [py, "-c", "import fabric_jobs"]),
            ("import requests", [py, "-c", "import requests"]),
            ("import httpx", [py, "-c", "import httpx"]),
            ("import microsoft_fabric_api", [py, "-c", "import microsoft_fabric_api"]),
            ("import fabric_jobs + first page (100 items)", [py, "-c", first_page, *extra]),
            ("import requests + first page (100 items, json)", [py, "-c", requests_page, *extra]),
        ]
        ms_reason = os.environ.get("BENCH_MSFABRIC_UNAVAILABLE")
        results: dict[str, list[float]] = {name: [] for name, _ in commands}
        errors: dict[str, str] = {}
        if ms_reason:
            errors["import microsoft_fabric_api"] = f"unavailable: {ms_reason}"

        def once(name: str, argv: list[str]) -> float | None:
            t0 = time.perf_counter()
            done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
            elapsed = time.perf_counter() - t0
            if done.returncode != 0:
                errors[name] = f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}"
                return None
            return elapsed

        for name, argv in commands:  # warm-up (bytecode caches, page cache), not counted
            if name not in errors:
                once(name, argv)
        rounds = 0
        slowest = 0.0
        for index in range(settings.cold_runs):
            started = time.monotonic()
            if index and started + slowest > deadline:
                print(f"  [d] time budget: stopping after {index} of {settings.cold_runs} runs")
                break
            shift = index % len(commands)
            for name, argv in commands[shift:] + commands[:shift]:
                if name in errors:
                    continue
                elapsed = once(name, argv)
                if elapsed is not None:
                    results[name].append(elapsed)
            rounds = index + 1
            slowest = max(slowest, time.monotonic() - started)
    bare = statistics.median(results["python -c pass"]) * 1000
    rows = []
    medians: dict[str, float] = {}
    for name, _ in commands:
        if name in errors or not results[name]:
            rows.append([name, errors.get(name, "not run"), "", "", ""])
            continue
        ms = [x * 1000 for x in results[name]]
        medians[name] = statistics.median(ms)
        rows.append(
            [
                name,
                f"{medians[name]:.1f}",
                f"{min(ms):.1f}-{max(ms):.1f}",
                f"{medians[name] - bare:+.1f}",
                str(len(ms)),
            ]
        )
    text = [
        f"### d. Cold start, whole process (median of {rounds} runs each, after one warm-up run)",
        "",
        table(["command", "median ms", "min-max ms", "vs bare interpreter ms", "runs"], rows),
        "",
        f"Interpreter: `{py}`. 'first page' runs against an emulator in another process.",
    ]
    targets_out = []
    if "import fabric_jobs" in medians:
        delta = medians["import fabric_jobs"] - bare
        targets_out.append(
            (
                f"d. import fabric_jobs within 50 ms of a bare interpreter start ({delta:+.1f} ms)",
                delta <= 50,
            )
        )
    return "\n".join(text), targets_out


# ---------------------------------------------------------------- report


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def git_head() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "log", "-1", "--format=%h %s"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def header(settings: Settings, argv: list[str]) -> str:
    import fabric_jobs

    launcher = os.environ.get("BENCH_COMMAND", "python benches/bench.py")
    command = launcher + ("" if not argv else " " + " ".join(argv))
    so = next(Path(fabric_jobs.__file__).parent.glob("_core*.so"), None)
    affinity = getattr(os, "sched_getaffinity", None)
    nproc = len(affinity(0)) if affinity else "?"
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    python = f"{platform.python_implementation()} {platform.python_version()}"
    quick = ", --quick" if settings.quick else ""
    build = os.environ.get("BENCH_BUILD", "build profile unknown: use run.sh for a release build")
    return "\n".join(
        [
            "# fabric-jobs benchmarks",
            "",
            f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
            f"- machine: {os.cpu_count()} CPUs (nproc {nproc}), "
            f"{cpu_model()}, {platform.system()} {platform.release()}",
            f"- load average (1/5/15 min) at the end: {load}",
            f"- python: {python} (`{sys.executable}`)",
            f"- command: `{command}` (repetitions: {settings.repeat}{quick})",
            f"- fabric-jobs {fabric_jobs.__version__} at `{git_head()}`, "
            f"extension `{so}` ({build})",
            "- others: "
            + ", ".join(
                f"{d} {version(d)}"
                for d in ["requests", "httpx", "orjson", "microsoft-fabric-api", "azure-core"]
            ),
            "- the emulator (fabric_jobs.testing.FabricEmulator) runs in a separate process; "
            "all clients use plain HTTP over loopback. Times are medians over repetitions.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--repeat", type=int, default=0, help="repetitions (default 5; 2 with --quick)"
    )
    parser.add_argument("--quick", action="store_true", help="a scaled-down smoke run")
    parser.add_argument("--only", default="a,b,c,d", help="scenarios to run, e.g. a,d")
    parser.add_argument(
        "--budget",
        type=float,
        default=600.0,
        help="seconds for the whole run; rounds are cut to fit (hard stop 60 s later)",
    )
    parser.add_argument(
        "--results",
        help="Markdown output (default benches/RESULTS.md; RESULTS.quick.md with --quick)",
    )
    args = parser.parse_args(argv)
    raw_argv = list(sys.argv[1:] if argv is None else argv)
    settings = Settings.make(args)
    # fabric-jobs logs each retry (scenario c) at WARNING; keep the records, drop the output.
    quiet = logging.getLogger("fabric_jobs")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    budget = Budget(args.budget)
    faulthandler.dump_traceback_later(args.budget + 60, exit=True)

    scenarios = {
        "a": (scenario_a, 0.30),
        "b": (scenario_b, 0.35),
        "c": (scenario_c, 0.20),
        "d": (scenario_d, 0.15),
    }
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in scenarios]
    if unknown:
        parser.error(f"unknown scenarios {unknown}")

    sections: list[str] = []
    targets: list[tuple[str, bool]] = []
    remaining_shares = sum(scenarios[s][1] for s in chosen)
    for name in chosen:
        run, share = scenarios[name]
        deadline = budget.deadline_for(share, remaining_shares)
        remaining_shares -= share
        print(f"== scenario {name} ({max(budget.left(), 0):.0f} s left in the budget)", flush=True)
        started = time.monotonic()
        try:
            text, found = run(settings, deadline)
        except Exception as error:
            traceback.print_exc()
            text, found = f"### {name}. failed: {type(error).__name__}: {error}", []
        print(f"== scenario {name} took {time.monotonic() - started:.1f} s\n", flush=True)
        print(text + "\n", flush=True)
        sections.append(text)
        targets.extend(found)

    target_lines = ["### Targets", ""] + [f"- **{verdict(ok)}** {what}" for what, ok in targets]
    report = (
        header(settings, raw_argv)
        + "\n"
        + "\n\n".join(sections)
        + "\n\n"
        + "\n".join(target_lines)
        + "\n"
    )
    report += f"\nTotal benchmark time: {time.monotonic() - budget.start:.0f} s.\n"
    out = (
        Path(args.results)
        if args.results
        else HERE / ("RESULTS.quick.md" if settings.quick else "RESULTS.md")
    )
    out.write_text(report, encoding="utf-8")
    print("\n".join(target_lines))
    print(f"\nwrote {out}")
    faulthandler.cancel_dump_traceback_later()
    return 0


if __name__ == "__main__":
    sys.exit(main())
