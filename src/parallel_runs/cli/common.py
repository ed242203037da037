"""What every command shares: the parser class, option helpers, consoles, error files."""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys

from parallel_runs.config.flags import ENV
from parallel_runs.errors import UsageError

# typing.TYPE_CHECKING without importing typing: `--help` imports only what it prints (see
# tests/unit/test_cli_startup.py); the modules errors and --help never use are imported where used.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from pathlib import Path
    from typing import Any, NoReturn, Protocol

    from rich.console import Console

    class RunErrorLike(Protocol):
        """A run that could not be carried out (supervisor.RunError)."""

        @property
        def run_id(self) -> str: ...

        @property
        def traceback(self) -> str | None: ...


__all__ = [
    "EXIT_CODES_HELP",
    "PROG",
    "Parser",
    "add_batch_option",
    "add_location_options",
    "command_paths",
    "deferred",
    "env_help",
    "exit_codes_help",
    "is_stdout_gone",
    "make_console",
    "print_internal_errors",
    "silence_stdout",
    "write_traceback",
]

PROG = "parallel-runs"
# Every command can end in these two; each command's --help adds what its other codes mean.
_COMMON_EXIT_CODES = {2: "usage or configuration error", 3: "internal error (traceback in a file)"}


def exit_codes_help(codes: Mapping[int, str]) -> str:
    """The epilog listing a command's own exit codes (2 and 3 unless `codes` says more about them)."""
    listed = {**_COMMON_EXIT_CODES, **codes}
    return "exit codes: " + " · ".join(f"{code} {listed[code]}" for code in sorted(listed))


# `run` and `worker` (CONTRACTS §6).
EXIT_CODES_HELP = exit_codes_help(
    {
        0: "every run succeeded or was skipped",
        1: "a run did not succeed, or the batch was cancelled",
        75: "a run is held by another live process",
        130: "interrupted",
    }
)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors become UsageError (one line, exit 2), not usage text and SystemExit.

    The line names the choices a missing subcommand has, and the nearest spelling of a mistyped
    command or option (Python 3.12's `suggest_on_error`, which 3.11 lacks).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # argparse reads `--timeout -5s` as a second option and says "expected one argument"; taken
        # as the value, it is refused with the flag's own rule. No option of ours starts with -<digit>.
        self._negative_number_matcher = re.compile(r"^-[0-9.]")

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """As argparse does, but an unknown option is refused here, where its command's options are known."""
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            known = [name for action in self._actions for name in action.option_strings]
            word = extras[0].split("=", 1)[0]
            self.error(f"unrecognized arguments: {' '.join(extras)}{_did_you_mean(word, known)}")
        return parsed, extras

    def error(self, message: str) -> NoReturn:
        choice = re.search(_INVALID_CHOICE, message)
        if choice:
            message += _did_you_mean(choice.group(1), re.findall(r"'([^']*)'", choice.group(2)))
        elif message.startswith("the following arguments are required"):
            message += _subcommands(self)
        raise UsageError(f"{self.prog}: {message}")


# A pattern, not compiled here: only an error needs it, and compiling costs --help a millisecond.
_INVALID_CHOICE = r"invalid choice: '(.*?)' \(choose from (.*)\)$"


def _did_you_mean(word: str, known: Sequence[str]) -> str:
    """` (did you mean X?)` for the nearest of `known`, or nothing when none is near."""
    import difflib

    near = difflib.get_close_matches(word, known, n=1)
    return f" (did you mean {near[0]}?)" if near else ""


def _subcommands(parser: argparse.ArgumentParser) -> str:
    """` (choose from: a, b)`: the subcommands of `parser`, for the error that one is missing."""
    for action in parser._actions:  # argparse has no public way to list them
        if isinstance(action, argparse._SubParsersAction):
            return f" (choose from: {', '.join(action.choices)})"
    return ""


def deferred(module: str, name: str) -> Callable[..., Any]:
    """`module.name`, imported only when called: registering a command loads none of what it runs."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    return call


def env_help(text: str, key: str) -> str:
    """Help text that names the option's environment variable."""
    return f"{text} [env: {ENV[key]}]"


def add_batch_option(parser: argparse.ArgumentParser, text: str, *, dest: str = "batch") -> None:
    """--batch ID, with --batch-id as its alias: one name for the batch on every command."""
    parser.add_argument("--batch", "--batch-id", dest=dest, metavar="ID", help=env_help(text, dest))


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
    from parallel_runs.cli.console import PipeConsole

    return PipeConsole(stderr=stderr, highlight=False, soft_wrap=True)


def is_stdout_gone() -> bool:
    """True when stdout is a pipe whose reader has closed it: a BrokenPipeError that is not ours to report."""
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):  # not a real file (a test's capture)
        return False
    import select  # a shared library to load: only a closed pipe asks

    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & select.POLLERR for _, events in poller.poll(0))


def silence_stdout() -> None:
    """The reader of our output has gone (`| head`): what is left to print goes to /dev/null.

    Python's own flush at exit would otherwise fail on the closed pipe once more, and say so.
    """
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):  # not a real file (a test's capture): nothing to redirect
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def print_internal_errors(errors: Console, run_errors: Iterable[RunErrorLike]) -> None:
    """One line per run that hit a bug of ours; its traceback goes to a file."""
    for error in run_errors:
        if error.traceback:
            path = write_traceback(error.traceback)
            errors.print(f"internal error in run {error.run_id}; traceback written to {path}", markup=False)


def write_traceback(text: str) -> Path:
    """Keep a bug's traceback in a file; the screen gets one line naming it."""
    import tempfile
    from datetime import UTC, datetime
    from pathlib import Path

    handle, name = tempfile.mkstemp(prefix="parallel-runs-error-", suffix=".log")
    with os.fdopen(handle, "w") as out:
        out.write(f"{datetime.now(UTC).isoformat()}\n{text}")
    return Path(name)


def command_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and subcommand of the parser (`run`, `worktrees list`, ...)."""
    paths = []
    for action in parser._actions:  # argparse has no public way to list subparsers
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                paths.append((*prefix, name))
                paths.extend(command_paths(child, (*prefix, name)))
    return paths
