"""Shared-store claims under contention: `.venv/bin/python bench/claims.py`.

32 workers (4 processes x 8 threads) drain 1,000 queued runs of one batch from the shared
PostgreSQL store (--processes, --threads and --runs change that shape): `claim_next`, then
`finish` at once (a no-op run). Prints duplicates (must be 0), claims per second and claim
latency p50/p99, against two baselines measured in the same run by the same 32 workers: a plain
`SELECT 1` round trip, and a naive claim (one autocommitted
`UPDATE ... WHERE run = (SELECT ... FOR UPDATE SKIP LOCKED)`, no fencing, attempt rows or events).

Why processes x threads: on a small runner (2 cores) 32 processes would mostly measure context
switches and 32 interpreters; one process would measure its GIL. A few processes with a few
threads each keep the client from being the bottleneck while staying honest about contention:
32 transactions really are in flight against one queue.

The database: a fresh `parallel_runs_bench_<hex>` made on the server of --database-url (default
PARALLEL_RUNS_TEST_DATABASE_URL, else local trust auth), migrated, dropped at the end.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import secrets
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import create_engine, text

from parallel_runs.core.command import CommandSpec
from parallel_runs.core.model import Attempt, Outcome
from parallel_runs.store import BatchDefinition, Claim, LeaseOwner, SharedStore
from parallel_runs.store.urls import mask_url, parse_postgres_url
from scratch_database import DEFAULT_URL, bench_database  # type: ignore[import-not-found]

PROCESSES, THREADS, RUNS = 4, 8, 1000
NAIVE_CLAIM = text(
    "UPDATE batch_runs SET state = 'claimed' WHERE batch_id = :batch AND run_id = ("
    " SELECT run_id FROM batch_runs WHERE batch_id = :batch AND state = 'pending'"
    " ORDER BY position LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING run_id"
)


def _baseline_engine(url: str) -> Any:
    """One connection per thread for the baselines (ours holds two per process, whatever its threads)."""
    return create_engine(parse_postgres_url(url), pool_size=64, max_overflow=0)


def _result(claim: Claim) -> Attempt:
    now = datetime.now(UTC)
    return Attempt(
        run_id=claim.run_id,
        slug=claim.slug,
        batch_id=claim.batch_id,
        attempt=claim.attempt,
        outcome=Outcome.SUCCEEDED,
        exit_code=0,
        started_at=now,
        finished_at=now,
        base_sha=claim.base_sha,
        head_sha=None,
        branch=f"parallel-runs/{claim.slug}",
        host=claim.owner.host,
        pid=claim.owner.pid,
    )


# --- what one worker thread does, per phase: a list of (run id or "", seconds) ----------------


def _ours(url: str, batch_id: str) -> Callable[[int], list[tuple[str, float]]]:
    store = SharedStore.connect(url)

    def work(worker: int) -> list[tuple[str, float]]:
        owner, done = LeaseOwner.here(f"bench-{worker}"), []
        while True:
            started = time.perf_counter()
            claim = store.claim_next(batch_id=batch_id, owner=owner)
            elapsed = time.perf_counter() - started
            if claim is None:
                return done
            store.finish_attempt(claim, _result(claim))
            done.append((claim.run_id, elapsed))

    return work


def _naive(url: str, batch_id: str) -> Callable[[int], list[tuple[str, float]]]:
    engine = _baseline_engine(url)

    def work(worker: int) -> list[tuple[str, float]]:
        done = []
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            while True:
                started = time.perf_counter()
                run_id = conn.execute(NAIVE_CLAIM, {"batch": batch_id}).scalar_one_or_none()
                if run_id is None:
                    return done
                done.append((run_id, time.perf_counter() - started))

    return work


def _select_one(url: str, per_worker: int) -> Callable[[int], list[tuple[str, float]]]:
    engine = _baseline_engine(url)

    def work(worker: int) -> list[tuple[str, float]]:
        done = []
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for _ in range(per_worker):
                started = time.perf_counter()
                conn.execute(text("SELECT 1")).scalar_one()
                done.append(("", time.perf_counter() - started))
        return done

    return work


CLAIMS: dict[str, Callable[[str, str], Callable[[int], list[tuple[str, float]]]]] = {
    "naive": _naive,
    "ours": _ours,
}


@dataclass(frozen=True)
class Shape:
    """How many worker processes, threads per process, and queued runs per contended phase."""

    processes: int = PROCESSES
    threads: int = THREADS
    runs: int = RUNS

    @property
    def workers(self) -> int:
        return self.processes * self.threads


def _process(phase: str, url: str, batch_id: str, barrier: Any, results: Any, *, shape: Shape) -> None:
    """One process: `shape.threads` workers released together once every process is ready."""
    if phase == "select1":
        work = _select_one(url, shape.runs // shape.workers + 1)
    else:
        work = CLAIMS[phase](url, batch_id)
    outputs: list[list[tuple[str, float]]] = [[] for _ in range(shape.threads)]
    go = threading.Event()

    def thread_main(n: int) -> None:
        go.wait()
        outputs[n] = work(os.getpid() * 100 + n)

    threads = [threading.Thread(target=thread_main, args=(n,)) for n in range(shape.threads)]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=120)
    go.set()
    for thread in threads:
        thread.join()
    results.put([item for output in outputs for item in output])


def run_phase(phase: str, url: str, batch_id: str, shape: Shape) -> tuple[list[tuple[str, float]], float]:
    """All items every worker produced, and the wall time from release to the last worker done."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(shape.processes + 1), ctx.Queue()
    processes = [
        ctx.Process(target=_process, args=(phase, url, batch_id, barrier, results), kwargs={"shape": shape})
        for _ in range(shape.processes)
    ]
    for process in processes:
        process.start()
    barrier.wait(timeout=120)
    started = time.perf_counter()
    items = [item for _ in processes for item in results.get(timeout=600)]
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join(timeout=60)
    return items, elapsed


