"""Following a long log on the dashboard's run page (issue #21): `.venv/bin/python bench/dashboard_logs.py`.

A run of a runs dir (its records written through `LocalStore`, its locks held: it runs) whose first
attempt wrote --before MB of output and whose second attempt is followed while it grows by --grow KB
between polls, --polls times, through the real app (Starlette's TestClient, in this process). Two ways
of asking for each piece, side by side in each round, on the same file:

- baseline: `offset` only, as the run page asked before issue #21's cursor: each poll reads the log
  through to find the attempt's part;
- cursor: `offset` and the piece's `start` handed back: each poll reads from where the part begins.

It prints each one's median poll and the ratio baseline / cursor (goal: >= 10x with the defaults:
following costs a poll what it returns, not the whole log; the cursor's poll is the same whatever
--before is, the baseline's grows with it). Put it on tmpfs (--dir, default /dev/shm).
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from starlette.testclient import TestClient

from parallel_runs.core.command import CommandSpec
from parallel_runs.core.layout import RunPaths
from parallel_runs.core.redaction import Redactor
from parallel_runs.core.runlog import format_header
from parallel_runs.dashboard.app import create_app
from parallel_runs.dashboard.context import Dashboard
from parallel_runs.dashboard.source import Source
from parallel_runs.locks import hold_run
from parallel_runs.store import BatchDefinition, LeaseOwner, LocalStore, open_records

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
GOAL = 10.0


def follow(client: TestClient, url: str, paths: RunPaths, *, polls: int, grow: int) -> dict[str, list[float]]:
    """Seconds per poll of each way of asking, both following the same log, which grows by `grow`
    bytes before each round (the two polls of a round side by side: the same load for both)."""
    state: dict[str, tuple[int, int | None]] = {"baseline": (0, None), "cursor": (0, None)}
    seconds: dict[str, list[float]] = {name: [] for name in state}
    line = b"y" * 99 + b"\n"
    for _ in range(polls):
        with paths.run_log.open("ab") as log:
            log.write(line * (grow // len(line)))
        for name, (offset, start) in state.items():
            asked = f"{url}&offset={offset}" + (f"&start={start}" if start is not None else "")
            began = time.perf_counter()
            piece = client.get(asked).json()
            seconds[name].append(time.perf_counter() - began)
            assert piece["text"], piece  # each poll has what was written since
            assert not piece["over"], piece
            state[name] = (piece["offset"], piece["start"] if name == "cursor" else None)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=int, default=256, help="MB attempt 1 wrote (default 256)")
    parser.add_argument("--grow", type=int, default=64, help="KB the log grows by between polls (default 64)")
    parser.add_argument("--polls", type=int, default=40, help="polls per way of asking (default 40)")
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="parallel-runs-bench-logs-", dir=args.dir) as scratch:
        runs_dir = Path(scratch) / "runs"
        store = LocalStore(runs_dir)
        batch = BatchDefinition(
            batch_id=f"logs-{secrets.token_hex(3)}",
            run_ids=("long",),
            command=CommandSpec(argv=("true",)),
            base_sha="a" * 40,
        )
        store.enqueue(batch)
        claim = store.claim_next(batch_id=batch.batch_id, owner=LeaseOwner.here("bench"), ttl=600)
        assert claim is not None
        claim = store.begin_attempt(claim, at_least=2, started_at=T0, host="bench")
        paths = RunPaths(runs_dir, claim.slug)
        paths.artifacts.mkdir(parents=True, exist_ok=True)
        with paths.run_log.open("wb") as log:
            log.write(format_header(1, T0, "agent").encode())
            chunk = (b"x" * 1023 + b"\n") * 1024
            for _ in range(args.before):
                log.write(chunk)
            log.write(format_header(2, T0, "agent").encode())
        with hold_run(paths), open_records(runs_dir) as records:
            app = create_app(Dashboard(source=Source(records), redact=Redactor(())))
            with TestClient(app, base_url="http://127.0.0.1") as client:
                url = f"/api/batches/{batch.batch_id}/logs/long?attempt=2"
                seconds = follow(client, url, paths, polls=args.polls, grow=args.grow * 1024)
    figures = {name: statistics.median(taken) for name, taken in seconds.items()}
    for name, taken in seconds.items():
        print(f"{name}: median poll {figures[name] * 1000:.2f} ms, worst {max(taken) * 1000:.2f} ms")
    ratio = figures["baseline"] / figures["cursor"]
    load = os.getloadavg()[0]
    print(f"log of {args.before} MB before the followed part, {args.polls} polls of {args.grow} KB each")
    print(f"ratio baseline / cursor: {ratio:.1f}x (goal >= {GOAL:.0f}x), load average {load:.2f}")
    return 0 if ratio >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
