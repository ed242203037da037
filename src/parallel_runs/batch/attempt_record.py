"""What an attempt ends with: what its save did, the `Attempt` recorded of it, its worktree put away."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from parallel_runs import git
from parallel_runs.batch.run_files import count_patch_files, write_patch_again
from parallel_runs.core.layout import RunPaths
from parallel_runs.core.model import Attempt, Outcome, TestSummary
from parallel_runs.core.redaction import Redactor
from parallel_runs.files import tail_lines
from parallel_runs.gate import TestEvaluation
from parallel_runs.store import Claim

__all__ = ["Ending", "Saved", "ended_attempt", "put_away"]

_TAILED = frozenset({Outcome.FAILED, Outcome.TIMED_OUT})  # outcomes whose last output lines say why


@dataclass(frozen=True, slots=True)
class Saved:
    """What saving the worktree did: the branch's head, what went wrong, whether every change is committed."""

    head: str | None
    problem: str | None  # `reason: detail`, the attempt's error
    committed: bool


@dataclass(frozen=True, slots=True)
class Ending:
    """How the attempt ended: its outcome, the command's exit code, why, the test verdict."""

    outcome: Outcome
    exit_code: int | None
    error: str | None
    tests: TestEvaluation | None


def ended_attempt(
    claim: Claim,
    paths: RunPaths,
    ending: Ending,
    *,
    redact: Redactor,
    log_start: int,
    started_at: datetime,
    saved: Saved,
    strays: int,
    restored: list[Path],
) -> Attempt:
    """The record of the attempt as it ended, finished now, on this process. Redacted here, once, so
    result.json, the store and the events never hold a secret."""
    failed = ending.outcome in _TAILED
    tail = tail_lines(paths.run_log, since=log_start, redact=redact) if failed else None
    return Attempt(
        run_id=claim.run_id,
        slug=claim.slug,
        batch_id=claim.batch_id,
        attempt=claim.attempt,
        outcome=ending.outcome,
        exit_code=ending.exit_code,
        started_at=started_at,
        finished_at=datetime.now(UTC),
        base_sha=claim.base_sha,
        head_sha=saved.head,
        branch=paths.branch,
        host=claim.owner.host,
        pid=os.getpid(),
        error=redact.optional(ending.error),
        error_tail=tail,
        changed_files=count_patch_files(paths.changes_patch)
        if saved.committed and not saved.problem
        else None,
        tests=None if ending.tests is None else TestSummary.from_json(ending.tests.to_json()),
        stray_processes=strays,
        restored_files=tuple(str(path) for path in restored),
    )


def put_away(workspaces: git.RunWorktree, saved: Saved, *, keep: bool, base_sha: str) -> None:
    """After the attempt is recorded: remove the worktree (reset it, when reused) if its changes are
    committed and --keep-worktrees is off; a reused one whose files are not saved becomes the run's
    own leftover, at the run's path."""
    if saved.committed and not keep:
        workspaces.remove(just_saved=True)  # the command's group is gone: nothing changed since
        if saved.problem is not None and saved.head is not None:
            write_patch_again(workspaces, base_sha=base_sha, head=saved.head)
    elif isinstance(workspaces, git.ReusedWorktree):
        workspaces.leave()
