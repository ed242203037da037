"""Settings of `parallel-runs apply`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from parallel_runs.config.common import (
    ENV,
    env_value,
    flag_bool,
    picker,
    resolve_runs_dir,
    resolve_source_repo,
)
from parallel_runs.errors import ConfigError

__all__ = ["APPLY_MODES", "ApplySettings", "build_apply_settings"]

APPLY_MODES = ("merge", "cherry-pick", "patch")


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplySettings:
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
