"""The save-relevant settings git reads in a worktree, asked of `git config` once per change of
the files it reads.

Every save and checkout compares these settings with the batch's (settings.py), so without a
cache each run pays two `git config` processes. The answer depends only on the config files git
reads (system, global, the repository's shared config) and the `GIT_CONFIG*` environment, unless
a file includes another or the repository has per-worktree config: those are asked every time.
The cache is keyed by the files' bytes (a file that does not exist yet counts too), read before
and after git answered, so any write in between leaves it unused.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from pathlib import Path

from parallel_runs.git.run_git import _git

__all__ = ["config_entries"]

_Key = tuple[tuple[str, bytes | None], ...]
_Entries = tuple[tuple[str, str], ...]
_cache: dict[Path, tuple[_Key, _Entries]] = {}
_cache_lock = threading.Lock()
_UNCACHEABLE = ("include.", "includeif.", "extensions.worktreeconfig")


@lru_cache(maxsize=8)
def _system_file(configured: str | None) -> str:
    """Where git reads its system config (`GIT_CONFIG_SYSTEM`, else where it was built to)."""
    # `--edit` hands the file's name to the editor: `echo` prints it, and nothing is written.
    found = _git(Path("/"), "config", "--system", "--edit", env={"GIT_EDITOR": "echo"}, check=False)
    return found.out.strip() if found.status == 0 else ""


def _files(common: Path) -> list[str] | None:
    """The config files git may read for a repository whose common git dir is `common`, existing
    or not (more is harmless: a change to one only asks git again); None when unknown."""
    env = os.environ
    system = _system_file(env.get("GIT_CONFIG_SYSTEM"))  # read even if GIT_CONFIG_NOSYSTEM says not
    if not system:
        return None
    home, xdg = env.get("HOME", ""), env.get("XDG_CONFIG_HOME", "")
    user = [os.path.join(xdg, "git", "config")] if xdg else []
    if home:
        user += [os.path.join(home, ".config", "git", "config"), os.path.join(home, ".gitconfig")]
    if "GIT_CONFIG_GLOBAL" in env:
        user.append(env["GIT_CONFIG_GLOBAL"])
    return [system, *user, str(common / "config")]


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError:  # not there (yet): that counts too
        return None


def _key(common: Path) -> _Key | None:
    """What git's answer depends on: the `GIT_CONFIG*` variables and the files' bytes."""
    files = _files(common)
    if files is None:
        return None
    environment = [
        (name, value.encode()) for name, value in os.environ.items() if name.startswith("GIT_CONFIG")
    ]
    return (*sorted(environment), *((path, _read(path)) for path in files))


def config_entries(cwd: Path, *, common: Path | None = None) -> tuple[tuple[str, str], ...]:
    """Every setting git reads in `cwd`, in order, as (name, value); `common`: the repository's
    common git dir, without which git is always asked."""
    key = None if common is None else _key(common)
    if common is not None and key is not None:
        with _cache_lock:
            cached = _cache.get(common)
        if cached is not None and cached[0] == key:
            return cached[1]
    result = _git(cwd, "config", "--includes", "--list", "-z", check=False)
    split = (entry.partition("\n") for entry in result.out.split("\0") if entry)
    # A name without a value (`[core] ignoreCase`) is a boolean true; `-c name=` would say false.
    entries = tuple((name, value if newline else "true") for name, newline, value in split)
    cacheable = result.status == 0 and not any(name.startswith(_UNCACHEABLE) for name, _ in entries)
    if common is not None and key is not None and cacheable and _key(common) == key:
        with _cache_lock:
            _cache[common] = (key, entries)
    return entries
