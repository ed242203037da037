"""Settings of `parallel-runs branches prune`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from parallel_runs.config.common import flag_bool, picker, resolve_runs_dir, resolve_source_repo
from parallel_runs.core.durations import parse_duration

__all__ = ["BranchesPruneSettings", "build_branches_prune_settings"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BranchesPruneSettings:
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
    pick = picker(flags, environ, skip_empty=True, env_keys={"older_than": "prune_older_than"})
    older_than = pick("older_than")
    seconds = parse_duration(older_than, name="--older-than") if older_than else None
    merged, force = flag_bool(flags, "merged", environ), flag_bool(flags, "force", environ)
    repo = resolve_source_repo(pick("source_repo"), environ, cwd)
    runs_dir = resolve_runs_dir(pick("runs_dir"), environ, cwd=cwd, repo=repo)
    return BranchesPruneSettings(repo=repo, runs_dir=runs_dir, older_than=seconds, merged=merged, force=force)
