"""Ignored files: the repository's shared ignore rules kept as they were, and ignored files copied over.

Every worktree of a repository reads `<common git dir>/info/exclude`. A run that edits it (say,
appends `*`) would hide its own new files from the save, and every later run's and `cleanup`'s
too. The batch keeps a copy and puts it back before each save.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

from parallel_runs.core.layout import is_runs_dir
from parallel_runs.errors import GitError
from parallel_runs.git.repository import common_git_dir, excluded_directory, locked_exclude_file
from parallel_runs.git.run_git import _git

__all__ = ["IgnoreRules", "copy_ignored"]

logger = logging.getLogger(__name__)


class IgnoreRules:
    """A snapshot of info/exclude (empty when there was none); thread-safe."""

    def __init__(self, repo: Path, content: bytes) -> None:
        self.repo = repo
        self.path = common_git_dir(repo) / "info" / "exclude"
        self.content = content
        self._lock = threading.Lock()

    @classmethod
    def snapshot(cls, repo: Path) -> IgnoreRules:
        """The repository's info/exclude as it is now."""
        try:
            return cls(repo, (common_git_dir(repo) / "info" / "exclude").read_bytes())
        except FileNotFoundError:
            return cls(repo, b"")

    def restore(self) -> list[Path]:
        """Put back what a run changed; the files restored (empty when nothing was touched).

        Another batch's runs dir, excluded since the snapshot, stays: it is not the run's doing.
        """
        with self._lock, locked_exclude_file(self.path) as fd:
            current = self.path.read_bytes()
            if current == self.content:
                return []
            known = set(self.content.splitlines())
            added = [line for line in current.splitlines() if line not in known]
            adopted = b"".join(line + b"\n" for line in added if self._excludes_another_runs_dir(line))
            separator = b"\n" if adopted and self.content and not self.content.endswith(b"\n") else b""
            self.content += separator + adopted
            if current == self.content:
                return []
            os.ftruncate(fd, 0)
            os.write(fd, self.content)
        logger.warning("%s was changed during the batch; restored it", self.path)
        return [self.path]

    def _excludes_another_runs_dir(self, line: bytes) -> bool:
        """`line` is ensure_excluded's, naming a runs dir in the checkout (another batch's)."""
        directory = excluded_directory(self.repo, line.decode(errors="replace"))
        return directory is not None and is_runs_dir(directory)


def _matches(path: str, patterns: Sequence[str]) -> bool:
    """`path` matches a pattern (fnmatch), or lies inside a directory a pattern names."""
    return any(
        fnmatch.fnmatch(path, pattern) or path.startswith(pattern.rstrip("/") + "/") for pattern in patterns
    )


def copy_ignored(repo: Path, workspace: Path, patterns: Sequence[str], *, skip: Path) -> int:
    """Copy the checkout's git-ignored files that match `patterns` into a fresh worktree (`.env`,
    caches); reflinked where the filesystem can (copy-on-write costs no space). How many were copied."""
    if not patterns:
        return 0
    listing = ("ls-files", "-z", "--others", "--ignored", "--exclude-standard")
    skipped = skip.relative_to(repo).as_posix() + "/" if skip.is_relative_to(repo) else None
    names = [
        name
        for name in _git(repo, *listing).out.split("\0")
        if name and _matches(name, patterns) and not (skipped and name.startswith(skipped))
    ]
    for start in range(0, len(names), 500):  # a few hundred paths per cp keeps argv short
        chunk = names[start : start + 500]
        copy = [
            "cp",
            "--reflink=auto",
            "--preserve=mode,timestamps",
            "--parents",
            "--",
            *chunk,
            str(workspace),
        ]
        done = subprocess.run(copy, cwd=repo, check=False, capture_output=True, text=True)
        if done.returncode:
            raise GitError(f"copying ignored files into {workspace} failed: {done.stderr.strip()}")
    if names:
        logger.info("copied %d ignored file(s) into %s", len(names), workspace)
    return len(names)
