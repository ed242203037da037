"""Settings of `parallel-runs worker`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from parallel_runs.config.common import (
    DEFAULT_GRACE_SECONDS,
    DEFAULT_LEASE_TTL_SECONDS,
    DEFAULT_MAX_ARTIFACT_SIZE,
    default_workers,
    flag_bool,
    is_postgres_url,
    parse_count,
    parse_workers,
    picker,
    resolve_database_url,
    resolve_runs_dir,
    resolve_source_repo,
)
from parallel_runs.core.durations import parse_duration
from parallel_runs.core.sizes import parse_size
from parallel_runs.errors import ConfigError

__all__ = ["WorkerSettings", "build_worker_settings"]


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerSettings:
    """What a worker needs besides the batch definition (which comes from the database)."""

    batch_id: str
    database_url: str
    repo: Path
    runs_dir: Path
    workers: int
    lease_ttl: float
    max_artifact_size: int
    keep_worktrees: bool
    environ: Mapping[str, str]
    grace: float = DEFAULT_GRACE_SECONDS
    test_timeout: float | None = None
    test_retries: int = 1
    fail_on_regression: bool = True


def build_worker_settings(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path
) -> WorkerSettings:
    """Validate the `worker` flags: the batch and the shared store are required."""
    pick = picker(flags, environ)
    batch_id = pick("batch_id")
    url = resolve_database_url(flags, environ)
    if not batch_id:
        raise ConfigError("worker needs --batch ID (the batch `run --database-url` enqueued)")
    if not url or not is_postgres_url(url):
        raise ConfigError("worker needs --database-url postgresql://... (the shared store holding the batch)")
    repo = resolve_source_repo(pick("source_repo"), environ, cwd)
    test_timeout, lease_ttl, max_size = pick("test_timeout"), pick("lease_ttl"), pick("max_artifact_size")
    return WorkerSettings(
        batch_id=batch_id,
        database_url=url,
        repo=repo,
        environ=environ,
        runs_dir=resolve_runs_dir(pick("runs_dir"), environ, cwd=cwd, repo=repo),
        workers=parse_workers(pick("workers") or default_workers()),
        lease_ttl=parse_duration(lease_ttl) if lease_ttl else DEFAULT_LEASE_TTL_SECONDS,
        max_artifact_size=parse_size(max_size) if max_size else DEFAULT_MAX_ARTIFACT_SIZE,
        keep_worktrees=flag_bool(flags, "keep_worktrees", environ),
        grace=parse_duration(pick("grace") or str(DEFAULT_GRACE_SECONDS)),
        test_timeout=parse_duration(test_timeout) if test_timeout else None,
        test_retries=parse_count(pick("test_retries") or "1", flag="--test-retries"),
        fail_on_regression=flag_bool(flags, "fail_on_regression", environ, default=True),
    )
