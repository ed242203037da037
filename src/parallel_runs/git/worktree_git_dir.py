"""What a run worktree keeps in its own git dir (`.git/worktrees/<name>`): the lock files a killed
git leaves there, and the repositories of the submodules initialized in it."""

from __future__ import annotations

from pathlib import Path

from parallel_runs.core.ids import slugify
from parallel_runs.core.layout import SUBMODULE_REF_PREFIX
from parallel_runs.git.repository import common_git_dir
from parallel_runs.git.run_git import _git

__all__ = ["has_submodule_repos", "keep_submodule_heads", "leftover_locks", "own_git_dir"]


def own_git_dir(workspace: Path) -> Path | None:
    """The worktree's own git dir, None when it is not a linked worktree."""
    try:
        gitdir = (workspace / ".git").read_text().removeprefix("gitdir:").strip()
    except OSError:  # .git is a directory or missing: not a linked worktree of ours
        return None
    return workspace / gitdir


def leftover_locks(workspace: Path, *, repo: Path, branch_ref: str) -> list[Path]:
    """Lock files a git killed mid-write leaves, each blocking every later save: the worktree's
    index.lock and HEAD.lock, the save's scratch index's, and the run branch's ref lock."""
    gitdir = own_git_dir(workspace)
    if gitdir is None:
        return []
    locks = [gitdir / name for name in ("index.lock", "HEAD.lock", "parallel-runs.index.lock")]
    locks.append(common_git_dir(repo) / f"{branch_ref}.lock")
    return [lock for lock in locks if lock.exists()]


def has_submodule_repos(workspace: Path) -> bool:
    """True when a submodule was initialized here (its repository is in the worktree's git dir)."""
    gitdir = own_git_dir(workspace)
    return gitdir is not None and (gitdir / "modules").is_dir()


def keep_submodule_heads(workspace: Path, *, repo: Path, slug: str) -> None:
    """Fetch every initialized submodule's HEAD into the main repository, so removal loses no commit."""
    listing = ("submodule", "foreach", "--quiet", "--recursive", 'printf "%s\\0" "$displaypath"')
    for path in filter(None, _git(workspace, *listing).out.split("\0")):
        ref = f"{SUBMODULE_REF_PREFIX}{slug}/{slugify(path)}"
        fetch = ("fetch", "--quiet", "--no-tags", "--no-write-fetch-head", str(workspace / path))
        _git(repo, *fetch, f"+HEAD:{ref}")
