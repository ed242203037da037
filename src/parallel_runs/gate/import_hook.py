"""`sitecustomize` of a test phase: at exit, each Python records what it imported from elsewhere.

parallel-runs copies this file beside the phase's reports as `sitecustomize.py`, first on the phase's
PYTHONPATH, so every Python the test command starts (pytest, unittest, a subprocess of a test) runs
it. At exit it appends one JSON line to $PARALLEL_RUNS_IMPORTS: the modules whose file lies under a
foreign root (the source checkout, the runs directory) but not under one of the phase's own roots
(its worktree), its interpreter's prefixes, a site-packages directory or this file's directory. A
test command that replaces PYTHONPATH only skips the check. Standard library only: the test command
may run in a Python where parallel_runs is not installed. The sitecustomize it shadows still runs.
"""

from __future__ import annotations

import atexit
import importlib.machinery
import importlib.util
import json
import os
import sys

IMPORTS_ENV = "PARALLEL_RUNS_IMPORTS"
ROOTS_ENV = "PARALLEL_RUNS_IMPORT_ROOTS"
_HERE = os.path.dirname(os.path.realpath(__file__))
_SHOWN = 20  # modules recorded per process: enough to name the culprits


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _foreign_files(own: list[str], foreign: list[str]) -> dict[str, str]:
    """Module name → file, for the modules loaded from a foreign root and none of the own ones."""
    found: dict[str, str] = {}
    for name, module in sorted(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not isinstance(file, str) or len(found) >= _SHOWN:
            continue
        path = os.path.realpath(file)
        parts = path.split(os.sep)
        if "site-packages" in parts or "dist-packages" in parts or any(_inside(path, r) for r in own):
            continue
        if any(_inside(path, root) for root in foreign):
            found[name] = path
    return found


def _record() -> None:
    target = os.environ.get(IMPORTS_ENV)
    try:
        roots = json.loads(os.environ.get(ROOTS_ENV, "{}"))
        foreign = [os.path.realpath(p) for p in roots.get("foreign", ())]
        # The interpreter's own files are not the code under test, unless its prefix holds the
        # checkout (a system Python's /usr, the checkout in /usr/src/app).
        prefixes = [os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)]
        prefixes = [p for p in prefixes if not any(_inside(root, p) for root in foreign)]
        own = [os.path.realpath(p) for p in (*roots.get("own", ()), _HERE)] + prefixes
        line = json.dumps({"pid": os.getpid(), "imported": _foreign_files(own, foreign)})
        if target:
            with open(target, "a", encoding="utf-8") as stream:  # one short append per process
                stream.write(line + "\n")
    except (OSError, ValueError, AttributeError):
        pass  # a test process must never fail because of this check


def _chain() -> None:
    """Run the sitecustomize this file shadows (a system Python's, a venv's), if there is one."""
    path = [entry for entry in sys.path if os.path.realpath(entry or os.curdir) != _HERE]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is not None and spec.loader is not None:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


if __name__ == "sitecustomize":  # imported by parallel_runs for its names, it does nothing
    if os.environ.get(IMPORTS_ENV):
        atexit.register(_record)
    _chain()
