"""What every worktree of a repository reads and any run can write, kept as the batch found it.

A run's `git config ...` writes the shared `<common git dir>/config`; it can also edit
`info/attributes` and `info/exclude`. The batch takes a snapshot at its start and, before each
save, puts back what a run changed, logging it: `info/exclude` and `info/attributes` whole, and
in the config the sections that decide what git sees or how it reads files (`_SECTIONS`). Other
config (a remote, an alias, a branch's upstream) is left alone: the user may change it meanwhile.
The save forces its own settings too (see settings): this keeps later runs' worktrees and git
commands as the batch found them.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from parallel_runs.git.ignores import IgnoreRules
from parallel_runs.git.repository import common_git_dir
from parallel_runs.git.runner import _git
from parallel_runs.git.settings import SaveSettings

__all__ = ["SharedState"]

logger = logging.getLogger(__name__)

# Config sections whose settings change what git sees in a worktree, how it reads files into
# blobs, or what else git reads (includes) or runs on its own (gc, maintenance, fsmonitor).
_SECTIONS = frozenset(
    {"core", "filter", "include", "includeif", "extensions", "index", "feature", "gc", "add", "status"}
    | {"diff", "fsmonitor", "maintenance", "attr", "sparse"}
)


def _config(path: Path) -> dict[str, list[str]]:
    """The relevant settings in one config file, each name with its values in order."""
    out = _git(path.parent, "config", "--file", str(path), "--list", "-z", check=False).out
    found: dict[str, list[str]] = defaultdict(list)
    for entry in filter(None, out.split("\0")):
        name, _, value = entry.partition("\n")
        if name.split(".", 1)[0] in _SECTIONS:
            found[name].append(value)
    return dict(found)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


@dataclass(frozen=True, slots=True)
class _File:
    """A shared file as it was (None: there was none)."""

    path: Path
    content: bytes | None

    def restore(self) -> bool:
        """Put the file back if a run changed it; True when it did."""
        if _read(self.path) == self.content:
            return False
        if self.content is None:
            self.path.unlink(missing_ok=True)
            return True
        fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        with os.fdopen(fd, "wb") as out:  # written whole, then renamed: git never reads half of it
            out.write(self.content)
        os.replace(name, self.path)
        return True


class SharedState:
    """The shared config, attributes and ignore rules at the batch's start, and its save settings."""

    def __init__(self, repo: Path, *, ignores: IgnoreRules, settings: SaveSettings) -> None:
        self.repo, self.ignores, self.settings = repo, ignores, settings
        common = common_git_dir(repo)
        self.config_path = common / "config"
        self.attributes = _File(common / "info" / "attributes", _read(common / "info" / "attributes"))
        self.config = _config(self.config_path)
        self._lock = threading.Lock()

    @classmethod
    def snapshot(cls, repo: Path) -> SharedState:
        """The repository's shared state as it is now."""
        return cls(repo, ignores=IgnoreRules.snapshot(repo), settings=SaveSettings.snapshot(repo))

    def restore(self) -> list[Path]:
        """Put back what a run changed; the files restored (empty when nothing was touched)."""
        restored = self.ignores.restore()
        with self._lock:
            if self.attributes.restore():
                logger.warning("%s was changed during the batch; restored it", self.attributes.path)
                restored.append(self.attributes.path)
            if self._restore_config():
                restored.append(self.config_path)
        return restored

    def _restore_config(self) -> bool:
        current = _config(self.config_path)
        changed = sorted(
            name for name in {*current, *self.config} if current.get(name) != self.config.get(name)
        )
        for name in changed:
            file = ("config", "--file", str(self.config_path))
            _git(self.repo, *file, "--unset-all", name, check=False)  # status 5: it was not there
            for value in self.config.get(name, []):
                _git(self.repo, *file, "--add", name, value)
            logger.warning(
                "%s: a run set %s = %s; put back %s",
                self.config_path,
                name,
                current.get(name),
                self.config.get(name),
            )
        return bool(changed)
