"""Settings of `parallel-runs plan`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from parallel_runs.config.common import (
    default_batch_id,
    flag_bool,
    is_postgres_url,
    picker,
    resolve_database_url,
    resolve_source_repo,
)
from parallel_runs.config.run import BatchToQueue, build_batch_to_queue, read_run_ids
from parallel_runs.core.shards import DEFAULT_MAX_JOBS, parse_max_jobs
from parallel_runs.core.urls import mask_url
from parallel_runs.errors import ConfigError

__all__ = ["PlanSettings", "build_plan_settings", "github_output_path"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanSettings:
    """Everything `plan` needs: the ids, the legs' cap, and with a shared store the batch to queue."""

    run_ids: tuple[str, ...]
    batch_id: str
    repo: Path
    base_ref: str
    max_jobs: int
    github_output: Path | None = None  # also write the outputs to this $GITHUB_OUTPUT file
    enqueue: BatchToQueue | None = None  # the batch `run --database-url` would queue; None: shards


def github_output_path(environ: Mapping[str, str]) -> Path:
    """The step's output file that the runner names in GITHUB_OUTPUT."""
    path = environ.get("GITHUB_OUTPUT")
    if not path:
        raise ConfigError("--github-output: GITHUB_OUTPUT is not set (it is, in a GitHub Actions step)")
    return Path(path)


def build_plan_settings(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path
) -> PlanSettings:
    """Validate the `plan` flags; with a PostgreSQL URL the whole `run` definition is required."""
    pick = picker(flags, environ)
    max_jobs = parse_max_jobs(pick("max_jobs") or str(DEFAULT_MAX_JOBS))
    output = github_output_path(environ) if flag_bool(flags, "github_output", environ) else None
    if pick("shard"):
        raise ConfigError("plan splits the ids itself: --shard is for the legs' `run`")
    url = resolve_database_url(flags, environ)
    if url and not is_postgres_url(url):
        raise ConfigError(
            f"plan --database-url {mask_url(url)}: legs on other machines need the shared PostgreSQL store"
        )
    if url:
        batch = build_batch_to_queue(flags=flags, environ=environ, cwd=cwd)
        return PlanSettings(
            run_ids=batch.request.run_ids,
            batch_id=batch.request.batch_id,
            repo=batch.machine.repo,
            base_ref=batch.request.base_ref,
            max_jobs=max_jobs,
            github_output=output,
            enqueue=batch,
        )
    return PlanSettings(
        run_ids=read_run_ids(flags, environ, cwd),
        batch_id=pick("batch_id") or default_batch_id(environ),
        repo=resolve_source_repo(pick("source_repo"), environ, cwd),
        base_ref=pick("base_ref") or "HEAD",
        max_jobs=max_jobs,
        github_output=output,
    )
