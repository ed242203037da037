"""Settings of `parallel-runs worker`, and the machine side of every batch (`run` embeds them)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from parallel_runs.config.common import (
    DEFAULT_LEASE_TTL_SECONDS,
    DEFAULT_MAX_ARTIFACT_SIZE,
    SEED_SET_DATABASE_URL_ENV,
    check_runs_dir,
    default_workers,
    env_value,
    flag_bool,
    flag_list,
    parse_bool,
    parse_count,
    parse_workers,
    picker,
    resolve_runs_dir,
    resolve_source_repo,
    shared_batch,
)
from parallel_runs.config.secrets import known_secrets, read_pass_env
from parallel_runs.core.durations import parse_duration
from parallel_runs.core.policy import workers_warning
from parallel_runs.core.sizes import parse_size
from parallel_runs.errors import ConfigError

__all__ = ["MIN_LEASE_TTL_SECONDS", "WorkerSettings", "build_machine", "build_worker_settings"]

MIN_LEASE_TTL_SECONDS = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerSettings:
    """What this machine brings to a batch; the batch's own definition comes from the store.

    The optional fields override the batch's definition on this machine only (`worker --grace`).
    """

    batch_id: str
    repo: Path
    runs_dir: Path
    workers: int
    keep_worktrees: bool
    environ: Mapping[str, str]  # the caller's environment, passed on to runs
    database_url: str | None = None  # the shared PostgreSQL store; None: per-run SQLite files
    shared_sqlite: Path | None = None  # one SQLite file for every run (only with one worker)
    lease_ttl: float = DEFAULT_LEASE_TTL_SECONDS
    max_artifact_size: int = DEFAULT_MAX_ARTIFACT_SIZE
    grace: float | None = None
    test_timeout: float | None = None
    test_retries: int | None = None
    fail_on_regression: bool | None = None
    set_database_url: bool = False  # runs also get DATABASE_URL (the seed's contract)
    wait: float | None = None  # worker --wait: how long to wait for the batch to be enqueued
    quiet: bool = False  # print only problems and the final summary
    json_events: bool = False  # one JSON object per event on stdout
    warnings: tuple[str, ...] = ()  # things the user should hear about but that do not stop the batch
    reuse_worktrees: bool = False  # a worker resets its worktree for its next run (git/reuse.py)
    keep_ignored: tuple[str, ...] = ()  # ignored paths such a reset keeps
    pass_env: frozenset[str] = frozenset()  # withheld variables the runs get all the same (--pass-env)
    secrets: frozenset[str] = field(default=frozenset(), repr=False)  # redacted from all that leaves


def build_machine(
    flags: Mapping[str, object],
    environ: Mapping[str, str],
    cwd: Path,
    *,
    batch_id: str,
    workers: int,
    database_url: str | None = None,
    shared_sqlite: Path | None = None,
) -> WorkerSettings:
    """The machine side of a batch, read the same way by every command that works one here."""
    pick = picker(flags, environ)
    repo = resolve_source_repo(pick("source_repo"), environ, cwd)
    return WorkerSettings(
        batch_id=batch_id,
        repo=repo,
        runs_dir=check_runs_dir(resolve_runs_dir(pick("runs_dir"), environ, cwd=cwd, repo=repo), repo),
        workers=workers,
        keep_worktrees=flag_bool(flags, "keep_worktrees", environ),
        environ=environ,
        database_url=database_url,
        shared_sqlite=shared_sqlite,
        lease_ttl=_lease_ttl(pick),
        max_artifact_size=DEFAULT_MAX_ARTIFACT_SIZE
        if (size := pick("max_artifact_size")) is None
        else parse_size(size),
        set_database_url=parse_bool(
            environ.get(SEED_SET_DATABASE_URL_ENV, ""), name=SEED_SET_DATABASE_URL_ENV
        ),
        quiet=flag_bool(flags, "quiet", environ),
        json_events=flag_bool(flags, "json_events", environ),
        warnings=tuple(
            filter(None, [workers_warning(workers, os.cpu_count() or 1), _reuse_warning(flags, environ)])
        ),
        pass_env=read_pass_env(flags, environ),
        reuse_worktrees=flag_bool(flags, "reuse_worktrees", environ),
        keep_ignored=read_keep_ignored(flags, environ),
        secrets=known_secrets(environ, urls=[str(flags.get("database_url") or "")]),
    )


def _reuse_warning(flags: Mapping[str, object], environ: Mapping[str, str]) -> str | None:
    """--keep-ignored or --reuse-worktrees given where they do nothing."""
    reuse = flag_bool(flags, "reuse_worktrees", environ)
    if reuse and flag_bool(flags, "keep_worktrees", environ):
        return "--reuse-worktrees does nothing with --keep-worktrees: each run keeps a worktree of its own"
    if not reuse and read_keep_ignored(flags, environ):
        return "--keep-ignored does nothing without --reuse-worktrees: every run gets a fresh worktree"
    return None


_KEEPS_EVERYTHING = frozenset({"*", "**", "/", "/*", "/**", "."})


def read_keep_ignored(flags: Mapping[str, object], environ: Mapping[str, str]) -> tuple[str, ...]:
    """--keep-ignored PATTERNS (comma-separated, repeatable), else PARALLEL_RUNS_KEEP_IGNORED's lines."""
    patterns = [p.strip() for text in flag_list(flags, "keep_ignored", environ) for p in text.split(",")]
    for pattern in filter(None, patterns):
        if pattern.startswith("!") or pattern in _KEEPS_EVERYTHING or "\0" in pattern:
            why = "a pattern that keeps everything" if pattern in _KEEPS_EVERYTHING else "not a path pattern"
            raise ConfigError(f"--keep-ignored {pattern!r}: {why} (give paths such as node_modules,.venv)")
    return tuple(dict.fromkeys(filter(None, patterns)))


