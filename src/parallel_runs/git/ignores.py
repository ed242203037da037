"""Ignored files: the repository's shared ignore rules kept as they were, and ignored files copied over.

Every worktree of a repository reads `<common git dir>/info/exclude`. A run that edits it (say,
appends `*`) would hide its own new files from the save, and every later run's and `cleanup`'s
too. The batch keeps a copy and puts it back before each save.
"""

from __future__ import annotations

import fnmatch
import logging
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

from parallel_runs.errors import GitError
from parallel_runs.git.repository import common_git_dir
from parallel_runs.git.runner import _git

__all__ = ["IgnoreRules", "copy_ignored"]

logger = logging.getLogger(__name__)


class IgnoreRules:
    """A snapshot of info/exclude (None when there was none); thread-safe."""

    def __init__(self, path: Path, content: bytes | None) -> None:
        self.path = path
        self._content = content
        self._lock = threading.Lock()

    @classmethod
    def snapshot(cls, repo: Path) -> IgnoreRules:
        """The repository's info/exclude as it is now."""
        path = common_git_dir(repo) / "info" / "exclude"
        try:
            return cls(path, path.read_bytes())
        except FileNotFoundError:
            return cls(path, None)

    def restore(self) -> list[Path]:
        """Put back what a run changed; the files restored (empty when nothing was touched)."""
        with self._lock:
            try:
                current: bytes | None = self.path.read_bytes()
            except FileNotFoundError:
                current = None
            if current == self._content:
                return []
            if self._content is None:
                self.path.unlink()
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.path.write_bytes(self._content)
        logger.warning("%s was changed during the batch; restored it", self.path)
        return [self.path]


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
