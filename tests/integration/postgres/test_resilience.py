"""A real PostgreSQL restart: operations retry through it; results wait in the spool meanwhile.

Each test stops a private cluster of its own (private_server): the shared server on 127.0.0.1:5432
serves the other xdist workers meanwhile and is never stopped.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from pathlib import Path

import pytest

from parallel_runs.core.command import CommandSpec
from parallel_runs.core.model import Outcome
from parallel_runs.store import BatchDefinition, LeaseOwner, ReconnectPolicy, SharedStore, SpoolReport
from tests.integration.postgres.helpers import FAST_RECONNECTS, result_for
from tests.integration.postgres.private_server import PrivateServer, private_server

ME = LeaseOwner.here("resilience")
OTHER = LeaseOwner(host="other-host", pid=1, worker_id="w9")
# Enough patience for a restart (about a second or two here), still bounded.
THROUGH_A_RESTART = ReconnectPolicy(tries=12, first_delay=0.2, max_delay=2.0)

pytestmark = pytest.mark.slow


def _make_batch(server: PrivateServer, runs: int) -> BatchDefinition:
    prefix = secrets.token_hex(4)
    with SharedStore.connect(server.url) as store:
        return store.create_batch(
            BatchDefinition(
                batch_id=f"batch-{prefix}",
                run_ids=tuple(f"run-{prefix}-{n:03d}" for n in range(runs)),
                command=CommandSpec(argv=("true",)),
                base_sha="a" * 40,
            )
        )


def test_a_batch_completes_across_a_restart(caplog: pytest.LogCaptureFixture) -> None:
    with private_server() as server:
        _a_batch_completes_across_a_restart(server, caplog)


def _a_batch_completes_across_a_restart(server: PrivateServer, caplog: pytest.LogCaptureFixture) -> None:
    database_url = server.url
    batch = _make_batch(server, 10)
    finished: list[str] = []
    errors: list[BaseException] = []
    three_done = threading.Event()

    def worker() -> None:
        try:
            with SharedStore.connect(database_url, reconnect_policy=THROUGH_A_RESTART) as store:
                while (claim := store.claim_next(batch_id=batch.batch_id, owner=ME)) is not None:
                    time.sleep(0.2)  # the run works while the server goes away and comes back
                    store.heartbeat(claim)
                    store.finish_attempt(claim, result_for(claim))
                    finished.append(claim.run_id)
                    if len(finished) == 3:
                        three_done.set()
        except BaseException as exc:
            errors.append(exc)
            three_done.set()

    caplog.set_level(logging.WARNING, logger="parallel_runs")
    thread = threading.Thread(target=worker)
    thread.start()
    assert three_done.wait(60)
    server.restart()
    thread.join(120)
    assert errors == []
    assert sorted(finished) == sorted(batch.run_ids)
    with SharedStore.connect(database_url) as store:
        records = store.attempts(batch.batch_id)
    assert [(r.run_id, r.outcome) for r in records] == [
        (run_id, Outcome.SUCCEEDED) for run_id in batch.run_ids
    ]


def test_results_are_spooled_while_the_server_is_down_and_flushed_after(tmp_path: Path) -> None:
    with private_server() as server:
        _results_are_spooled_while_down_and_flushed_after(server, tmp_path)


def _results_are_spooled_while_down_and_flushed_after(server: PrivateServer, tmp_path: Path) -> None:
    database_url = server.url
    batch = _make_batch(server, 2)
    spool_dir = tmp_path / "spool"
    with SharedStore.connect(database_url, spool_dir=spool_dir, reconnect_policy=FAST_RECONNECTS) as store:
        kept = store.claim_next(batch_id=batch.batch_id, owner=ME, ttl=60)
        lost = store.claim_next(batch_id=batch.batch_id, owner=ME, ttl=1)
        assert kept is not None
        assert lost is not None
        server.stop()
        try:
            kept_path = store.finish_attempt(kept, result_for(kept, Outcome.SUCCEEDED))
            lost_path = store.finish_attempt(lost, result_for(lost, Outcome.FAILED, error="from the zombie"))
            assert kept_path is not None
            assert lost_path is not None
            assert kept_path.is_file()
            assert store.flush_spool() == SpoolReport(remaining=2)
        finally:
            server.start()
        time.sleep(1.2)  # `lost`'s lease expires meanwhile and a worker on another machine takes it over
        with SharedStore.connect(database_url, reconnect_policy=FAST_RECONNECTS) as elsewhere:
            taker = elsewhere.claim_run(batch_id=batch.batch_id, run_id=lost.run_id, owner=OTHER)
        assert taker is not None

        assert store.flush_spool() == SpoolReport(stored=1, rejected=1)
        assert store.flush_spool() == SpoolReport()
        records = {(r.run_id, r.attempt): r for r in store.attempts(batch.batch_id)}
    assert records[kept.run_id, kept.attempt].outcome is Outcome.SUCCEEDED
    assert records[lost.run_id, lost.attempt].outcome is Outcome.ABANDONED  # not the zombie's FAILED
    assert records[lost.run_id, taker.attempt].outcome is Outcome.RUNNING
    assert sorted(p.suffix for p in spool_dir.iterdir()) == [".rejected"]  # kept, never deleted
