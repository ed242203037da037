"""Shared batches told whole (issue #12): what a user of the shared store hears and can do."""

from __future__ import annotations

import secrets
from pathlib import Path

from tests.helpers import git, run_cli


def test_enqueuing_a_base_commit_origin_lacks_is_named(repo: Path, tmp_path: Path, database_url: str) -> None:
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(repo), str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "fetch", "--quiet", "origin")
    pushed = run_cli(
        "run",
        "--database-url",
        database_url,
        "--batch-id",
        f"b-{secrets.token_hex(3)}",
        "--run-ids",
        "p1",
        "--command",
        "true",
        cwd=repo,
    )
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert "not on origin" not in pushed.stderr
    git(repo, "commit", "--quiet", "--allow-empty", "-m", "local only")
    local = run_cli(
        "run",
        "--database-url",
        database_url,
        "--batch-id",
        f"b-{secrets.token_hex(3)}",
        "--run-ids",
        "p2",
        "--command",
        "true",
        cwd=repo,
    )
    assert local.returncode == 0, local.stdout + local.stderr
    sha = git(repo, "rev-parse", "HEAD")[:12]
    assert f"the base commit {sha} is not on origin: workers in other clones cannot fetch it" in local.stderr
