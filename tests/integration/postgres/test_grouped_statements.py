"""The statements a group of claims and results costs (P6): one for a group's claims, one for a
batch's results, and a new batch analyzed so that each finds its rows through the primary key.

Each test holds the first group's first statement until the other calls are queued behind it
(test_grouped_writes.py), so what forms the second group does not depend on the machine's speed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import text

from parallel_runs.core.model import Outcome
from parallel_runs.store import BatchDefinition, Claim, LeaseOwner, SharedStore
from tests.helpers import wait_for
from tests.integration.postgres.helpers import result_for
from tests.integration.postgres.test_grouped_writes import ME, _holding, _in_threads


def test_a_group_s_claims_search_past_a_run_another_batch_runs(
    store: SharedStore, make_batch: Callable[..., BatchDefinition]
) -> None:
    elsewhere = make_batch(1)
    [live] = elsewhere.run_ids
    past = [f"{live}-past-{n}" for n in (1, 2)]
    batch = make_batch(3, run_ids=(live, *past))  # its first run is live in the other batch
    held_claim = store.claim_next(batch_id=elsewhere.batch_id, owner=ME)
    assert held_claim
    owners = [LeaseOwner.here(f"w{n}") for n in range(2)]
    with _holding(store) as held:
        claims = _in_threads(
            [
                lambda: store.heartbeat(held_claim),
                *(lambda o=o: store.claim_next(batch_id=batch.batch_id, owner=o) for o in owners),
            ],
            held,
        )
    # Both claims find a run: the search locked the run live elsewhere and one of the others, the take
    # refused the first, and the next round searched past it: all in the group's one call.
    assert sorted(claim.run_id for claim in claims[1:]) == past  # type: ignore[union-attr]
    assert held.statements == 1 + 1
    states = {run.run_id: run.state for run in store.batch_runs(batch.batch_id)}
    assert states == {live: "pending", past[0]: "claimed", past[1]: "claimed"}


def test_a_new_batch_is_analyzed_at_once_so_its_lookups_use_the_primary_key(
    store: SharedStore, make_batch: Callable[..., BatchDefinition]
) -> None:
    # Without the statistics of a new batch's runs, the planner read the whole batch for each
    # claim and result it looked up, until autovacuum analyzed the table (P6).
    with store._engine.connect() as conn:
        before = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
    make_batch(50)

    def analyzed_since() -> bool:
        with store._engine.connect() as conn:
            at = conn.execute(
                text("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'batch_runs'")
            ).scalar_one()
        return at is not None and at >= before

    wait_for(analyzed_since, timeout=30, what="a manual ANALYZE of batch_runs")  # statistics flush late


def test_a_batch_is_created_without_waiting_for_a_lock_that_analyzing_would_wait_for(
    store: SharedStore, make_batch: Callable[..., BatchDefinition]
) -> None:
    # A manual VACUUM, an anti-wraparound autovacuum or another batch's creation holds this lock.
    created = threading.Event()
    with store._engine.connect() as holder:
        holder.execute(text("LOCK TABLE batch_runs IN SHARE UPDATE EXCLUSIVE MODE"))
        creating = threading.Thread(target=lambda: (make_batch(3), created.set()), daemon=True)
        creating.start()
        created_while_locked = created.wait(60)
        holder.rollback()  # releases the lock: a creation that waited for it ends now
    creating.join(60)
    assert created_while_locked


def test_results_asked_at_once_are_recorded_in_one_statement_a_batch(
    store: SharedStore, make_batch: Callable[..., BatchDefinition]
) -> None:
    first, other = make_batch(4), make_batch(2)
    held_claim, *mine = (store.claim_next(batch_id=first.batch_id, owner=ME) for _ in range(4))
    theirs = [store.claim_next(batch_id=other.batch_id, owner=ME) for _ in range(2)]
    assert held_claim
    results = [(claim, result_for(claim)) for claim in [*mine, *theirs] if claim]
    assert len(results) == 5
    with _holding(store) as held:
        outcomes = _in_threads(
            [
                lambda: store.heartbeat(held_claim),
                *(
                    lambda claim=claim, result=result: store.finish_attempt(claim, result)
                    for claim, result in results
                ),
                # The same result again in the same group (a retried call): recorded once, not refused.
                lambda: store.finish_attempt(results[1][0], results[1][1]),
            ],
            held,
        )
    assert isinstance(outcomes[0], Claim)
    assert outcomes[1:] == [None] * 6
    # The heartbeat, then one statement for each batch's results, and one for the result done again.
    assert held.statements == 4
    assert held.commits == 2
    for batch in (first, other):
        for run in store.batch_runs(batch.batch_id):
            expected = (
                ("claimed", "running") if run.run_id == held_claim.run_id else ("finished", "succeeded")
            )
            assert (run.state, run.outcome) == expected
    recorded = [a for batch in (first, other) for a in store.attempts(batch.batch_id)]
    assert sorted((a.run_id, a.outcome) for a in recorded if a.run_id != held_claim.run_id) == sorted(
        (claim.run_id, Outcome.SUCCEEDED) for claim, _ in results
    )
