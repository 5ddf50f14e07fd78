"""The floor of scenario a: bytes-only http.client loop vs the core's Rust paging loop with no
items parsed and no Python (benches/raw_loop), alternating, against one emulator process.

    cargo build --release --manifest-path benches/raw_loop/Cargo.toml
    .venv-bench/bin/python benches/raw_floor.py [rounds]
"""

from __future__ import annotations

import http.client
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import EmulatorProcess, download_pages

RAW_LOOP = Path(__file__).resolve().parent / "raw_loop" / "target" / "release" / "raw-loop"


def bytes_only(emu: EmulatorProcess, first_url: str) -> float:
    conn = http.client.HTTPConnection(emu.host, emu.port)
    started = time.perf_counter()
    download_pages(emu, conn, first_url, max_pages=10_000)
    seconds = time.perf_counter() - started
    conn.close()
    return seconds


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    python_times: list[float] = []
    rust_times: list[float] = []
    with EmulatorProcess(page_size=100, items=1, jobs=100_000) as emu:
        workspace, item = emu.targets[0]
        for _ in range(rounds):
            python_times.append(bytes_only(emu, emu.list_url(workspace, item)))
            out = subprocess.run(
                [str(RAW_LOOP), emu.base_url, workspace, item, "1"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            match = re.search(r"in ([0-9.]+) s", out)
            assert match, out
            rust_times.append(float(match.group(1)))
    print(f"1,000 pages x 100 instances, {rounds} rounds, medians:")
    print(f"  http.client, bytes only:             {statistics.median(python_times):.3f} s")
    print(f"  Rust core Pager, no items, no Python: {statistics.median(rust_times):.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
