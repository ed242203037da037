"""The dashboard at scale (issue #21 item 6): `.venv/bin/python bench/dashboard.py`.

A batch of 10,000 runs (--runs) is written through each store's real write path (enqueue, claim,
begin, finish; a tenth failed, a few still running, four hosts), into a runs dir of per-run SQLite
files and into a fresh PostgreSQL database. Then the dashboard app (through Starlette's TestClient,
in this process) is asked, for each store:

- first paint: the batch page's HTML, from a dashboard just started (nothing read yet: a runs dir is
  read through its index, `.index/`, which the runs' stores wrote; each store's key is checked, no
  store opened), and again with everything read anew but the stores unchanged (what a visitor pays
  after a change). Goal <= 1 s. With --no-index, the runs dir's index is removed first (a runs dir
  an older version wrote: each of its 10,000 SQLite files is opened once), for comparison.
- a filtered API page: `/api/batches/ID/runs?status=failed&q=3&sort=duration&order=desc`, its refresh
  expired before each of --rounds requests (the batch unchanged: its pages are kept by its version),
  median and worst; and after a change (the page asked of the store again). Goal <= 300 ms.

The page holds 100 rows whatever the batch's size: the store filters, sorts and pages
(`Records.runs_page`: in SQL for the shared store).
The database: `parallel_runs_bench_<hex>` on the server of --database-url (default
PARALLEL_RUNS_TEST_DATABASE_URL, else local trust auth), migrated, dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from starlette.testclient import TestClient

from parallel_runs.core.command import CommandSpec
from parallel_runs.core.model import Attempt, Outcome
from parallel_runs.core.redaction import Redactor
from parallel_runs.dashboard.app import create_app
from parallel_runs.dashboard.context import Dashboard
from parallel_runs.dashboard.source import Source
from parallel_runs.store import (
    BatchDefinition,
    LeaseOwner,
    LocalStore,
    RunStore,
    SharedStore,
    Store,
    open_records,
)
from scratch_database import bench_database  # type: ignore[import-not-found]

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
FILTERED = "status=failed&q=3&sort=duration&order=desc"  # failed runs end in 3


def attempt_of(definition: BatchDefinition, run_id: str, number: int, index: int) -> Attempt:
    started = T0 + timedelta(seconds=index)
    outcome = Outcome.FAILED if index % 10 == 3 else Outcome.SUCCEEDED
    return Attempt(
        run_id=run_id,
        slug=run_id,
        batch_id=definition.batch_id,
        attempt=number,
        outcome=outcome,
        exit_code=1 if outcome is Outcome.FAILED else 0,
        started_at=started,
        finished_at=started + timedelta(seconds=30 + index % 97),
        base_sha=definition.base_sha,
        head_sha="c" * 40,
        branch=f"parallel-runs/{run_id}",
        host=f"runner-{index % 4}",
        pid=1000 + index,
        error="the command failed (exit 1)" if outcome is Outcome.FAILED else None,
        error_tail="Traceback (most recent call last):\n  ...\nAssertionError"
        if outcome is Outcome.FAILED
        else None,
        changed_files=index % 7,
    )


def fill(store: Store, definition: BatchDefinition, *, threads: int) -> None:
    """Queue the batch and work every run through the store, as the engine does (a few left running)."""
    store.enqueue(definition)
    owner = LeaseOwner.here("dashboard-bench")
    running = set(definition.run_ids[-3:])

    def work(_: int) -> int:
        done = 0
        while (claim := store.claim_next(batch_id=definition.batch_id, owner=owner, ttl=3600)) is not None:
            index = definition.run_ids.index(claim.run_id)
            claim = store.begin_attempt(claim, at_least=1, started_at=T0 + timedelta(seconds=index), host="h")
            if claim.run_id not in running:
                store.finish_attempt(claim, attempt_of(definition, claim.run_id, claim.attempt, index))
            done += 1
        return done

    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(work, range(threads)))
    assert total == len(definition.run_ids), total


CPU: dict[str, float] = {}  # each figure's CPU time (this process, every thread): the machine is shared


def timed(client: TestClient, path: str, cpu: list[float] | None = None) -> float:
    started, used = time.perf_counter(), time.process_time()
    response = client.get(path)
    elapsed = time.perf_counter() - started
    if cpu is not None:
        cpu.append(time.process_time() - used)
    assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return elapsed


def change_a_run(runs_dir: Path, definition: BatchDefinition, round_number: int) -> None:
    """A real change to one finished run's store, written as the engine writes (and indexes) it."""
    run_id = definition.run_ids[round_number]
    with RunStore.open(runs_dir / run_id / f"{run_id}.db", indexed_in=runs_dir) as store:
        latest = store.latest_attempt(run_id)
        assert latest is not None
        store.finish_attempt(replace(latest, changed_files=(latest.changed_files or 0) + 1))


