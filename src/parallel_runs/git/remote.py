"""Pushing run branches to a remote (the action's `push-branches`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from parallel_runs.git.run_git import _git

__all__ = ["push_branches"]


def _config_env(config: Mapping[str, str]) -> dict[str, str]:
    """Git settings for one command through GIT_CONFIG_* variables (added to the inherited
    environment): unlike `-c` they are not on the command line, which every process can read, and
    unlike `git config` they are not written to .git/config."""
    env = {"GIT_CONFIG_COUNT": str(len(config)), "GIT_TERMINAL_PROMPT": "0"}  # fail, never ask for a password
    for index, (key, value) in enumerate(config.items()):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env


def push_branches(
    repo: Path, branches: Sequence[str], *, remote: str = "origin", config: Mapping[str, str] | None = None
) -> None:
    """Push each branch to the same name on `remote`, replacing what is there (run branches are ours).

    `config`: git settings for this push only (an auth header), never stored in the repository.
    """
    if not branches:
        return
    refspecs = [f"+refs/heads/{branch}:refs/heads/{branch}" for branch in branches]
    _git(repo, "push", "--quiet", "--no-verify", remote, *refspecs, env=_config_env(config or {}))
