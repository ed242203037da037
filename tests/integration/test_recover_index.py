"""`recover`, at every `run` start, reads which runs finished from the runs dir's index, not from each
run's store (every run the runs dir ever had leaves a lock file); a store written since its index
line, or never indexed, is read from its file, and recovered as before."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from parallel_runs.core.layout import RunPaths
from parallel_runs.core.model import Outcome
from parallel_runs.maintenance import probing, recover
from parallel_runs.store import RunStore
from tests.helpers import cli, git
from tests.integration.test_maintenance import dead_holder, statuses


def test_recover_opens_only_the_stores_written_since_their_index_line(
    repo: Path, runs_dir: Path, markers: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    done = cli(
        "run", "--run-ids", "f1,f2,f3,again", "--runs-dir", str(runs_dir), "--batch-id", "earlier",
        "--command", "true", cwd=repo,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    # A later batch began another attempt of `again` and was killed: its store changed, its line not.
    paths = RunPaths(runs_dir, "again")
    with RunStore.open(paths.database, create=False) as store:
        store.begin_attempt(
            run_id="again",
            slug="again",
            batch_id="later",
            attempt=2,
            base_sha=git(repo, "rev-parse", "HEAD"),
            branch=paths.branch,
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=datetime.now(UTC),
        )
    markers.append("93.121")
    dead_holder(repo, runs_dir, "killed", "93.121")  # never indexed: its attempt only began
    opened: list[str] = []

    class CountingStore:
        @staticmethod
        def open(path: Path, **options: Any) -> RunStore:
            opened.append(path.parent.name)
            return RunStore.open(path, **options)

    monkeypatch.setattr(probing, "RunStore", CountingStore)
    report = recover(repo=repo, runs_dir=runs_dir)
    monkeypatch.undo()

    assert sorted(set(opened)) == ["again", "killed"]  # f1, f2 and f3 came from the index
    assert sorted(orphan.run_id for orphan in report.recovered) == ["again", "killed"]
    assert statuses(runs_dir, "again") == [(1, Outcome.SUCCEEDED), (2, Outcome.ABANDONED)]
    assert statuses(runs_dir, "killed") == [(1, Outcome.ABANDONED)]
    assert statuses(runs_dir, "f1") == [(1, Outcome.SUCCEEDED)]
