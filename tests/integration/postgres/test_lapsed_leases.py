"""Issue #16 items 1-2 on the store side: a lapsed claim in another batch is fenced when its run is
taken over, a lease that ran out while the database was down counts from its restart, an abandoned
attempt's run goes back to the queue, and a spooled result is replayed without being asked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from parallel_runs.core.command import CommandSpec
from parallel_runs.core.model import Outcome
from parallel_runs.errors import LeaseLostError
from parallel_runs.store import BatchDefinition, LeaseOwner, SharedStore
from tests.helpers import wait_for
from tests.integration.postgres.helpers import FAST_RECONNECTS, result_for
from tests.integration.postgres.private_server import private_server

ME = LeaseOwner(host="this-host", pid=1, worker_id="w1")
OTHER = LeaseOwner(host="other-host", pid=2, worker_id="w2")


def test_a_takeover_in_another_batch_fences_the_lapsed_claim(
    store: SharedStore, make_batch: Callable[..., BatchDefinition]
) -> None:
    first = make_batch(1)
    second = make_batch(1, run_ids=first.run_ids, batch_id=first.batch_id + "-b2")
    [run_id] = first.run_ids
    old = store.claim_run(batch_id=first.batch_id, run_id=run_id, owner=ME, ttl=0.3)
    assert old is not None
    taken: list[object] = []
    wait_for(
        lambda: bool(
            taken.append(store.claim_next(batch_id=second.batch_id, owner=OTHER, ttl=30)) or taken[-1]
        ),
        what="the lapsed lease to be taken in the other batch",
    )
    # The old holder (frozen past its TTL, or cut off) can neither renew nor record any more.
    with pytest.raises(LeaseLostError, match="lease has moved on"):
        store.heartbeat(old)
    with pytest.raises(LeaseLostError):
        store.finish_attempt(old, result_for(old))
    [abandoned, running] = [attempt for attempt in store.attempts() if attempt.run_id == run_id]
    assert (abandoned.outcome, running.outcome) == (Outcome.ABANDONED, Outcome.RUNNING)
    # Its batch gets the run back, to claim once the other batch is done with it.
    [run] = store.batch_runs(first.batch_id)
    assert (run.state, run.outcome) == ("pending", "abandoned")
    assert store.claim_next(batch_id=first.batch_id, owner=ME) is None


def test_a_lease_that_ran_out_while_the_database_was_down_counts_from_its_restart(
    store: SharedStore, make_batch: Callable[..., BatchDefinition], database_url: str
) -> None:
    batch = make_batch(1)
    [run_id] = batch.run_ids
    held = store.claim_run(batch_id=batch.batch_id, run_id=run_id, owner=ME, ttl=0.3)
    assert held is not None
    # As if the server had started 1 s before the lease's TTL ended: its TTL is stretched so that
    # pg_postmaster_start_time() + TTL lies 1 s ahead, while expires_at itself has passed.
    engine = create_engine(make_url(database_url).set(drivername="postgresql+psycopg2"))
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE batch_runs SET expires_at = clock_timestamp() - interval '1 second', "
                "heartbeat_at = clock_timestamp() - interval '1 second' "
                "- (clock_timestamp() - pg_postmaster_start_time() + interval '1 second') "
                "WHERE batch_id = :b AND run_id = :r"
            ),
            {"b": batch.batch_id, "r": run_id},
        )
    engine.dispose()
    assert store.claim_next(batch_id=batch.batch_id, owner=OTHER, ttl=30) is None
    store.heartbeat(held)  # the holder is back in time: its lease goes on
    wait_for(lambda: _lapsed(store, batch.batch_id), what="the lease to lapse")
    assert store.claim_next(batch_id=batch.batch_id, owner=OTHER, ttl=30) is not None


def _lapsed(store: SharedStore, batch_id: str) -> bool:
    [run] = store.batch_runs(batch_id)
    return run.expires_at is not None and run.expires_at < store.now()


def test_an_abandoned_attempt_puts_its_run_back_in_the_queue(
    store: SharedStore, make_batch: Callable[..., BatchDefinition]
) -> None:
    batch = make_batch(1)
    held = store.claim_next(batch_id=batch.batch_id, owner=ME)
    assert held is not None
    # Its shim killed the command at the deadline (an outage): not the run's end.
    store.finish_attempt(held, result_for(held, Outcome.ABANDONED, exit_code=137))
    [run] = store.batch_runs(batch.batch_id)
    assert (run.state, run.outcome) == ("pending", "abandoned")
    with pytest.raises(LeaseLostError):  # the old claim can write no more
        store.heartbeat(held)
    again = store.claim_next(batch_id=batch.batch_id, owner=OTHER)
    assert again is not None
    assert again.attempt == held.attempt + 1


def test_a_result_spooled_in_an_outage_is_replayed_soon_after_the_restart(tmp_path: Path) -> None:
    with (
        private_server() as server,
        SharedStore.connect(
            server.url, spool_dir=tmp_path / "spool", reconnect_policy=FAST_RECONNECTS
        ) as store,
    ):
        command = CommandSpec(argv=("true",))
        store.create_batch(BatchDefinition(batch_id="b", run_ids=("r",), command=command, base_sha="a" * 40))
        held = store.claim_next(batch_id="b", owner=ME, ttl=1.5)
        assert held is not None
        server.stop()
        spooled = store.finish_attempt(held, result_for(held))
        assert spooled is not None
        server.start()
        # Nobody calls flush_spool: the store replays it by itself, before the lease can be taken.
        wait_for(lambda: not spooled.exists(), what="the spooled result to be replayed")
        [attempt] = store.attempts("b")
        assert attempt.outcome is Outcome.SUCCEEDED
