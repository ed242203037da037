"""The baseline: the test results at a base commit, computed once (under a lock) and cached."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import filelock

from parallel_runs import git
from parallel_runs.core.defaults import DEFAULT_GRACE_SECONDS
from parallel_runs.core.suite import TestResults, TestSpec, baseline_key
from parallel_runs.errors import BaselineError
from parallel_runs.files import append_log, write_json
from parallel_runs.gate.environments import SETUP_ESCAPE_FIX, changed_outside, watch_sites, with_worktree_venv
from parallel_runs.gate.phases import BASELINES_DIR, Phase, run_phase
from parallel_runs.process import run_command

__all__ = ["Baseline", "baseline_log", "ensure_baseline"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Baseline:
    """The test results at a base commit and where they are cached."""

    results: TestResults
    key: str
    cache: Path  # <runs dir>/baselines/<key>.json
    reused: bool  # read from the cache rather than computed by this call
    computed_at: float | None  # epoch seconds the results were computed at; None: the cache does not say


def _load_cached(
    cache: Path, *, key: str, asked_at: float, accept: Callable[[TestResults], bool]
) -> Baseline | None:
    """A cached baseline `accept` takes; one it refuses only if it was computed while we waited."""
    try:
        document = json.loads(cache.read_text(encoding="utf-8"))
        results = TestResults.from_json(document)
        computed_at = float(document["computed_at"]) if "computed_at" in document else None
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        log.warning("ignoring the unreadable baseline cache %s: %s", cache, exc)
        return None
    # A failed computation is shared with the runs that waited for it, not with later batches:
    # they try again (the failure may have been a timeout on a busy machine, or was fixed since).
    if not accept(results) and (computed_at or 0.0) < asked_at:
        return None
    return Baseline(results=results, key=key, cache=cache, reused=True, computed_at=computed_at)


def baseline_log(runs_dir: Path, key: str) -> Path:
    """The log of the baseline computations of one key (the test command's output at the base)."""
    return runs_dir / BASELINES_DIR / f"{key}.log"


def _prepare_baseline(
    repo: Path,
    runs_dir: Path,
    phase: Phase,
    *,
    spec: TestSpec,
    environ: Mapping[str, str],
    grace: float,
    on_start: Callable[[int], None] | None,
) -> dict[str, str]:
    """The baseline's worktree gets what a run's does before its tests: the copied ignored files and
    the setup command; its environment then (its own `.venv` first). BaselineError when the setup
    command fails or installs outside the worktree (the baseline could not judge anything)."""
    git.copy_ignored(repo, phase.cwd, spec.copy_ignored, skip=runs_dir)
    if spec.setup is None:
        return with_worktree_venv(environ, phase.cwd)
    append_log(phase.log, f"--- parallel-runs: setup \u00b7 {spec.setup.shell} ---\n")
    sites, before = watch_sites(environ, phase.cwd)
    argv = ["bash", "-c", spec.setup.shell or ""]
    setup = run_command(
        argv,
        cwd=phase.cwd,
        env=environ,
        log_path=phase.log,
        timeout=spec.timeout,
        grace=grace,
        on_start=on_start,
    )
    if escaped := changed_outside(sites, before):
        raise BaselineError(
            f"the setup command `{spec.setup.shell}` installed outside the baseline's worktree, into "
            f"{escaped}, so every run would share one install; that was put back as it was. "
            f"Fix: {SETUP_ESCAPE_FIX}"
        )
    if setup.exit_code != 0:
        raise BaselineError(
            f"the setup command failed in the baseline's worktree (exit {setup.exit_code}); see {phase.log}"
        )
    return with_worktree_venv(environ, phase.cwd)


def ensure_baseline(
    *,
    repo: Path,
    runs_dir: Path,
    base_sha: str,
    spec: TestSpec,
    environ: Mapping[str, str],
    log_path: Path | None = None,
    grace: float = DEFAULT_GRACE_SECONDS,
    on_start: Callable[[int], None] | None = None,
    accept: Callable[[TestResults], bool] | None = None,
) -> Baseline:
    """The baseline of (base commit, test command, environment): cached, else computed once under a lock.

    `log_path`: where the test command's output goes (default: `baseline_log`); `accept`: whether
    cached results may be reused (by default, when they are available).
    """
    key = baseline_key(base_sha=base_sha, spec=spec, environ=environ)
    home = runs_dir / BASELINES_DIR
    cache = home / f"{key}.json"
    log_path = log_path or baseline_log(runs_dir, key)
    accept = accept or (lambda results: results.is_available)
    asked_at = time.time()
    if (cached := _load_cached(cache, key=key, asked_at=asked_at, accept=accept)) is not None:
        return cached
    home.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(
        home / f"{key}.lock",
        thread_local=False,  # one instance per call: threads of one process exclude each other too
        fallback_to_soft=False,
        preserve_lock_file=True,  # waiters must meet on the same inode
    )
    with lock:
        if (cached := _load_cached(cache, key=key, asked_at=asked_at, accept=accept)) is not None:
            log.info("baseline %s was computed while this caller waited", key)
            return cached
        phase = Phase(
            name="baseline",
            cwd=home / "worktrees" / key,
            reports=home,
            stem=key,
            log=log_path,
            checkout=(repo, runs_dir),
        )
        with git.detached_worktree(repo, phase.cwd, base_sha):
            prepared = _prepare_baseline(
                repo, runs_dir, phase, spec=spec, environ=environ, grace=grace, on_start=on_start
            )
            results = run_phase(phase, spec=spec, environ=prepared, grace=grace, on_start=on_start)
        now = time.time()
        document = results.to_json() | {
            "base_sha": base_sha,
            "key": key,
            "computed_at": now,
            "computed_at_iso": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
            "log": str(log_path),
        }
        write_json(cache, document)
    return Baseline(results=results, key=key, cache=cache, reused=False, computed_at=now)
