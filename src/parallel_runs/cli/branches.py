"""`parallel-runs branches prune`: delete the run branches and attempt refs of finished runs."""

from __future__ import annotations

from parallel_runs.cli.command_settings import CommandSettings
from parallel_runs.cli.common import Parser, add_location_options, deferred, env_help, exit_codes_help
from parallel_runs.errors import EXIT_OK

# typing.TYPE_CHECKING without importing typing: --help loads no more than it prints.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any

    from rich.console import Console

__all__ = ["BranchesPruneSettings", "build_branches_prune_settings", "cmd_branches_prune", "register"]

DESCRIPTION = (
    "Delete the run branches parallel-runs/<slug> and attempt refs refs/parallel-runs/attempts/<slug>/<n> "
    "of finished runs (no live process holds the run, it has no worktree). A ref whose commits no other "
    "ref keeps (a branch you merged, a tag, another remote's branch) is kept unless --force: deleting it "
    "would lose a run's work. Prints what was deleted and what was kept, and why."
)


def register(commands: Any) -> None:
    """Add `branches prune` to the subparsers."""
    epilog = exit_codes_help({0: "done (what was kept is listed with its reason)"})
    branches = commands.add_parser("branches", description=DESCRIPTION, epilog=epilog)
    actions = branches.add_subparsers(
        dest="branches_action", metavar="ACTION", parser_class=Parser, required=True
    )
    prune = actions.add_parser(
        "prune",
        help="delete finished runs' branches and attempt refs",
        description=DESCRIPTION,
        epilog=epilog,
    )
    prune.add_argument(
        "--older-than",
        metavar="DUR",
        help=env_help("only refs whose tip is at least this old, e.g. 30d, 12h", "prune_older_than"),
    )
    for flag, key, text in (
        ("--merged", "merged", "only refs merged into the current branch"),
        ("--force", "force", "also refs whose commits no other ref keeps (their work is lost)"),
    ):
        prune.add_argument(flag, action="store_true", default=None, help=env_help(text, key))
    add_location_options(prune)
    prune.set_defaults(
        handler=cmd_branches_prune,
        build_settings=deferred("parallel_runs.cli.branches", "build_branches_prune_settings"),
    )


def cmd_branches_prune(settings: BranchesPruneSettings, console: Console) -> int:
    """Delete what may go; print each deleted and kept ref."""
    from datetime import UTC, datetime

    from rich.markup import escape

    from parallel_runs import maintenance

    report = maintenance.prune_branches(
        repo=settings.repo,
        runs_dir=settings.runs_dir,
        now=datetime.now(UTC),
        older_than=settings.older_than,
        merged=settings.merged,
        force=settings.force,
    )
    for ref in report.deleted:
        console.print(f"[green]deleted[/] {escape(ref.short)} (was {ref.sha[:12]})")
    for kept in report.kept:
        console.print(f"[dim]kept[/]    {escape(kept.ref.short)}: {escape(kept.reason)}")
    console.print(f"{len(report.deleted)} deleted, {len(report.kept)} kept")
    return EXIT_OK


class BranchesPruneSettings(CommandSettings):
    """Everything `parallel-runs branches prune` needs."""

    repo: Path
    runs_dir: Path
    older_than: float | None  # seconds since the tip's commit; None: any age
    merged: bool  # only refs merged into the current branch
    force: bool  # also refs whose commits no other ref keeps


def build_branches_prune_settings(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path
) -> BranchesPruneSettings:
    """Validate the `branches prune` flags (the options first, then the repository is looked for)."""
    from parallel_runs.config.common import flag_bool, picker, resolve_runs_dir, resolve_source_repo
    from parallel_runs.core.durations import parse_duration

    pick = picker(flags, environ, skip_empty=True, env_keys={"older_than": "prune_older_than"})
    older_than = pick("older_than")
    seconds = parse_duration(older_than, name="--older-than") if older_than else None
    merged, force = flag_bool(flags, "merged", environ), flag_bool(flags, "force", environ)
    repo = resolve_source_repo(pick("source_repo"), environ, cwd)
    runs_dir = resolve_runs_dir(pick("runs_dir"), environ, cwd=cwd, repo=repo)
    return BranchesPruneSettings(repo=repo, runs_dir=runs_dir, older_than=seconds, merged=merged, force=force)
