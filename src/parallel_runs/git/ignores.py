"""The repository's shared ignore rules, kept as they were when the batch started.

Every worktree of a repository reads `<common git dir>/info/exclude`. A run that edits it (say,
appends `*`) would hide its own new files from the save, and every later run's and `cleanup`'s
too. The batch keeps a copy and puts it back before each save.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from parallel_runs.git.repository import common_git_dir

__all__ = ["IgnoreRules"]

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
