"""Settings of `parallel-runs worktrees list`, `cleanup` and `recover`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from parallel_runs.config.common import ENV, picker, resolve_runs_dir, resolve_source_repo
from parallel_runs.config.flags import WORKTREES_FORMATS
from parallel_runs.core.durations import parse_duration
from parallel_runs.errors import ConfigError

__all__ = [
    "WORKTREES_FORMATS",
    "CleanupSettings",
    "RecoverSettings",
    "WorktreesListSettings",
    "build_cleanup_settings",
    "build_recover_settings",
    "build_worktrees_list_settings",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class WorktreesListSettings:
    """Everything `parallel-runs worktrees list` needs."""

    repo: Path
    runs_dir: Path
    format: str  # one of WORKTREES_FORMATS


@dataclass(frozen=True, slots=True, kw_only=True)
class CleanupSettings:
    """Everything `parallel-runs cleanup` needs."""

    repo: Path
    runs_dir: Path
    older_than: float | None = None  # seconds untouched; None: every finished worktree


@dataclass(frozen=True, slots=True, kw_only=True)
class RecoverSettings:
    """Everything `parallel-runs recover` needs."""

    repo: Path
    runs_dir: Path


def _locations(pick: Callable[[str], str | None], environ: Mapping[str, str], cwd: Path) -> tuple[Path, Path]:
    """The source repository and the runs dir (CONTRACTS §1), both absolute."""
    repo = resolve_source_repo(pick("source_repo"), environ, cwd)
    return repo, resolve_runs_dir(pick("runs_dir"), environ, cwd=cwd, repo=repo)


def build_worktrees_list_settings(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path
) -> WorktreesListSettings:
    """Validate the `worktrees list` flags."""
    pick = picker(flags, environ, skip_empty=True, env_keys={"format": "worktrees_format"})
    fmt = pick("format") or "table"
    if fmt not in WORKTREES_FORMATS:  # argparse checks the flag: only the variable can be wrong
        raise ConfigError(f"{ENV['worktrees_format']}={fmt!r} is not one of: table, json")
    repo, runs_dir = _locations(pick, environ, cwd)
    return WorktreesListSettings(repo=repo, runs_dir=runs_dir, format=fmt)


def build_cleanup_settings(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path
) -> CleanupSettings:
    """Validate the `cleanup` flags."""
    pick = picker(flags, environ, skip_empty=True)
    older_than = pick("older_than")
    seconds = parse_duration(older_than, name="--older-than") if older_than else None
    repo, runs_dir = _locations(pick, environ, cwd)
    return CleanupSettings(repo=repo, runs_dir=runs_dir, older_than=seconds)


def build_recover_settings(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path
) -> RecoverSettings:
    """Validate the `recover` flags."""
    repo, runs_dir = _locations(picker(flags, environ, skip_empty=True), environ, cwd)
    return RecoverSettings(repo=repo, runs_dir=runs_dir)
