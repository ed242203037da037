"""Where the seed's classes find things: paths pinned at once, the runs dir, the repository."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from parallel_runs import git
from parallel_runs.config import absolute_path, resolve_runs_dir
from parallel_runs.errors import GitError

__all__ = ["StrPath", "caller_environ", "default_runs_dir", "locate", "runs_dir_of"]

StrPath = str | os.PathLike[str]


def caller_environ() -> Mapping[str, str]:
    """The caller's environment, read here and passed on explicitly."""
    # These classes are entry points, like the CLI: seed callers configure them through the
    # environment (AUTONOMOUS_RUNS_DIR).
    return os.environ


def default_runs_dir(environ: Mapping[str, str], cwd: Path) -> Path:
    """The runs dir when none is named: the environment's, else <repo around cwd>/.autonomous_runs."""
    try:
        repo = git.repo_root(cwd)
    except GitError:
        repo = cwd  # the seed's default: .autonomous_runs in the working directory
    return resolve_runs_dir(None, environ, cwd=cwd, repo=repo)


def runs_dir_of(directory: Path, name: str) -> Path:
    """`<runs>/<name>` → `<runs>`; any other directory is itself taken as the runs dir."""
    return directory.parent if directory.name == name else directory


def locate(
    repo: StrPath | None, worktree_base: StrPath | None, environ: Mapping[str, str]
) -> tuple[Path, Path, Path]:
    """Absolute (repository root, runs dir, worktree base) for the seed's optional arguments."""
    cwd = Path.cwd()
    root = git.repo_root(absolute_path(repo if repo is not None else cwd, cwd))
    base = absolute_path(worktree_base, cwd) if worktree_base is not None else None
    if base is not None and base.name == "workspaces":
        return root, base.parent, base
    runs_dir = resolve_runs_dir(None, environ, cwd=cwd, repo=root)
    return root, runs_dir, base or runs_dir / "workspaces"
