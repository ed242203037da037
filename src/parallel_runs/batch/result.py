"""What a batch did: how each run ended here, and the batch's exit code (CONTRACTS §6)."""

from __future__ import annotations

from dataclasses import dataclass, field

from parallel_runs.core.model import Attempt, Outcome
from parallel_runs.core.policy import batch_exit_code
from parallel_runs.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, AlreadyHeldError

__all__ = ["BatchResult", "HeldRun", "RunEnd", "RunError", "RunSummary", "SkippedRun", "outcome_of"]


@dataclass(frozen=True, slots=True)
class RunSummary:
    """Every attempt this batch made of one run; the last one decides."""

    run_id: str
    attempts: tuple[Attempt, ...]

    @property
    def final(self) -> Attempt:
        """The attempt that decides how the run ended."""
        return self.attempts[-1]


@dataclass(frozen=True, slots=True)
class HeldRun:
    """Not executed here: a live process holds the run."""

    run_id: str
    error: AlreadyHeldError


@dataclass(frozen=True, slots=True)
class SkippedRun:
    """Not executed: resume rules say it needs no new attempt (or the batch stopped first)."""

    run_id: str
    outcome: Outcome  # SKIPPED or NOT_STARTED
    reason: str


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
    """Everything a batch did here, in completion order."""

    batch_id: str
    base_sha: str
    ends: tuple[RunEnd, ...] = field(default_factory=tuple)
    stop_reason: str | None = None  # "interrupted", "budget" or "cancelled" when the batch was stopped

    @property
    def errors(self) -> list[RunError]:
        """The runs that could not be carried out."""
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
        """CONTRACTS §6: 130 when interrupted, else from the outcomes; 1 at least when cancelled."""
        if self.stop_reason == "interrupted":
            return EXIT_INTERRUPTED
        has_bug = any(e.traceback for e in self.errors)
        code = batch_exit_code((outcome_of(end) for end in self.ends), had_internal_error=has_bug)
        # Its runs were not all done, even when none of them ended badly here (or none ran here).
        return EXIT_FAILED if self.stop_reason == "cancelled" and code == EXIT_OK else code