def _lease_ttl(pick: Callable[[str], str | None]) -> float:
    """--lease-ttl, at least MIN_LEASE_TTL_SECONDS: a heartbeat every TTL/3 must arrive in time."""
    ttl = _optional(pick, "lease_ttl")
    if ttl is None:
        return DEFAULT_LEASE_TTL_SECONDS
    if ttl < MIN_LEASE_TTL_SECONDS:
        raise ConfigError(
            f"--lease-ttl {pick('lease_ttl')}: at least {MIN_LEASE_TTL_SECONDS:g}s, so that a heartbeat "
            "every TTL/3 reaches the database before the lease expires"
        )
    return ttl


def _optional(pick: Callable[[str], str | None], key: str) -> float | None:
    """The duration flag `key`, parsed; None when not given."""
    text = pick(key)
    return parse_duration(text, name=f"--{key.replace('_', '-')}") if text is not None else None


def build_worker_settings(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path
) -> WorkerSettings:
    """Validate the `worker` flags: the batch and the shared store are required."""
    pick = picker(flags, environ)
    batch_id, url = shared_batch(
        flags,
        environ,
        command="worker",
        batch_hint=" (the batch `run --database-url` enqueued)",
        url_hint=" (the shared store holding the batch)",
    )
    machine = build_machine(
        flags, environ, cwd, batch_id=batch_id, workers=parse_workers(pick("workers") or default_workers())
    )
    retries = pick("test_retries")
    given_regression = flags.get("fail_on_regression") is not None or env_value(environ, "fail_on_regression")
    return replace(
        machine,
        database_url=url,
        grace=_optional(pick, "grace"),
        test_timeout=_optional(pick, "test_timeout"),
        test_retries=parse_count(retries, flag="--test-retries") if retries else None,
        fail_on_regression=flag_bool(flags, "fail_on_regression", environ) if given_regression else None,
        wait=_optional(pick, "wait"),
    )
