"""Claims, renewals and results asked by several threads at once share one transaction (P6).

Each test holds the first group's first statement until the other threads' calls are queued behind
it, so what forms the second group does not depend on how fast this machine schedules threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import delete, event

from parallel_runs.core.model import Outcome
from parallel_runs.errors import LeaseLostError, StoreError
from parallel_runs.store import (
    BatchDefinition,
    Claim,
    LeaseOwner,
    SharedStore,
    spool,
)
from parallel_runs.store.leases import ATTEMPTS
from tests.integration.postgres.helpers import result_for

ME = LeaseOwner.here("test")


class _Held:
    """The store's first statement waits for `release`; statements and commits are counted."""

    def __init__(self, store: SharedStore) -> None:
        self.store, self.commits, self.statements = store, 0, 0
        self.first_in, self.release = threading.Event(), threading.Event()

    def statement(self, *args: Any) -> None:
        self.statements += 1
        if not self.first_in.is_set():
            self.first_in.set()
            assert self.release.wait(60)

    def commit(self, *args: Any) -> None:
        self.commits += 1

    def queued(self, calls: int) -> None:
        """Wait until `calls` calls wait behind the held group (bounded: a failure, not a hang)."""
        deadline = time.monotonic() + 60
        while len(self.store._writes._waiting) < calls:
            assert time.monotonic() < deadline, "the calls never queued behind the group in flight"
            time.sleep(0.01)


@contextmanager
def _holding(store: SharedStore) -> Iterator[_Held]:
    held = _Held(store)
    event.listen(store._engine, "before_cursor_execute", held.statement)
    event.listen(store._engine, "commit", held.commit)
    try:
        yield held
    finally:
        held.release.set()
        event.remove(store._engine, "before_cursor_execute", held.statement)
        event.remove(store._engine, "commit", held.commit)


def _in_threads(calls: list[Callable[[], object]], held: _Held) -> list[object]:
    """Run the first call, then the others behind it; each call's result or error."""
    outcomes: list[object] = [None] * len(calls)

    def call(n: int) -> None:
        try:
            outcomes[n] = calls[n]()
        except Exception as exc:
            outcomes[n] = exc

    threads = [threading.Thread(target=call, args=(n,)) for n in range(len(calls))]
    threads[0].start()
    assert held.first_in.wait(60)
    for thread in threads[1:]:
        thread.start()
    held.queued(len(calls) - 1)
    held.release.set()
    for thread in threads:
        thread.join(60)
    return outcomes


def test_claims_asked_while_one_is_in_flight_share_the_next_transaction(
    store: SharedStore, make_batch: Callable[..., BatchDefinition]
) -> None:
    batch = make_batch(8)
    owners = [LeaseOwner.here(f"w{n}") for n in range(8)]
    with _holding(store) as held:
        claims = _in_threads(
            [lambda owner=owner: store.claim_next(batch_id=batch.batch_id, owner=owner) for owner in owners],
            held,
        )
    assert held.commits == 2  # the held claim's, then one for the seven queued behind it
    # One statement a group: lock the candidates and take them all (seven claims alone: 7, and 7 commits).
    assert held.statements == 2
    assert all(isinstance(claim, Claim) for claim in claims)
    assert sorted(claim.run_id for claim in claims) == sorted(batch.run_ids)  # type: ignore[union-attr]
    rows = {run.run_id: run for run in store.batch_runs(batch.batch_id)}
    for claim, owner in zip(claims, owners, strict=True):
        assert claim.owner == owner  # type: ignore[union-attr]
        assert rows[claim.run_id].owner_worker == owner.worker_id  # type: ignore[union-attr]


def test_a_write_that_fails_costs_the_others_in_its_group_nothing(
    store: SharedStore, make_batch: Callable[..., BatchDefinition]
) -> None:
    batch = make_batch(4)
    first, good, refused, renewed = (store.claim_next(batch_id=batch.batch_id, owner=ME) for _ in range(4))
    assert first
    assert good
    assert refused
    assert renewed
    stale = replace(renewed, fencing_token=renewed.fencing_token - 1)
    with _holding(store) as held:
        outcomes = _in_threads(
            [
                lambda: store.finish_attempt(first, result_for(first)),
                lambda: store.finish_attempt(good, result_for(good)),
                # A commit id too long for its column: the statement is refused, and the transaction.
                lambda: store.finish_attempt(refused, result_for(refused, head_sha="c" * 65)),
                lambda: store.heartbeat(stale),  # an error that leaves the transaction whole
                lambda: store.heartbeat(renewed),
            ],
            held,
        )
    assert outcomes[:2] == [None, None]
    assert isinstance(outcomes[2], Exception)
    assert not isinstance(outcomes[2], LeaseLostError)
    assert isinstance(outcomes[3], LeaseLostError)
    assert isinstance(outcomes[4], Claim)
    assert outcomes[4].expires_at >= renewed.expires_at
    states = {run.run_id: (run.state, run.outcome) for run in store.batch_runs(batch.batch_id)}
    assert states[first.run_id] == states[good.run_id] == ("finished", "succeeded")
    assert states[refused.run_id] == ("claimed", "running")  # not recorded, and its caller was told


