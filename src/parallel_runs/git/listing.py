"""Listing the run worktrees git knows under a runs dir."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from parallel_runs.git.run_git import _git

__all__ = ["WorktreeInfo", "list_managed_worktrees"]


@dataclass(frozen=True, slots=True)
class WorktreeInfo:
    """One worktree under the runs dir, as `git worktree list` reports it."""

    path: Path
    slug: str
    branch: str | None  # short name; None when detached
    head: str | None  # None when unborn
    is_prunable: bool = False


def worktree_records(repo: Path) -> list[dict[str, str]]:
    """`git worktree list --porcelain`: the fields of each worktree (`worktree`, `HEAD`, `branch`, ...)."""
    records = _git(repo, "worktree", "list", "--porcelain", "-z").out.split("\0\0")
    return [dict(item.partition(" ")[::2] for item in record.split("\0") if item) for record in records]


def list_managed_worktrees(repo: Path, runs_dir: Path) -> list[WorktreeInfo]:
    """Worktrees of `repo` that live directly under `runs_dir`/workspaces."""
    home = Path(os.path.realpath(runs_dir / "workspaces"))
    infos = []
    for fields in worktree_records(repo):
        if "worktree" not in fields or Path(fields["worktree"]).parent != home:
            continue
        path = Path(fields["worktree"])
        branch = fields.get("branch", "").removeprefix("refs/heads/") or None
        prunable = "prunable" in fields
        infos.append(WorktreeInfo(path, path.name, branch, fields.get("HEAD"), is_prunable=prunable))
    return infos
