"""`parallel-runs apply`: bring a run's result onto the source checkout's current branch."""

from __future__ import annotations

from parallel_runs.cli.command_settings import CommandSettings
from parallel_runs.cli.common import add_location_options, deferred, env_help, exit_codes_help
from parallel_runs.errors import EXIT_OK, AlreadyHeldError, ConfigError, NotFoundError

# typing.TYPE_CHECKING without importing typing: --help loads no more than it prints.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any

    from rich.console import Console

    from parallel_runs.core.layout import RunPaths

__all__ = ["APPLY_MODES", "ApplySettings", "build_apply_settings", "cmd_apply", "register"]

APPLY_MODES = ("merge", "cherry-pick", "patch")

EXIT_CODES = exit_codes_help(
    {
        0: "applied, or nothing to apply",
        2: "usage error, no such run, a run that did not succeed (without --force), uncommitted changes in "
        "the checkout (edits to files marked assume-unchanged or skip-worktree too), git-ignored files where "
        "the run adds files, or a conflict (the checkout is left as it was)",
        75: "the run is still running",
    }
)
DESCRIPTION = (
    "Bring a run's result onto the current branch of the source checkout: --merge (the default) makes a "
    "merge commit of its branch parallel-runs/<slug>; --cherry-pick copies the branch's commits; --patch "
    "applies its changes.patch to the index and working tree, uncommitted, for you to review. Refused "
    "for a run that did not succeed (unless --force), with uncommitted changes in the checkout (edits git "
    "status hides behind assume-unchanged or skip-worktree too), with git-ignored files where the run adds "
    "files (--merge, --cherry-pick), while the "
    "run runs, or on a conflict: the checkout is then left as it was."
)
_MODES = (
    ("--merge", "merge", "merge the run branch (a merge commit; the default)"),
    ("--cherry-pick", "cherry-pick", "copy the run branch's commits onto the current branch"),
    ("--patch", "patch", "apply the run's changes.patch to the index and working tree, not committed"),
)


def register(commands: Any) -> None:
    """Add the `apply` command to the subparsers."""
    apply = commands.add_parser(
        "apply",
        description=DESCRIPTION,
        epilog=EXIT_CODES,
    )
    apply.add_argument("run_id", metavar="RUN", help="the run id")
    modes = apply.add_mutually_exclusive_group()
    for flag, mode, text in _MODES:
        modes.add_argument(
            flag, dest="apply_mode", action="store_const", const=mode, help=env_help(text, "apply_mode")
        )
    apply.add_argument(
        "--force",
        dest="apply_force",
        action="store_true",
        default=None,
        help=env_help("apply a run that did not succeed (failed, regressed, ...) too", "apply_force"),
    )
    add_location_options(apply)
    apply.set_defaults(
        handler=cmd_apply, build_settings=deferred("parallel_runs.cli.apply", "build_apply_settings")
    )


def _check_outcome(settings: ApplySettings, paths: RunPaths) -> None:
    """A run that did not succeed is not applied unless forced (a regressed run broke tests)."""
    import json

    try:
        result = json.loads(paths.result_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # a patch from another machine: its record is in that machine's store
    status = result.get("status") if isinstance(result, dict) else None
    if settings.force or status in (None, "succeeded"):
        return
    tests = result.get("tests") if isinstance(result.get("tests"), dict) else {}
    broke = len(tests.get("new_failures") or ())
    why = f" ({broke} new test failure(s))" if broke else ""
    raise ConfigError(
        f"run {settings.run_id!r} ended {status}{why}: not applied (--force to apply it anyway; "
        f"`parallel-runs report` says why)"
    )


def _check_run(settings: ApplySettings, paths: RunPaths, *, mode: str) -> None:
    """The run has ended and left what `mode` applies; else say what is missing."""
    from parallel_runs import git
    from parallel_runs.locks import run_locks

    lease, lock = run_locks(paths)
    if lock.is_locked() or lease.is_locked():
        raise AlreadyHeldError(f"run {settings.run_id!r}", lock.holder() or lease.holder())
    if mode == "patch" and paths.changes_patch.is_file():
        return
    if mode != "patch" and git.has_branch(settings.repo, paths.branch):
        return
    if mode != "patch" and paths.changes_patch.is_file():
        raise NotFoundError(
            f"run {settings.run_id!r} has no branch {paths.branch} here, but a changes.patch: use --patch"
        )
    run_id = settings.run_id
    raise NotFoundError(
        f"no such run {run_id!r}: neither a branch {paths.branch} in {settings.repo} nor a changes.patch "
        f"under {settings.runs_dir} (a run of another machine: `parallel-runs artifacts get {run_id} "
        "changes.patch --database-url URL -o run.patch`, then `git apply --index run.patch`)"
    )


def cmd_apply(settings: ApplySettings, console: Console) -> int:
    """Merge, cherry-pick or patch the run's result in; say what changed."""
    from parallel_runs import git
    from parallel_runs.core.ids import slugify
    from parallel_runs.core.layout import RunPaths

    paths = RunPaths(settings.runs_dir, slugify(settings.run_id))
    _check_run(settings, paths, mode=settings.mode)
    _check_outcome(settings, paths)
    target = git.current_branch(settings.repo)
    mode = git.ApplyMode(settings.mode)
    done = git.apply_result(settings.repo, mode, branch=paths.branch, patch=paths.changes_patch)
    what = "its changes.patch" if mode is git.ApplyMode.PATCH else paths.branch
    if done.nothing_to_do:
        console.print(f"nothing to apply: {what} is already in {target}", markup=False)
    elif mode is git.ApplyMode.PATCH:
        console.print(
            f"applied {what} of run {settings.run_id} to the index and working tree of {settings.repo} "
            f"({len(done.files)} file(s), not committed: review, then `git commit`)",
            markup=False,
        )
    else:
        console.print(
            f"applied {what} onto {target} by {mode.value}: {len(done.files)} file(s) changed, HEAD is now "
            f"{done.head[:12]}",
            markup=False,
        )
    return EXIT_OK


class ApplySettings(CommandSettings):
    """Everything `parallel-runs apply` needs."""

    repo: Path  # the source checkout whose current branch receives the result
    runs_dir: Path
    run_id: str
    mode: str  # one of APPLY_MODES
    force: bool = False  # apply a run that did not succeed too


def build_apply_settings(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path
) -> ApplySettings:
    """Validate the `apply` flags: --merge (the default), --cherry-pick or --patch."""
    from parallel_runs.config.common import (
        ENV,
        env_value,
        flag_bool,
        picker,
        resolve_runs_dir,
        resolve_source_repo,
    )

    mode = flags.get("apply_mode") or env_value(environ, "apply_mode") or "merge"
    if mode not in APPLY_MODES:  # argparse sets the flag: only the variable can be wrong
        raise ConfigError(f"{ENV['apply_mode']}={mode!r} is not one of: {', '.join(APPLY_MODES)}")
    pick = picker(flags, environ, skip_empty=True)
    repo = resolve_source_repo(pick("source_repo"), environ, cwd)
    return ApplySettings(
        repo=repo,
        runs_dir=resolve_runs_dir(pick("runs_dir"), environ, cwd=cwd, repo=repo),
        run_id=str(flags["run_id"]),
        mode=str(mode),
        force=flag_bool(flags, "apply_force", environ),
    )
