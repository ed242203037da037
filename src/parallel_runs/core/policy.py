"""Rules that turn outcomes into exit codes and decide what a batch may do. Pure."""

from __future__ import annotations

from collections.abc import Iterable

from parallel_runs.core.model import Outcome
from parallel_runs.errors import EXIT_FAILED, EXIT_HELD, EXIT_INTERNAL, EXIT_OK

__all__ = ["batch_exit_code", "outcome_of_command"]


def outcome_of_command(*, exit_code: int | None, timed_out: bool) -> Outcome:
    """The outcome of an attempt from how its command ended."""
    if timed_out:
        return Outcome.TIMED_OUT
    return Outcome.SUCCEEDED if exit_code == 0 else Outcome.FAILED


def batch_exit_code(outcomes: Iterable[Outcome], *, had_internal_error: bool = False) -> int:
    """DESIGN §6: 3 for a bug, 1 if a run did not succeed, 75 if a run was held elsewhere, else 0."""
    if had_internal_error:
        return EXIT_INTERNAL
    seen = set(outcomes)
    if any(not o.is_success and o is not Outcome.HELD for o in seen):
        return EXIT_FAILED
    if Outcome.HELD in seen:
        return EXIT_HELD
    return EXIT_OK
