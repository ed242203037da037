"""Rules that turn outcomes into exit codes and decide what a batch may do. Pure."""

from __future__ import annotations

import signal
from collections.abc import Iterable

from parallel_runs.core.model import Outcome
from parallel_runs.errors import EXIT_FAILED, EXIT_HELD, EXIT_INTERNAL, EXIT_OK, ConfigError

__all__ = [
    "RETRYABLE",
    "batch_exit_code",
    "check_shared_sqlite_workers",
    "describe_exit_code",
    "outcome_of_command",
    "shell_exit_code",
    "signal_name",
    "workers_warning",
]

# Above this many workers per core, runs mostly wait for each other (a warning, not a refusal).
WORKERS_PER_CORE_WARNING = 4

# Outcomes a new attempt may fix. `cancelled` is the user's decision and is never retried.
RETRYABLE = frozenset({Outcome.FAILED, Outcome.TIMED_OUT, Outcome.ABANDONED})


def shell_exit_code(returncode: int) -> int:
    """A command's exit code as a shell shows it: killed by signal N is 128+N (SIGTERM: 143).

    Python reports -N for a process a signal killed, but a `bash -c` that outlives its killed child
    reports 128+N for the same thing: one convention everywhere, the shell's, which users know.
    """
    return 128 - returncode if returncode < 0 else returncode


def describe_exit_code(code: int | None) -> str:
    """`143 (SIGTERM)` for a signal's code, `3` for any other, `-` when the command never ran."""
    if code is None:
        return "-"
    name = signal_name(code)
    code = shell_exit_code(code)  # records written before the convention hold -N
    return f"{code} ({name})" if name else str(code)


def signal_name(code: int) -> str | None:
    """`SIGTERM` for an exit code saying a signal killed the command (143, or Python's -15), else None."""
    code = shell_exit_code(code)
    try:
        return signal.Signals(code - 128).name if code > 128 else None
    except ValueError:
        return None


def outcome_of_command(
    *, exit_code: int | None, timed_out: bool, stopping: bool = False, regressed: bool = False
) -> Outcome:
    """The outcome of an attempt from how its command ended and what its tests said.

    `stopping`: the batch was being stopped; `regressed`: the test delta shows persistent new
    failures and gating is on (CONTRACTS §5: only a command that exited 0 can be `regressed`).
    """
    if timed_out:
        return Outcome.TIMED_OUT
    if stopping and exit_code != 0:
        return Outcome.CANCELLED
    if exit_code != 0:
        return Outcome.FAILED
    return Outcome.REGRESSED if regressed else Outcome.SUCCEEDED


def batch_exit_code(outcomes: Iterable[Outcome], *, had_internal_error: bool = False) -> int:
    """CONTRACTS §6: 3 for a bug, 1 if a run did not succeed, 75 if a run was held elsewhere, else 0."""
    if had_internal_error:
        return EXIT_INTERNAL
    seen = set(outcomes)
    if any(not o.is_success and o is not Outcome.HELD for o in seen):
        return EXIT_FAILED
    if Outcome.HELD in seen:
        return EXIT_HELD
    return EXIT_OK


def check_shared_sqlite_workers(workers: int) -> None:
    """CONTRACTS §7: one SQLite file cannot take several writers at once; say what to use instead."""
    if workers > 1:
        raise ConfigError(
            f"one shared SQLite file cannot serve --workers {workers}: use --per-run-sqlite "
            "(one file per run, the default) or a PostgreSQL --database-url"
        )


def workers_warning(workers: int, cores: int) -> str | None:
    """A warning when --workers is far above what the machine can run at once."""
    if workers > WORKERS_PER_CORE_WARNING * cores:
        return (
            f"--workers {workers} is more than {WORKERS_PER_CORE_WARNING} per CPU core ({cores} cores): "
            "runs will mostly wait for each other"
        )
    return None
