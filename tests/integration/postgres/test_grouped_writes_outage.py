"""Grouped writes when the database is lost while a failed group's writes are done again alone."""

from __future__ import annotations

import logging
import secrets
import threading
from pathlib import Path

import pytest
from sqlalchemy import event

from parallel_runs.core.command import CommandSpec
from parallel_runs.core.model import Outcome
from parallel_runs.errors import StoreError
from parallel_runs.store import BatchDefinition, Claim, LeaseOwner, SharedStore, SpoolReport, UnavailableError
from tests.integration.postgres.helpers import FAST_RECONNECTS, result_for
from tests.integration.postgres.private_server import PrivateServer, private_server
from tests.integration.postgres.test_grouped_writes import ME, _holding, _in_threads


@pytest.mark.slow
def test_once_the_database_is_lost_in_a_failed_groups_writes_alone_the_rest_are_told_at_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with private_server() as server, caplog.at_level(logging.WARNING):
        _lost_during_writes_alone(server, tmp_path, caplog)


def _lost_during_writes_alone(
    server: PrivateServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    prefix = secrets.token_hex(4)
    definition = BatchDefinition(
        batch_id=f"batch-{prefix}",
        run_ids=tuple(f"run-{prefix}-{n:03d}" for n in range(5)),  # one left to claim
        command=CommandSpec(argv=("true",)),
        base_sha="a" * 40,
    )
    spool_dir = tmp_path / "spool"
    with SharedStore.connect(server.url, spool_dir=spool_dir, reconnect_policy=FAST_RECONNECTS) as store:
        batch = store.create_batch(definition)
        first, kept, also_kept, renewed = (
            store.claim_next(batch_id=batch.batch_id, owner=ME) for _ in range(4)
        )
        assert first
        assert kept
        assert also_kept
        assert renewed
        failed, stopped = threading.Event(), threading.Event()

        def stop_once_failed(*args: object) -> None:
            if failed.is_set() and not stopped.is_set():
                stopped.set()
                server.stop()

        # The group fails (a host name too long for its column), and the server is gone by the time
        # its writes are done again alone.
        event.listen(store._engine, "handle_error", lambda context: failed.set())
        event.listen(store._engine, "checkin", stop_once_failed)
        with _holding(store) as held:
            outcomes = _in_threads(
                [
                    lambda: store.heartbeat(first),
                    lambda: store.claim_next(batch_id=batch.batch_id, owner=LeaseOwner("h" * 300, 1, "w")),
                    lambda: store.finish_attempt(kept, result_for(kept)),
                    lambda: store.finish_attempt(also_kept, result_for(also_kept)),
                    lambda: store.heartbeat(renewed),
                ],
                held,
            )
        assert stopped.is_set()
        server.start()
        assert isinstance(outcomes[0], Claim)
        assert isinstance(outcomes[1], StoreError)  # refused, or told the database is lost
        assert isinstance(outcomes[2], Path)  # spooled: the database was lost, the result is kept
        assert isinstance(outcomes[3], Path)
        assert isinstance(outcomes[4], UnavailableError)
        # Only the first write alone waited through the retries; on main every one of them did.
        retried = [r for r in caplog.records if r.name == "parallel_runs.store.database"]
        assert len(retried) == FAST_RECONNECTS.tries - 1, [r.getMessage() for r in retried]
        assert store.flush_spool() == SpoolReport(stored=2)
        recorded = {a.run_id: a.outcome for a in store.attempts(batch.batch_id)}
    assert recorded[kept.run_id] is recorded[also_kept.run_id] is Outcome.SUCCEEDED
