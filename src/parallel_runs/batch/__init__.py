"""Running a batch: `run` → `run_batch` (the worker threads) → `run_one` (a run, its retries) → `attempt`.

`run(request, machine, control)` is the one entry point, for the CLI's `run` and `worker` (no
request: the batch is the store's), the seed's ParallelRunSupervisor and the GitHub action alike,
over whichever store the machine's settings name.
"""

from __future__ import annotations

from parallel_runs.batch.control import BatchControl, stop_on_signals
from parallel_runs.batch.preview import Preview, preview
from parallel_runs.batch.result import (
    BatchResult,
    HeldRun,
    RunEnd,
    RunError,
    RunSummary,
    SkippedRun,
    outcome_of,
)
from parallel_runs.batch.starting import run

__all__ = [
    "BatchControl",
    "BatchResult",
    "HeldRun",
    "Preview",
    "RunEnd",
    "RunError",
    "RunSummary",
    "SkippedRun",
    "outcome_of",
    "preview",
    "run",
    "stop_on_signals",
]