def measure(place: Path | str, definition: BatchDefinition, *, rounds: int, store: str) -> dict[str, float]:
    """The figures for one store, from a dashboard opened on `place` now."""
    batch_id = definition.batch_id
    with open_records(place) as records:
        source = Source(records)
        app = create_app(Dashboard(source=source, redact=Redactor()))
        with TestClient(app, base_url="http://127.0.0.1") as client:
            page, filtered = f"/batches/{batch_id}", f"/api/batches/{batch_id}/runs?{FILTERED}"
            cold: list[float] = []
            first = timed(client, page, cold)
            CPU[f"{store}: first paint, just started"] = cold[0]
            source.forget()
            again = timed(client, page)
            api: list[float] = []
            changed: list[float] = []
            changed_cpu: list[float] = []
            for number in range(rounds):
                source.expire()  # the refresh just expired, the batch unchanged
                api.append(timed(client, filtered))
                if isinstance(place, Path):
                    change_a_run(place, definition, number)  # the shared store pages in SQL whatever changed
                source.forget()  # the batch changed: its pages are asked of the store again
                changed.append(timed(client, filtered, changed_cpu))
            CPU[f"{store}: filtered API page after a change, median"] = statistics.median(changed_cpu)
            size = len(client.get(f"/api/batches/{batch_id}/runs?{FILTERED}").json()["runs"])
    assert size > 0
    return {
        "first paint, just started": first,
        "first paint, read again": again,
        "filtered API page, median": statistics.median(api),
        "filtered API page, worst": max(api),
        "filtered API page after a change, median": statistics.median(changed),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--no-index", action="store_true", help="remove the runs dir's index first")
    parser.add_argument(
        "--database-url", default=os.environ.get("PARALLEL_RUNS_TEST_DATABASE_URL", DEFAULT_URL)
    )
    args = parser.parse_args()
    definition = BatchDefinition(
        batch_id=f"bench-{secrets.token_hex(3)}",
        run_ids=tuple(f"task-{n:05d}" for n in range(args.runs)),
        command=CommandSpec(argv=("true",)),
        base_sha="a" * 40,
    )
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="dashboard-bench-") as tmp:
        runs_dir = Path(tmp) / "runs"
        started = time.perf_counter()
        with LocalStore(runs_dir) as local:
            fill(local, definition, threads=args.threads)
        print(f"runs dir: {args.runs} runs written in {time.perf_counter() - started:.1f}s", flush=True)
        if args.no_index:
            shutil.rmtree(runs_dir / ".index")
        figures["runs dir"] = measure(runs_dir, definition, rounds=args.rounds, store="runs dir")
        with bench_database(args.database_url) as url:
            started = time.perf_counter()
            with SharedStore.connect(url, spool_dir=Path(tmp) / "spool") as shared:
                fill(shared, definition, threads=args.threads)
            print(
                f"shared store: {args.runs} runs written in {time.perf_counter() - started:.1f}s", flush=True
            )
            figures["shared store"] = measure(url, definition, rounds=args.rounds, store="shared store")
    goals = {"first paint": 1.0, "filtered API page": 0.3}
    met = True
    for store, found in figures.items():
        for name, seconds in found.items():
            goal = next(limit for prefix, limit in goals.items() if name.startswith(prefix))
            met &= seconds <= goal
            cpu = CPU.get(f"{store}: {name}")
            used = "" if cpu is None else f", {cpu * 1000:.0f} ms CPU"
            print(f"{store}: {name}: {seconds * 1000:.0f} ms{used} (goal <= {goal * 1000:.0f} ms)")
    cold = max(f["first paint, just started"] for f in figures.values())
    worst_paint = max(f["first paint, read again"] for f in figures.values())
    worst_api = max(f["filtered API page, median"] for f in figures.values())
    changed = max(f["filtered API page after a change, median"] for f in figures.values())
    print(f"worst first paint: just started {cold * 1000:.0f} ms, read again {worst_paint * 1000:.0f} ms")
    print(f"worst filtered API page median: {worst_api * 1000:.0f} ms, changed {changed * 1000:.0f} ms")
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
