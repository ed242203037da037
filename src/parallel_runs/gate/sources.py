"""Where the code under test comes from. An editable install, or a `.pth` / PYTHONPATH entry, of the
test command's Python that points into the source checkout makes every run's tests import the
checkout's code, not the run's worktree: the gate would judge the wrong code, and say nothing.

Found by asking each Python the test command may use (on its PATH, or named by path in the
command) for its import path and its editable distributions (PEP 610 `direct_url.json`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import unquote, urlparse

__all__ = ["checkout_warnings", "interpreters"]

log = logging.getLogger(__name__)

_PROBE = """
import json, sys
from importlib import metadata
editable = []
for dist in metadata.distributions():
    try:
        info = json.loads(dist.read_text("direct_url.json") or "{}")
    except Exception:
        continue
    if isinstance(info, dict) and (info.get("dir_info") or {}).get("editable"):
        editable.append([dist.metadata["Name"] or "?", str(info.get("url", ""))])
print(json.dumps({"path": [p for p in sys.path if p], "prefixes": [sys.prefix, sys.base_prefix],
                  "editable": editable}))
"""
_PROBE_TIMEOUT = 30.0
_EXECUTABLE = re.compile(r"(?:python(?:\d+(?:\.\d+)?)?|pytest|py\.test)")
_WORDS = re.compile(r"[^\s'\";|&()<>=]+")
# `PYTHONPATH=src pytest`, `export PYTHONPATH=src; ...`: the worktree's own sources come first.
_ASSIGNED_PYTHONPATH = re.compile(r"(?:^|[\s;&|(])PYTHONPATH=['\"]?(?P<first>[^\s:'\";&|]*)")


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


def _is_relative_entry(entry: str) -> bool:
    return bool(entry) and not entry.startswith(("/", "$", "~"))


def _sources_come_first(command: str, environ: Mapping[str, str]) -> bool:
    """A relative first PYTHONPATH entry (in the command or its environment) shadows any install."""
    assigned = [match["first"] for match in _ASSIGNED_PYTHONPATH.finditer(command)]
    inherited = environ.get("PYTHONPATH", "").split(os.pathsep)[0]
    return any(_is_relative_entry(entry) for entry in (*assigned, inherited))


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _probe(interpreter: str, *, environ: Mapping[str, str], cwd: Path) -> dict[str, list[object]] | None:
    try:
        done = subprocess.run(
            [interpreter, "-c", _PROBE],
            env=dict(environ),
            cwd=cwd,
            capture_output=True,
            timeout=_PROBE_TIMEOUT,
            check=False,
        )
        document = json.loads(done.stdout) if done.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
        log.debug("cannot ask %s where it imports from: %s", interpreter, exc)
        return None
    return document if isinstance(document, dict) else None


def _into_checkout(document: Mapping[str, list[object]], *, repo: Path, runs_dir: Path) -> Iterable[str]:
    """What, in one Python's import setup, points into the checkout (outside worktrees and venvs)."""
    prefixes = [Path(os.path.realpath(str(p))) for p in document.get("prefixes", [])]

    def points_in(raw: str) -> bool:
        path = Path(os.path.realpath(raw))
        outside = not _inside(path, runs_dir) and not any(_inside(path, prefix) for prefix in prefixes)
        return _inside(path, repo) and outside

    for item in document.get("editable", []):
        name, url = (str(part) for part in item) if isinstance(item, list) and len(item) == 2 else ("?", "")
        if url.startswith("file://") and points_in(unquote(urlparse(url).path)):
            yield f"an editable install of {name}"
    for entry in document.get("path", []):
        if isinstance(entry, str) and points_in(entry):
            yield f"{entry} on its import path, from a .pth file or PYTHONPATH"


def checkout_warnings(*, command: str, environ: Mapping[str, str], repo: Path, runs_dir: Path) -> list[str]:
    """One warning per Python of the test command that imports the code under test from the checkout."""
    if _sources_come_first(command, environ):
        return []
    repo, runs_dir = Path(os.path.realpath(repo)), Path(os.path.realpath(runs_dir))
    cwd = runs_dir if runs_dir.is_dir() else Path(os.sep)  # relative PYTHONPATH entries: not the checkout
    warnings = []
    for interpreter in interpreters(command, environ):
        document = _probe(interpreter, environ=environ, cwd=cwd)
        found = list(dict.fromkeys(_into_checkout(document or {}, repo=repo, runs_dir=runs_dir)))
        if found:
            warnings.append(
                f"the test command's Python {interpreter} imports the code under test from the source "
                f"checkout {repo} ({'; '.join(found)}), not from each run's worktree: every run would be "
                "tested against the checkout's code. Fix: put the worktree's sources first "
                "(PYTHONPATH=src in the test command; relative PYTHONPATH entries resolve inside each run's "
                "worktree), install the project per worktree in --command (a venv per worktree), or "
                "uninstall it from this Python"
            )
    return warnings
