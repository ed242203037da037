"""git.SharedState: what a batch puts back in the shared config before each save, and what it leaves."""

from __future__ import annotations

import subprocess
from pathlib import Path

from parallel_runs.git import SharedState
from tests.helpers import git


def test_only_what_decides_what_git_sees_is_put_back(repo: Path) -> None:
    git(repo, "config", "core.ignoreCase", "false")
    shared = SharedState.snapshot(repo)
    git(repo, "remote", "add", "upstream", "https://example.com/x.git")  # the user's, meanwhile
    git(repo, "config", "core.ignoreCase", "true")
    git(repo, "config", "filter.zap.clean", "echo Z")
    git(repo, "config", "--add", "include.path", "/nowhere")

    assert shared.restore() == [repo / ".git" / "config"]

    assert git(repo, "config", "core.ignoreCase") == "false"
    assert git(repo, "config", "remote.upstream.url") == "https://example.com/x.git"
    for gone in ("filter.zap.clean", "include.path"):
        assert subprocess.run(["git", "config", gone], cwd=repo, check=False).returncode == 1
    assert shared.restore() == []
