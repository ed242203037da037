"""What one run of a batch is asked to do: frozen data shared by every layer that runs it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from parallel_runs.core.command import CommandSpec
from parallel_runs.core.layout import RunPaths
from parallel_runs.core.suite import TestSpec

__all__ = ["RunPolicy", "RunRequest"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunPolicy:
    """Retries and resume rules of a batch."""

    retries: int = 0
    retry_delay: float = 0.0
    redo: bool = False  # run again even if the latest attempt succeeded
    only_failed: bool = False  # run only runs whose latest attempt did not succeed


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRequest:
    """What to run for one run id; shared settings come from the batch."""

    run_id: str
    slug: str
    batch_id: str
    repo: Path
    runs_dir: Path
    base_sha: str
    command: CommandSpec
    timeout: float | None
    keep_worktree: bool
    environ: Mapping[str, str]
    database_url: str  # DATABASE_URL given to the run: its SQLite store's URL, or the shared store's
    database: Path | None = None  # the SQLite file this run records into (None with the shared store)
    policy: RunPolicy = RunPolicy()
    tests: TestSpec | None = None  # judge each attempt by its test delta against the base commit
    fail_on_regression: bool = True

    @property
    def paths(self) -> RunPaths:
        return RunPaths(self.runs_dir, self.slug)
