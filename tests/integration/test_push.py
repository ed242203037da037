"""push_branches: run branches to a remote, with settings (an auth header) git sees for that push only."""

from __future__ import annotations

from pathlib import Path

import pytest

from parallel_runs.errors import GitError
from parallel_runs.git import push_branches
from parallel_runs.git.remote import _config_env
from parallel_runs.git.run_git import _git
from parallel_runs.github.auth import push_config, token_secrets
from tests.helpers import git


def test_the_header_reaches_git_without_touching_the_repository(repo: Path) -> None:
    config = push_config("ghs_t0ken", "https://github.example/")
    ((key, value),) = config.items()
    assert key == "http.https://github.example/.extraheader"
    assert value == f"AUTHORIZATION: basic {token_secrets('ghs_t0ken')[1]}"
    assert _git(repo, "config", "--get", key, env=_config_env(config)).out.strip() == value
    assert "extraheader" not in (repo / ".git" / "config").read_text()


def test_branches_replace_what_the_remote_had(repo: Path, tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "--quiet", "--bare", str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    first = git(repo, "rev-parse", "HEAD")
    git(repo, "commit", "--quiet", "--allow-empty", "-m", "second")
    git(repo, "branch", "parallel-runs/a")
    git(repo, "branch", "parallel-runs/b")
    push_branches(repo, ["parallel-runs/a", "parallel-runs/b"])
    git(repo, "branch", "--force", "parallel-runs/a", first)  # a new attempt started over: not a fast-forward
    push_branches(repo, ["parallel-runs/a"])
    assert git(origin, "rev-parse", "parallel-runs/a") == first
    assert git(origin, "rev-parse", "parallel-runs/b") == git(repo, "rev-parse", "HEAD")
    push_branches(repo, [])  # nothing to do
    with pytest.raises(GitError, match="push"):
        push_branches(repo, ["parallel-runs/missing"])
