"""The one exception hierarchy: each error carries the exit code the CLI returns for it."""

from __future__ import annotations

import errno

# typing.TYPE_CHECKING without importing typing: the CLI's parser needs these errors and no more.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from parallel_runs.holders import Holder

__all__ = [
    "EXIT_FAILED",
    "EXIT_HELD",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "SHARED_STORE_HINT",
    "AlreadyHeldError",
    "BaselineError",
    "ConfigError",
    "GitError",
    "InvalidRunIdError",
    "LeaseLostError",
    "NoSpaceError",
    "NotFoundError",
    "ParallelRunsError",
    "StoreError",
    "UsageError",
    "is_disk_full",
    "not_found_here",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_HELD = 75  # EX_TEMPFAIL: try again when the other holder is done
EXIT_INTERRUPTED = 130


class ParallelRunsError(Exception):
    """Base of every error this package raises on purpose."""

    exit_code: int = EXIT_INTERNAL


class ConfigError(ParallelRunsError):
    """Bad flags, environment or configuration: the user can fix it."""

    exit_code = EXIT_USAGE


class BaselineError(ConfigError):
    """The test command cannot judge runs at the base commit (not found, no report, no test passes).

    Raised before any run starts, so the batch stops with exit 2 and a message naming the fix.
    """


class NotFoundError(ConfigError):
    """A run, batch or attempt the user named is not recorded where the command looked."""


SHARED_STORE_HINT = "runs of a shared store are read with --database-url URL"


def not_found_here(what: str, runs_dir: object) -> NotFoundError:
    """No such run or batch in this machine's runs dir, pointing at where else it may be recorded."""
    return NotFoundError(f"{what} under {runs_dir} ({SHARED_STORE_HINT})")


class UsageError(ParallelRunsError):
    """A malformed command line (what argparse would answer with usage and exit 2).

    Not a ConfigError: only the command line raises it, and its message already names the command
    (`parallel-runs run: ...`, `autopack-supervisor: ...`), so the CLI prints it as it is.
    """

    exit_code = EXIT_USAGE


class InvalidRunIdError(ConfigError, ValueError):
    """A run id breaks one of the rules of CONTRACTS §2; a ValueError too, as library callers expect."""


class GitError(ParallelRunsError):
    """A git operation failed (bad ref, broken repository, ...)."""

    exit_code = EXIT_USAGE


class StoreError(ParallelRunsError):
    """The record store could not be read or written."""


class NoSpaceError(ParallelRunsError):
    """A disk is full (runs dir or repository). `saved_head`: the run branch's head, when its
    changes were committed before the disk filled up (only a file about them is missing)."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, saved_head: str | None = None) -> None:
        super().__init__(message)
        self.saved_head = saved_head


_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_FULL_TEXTS = ("No space left on device", "Disk quota exceeded")


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` (an OSError, or a tool's message) says a disk or quota is full."""
    # Here, not at the top: it loads logging, which the CLI parser (a user of these errors) never needs.
    from parallel_runs import testing_faults  # noqa: PLC0415

    if testing_faults.is_broken("no-space"):  # chaos-proof only: a full disk is just another error
        return False
    if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
        return True
    return isinstance(exc, NoSpaceError) or any(text in str(exc) for text in _FULL_TEXTS)


class LeaseLostError(ParallelRunsError):
    """A shared-store lease was taken over (its fencing token is stale): this holder must not write."""

    exit_code = EXIT_HELD


class AlreadyHeldError(ParallelRunsError):
    """A run (or its workspace) is held by a live process."""

    exit_code = EXIT_HELD

    def __init__(self, what: str, holder: Holder | None) -> None:
        self.what = what
        self.holder = holder
        who = holder.describe() if holder else "an unknown holder"
        super().__init__(f"{what} is already held by {who}")
