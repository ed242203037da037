"""Report rows read from the shared PostgreSQL store, one batch or all of them."""

from __future__ import annotations

from collections.abc import Callable

from parallel_runs.core.model import Outcome
from parallel_runs.report import RunRow, build_rows
from parallel_runs.store import BatchDefinition, LeaseOwner, SharedStore, open_records

ME = LeaseOwner.here("test")


def collect_shared_runs(url: str, *, batch_id: str | None = None) -> list[RunRow]:
    """What `report --database-url` shows: the shared store's records read back, one row per run."""
    with open_records(url) as records:
        return build_rows(records.attempts(batch_id), batch_id=batch_id)


def test_collect_shared_runs_reads_one_batch_or_every_batch(
    store: SharedStore, database_url: str, make_batch: Callable[..., BatchDefinition]
) -> None:
    batch, other = make_batch(2), make_batch(1)
    for _ in batch.run_ids:
        assert store.claim_next(batch_id=batch.batch_id, owner=ME) is not None
    assert store.claim_next(batch_id=other.batch_id, owner=ME) is not None

    rows = collect_shared_runs(database_url, batch_id=batch.batch_id)

    assert [(row.latest.run_id, row.latest.outcome, row.attempts) for row in rows] == [
        (run_id, Outcome.RUNNING, 1) for run_id in batch.run_ids
    ]
    every = {row.latest.run_id for row in collect_shared_runs(database_url)}
    assert every >= {*batch.run_ids, *other.run_ids}  # the session database holds other tests' runs too
