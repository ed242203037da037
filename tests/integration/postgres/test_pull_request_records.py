"""The action records the pull requests it opened in the store its leg ran over (issue #21); a store it
cannot write is one warning's line, never a traceback: the pull requests are open all the same."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from parallel_runs.config.worker import WorkerSettings
from parallel_runs.core.layout import RunPaths
from parallel_runs.core.model import Attempt, Outcome, PullRequest
from parallel_runs.github.action.pulls import record_pull_requests
from parallel_runs.store import open_records
from parallel_runs.store.sqlite import RunStore

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
PULL = PullRequest(4, "https://github.example/o/r/pull/4")


def machine(tmp_path: Path, database_url: str | None) -> WorkerSettings:
    return WorkerSettings(
        batch_id="b",
        repo=tmp_path,
        runs_dir=tmp_path / "runs",
        workers=1,
        keep_worktrees=False,
        environ={},
        database_url=database_url,
    )


def attempt() -> Attempt:
    return Attempt(
        run_id="fixes",
        slug="fixes",
        batch_id="b",
        attempt=1,
        outcome=Outcome.SUCCEEDED,
        exit_code=0,
        started_at=T0,
        finished_at=T0,
        base_sha="a" * 40,
        head_sha="c" * 40,
        branch="parallel-runs/fixes",
        host="h",
        pid=1,
    )


def test_a_store_that_cannot_take_them_is_one_line(
    tmp_path: Path, scratch_database: Callable[[], str]
) -> None:
    unmigrated = scratch_database()  # no parallel-runs schema: nothing can be recorded there
    problem = record_pull_requests(machine(tmp_path, unmigrated), [(attempt(), PULL)])
    assert problem is not None
    assert problem.startswith("the pull requests are open but could not be recorded in the store: ")
    assert "has no parallel-runs schema" in problem
    assert "\n" not in problem
    assert "Traceback" not in problem


def test_a_runs_dir_records_them_in_the_runs_own_store(tmp_path: Path) -> None:
    with RunStore.open(RunPaths(tmp_path / "runs", "fixes").database) as store:
        store.finish_attempt(attempt())  # as the run's attempt ended
    assert record_pull_requests(machine(tmp_path, None), [(attempt(), PULL)]) is None
    with open_records(tmp_path / "runs") as records:
        assert [a.pull_request for a in records.run_attempts("fixes")] == [PULL]
