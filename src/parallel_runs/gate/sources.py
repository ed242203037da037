"""Where the code under test comes from: each test phase imports it from its own worktree.

An editable install (a PEP 660 finder's MAPPING, a `.pth` path entry, a setuptools egg-link) or a
PYTHONPATH entry of the test command's Python may point into the source checkout: every run's tests
would then import the checkout's code, not the run's. Each such entry is mapped to the same relative
path inside the phase's worktree, placed first on PYTHONPATH (`ImportMapping`). Found by asking each
Python the test command may use (on its PATH, or named by path in the command) for its import setup.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ImportMapping", "ask_python", "import_mapping", "interpreters"]

log = logging.getLogger(__name__)

_PROBE = """
import json, sys
finders = {}
for name, module in list(sys.modules.items()):
    mapping = getattr(module, "MAPPING", None)
    if name.startswith("__editable__") and isinstance(mapping, dict):
        finders.update({str(key): str(value) for key, value in mapping.items()})
print(json.dumps({"path": [p for p in sys.path if p], "prefixes": [sys.prefix, sys.base_prefix],
                  "finders": finders}))
"""
_PROBE_TIMEOUT = 30.0
_EXECUTABLE = re.compile(r"(?:python(?:\d+(?:\.\d+)?)?|pytest|py\.test)")
_WORDS = re.compile(r"[^\s'\";|&()<>=]+")
# What decides a probe's answer, besides the command: which Python runs, and its import path.
_PROBED_ENV = ("PATH", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONNOUSERSITE")
_CACHE: dict[tuple[object, ...], ImportMapping] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class ImportMapping:
    """Entries (relative to a worktree) placed first on a test phase's PYTHONPATH, and why."""

    entries: tuple[str, ...] = ()  # "src", "." (a flat layout's egg-link)
    origins: tuple[str, ...] = ()  # what pointed into the checkout, for the run's log
    unmapped: tuple[str, ...] = ()  # what no PYTHONPATH entry can shadow: warned about

    def paths_in(self, worktree: Path) -> list[str]:
        """The PYTHONPATH entries for one phase's worktree."""
        return [str(worktree / entry) if entry != "." else str(worktree) for entry in self.entries]

    def describe(self, worktree: Path) -> str:
        """For the run's log: `src → <worktree>/src (an editable install: signy → …)`."""
        if not self.entries:
            return "none (no import path of the test command's Python points into the source checkout)"
        paths = zip(self.entries, self.paths_in(worktree), strict=True)
        pairs = ", ".join(f"{entry} \u2192 {path}" for entry, path in paths)
        return f"{pairs} ({'; '.join(self.origins)})"


def _shebang(script: str) -> str | None:
    """The interpreter a script (`pytest` on PATH) runs with, if its first line names one by path."""
    try:
        with open(script, "rb") as stream:
            first = stream.readline(512).decode("utf-8", errors="replace")
    except OSError:
        return None
    words = first.removeprefix("#!").split() if first.startswith("#!") else []
    return words[0] if words and os.path.basename(words[0]).startswith("python") else None


def interpreters(command: str, environ: Mapping[str, str]) -> list[str]:
    """The Pythons the test command may run: python3, python, pytest on its PATH; absolute paths it names."""
    search = environ.get("PATH", os.defpath)
    found = [shutil.which(name, path=search) for name in ("python3", "python")]
    named = [shutil.which(name, path=search) for name in ("pytest",)]
    named += [word for word in _WORDS.findall(command) if os.path.isabs(word)]
    for path in named:
        if path and _EXECUTABLE.fullmatch(os.path.basename(path)) and os.access(path, os.X_OK):
            found.append(path if os.path.basename(path).startswith("python") else _shebang(path))
    # `python` and `python3` of one virtualenv are one Python (a venv's symlinks all resolve alike).
    unique = {(os.path.dirname(path), os.path.realpath(path)): path for path in reversed(found) if path}
    return list(dict.fromkeys(reversed(unique.values())))


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def ask_python(
    interpreter: str, script: str, *, environ: Mapping[str, str], cwd: Path | None = None
) -> object:
    """What `interpreter -c script` printed as JSON; None when it could not run or say."""
    try:
        done = subprocess.run(
            [interpreter, "-c", script],
            env=dict(environ),
            cwd=cwd,
            capture_output=True,
            timeout=_PROBE_TIMEOUT,
            check=False,
        )
        return json.loads(done.stdout) if done.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
        log.debug("cannot ask %s: %s", interpreter, exc)
        return None


