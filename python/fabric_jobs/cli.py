"""The ``fabric-jobs`` command line.

    fabric-jobs list WORKSPACE ITEM [--format table|json|csv] [--base-url URL]
    fabric-jobs list --demo            # or no FABRIC_TOKEN set: the bundled emulator
    fabric-jobs emulator               # serve the emulator until Ctrl-C
    fabric-jobs emulator --latency 0.2 --quota 200/60 --fail-first 3:503   # with knobs

The token comes from ``FABRIC_TOKEN``; the base URL from ``--base-url``, else
``FABRIC_BASE_URL``, else the public endpoint.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TextIO

from fabric_jobs import FabricError, JobsClient, __version__
from fabric_jobs.testing import FabricEmulator

DEFAULT_BASE_URL = "https://api.fabric.microsoft.com/v1"
TOKEN_ENV = "FABRIC_TOKEN"
BASE_URL_ENV = "FABRIC_BASE_URL"
DEMO_TOKEN = "demo-token"

CSV_COLUMNS = [
    "id",
    "itemId",
    "jobType",
    "invokeType",
    "status",
    "rootActivityId",
    "startTimeUtc",
    "endTimeUtc",
    "failureErrorCode",
    "failureMessage",
]


def _seconds_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def _count_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a count >= 0, got {text!r}")
    return value


def _status_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 100 <= value <= 599:
        raise argparse.ArgumentTypeError(f"expected an HTTP status (100-599), got {text!r}")
    return value


def _quota_arg(text: str) -> tuple[int, float]:
    calls, _, per = text.partition("/")
    try:
        parsed = int(calls), float(per)
    except ValueError:
        parsed = -1, 0.0
    if parsed[0] < 0 or not 0.0 < parsed[1] < float("inf"):
        raise argparse.ArgumentTypeError(f"expected CALLS/SECONDS like 200/60, got {text!r}")
    return parsed


def _fail_arg(text: str) -> tuple[int, int]:
    count, _, status = text.partition(":")
    return _count_arg(count), _status_arg(status)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fabric-jobs",
        description="List Microsoft Fabric job instances (Job Scheduler API).",
    )
    parser.add_argument("--version", action="version", version=f"fabric-jobs {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    listing = commands.add_parser(
        "list",
        help="list the job instances of an item",
        description=(
            f"List an item's job instances, newest first. Reads the token from {TOKEN_ENV}; "
            "without it (or with --demo) lists demo data from the bundled emulator."
        ),
    )
    listing.add_argument("workspace", nargs="?", help="workspace id (GUID)")
    listing.add_argument("item", nargs="?", help="item id (GUID)")
    listing.add_argument("--format", choices=["table", "json", "csv"], default="table")
    listing.add_argument(
        "--base-url",
        help=f"API base URL (default: ${BASE_URL_ENV} or {DEFAULT_BASE_URL})",
    )
    listing.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    listing.add_argument("--limit", type=int, default=None, help="stop after N instances")
    listing.add_argument(
        "--demo", action="store_true", help="list demo data from the bundled emulator"
    )

    emulator = commands.add_parser(
        "emulator",
        help="run the bundled Fabric emulator on 127.0.0.1 until Ctrl-C",
        description=(
            "Run the bundled Fabric emulator until Ctrl-C. The fault flags queue in this order: "
            "--fail-first, --drop-first, --truncate-first, --hang-first."
        ),
    )
    emulator.add_argument("--items", type=int, default=1, help="items to create")
    emulator.add_argument("--jobs", type=int, default=42, help="job instances per item")
    emulator.add_argument("--page-size", type=int, default=10)
    emulator.add_argument(
        "--continuation", choices=["both", "token", "uri", "repeat-token"], default="both"
    )
    emulator.add_argument(
        "--latency", type=_seconds_arg, default=0.0, metavar="SECONDS", help="delay every answer"
    )
    emulator.add_argument(
        "--quota",
        type=_quota_arg,
        metavar="CALLS/SECONDS",
        help="per-token fixed-window quota, e.g. 200/60 (Fabric's); then 429 RequestBlocked",
    )
    emulator.add_argument(
        "--no-retry-after", action="store_true", help="quota 429s carry no Retry-After header"
    )
    emulator.add_argument(
        "--fail-first",
        type=_fail_arg,
        metavar="K:STATUS",
        help="answer the first K requests with STATUS and a Fabric error, e.g. 3:503",
    )
    emulator.add_argument(
        "--drop-first",
        type=_count_arg,
        default=0,
        metavar="K",
        help="close the connection of K requests without an answer",
    )
    emulator.add_argument(
        "--truncate-first",
        type=_count_arg,
        default=0,
        metavar="K",
        help="cut the body of K responses to half of their Content-Length",
    )
    emulator.add_argument(
        "--hang-first", type=_count_arg, default=0, metavar="K", help="never answer K requests"
    )
    emulator.add_argument(
        "--trailing-token-quirk",
        type=_status_arg,
        metavar="STATUS",
        help="last job-instance pages carry a continuation token that then fails with STATUS",
    )
    return parser


# ---------------------------------------------------------------- output


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _failure(row: dict[str, Any]) -> tuple[str, str]:
    reason = row.get("failureReason")
    if isinstance(reason, dict):
        return _cell(reason.get("errorCode")), _cell(reason.get("message"))
    return "", ""


def _write_table(rows: Iterable[dict[str, Any]], out: TextIO) -> int:
    header = ["ID", "JOB TYPE", "INVOKE", "STATUS", "START (UTC)", "END (UTC)", "FAILURE"]
    table = []
    for row in rows:
        code, _ = _failure(row)
        table.append(
            [
                _cell(row.get("id")),
                _cell(row.get("jobType")),
                _cell(row.get("invokeType")),
                _cell(row.get("status")),
                _cell(row.get("startTimeUtc"))[:19].replace("T", " "),
                _cell(row.get("endTimeUtc"))[:19].replace("T", " "),
                code,
            ]
        )
    widths = [max([len(h)] + [len(r[i]) for r in table]) for i, h in enumerate(header)]
    for line in [header, *table]:
        out.write("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() + "\n")
    return len(table)


def _write_json(rows: Iterable[dict[str, Any]], out: TextIO) -> int:
    count = 0
    out.write("[")
    for row in rows:
        out.write(",\n  " if count else "\n  ")
        out.write(json.dumps(row, ensure_ascii=False))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def _write_csv(rows: Iterable[dict[str, Any]], out: TextIO) -> int:
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for row in rows:
        code, message = _failure(row)
        values = [_cell(row.get(c)) for c in CSV_COLUMNS[:8]]
        writer.writerow([*values, code, message])
        count += 1
    return count


WRITERS = {"table": _write_table, "json": _write_json, "csv": _write_csv}


def _limited(rows: Iterator[dict[str, Any]], limit: int | None) -> Iterator[dict[str, Any]]:
    for index, row in enumerate(rows):
        if limit is not None and index >= limit:
            return
        yield row


# ---------------------------------------------------------------- commands


@contextlib.contextmanager
def _demo_target() -> Iterator[tuple[str, str, str]]:
    """A running emulator seeded with one pipeline's history: (base_url, workspace, item)."""
    with FabricEmulator(page_size=10) as emulator:
        [(workspace, item)] = emulator.seed(jobs_per_item=42, item_type="DataPipeline")
        yield emulator.base_url, workspace, item


