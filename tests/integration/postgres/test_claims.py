"""Run claims across processes against a real PostgreSQL: races, takeovers, zombies, stealing."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from parallel_runs.core.command import CommandSpec
from parallel_runs.core.model import Outcome
from parallel_runs.core.suite import TestSpec
from parallel_runs.errors import ConfigError, LeaseLostError
from parallel_runs.store import BatchDefinition, LeaseKeeper, LeaseOwner, SharedStore
from tests.integration.postgres.helpers import process_context, result_for

ME = LeaseOwner.here("test")
OTHER = LeaseOwner(host="other-host", pid=1, worker_id="w9")


def test_create_batch_is_idempotent_and_refuses_another_definition(
    store: SharedStore, make_batch: Callable[..., BatchDefinition]
) -> None:
    batch = make_batch(2, command=CommandSpec(argv=("echo", "{run_id}")), timeout=90.0, retries=2)
    assert store.get_batch(batch.batch_id) == batch
    assert store.create_batch(batch) == batch
    assert batch.created_at is not None
    with pytest.raises(ConfigError, match=r"different definition \(command\)"):
        store.create_batch(BatchDefinition(**{**_fields(batch), "command": CommandSpec(argv=("false",))}))
    assert [run.state for run in store.batch_runs(batch.batch_id)] == ["pending", "pending"]


def test_a_batch_keeps_its_whole_test_gate_so_every_worker_judges_alike(
    store: SharedStore, make_batch: Callable[..., BatchDefinition]
) -> None:
    spec = TestSpec(
        command=CommandSpec(shell="make test"),  # noqa: S604 - a command to run, on purpose
        timeout=60.0,
        retries=2,
        reports=("build/test-results/**/*.xml", "report.xml"),
        allow_empty_baseline=True,
    )
    batch = make_batch(1, tests=spec)
    assert batch.tests == spec
    assert store.get_batch(batch.batch_id) == batch
    with pytest.raises(ConfigError, match=r"different definition \(tests\)"):
        store.create_batch(BatchDefinition(**{**_fields(batch), "tests": replace(spec, reports=())}))


def _fields(batch: BatchDefinition) -> dict[str, Any]:
    return {name: getattr(batch, name) for name in BatchDefinition.__dataclass_fields__}


def test_claims_follow_batch_order_and_stop_when_none_is_free(
    store: SharedStore, make_batch: Callable[..., BatchDefinition]
) -> None:
    batch = make_batch(2)
    first = store.claim_next(batch_id=batch.batch_id, owner=ME)
    second = store.claim_next(batch_id=batch.batch_id, owner=ME)
    assert first is not None
    assert second is not None
    assert (first.run_id, second.run_id) == batch.run_ids
    assert (first.attempt, first.fencing_token, first.base_sha) == (1, 1, "a" * 40)
    assert store.claim_next(batch_id=batch.batch_id, owner=ME) is None
    assert store.claim_run(batch_id=batch.batch_id, run_id=first.run_id, owner=OTHER) is None
    assert store.claim_run(batch_id=batch.batch_id, run_id="not-in-batch", owner=OTHER) is None
    [attempt, _] = store.attempts(batch.batch_id)
    assert (attempt.outcome, attempt.branch, attempt.host) == (
        Outcome.RUNNING,
        f"parallel-runs/{first.slug}",
        ME.host,
    )


def test_takeover_after_expiry_increments_the_token_and_abandons_the_attempt(
    store: SharedStore, make_batch: Callable[..., BatchDefinition]
) -> None:
    batch = make_batch(1)
    [run_id] = batch.run_ids
    old = store.claim_run(batch_id=batch.batch_id, run_id=run_id, owner=ME, ttl=0.5)
    assert old is not None
    assert store.claim_run(batch_id=batch.batch_id, run_id=run_id, owner=OTHER, ttl=30) is None
    time.sleep(0.7)  # the lease expires by the database's clock
    new = store.claim_next(batch_id=batch.batch_id, owner=OTHER, ttl=30)
    assert new is not None
    assert (new.run_id, new.attempt, new.fencing_token, new.abandoned_attempt) == (run_id, 2, 2, 1)
    first, second = store.attempts(batch.batch_id)
    assert (first.outcome, second.outcome) == (Outcome.ABANDONED, Outcome.RUNNING)
    assert first.error is not None
    assert "taken over by host other-host" in first.error
    [run] = store.batch_runs(batch.batch_id)
    assert (run.attempts, run.owner_host, run.fencing_token) == (2, "other-host", 2)


def test_zombie_writer_is_refused_and_changes_nothing(
    store: SharedStore, make_batch: Callable[..., BatchDefinition], tmp_path: Any
) -> None:
    batch = make_batch(1)
    zombie = store.claim_next(batch_id=batch.batch_id, owner=ME, ttl=0.3)
    assert zombie is not None
    time.sleep(0.5)
    taker = store.claim_next(batch_id=batch.batch_id, owner=OTHER, ttl=30)
    assert taker is not None
    store.finish_attempt(taker, result_for(taker, Outcome.SUCCEEDED))
    records, runs = store.attempts(batch.batch_id), store.batch_runs(batch.batch_id)
    (tmp_path / "run.log").write_text("zombie output")

    with pytest.raises(LeaseLostError, match=r"fencing token 1 .*now at token 2") as caught:
        store.finish_attempt(zombie, result_for(zombie, Outcome.FAILED, error="zombie"))
    assert caught.value.exit_code == 75
    for write in (
        lambda: store.heartbeat(zombie),
        lambda: store.store_artifacts(zombie, tmp_path),
    ):
        with pytest.raises(LeaseLostError):
            write()
    assert store.attempts(batch.batch_id) == records
    assert store.batch_runs(batch.batch_id) == runs
    assert [r.outcome for r in records] == [Outcome.ABANDONED, Outcome.SUCCEEDED]
    assert store.list_artifacts(zombie.run_id, attempt=zombie.attempt) == []


def test_heartbeats_keep_a_lease_alive_past_its_ttl(
    store: SharedStore, make_batch: Callable[..., BatchDefinition]
) -> None:
    batch = make_batch(1)
    claim = store.claim_next(batch_id=batch.batch_id, owner=ME, ttl=1.0)
    assert claim is not None
    with LeaseKeeper(store, claim, interval=0.2) as keeper:
        deadline = time.monotonic() + 2.5  # 2.5 TTLs
        while time.monotonic() < deadline:
            assert store.claim_next(batch_id=batch.batch_id, owner=OTHER) is None
            time.sleep(0.1)
        assert not keeper.lost.is_set()
        assert keeper.claim.expires_at > claim.expires_at
    store.finish_attempt(keeper.claim, result_for(claim))
    [record] = store.attempts(batch.batch_id)
    assert record.outcome is Outcome.SUCCEEDED


def test_a_keeper_notices_a_takeover(store: SharedStore, make_batch: Callable[..., BatchDefinition]) -> None:
    batch = make_batch(1)
    claim = store.claim_next(batch_id=batch.batch_id, owner=ME, ttl=0.3)
    assert claim is not None
    time.sleep(0.5)
    assert store.claim_next(batch_id=batch.batch_id, owner=OTHER) is not None
    with LeaseKeeper(store, claim, interval=0.05) as keeper:
        assert keeper.lost.wait(5)
    assert isinstance(keeper.error, LeaseLostError)


def test_requeue_retries_failures_and_never_successes(
    store: SharedStore, make_batch: Callable[..., BatchDefinition]
) -> None:
    batch = make_batch(2)
    ok, bad = (store.claim_next(batch_id=batch.batch_id, owner=ME) for _ in range(2))
    assert ok is not None
    assert bad is not None
    store.finish_attempt(ok, result_for(ok, Outcome.SUCCEEDED))
    store.finish_attempt(bad, result_for(bad, Outcome.FAILED))
    assert store.claim_next(batch_id=batch.batch_id, owner=ME) is None
    assert store.requeue(batch.batch_id, [ok.run_id]) == []
    assert store.requeue(batch.batch_id) == [bad.run_id]
    again = store.claim_next(batch_id=batch.batch_id, owner=ME)
    assert again is not None
    assert (again.run_id, again.attempt, again.fencing_token) == (bad.run_id, 2, 3)
    store.finish_attempt(again, result_for(again, Outcome.FAILED))
    assert store.requeue(batch.batch_id, max_attempts=2) == []
    assert store.claim_next(batch_id=batch.batch_id, owner=ME) is None


def test_a_run_is_active_in_one_batch_at_a_time(
    store: SharedStore, make_batch: Callable[..., BatchDefinition]
) -> None:
    first = make_batch(1)
    second = make_batch(1, run_ids=first.run_ids, batch_id=first.batch_id + "-again")
    held = store.claim_next(batch_id=first.batch_id, owner=ME)
    assert held is not None
    assert store.claim_next(batch_id=second.batch_id, owner=OTHER) is None
    store.finish_attempt(held, result_for(held))
    later = store.claim_next(batch_id=second.batch_id, owner=OTHER)
    assert later is not None
    assert later.attempt == 2  # attempt numbers belong to the run, across batches


# --- competing processes (nothing inherited from the test process) -------------------------------

TRIALS = 50
CONTENDERS = 20


def _contend(url: str, batch_id: str, run_ids: list[str], barrier: Any, wins: Any) -> None:
    with SharedStore.connect(url) as store:
        owner = LeaseOwner.here("contender")
        store.get_batch(batch_id)  # a warm connection: every contender starts from the same point
        for run_id in run_ids:
            barrier.wait(timeout=60)
            if store.claim_run(batch_id=batch_id, run_id=run_id, owner=owner, ttl=60) is not None:
                wins.put((run_id, os.getpid()))


@pytest.mark.slow
def test_twenty_processes_claiming_one_run_at_once_one_wins_every_time(
    store: SharedStore, database_url: str, make_batch: Callable[..., BatchDefinition]
) -> None:
    batch = make_batch(TRIALS)
    ctx = process_context(__name__)
    barrier, wins = ctx.Barrier(CONTENDERS), ctx.Queue()
    args = (database_url, batch.batch_id, list(batch.run_ids), barrier, wins)
    processes = [ctx.Process(target=_contend, args=args) for _ in range(CONTENDERS)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=170)
    assert [process.exitcode for process in processes] == [0] * CONTENDERS
    winners: dict[str, list[int]] = {}
    while not wins.empty():
        run_id, pid = wins.get()
        winners.setdefault(run_id, []).append(pid)
    assert {run_id: len(pids) for run_id, pids in winners.items()} == dict.fromkeys(batch.run_ids, 1)
    assert len({pids[0] for pids in winners.values()}) > 1  # not one process winning everything
    assert {run.fencing_token for run in store.batch_runs(batch.batch_id)} == {1}


WORK_SECONDS = 0.005


def _drain(url: str, batch_id: str, threads: int, barrier: Any, done: Any) -> None:
    with SharedStore.connect(url) as store:
        taken: list[tuple[str, str]] = []
        lock = threading.Lock()

        def work(worker: int) -> None:
            owner = LeaseOwner.here(f"t{worker}")
            while (claim := store.claim_next(batch_id=batch_id, owner=owner, ttl=60)) is not None:
                time.sleep(WORK_SECONDS)
                store.finish_attempt(claim, result_for(claim))
                with lock:
                    taken.append((claim.run_id, f"{os.getpid()}/{worker}"))

        barrier.wait(timeout=60)
        pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        done.put(taken)


@pytest.mark.slow
def test_two_processes_with_threads_drain_a_batch_without_duplicates(
    store: SharedStore, database_url: str, make_batch: Callable[..., BatchDefinition]
) -> None:
    batch = make_batch(100)
    ctx = process_context(__name__)
    barrier, done = ctx.Barrier(2), ctx.Queue()
    processes = [
        ctx.Process(target=_drain, args=(database_url, batch.batch_id, 4, barrier, done)) for _ in range(2)
    ]
    for process in processes:
        process.start()
    taken = [done.get(timeout=170) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    claimed = [run_id for part in taken for run_id, _ in part]
    assert sorted(claimed) == sorted(batch.run_ids)  # every run once, none twice
    assert all(part for part in taken)  # both processes did some
    assert len({worker for part in taken for _, worker in part}) > 2
    records = store.attempts(batch.batch_id)
    assert len(records) == 100
    assert {record.outcome for record in records} == {Outcome.SUCCEEDED}
