"""The benchmark's server: the bundled Fabric emulator in a process of its own.

    python benches/emulator_server.py '{"page_size": 100, "items": 1, "jobs": 100000}'

Optional config keys: ``latency`` (seconds per answer), ``quota`` ([calls, seconds]).
Prints one JSON line ``{"base_url": ..., "targets": [[workspace, item], ...]}`` once it is
seeded and listening, then answers one JSON line per command read from stdin:

    stats     -> {"requests": N, "by_status": {"200": n, "429": m, ...}}
    clear     -> {"ok": true}            (empties the request log)
    quit      -> exits (so does end of input: the benchmark dying takes this process with it)

Keeping the server out of the benchmark process means its CPU time is not the client's, and
every client talks to the same server over loopback.
"""

from __future__ import annotations

import collections
import json
import sys

from fabric_jobs.testing import FabricEmulator


def main() -> int:
    config = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    emulator = FabricEmulator(
        page_size=int(config.get("page_size", 100)),
        latency=float(config.get("latency", 0.0)),
    )
    try:
        targets = emulator.seed(
            items_per_workspace=int(config.get("items", 1)),
            jobs_per_item=int(config.get("jobs", 100)),
            seed=int(config.get("seed", 0)),
        )
        quota = config.get("quota")
        if quota:
            emulator.set_quota(int(quota[0]), float(quota[1]))
        emulator.clear_requests()
        print(json.dumps({"base_url": emulator.base_url, "targets": targets}), flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                log = emulator.requests
                by_status = collections.Counter(str(entry.get("status")) for entry in log)
                answer: dict[str, object] = {"requests": len(log), "by_status": dict(by_status)}
            elif command == "clear":
                emulator.clear_requests()
                answer = {"ok": True}
            elif command == "quit":
                break
            else:
                answer = {"error": f"unknown command {command!r}"}
            print(json.dumps(answer), flush=True)
    finally:
        emulator.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
