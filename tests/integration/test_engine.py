"""The batch engine's scenarios against the in-memory store, as a private and as a shared queue.

Commands and worktrees are real (bash, git); only the records live in memory, so each scenario
takes a fraction of a second. The CLI tests prove the same rules hold with the real stores.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from parallel_runs import batch as engine
from parallel_runs.batch import BatchResult, HeldRun, RunError, RunSummary, SkippedRun
from parallel_runs.config import BatchToQueue, WorkerSettings
from parallel_runs.core.batch import BatchRequest
from parallel_runs.core.command import CommandSpec
from parallel_runs.core.layout import RunPaths
from parallel_runs.core.model import Outcome
from parallel_runs.locks import hold_run
from parallel_runs.store import Claim, MemoryStore
from tests.helpers import git, wait_for

QUEUES = pytest.mark.parametrize("shared", [False, True], ids=["private-queue", "shared-queue"])


def settings_for(repo: Path, run_ids: tuple[str, ...], command: str, **overrides: Any) -> BatchToQueue:
    machine_keys = {"workers", "lease_ttl", "batch_id"}
    machine = WorkerSettings(
        batch_id=overrides.pop("batch_id", "b1"),
        repo=repo,
        runs_dir=repo / ".autonomous_runs",
        workers=overrides.pop("workers", 2),
        keep_worktrees=False,
        environ=dict(os.environ),
        lease_ttl=overrides.pop("lease_ttl", 30.0),
    )
    assert not machine_keys & overrides.keys()
    fields: dict[str, Any] = {"timeout": None, "grace": 1.0, "base_ref": "HEAD"} | overrides
    request = BatchRequest(
        batch_id=machine.batch_id, run_ids=run_ids, command=CommandSpec(shell=command), **fields
    )
    return BatchToQueue(request=request, machine=machine)


def run(
    store: MemoryStore, settings: BatchToQueue, control: engine.BatchControl | None = None
) -> BatchResult:
    return engine.run(
        settings.request, settings.machine, control or engine.BatchControl(grace=1.0), store=store
    )


def ends_by_run(result: BatchResult) -> dict[str, engine.RunEnd]:
    return {end.run_id: end for end in result.ends}


@QUEUES
def test_a_failed_attempt_is_retried_until_one_succeeds(repo: Path, shared: bool) -> None:
    store = MemoryStore(shares_queue=shared)
    command = 'echo "attempt $PARALLEL_RUNS_ATTEMPT" > out.txt; test "$PARALLEL_RUNS_ATTEMPT" -ge 2'
    result = run(store, settings_for(repo, ("r1",), command, retries=3))
    [end] = result.ends
    assert isinstance(end, RunSummary)
    assert [a.outcome for a in end.attempts] == [Outcome.FAILED, Outcome.SUCCEEDED]
    assert [a.attempt for a in end.attempts] == [1, 2]
    assert result.exit_code == 0
    latest = store.latest("r1")
    assert latest is not None
    assert (latest.attempt, latest.outcome) == (2, Outcome.SUCCEEDED)


@QUEUES
def test_the_retry_delay_separates_attempts(repo: Path, shared: bool) -> None:
    store = MemoryStore(shares_queue=shared)
    result = run(store, settings_for(repo, ("r1",), "false", retries=1, retry_delay=0.6))
    [end] = result.ends
    assert isinstance(end, RunSummary)
    first, second = end.attempts
    assert first.finished_at is not None
    assert (second.started_at - first.finished_at).total_seconds() >= 0.6
    assert result.exit_code == 1


@QUEUES
def test_the_budget_cancels_the_running_run_and_starts_nothing_else(repo: Path, shared: bool) -> None:
    store = MemoryStore(shares_queue=shared)
    settings = settings_for(repo, ("m1", "m2", "m3"), "sleep 60", workers=1, max_batch_time=0.8, grace=0.5)
    began = time.monotonic()
    result = run(store, settings)
    assert time.monotonic() - began < 30  # a tenfold margin: the budget, not the command's end
    outcomes = {run_id: engine.outcome_of(end) for run_id, end in ends_by_run(result).items()}
    assert outcomes == {"m1": Outcome.CANCELLED, "m2": Outcome.NOT_STARTED, "m3": Outcome.NOT_STARTED}
    assert (result.stop_reason, result.exit_code) == ("budget", 1)


@QUEUES
def test_an_interrupt_cancels_what_runs_and_settles_only_a_private_queue(
    repo: Path, tmp_path: Path, shared: bool
) -> None:
    store = MemoryStore(shares_queue=shared)
    started = tmp_path / "started"
    control = engine.BatchControl(grace=0.5)
    settings = settings_for(repo, ("a", "b", "c"), f"touch {started}; sleep 5", workers=1)
    stopper = threading.Thread(
        target=lambda: (wait_for(started.exists, what="a run"), control.request_stop("x"))
    )
    stopper.start()
    result = run(store, settings, control)
    stopper.join()
    outcomes = {run_id: engine.outcome_of(end) for run_id, end in ends_by_run(result).items()}
    assert outcomes["a"] is Outcome.CANCELLED
    if shared:  # the other workers of a shared queue take the rest
        assert set(outcomes) == {"a"}
        assert not store.is_batch_finished("b1")
    else:
        assert outcomes == {"a": Outcome.CANCELLED, "b": Outcome.NOT_STARTED, "c": Outcome.NOT_STARTED}


@QUEUES
def test_resume_rules_skip_a_succeeded_run_in_a_later_batch_unless_redo(repo: Path, shared: bool) -> None:
    store = MemoryStore(shares_queue=shared)
    assert run(store, settings_for(repo, ("ok",), "true", batch_id="b1")).exit_code == 0
    again = run(store, settings_for(repo, ("ok", "new"), "true", batch_id="b2", only_failed=True))
    ends = ends_by_run(again)
    assert isinstance(ends["ok"], SkippedRun)
    assert "already succeeded" in ends["ok"].reason
    assert isinstance(ends["new"], SkippedRun)
    assert "never ran" in ends["new"].reason
    redone = run(store, settings_for(repo, ("ok",), "true", batch_id="b3", redo=True))
    [end] = redone.ends
    assert isinstance(end, RunSummary)
    assert end.final.attempt == 2


@QUEUES
def test_a_run_held_by_a_live_process_here_is_held(repo: Path, shared: bool) -> None:
    store = MemoryStore(shares_queue=shared)
    with hold_run(RunPaths(repo / ".autonomous_runs", "busy"), run_id="busy"):
        result = run(store, settings_for(repo, ("busy", "free"), "true"))
    ends = ends_by_run(result)
    assert isinstance(ends["busy"], HeldRun)
    assert engine.outcome_of(ends["free"]) is Outcome.SUCCEEDED
    assert result.exit_code == 75


@QUEUES
def test_a_leftover_that_cannot_be_saved_fails_its_run_at_once(repo: Path, shared: bool) -> None:
    # A shared queue handed such a run out again at every lease expiry: the batch never ended.
    leftover = repo / ".autonomous_runs" / "workspaces" / "stuck"
    leftover.mkdir(parents=True)
    (leftover / "notes.txt").write_text("not a worktree, not ours to delete")
    store, control = MemoryStore(shares_queue=shared), engine.BatchControl(grace=1.0)
    budget = threading.Timer(60.0, control.request_stop, args=("budget",))
    budget.start()
    began = time.monotonic()
    result = run(store, settings_for(repo, ("stuck", "fine"), "true", lease_ttl=5.0, workers=1), control)
    budget.cancel()
    assert time.monotonic() - began < 30  # well before the 60 s stop: the batch ended by itself
    assert isinstance(ends_by_run(result)["stuck"], RunError)
    assert engine.outcome_of(ends_by_run(result)["fine"]) is Outcome.SUCCEEDED
    latest = store.latest("stuck")
    assert latest is not None
    assert latest.outcome is Outcome.FAILED
    assert "leftover worktree could not be saved: refusing to remove" in (latest.error or "")
    assert (leftover / "notes.txt").read_text() == "not a worktree, not ours to delete"
    assert result.exit_code == 1


def test_a_lost_lease_stops_the_command_and_its_result_is_refused(repo: Path, tmp_path: Path) -> None:
    store = MemoryStore(shares_queue=True)
    started = tmp_path / "started"
    settings = settings_for(repo, ("r",), f"touch {started}; sleep 60", lease_ttl=0.3)
    thief = threading.Thread(target=lambda: (wait_for(started.exists, what="the run"), store.take_over("r")))
    thief.start()
    began = time.monotonic()
    result = run(store, settings)
    thief.join()
    assert time.monotonic() - began < 30  # stopped by the lost lease, not by the 60 s command's end
    [end] = result.ends
    assert isinstance(end, RunError)
    assert "lease has moved on" in end.message
    latest = store.latest("r")
    assert latest is not None
    assert latest.outcome is Outcome.RUNNING  # the refused result changed nothing
    # What stays here says what the store says: superseded, not the command's outcome.
    result = json.loads((repo / ".autonomous_runs" / "r" / "result.json").read_text())
    assert (result["status"], result["command_status"]) == ("abandoned", "failed")
    assert "lease has moved on" in result["superseded"]
    assert git(repo, "log", "-1", "--format=%s", "parallel-runs/r") == "parallel-runs: r attempt 1 superseded"


def test_a_worker_works_a_batch_queued_by_another(repo: Path) -> None:
    store = MemoryStore(shares_queue=True)
    settings = settings_for(repo, ("w1", "w2"), "true", retries=0)
    queued = run(store, settings, _stopped())
    assert queued.ends == ()  # stopped before claiming anything: the queue stays for workers
    result = engine.run(None, settings.machine, engine.BatchControl(grace=1.0), store=store)
    assert sorted(engine.outcome_of(end) for end in result.ends) == [Outcome.SUCCEEDED] * 2


def _stopped() -> engine.BatchControl:
    control = engine.BatchControl(grace=1.0)
    control.request_stop("interrupted")
    return control


class _TakeoverStore(MemoryStore):
    """Every claim takes over an expired attempt 1, as a claim after a lapsed lease does."""

    def claim_next(self, **kwargs: Any) -> Claim | None:
        claim = super().claim_next(**kwargs)
        return None if claim is None else dataclasses.replace(claim, abandoned_attempt=1)


def test_a_takeover_waits_for_the_lapsed_attempt_still_running_here_instead_of_closing_it_held(
    repo: Path,
) -> None:
    store = _TakeoverStore(shares_queue=True)
    paths = RunPaths(repo / ".autonomous_runs", "paused")
    old_holder = hold_run(paths, run_id="paused")
    old_holder.__enter__()  # the lapsed attempt, still alive on this machine
    releaser = threading.Timer(1.0, old_holder.__exit__, args=(None, None, None))
    releaser.start()
    result = run(store, settings_for(repo, ("paused",), "true"))
    releaser.join()
    [end] = result.ends
    assert isinstance(end, RunSummary), end
    assert end.final.outcome is Outcome.SUCCEEDED
    assert result.exit_code == 0