def _probe(interpreter: str, *, environ: Mapping[str, str], cwd: Path) -> dict[str, object]:
    document = ask_python(interpreter, _PROBE, environ=environ, cwd=cwd)
    return document if isinstance(document, dict) else {}


def _entries(document: Mapping[str, object], *, repo: Path, runs_dir: Path) -> Iterable[tuple[str, str]]:
    """(entry relative to the checkout, origin) or ("", warning) for what points into the checkout."""
    raw_prefixes = document.get("prefixes")
    prefixes = (
        [Path(os.path.realpath(str(p))) for p in raw_prefixes] if isinstance(raw_prefixes, list) else []
    )
    # A venv inside the checkout is not the code under test; a prefix holding the checkout (a system
    # Python's /usr, the checkout in /usr/src/app) says nothing.
    prefixes = [prefix for prefix in prefixes if not _inside(repo, prefix)]

    def relative(raw: str) -> str | None:
        path = Path(os.path.realpath(raw))
        outside = not _inside(path, runs_dir) and not any(_inside(path, prefix) for prefix in prefixes)
        return os.path.relpath(path, repo) if _inside(path, repo) and outside else None

    finders = document.get("finders")
    for name, target in finders.items() if isinstance(finders, dict) else ():
        if (rel := relative(str(target))) is None:
            continue
        if os.path.basename(rel) in (name, f"{name}.py"):  # shadowed by its parent directory, first
            yield os.path.dirname(rel) or ".", f"an editable install: {name} \u2192 {target}"
        else:
            yield (
                "",
                f"the editable install maps {name} to {target}, whose name differs: no path entry shadows it",
            )
    path = document.get("path")
    for entry in path if isinstance(path, list) else ():
        if isinstance(entry, str) and (rel := relative(entry)) is not None:
            yield rel, f"{entry} on its import path (a .pth file, an egg-link or PYTHONPATH)"


def _mapping(command: str, *, environ: Mapping[str, str], repo: Path, runs_dir: Path) -> ImportMapping:
    cwd = runs_dir if runs_dir.is_dir() else Path(os.sep)  # relative PYTHONPATH entries: not the checkout
    entries: dict[str, None] = {}
    origins: dict[str, None] = {}
    unmapped: dict[str, None] = {}
    for interpreter in interpreters(command, environ):
        for entry, origin in _entries(
            _probe(interpreter, environ=environ, cwd=cwd), repo=repo, runs_dir=runs_dir
        ):
            if entry:
                entries[entry] = origins[f"{origin}, in {interpreter}"] = None
            else:
                unmapped[f"the test command's Python {interpreter}: {origin}"] = None
    return ImportMapping(tuple(entries), tuple(origins), tuple(unmapped))


def import_mapping(*, command: str, environ: Mapping[str, str], repo: Path, runs_dir: Path) -> ImportMapping:
    """What of the test command's Pythons' import path points into the checkout, mapped to a worktree."""
    repo, runs_dir = Path(os.path.realpath(repo)), Path(os.path.realpath(runs_dir))
    key = (command, tuple(environ.get(name) for name in _PROBED_ENV), repo, runs_dir)
    with _LOCK:  # every run's phases of one batch ask the same Pythons: once is enough
        if key not in _CACHE:
            _CACHE[key] = _mapping(command, environ=environ, repo=repo, runs_dir=runs_dir)
        return _CACHE[key]
