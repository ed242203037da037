"""The command line: one module per command, each handler returning an exit code.

A command registers its handler and the config/ builder of its Settings; the dispatcher builds the
Settings from the parsed flags and the environment (read here, not by handlers) and hands them over.
`main` is the only place that catches every exception: a bug becomes exit 3 with one line on
screen and the traceback in a file.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from parallel_runs import __version__
from parallel_runs.cli.common import (
    PROG,
    Parser,
    exit_codes_help,
    is_stdout_gone,
    make_console,
    silence_stdout,
    write_traceback,
)
from parallel_runs.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    ParallelRunsError,
    UsageError,
)

# typing.TYPE_CHECKING without importing typing (see common.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection, Sequence
    from typing import Any

__all__ = ["build_parser", "main", "split_argv"]


# Each command: the module (under cli/) that registers it, and its line in `parallel-runs --help`, in
# the order --help lists them. A module is imported only to parse its own commands, so `--help`,
# `--version` and `COMMAND --help` import nothing else (tests/integration/test_cli_startup.py).
COMMANDS = {
    "run": ("run", "run a batch here"),
    "worker": ("worker", "work a batch of the shared store"),
    "cancel": ("cancel", "stop a shared batch everywhere"),
    "plan": ("plan", "split a batch over a GitHub Actions matrix"),
    "report": ("report", "one table of runs from every store under the runs dir"),
    "batches": ("batches", "list batches with their counts and times"),
    "logs": ("logs", "print a run's output, one attempt at a time"),
    "dashboard": ("dashboard", "a live web UI of every batch, over the runs dir or the shared store"),
    "apply": ("apply", "bring a run's result onto the current branch"),
    "branches": ("branches", "run branches and attempt refs"),
    "worktrees": ("worktrees", "managed worktrees"),
    "cleanup": (
        "worktrees",
        "save and remove the worktrees of finished runs (never one a live process holds)",
    ),
    "recover": (
        "worktrees",
        "reclaim locks and leases of dead holders; save (as abandoned) and remove orphaned worktrees",
    ),
    "db": ("db", "manage the shared PostgreSQL database"),
    "artifacts": (
        "artifacts",
        "read run artifacts (run.log, changes.patch, ...) from the runs dir or the shared store",
    ),
    "action": ("action", "the GitHub Action's steps (run by action.yml)"),
}


class _Commands:
    """The subparsers as a command module's `register` sees them: each parser's summary is COMMANDS'."""

    def __init__(self, subparsers: Any) -> None:
        self._subparsers = subparsers

    def add_parser(self, name: str, **kwargs: Any) -> Parser:
        parser: Parser = self._subparsers.add_parser(name, help=COMMANDS[name][1], **kwargs)
        return parser


def build_parser(only: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The whole `parallel-runs` parser; with `only`, just the commands it names (if it names none,
    every command by name alone: all that --help, --version and a mistyped command need)."""
    parser = Parser(
        prog=PROG,
        description="Run many independent runs against one git repository, each in its own worktree, "
        "and report what happened.",
        epilog=exit_codes_help({0: "success"}) + " · each command's --help lists its own",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command_name", metavar="COMMAND", parser_class=Parser)
    named = {COMMANDS[name][0] for name in COMMANDS if only is None or name in only}
    registered: set[str] = set()
    for name, (module, summary) in COMMANDS.items():
        if not named:  # never parsed with, so no -h of its own
            commands.add_parser(name, help=summary, add_help=False)
        elif module in named and module not in registered:  # it registers its commands in COMMANDS' order
            registered.add(module)
            importlib.import_module(f"{__name__}.{module}").register(_Commands(commands))
    return parser


def split_argv(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Our options, and the run's argv after the first `--`."""
    args = list(argv)
    if "--" in args:
        at = args.index("--")
        return args[:at], args[at + 1 :]
    return args, []


def _dispatch(argv: Sequence[str]) -> int:
    own, command_argv = split_argv(argv)
    # A command named first is all the parser needs (nothing before it can ask for the list of
    # commands); anything else is --help, --version or an error, which need the commands' names only.
    parser = build_parser(only=own[:1] if own and own[0] in COMMANDS else [])
    args = parser.parse_args(own)
    if args.command_name is None:
        parser.print_help()
        return EXIT_USAGE
    if command_argv and args.command_name != "run":
        raise UsageError(f"{PROG} {args.command_name}: unexpected arguments after --")
    args.command_argv = command_argv
    _prepare_to_run()
    from pathlib import Path

    settings = args.build_settings(flags=vars(args), environ=os.environ, cwd=Path.cwd())
    code: int = args.handler(settings, make_console())
    return code


def _prepare_to_run() -> None:
    """Logging, and our own git kept on its repository: once a command runs, not for --help and --version."""
    import logging

    from parallel_runs.core.command import GIT_REDIRECTIONS

    logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(message)s")
    for name in GIT_REDIRECTIONS:  # inherited, they would point our own git at another repository
        os.environ.pop(name, None)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `parallel-runs` console script."""
    try:
        return _dispatch(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:  # its message already names the command
        _print_error(str(exc))
        return exc.exit_code
    except ParallelRunsError as exc:
        _print_error(f"{PROG}: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        _print_error(f"{PROG}: interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the one catch-all: a bug becomes exit 3, not a traceback
        # Our reader has had enough (`logs RUN | head`): a normal end. A pipe to anything else is a bug.
        if isinstance(exc, BrokenPipeError) and is_stdout_gone():
            silence_stdout()
            return EXIT_OK
        import traceback

        path = write_traceback(traceback.format_exc())
        _print_error(f"{PROG}: internal error: {exc!r} (traceback in {path})")
        return EXIT_INTERNAL


def _print_error(text: str) -> None:
    """One line on stderr (the console is made only when there is something to say)."""
    make_console(stderr=True).print(text, markup=False)
