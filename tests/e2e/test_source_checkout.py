"""What the source checkout means for a batch (issue #12): changes not in the base commit are named."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import cli, git


def test_uncommitted_changes_of_the_source_checkout_are_named_at_batch_start(repo: Path) -> None:
    (repo / "README.md").write_text("# changed, not committed\n")
    (repo / "notes.txt").write_text("new\n")
    (repo / "app" / "calc.py").unlink()
    done = cli("run", "--run-ids", "w1", "--command", "cat README.md > seen.txt", cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    base = git(repo, "rev-parse", "HEAD")[:12]
    assert f"3 changed file(s) in the source checkout are not in the base commit {base}" in done.stderr
    assert git(repo, "show", "parallel-runs/w1:seen.txt") == "# demo"  # the base commit's, indeed


def test_a_clean_checkout_gets_no_warning(repo: Path) -> None:
    done = cli("run", "--run-ids", "w1", "--command", "true", cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""
