"""Run a batch: its runs on a pool of worker threads (each attempt a subprocess), steered by BatchControl."""

from __future__ import annotations

import functools
import logging
import threading
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from parallel_runs import git, maintenance
from parallel_runs.config import RunSettings
from parallel_runs.control import BatchControl
from parallel_runs.core.events import EventKind
from parallel_runs.core.ids import slugify
from parallel_runs.core.layout import RunPaths
from parallel_runs.core.model import Outcome
from parallel_runs.core.policy import batch_exit_code
from parallel_runs.core.request import RunPolicy, RunRequest
from parallel_runs.errors import EXIT_INTERRUPTED, ParallelRunsError
from parallel_runs.execution import HeldRun, RunSummary, SkippedRun, execute_run

__all__ = ["BatchResult", "RunEnd", "RunError", "build_requests", "finish_batch", "guarded", "run_batch"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunError:
    """A run that could not be carried out; `traceback` is set when it is a bug of ours."""

    run_id: str
    message: str
    traceback: str | None = None


RunEnd = RunSummary | HeldRun | SkippedRun | RunError


def outcome_of(end: RunEnd) -> Outcome:
    """The one outcome that stands for a run's end in this batch."""
    if isinstance(end, RunSummary):
        return end.final.outcome
    if isinstance(end, SkippedRun):
        return end.outcome
    return Outcome.HELD if isinstance(end, HeldRun) else Outcome.FAILED


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Everything a batch did, in completion order."""

    batch_id: str
    base_sha: str
    ends: tuple[RunEnd, ...] = field(default_factory=tuple)
    stop_reason: str | None = None  # "interrupted" or "budget" when the batch was stopped

    @property
    def errors(self) -> list[RunError]:
        return [end for end in self.ends if isinstance(end, RunError)]

    def counts(self) -> dict[str, int]:
        """How many runs ended with each outcome."""
        counts: dict[str, int] = {}
        for end in self.ends:
            key = "error" if isinstance(end, RunError) else outcome_of(end).value
            counts[key] = counts.get(key, 0) + 1
        return counts

    @property
    def exit_code(self) -> int:
        if self.stop_reason == "interrupted":
            return EXIT_INTERRUPTED
        has_bug = any(e.traceback for e in self.errors)
        return batch_exit_code((outcome_of(end) for end in self.ends), had_internal_error=has_bug)


def build_requests(settings: RunSettings, base_sha: str) -> list[RunRequest]:
    """One request per run id of the batch."""
    policy = RunPolicy(
        retries=settings.retries,
        retry_delay=settings.retry_delay,
        redo=settings.redo,
        only_failed=settings.only_failed,
    )
    requests = []
    for run_id in settings.run_ids:
        slug = slugify(run_id)
        database = settings.shared_sqlite or RunPaths(settings.runs_dir, slug).database
        requests.append(
            RunRequest(
                run_id=run_id,
                slug=slug,
                batch_id=settings.batch_id,
                repo=settings.source_repo,
                runs_dir=settings.runs_dir,
                base_sha=base_sha,
                command=settings.command,
                timeout=settings.timeout,
                keep_worktree=settings.keep_worktrees,
                environ=settings.environ,
                policy=policy,
                database=database,
                database_url=f"sqlite:///{database}",
                tests=settings.tests,
                fail_on_regression=settings.fail_on_regression,
            )
        )
    return requests


def guarded(run_id: str, control: BatchControl, execute: Callable[[], RunEnd]) -> RunEnd:
    """Run one run; an error of that run becomes its RunError, so the batch goes on."""
    try:
        return execute()
    except ParallelRunsError as exc:
        control.emit(EventKind.RUN_ERROR, run_id, message=str(exc))
        return RunError(run_id, str(exc))
    except Exception as exc:  # a bug: keep the batch going, report it with its traceback
        log.debug("internal error in run %r", run_id, exc_info=True)  # the CLI files the traceback
        control.emit(EventKind.RUN_ERROR, run_id, message=f"internal error: {exc!r}")
        return RunError(run_id, f"internal error: {exc!r}", traceback.format_exc())


def finish_batch(
    control: BatchControl, *, batch_id: str, base_sha: str, ends: Sequence[RunEnd]
) -> BatchResult:
    """The batch's result, announced."""
    control.close()
    result = BatchResult(batch_id, base_sha, tuple(ends), control.stop_reason)
    control.emit(
        EventKind.BATCH_FINISHED,
        batch_id=batch_id,
        exit_code=result.exit_code,
        counts=result.counts(),
        stop_reason=control.stop_reason,
    )
    return result


def run_batch(settings: RunSettings, control: BatchControl) -> BatchResult:
    """Execute every run of the batch, `settings.workers` at a time, until done or stopped."""
    base_sha = git.resolve_commit(settings.source_repo, settings.base_ref)
    settings.runs_dir.mkdir(parents=True, exist_ok=True)
    git.ensure_excluded(settings.source_repo, settings.runs_dir)
    # Whatever an earlier, killed batch left behind (stale locks, orphaned worktrees) is saved first.
    recovered = maintenance.recover(repo=settings.source_repo, runs_dir=settings.runs_dir)
    for orphan in recovered.recovered:
        log.warning(
            "recovered run %r: its attempt %s's files are on %s", orphan.run_id, orphan.attempt, orphan.branch
        )
    requests = build_requests(settings, base_sha)
    control.emit(
        EventKind.BATCH_STARTED,
        batch_id=settings.batch_id,
        base_sha=base_sha,
        runs=len(requests),
        workers=settings.workers,
        runs_dir=str(settings.runs_dir),
    )
    budget = None
    if settings.max_batch_time is not None:
        budget = threading.Timer(settings.max_batch_time, control.request_stop, args=("budget",))
        budget.daemon = True
        budget.start()
    ends: list[RunEnd] = []
    # Queued runs are not cancelled on a stop: each one records itself as not started, under its lock.
    with ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="run") as pool:
        futures = [
            pool.submit(guarded, request.run_id, control, functools.partial(execute_run, request, control))
            for request in requests
        ]
        ends.extend(future.result() for future in as_completed(futures))
    if budget is not None:
        budget.cancel()
    return finish_batch(control, batch_id=settings.batch_id, base_sha=base_sha, ends=ends)
