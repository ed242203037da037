"""Worktrees and run branches: the only package that runs git (through GitPython).

`run_git` runs every git command; `repository` answers questions about a repository and keeps its
refs; `worktrees` manages the run worktrees and `staging` builds a save's tree; `settings` are the
`-c` settings a save forces, and `shared` keeps the repository's shared config, attributes and
ignore rules as a batch found them.
"""

from __future__ import annotations

from parallel_runs.git.applying import Applied, ApplyMode, apply_result, current_branch, has_branch
from parallel_runs.git.branches import (
    RunRef,
    checked_out_branches,
    delete_ref,
    is_merged,
    run_refs,
    unique_commits,
)
from parallel_runs.git.ignores import IgnoreRules, copy_ignored
from parallel_runs.git.listing import WorktreeInfo, list_managed_worktrees
from parallel_runs.git.remote import push_branches
from parallel_runs.git.repository import (
    changed_files,
    common_git_dir,
    detached_worktree,
    ensure_commit,
    ensure_excluded,
    is_on_origin,
    keep_unless_contained,
    last_attempt_ref_number,
    repo_root,
    resolve_commit,
    tracked_files_under,
)
from parallel_runs.git.reuse import ReusedWorktree, ReuseSlot
from parallel_runs.git.settings import SaveSettings
from parallel_runs.git.shared import SharedState
from parallel_runs.git.worktrees import RunWorktree

__all__ = [
    "Applied",
    "ApplyMode",
    "IgnoreRules",
    "ReuseSlot",
    "ReusedWorktree",
    "RunRef",
    "RunWorktree",
    "SaveSettings",
    "SharedState",
    "WorktreeInfo",
    "apply_result",
    "changed_files",
    "checked_out_branches",
    "common_git_dir",
    "copy_ignored",
    "current_branch",
    "delete_ref",
    "detached_worktree",
    "ensure_commit",
    "ensure_excluded",
    "has_branch",
    "is_merged",
    "is_on_origin",
    "keep_unless_contained",
    "last_attempt_ref_number",
    "list_managed_worktrees",
    "push_branches",
    "repo_root",
    "resolve_commit",
    "run_refs",
    "tracked_files_under",
    "unique_commits",
]
