"""The command line: one module per command, each handler returning an exit code.

A command registers its handler and the config/ builder of its Settings; the dispatcher builds the
Settings from the parsed flags and the environment (read here, not by handlers) and hands them over.
`main` is the only place that catches every exception: a bug becomes exit 3 with one line on
screen and the traceback in a file.
"""

from __future__ import annotations

import argparse
import os
import sys

from parallel_runs import __version__
from parallel_runs.cli import (
    action,
    apply,
    artifacts,
    batches,
    branches,
    cancel,
    db,
    logs,
    plan,
    report,
    run,
    worker,
    worktrees,
)
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
    from collections.abc import Sequence

__all__ = ["build_parser", "main", "split_argv"]


def build_parser() -> argparse.ArgumentParser:
    """The whole `parallel-runs` parser; each command module registers itself."""
    parser = Parser(
        prog=PROG,
        description="Run many independent runs against one git repository, each in its own worktree, "
        "and report what happened.",
        epilog=exit_codes_help({0: "success"}) + " · each command's --help lists its own",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command_name", metavar="COMMAND", parser_class=Parser)
    batch_commands = (run, worker, cancel, plan, report, batches, logs, apply, branches)
    for module in (*batch_commands, worktrees, db, artifacts, action):
        module.register(commands)
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
    parser = build_parser()
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
