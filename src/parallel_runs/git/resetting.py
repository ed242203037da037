"""Resetting a saved worktree for another run (--reuse-worktrees, git/reuse.py), and what happens
to one that cannot be: removed when it holds nothing of a run, else moved to the run's own path."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from parallel_runs import testing_faults
from parallel_runs.errors import ParallelRunsError
from parallel_runs.git.repository import common_git_dir
from parallel_runs.git.run_git import _git
from parallel_runs.git.worktree_git_dir import has_submodule_repos, own_git_dir
from parallel_runs.git.worktrees import RunWorktree

__all__ = ["discard_slot", "hand_over", "is_reusable", "reset_for_reuse"]

logger = logging.getLogger(__name__)

# What a fresh worktree's own git dir holds (besides logs/ and ORIG_HEAD, which only say what was).
_ADMIN_KEPT = frozenset({"HEAD", "commondir", "gitdir", "index"})


def hand_over(repo: Path, slot: Path, target: Path) -> bool:
    """Move a slot's worktree that keeps a run's files to the run's own path (free, its locks held),
    where every tool looks for a run's leftover; False when there is nothing to move or no room."""
    if not slot.exists() or target.exists():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    os.rename(slot, target)
    _git(repo, "worktree", "repair", str(target))
    logger.warning("the reused worktree %s keeps files of its run; it is now at %s", slot, target)
    return True


def is_reusable(worktree: RunWorktree) -> bool:
    """A saved worktree can be reset for another run: a linked worktree of this repository whose
    every file its save could keep (no nested repository left out, no submodule)."""
    workspace = worktree.workspace
    gitdir = own_git_dir(workspace)
    return not (
        gitdir is None
        or (workspace / ".git").is_symlink()
        or not gitdir.is_dir()
        or gitdir.parent != common_git_dir(worktree.repo) / "worktrees"
        or has_submodule_repos(workspace)
        or worktree._has_unsaved_nested_repos
    )


def reset_for_reuse(
    worktree: RunWorktree, *, base_sha: str, keep: Sequence[str], settings: tuple[str, ...]
) -> tuple[str, ...] | None:
    """Put a saved, reusable worktree back to `base_sha`, detached, keeping only the ignored paths
    that match `keep`: what was kept (git's listing, `node_modules/`), or None if it must go.
    `settings`: the save's `-c` settings, as git must see the files."""
    workspace = worktree.workspace
    gitdir = own_git_dir(workspace)
    if gitdir is None:  # is_reusable said otherwise: gone since
        return None
    excludes = tuple(arg for pattern in keep for arg in ("--exclude", pattern))
    try:
        _clear_index_flags(workspace)
        checkout = ("-c", "checkout.workers=0", "checkout", "--quiet", "--force", "--detach", base_sha)
        _git(workspace, *settings, *checkout)
        if testing_faults.is_broken("reuse-reset"):  # chaos-proof only: the last run's files stay
            return ()
        _drop_worktree_state(gitdir)
        # Every untracked file, ignored or not, but those matching `keep` (the checkout removed what
        # the save committed; a -e pattern holds with -x, the ignore rules do not).
        _git(workspace, *settings, "clean", "--quiet", "-ffdx", *excludes)
        # The proof, from git's own listings: nothing untracked is left outside `keep`, and nothing
        # left there is unignored; the ignored ones are what was kept.
        listing = (*settings, "ls-files", "-z", "--others", "--directory")
        with ThreadPoolExecutor(max_workers=2) as pool:
            kept = pool.submit(_git, workspace, *listing, "--exclude-standard", "--ignored") if keep else None
            unignored = pool.submit(_git, workspace, *listing, "--exclude-standard") if keep else None
            left = _git(workspace, *listing, *excludes).out + (unignored.result().out if unignored else "")
            found = tuple(filter(None, kept.result().out.split("\0"))) if kept else ()
    except (ParallelRunsError, OSError) as exc:
        logger.warning("could not reset %s for the next run (%s); removing it", workspace, exc)
        return None
    if left:
        shown = ", ".join(repr(name) for name in left.split("\0") if name)
        logger.warning("resetting %s left %s; removing it instead", workspace, shown)
        return None
    return found


def _clear_index_flags(workspace: Path) -> None:
    """A skip-worktree or assume-unchanged bit the save left (a sparse checkout's files not on disk)
    would make the checkout skip that file: the next run would not get the base's."""
    listing = _git(workspace, "ls-files", "-v", "-z").out.split("\0")
    flagged = [entry[2:] for entry in listing if len(entry) > 2 and (entry[0] == "S" or entry[0].islower())]
    for start in range(0, len(flagged), 1000):  # argv stays short
        chunk = flagged[start : start + 1000]
        _git(workspace, "update-index", "--no-skip-worktree", "--no-assume-unchanged", "--", *chunk)


def _drop_worktree_state(gitdir: Path) -> None:
    """What a run left in the worktree's own git dir (a rebase, a bisect, per-worktree refs and config)."""
    for entry in gitdir.iterdir():
        if entry.name in _ADMIN_KEPT:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def discard_slot(repo: Path, path: Path) -> None:
    """Remove a slot's worktree that holds nothing of any run (its files were saved or reset)."""
    result = _git(repo, "worktree", "remove", "--force", "--force", str(path), check=False)
    if path.exists():
        shutil.rmtree(path)
    if result.status:
        _git(repo, "worktree", "prune")
