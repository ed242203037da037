"""`autopack-supervisor`: the seed's command line, translated into a `parallel-runs` call."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from parallel_runs import __version__, cli
from parallel_runs.cli.common import EXIT_CODES_HELP, Parser, make_console
from parallel_runs.config import SEED_SET_DATABASE_URL_ENV
from parallel_runs.config.common import seed_store
from parallel_runs.config.options import option
from parallel_runs.errors import EXIT_USAGE, UsageError

__all__ = ["build_parser", "main", "translate"]

PROG = "autopack-supervisor"
DESCRIPTION = """\
Autopack's supervisor flags, carried out by `parallel-runs`:

  --run-ids a,b --workers N --command CMD   parallel-runs run --run-ids a,b --workers N --command CMD
  -- ARGV (after the flags)                 parallel-runs run ... -- ARGV
  --per-run-sqlite                          --per-run-sqlite (the default; wins over --database-url)
  --database-url URL                        --database-url URL
  --autonomous-runs-dir DIR                 --runs-dir DIR
  --source-repo DIR                         --source-repo DIR
  --list-worktrees                          parallel-runs worktrees list
  --cleanup                                 parallel-runs cleanup (finished worktrees; orphaned
                                            ones: parallel-runs recover)
  --redo, --timeout DUR                     --redo, --timeout DUR

Unlike the seed, no Autopack executor is started: give the command each run executes."""


def build_parser() -> argparse.ArgumentParser:
    """The seed's flags, plus --command."""
    parser = Parser(
        prog=PROG,
        description=DESCRIPTION,
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--version", action="version", version=f"{PROG} (parallel-runs {__version__})")
    add("--run-ids", metavar="IDS", help="run ids, comma-separated (brace ranges expand)")
    add("--workers", metavar="N", help="runs executing at once (default: as `parallel-runs run`)")
    add("--database-url", metavar="URL", help="record into this store (also DATABASE_URL)")
    add("--per-run-sqlite", action="store_true", help="one SQLite store per run (the default)")
    add("--source-repo", metavar="DIR", help="the git repository runs are made from (default: cwd's)")
    add("--autonomous-runs-dir", metavar="DIR", help="runs dir (also AUTONOMOUS_RUNS_DIR)")
    # The flags the seed shares with `run` say what `run`'s do (config/options.py).
    add("--command", metavar="CMD", help=option("command").help)
    add("--redo", action="store_true", help=option("redo").help)
    add("--timeout", metavar="DUR", help=option("timeout").help)
    utility = parser.add_mutually_exclusive_group()
    utility.add_argument("--list-worktrees", action="store_true", help="list managed worktrees and exit")
    utility.add_argument("--cleanup", action="store_true", help="save and remove finished worktrees and exit")
    return parser


def _location(args: argparse.Namespace) -> list[str]:
    found = [("--runs-dir", args.autonomous_runs_dir), ("--source-repo", args.source_repo)]
    return [part for flag, value in found if value is not None for part in (flag, value)]


def _flag(key: str) -> str:
    """`run`'s flag for the option `key`, as its table spells it."""
    return option(key).name


def translate(argv: Sequence[str]) -> list[str]:
    """The `parallel-runs` argv that does what the seed's `argv` asked; UsageError when it cannot."""
    own, command_argv = cli.split_argv(argv)
    args = build_parser().parse_args(own)
    if args.list_worktrees:
        return ["worktrees", "list", *_location(args)]
    if args.cleanup:
        return ["cleanup", *_location(args)]
    if not args.run_ids:
        raise UsageError(f"{PROG}: --run-ids is required (or use --list-worktrees / --cleanup)")
    if args.command is None and not command_argv:
        raise UsageError(
            f"{PROG}: give --command CMD (or -- ARGV): parallel-runs does not start the Autopack executor"
        )
    run = ["run", _flag("run_ids"), args.run_ids, *_location(args)]
    for key in ("workers", "timeout"):
        if (value := getattr(args, key)) is not None:
            run += [_flag(key), value]
    if args.redo:
        run.append(_flag("redo"))
    for key, *value in seed_store(
        per_run_sqlite=args.per_run_sqlite, url=args.database_url, environ=os.environ
    ):
        run += [_flag(key), *value]
    if args.command is not None:
        run += [_flag("command"), args.command]
    return [*run, "--", *command_argv] if command_argv else run


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `autopack-supervisor` console script."""
    try:
        translated = translate(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        make_console(stderr=True).print(str(exc), markup=False)
        return exc.exit_code
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    os.environ[SEED_SET_DATABASE_URL_ENV] = "1"  # and the runs get DATABASE_URL, as the seed's did
    return cli.main(translated)


if __name__ == "__main__":
    sys.exit(main())
