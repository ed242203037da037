"""A transaction done again after its commit landed but its acknowledgement was lost (the store's
retry after a dropped connection): a claim is found by its key, never taken twice or lost."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from parallel_runs.core.model import Outcome
from parallel_runs.store import BatchDefinition, LeaseOwner, SharedStore
from parallel_runs.store import shared as shared_module
from tests.integration.postgres.helpers import result_for

ME = LeaseOwner.here("test")


def _every_commit_acknowledgement_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each transaction commits, then is done again as if its acknowledgement had been lost."""
    real_retry = shared_module.retry

    def commit_then_retry(fn: Callable[[], Any], **kwargs: Any) -> Any:
        real_retry(fn, **kwargs)  # committed; pretend its acknowledgement was lost
        return real_retry(fn, **kwargs)

    monkeypatch.setattr(shared_module, "retry", commit_then_retry)


def test_a_retry_after_a_lost_commit_acknowledgement_does_not_claim_twice(
    store: SharedStore, make_batch: Callable[..., BatchDefinition], monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = make_batch(3)
    _every_commit_acknowledgement_lost(monkeypatch)
    claim = store.claim_next(batch_id=batch.batch_id, owner=ME)
    assert claim is not None
    assert store.finish_attempt(claim, result_for(claim)) is None
    monkeypatch.undo()
    states = {run.run_id: run.state for run in store.batch_runs(batch.batch_id)}
    assert states == {batch.run_ids[0]: "finished", batch.run_ids[1]: "pending", batch.run_ids[2]: "pending"}


def test_a_retried_run_whose_commit_acknowledgement_was_lost_gets_the_claim_it_took(
    store: SharedStore, make_batch: Callable[..., BatchDefinition], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Done again, the run is claimed by now and nothing is requeued: without the key's lookup, the
    # claim came back None and the run sat claimed by nobody until its lease lapsed.
    batch = make_batch(1)
    claim = store.claim_next(batch_id=batch.batch_id, owner=ME)
    assert claim is not None
    store.finish_attempt(claim, result_for(claim, Outcome.FAILED))
    _every_commit_acknowledgement_lost(monkeypatch)
    again = store.retry(claim)
    monkeypatch.undo()
    assert again is not None
    assert again.attempt == claim.attempt + 1
    [run] = store.batch_runs(batch.batch_id)
    assert (run.state, run.fencing_token) == ("claimed", again.fencing_token)
