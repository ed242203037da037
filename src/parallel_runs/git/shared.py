"""What every worktree of a repository reads and any run can write, kept as the batch found it.

A run's `git config ...` writes the shared `<common git dir>/config`; it can also edit
`info/attributes` and `info/exclude`. The batch takes a snapshot at its start and, before each
save, puts back what a run changed, logging it: `info/exclude` and `info/attributes` whole, and
in the config the sections that decide what git sees or how it reads files (`_SECTIONS`). Other
config (a remote, an alias, a branch's upstream) is left alone: the user may change it meanwhile.
The save forces its own settings too (see settings): this keeps later runs' worktrees and git
commands as the batch found them.

The snapshot is also written to a file in the runs dir while the batch works (`record`), and
removed when it ends: after a killed batch, `recover` (and the next batch's start) puts back what
its runs changed and saves their worktrees with its settings, from the oldest such file.
"""

from __future__ import annotations

import base64
import fcntl
import json
import logging
import os
import threading
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from parallel_runs import testing_faults
from parallel_runs.files import write_atomically
from parallel_runs.git.ignores import IgnoreRules
from parallel_runs.git.repository import common_git_dir
from parallel_runs.git.run_git import _git
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
        name, newline, value = entry.partition("\n")
        if name.split(".", 1)[0] in _SECTIONS:
            found[name].append(value if newline else "true")  # no value: a boolean true
    return dict(found)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


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
        write_atomically(self.path, self.content)  # git never reads half of it
        return True


class SharedState:
    """The shared config, attributes and ignore rules at the batch's start, and its save settings."""

    def __init__(
        self,
        repo: Path,
        *,
        ignores: IgnoreRules,
        settings: SaveSettings,
        attributes: bytes | None,
        config: dict[str, list[str]],
    ) -> None:
        self.repo, self.ignores, self.settings, self.config = repo, ignores, settings, config
        common = common_git_dir(repo)
        self.config_path = common / "config"
        self.attributes = _File(common / "info" / "attributes", attributes)
        self._lock = threading.Lock()
        # The config file's bytes when last found to hold the snapshot's settings: the same bytes
        # need no `git config` to compare (one git process less per save).
        self._config_bytes: bytes | None = None
        self._recorded: tuple[Path, int] | None = None

    @classmethod
    def snapshot(cls, repo: Path) -> SharedState:
        """The repository's shared state as it is now."""
        common = common_git_dir(repo)
        return cls(
            repo,
            ignores=IgnoreRules.snapshot(repo),
            settings=SaveSettings.snapshot(repo),
            attributes=_read(common / "info" / "attributes"),
            config=_config(common / "config"),
        )

    def record(self, path: Path) -> None:
        """Write the snapshot to `path`, locked while this process lives (see `left_by_dead_batches`)."""
        attributes = self.attributes.content
        state = {
            "exclude": base64.b64encode(self.ignores.content).decode(),
            "attributes": None if attributes is None else base64.b64encode(attributes).decode(),
            "config": self.config,
            "settings": dict(self.settings.kept),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(state))
        fd = os.open(partial, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX)  # taken before the name appears: never seen unlocked
        partial.replace(path)
        self._recorded = (path, fd)

    def forget(self) -> None:
        """The batch is over and every run's changes were put back: remove its record."""
        if self._recorded is not None:
            path, fd = self._recorded
            path.unlink(missing_ok=True)
            os.close(fd)
            self._recorded = None

    @classmethod
    def left_by_dead_batches(cls, repo: Path, state_dir: Path) -> SharedState | None:
        """The oldest snapshot a killed batch left in `state_dir` (its lock is free); the files of
        killed batches are removed. None when there is none."""
        paths = sorted(state_dir.glob("*.json"), key=_mtime) if state_dir.is_dir() else []
        oldest: SharedState | None = None
        for path in paths:
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:  # its batch ended meanwhile
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # a live batch: it puts back its runs' changes itself
                os.close(fd)
                continue
            try:
                oldest = oldest or cls._load(repo, path)
                path.unlink(missing_ok=True)
            finally:
                os.close(fd)
        return oldest

    @classmethod
    def _load(cls, repo: Path, path: Path) -> SharedState | None:
        try:
            state = json.loads(path.read_text())
            attributes = state["attributes"]
            return cls(
                repo,
                ignores=IgnoreRules(repo, base64.b64decode(state["exclude"])),
                settings=SaveSettings(dict(state["settings"])),
                attributes=None if attributes is None else base64.b64decode(attributes),
                config={str(name): list(values) for name, values in state["config"].items()},
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            logger.warning("ignoring %s: %s", path, exc)
            return None

    def restore(self) -> list[Path]:
        """Put back what a run changed; the files restored (empty when nothing was touched)."""
        if testing_faults.is_broken("shared-git-state"):  # chaos-proof only: runs' changes stay
            return []
        restored = self.ignores.restore()
        with self._lock:
            if self.attributes.restore():
                logger.warning("%s was changed during the batch; restored it", self.attributes.path)
                restored.append(self.attributes.path)
            if self._restore_config():
                restored.append(self.config_path)
        if restored:  # files staged meanwhile may hold what the run's settings made of them
            self.settings.rehash.set()
        return restored

    def _restore_config(self) -> bool:
        before = _read(self.config_path)
        if before is not None and before == self._config_bytes:
            return False
        current = _config(self.config_path)
        changed = sorted(
            name for name in {*current, *self.config} if current.get(name) != self.config.get(name)
        )
        if not changed and _read(self.config_path) == before:  # git read those same bytes
            self._config_bytes = before
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
