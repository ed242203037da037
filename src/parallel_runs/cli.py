"""The command line: one function per command, each returning an exit code.

The only place that catches every exception: a bug becomes exit 3 with one line on screen and the
traceback in a file.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from parallel_runs import __version__, report
from parallel_runs.config import ENV, build_report_settings, build_run_settings
from parallel_runs.core.durations import format_duration
from parallel_runs.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, ParallelRunsError
from parallel_runs.execution import HeldRun
from parallel_runs.supervisor import RunEnd, RunError, run_batch

__all__ = ["main"]

PROG = "parallel-runs"
EXIT_CODES_HELP = (
    "exit codes: 0 every run succeeded or was skipped · 1 a run did not succeed · 2 usage or "
    "configuration error · 3 internal error · 75 a run is held by another live process · 130 interrupted"
)


class _UsageError(Exception):
    """argparse wants to exit 2; we want one line and our own exit path."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{self.prog}: {message}")


def _env_help(text: str, key: str) -> str:
    return f"{text} [env: {ENV[key]}]"


def _add_location_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runs-dir",
        help=_env_help(
            "root of all on-disk state (also AUTONOMOUS_RUNS_DIR); default <repo>/.autonomous_runs",
            "runs_dir",
        ),
    )
    parser.add_argument(
        "--source-repo",
        help=_env_help("the git repository runs are made from; default: the one around cwd", "source_repo"),
    )


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Run many independent runs against one git repository, each in "
        "its own worktree, and report what happened.",
        epilog=EXIT_CODES_HELP,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command_name", metavar="COMMAND", parser_class=_Parser)

    run = commands.add_parser(
        "run",
        help="run a batch here",
        epilog=EXIT_CODES_HELP,
        description="Run a batch of runs on this machine. The command runs in each run's worktree "
        "(branch parallel-runs/<slug>); its changes are committed there whatever the outcome. "
        "Placeholders {run_id} {slug} {workspace} {artifacts_dir} {batch_id} are replaced (shell-quoted). "
        "Give the command with --command 'CMD' (run by bash -c) or after -- as an argv.",
    )
    run.add_argument(
        "--run-ids",
        action="append",
        metavar="IDS",
        help=_env_help(
            "run ids, separated by commas/whitespace; brace ranges exp-{001..20} and "
            "lists x-{a,b} expand; repeatable",
            "run_ids",
        ),
    )
    run.add_argument(
        "--run-ids-file",
        action="append",
        metavar="FILE",
        help=_env_help("file with one run id per line (# comments); repeatable", "run_ids_file"),
    )
    run.add_argument(
        "--workers", metavar="N", help=_env_help("runs executing at once (default: min(4, cores))", "workers")
    )
    run.add_argument(
        "--command", metavar="CMD", help=_env_help("shell command run by bash -c in each worktree", "command")
    )
    run.add_argument(
        "--timeout",
        metavar="DUR",
        help=_env_help(
            "per-attempt time limit, e.g. 90s, 30m, 1h30m; the run's whole process group is stopped",
            "timeout",
        ),
    )
    run.add_argument(
        "--grace",
        metavar="DUR",
        help=_env_help("time between SIGTERM and SIGKILL when stopping a run (default 10s)", "grace"),
    )
    run.add_argument(
        "--keep-worktrees",
        action="store_true",
        default=None,
        help=_env_help(
            "keep each worktree after its run (changes are committed either way)", "keep_worktrees"
        ),
    )
    run.add_argument(
        "--base-ref", metavar="REF", help=_env_help("commit every run starts from (default HEAD)", "base_ref")
    )
    run.add_argument(
        "--batch-id",
        metavar="ID",
        help=_env_help(
            "name of this batch (default gh-<run>-<attempt> in Actions, else a UTC timestamp)", "batch_id"
        ),
    )
    run.add_argument(
        "--per-run-sqlite",
        action="store_true",
        help="record each run in its own SQLite file <runs dir>/<slug>/<slug>.db (the default)",
    )
    _add_location_options(run)

    rep = commands.add_parser(
        "report", help="one table of runs from every store under the runs dir", epilog=EXIT_CODES_HELP
    )
    rep.add_argument(
        "--format", choices=("table", "json"), help=_env_help("output format (default table)", "format")
    )
    rep.add_argument("--batch", metavar="ID", help="only runs whose latest attempt belongs to this batch")
    _add_location_options(rep)
    return parser


