"""A worktree's own Python environment: its `.venv` comes first; a setup command must not install elsewhere.

What mapping imports (gate/sources.py) cannot cover — compiled extensions, entry points, other
languages — a per-worktree venv made by --setup-command does. A setup command that installs into a
Python environment outside its worktree (the user's active venv) would repoint it at one worktree:
every run would test that worktree's code, and the venv would point at a deleted directory after the
batch. That is found by comparing the install records of the site-packages directories of the
Pythons on PATH before and after the setup command; what it changed there is put back.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

from parallel_runs.gate.sources import ask_python, interpreters

__all__ = ["SETUP_ESCAPE_FIX", "VENV", "SiteSnapshot", "changed_outside", "watch_sites", "with_worktree_venv"]

VENV = ".venv"  # a worktree's own virtualenv, made by --setup-command
# What an install writes at the top of site-packages: path and import hooks, develop links, metadata.
_WATCHED = re.compile(r".*\.pth|__editable__.*|.*\.egg-link|.*\.dist-info|.*\.egg-info")
_SITE_PROBE = (
    "import json, site, sysconfig; p = sysconfig.get_paths(); "
    "user = [site.getusersitepackages()] if site.ENABLE_USER_SITE else []; "
    "print(json.dumps([p['purelib'], p['platlib'], *user]))"
)

SETUP_ESCAPE_FIX = (
    "make the setup command install into a virtualenv inside the worktree, which then comes first on "
    f"PATH for the run's command and tests: --setup-command 'python -m venv {VENV} && {VENV}/bin/pip "
    "install -q -e .'"
)
SiteSnapshot = dict[Path, bytes | None]  # watched file → its bytes; a directory → None


def with_worktree_venv(environ: Mapping[str, str], worktree: Path) -> dict[str, str]:
    """The environment with the worktree's `.venv/bin` first on PATH (and VIRTUAL_ENV), when there is one."""
    env = dict(environ)
    venv = worktree / VENV
    if not (venv / "bin").is_dir():
        return env
    env["PATH"] = os.pathsep.join([str(venv / "bin"), *([environ["PATH"]] if environ.get("PATH") else [])])
    env["VIRTUAL_ENV"] = str(venv)
    env.pop("PYTHONHOME", None)  # it would send the venv's Python to another installation's stdlib
    return env


def _site_dirs(environ: Mapping[str, str], worktree: Path) -> list[Path]:
    """Writable site-packages directories (the user's too) of the Pythons on PATH, outside the worktree."""
    found: dict[Path, None] = {}
    for interpreter in interpreters("", environ):
        paths = ask_python(interpreter, _SITE_PROBE, environ=environ)
        for raw in paths if isinstance(paths, list) else ():
            path = Path(os.path.realpath(str(raw)))
            if path.is_dir() and os.access(path, os.W_OK) and not path.is_relative_to(worktree.resolve()):
                found[path] = None
    return list(found)


def _snapshot(sites: list[Path]) -> SiteSnapshot:
    """The install records at the top of each site-packages, with the contents of those of local installs."""
    snapshot: SiteSnapshot = {}
    for site in sites:
        for entry in sorted(site.iterdir()):
            if not _WATCHED.fullmatch(entry.name):
                continue
            if entry.is_file():
                snapshot[entry] = entry.read_bytes()
                continue
            snapshot[entry] = None
            if (entry / "direct_url.json").is_file():  # a local or editable install: kept whole
                snapshot.update({file: file.read_bytes() for file in entry.rglob("*") if file.is_file()})
    return snapshot


def _restore(before: SiteSnapshot, after: SiteSnapshot) -> None:
    """Put back the records `before` had and remove those the setup command added."""
    for path in after.keys() - before.keys():
        if path.parent.name.endswith(".dist-info"):
            continue  # inside a directory removed next, or rewritten from `before`
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    for path, content in before.items():
        if content is None:
            path.mkdir(parents=True, exist_ok=True)
        elif after.get(path) != content:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)


def watch_sites(environ: Mapping[str, str], worktree: Path) -> tuple[list[Path], SiteSnapshot]:
    """The site-packages a setup command in `worktree` must leave alone, and their state before it runs."""
    sites = _site_dirs(environ, worktree)
    return sites, _snapshot(sites)


def changed_outside(sites: list[Path], before: SiteSnapshot) -> str | None:
    """What the setup command changed in `sites` (put back as it was), or None when nothing."""
    after = _snapshot(sites)
    if after == before:
        return None
    changed = (after.keys() ^ before.keys()) | {path for path in before if after.get(path) != before[path]}
    # Each changed record's site and top entry, in one pass: only the sites that changed are named.
    where = {
        (site, path.relative_to(site).parts[0])
        for path in changed
        for site in sites
        if path.is_relative_to(site)
    }
    changed_sites = {site for site, _ in where}
    touched = [site for site in sites if site in changed_sites]  # in PATH order
    tops = sorted({top for _, top in where})
    _restore(before, after)
    return f"{', '.join(str(site) for site in touched)} ({', '.join(tops[:5])})"
