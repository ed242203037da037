"""The git settings a save runs with, whatever a run did to the configuration meanwhile.

A run can write the repository's shared config (`git config ...` in its worktree writes
`<common git dir>/config`), the user's global config and `info/attributes`; every later save would
read them. So each save command gets `-c` settings that win over every config file:

Forced to one value, because only that value lets git see every change:
- `core.ignoreStat=false`: true marks checked-out files assume-unchanged, so edits go unseen.
- `core.fsmonitor=false`: a monitor hook (any command) can answer "nothing changed".
- `core.untrackedCache=false`: a cached list of untracked files, trusted by directory mtimes.
- `core.checkStat=default`, `core.trustctime=true`: the weaker stat checks miss same-size edits.
- `core.sparseCheckout=false`, `index.sparse=false`: sparse patterns make `add` skip paths.
- `core.splitIndex=false`: the save's scratch index must not lean on a shared index file.
- `add.ignoreErrors=false`: an unreadable file must fail the save, not be left out of it.
- `core.safecrlf=false`: a line-ending warning made fatal would fail the save.
- `core.bare=false`: true hides the work tree from git.

Kept at the value the batch started with (they say how the worktree was checked out, or which
files count as ignored; a run may not change them for later runs): `core.excludesFile`,
`core.attributesFile`, `core.autocrlf`, `core.eol`, `core.fileMode`, `core.symlinks`,
`core.ignoreCase`, `core.precomposeUnicode`, `core.checkRoundtripEncoding`, and every filter
driver (`filter.<name>.clean|smudge|process|required`); a driver that was not there is switched
off, so the files are saved byte for byte. Hooks and signing are off for every command (run_git.py).

Forcing them is not enough for what a run already staged: `git add` trusts an index entry whose
stat data matches its file, and an entry staged under a run's filter (or line-ending setting) holds
the filtered blob, not the file's bytes. So once a run is found to have changed the shared state
(`rehash`), every later save re-reads every tracked file (`git add --renormalize`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from parallel_runs import testing_faults
from parallel_runs.git.config_reading import config_entries
from parallel_runs.git.repository import common_git_dir

__all__ = ["SaveSettings"]

logger = logging.getLogger(__name__)

FORCED = (
    *("core.ignoreStat=false", "core.fsmonitor=false", "core.untrackedCache=false"),
    *("core.checkStat=default", "core.trustctime=true", "core.sparseCheckout=false", "index.sparse=false"),
    *("core.splitIndex=false", "add.ignoreErrors=false", "core.safecrlf=false", "core.bare=false"),
)
# As `git config --list` spells them (section and key lower-case); the value to force when a run
# set one the batch started without: git's default, or none at all for the two files.
_KEPT = {
    "core.excludesfile": "/dev/null",
    "core.attributesfile": "/dev/null",
    "core.autocrlf": "false",
    "core.eol": "native",
    "core.filemode": "true",
    "core.symlinks": "true",
    "core.ignorecase": "false",
    "core.precomposeunicode": "false",
    "core.checkroundtripencoding": "SHIFT-JIS",
}
_FILTER_OFF = {"clean": "", "smudge": "", "process": "", "required": "false"}


def _relevant(name: str) -> bool:
    return name in _KEPT or (name.startswith("filter.") and name.rsplit(".", 1)[-1] in _FILTER_OFF)


def _fallback(name: str) -> str:
    return _KEPT[name] if name in _KEPT else _FILTER_OFF[name.rsplit(".", 1)[-1]]


def effective_config(cwd: Path, *, common: Path | None = None) -> dict[str, str]:
    """The save-relevant settings git reads in `cwd` (every scope; the last value of a name wins).

    `common`: the repository's common git dir, which lets an unchanged answer come from the cache.
    """
    return {name: value for name, value in config_entries(cwd, common=common) if _relevant(name)}


@dataclass(frozen=True, slots=True)
class SaveSettings:
    """The batch's settings for saving: forced values, and the save-relevant config it started with."""

    kept: Mapping[str, str] = field(default_factory=dict)
    # Set for good once a run changed the settings: indexes written since may hold blobs made with them.
    rehash: threading.Event = field(default_factory=threading.Event, compare=False)

    @classmethod
    def snapshot(cls, repo: Path) -> SaveSettings:
        """The settings as they are now in `repo`."""
        return cls(effective_config(repo, common=common_git_dir(repo)))

    def args(self, current: Mapping[str, str]) -> tuple[str, ...]:
        """`-c` options for a save, given the settings git would read now (`effective_config`)."""
        if testing_faults.is_broken("shared-git-state"):  # chaos-proof only: git reads what runs set
            return ()
        changed = sorted(name for name in {*current, *self.kept} if current.get(name) != self.kept.get(name))
        if changed:
            self.rehash.set()
            logger.warning("git settings changed since the batch started, not used by the save: %s", changed)
        pairs = {**self.kept, **{name: _fallback(name) for name in changed if name not in self.kept}}
        settings = [*FORCED, *(f"{name}={value}" for name, value in pairs.items())]
        return tuple(arg for setting in settings for arg in ("-c", setting))
