"""What every command shares: the parser class, option helpers, consoles, error files."""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from parallel_runs.config import ENV
from parallel_runs.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "EXIT_CODES_HELP",
    "PROG",
    "Parser",
    "add_location_options",
    "env_help",
    "make_console",
    "print_internal_errors",
    "write_traceback",
]

PROG = "parallel-runs"
EXIT_CODES_HELP = (
    "exit codes: 0 every run succeeded or was skipped · 1 a run did not succeed · 2 usage or "
    "configuration error · 3 internal error · 75 a run is held by another live process · 130 interrupted"
)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors become UsageError (one line, exit 2), not usage text and SystemExit."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def env_help(text: str, key: str) -> str:
    """Help text that names the option's environment variable."""
    return f"{text} [env: {ENV[key]}]"


def add_location_options(parser: argparse.ArgumentParser) -> None:
    """--runs-dir and --source-repo, shared by every command that touches a repository."""
    parser.add_argument(
        "--runs-dir",
        help=env_help(
            "root of all on-disk state (also AUTONOMOUS_RUNS_DIR); default <repo>/.autonomous_runs",
            "runs_dir",
        ),
    )
    parser.add_argument(
        "--source-repo",
        help=env_help("the git repository runs are made from; default: the one around cwd", "source_repo"),
    )


def make_console(*, stderr: bool = False) -> Console:
    """A console that never wraps plain lines (logs stay greppable) and never guesses highlights."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def print_internal_errors(errors: Console, run_errors: Iterable[RunErrorLike]) -> None:
    """One line per run that hit a bug of ours; its traceback goes to a file."""
    for error in run_errors:
        if error.traceback:
            path = write_traceback(error.traceback)
            errors.print(f"internal error in run {error.run_id}; traceback written to {path}", markup=False)


class RunErrorLike(Protocol):
    """A run that could not be carried out (supervisor.RunError)."""

    @property
    def run_id(self) -> str: ...

    @property
    def traceback(self) -> str | None: ...


def write_traceback(text: str) -> Path:
    """Keep a bug's traceback in a file; the screen gets one line naming it."""
    handle, name = tempfile.mkstemp(prefix="parallel-runs-error-", suffix=".log")
    with os.fdopen(handle, "w") as out:
        out.write(f"{datetime.now(UTC).isoformat()}\n{text}")
    return Path(name)
