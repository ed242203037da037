"""`parallel-runs worktrees list`, `cleanup` and `recover`: managed worktrees after their runs."""

from __future__ import annotations

import sys

from parallel_runs.cli.command_settings import CommandSettings
from parallel_runs.cli.common import add_location_options, deferred, exit_codes_help
from parallel_runs.config.flags import ENV, WORKTREES_FORMATS
from parallel_runs.errors import EXIT_FAILED, EXIT_OK, ConfigError

# typing.TYPE_CHECKING without importing typing: --help loads no more than it prints.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path
    from typing import Any

    from rich.console import Console
    from rich.table import Table

    from parallel_runs import maintenance

__all__ = [
    "CleanupSettings",
    "RecoverSettings",
    "WorktreesListSettings",
    "build_cleanup_settings",
    "build_recover_settings",
    "build_worktrees_list_settings",
    "cmd_cleanup",
    "cmd_recover",
    "cmd_worktrees_list",
    "register",
]

FORMAT_ENV = ENV["worktrees_format"]
OLDER_THAN_ENV = ENV["older_than"]
_STATE_STYLE = {"running": "cyan", "finished": "green", "orphaned": "red", "stale": "yellow"}


LIST_DESCRIPTION = (
    "List the worktrees under <runs dir>/workspaces: their run, state (running: a live process holds it; "
    "finished: kept by --keep-worktrees; orphaned: its process died mid-attempt, `recover` saves it; "
    "stale: git and the disk disagree), attempt, holder, age and whether it has uncommitted changes. "
    "Then the workers' reused worktrees (--reuse-worktrees) under <runs dir>/.reuse: the run each holds, "
    "or parked between runs; running while its worker lives, else orphaned (`recover` saves the run's "
    "files to its branch, or discards a parked one)."
)
CLEANUP_DESCRIPTION = (
    "Remove the worktrees of finished runs, after committing whatever they hold to their run branch. "
    "A worktree whose run a live process executes is never touched. Orphaned ones are left to `recover`."
)
RECOVER_DESCRIPTION = (
    "Clean up after a crash (every `run` also does this at start): release locks and leases whose "
    "holder died, stop the commands it left running, commit orphaned worktrees' files to their run "
    "branches, mark those attempts abandoned, and remove the worktrees."
)
LIST_EXIT_CODES = exit_codes_help({0: "listed"})
MAINTENANCE_EXIT_CODES = exit_codes_help(
    {0: "done (runs held by live processes are left alone)", 1: "a worktree could not be saved or removed"}
)


def register(commands: Any) -> None:
    """Add the `worktrees`, `cleanup` and `recover` commands to the subparsers."""
    worktrees = commands.add_parser("worktrees", description=LIST_DESCRIPTION, epilog=LIST_EXIT_CODES)
    actions = worktrees.add_subparsers(dest="worktrees_action", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list",
        help="list managed worktrees: run, state (running/finished/orphaned/stale), holder, age, changes",
        description=LIST_DESCRIPTION,
        epilog=LIST_EXIT_CODES,
    )
    listing.add_argument(
        "--format", choices=WORKTREES_FORMATS, help=f"output format (default table) [env: {FORMAT_ENV}]"
    )
    add_location_options(listing)
    listing.set_defaults(
        handler=cmd_worktrees_list,
        build_settings=deferred("parallel_runs.cli.worktrees", "build_worktrees_list_settings"),
    )

    clean = commands.add_parser(
        "cleanup",
        description=CLEANUP_DESCRIPTION,
        epilog=MAINTENANCE_EXIT_CODES,
    )
    clean.add_argument(
        "--older-than",
        metavar="DUR",
        help=f"only worktrees untouched for this long, e.g. 72h, 2d [env: {OLDER_THAN_ENV}]",
    )
    add_location_options(clean)
    clean.set_defaults(
        handler=cmd_cleanup,
        build_settings=deferred("parallel_runs.cli.worktrees", "build_cleanup_settings"),
    )

    rec = commands.add_parser(
        "recover",
        description=RECOVER_DESCRIPTION,
        epilog=MAINTENANCE_EXIT_CODES,
    )
    add_location_options(rec)
    rec.set_defaults(
        handler=cmd_recover,
        build_settings=deferred("parallel_runs.cli.worktrees", "build_recover_settings"),
    )


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _table(trees: list[maintenance.ManagedWorktree]) -> Table:
    from rich.table import Table

    from parallel_runs.core.durations import format_duration

    table = Table(title=f"{len(trees)} managed worktree(s)")
    for column in ("run", "state", "attempt", "holder", "age", "changes", "path"):
        table.add_column(column, no_wrap=column != "path", overflow="fold")
    for tree in trees:
        style = _STATE_STYLE[tree.state.value]
        holder = f"pid {tree.holder.pid}@{tree.holder.host}" if tree.holder else ""
        changes = {None: "", True: "dirty", False: "clean"}[tree.is_dirty]
        reused = " (reused)" if tree.reused else ""
        table.add_row(
            "(parked)" if tree.is_parked else _escape(tree.run_id or tree.slug),
            f"[{style}]{tree.state.value}[/]{reused}",
            "" if tree.attempt is None else str(tree.attempt),
            _escape(holder),
            "" if tree.age_seconds is None else format_duration(tree.age_seconds),
            changes,
            _escape(str(tree.path)),
        )
    return table