def _list(args: argparse.Namespace) -> int:
    token = os.environ.get(TOKEN_ENV)
    demo = args.demo or not token
    if not demo and not (args.workspace and args.item):
        print("error: list needs WORKSPACE and ITEM ids", file=sys.stderr)
        return 2
    with contextlib.ExitStack() as stack:
        if demo:
            if not args.demo:
                print(
                    f"{TOKEN_ENV} is not set: listing demo data from the bundled emulator. "
                    f"Set {TOKEN_ENV} (and pass WORKSPACE ITEM) to list from Fabric.",
                    file=sys.stderr,
                )
            base_url, workspace, item = stack.enter_context(_demo_target())
            token = DEMO_TOKEN
        else:
            base_url = args.base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
            workspace, item = args.workspace, args.item
        client = JobsClient(token=token, base_url=base_url, timeout=args.timeout)
        started = time.perf_counter()
        pager = client.list_item_job_instances(workspace, item, as_dict=True)
        count = WRITERS[args.format](_limited(pager, args.limit), sys.stdout)
        sys.stdout.flush()
        elapsed = time.perf_counter() - started
        source = "the bundled emulator" if demo else base_url
        print(f"{count} job instances from {source} in {elapsed:.2f} s", file=sys.stderr)
    return 0


def _apply_knobs(emulator: FabricEmulator, args: argparse.Namespace) -> list[str]:
    """Applies the `emulator` subcommand's knob flags; returns one line per knob set."""
    notes = []
    if args.latency:
        notes.append(f"latency {args.latency:g} s per request")
    if args.quota is not None:
        calls, per = args.quota
        emulator.set_quota(calls, per, retry_after=not args.no_retry_after)
        header = "without" if args.no_retry_after else "with"
        notes.append(f"quota {calls} calls per {per:g} s per token (429 {header} Retry-After)")
    if args.fail_first is not None:
        count, status = args.fail_first
        emulator.fail_next(status, count=count)
        notes.append(f"the first {count} requests answer {status}")
    for count, inject, what in [
        (args.drop_first, emulator.drop_next, "get their connection closed unanswered"),
        (args.truncate_first, emulator.truncate_next, "get half a body"),
        (args.hang_first, emulator.hang_next, "are never answered"),
    ]:
        if count:
            inject(count)
            notes.append(f"next {count} requests {what}")
    if args.trailing_token_quirk is not None:
        emulator.set_trailing_token_quirk(args.trailing_token_quirk)
        notes.append(f"last pages carry a token that fails with {args.trailing_token_quirk}")
    return notes


def _emulator(args: argparse.Namespace) -> int:
    with FabricEmulator(
        page_size=args.page_size, continuation=args.continuation, latency=args.latency
    ) as emulator:
        pairs = emulator.seed(items_per_workspace=args.items, jobs_per_item=args.jobs)
        notes = _apply_knobs(emulator, args)
        print(f"Fabric emulator listening on {emulator.base_url} (any bearer token accepted)")
        for note in notes:
            print(f"  knob: {note}")
        for workspace, item in pairs:
            print(f"  workspace {workspace}  item {item}")
        workspace, item = pairs[0]
        print("Try, in another shell:")
        print(
            f"  FABRIC_TOKEN=x fabric-jobs list {workspace} {item} --base-url {emulator.base_url}"
        )
        print("Ctrl-C stops it.", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            return _list(args)
        return _emulator(args)
    except FabricError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `fabric-jobs list ... | head`: the reader left; not an error.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0


if __name__ == "__main__":
    sys.exit(main())