def test_a_result_recorded_already_is_recorded_not_refused_when_done_again(
    store: SharedStore, make_batch: Callable[..., BatchDefinition]
) -> None:
    # A group retried after its commit's acknowledgement was lost does every write again; an
    # abandoned result has moved the token on by then, yet it is this claim's own, not a stale one.
    batch = make_batch(1)
    claim = store.claim_next(batch_id=batch.batch_id, owner=ME)
    assert claim
    abandoned = result_for(claim, Outcome.ABANDONED, error="killed: the lease lapsed")
    assert store.finish_attempt(claim, abandoned) is None
    assert store.finish_attempt(claim, abandoned) is None  # done again: the same, no error
    with pytest.raises(LeaseLostError):  # another result under the stale token is still refused
        store.finish_attempt(claim, replace(abandoned, error="a zombie's"))
    [run] = store.batch_runs(batch.batch_id)
    assert (run.state, run.fencing_token) == ("pending", claim.fencing_token + 1)
    [attempt] = store.attempts(batch.batch_id)
    assert (attempt.outcome, attempt.error) == (Outcome.ABANDONED, "killed: the lease lapsed")


def test_claims_of_one_group_replaying_one_spooled_result_keep_no_false_refusal(
    store: SharedStore, make_batch: Callable[..., BatchDefinition], caplog: pytest.LogCaptureFixture
) -> None:
    # Every claim replays the spool in its transaction: two claims of one group replay one entry twice.
    batch = make_batch(3)
    spooled, renewed = (store.claim_next(batch_id=batch.batch_id, owner=ME) for _ in range(2))
    assert spooled
    assert renewed
    assert store.spool_dir
    entry = spool.write_entry(
        store.spool_dir, claim=spooled, result=result_for(spooled, Outcome.ABANDONED, error="killed")
    )
    owners = [LeaseOwner.here(f"w{n}") for n in range(2)]
    with caplog.at_level(logging.WARNING), _holding(store) as held:
        outcomes = _in_threads(
            [
                lambda: store.heartbeat(renewed),  # held first, alone: the claims queue behind it
                *(lambda o=o: store.claim_next(batch_id=batch.batch_id, owner=o) for o in owners),
            ],
            held,
        )
    assert all(isinstance(outcome, Claim) for outcome in outcomes)
    assert "refused" not in caplog.text
    assert not entry.exists()
    assert list(store.spool_dir.iterdir()) == []  # written, so deleted: nothing set aside as refused
    attempts = {(a.run_id, a.attempt): a.outcome for a in store.attempts(batch.batch_id)}
    assert attempts[spooled.run_id, spooled.attempt] is Outcome.ABANDONED


def test_a_write_that_fails_after_changing_rows_leaves_nothing_behind_alone_or_grouped(
    store: SharedStore, make_batch: Callable[..., BatchDefinition]
) -> None:
    # A finish whose attempt row is gone finishes the lease, then finds no attempt to record: its
    # StoreError must take the lease's change with it, whether it is done alone or in a group.
    batch = make_batch(4)
    first, orphan, good, alone = (store.claim_next(batch_id=batch.batch_id, owner=ME) for _ in range(4))
    assert first
    assert orphan
    assert good
    assert alone
    with store._engine.begin() as conn:
        conn.execute(delete(ATTEMPTS).where(ATTEMPTS.c.run_id.in_([orphan.run_id, alone.run_id])))
    with pytest.raises(StoreError, match="no record to finish"):
        store.finish_attempt(alone, result_for(alone))
    with _holding(store) as held:
        outcomes = _in_threads(
            [
                lambda: store.heartbeat(first),
                lambda: store.finish_attempt(orphan, result_for(orphan)),
                lambda: store.finish_attempt(good, result_for(good)),
            ],
            held,
        )
    assert isinstance(outcomes[1], StoreError)
    assert "no record to finish" in str(outcomes[1])
    assert outcomes[2] is None
    states = {run.run_id: (run.state, run.outcome) for run in store.batch_runs(batch.batch_id)}
    assert states[orphan.run_id] == states[alone.run_id] == ("claimed", "running")
    assert states[good.run_id] == ("finished", "succeeded")


def test_a_result_whose_output_holds_a_nul_byte_is_recorded(
    store: SharedStore, make_batch: Callable[..., BatchDefinition]
) -> None:
    # A command may print anything; PostgreSQL's text cannot hold NUL, and the driver refused the
    # whole result (a ValueError: the run's result never reached the store).
    batch = make_batch(1)
    claim = store.claim_next(batch_id=batch.batch_id, owner=ME)
    assert claim
    result = result_for(claim, Outcome.FAILED, error="exit 1\0", error_tail="bin\0ary\nlast line")
    assert store.finish_attempt(claim, result) is None
    [attempt] = store.attempts(batch.batch_id)
    assert (attempt.outcome, attempt.error, attempt.error_tail) == (
        Outcome.FAILED,
        "exit 1\ufffd",
        "bin\ufffdary\nlast line",
    )