def cmd_worktrees_list(settings: WorktreesListSettings, console: Console) -> int:
    """Print every managed worktree as a table or JSON."""

    from parallel_runs import maintenance

    trees = maintenance.list_worktrees(repo=settings.repo, runs_dir=settings.runs_dir)
    if settings.format == "json":
        import json

        document = {"runs_dir": str(settings.runs_dir), "worktrees": [tree.to_json() for tree in trees]}
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        from parallel_runs.cli.console import print_table

        print_table(console, _table(trees))
    return EXIT_OK


def _name(slug: str, run_id: str | None) -> str:
    return _escape(run_id if run_id is not None else slug)


def _print_skipped(console: Console, label: str, entries: tuple[maintenance.Skipped, ...]) -> None:
    for entry in entries:
        console.print(f"{label} {_name(entry.slug, entry.run_id)}: {_escape(entry.reason)}")


def _print_removed(console: Console, label: str, done: maintenance.RemovedWorktree) -> None:
    killed = f"; killed its leftover process group {done.killed_pgid}" if done.killed_pgid else ""
    console.print(
        f"{label} {_name(done.slug, done.run_id)}: attempt {done.attempt} saved as {done.outcome.value} "
        f"on {_escape(done.branch)}, worktree removed{killed}"
    )


def _print_discarded(console: Console, names: tuple[str, ...]) -> None:
    for name in names:
        console.print(
            f"[green]discarded[/] {_escape(name)}: a dead worker's reused worktree, holding no run's files"
        )


def cmd_cleanup(settings: CleanupSettings, console: Console) -> int:
    """Save and remove finished runs' worktrees; print what was removed and what was left, and why."""
    from parallel_runs import maintenance

    report = maintenance.cleanup(
        repo=settings.repo, runs_dir=settings.runs_dir, older_than=settings.older_than
    )
    for done in report.removed:
        _print_removed(console, "[green]removed[/]  ", done)
    _print_discarded(console, report.discarded)
    _print_skipped(console, "[dim]skipped[/]  ", report.skipped)
    _print_skipped(console, "[red]failed[/]   ", report.failed)
    console.print(
        f"{len(report.removed)} removed, {len(report.skipped)} skipped, {len(report.failed)} failed"
    )
    return EXIT_FAILED if report.failed else EXIT_OK


def cmd_recover(settings: RecoverSettings, console: Console) -> int:
    """Reclaim what dead holders left behind; print what was done and what is held by live processes."""
    from parallel_runs import maintenance

    report = maintenance.recover(repo=settings.repo, runs_dir=settings.runs_dir)
    for done in report.recovered:
        _print_removed(console, "[yellow]recovered[/]", done)
    for name in report.reclaimed:
        console.print(f"[yellow]reclaimed[/] {_escape(name)}: released the lock a dead process held")
    for name in report.pruned:
        console.print(f"[yellow]pruned[/]    {_escape(name)}: its worktree directory was gone or empty")
    _print_discarded(console, report.discarded)
    _print_skipped(console, "[cyan]held[/]     ", report.held)
    _print_skipped(console, "[red]failed[/]   ", report.failed)
    if not (
        report.recovered
        or report.reclaimed
        or report.pruned
        or report.held
        or report.failed
        or report.discarded
    ):
        console.print("nothing to recover")
    return EXIT_FAILED if report.failed else EXIT_OK


class WorktreesListSettings(CommandSettings):
    """Everything `parallel-runs worktrees list` needs."""

    repo: Path
    runs_dir: Path
    format: str  # one of WORKTREES_FORMATS


class CleanupSettings(CommandSettings):
    """Everything `parallel-runs cleanup` needs."""

    repo: Path
    runs_dir: Path
    older_than: float | None = None  # seconds untouched; None: every finished worktree


class RecoverSettings(CommandSettings):
    """Everything `parallel-runs recover` needs."""

    repo: Path
    runs_dir: Path


def _locations(pick: Callable[[str], str | None], environ: Mapping[str, str], cwd: Path) -> tuple[Path, Path]:
    """The source repository and the runs dir (CONTRACTS §1), both absolute."""
    from parallel_runs.config.common import resolve_runs_dir, resolve_source_repo

    repo = resolve_source_repo(pick("source_repo"), environ, cwd)
    return repo, resolve_runs_dir(pick("runs_dir"), environ, cwd=cwd, repo=repo)


def build_worktrees_list_settings(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path
) -> WorktreesListSettings:
    """Validate the `worktrees list` flags."""
    from parallel_runs.config.common import picker

    pick = picker(flags, environ, skip_empty=True, env_keys={"format": "worktrees_format"})
    fmt = pick("format") or "table"
    if fmt not in WORKTREES_FORMATS:  # argparse checks the flag: only the variable can be wrong
        raise ConfigError(f"{FORMAT_ENV}={fmt!r} is not one of: table, json")
    repo, runs_dir = _locations(pick, environ, cwd)
    return WorktreesListSettings(repo=repo, runs_dir=runs_dir, format=fmt)


def build_cleanup_settings(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path
) -> CleanupSettings:
    """Validate the `cleanup` flags."""
    from parallel_runs.config.common import picker
    from parallel_runs.core.durations import parse_duration

    pick = picker(flags, environ, skip_empty=True)
    older_than = pick("older_than")
    seconds = parse_duration(older_than, name="--older-than") if older_than else None
    repo, runs_dir = _locations(pick, environ, cwd)
    return CleanupSettings(repo=repo, runs_dir=runs_dir, older_than=seconds)


def build_recover_settings(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path
) -> RecoverSettings:
    """Validate the `recover` flags."""
    from parallel_runs.config.common import picker

    repo, runs_dir = _locations(picker(flags, environ, skip_empty=True), environ, cwd)
    return RecoverSettings(repo=repo, runs_dir=runs_dir)