def _quantiles(seconds: list[float]) -> tuple[float, float]:
    if len(seconds) == 1:  # --runs 1: nothing to interpolate
        return seconds[0] * 1000, seconds[0] * 1000
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


def _queue(store: SharedStore, name: str, runs: int) -> str:
    batch_id = f"bench-{name}-{secrets.token_hex(3)}"
    prefix = secrets.token_hex(3)
    store.create_batch(
        BatchDefinition(
            batch_id=batch_id,
            run_ids=tuple(f"{name}-{prefix}-{n:04d}" for n in range(runs)),
            command=CommandSpec(argv=("true",)),
            base_sha="0" * 40,
        )
    )
    return batch_id


def uncontended(store: SharedStore, url: str, rounds: int = 200) -> tuple[float, float]:
    """Claim latency p50 with one worker (claim + finish in a loop), and a SELECT 1's, in ms."""
    batch_id, owner, claims = _queue(store, "alone", rounds), LeaseOwner.here("alone"), []
    for _ in range(rounds):
        started = time.perf_counter()
        claim = store.claim_next(batch_id=batch_id, owner=owner)
        claims.append(time.perf_counter() - started)
        assert claim is not None
        store.finish_attempt(claim, _result(claim))
    pings, engine = [], _baseline_engine(url)
    with engine.connect() as conn:
        for _ in range(rounds):
            started = time.perf_counter()
            conn.execute(text("SELECT 1")).scalar_one()
            pings.append(time.perf_counter() - started)
    engine.dispose()
    return statistics.median(claims) * 1000, statistics.median(pings) * 1000


def measure(url: str, shape: Shape = Shape()) -> int:
    """Run the three phases and print the figures; non-zero if a run was claimed twice."""
    with SharedStore.connect(url) as store:
        batches = {phase: _queue(store, phase, shape.runs) for phase in ("naive", "ours")}
        alone, ping = uncontended(store, url)
    print(f"one worker, no contention: claim p50 {alone:.2f} ms, SELECT 1 p50 {ping:.2f} ms", end="")
    print(f" (x{alone / ping:.1f})")
    figures: dict[str, tuple[float, float, float]] = {}
    duplicates = 0
    for phase in ("select1", "naive", "ours"):
        items, elapsed = run_phase(phase, url, batches.get(phase, ""), shape)
        p50, p99 = _quantiles([seconds for _, seconds in items])
        figures[phase] = (len(items) / elapsed, p50, p99)
        if phase != "select1":
            counts = Counter(run_id for run_id, _ in items)
            duplicates += sum(n - 1 for n in counts.values())
            assert len(counts) == shape.runs, f"{phase}: {len(counts)} of {shape.runs} runs claimed"
    with SharedStore.connect(url) as store:
        records = store.attempts(batches["ours"])
    duplicates += len(records) - len({record.run_id for record in records})
    _report(figures, duplicates, shape)
    return 1 if duplicates else 0


def _report(figures: dict[str, tuple[float, float, float]], duplicates: int, shape: Shape) -> None:
    rate, p50, p99 = figures["ours"]
    print(
        f"{shape.processes} processes x {shape.threads} threads = {shape.workers} workers,"
        f" {shape.runs} queued runs"
    )
    print(f"duplicates: {duplicates}")
    print(f"claims/s (claim + finish, no-op runs): {rate:.0f}")
    print(f"claim latency: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    for phase, label in (("select1", "SELECT 1 round trip"), ("naive", "naive one-UPDATE claim")):
        base_rate, base_p50, base_p99 = figures[phase]
        print(
            f"baseline {label}: {base_rate:.0f}/s, p50 {base_p50:.2f} ms, p99 {base_p99:.2f} ms"
            f" -> ours p50 x{p50 / base_p50:.1f}, p99 x{p99 / base_p99:.1f}"
            + (f", throughput x{rate / base_rate:.2f}" if phase == "naive" else "")
        )


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def main() -> int:
    """Make a scratch database, measure, drop it."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", default=os.environ.get("PARALLEL_RUNS_TEST_DATABASE_URL", DEFAULT_URL)
    )
    parser.add_argument("--processes", type=_positive, default=PROCESSES, help="worker processes")
    parser.add_argument("--threads", type=_positive, default=THREADS, help="worker threads per process")
    parser.add_argument("--runs", type=_positive, default=RUNS, help="queued runs per contended phase")
    args = parser.parse_args()
    shape = Shape(processes=args.processes, threads=args.threads, runs=args.runs)
    with bench_database(args.database_url) as url:
        print(f"database: {mask_url(url)}")
        return measure(url, shape)


if __name__ == "__main__":
    sys.exit(main())
