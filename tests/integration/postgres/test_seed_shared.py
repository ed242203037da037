"""The seed's ParallelRunSupervisor given a PostgreSQL URL records into the shared store."""

from __future__ import annotations

import secrets
from pathlib import Path

from parallel_runs import ParallelRunSupervisor
from parallel_runs.core.ids import slugify
from parallel_runs.core.model import Outcome
from parallel_runs.store import SharedStore
from tests.helpers import git


def test_the_seed_supervisor_records_into_the_shared_store(repo: Path, database_url: str) -> None:
    run_id = f"seed-{secrets.token_hex(3)}"
    supervisor = ParallelRunSupervisor(repo, database_url, command="echo hi > hi.txt")

    results = supervisor.execute_parallel([run_id], max_workers=1)

    assert results[run_id]["success"] is True
    with SharedStore.connect(database_url) as store:
        recorded = [(a.attempt, a.outcome) for a in store.attempts() if a.run_id == run_id]
    assert recorded == [(1, Outcome.SUCCEEDED)]
    slug = slugify(run_id)
    assert git(repo, "show", f"parallel-runs/{slug}:hi.txt") == "hi"
    assert not (supervisor.autonomous_runs_dir / slug / f"{slug}.db").exists()  # not the local store