def _split_argv(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    args = list(argv)
    if "--" in args:
        at = args.index("--")
        return args[:at], args[at + 1 :]
    return args, []


def _print_end(console: Console, end: RunEnd) -> None:
    if isinstance(end, HeldRun):
        console.print(f"[yellow]held[/]     {end.run_id}: {end.error}", highlight=False)
    elif isinstance(end, RunError):
        console.print(f"[red]error[/]    {end.run_id}: {end.message}", highlight=False)
    else:
        colour = "green" if end.outcome.is_success else "red"
        console.print(
            f"[{colour}]{end.outcome.value:<9}[/] {end.run_id} (attempt {end.attempt}, exit {end.exit_code}, "
            f"{format_duration(end.duration_seconds)}) → {end.branch}",
            highlight=False,
        )


def _write_traceback(text: str) -> Path:
    handle, name = tempfile.mkstemp(prefix="parallel-runs-error-", suffix=".log")
    with os.fdopen(handle, "w") as out:
        out.write(f"{datetime.now(UTC).isoformat()}\n{text}")
    return Path(name)


def cmd_run(args: argparse.Namespace, argv: Sequence[str], console: Console) -> int:
    """`parallel-runs run`: execute a batch here and print one line per run, then the exit code."""
    settings = build_run_settings(flags=vars(args), argv=argv, environ=os.environ, cwd=Path.cwd())
    console.print(
        f"batch {settings.batch_id}: {len(settings.run_ids)} run(s), {settings.workers} worker(s), "
        f"runs dir {settings.runs_dir}",
        highlight=False,
    )
    batch = run_batch(settings, on_end=lambda end: _print_end(console, end))
    for error in batch.errors:
        if error.traceback:
            path = _write_traceback(error.traceback)
            console.print(
                f"internal error in run {error.run_id}; traceback written to {path}", highlight=False
            )
    return batch.exit_code


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    """`parallel-runs report`: read every per-run store under the runs dir."""
    settings = build_report_settings(flags=vars(args), environ=os.environ, cwd=Path.cwd())
    rows = report.collect_runs(settings.runs_dir, batch_id=settings.batch_id)
    if settings.format == "json":
        sys.stdout.write(report.render_json(rows) + "\n")
    else:
        console.print(report.render_table(rows))
    return EXIT_OK


def _dispatch(args: argparse.Namespace, command_argv: Sequence[str], console: Console) -> int:
    if args.command_name is None:
        _build_parser().print_help()
        return EXIT_USAGE
    if command_argv and args.command_name != "run":
        raise _UsageError(f"{PROG} {args.command_name}: unexpected arguments after --")
    if args.command_name == "run":
        return cmd_run(args, command_argv, console)
    return cmd_report(args, console)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `parallel-runs` console script."""
    own, command_argv = _split_argv(sys.argv[1:] if argv is None else argv)
    console = Console(highlight=False, soft_wrap=True)
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(message)s")
    try:
        return _dispatch(_build_parser().parse_args(own), command_argv, console)
    except _UsageError as exc:
        errors.print(str(exc), markup=False)
        return EXIT_USAGE
    except ParallelRunsError as exc:
        errors.print(f"{PROG}: {exc}", markup=False)
        return exc.exit_code
    except KeyboardInterrupt:
        errors.print(f"{PROG}: interrupted", markup=False)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the one catch-all: a bug becomes exit 3, not a traceback
        path = _write_traceback(traceback.format_exc())
        errors.print(f"{PROG}: internal error: {exc!r} (traceback in {path})", markup=False)
        return EXIT_INTERNAL
