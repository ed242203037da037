"""Faults an attack on the shared store found (issue #9), each kept as a regression test."""

from __future__ import annotations

import time
from collections.abc import Callable

from parallel_runs.core.model import Outcome
from parallel_runs.store import BatchDefinition, LeaseOwner, SharedStore, spool
from tests.integration.postgres.helpers import result_for

ME = LeaseOwner.here("thread-1")
MY_OTHER_THREAD = LeaseOwner.here("thread-2")


def test_a_spooled_result_is_written_before_a_claim_could_take_its_expired_lease_over(
    store: SharedStore, make_batch: Callable[..., BatchDefinition]
) -> None:
    batch = make_batch(1)
    claim = store.claim_next(batch_id=batch.batch_id, owner=ME, ttl=0.3)
    assert claim is not None
    # The attempt succeeded during an outage longer than the TTL: its result waits in the spool.
    assert store.spool_dir is not None
    spool.write_entry(store.spool_dir, claim=claim, result=result_for(claim, Outcome.SUCCEEDED))
    time.sleep(0.5)  # the lease has expired by the database's clock; nobody took the run over

    # Another thread of the same process claims next: it must replay the spool, not take over.
    assert store.claim_next(batch_id=batch.batch_id, owner=MY_OTHER_THREAD, ttl=30) is None

    [attempt] = store.run_attempts(claim.run_id)
    assert (attempt.attempt, attempt.outcome) == (1, Outcome.SUCCEEDED)
    assert [run.outcome for run in store.batch_runs(batch.batch_id)] == ["succeeded"]
    assert list(store.spool_dir.iterdir()) == []


def test_a_claim_never_takes_over_a_run_this_process_is_still_running(
    store: SharedStore, make_batch: Callable[..., BatchDefinition]
) -> None:
    batch = make_batch(1)
    claim = store.claim_next(batch_id=batch.batch_id, owner=ME, ttl=0.3)
    assert claim is not None
    time.sleep(0.5)  # paused past its TTL, but still running here
    mine = {claim.run_id}
    assert store.claim_next(batch_id=batch.batch_id, owner=MY_OTHER_THREAD, ttl=30, exclude=mine) is None
    assert store.finish_attempt(claim, result_for(claim, Outcome.SUCCEEDED)) is None  # still accepted
    [attempt] = store.run_attempts(claim.run_id)
    assert attempt.outcome is Outcome.SUCCEEDED
