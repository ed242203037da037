"""`branches prune`: delete the run branches and attempt refs of finished runs, keeping every commit
that no other ref keeps unless told otherwise."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from parallel_runs import git
from parallel_runs.core.durations import format_duration
from parallel_runs.core.layout import RunPaths
from parallel_runs.errors import AlreadyHeldError
from parallel_runs.git.branches import RunRef
from parallel_runs.locks import hold_run, run_locks
from parallel_runs.maintenance.model import KeptRef, PruneReport
from parallel_runs.maintenance.probing import describe_holder

__all__ = ["prune_branches"]


def _running(paths: RunPaths) -> str | None:
    lease, lock = run_locks(paths)
    if lock.is_locked() or lease.is_locked():
        return f"its run is running (held by {describe_holder(lock.holder() or lease.holder())})"
    return None


def _has_worktree(paths: RunPaths, ref: RunRef, checked_out: dict[str, Path]) -> str | None:
    if paths.workspace.exists():
        return f"its run still has a worktree at {paths.workspace} (`parallel-runs cleanup` removes it)"
    if ref.name in checked_out:
        return f"checked out in the worktree {checked_out[ref.name]}"
    return None


def _days(seconds: float) -> str:
    """`30d`, `1.5d` from a day on (what --older-than is given in), else `3m05s`."""
    return f"{round(seconds / 86_400, 1):g}d" if seconds >= 86_400 else format_duration(seconds)


def _last_change(paths: RunPaths, ref: RunRef) -> datetime:
    """When the ref last changed: its tip's commit, or its run's end when later (a run that changed
    nothing leaves the base commit, however old, as its branch's tip)."""
    if not ref.name.startswith("refs/heads/"):
        return ref.committed_at
    try:
        ended = json.loads(paths.result_json.read_text(encoding="utf-8")).get("finished_at")
        return (
            max(ref.committed_at, datetime.fromisoformat(ended))
            if isinstance(ended, str)
            else ref.committed_at
        )
    except (OSError, ValueError, AttributeError, TypeError):
        return ref.committed_at


def _refusal(
    repo: Path,
    ref: RunRef,
    *,
    runs_dir: Path,
    checked_out: dict[str, Path],
    older_than: float | None,
    merged: bool,
    now: datetime,
) -> str | None:
    paths = RunPaths(runs_dir, ref.slug)
    if reason := _running(paths) or _has_worktree(paths, ref, checked_out):
        return reason
    age = (now - _last_change(paths, ref)).total_seconds()
    if older_than is not None and age < older_than:
        return f"younger than {_days(older_than)} (last changed {_days(max(0.0, age))} ago)"
    if merged and not git.is_merged(repo, ref.sha):
        return "not merged into the current branch"
    return None


def _keep_the_only_copies(repo: Path, candidates: list[RunRef], kept: list[KeptRef]) -> list[RunRef]:
    """Candidates whose commits other refs keep even once every other candidate is gone.

    Keeping one candidate can keep another's commits, so this repeats until nothing changes.
    """
    changed = True
    while changed:
        changed = False
        for ref in list(candidates):
            only_here = git.unique_commits(repo, ref.sha, leaving=[c.name for c in candidates])
            if only_here:
                candidates.remove(ref)
                kept.append(
                    KeptRef(ref, f"{only_here} commit(s) reachable from nowhere else (--force deletes it)")
                )
                changed = True
    return candidates


@contextlib.contextmanager
def _held(paths: RunPaths) -> Iterator[None]:
    """The run's locks while its refs are deleted: a run starting now waits (exit 75) or is seen."""
    if not paths.lock.parent.is_dir():  # no run of this runs dir ever ran here: nothing to hold
        yield
        return
    with hold_run(paths):
        yield


def prune_branches(
    *,
    repo: Path,
    runs_dir: Path,
    now: datetime,
    older_than: float | None = None,
    merged: bool = False,
    force: bool = False,
) -> PruneReport:
    """Delete finished runs' branches and attempt refs; say what was kept and why."""
    checked_out = git.checked_out_branches(repo)
    candidates: list[RunRef] = []
    kept: list[KeptRef] = []
    for ref in git.run_refs(repo):
        reason = _refusal(
            repo,
            ref,
            runs_dir=runs_dir,
            checked_out=checked_out,
            older_than=older_than,
            merged=merged,
            now=now,
        )
        if reason is None:
            candidates.append(ref)
        else:
            kept.append(KeptRef(ref, reason))
    if not force:
        candidates = _keep_the_only_copies(repo, candidates, kept)
    deleted = [
        ref for ref in candidates if _delete(repo, ref, runs_dir=runs_dir, checked_out=checked_out, kept=kept)
    ]
    return PruneReport(tuple(deleted), tuple(sorted(kept, key=lambda k: k.ref.name)))


def _delete(
    repo: Path, ref: RunRef, *, runs_dir: Path, checked_out: dict[str, Path], kept: list[KeptRef]
) -> bool:
    """Delete one ref under its run's locks; else add to `kept` why not."""
    paths = RunPaths(runs_dir, ref.slug)
    try:
        with _held(paths):
            # Held now: a run that began since we looked has made its worktree.
            if _has_worktree(paths, ref, checked_out) is None and git.delete_ref(repo, ref):
                return True
            kept.append(KeptRef(ref, "its run started, or the ref moved, meanwhile"))
    except AlreadyHeldError as exc:
        kept.append(KeptRef(ref, f"its run is running ({exc})"))
    return False
