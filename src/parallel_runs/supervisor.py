"""Run a batch: N attempts in parallel on a pool of worker threads (each attempt is a subprocess)."""

from __future__ import annotations

import logging
import signal
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from parallel_runs import git
from parallel_runs.config import RunSettings
from parallel_runs.core.ids import slugify
from parallel_runs.core.model import AttemptResult, Outcome
from parallel_runs.core.policy import batch_exit_code
from parallel_runs.errors import ParallelRunsError
from parallel_runs.execution import AttemptRequest, HeldRun, execute_attempt
from parallel_runs.process import kill_process_group

__all__ = ["BatchResult", "RunError", "run_batch"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunError:
    """A run that could not be carried out; `traceback` is set when it is a bug of ours."""

    run_id: str
    message: str
    traceback: str | None = None


RunEnd = AttemptResult | HeldRun | RunError


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Everything a batch did, in completion order."""

    batch_id: str
    base_sha: str
    ends: tuple[RunEnd, ...] = field(default_factory=tuple)

    @property
    def results(self) -> list[AttemptResult]:
        return [end for end in self.ends if isinstance(end, AttemptResult)]

    @property
    def held(self) -> list[HeldRun]:
        return [end for end in self.ends if isinstance(end, HeldRun)]

    @property
    def errors(self) -> list[RunError]:
        return [end for end in self.ends if isinstance(end, RunError)]

    @property
    def exit_code(self) -> int:
        outcomes = [r.outcome for r in self.results] + [Outcome.HELD for _ in self.held]
        outcomes += [Outcome.FAILED for _ in self.errors]
        return batch_exit_code(outcomes, had_internal_error=any(e.traceback for e in self.errors))


class _RunningGroups:
    """Process groups of commands in flight, so an interrupt can stop them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._groups: dict[str, int] = {}

    def add(self, run_id: str, pgid: int) -> None:
        with self._lock:
            self._groups[run_id] = pgid

    def terminate_all(self) -> None:
        with self._lock:
            for pgid in self._groups.values():
                kill_process_group(pgid, signal.SIGTERM)


def _attempt(request: AttemptRequest, groups: _RunningGroups) -> RunEnd:
    try:
        return execute_attempt(request, on_command_start=groups.add)
    except ParallelRunsError as exc:
        return RunError(request.run_id, str(exc))
    except Exception as exc:  # a bug: keep the batch going, report it with its traceback
        log.exception("internal error in run %r", request.run_id)
        return RunError(request.run_id, f"internal error: {exc!r}", traceback.format_exc())


def run_batch(settings: RunSettings, *, on_end: Callable[[RunEnd], None] | None = None) -> BatchResult:
    """Execute every run of the batch with `settings.workers` in parallel."""
    base_sha = git.resolve_commit(settings.source_repo, settings.base_ref)
    settings.runs_dir.mkdir(parents=True, exist_ok=True)
    git.ensure_excluded(settings.source_repo, settings.runs_dir)
    requests = [
        AttemptRequest(
            run_id=run_id,
            slug=slugify(run_id),
            batch_id=settings.batch_id,
            repo=settings.source_repo,
            runs_dir=settings.runs_dir,
            base_sha=base_sha,
            command=settings.command,
            timeout=settings.timeout,
            grace=settings.grace,
            keep_worktree=settings.keep_worktrees,
            environ=settings.environ,
        )
        for run_id in settings.run_ids
    ]
    groups = _RunningGroups()
    ends: list[RunEnd] = []
    pool = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="run")
    try:
        futures: list[Future[RunEnd]] = [pool.submit(_attempt, request, groups) for request in requests]
        for future in as_completed(futures):
            end = future.result()
            ends.append(end)
            if on_end is not None:
                on_end(end)
    except BaseException:
        # Interrupted: start nothing new, stop what runs; each attempt still saves its changes.
        pool.shutdown(wait=False, cancel_futures=True)
        groups.terminate_all()
        pool.shutdown(wait=True)
        raise
    pool.shutdown(wait=True)
    return BatchResult(batch_id=settings.batch_id, base_sha=base_sha, ends=tuple(ends))
